/* Models and the layers they are made of (src/nn/).
 *
 * A model is named parameters + a forward function + an architecture config. The config is a
 * list of string key/values (the same hg_metadata that safetensors stores), so a model file is
 * self-describing: hg_model_load rebuilds the architecture from the file's metadata and then
 * loads the weights strictly. Unknown config keys are refused, naming the key.
 */
#ifndef HINGE_NN_H
#define HINGE_NN_H

#include "hinge/core.h"
#include "hinge/io.h"
#include "hinge/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layers ---------------------------------------------------------------------------- */

typedef struct hg_conv_layer {
    hg_tensor *weight, *bias; /* bias may be NULL */
    hg_conv_opts opts;
    bool transposed;
} hg_conv_layer;

/* Registers "<name>.weight" (and "<name>.bias") in params with PyTorch's default init
 * (Kaiming-uniform, a = sqrt(5)) from rng. dims: 1-3 spatial dimensions. */
hg_status hg_conv_layer_init(hg_conv_layer *l, hg_params *params, const char *name, int dims,
                             int cin, int cout, int kernel, int stride, int padding, bool bias,
                             bool transposed, hg_rng *rng);
hg_tensor *hg_conv_layer_forward(hg_ctx *ctx, const hg_conv_layer *l, hg_tensor *x);

typedef enum hg_norm_kind {
    HG_NORM_NONE = 0,
    HG_NORM_BATCH,
    HG_NORM_INSTANCE,
    HG_NORM_GROUP
} hg_norm_kind;

typedef struct hg_norm_layer {
    hg_norm_kind kind;
    int32_t groups;
    hg_tensor *gamma, *beta, *running_mean, *running_var;
    float momentum, eps;
} hg_norm_layer;

/* "<name>.weight", ".bias" (+ ".running_mean", ".running_var" buffers for batch norm). */
hg_status hg_norm_layer_init(hg_norm_layer *l, hg_params *params, const char *name,
                             hg_norm_kind kind, int channels, int groups);
hg_tensor *hg_norm_layer_forward(hg_ctx *ctx, const hg_norm_layer *l, hg_tensor *x);
hg_status hg_norm_kind_parse(const char *s, hg_norm_kind *kind);

typedef struct hg_linear_layer {
    hg_tensor *weight, *bias;
} hg_linear_layer;

hg_status hg_linear_layer_init(hg_linear_layer *l, hg_params *params, const char *name, int in,
                               int out, bool bias, hg_rng *rng);
hg_tensor *hg_linear_layer_forward(hg_ctx *ctx, const hg_linear_layer *l, hg_tensor *x);

/* ---- models ---------------------------------------------------------------------------- */

typedef struct hg_model hg_model;

typedef struct hg_model_arch {
    const char *name;
    const char *summary;
    const char *const *config_keys; /* NULL-terminated list of accepted keys */
    /* Builds m->params and m->impl from m->config (defaults already filled in). */
    hg_status (*build)(hg_model *m, hg_rng *rng);
    hg_tensor *(*forward)(hg_model *m, hg_ctx *ctx, hg_tensor *x);
    void (*destroy)(hg_model *m);
    /* Optional: folds each batch norm into the convolution before it (hg_conv_norm_fold) and
     * adds the count to *folded; see hg_model_fold_batch_norm. */
    hg_status (*fold_batch_norm)(hg_model *m, int *folded);
} hg_model_arch;

struct hg_model {
    const hg_model_arch *arch;
    hg_params params;
    hg_metadata config; /* includes "arch" */
    void *impl;
};

/* The registered architectures (NULL-terminated). */
const hg_model_arch *const *hg_model_archs(void);
const hg_model_arch *hg_model_arch_find(const char *name);

/* Creates a model of `arch` with config (may be NULL: defaults), initialized from seed. */
hg_model *hg_model_create(const char *arch, const hg_metadata *config, uint64_t seed);
void hg_model_free(hg_model *m);
hg_tensor *hg_model_forward(hg_model *m, hg_ctx *ctx, hg_tensor *x);
/* Inference transform: every batch norm that directly follows a convolution is folded into it
 * with the running statistics (w' = w s, b' = (b - mean) s + beta, s = gamma / sqrt(var +
 * eps)) and becomes the identity, so eval-mode outputs stay the same (to float rounding)
 * while a conv-norm pair costs one op and one tensor. The model is then for inference only:
 * training it or saving it as its architecture is wrong (its norms no longer normalize).
 * *folded (may be NULL) gets the number of folded pairs; HG_ERR_UNSUPPORTED naming the
 * architecture when it has no fold (cnn, unet and fbpconvnet have one). */
hg_status hg_model_fold_batch_norm(hg_model *m, int *folded);
/* The layer step: folds `norm` (batch norm) into `conv` (not transposed), adding the conv's
 * bias "<name>.bias" to params when it has none; *folded false when norm is not a batch norm
 * (nothing changes). HG_ERR_INVALID when the channel counts differ. */
hg_status hg_conv_norm_fold(hg_conv_layer *conv, hg_norm_layer *norm, hg_params *params,
                            bool *folded);
/* Config helpers for architectures: typed reads with range checks and clear errors. */
hg_status hg_config_int(const hg_metadata *c, const char *key, int64_t lo, int64_t hi,
                        int64_t *out);
hg_status hg_config_float(const hg_metadata *c, const char *key, double *out);
/* A comma-separated list of positive ints ("32,64,128"); at most max entries. */
hg_status hg_config_int_list(const hg_metadata *c, const char *key, int max, int64_t *out,
                             int *count);

/* Weights + config (+ extra metadata) in one safetensors file, atomically. */
hg_status hg_model_save(const hg_model *m, const char *path, const hg_metadata *extra);
/* Rebuilds the architecture named in the file and loads its weights strictly. A path ending
 * in .onnx gives the "onnx" architecture: the imported graph, for inference. */
hg_model *hg_model_load(const char *path, hg_metadata *extra_out);

/* ---- built-in architectures ------------------------------------------------------------ */
/* "cnn": small image classifier, conv-BN-ReLU blocks + max pools + linear head.
 *   in_channels (1), classes (10), features ("32,64"), convs_per_stage (2), size (28),
 *   hidden (128), dropout (0.25).
 * "unet": 2-D/3-D U-Net, conv-norm-act x2 per level, max-pool down, transposed-conv up.
 *   dims (2), in_channels (1), classes (2), features ("32,64,128,256"), norm (batch),
 *   activation (relu | leaky_relu), residual (0 | 1: nnU-Net ResidualEncoder units, strided
 *   convs instead of max pools), deep_supervision (0 | 1: auxiliary 1x1 heads "ds<l>" on
 *   decoder levels 1..levels-2, used by hg_seg_loss; see segment.h).
 * "resnet18": ResNet-18 classifier (torchvision's structure and parameter names: conv1, bn1,
 *   layer1.0.conv1, ..., layer2.0.downsample.0/1, fc). dims (2 | 3), in_channels (1),
 *   classes (2), width (64: stage widths width x 1, 2, 4, 8), blocks ("2,2,2,2"),
 *   norm (batch), stem (imagenet: 7^d stride-2 conv + max pool | small: 3^d stride-1 conv). */

/* Class activation map (Zhou et al. 2016) of a "resnet18" model: the last stage's features
 * weighted by the fc row of class cls, [N, 1, *s] at 1/32 (imagenet stem) of the input size.
 * Its spatial mean plus fc.bias[cls] is the class logit. */
hg_tensor *hg_resnet_cam(hg_model *m, hg_ctx *ctx, hg_tensor *x, int cls);

#ifdef __cplusplus
}
#endif
#endif
