/* `hinge convert model.onnx native.safetensors --arch A --set K=V` (cli_onnx_convert.c). */
#ifndef HINGE_CLI_ONNX_CONVERT_H
#define HINGE_CLI_ONNX_CONVERT_H

#include "hinge/io.h"

#include <stdbool.h>

/* True for a name ending in .onnx. */
bool hg_cli_is_onnx(const char *path);
/* Converts the ONNX model's weights into a native `arch` model built from config and saves it
 * (hg_model_save). shape: "N,C,H,W" of the check input, or NULL for the declared one. */
int hg_cli_onnx_convert(const char *in, const char *out, const char *arch,
                        const hg_metadata *config, const char *shape);

#endif
