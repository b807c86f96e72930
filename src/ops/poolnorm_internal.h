/* Private helpers of the pooling, resampling and normalization ops (src/ops only).
 *
 * The spatial ops treat 1-D and 2-D images as 3-D ones with leading singleton dimensions
 * (kernel 1, stride 1, no padding there): one loop nest serves [N, C, W], [N, C, H, W] and
 * [N, C, D, H, W], and index arithmetic is checked once. */
#ifndef HINGE_OPS_POOLNORM_INTERNAL_H
#define HINGE_OPS_POOLNORM_INTERNAL_H

#include "ops/op_util.h"

/* x [N, C, *S] seen as N*C planes of size in[0]*in[1]*in[2] (leading entries 1 for < 3-D). */
typedef struct hg_planes {
    int32_t sd;    /* spatial dimensions of x: 1 to 3 */
    int64_t n, c;  /* batch and channels */
    int64_t in[3]; /* spatial sizes, right-aligned: (D, H, W) */
    int64_t plane; /* in[0] * in[1] * in[2] */
} hg_planes;

/* Checks x is real with 3 to 5 dimensions and fills p; message names op and x. */
hg_status hg_planes_of(const char *op, const hg_tensor *x, hg_planes *p);

/* Pooling window geometry, PyTorch's conventions (dilation 1). */
typedef struct hg_pool_geom {
    hg_planes x;
    int64_t out[3];  /* output spatial sizes, right-aligned like x.in */
    int64_t oplane;  /* out[0] * out[1] * out[2] */
    int32_t k[3], s[3], p[3];
    bool count_include_pad;
} hg_pool_geom;

/* Validates opts against x (kernel >= 1, stride >= 0 where 0 means the kernel, 0 <= padding
 * <= kernel/2, kernel no larger than the padded input) and computes the output size with
 * floor or ceil rounding; a ceil-mode window starting in the right padding is dropped. */
hg_status hg_pool_geometry(const char *op, const hg_tensor *x, const hg_pool_opts *opts,
                           hg_pool_geom *g);

/* Window of output index o along axis i of g, clipped to the input: [*lo, *hi). */
static inline void hg_pool_window(const hg_pool_geom *g, int i, int64_t o, int64_t *lo,
                                  int64_t *hi)
{
    int64_t start = o * g->s[i] - g->p[i], end = start + g->k[i];
    *lo = start < 0 ? 0 : start;
    *hi = end < g->x.in[i] ? end : g->x.in[i];
}

/* Output shape [N, C, *out] of a pooling op, of x's rank. */
void hg_pool_out_shape(const hg_pool_geom *g, int64_t *shape);

/* Group normalization core shared by hg_group_norm and hg_instance_norm (groups == C):
 * statistics per (sample, group), biased variance, per-channel gamma/beta. `op` names the
 * public op in errors and on the tape. */
hg_tensor *hg_group_norm_impl(hg_ctx *ctx, const char *op, hg_tensor *x, int groups,
                              hg_tensor *gamma, hg_tensor *beta, float eps);

/* These ops keep scratch (tables, statistics) in the context: fails when there is none. */
static inline bool hg_require_ctx(const char *op, const hg_ctx *ctx)
{
    if (ctx)
        return true;
    hg_error(HG_ERR_INVALID, "%s: NULL context (the op keeps its scratch in it)", op);
    return false;
}

/* Checks an optional per-channel tensor (gamma, beta, running stats) has shape [c]. */
hg_status hg_check_channel_param(const char *op, const char *role, const hg_tensor *t, int64_t c);

/* Batch norm's argument checks (shared by hg_batch_norm and the MPI-synchronized variant):
 * real input of rank 2-5, per-channel parameters of size C, running stats given together,
 * eps > 0, momentum in [0, 1]. */
hg_status hg_batch_norm_check_args(const char *op, const hg_tensor *x, const hg_tensor *gamma,
                                   const hg_tensor *beta, const hg_tensor *rm,
                                   const hg_tensor *rv, float momentum, float eps);

#endif
