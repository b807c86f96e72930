/* "onnx": an imported ONNX model as a hinge model, so every command and library function that
 * takes an hg_model (segment, classify, sliding-window inference) runs ONNX files too.
 * Config: path (the .onnx file; required). Derived from the graph and stored in the config
 * for the callers that read them: dims, in_channels, classes (output channels) and, when the
 * model's spatial input size is fixed, size (the first spatial size; segment uses it as the
 * window). Inference only: the model has no trainable parameters. */
#include "hinge/nn.h"
#include "hinge/onnx.h"

#include <stdio.h>
#include <string.h>

static const char *const onnx_keys[] = {"path", "dims", "in_channels", "classes", "size", NULL};

static hg_status set_int(hg_metadata *c, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return hg_metadata_set(c, key, buf);
}

static hg_status onnx_build(hg_model *m, hg_rng *rng)
{
    (void)rng;
    const char *path = hg_metadata_get(&m->config, "path");
    if (!path)
        return hg_error(HG_ERR_INVALID, "config 'path' (the .onnx file) is required");
    hg_onnx_model *om = hg_onnx_load(path);
    if (!om)
        return hg_error_status();
    m->impl = om;
    if (hg_onnx_num_inputs(om) != 1 || hg_onnx_num_outputs(om) < 1)
        return hg_error(HG_ERR_UNSUPPORTED,
                        "%s: %d inputs and %d outputs; a hinge model takes one input and uses "
                        "the first output",
                        path, hg_onnx_num_inputs(om), hg_onnx_num_outputs(om));
    int64_t in[8], out[8];
    int32_t ni = hg_onnx_input_shape(om, 0, in), no = hg_onnx_output_shape(om, 0, out);
    if (ni < 3 || ni > 5)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: input of rank %d; expected [N, C, spatial...]",
                        path, ni);
    hg_status s = set_int(&m->config, "dims", ni - 2);
    if (s == HG_OK && in[1] > 0)
        s = set_int(&m->config, "in_channels", in[1]);
    if (s == HG_OK && no >= 2 && out[1] > 0)
        s = set_int(&m->config, "classes", out[1]);
    if (s == HG_OK && in[2] > 0)
        s = set_int(&m->config, "size", in[2]);
    return s;
}

static hg_tensor *onnx_forward(hg_model *m, hg_ctx *ctx, hg_tensor *x)
{
    if (!x)
        return NULL;
    hg_tensor *outs[64] = {0};
    const hg_onnx_model *om = m->impl;
    if (hg_onnx_num_outputs(om) > 64) {
        hg_error(HG_ERR_UNSUPPORTED, "onnx model: more than 64 outputs");
        return NULL;
    }
    if (hg_onnx_run(om, ctx, &x, outs) != HG_OK)
        return NULL;
    return outs[0];
}

static void onnx_destroy(hg_model *m)
{
    hg_onnx_free(m->impl);
    m->impl = NULL;
}

const hg_model_arch hg_arch_onnx = {"onnx", "an imported ONNX model (inference)", onnx_keys,
                                    onnx_build, onnx_forward, onnx_destroy, NULL};
