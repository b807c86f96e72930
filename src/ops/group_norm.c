/* Group normalization over [N, C, *S] (S may be empty), PyTorch's F.group_norm: the C channels
 * split into `groups` consecutive groups; each (sample, group) is normalized by its own mean
 * and biased variance (accumulated in double, two passes), then scaled and shifted per
 * channel. Instance normalization is the case groups == C (see instance_norm.c). */
#include "ops/poolnorm_internal.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    int64_t n, c, g, inner; /* x as [n, g, c/g, inner] */
    float *mean, *invstd;   /* [n * g] */
} group_norm_state;

static hg_status group_norm_backward(hg_ctx *ctx, hg_node *node)
{
    const group_norm_state *st = node->state;
    hg_tensor *x = node->in[0], *gamma = node->in[1];
    float *gx = hg_needs_grad(node, 0) ? hg_grad(ctx, x) : NULL;
    float *gg = hg_needs_grad(node, 1) ? hg_grad(ctx, gamma) : NULL;
    float *gb = hg_needs_grad(node, 2) ? hg_grad(ctx, node->in[2]) : NULL;
    if ((hg_needs_grad(node, 0) && !gx) || (hg_needs_grad(node, 1) && !gg) ||
        (hg_needs_grad(node, 2) && !gb))
        return hg_error_status();
    const float *xd = x->data, *gy = node->out->grad;
    int64_t n = st->n, c = st->c, groups = st->g, inner = st->inner, cg = c / groups;
    double m = (double)(cg * inner);
    /* Parameter gradients: one channel per iteration so that no two threads share one. */
    if (gg || gb) {
#pragma omp parallel for schedule(static) if (x->numel > 32768)
        for (int64_t ch = 0; ch < c; ch++) {
            double sg = 0.0, sgx = 0.0;
            for (int64_t b = 0; b < n; b++) {
                int64_t k = b * groups + ch / cg;
                float mu = st->mean[k], is = st->invstd[k];
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
        }
    }
    if (!gx)
        return HG_OK;
    /* dx = invstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = gamma g. */
#pragma omp parallel for schedule(static) if (x->numel > 32768)
    for (int64_t k = 0; k < n * groups; k++) {
        int64_t b = k / groups, c0 = (k % groups) * cg;
        float mu = st->mean[k], is = st->invstd[k];
        double s1 = 0.0, s2 = 0.0;
        for (int64_t ch = c0; ch < c0 + cg; ch++) {
            float w = gamma ? gamma->data[ch] : 1.0f;
            const float *xp = xd + (b * c + ch) * inner, *gp = gy + (b * c + ch) * inner;
#pragma omp simd reduction(+ : s1, s2)
            for (int64_t i = 0; i < inner; i++) {
                double d = (double)w * gp[i];
                s1 += d;
                s2 += d * ((xp[i] - mu) * is);
            }
        }
        float a = (float)(s1 / m), bc = (float)(s2 / m);
        for (int64_t ch = c0; ch < c0 + cg; ch++) {
            float w = gamma ? gamma->data[ch] : 1.0f;
            const float *xp = xd + (b * c + ch) * inner, *gp = gy + (b * c + ch) * inner;
            float *gxp = gx + (b * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++)
                gxp[i] += is * (w * gp[i] - a - (xp[i] - mu) * is * bc);
        }
    }
    return HG_OK;
}

hg_tensor *hg_group_norm_impl(hg_ctx *ctx, const char *op, hg_tensor *x, int groups,
                              hg_tensor *gamma, hg_tensor *beta, float eps)
{
    if (!hg_require_ctx(op, ctx) || !hg_require_real(op, x) || !hg_require_rank(op, x, 2, 5))
        return NULL;
    int64_t n = x->shape[0], c = x->shape[1];
    if (groups < 1 || c % groups != 0) {
        hg_error(HG_ERR_INVALID, "%s of %s: %d groups do not divide its %lld channels", op,
                 hg_tensor_label(x), groups, (long long)c);
        return NULL;
    }
    if (hg_check_channel_param(op, "gamma", gamma, c) || hg_check_channel_param(op, "beta", beta, c))
        return NULL;
    if (!(eps > 0.0f)) {
        hg_error(HG_ERR_INVALID, "%s: eps must be > 0, got %g", op, (double)eps);
        return NULL;
    }
    int64_t inner = (n * c) != 0 ? x->numel / (n * c) : 0, cg = c / groups;
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    size_t nk = (size_t)(n * groups);
    float *mean = hg_ctx_alloc(ctx, (nk ? nk : 1) * sizeof *mean);
    float *invstd = hg_ctx_alloc(ctx, (nk ? nk : 1) * sizeof *invstd);
    if (!out || !mean || !invstd)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    double m = (double)(cg * inner);
#pragma omp parallel for schedule(static) if (x->numel > 32768)
    for (int64_t k = 0; k < n * groups; k++) {
        int64_t b = k / groups, c0 = (k % groups) * cg;
        const float *xg = xd + (b * c + c0) * inner; /* the group is contiguous */
        int64_t len = cg * inner;
        double s = 0.0, ss = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < len; i++)
            s += xg[i];
        double mu = len ? s / m : 0.0;
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < len; i++)
            ss += (xg[i] - mu) * (xg[i] - mu);
        float muf = (float)mu, is = (float)(1.0 / sqrt((len ? ss / m : 0.0) + (double)eps));
        mean[k] = muf, invstd[k] = is;
        for (int64_t ch = c0; ch < c0 + cg; ch++) {
            float scale = (gamma ? gamma->data[ch] : 1.0f) * is;
            float shift = (beta ? beta->data[ch] : 0.0f) - muf * scale;
            const float *xp = xd + (b * c + ch) * inner;
            float *yp = y + (b * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++)
                yp[i] = xp[i] * scale + shift;
        }
    }
    hg_tensor *in[3] = {x, gamma, beta};
    hg_node *node = hg_tape_record(ctx, op, group_norm_backward, out, 3, in);
    if (node) {
        group_norm_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        *st = (group_norm_state){n, c, groups, inner, mean, invstd};
        node->state = st;
    }
    return out;
}

hg_tensor *hg_group_norm(hg_ctx *ctx, hg_tensor *x, int groups, hg_tensor *gamma,
                         hg_tensor *beta, float eps)
{
    HG_PROPAGATE_NULL(x);
    return hg_group_norm_impl(ctx, "group_norm", x, groups, gamma, beta, eps);
}
