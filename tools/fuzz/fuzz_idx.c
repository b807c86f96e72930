/* libFuzzer harness for IDX (MNIST-family) files: the input is split at the first NUL-free
 * 4-byte marker "SPLT" into the image file and the label file (gzip or plain, as given).
 * tools/fuzz/build.sh && build-fuzz/fuzz_idx build-fuzz/corpus_idx */
#include "fuzz_files.h"
#include "hinge/hinge.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cut = size;
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, "SPLT", 4) == 0) {
            cut = i;
            break;
        }
    char images[256], labels[256];
    snprintf(images, sizeof images, "%s", fuzz_tmp_path("-images"));
    snprintf(labels, sizeof labels, "%s", fuzz_tmp_path("-labels"));
    if (fuzz_write(images, data, cut) != 0 ||
        fuzz_write(labels, data + (cut < size ? cut + 4 : size), cut < size ? size - cut - 4 : 0))
        return 0;
    hg_labelled_images d;
    if (hg_idx_load(images, labels, &d) == HG_OK)
        hg_labelled_images_free(&d);
    unlink(images);
    unlink(labels);
    return 0;
}
