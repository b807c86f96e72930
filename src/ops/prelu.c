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

static hg_status prelu_backward(hg_ctx *ctx, hg_node *n)
{
    const prelu_state *v = n->state;
    hg_tensor *x = n->in[0], *w = n->in[1];
    float *gx = hg_needs_grad(n, 0) ? hg_grad(ctx, x) : NULL;
    float *gw = hg_needs_grad(n, 1) ? hg_grad(ctx, w) : NULL;
    if ((hg_needs_grad(n, 0) && !gx) || (hg_needs_grad(n, 1) && !gw))
        return hg_error_status();
    const float *xd = x->data, *wd = w->data, *g = n->out->grad;
    /* Channels in turn, the elements of a channel in parallel: the weight gradient of a
     * channel is a reduction (in double), and a shared weight is one channel. */
    for (int64_t c = 0; c < v->channels; c++) {
        double acc = 0.0;
        float a = wd[c];
        int64_t len = v->outer * v->inner;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (len > HG__PAR_MIN)
        for (int64_t e = 0; e < len; e++) {
            int64_t i = ((e / v->inner) * v->channels + c) * v->inner + e % v->inner;
            bool neg = !(xd[i] > 0.0f);
            if (gx)
                gx[i] += neg ? a * g[i] : g[i];
            if (neg)
                acc += (double)g[i] * xd[i];
        }
        if (gw)
            gw[c] += (float)acc;
    }
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
            float a = wd[c];
            for (int64_t i = base; i < base + v.inner; i++)
                y[i] = xd[i] > 0.0f ? xd[i] : a * xd[i];
        }
    hg_tensor *in[2] = {x, weight};
    hg_node *node;
    if (hg__record(ctx, "prelu", prelu_backward, out, 2, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(prelu_state *)node->state = v;
    return out;
}
