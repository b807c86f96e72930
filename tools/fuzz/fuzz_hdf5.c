/* libFuzzer harness for fastMRI HDF5 reading as the CLI does it: hg_fastmri_open_untrusted
 * (libhdf5 first reads everything in a disposable child process, see fastmri.h) and then every
 * read in this process. libhdf5 1.10 is not memory-safe on hostile files, so inputs that crash
 * it do crash the child: libFuzzer's handler inherited by the child then writes them as
 * artifacts (use -artifact_prefix=child- to keep them apart); the fuzzing process itself must
 * never crash. Set FUZZ_HDF5_IN_PROCESS=1 to fuzz hg_fastmri_open (libhdf5 in-process) instead.
 * tools/fuzz/build.sh && build-fuzz/fuzz_hdf5 build-fuzz/corpus_hdf5 */
#include "fuzz_files.h"
#include "hinge/fastmri.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path(".h5");
    if (fuzz_write(path, data, size) != 0)
        return 0;
    static int in_process = -1;
    if (in_process < 0)
        in_process = getenv("FUZZ_HDF5_IN_PROCESS") != NULL;
    hg_fastmri_file *f = in_process ? hg_fastmri_open(path) : hg_fastmri_open_untrusted(path);
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
