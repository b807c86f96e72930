/* Batch normalization over [N, C, *S] (S may be empty: [N, C]), PyTorch's F.batch_norm.
 *
 * Batch statistics (training mode, or no running stats): per channel mean and biased variance
 * over N and space, accumulated in double (two passes: the one-pass formula cancels badly for
 * large means). Running stats, when given in training mode, are updated in place:
 * r = (1 - momentum) r + momentum s, with the unbiased variance M/(M-1) var, M = N*prod(S).
 * Eval mode with running stats normalizes with them, and the op is then affine in x. */
#include "ops/poolnorm_internal.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    int64_t n, c, inner; /* x seen as [n, c, inner] */
    float *mean, *invstd; /* [c], the statistics actually used */
    bool batch_stats;     /* whether mean/invstd depend on x */
} batch_norm_state;

static hg_status batch_norm_backward(hg_ctx *ctx, hg_node *node)
{
    const batch_norm_state *st = node->state;
    hg_tensor *x = node->in[0], *gamma = node->in[1];
    float *gx = hg_needs_grad(node, 0) ? hg_grad(ctx, x) : NULL;
    float *gg = hg_needs_grad(node, 1) ? hg_grad(ctx, gamma) : NULL;
    float *gb = hg_needs_grad(node, 2) ? hg_grad(ctx, node->in[2]) : NULL;
    if ((hg_needs_grad(node, 0) && !gx) || (hg_needs_grad(node, 1) && !gg) ||
        (hg_needs_grad(node, 2) && !gb))
        return hg_error_status();
    const float *xd = x->data, *gy = node->out->grad;
    int64_t n = st->n, c = st->c, inner = st->inner;
    double m = (double)(n * inner);
#pragma omp parallel for schedule(dynamic) if (x->numel > 32768)
    for (int64_t ch = 0; ch < c; ch++) {
        float mu = st->mean[ch], is = st->invstd[ch];
        double sg = 0.0, sgx = 0.0; /* sum(g), sum(g * xhat) */
        for (int64_t b = 0; b < n; b++) {
            const float *xp = xd + (b * c + ch) * inner, *gp = gy + (b * c + ch) * inner;
#pragma omp simd reduction(+ : sg, sgx)
            for (int64_t i = 0; i < inner; i++) {
                sg += gp[i];
                sgx += (double)gp[i] * ((xp[i] - mu) * is);
            }
        }
        if (gg)
            gg[ch] += (float)sgx;
        if (gb)
            gb[ch] += (float)sg;
        if (!gx)
            continue;
        float scale = (gamma ? gamma->data[ch] : 1.0f) * is;
        /* Batch statistics: d xhat / dx removes the mean and the component along xhat. */
        float a = st->batch_stats ? (float)(sg / m) : 0.0f;
        float bcoef = st->batch_stats ? (float)(sgx / m) : 0.0f;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = xd + (b * c + ch) * inner, *gp = gy + (b * c + ch) * inner;
            float *gxp = gx + (b * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++)
                gxp[i] += scale * (gp[i] - a - (xp[i] - mu) * is * bcoef);
        }
    }
    return HG_OK;
}

hg_status hg_batch_norm_check_args(const char *op, const hg_tensor *x, const hg_tensor *gamma,
                            const hg_tensor *beta, const hg_tensor *rm, const hg_tensor *rv,
                            float momentum, float eps)
{
    if (!hg_require_real(op, x) || !hg_require_rank(op, x, 2, 5))
        return hg_error_status();
    int64_t c = x->shape[1];
    if (hg_check_channel_param(op, "gamma", gamma, c) || hg_check_channel_param(op, "beta", beta, c) ||
        hg_check_channel_param(op, "running_mean", rm, c) ||
        hg_check_channel_param(op, "running_var", rv, c))
        return hg_error_status();
    if ((rm == NULL) != (rv == NULL))
        return hg_error(HG_ERR_INVALID, "%s: running_mean and running_var must be given together "
                        "(got only %s '%s')", op, rm ? "running_mean" : "running_var",
                        hg_tensor_label(rm ? rm : rv));
    if (!(eps > 0.0f))
        return hg_error(HG_ERR_INVALID, "%s: eps must be > 0, got %g", op, (double)eps);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return hg_error(HG_ERR_INVALID, "%s: momentum must be in [0, 1], got %g", op,
                        (double)momentum);
    return HG_OK;
}

