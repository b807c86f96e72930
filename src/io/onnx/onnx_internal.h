/* Private to src/io/onnx: the loaded graph, values (constants or run-time tensors) and the
 * operator table. Generated bindings: onnx.pb-c.[ch] from onnx.proto of ONNX 1.12.0 (Debian
 * python3-onnx 1.12.0-2) by protoc-c 1.4.1 (libprotoc 3.21.12):
 *   protoc-c --c_out=. onnx.proto
 */
#ifndef HINGE_IO_ONNX_INTERNAL_H
#define HINGE_IO_ONNX_INTERNAL_H

#include "hinge/onnx.h"
#include "hinge/ops.h"
#include "io/onnx/onnx.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

#define OX_MAX_DIMS 8

/* A constant: an initializer, a Constant node, or a folded result. Integer tensors (shapes,
 * indices) keep int64 values; everything else is float. ndim 0 is a scalar. */
typedef struct ox_const {
    int32_t ndim;
    int64_t dims[OX_MAX_DIMS];
    int64_t numel;
    bool is_int;
    float *f;         /* numel floats, when !is_int */
    int64_t *i;       /* numel ints, when is_int */
    hg_tensor *tensor; /* a float tensor view (1 to 5 dims) of f, made once, or NULL */
} ox_const;

/* One value per run: a constant or a run-time tensor. */
typedef struct ox_slot {
    bool set;
    bool is_const;
    ox_const c;
    hg_tensor *t;
} ox_slot;

typedef struct ox_node {
    const Onnx__NodeProto *proto;
    const char *op;
    const char *name;
    const struct ox_op *impl; /* set at load once the operator is known to be supported */
    int32_t n_in, n_out;
    int32_t *in;      /* value ids; -1 for an omitted optional input ("") */
    int32_t *out;
} ox_node;

typedef struct ox_value_info {
    int32_t id;
    int32_t ndim; /* -1 unknown */
    int64_t dims[OX_MAX_DIMS];
} ox_value_info;

struct hg_onnx_model {
    Onnx__ModelProto *proto;
    hg_ctx *arena;      /* constants and their tensors; never reset */
    int32_t opset;
    int32_t n_values;
    char **value_names; /* borrowed from proto */
    ox_slot *consts;    /* per value: set when the value is a constant */
    int32_t n_nodes;    /* nodes left after folding, in topological order */
    ox_node *nodes;
    int32_t n_inputs, n_outputs;
    ox_value_info *inputs, *outputs;
    int64_t param_count;
    int32_t n_op_types;
    char **op_types;
    int64_t *op_counts;
};

/* Execution state of one run (or of the load-time folding pass). */
typedef struct ox_run {
    const hg_onnx_model *m;
    hg_ctx *ctx;    /* owns run-time tensors and constants made during this run */
    ox_slot *slots; /* per value */
    int32_t opset;
} ox_run;

typedef hg_status (*ox_fn)(ox_run *r, const ox_node *n);
/* Load-time check of attribute values; returns NULL or a short reason. */
typedef const char *(*ox_check_fn)(const Onnx__NodeProto *node, int32_t opset);

typedef struct ox_op {
    const char *name;
    ox_fn fn;
    bool foldable;             /* computes constants when all inputs are constants */
    const char *const *attrs;  /* allowed attribute names, NULL-terminated (NULL: none) */
    ox_check_fn check;
} ox_op;

const ox_op *ox_find_op(const char *name);

/* ---- attributes ---------------------------------------------------------------------- */
const Onnx__AttributeProto *ox_attr(const Onnx__NodeProto *n, const char *name);
int64_t ox_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def);
float ox_attr_float(const Onnx__NodeProto *n, const char *name, float def);
/* Copies up to max ints; returns the count, or -1 when absent. */
int32_t ox_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int32_t max);
/* The string value (not NUL-terminated in the proto: copied into buf), or def. */
const char *ox_attr_string(const Onnx__NodeProto *n, const char *name, const char *def,
                           char *buf, size_t size);

/* ---- values -------------------------------------------------------------------------- */
/* Converts an ONNX TensorProto into a constant allocated in arena. base_dir resolves
 * external data (NULL: refused). The error names the tensor. */
hg_status ox_tensor_to_const(const Onnx__TensorProto *t, const char *base_dir, hg_ctx *arena,
                             ox_const *out);
/* A new constant in r->ctx. */
hg_status ox_const_new(ox_run *r, bool is_int, int32_t ndim, const int64_t *dims,
                       ox_const *out);
double ox_const_at(const ox_const *c, int64_t k);
/* Element k as an integer: exact for integer constants, saturated (NaN -> 0) for floats. */
int64_t ox_const_int(const ox_const *c, int64_t k);
int64_t ox_sat_int(double v);

bool ox_has_in(const ox_node *n, int32_t k);
/* Input k as a constant (error naming the node if it is a run-time tensor). */
const ox_const *ox_in_const(ox_run *r, const ox_node *n, int32_t k);
bool ox_in_is_const(ox_run *r, const ox_node *n, int32_t k);
/* Input k as a float tensor (constants are converted; integer constants too). */
hg_tensor *ox_in_tensor(ox_run *r, const ox_node *n, int32_t k);
/* Rank and dims of input k (constant or tensor). */
int32_t ox_in_shape(ox_run *r, const ox_node *n, int32_t k, int64_t *dims);
hg_status ox_set_tensor(ox_run *r, const ox_node *n, int32_t k, hg_tensor *t);
hg_status ox_set_const(ox_run *r, const ox_node *n, int32_t k, const ox_const *c);
/* Error "<op> node '<name>' (opset N): <message>". */
hg_status ox_fail(ox_run *r, const ox_node *n, hg_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Normalizes a possibly negative axis against rank; error when out of range. */
hg_status ox_axis(ox_run *r, const ox_node *n, int64_t axis, int32_t rank, int32_t *out);
/* Reshape a run-time tensor to ONNX rank (0 becomes [1]); error beyond 5 dims. */
hg_tensor *ox_reshape(ox_run *r, const ox_node *n, hg_tensor *x, int32_t ndim,
                      const int64_t *dims);

#endif

/* ---- operator handlers (onnx_ops_*.c) -------------------------------------------------- */
#define OX_HANDLERS(X)                                                                         \
    X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Sqrt) X(ReduceMean) X(Clip) X(Relu) X(LeakyRelu)      \
    X(PRelu) X(Elu) X(Sigmoid) X(Tanh) X(Softmax) X(LogSoftmax) X(Conv) X(ConvTranspose)       \
    X(BatchNormalization) X(InstanceNormalization) X(MaxPool) X(AveragePool)                   \
    X(GlobalAveragePool) X(Gemm) X(MatMul) X(Resize) X(Upsample) X(Concat) X(Split) X(Reshape) \
    X(Flatten) X(Transpose) X(Squeeze) X(Unsqueeze) X(Pad) X(Slice) X(Constant)                \
    X(ConstantOfShape) X(Identity) X(Dropout) X(Shape) X(Gather) X(Cast) X(Abs) X(Neg) X(Exp) X(Log)
#define OX_DECLARE(name) hg_status ox_op_##name(ox_run *r, const ox_node *n);
OX_HANDLERS(OX_DECLARE)
#undef OX_DECLARE
