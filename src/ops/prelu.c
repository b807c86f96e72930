/* prelu: x for x > 0, a * x otherwise, with a learned slope a: one shared ([1]) or one per
 * channel ([C], channel = dim 1, as PyTorch; a 1-D input has no channel dim). */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t outer, channels, inner; /* x viewed as [outer, channels, inner] */
} prelu_state;

static void prelu_view(const hg_tensor *x, int64_t nw, prelu_state *v)
{
    if (nw == 1) {
        v->outer = 1, v->channels = 1, v->inner = x->numel;
        return;
    }
    hg__split_dim(x, 1, &v->outer, &v->channels, &v->inner);
}

/* Elements per backward work unit: a unit's slope-gradient partial sum is one fixed block,
 * so the sum does not depend on the thread count. */
#define PRELU_BLOCK 16384

/* gx += dy * (x > 0 ? 1 : a) over n elements; returns sum of dy * x where x <= 0. Eight float
 * lanes (vectorizable without reassociation) over short runs, accumulated in double. As in the
 * forward, the selects vectorize only without -ftrapping-math (same values either way). */
__attribute__((optimize("no-trapping-math"))) static double
prelu_block_backward(const float *x, const float *g, float *gx, float a, int64_t n)
{
    double total = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += 512) {
        int64_t len = n - i0 < 512 ? n - i0 : 512, i = 0;
        const float *xs = x + i0, *gs = g + i0;
        float *gxs = gx ? gx + i0 : NULL;
        float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        /* Selects rather than branches, so that the loops vectorize: x * g where x <= 0
         * (x > 0 ? 0 : x), and g times 1 or a (exact either way). */
        for (; i + 8 <= len; i += 8)
            for (int l = 0; l < 8; l++) {
                float xv = xs[i + l];
                lane[l] += gs[i + l] * (xv > 0.0f ? 0.0f : xv);
            }
        for (; i < len; i++)
            lane[0] += gs[i] * (xs[i] > 0.0f ? 0.0f : xs[i]);
        if (gxs)
            hg__leaky_grad_run(xs, gs, gxs, a, len); /* the same values as g * (1 or a) */
        for (int l = 0; l < 8; l++)
            total += lane[l];
    }
    return total;
}

static hg_status prelu_backward(hg_ctx *ctx, hg_node *n)
{
    const prelu_state *v = n->state;
    hg_tensor *x = n->in[0], *w = n->in[1];
    float *gx = hg_needs_grad(n, 0) ? hg_grad(ctx, x) : NULL;
    float *gw = hg_needs_grad(n, 1) ? hg_grad(ctx, w) : NULL;
    if ((hg_needs_grad(n, 0) && !gx) || (hg_needs_grad(n, 1) && !gw))
        return hg_error_status();
    const float *xd = x->data, *wd = w->data, *g = n->out->grad;
    /* Units (o, c, block of the inner run) in parallel, each with its own partial sum of the
     * slope gradient; the partials of a channel are then added in unit order. */
    const int64_t blocks = (v->inner + PRELU_BLOCK - 1) / PRELU_BLOCK;
    const int64_t units = v->outer * v->channels * blocks;
    hg_ctx_mark mark = hg_ctx_mark_get(ctx);
    double *part = hg_ctx_alloc(ctx, (size_t)units * sizeof(double));
    if (!part)
        return hg_error_context(hg_error_status(), "prelu: backward partial sums");
#pragma omp parallel for schedule(static) if (x->numel > HG__PAR_MIN && units > 1)
    for (int64_t u = 0; u < units; u++) {
        int64_t oc = u / blocks, b = u % blocks, c = oc % v->channels;
        int64_t i0 = oc * v->inner + b * PRELU_BLOCK;
        int64_t len = v->inner - b * PRELU_BLOCK < PRELU_BLOCK ? v->inner - b * PRELU_BLOCK
                                                                : PRELU_BLOCK;
        part[u] = prelu_block_backward(xd + i0, g + i0, gx ? gx + i0 : NULL, wd[c], len);
    }
    if (gw)
        for (int64_t c = 0; c < v->channels; c++) {
            double acc = 0.0;
            for (int64_t o = 0; o < v->outer; o++)
                for (int64_t b = 0; b < blocks; b++)
                    acc += part[(o * v->channels + c) * blocks + b];
            gw[c] += (float)acc;
        }
    hg_ctx_release(ctx, mark);
    return HG_OK;
}

hg_tensor *hg_prelu(hg_ctx *ctx, hg_tensor *x, hg_tensor *weight)
{
    HG_PROPAGATE_NULL(x, weight);
    if (!hg_require_real("prelu", x) || !hg_require_real("prelu", weight))
        return NULL;
    int64_t channels = x->ndim >= 2 ? x->shape[1] : 1;
    if (weight->ndim != 1 || (weight->numel != 1 && weight->numel != channels)) {
        char s[96], sx[96];
        hg_error(HG_ERR_INVALID,
                 "prelu: weight %s shape: expected [1] or [%lld] (channels of %s %s), got %s",
                 hg_tensor_label(weight), (long long)channels, hg_tensor_label(x),
                 hg_shape_str(x, sx, sizeof sx), hg_shape_str(weight, s, sizeof s));
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    if (!out)
        return NULL;
    prelu_state v;
    prelu_view(x, weight->numel, &v);
    const float *xd = x->data, *wd = weight->data;
    float *y = out->data;
#pragma omp parallel for collapse(2) schedule(static) if (x->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t c = 0; c < v.channels; c++) {
            int64_t base = (o * v.channels + c) * v.inner;
            hg__leaky_run(xd + base, y + base, wd[c], v.inner);
        }
    hg_tensor *in[2] = {x, weight};
    hg_node *node;
    if (hg__record(ctx, "prelu", prelu_backward, out, 2, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(prelu_state *)node->state = v;
    return out;
}
