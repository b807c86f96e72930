/* IDX (MNIST-family) reading: a valid tiny pair loads; hostile headers (the fuzzer's input
 * declaring 3.7 GB of labels in a 38-byte file) fail as truncated without a huge allocation. */
#include "test_util.h"

#include <string.h>

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fwrite(data, 1, n, f);
    fclose(f);
}

int main(void)
{
    const char *img = hg_test_tmp("idx_images"), *lab = hg_test_tmp("idx_labels");
    const unsigned char images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2,
                                    0, 255, 10, 20, 30, 40, 50, 60};
    const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 3};
    write_bytes(img, images, sizeof images);
    write_bytes(lab, labels, sizeof labels);
    hg_labelled_images d;
    CHECK_OK(hg_idx_load(img, lab, &d));
    CHECK(d.images->shape[0] == 2 && d.images->shape[2] == 2 && d.classes == 8);
    CHECK_NEAR(d.images->data[1], 1.0, 1e-7);
    CHECK(d.labels->data[0] == 7 && d.labels->data[1] == 3);
    hg_labelled_images_free(&d);

    /* The fuzzer's out-of-memory input, split at "SPLT" as tools/fuzz/fuzz_idx.c does. */
    unsigned char *buf;
    size_t n;
    REQUIRE(hg_read_file(hg_test_fixture("idx/fuzz-oom-header"), 1 << 16, &buf, &n) == HG_OK);
    size_t cut = 0;
    while (cut + 4 <= n && memcmp(buf + cut, "SPLT", 4) != 0)
        cut++;
    REQUIRE(cut + 4 <= n);
    write_bytes(img, buf, cut);
    write_bytes(lab, buf + cut + 4, n - cut - 4);
    free(buf);
    CHECK_FAILS(hg_idx_load(img, lab, &d), HG_ERR_FORMAT, "truncated data");
    /* Labels that disagree with the image count. */
    const unsigned char three[] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
    write_bytes(img, images, sizeof images);
    write_bytes(lab, three, sizeof three);
    CHECK_FAILS(hg_idx_load(img, lab, &d), HG_ERR_FORMAT, "3 labels, but");
    return hg_test_finish("test_idx");
}
