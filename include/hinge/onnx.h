/* ONNX import for inference: a model exported elsewhere (PyTorch, opsets 9 to 17) becomes an
 * inference graph that runs on hinge ops.
 *
 * Loading parses the protobuf, validates it (every node's operator and attributes are
 * supported, tensors hold as much data as their shape says, external data lies inside its
 * file, no cycles, no input that nothing produces) and folds every sub-graph whose inputs are
 * constants. Sub-graphs that compute shapes from a run-time tensor (Shape -> Gather ->
 * Unsqueeze -> Concat -> Reshape, as exporters write them) fold at load too when every graph
 * input's declared shape is static (a dry run on zeros up to the last Shape node gives their
 * shapes); with dynamic dimensions they are evaluated on small host arrays when the model
 * runs, so the heavy ops only ever see static shapes.
 *
 * An unsupported model fails at load with one message listing every unsupported node
 * (operator, node name, opset), so a user learns the whole gap at once.
 */
#ifndef HINGE_ONNX_H
#define HINGE_ONNX_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_onnx_model hg_onnx_model;

/* Loads path; external-data files are resolved relative to its directory. NULL on error. */
hg_onnx_model *hg_onnx_load(const char *path);
/* Loads from memory; external data (if any) is resolved relative to base_dir (NULL: refused). */
hg_onnx_model *hg_onnx_load_buffer(const void *data, size_t size, const char *base_dir);
void hg_onnx_free(hg_onnx_model *m);

int32_t hg_onnx_opset(const hg_onnx_model *m);
const char *hg_onnx_producer(const hg_onnx_model *m); /* e.g. "pytorch 1.13.1" */
int32_t hg_onnx_num_inputs(const hg_onnx_model *m);   /* run-time inputs (not initializers) */
int32_t hg_onnx_num_outputs(const hg_onnx_model *m);
const char *hg_onnx_input_name(const hg_onnx_model *m, int32_t i);
const char *hg_onnx_output_name(const hg_onnx_model *m, int32_t i);
/* Declared shape; returns the rank (-1 when unknown); a dynamic dimension reads -1. */
int32_t hg_onnx_input_shape(const hg_onnx_model *m, int32_t i, int64_t shape[8]);
int32_t hg_onnx_output_shape(const hg_onnx_model *m, int32_t i, int64_t shape[8]);
/* Number of float scalars held by the initializers (the parameters). */
int64_t hg_onnx_param_count(const hg_onnx_model *m);
/* Operator histogram of the graph as stored (before folding), sorted by operator name. */
int32_t hg_onnx_num_op_types(const hg_onnx_model *m);
const char *hg_onnx_op_type(const hg_onnx_model *m, int32_t i, int64_t *count);
/* Nodes left to run after folding. */
int64_t hg_onnx_num_nodes(const hg_onnx_model *m);

/* Runs the model: inputs[hg_onnx_num_inputs] float tensors, outputs[hg_onnx_num_outputs]
 * receive tensors owned by ctx (valid until its reset). Run with hg_ctx_set_grad(ctx, false)
 * and hg_ctx_set_training(ctx, false) for inference; the model itself is not modified, so
 * one model may run in several contexts (one per thread). */
hg_status hg_onnx_run(const hg_onnx_model *m, hg_ctx *ctx, hg_tensor *const *inputs,
                      hg_tensor **outputs);

/* ---- conversion to a native model ------------------------------------------------------ */

struct hg_model; /* hinge/nn.h */

typedef struct hg_onnx_convert_report {
    int32_t layers;            /* native layers filled (conv, norm, linear) */
    int32_t onnx_layers;       /* ONNX nodes that held weights */
    int32_t fused_batch_norms; /* native batch norms the exporter had folded into a conv */
    double max_rel_error;      /* max |native - onnx| / max |onnx| on the check input */
} hg_onnx_convert_report;

/* Copies the ONNX model's weights into `native`, a model created with hg_model_create for the
 * same architecture and config (e.g. "unet", features=...). The mapping goes by graph
 * structure, not names: native layers in registration order are paired with the ONNX nodes
 * that hold weights (Conv/ConvTranspose, BatchNormalization, InstanceNormalization,
 * Gemm/MatMul) in topological order, each checked by shape; a batch norm the exporter folded
 * into the conv before it becomes (gamma 1, beta = the conv's bias, mean 0, var 1 - eps).
 * Then both models run on the same random input of `shape` (NULL: the ONNX input's declared
 * shape, which must be static) and the conversion fails unless the outputs agree to 1e-4
 * relative. Errors name the native layer, the ONNX node and both shapes. */
hg_status hg_onnx_convert(const hg_onnx_model *m, struct hg_model *native, int32_t ndim,
                          const int64_t *shape, hg_onnx_convert_report *report);

#ifdef __cplusplus
}
#endif
#endif
