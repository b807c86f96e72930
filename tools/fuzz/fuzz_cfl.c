/* libFuzzer harness for BART .hdr/.cfl reading: the input is split at the first NUL byte
 * into the header text and the data file.
 * tools/fuzz/build.sh && build-fuzz/fuzz_cfl build-fuzz/corpus_cfl */
#include "fuzz_files.h"
#include "hinge/hinge.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t hlen = nul ? (size_t)(nul - data) : size;
    char base[256], hdr[270], cfl[270];
    snprintf(base, sizeof base, "%s", fuzz_tmp_path(""));
    snprintf(hdr, sizeof hdr, "%s.hdr", base);
    snprintf(cfl, sizeof cfl, "%s.cfl", base);
    if (fuzz_write(hdr, data, hlen) != 0)
        return 0;
    if (fuzz_write(cfl, nul ? nul + 1 : data, nul ? size - hlen - 1 : 0) != 0)
        return 0;
    int64_t dims[HG_CFL_DIMS];
    hg_tensor *t = hg_cfl_read(base, dims);
    hg_tensor_free(t);
    unlink(hdr);
    unlink(cfl);
    return 0;
}