hg_tensor *hg_batch_norm(hg_ctx *ctx, hg_tensor *x, hg_tensor *gamma, hg_tensor *beta,
                         hg_tensor *running_mean, hg_tensor *running_var, float momentum,
                         float eps)
{
    const char *op = "batch_norm";
    HG_PROPAGATE_NULL(x);
    if (!hg_require_ctx(op, ctx))
        return NULL;
    if (hg_batch_norm_check_args(op, x, gamma, beta, running_mean, running_var, momentum, eps) !=
        HG_OK)
        return NULL;
    int64_t n = x->shape[0], c = x->shape[1], inner = (n * c) != 0 ? x->numel / (n * c) : 0;
    if (n * inner == 0) {
        char sh[96];
        hg_error(HG_ERR_INVALID, "%s of %s %s: no values to normalize", op, hg_tensor_label(x),
                 hg_shape_str(x, sh, sizeof sh));
        return NULL;
    }
    bool training = hg_ctx_training(ctx), batch_stats = training || !running_mean;
    if (training && n * inner < 2) {
        char sh[96];
        hg_error(HG_ERR_INVALID,
                 "%s of %s %s: expected more than 1 value per channel in training, got %lld", op,
                 hg_tensor_label(x), hg_shape_str(x, sh, sizeof sh), (long long)(n * inner));
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    float *mean = hg_ctx_alloc(ctx, (size_t)c * sizeof *mean);
    float *invstd = hg_ctx_alloc(ctx, (size_t)c * sizeof *invstd);
    if (!out || !mean || !invstd)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    double m = (double)(n * inner);
#pragma omp parallel for schedule(dynamic) if (x->numel > 32768)
    for (int64_t ch = 0; ch < c; ch++) {
        if (batch_stats) {
            double s = 0.0, ss = 0.0;
            for (int64_t b = 0; b < n; b++)
#pragma omp simd reduction(+ : s)
                for (int64_t i = 0; i < inner; i++)
                    s += xd[(b * c + ch) * inner + i];
            double mu = s / m;
            for (int64_t b = 0; b < n; b++)
#pragma omp simd reduction(+ : ss)
                for (int64_t i = 0; i < inner; i++) {
                    double d = xd[(b * c + ch) * inner + i] - mu;
                    ss += d * d;
                }
            double var = ss / m;
            mean[ch] = (float)mu;
            invstd[ch] = (float)(1.0 / sqrt(var + (double)eps));
            if (running_mean && training) {
                double unbiased = m > 1 ? ss / (m - 1) : var;
                running_mean->data[ch] =
                    (float)((1.0 - momentum) * running_mean->data[ch] + momentum * mu);
                running_var->data[ch] =
                    (float)((1.0 - momentum) * running_var->data[ch] + momentum * unbiased);
            }
        } else {
            mean[ch] = running_mean->data[ch];
            invstd[ch] = (float)(1.0 / sqrt((double)running_var->data[ch] + (double)eps));
        }
        float g = gamma ? gamma->data[ch] : 1.0f, bt = beta ? beta->data[ch] : 0.0f;
        float scale = g * invstd[ch], shift = bt - mean[ch] * scale;
        for (int64_t b = 0; b < n; b++) {
            const float *xp = xd + (b * c + ch) * inner;
            float *yp = y + (b * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++)
                yp[i] = xp[i] * scale + shift;
        }
    }
    hg_tensor *in[3] = {x, gamma, beta};
    hg_node *node = hg_tape_record(ctx, op, batch_norm_backward, out, 3, in);
    if (node) {
        batch_norm_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        *st = (batch_norm_state){n, c, inner, mean, invstd, batch_stats};
        node->state = st;
    }
    return out;
}
