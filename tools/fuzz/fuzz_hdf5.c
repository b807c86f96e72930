/* libFuzzer harness for fastMRI HDF5 reading (hg_fastmri_open + every read). The input is
 * written to a temporary .h5 file; libhdf5 parses it (its own robustness is what gets tested
 * at that layer, see the report in the commit history: libhdf5 1.10 is not hardened against
 * hostile files). tools/fuzz/build.sh && build-fuzz/fuzz_hdf5 build-fuzz/corpus_hdf5 */
#include "fuzz_files.h"
#include "hinge/fastmri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path(".h5");
    if (fuzz_write(path, data, size) != 0)
        return 0;
    hg_fastmri_file *f = hg_fastmri_open(path);
    if (f) {
        const hg_fastmri_info *in = hg_fastmri_get_info(f);
        hg_tensor_free(hg_fastmri_read_kspace(f, 0));
        hg_tensor_free(hg_fastmri_read_kspace(f, -1));
        if (in->has_rss)
            hg_tensor_free(hg_fastmri_read_recon(f, "reconstruction_rss", 0));
        if (in->has_esc)
            hg_tensor_free(hg_fastmri_read_recon(f, "reconstruction_esc", -1));
        if (in->has_mask)
            hg_tensor_free(hg_fastmri_read_mask(f));
        hg_fastmri_close(f);
    }
    unlink(path);
    return 0;
}
