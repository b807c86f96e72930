/* libFuzzer harness for the ONNX loader and executor.
 *
 * Build (clang; the library built with clang and sanitizers too, see tools/fuzz/build.sh):
 *   tools/fuzz/build.sh && build-fuzz/fuzz_onnx -max_total_time=180 corpus/
 * Seeds: the .onnx files of tests/fixtures/onnx. Each input is loaded from memory (no external data);
 * a model that loads is run on zeros of its declared input shapes (dynamic dims as 1, inputs
 * capped at 64k elements), so the folding and run-time paths get fuzzed as well. */
#include "hinge/hinge.h"
#include "hinge/onnx.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        hg_set_threads(1);
        once = 1;
    }
    hg_onnx_model *m = hg_onnx_load_buffer(data, size, NULL);
    if (!m)
        return 0;
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_tensor *in[16] = {0}, *out[64] = {0};
    int32_t ni = hg_onnx_num_inputs(m), ok = ni <= 16 && hg_onnx_num_outputs(m) <= 64;
    for (int32_t i = 0; ok && i < ni; i++) {
        int64_t s[8];
        int32_t nd = hg_onnx_input_shape(m, i, s);
        if (nd < 1 || nd > HG_MAX_DIMS) {
            ok = 0;
            break;
        }
        int64_t numel = 1;
        for (int32_t d = 0; d < nd; d++) {
            s[d] = s[d] < 0 ? 1 : s[d];
            numel *= s[d] > 0 ? s[d] : 1;
            if (s[d] == 0 || numel > 65536)
                ok = 0;
        }
        if (ok)
            in[i] = hg_tensor_new(ctx, HG_F32, nd, s);
        ok = ok && in[i];
    }
    if (ok)
        (void)hg_onnx_run(m, ctx, in, out);
    hg_ctx_free(ctx);
    hg_onnx_free(m);
    return 0;
}
