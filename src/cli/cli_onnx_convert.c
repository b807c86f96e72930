/* hinge convert for ONNX models: the weights of an exported model into a native model of the
 * same architecture (hg_onnx_convert), saved as a hinge model file (safetensors). */
#include "cli_onnx_convert.h"
#include "cli.h"

#include "hinge/nn.h"
#include "hinge/onnx.h"

#include <stdlib.h>
#include <string.h>

bool hg_cli_is_onnx(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".onnx") == 0;
}

/* "1,1,64,64" -> shape; false on anything else. */
static bool parse_shape(const char *s, int32_t *ndim, int64_t *shape)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == HG_MAX_DIMS || !hg_cli_parse_int(t, 1, 1 << 20, &shape[n]))
            return false;
        n++;
    }
    *ndim = n;
    return n > 0;
}

int hg_cli_onnx_convert(const char *in, const char *out, const char *arch,
                        const hg_metadata *config, const char *shape_text)
{
    if (!arch)
        return hg_cli_usage_error("convert", "an ONNX input needs --arch (the native "
                                  "architecture whose weights it holds, e.g. unet)");
    int32_t ndim = 0;
    int64_t shape[HG_MAX_DIMS];
    if (shape_text && !parse_shape(shape_text, &ndim, shape))
        return hg_cli_usage_error("convert", "--shape '%s': expected sizes like 1,1,64,64",
                                  shape_text);
    hg_onnx_model *m = hg_onnx_load(in);
    hg_model *native = m ? hg_model_create(arch, config, 0) : NULL;
    hg_onnx_convert_report r;
    hg_status s = native ? hg_onnx_convert(m, native, ndim, shape_text ? shape : NULL, &r)
               : hg_error_status();
    hg_metadata extra;
    hg_metadata_init(&extra);
    if (!s) {
        char err[32];
        snprintf(err, sizeof err, "%.3g", r.max_rel_error);
        s = hg_metadata_set(&extra, "converted_from", in);
        if (!s)
            s = hg_metadata_set(&extra, "converted_max_rel_error", err);
        if (!s)
            s = hg_model_save(native, out, &extra);
    }
    if (!s)
        printf("%s -> %s: %d native layers from %d ONNX nodes (%d batch norms the exporter had "
               "folded), outputs agree to %.2g relative\n", in, out, (int)r.layers,
               (int)r.onnx_layers, (int)r.fused_batch_norms, r.max_rel_error);
    hg_metadata_free(&extra);
    hg_model_free(native);
    hg_onnx_free(m);
    return s ? hg_cli_fail("convert") : HG_EXIT_OK;
}
