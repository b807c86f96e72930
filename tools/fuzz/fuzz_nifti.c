/* libFuzzer harness for NIfTI reading (header handling and voxel data, plain and gzip: the
 * first input byte picks the file name suffix so both paths are reached).
 * tools/fuzz/build.sh && build-fuzz/fuzz_nifti build-fuzz/corpus_nifti */
#include "fuzz_files.h"
#include "hinge/hinge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = fuzz_tmp_path(data[0] & 1 ? ".nii.gz" : ".nii");
    if (fuzz_write(path, data + 1, size - 1) != 0)
        return 0;
    hg_image img;
    hg_image_init(&img);
    hg_nifti_read(path, &img);
    hg_image_free(&img);
    unlink(path);
    return 0;
}
