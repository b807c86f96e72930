/* Differentiable ops. Each lives in src/ops/<name>.c with its forward and backward side by side.
 *
 * Every op takes the context that owns its output (and tape), returns a new tensor or NULL
 * with the error set, and propagates NULL inputs. Shapes are checked and a mismatch names the
 * op, the tensor, the expected and the actual value. Scalars (losses) have shape [1].
 * Images are [N, C, (D,) H, W]; the number of spatial dimensions is ndim - 2 (1 to 3).
 */
#ifndef HINGE_OPS_H
#define HINGE_OPS_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- elementwise (numpy broadcasting for the binary ones) ------------------------------ */
hg_tensor *hg_add(hg_ctx *ctx, hg_tensor *a, hg_tensor *b);
hg_tensor *hg_sub(hg_ctx *ctx, hg_tensor *a, hg_tensor *b);
hg_tensor *hg_mul(hg_ctx *ctx, hg_tensor *a, hg_tensor *b);
hg_tensor *hg_div(hg_ctx *ctx, hg_tensor *a, hg_tensor *b);
hg_tensor *hg_scale(hg_ctx *ctx, hg_tensor *x, float s);      /* s * x (float or complex) */
hg_tensor *hg_add_scalar(hg_ctx *ctx, hg_tensor *x, float s); /* x + s */
hg_tensor *hg_neg(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_exp(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_log(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_sqrt(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_abs(hg_ctx *ctx, hg_tensor *x);    /* |x|; modulus for complex (-> float) */
hg_tensor *hg_square(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_copy(hg_ctx *ctx, hg_tensor *x);   /* tracked copy */
/* x^p for a constant exponent (derivative p x^(p-1), 0 where undefined). */
hg_tensor *hg_pow_scalar(hg_ctx *ctx, hg_tensor *x, float p);
/* min(max(x, lo), hi); the gradient passes where lo <= x <= hi. */
hg_tensor *hg_clamp(hg_ctx *ctx, hg_tensor *x, float lo, float hi);

/* ---- reductions ------------------------------------------------------------------------ */
hg_tensor *hg_sum(hg_ctx *ctx, hg_tensor *x);    /* all elements -> [1] */
hg_tensor *hg_mean(hg_ctx *ctx, hg_tensor *x);
/* dim may be negative (counts from the end); a 1-D tensor reduces to [1]. */
hg_tensor *hg_sum_dim(hg_ctx *ctx, hg_tensor *x, int dim, bool keepdim);
hg_tensor *hg_mean_dim(hg_ctx *ctx, hg_tensor *x, int dim, bool keepdim);

/* ---- shape ----------------------------------------------------------------------------- */
/* A view with another shape (same numel; one entry may be -1). Shares data. */
hg_tensor *hg_reshape(hg_ctx *ctx, hg_tensor *x, int ndim, const int64_t *shape);
/* Elements [start, end) along dim (a copy); negative start/end count from the end. */
hg_tensor *hg_slice(hg_ctx *ctx, hg_tensor *x, int dim, int64_t start, int64_t end);
hg_tensor *hg_concat(hg_ctx *ctx, hg_tensor *const *xs, int n, int dim);
/* Splits along dim into n parts of the given sizes; writes n tensors to out. */
hg_status hg_split(hg_ctx *ctx, hg_tensor *x, int dim, int n, const int64_t *sizes,
                   hg_tensor **out);
hg_tensor *hg_permute(hg_ctx *ctx, hg_tensor *x, const int32_t *perm);
hg_tensor *hg_pad(hg_ctx *ctx, hg_tensor *x, const int32_t *before, const int32_t *after,
                  float value); /* constant padding of the spatial dims */
/* Complex <-> real channel pairs: C64 [N, C, ...] <-> F32 [N, 2C, ...] (re, im per channel). */
hg_tensor *hg_complex_to_channels(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_channels_to_complex(hg_ctx *ctx, hg_tensor *x);

/* ---- linear algebra -------------------------------------------------------------------- */
/* a [M, K] x b [K, N] (or batched [B, M, K] x [B, K, N]); transposes applied first. */
hg_tensor *hg_matmul(hg_ctx *ctx, hg_tensor *a, hg_tensor *b, bool trans_a, bool trans_b);
/* x [N, in] -> x w^T + b with w [out, in], b [out] or NULL (x [..., in] also works). */
hg_tensor *hg_linear(hg_ctx *ctx, hg_tensor *x, hg_tensor *w, hg_tensor *b);

/* ---- convolution ----------------------------------------------------------------------- */
/* Per spatial dimension; zero entries take the defaults (stride 1, padding 0, dilation 1,
 * groups 1, output_padding 0). NULL options mean all defaults. */
typedef struct hg_conv_opts {
    int32_t stride[3];
    int32_t padding[3];
    int32_t dilation[3];
    int32_t output_padding[3]; /* transposed convolution only */
    int32_t groups;
} hg_conv_opts;

/* x [N, Cin, *S], w [Cout, Cin/groups, *K], b [Cout] or NULL (cross-correlation, as PyTorch). */
hg_tensor *hg_conv(hg_ctx *ctx, hg_tensor *x, hg_tensor *w, hg_tensor *b,
                   const hg_conv_opts *opts);
/* x [N, Cin, *S], w [Cin, Cout/groups, *K] (PyTorch's ConvTranspose layout). */
hg_tensor *hg_conv_transpose(hg_ctx *ctx, hg_tensor *x, hg_tensor *w, hg_tensor *b,
                             const hg_conv_opts *opts);

/* ---- pooling and resampling ------------------------------------------------------------ */
typedef struct hg_pool_opts {
    int32_t kernel[3];
    int32_t stride[3];  /* 0: equal to kernel */
    int32_t padding[3];
    bool ceil_mode;
    bool count_include_pad; /* average pooling */
} hg_pool_opts;

hg_tensor *hg_max_pool(hg_ctx *ctx, hg_tensor *x, const hg_pool_opts *opts);
hg_tensor *hg_avg_pool(hg_ctx *ctx, hg_tensor *x, const hg_pool_opts *opts);
hg_tensor *hg_global_avg_pool(hg_ctx *ctx, hg_tensor *x); /* -> [N, C, 1, ...] */

typedef enum hg_upsample_mode { HG_UPSAMPLE_NEAREST = 0, HG_UPSAMPLE_LINEAR = 1 } hg_upsample_mode;
/* Resizes the spatial dims to out_size (bi/trilinear for LINEAR). */
hg_tensor *hg_upsample(hg_ctx *ctx, hg_tensor *x, const int64_t *out_size, hg_upsample_mode mode,
                       bool align_corners);

/* ---- normalization --------------------------------------------------------------------- */
/* Training mode (hg_ctx_training): batch statistics, running stats updated with momentum
 * (PyTorch convention, unbiased variance in the running estimate). Eval: running stats.
 * gamma/beta [C] or NULL; running_mean/var [C] (heap buffers) or NULL (always batch stats). */
hg_tensor *hg_batch_norm(hg_ctx *ctx, hg_tensor *x, hg_tensor *gamma, hg_tensor *beta,
                         hg_tensor *running_mean, hg_tensor *running_var, float momentum,
                         float eps);
hg_tensor *hg_instance_norm(hg_ctx *ctx, hg_tensor *x, hg_tensor *gamma, hg_tensor *beta,
                            float eps);
hg_tensor *hg_group_norm(hg_ctx *ctx, hg_tensor *x, int groups, hg_tensor *gamma,
                         hg_tensor *beta, float eps);

/* ---- activations ----------------------------------------------------------------------- */
hg_tensor *hg_relu(hg_ctx *ctx, hg_tensor *x);
/* ReLU written over x (PyTorch's inplace=True): returns x itself when nothing is recorded,
 * else a view of x's data with its own gradient. Only for an x that nothing else reads
 * afterwards and whose producer's backward does not read it (conv and norm outputs);
 * refuses leaves that require a gradient. Saves one activation per conv-norm-ReLU. */
hg_tensor *hg_relu_inplace(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_leaky_relu(hg_ctx *ctx, hg_tensor *x, float slope);
/* LeakyReLU written over x, under the same conditions as hg_relu_inplace; slope >= 0 (the
 * backward reads the output, whose sign must be the input's). */
hg_tensor *hg_leaky_relu_inplace(hg_ctx *ctx, hg_tensor *x, float slope);
/* weight [1] (shared) or [C] (per channel, dim 1). */
hg_tensor *hg_prelu(hg_ctx *ctx, hg_tensor *x, hg_tensor *weight);
hg_tensor *hg_elu(hg_ctx *ctx, hg_tensor *x, float alpha);
hg_tensor *hg_sigmoid(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_tanh(hg_ctx *ctx, hg_tensor *x);
hg_tensor *hg_softmax(hg_ctx *ctx, hg_tensor *x, int dim);
hg_tensor *hg_log_softmax(hg_ctx *ctx, hg_tensor *x, int dim);
/* Active only in training mode; the mask comes from rng (counter-based: thread independent). */
struct hg_rng;
hg_tensor *hg_dropout(hg_ctx *ctx, hg_tensor *x, float p, struct hg_rng *rng);

/* ---- losses (mean reduction, shape [1]) ------------------------------------------------ */
hg_tensor *hg_mse_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target);
hg_tensor *hg_l1_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target);
hg_tensor *hg_huber_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target, float delta);
/* logits [N, C, *S]; target [N, *S] holding class indices as floats; class_weights [C] or
 * NULL; elements whose target equals ignore_index are skipped (PyTorch's weighted mean).
 * If every element is skipped the loss is 0 with zero gradient (PyTorch: NaN). */
hg_tensor *hg_cross_entropy(hg_ctx *ctx, hg_tensor *logits, hg_tensor *target,
                            hg_tensor *class_weights, int32_t ignore_index);
/* pos_weight [C] or NULL (PyTorch's BCEWithLogitsLoss); C is dim 1 of the logits, so for
 * images [N, C, *S] it acts as PyTorch's pos_weight.view(C, 1, ...). [1] is shared. */
hg_tensor *hg_bce_with_logits(hg_ctx *ctx, hg_tensor *logits, hg_tensor *target,
                              hg_tensor *pos_weight);
/* Soft Dice on softmax(logits) against one-hot(target): 1 - mean over classes of
 * (2|P∩T| + smooth) / (|P| + |T| + smooth), sums over batch and space. A class absent from
 * both target and prediction scores 1 (through smooth), so it neither rewards nor punishes. */
hg_tensor *hg_soft_dice_loss(hg_ctx *ctx, hg_tensor *logits, hg_tensor *target, float smooth,
                             bool include_background);
/* 1 - SSIM with a Gaussian window (11, sigma 1.5), K1 0.01, K2 0.03, per-image data range.
 * Inputs [..., H, W] (H, W >= 11): each 2-D image is scored as skimage's
 * structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False) on
 * the valid region, then averaged over images. data_range <= 0: each target's max - min. */
hg_tensor *hg_ssim_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target, float data_range);

#ifdef __cplusplus
}
#endif
#endif
