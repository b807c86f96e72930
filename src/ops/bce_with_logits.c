/* bce_with_logits (PyTorch's BCEWithLogitsLoss, mean reduction), stable for any logit:
 *   l = (1 - t) x + (1 + (pw - 1) t) softplus(-x),  softplus(-x) = log1p(e^-|x|) + max(-x, 0).
 * pos_weight is [1] or [C] with C = dim 1 of the logits (the channel of [N, C, *S]; for
 * [N, C] this is PyTorch's convention, for images it equals PyTorch's pos_weight.view(C,1,1)).
 * Gradients flow to logits, target (soft labels) and pos_weight. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t outer, channels, inner; /* logits as [outer, channels, inner] for pos_weight */
} bce_state;

static inline float softplus_neg(float x) { return log1pf(expf(-fabsf(x))) + fmaxf(-x, 0.0f); }

static inline float sigmoid_neg(float x) /* sigmoid(-x) without overflow */
{
    float e = expf(-fabsf(x));
    return x >= 0.0f ? e / (1.0f + e) : 1.0f / (1.0f + e);
}

static hg_status bce_backward(hg_ctx *ctx, hg_node *nd)
{
    const bce_state *v = nd->state;
    hg_tensor *x = nd->in[0], *t = nd->in[1], *pw = nd->in[2];
    float *gx = hg_needs_grad(nd, 0) ? hg_grad(ctx, x) : NULL;
    float *gt = hg_needs_grad(nd, 1) ? hg_grad(ctx, t) : NULL;
    float *gw = hg_needs_grad(nd, 2) ? hg_grad(ctx, pw) : NULL;
    if ((hg_needs_grad(nd, 0) && !gx) || (hg_needs_grad(nd, 1) && !gt) ||
        (hg_needs_grad(nd, 2) && !gw))
        return hg_error_status();
    float f = nd->out->grad[0] / (float)x->numel;
    const float *xd = x->data, *td = t->data;
    /* Channels in turn, the elements of a channel in parallel: the pos_weight gradient of a
     * channel is a reduction (in double); without pos_weight there is one channel. */
    for (int64_t c = 0; c < v->channels; c++) {
        float p = pw ? pw->data[c] : 1.0f;
        double acc = 0.0;
        int64_t len = v->outer * v->inner;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (len > HG__PAR_MIN)
        for (int64_t e = 0; e < len; e++) {
            int64_t i = ((e / v->inner) * v->channels + c) * v->inner + e % v->inner;
            float lw = 1.0f + (p - 1.0f) * td[i];
            if (gx)
                gx[i] += f * ((1.0f - td[i]) - lw * sigmoid_neg(xd[i]));
            if (gt || gw) {
                float sp = softplus_neg(xd[i]);
                if (gt)
                    gt[i] += f * (-xd[i] + (p - 1.0f) * sp);
                acc += (double)td[i] * sp;
            }
        }
        if (gw)
            gw[c] += f * (float)acc; /* channels == pos_weight->numel */
    }
    return HG_OK;
}

hg_tensor *hg_bce_with_logits(hg_ctx *ctx, hg_tensor *logits, hg_tensor *target,
                              hg_tensor *pos_weight)
{
    const char *op = "bce_with_logits";
    HG_PROPAGATE_NULL(logits, target);
    if (!hg_require_real(op, logits) || !hg_require_real(op, target) ||
        !hg__same_shape(op, logits, target))
        return NULL;
    bce_state v = {1, 1, logits->numel};
    if (pos_weight) {
        int64_t channels = logits->ndim >= 2 ? logits->shape[1] : 1;
        if (!hg_require_real(op, pos_weight) || pos_weight->ndim != 1 ||
            (pos_weight->numel != 1 && pos_weight->numel != channels)) {
            char s[96], sx[96];
            hg_error(HG_ERR_INVALID,
                     "%s: pos_weight %s shape: expected [1] or [%lld] (dim 1 of %s %s), got %s",
                     op, hg_tensor_label(pos_weight), (long long)channels,
                     hg_tensor_label(logits), hg_shape_str(logits, sx, sizeof sx),
                     hg_shape_str(pos_weight, s, sizeof s));
            return NULL;
        }
        if (pos_weight->numel > 1)
            hg__split_dim(logits, 1, &v.outer, &v.channels, &v.inner);
    }
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    const float *xd = logits->data, *td = target->data;
    double acc = 0.0;
#pragma omp parallel for collapse(2) reduction(+ : acc) schedule(static) \
    if (logits->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t c = 0; c < v.channels; c++) {
            double p = pos_weight ? pos_weight->data[c] : 1.0;
            int64_t base = (o * v.channels + c) * v.inner;
            for (int64_t i = base; i < base + v.inner; i++) {
                double x = xd[i], t = td[i];
                double sp = log1p(exp(-fabs(x))) + fmax(-x, 0.0);
                acc += (1.0 - t) * x + (1.0 + (p - 1.0) * t) * sp;
            }
        }
    out->data[0] = logits->numel ? (float)(acc / (double)logits->numel) : 0.0f;
    hg_tensor *in[3] = {logits, target, pos_weight};
    hg_node *node;
    if (hg__record(ctx, op, bce_backward, out, 3, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(bce_state *)node->state = v;
    return out;
}
