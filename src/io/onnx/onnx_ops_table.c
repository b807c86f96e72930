/* The supported operators: handler, whether it folds on constants, the attributes it reads
 * (any other attribute makes the node unsupported, so nothing is silently ignored) and a
 * load-time check of attribute values. */
#include "io/onnx/onnx_internal.h"

#include <stdio.h>
#include <string.h>

#define ATTRS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *str_is(const Onnx__NodeProto *n, const char *name, const char *def,
                          const char *const *ok, char *buf, size_t size)
{
    const char *v = ox_attr_string(n, name, def, buf, size);
    for (; *ok; ok++)
        if (strcmp(v, *ok) == 0)
            return NULL;
    return v;
}

static _Thread_local char reason[160];

/* auto_pad: only explicit pads (NOTSET) or VALID (no padding). */
static const char *check_auto_pad(const Onnx__NodeProto *n, int32_t opset)
{
    char buf[32];
    const char *v = str_is(n, "auto_pad", "NOTSET", ATTRS("NOTSET", "VALID"), buf, sizeof buf);
    if (!v)
        return NULL;
    snprintf(reason, sizeof reason, "auto_pad '%s' not supported (NOTSET, VALID are)", v);
    return reason;
}

static const char *check_conv_transpose(const Onnx__NodeProto *n, int32_t opset)
{
    if (ox_attr(n, "output_shape"))
        return "attribute 'output_shape' not supported (give pads and output_padding)";
    return check_auto_pad(n, opset);
}

static const char *check_maxpool(const Onnx__NodeProto *n, int32_t opset)
{
    if (ox_attr_int(n, "storage_order", 0) != 0)
        return "storage_order 1 not supported";
    if (n->n_output > 1 && n->output[1] && *n->output[1])
        return "the Indices output is not supported";
    return check_auto_pad(n, opset);
}

static const char *check_bn(const Onnx__NodeProto *n, int32_t opset)
{
    if (ox_attr_int(n, "training_mode", 0) != 0)
        return "training_mode 1 not supported (inference only)";
    if (n->n_output > 1)
        return "training outputs (running mean/var) not supported";
    return NULL;
}

static const char *check_resize(const Onnx__NodeProto *n, int32_t opset)
{
    char m[32], c[32], nm[32];
    const char *mode = ox_attr_string(n, "mode", "nearest", m, sizeof m);
    const char *ctm = ox_attr_string(n, "coordinate_transformation_mode",
                                      opset < 11 ? "asymmetric" : "half_pixel", c, sizeof c);
    const char *nmode = ox_attr_string(n, "nearest_mode", "round_prefer_floor", nm, sizeof nm);
    if (strcmp(mode, "nearest") == 0) {
        /* hinge's nearest is PyTorch's: floor(dst * in / out) */
        if (strcmp(ctm, "asymmetric") != 0 || (opset >= 11 && strcmp(nmode, "floor") != 0)) {
            snprintf(reason, sizeof reason, "nearest with coordinate_transformation_mode '%s' "
                     "and nearest_mode '%s' not supported (asymmetric + floor is)", ctm, nmode);
            return reason;
        }
        return NULL;
    }
    if (strcmp(mode, "linear") == 0) {
        if (strcmp(ctm, "align_corners") && strcmp(ctm, "half_pixel") &&
            strcmp(ctm, "pytorch_half_pixel")) {
            snprintf(reason, sizeof reason, "linear with coordinate_transformation_mode '%s' "
                     "not supported (align_corners, half_pixel, pytorch_half_pixel are)", ctm);
            return reason;
        }
        return NULL;
    }
    snprintf(reason, sizeof reason, "mode '%s' not supported (nearest, linear are)", mode);
    return reason;
}

static const char *check_upsample(const Onnx__NodeProto *n, int32_t opset)
{
    char m[32];
    const char *mode = ox_attr_string(n, "mode", "nearest", m, sizeof m);
    if (strcmp(mode, "nearest") != 0) {
        snprintf(reason, sizeof reason, "mode '%s' not supported (nearest is; export linear "
                 "resizing with opset >= 11)", mode);
        return reason;
    }
    return NULL;
}

static const char *check_pad(const Onnx__NodeProto *n, int32_t opset)
{
    char m[32];
    const char *mode = ox_attr_string(n, "mode", "constant", m, sizeof m);
    if (strcmp(mode, "constant") != 0) {
        snprintf(reason, sizeof reason, "mode '%s' not supported (constant is)", mode);
        return reason;
    }
    return NULL;
}

static const char *check_cast(const Onnx__NodeProto *n, int32_t opset)
{
    int64_t to = ox_attr_int(n, "to", 0);
    if (to == 1 || to == 11 || to == 6 || to == 7 || to == 9 || to == 2 || to == 3)
        return NULL;
    snprintf(reason, sizeof reason, "cast to type %lld not supported", (long long)to);
    return reason;
}

static const char *check_dropout(const Onnx__NodeProto *n, int32_t opset)
{
    if (n->n_output > 1 && n->output[1] && *n->output[1])
        return "the mask output is not supported";
    return NULL;
}

static const ox_op ops[] = {
    {"Abs", ox_op_Abs, false, NULL, NULL},
    {"Add", ox_op_Add, true, NULL, NULL},
    {"AveragePool", ox_op_AveragePool, false,
     ATTRS("auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"),
     check_auto_pad},
    {"BatchNormalization", ox_op_BatchNormalization, false,
     ATTRS("epsilon", "momentum", "training_mode"), check_bn},
    {"Cast", ox_op_Cast, true, ATTRS("to"), check_cast},
    {"Clip", ox_op_Clip, false, ATTRS("min", "max"), NULL},
    {"Concat", ox_op_Concat, true, ATTRS("axis"), NULL},
    {"Constant", ox_op_Constant, true,
     ATTRS("value", "value_float", "value_floats", "value_int", "value_ints"), NULL},
    {"ConstantOfShape", ox_op_ConstantOfShape, true, ATTRS("value"), NULL},
    {"Conv", ox_op_Conv, false,
     ATTRS("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"), check_auto_pad},
    {"ConvTranspose", ox_op_ConvTranspose, false,
     ATTRS("auto_pad", "dilations", "group", "kernel_shape", "output_padding", "pads",
           "strides", "output_shape"),
     check_conv_transpose},
    {"Div", ox_op_Div, true, NULL, NULL},
    {"Dropout", ox_op_Dropout, false, ATTRS("ratio", "seed"), check_dropout},
    {"Exp", ox_op_Exp, false, NULL, NULL},
    {"Elu", ox_op_Elu, false, ATTRS("alpha"), NULL},
    {"Flatten", ox_op_Flatten, true, ATTRS("axis"), NULL},
    {"Gather", ox_op_Gather, true, ATTRS("axis"), NULL},
    {"Gemm", ox_op_Gemm, false, ATTRS("alpha", "beta", "transA", "transB"), NULL},
    {"GlobalAveragePool", ox_op_GlobalAveragePool, false, NULL, NULL},
    {"Identity", ox_op_Identity, true, NULL, NULL},
    {"InstanceNormalization", ox_op_InstanceNormalization, false, ATTRS("epsilon"), NULL},
    {"LeakyRelu", ox_op_LeakyRelu, false, ATTRS("alpha"), NULL},
    {"LogSoftmax", ox_op_LogSoftmax, false, ATTRS("axis"), NULL},
    {"Log", ox_op_Log, false, NULL, NULL},
    {"MatMul", ox_op_MatMul, false, NULL, NULL},
    {"MaxPool", ox_op_MaxPool, false,
     ATTRS("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order",
           "strides"),
     check_maxpool},
    {"Mul", ox_op_Mul, true, NULL, NULL},
    {"Neg", ox_op_Neg, false, NULL, NULL},
    {"PRelu", ox_op_PRelu, false, NULL, NULL},
    {"Pad", ox_op_Pad, false, ATTRS("mode", "pads", "value"), check_pad},
    {"Pow", ox_op_Pow, true, NULL, NULL},
    {"ReduceMean", ox_op_ReduceMean, false, ATTRS("axes", "keepdims"), NULL},
    {"Relu", ox_op_Relu, false, NULL, NULL},
    {"Reshape", ox_op_Reshape, true, ATTRS("allowzero"), NULL},
    {"Resize", ox_op_Resize, false,
     ATTRS("coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
           "extrapolation_value", "mode", "nearest_mode"),
     check_resize},
    {"Shape", ox_op_Shape, true, ATTRS("start", "end"), NULL},
    {"Sigmoid", ox_op_Sigmoid, false, NULL, NULL},
    {"Slice", ox_op_Slice, true, ATTRS("starts", "ends", "axes"), NULL},
    {"Softmax", ox_op_Softmax, false, ATTRS("axis"), NULL},
    {"Split", ox_op_Split, false, ATTRS("axis", "split"), NULL},
    {"Sqrt", ox_op_Sqrt, false, NULL, NULL},
    {"Squeeze", ox_op_Squeeze, true, ATTRS("axes"), NULL},
    {"Sub", ox_op_Sub, true, NULL, NULL},
    {"Tanh", ox_op_Tanh, false, NULL, NULL},
    {"Transpose", ox_op_Transpose, true, ATTRS("perm"), NULL},
    {"Unsqueeze", ox_op_Unsqueeze, true, ATTRS("axes"), NULL},
    {"Upsample", ox_op_Upsample, false, ATTRS("mode"), check_upsample},
};

const ox_op *ox_find_op(const char *name)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    return NULL;
}
