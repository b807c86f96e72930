/* cross_entropy: logits [N, C, *S] (or [N, C]), target [N, *S] of class indices stored as
 * floats, optional class weights [C], ignore_index. PyTorch's weighted mean:
 *   loss = sum_i w[t_i] (lse_i - x_i[t_i]) / sum_i w[t_i]   over elements with t_i != ignore.
 * When every element is ignored (or the weights sum to 0) the loss is 0 with a zero gradient
 * where PyTorch returns NaN: a batch without labelled pixels then leaves training unchanged.
 * The backward pass recomputes the softmax from the logits instead of saving it. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t n, c, s;  /* batch, classes, spatial elements */
    int32_t ignore;
    double wsum;      /* sum of the weights of the counted elements */
} ce_state;

hg_status hg__check_labels(const char *op, const hg_tensor *target, int64_t classes,
                           bool has_ignore, int32_t ignore_index)
{
    const float *t = target->data;
    for (int64_t i = 0; i < target->numel; i++) {
        float v = t[i];
        if (has_ignore && v == (float)ignore_index)
            continue;
        if (!(v >= 0.0f && v < (float)classes && v == floorf(v))) {
            if (has_ignore)
                return hg_error(HG_ERR_INVALID,
                                "%s: target %s value %g at index %lld is not a class index in "
                                "[0, %lld) (%lld classes) nor ignore_index %d",
                                op, hg_tensor_label(target), (double)v, (long long)i,
                                (long long)classes, (long long)classes, ignore_index);
            return hg_error(HG_ERR_INVALID,
                            "%s: target %s value %g at index %lld is not a class index in "
                            "[0, %lld) (%lld classes)",
                            op, hg_tensor_label(target), (double)v, (long long)i,
                            (long long)classes, (long long)classes);
        }
    }
    return HG_OK;
}

hg_status hg__check_class_target(const char *op, const hg_tensor *logits,
                                 const hg_tensor *target)
{
    bool ok = target->ndim == logits->ndim - 1 && target->shape[0] == logits->shape[0];
    for (int d = 1; ok && d < target->ndim; d++)
        ok = target->shape[d] == logits->shape[d + 1];
    if (ok && hg_require_real(op, target))
        return HG_OK;
    if (!ok) {
        char sl[96], st[96];
        return hg_error(HG_ERR_INVALID,
                        "%s: target %s shape %s does not match logits %s %s: expected [N, *S] "
                        "for logits [N, C, *S]",
                        op, hg_tensor_label(target), hg_shape_str(target, st, sizeof st),
                        hg_tensor_label(logits), hg_shape_str(logits, sl, sizeof sl));
    }
    return HG_ERR_INVALID;
}

static inline float class_weight(const hg_tensor *w, int64_t c)
{
    return w ? w->data[c] : 1.0f;
}

static hg_status ce_backward(hg_ctx *ctx, hg_node *nd)
{
    const ce_state *v = nd->state;
    hg_tensor *x = nd->in[0], *t = nd->in[1], *w = nd->in[2];
    if (!hg_needs_grad(nd, 0) || v->wsum == 0.0)
        return HG_OK; /* target and weights are not differentiable inputs */
    float *gx = hg_grad(ctx, x);
    if (!gx)
        return hg_error_status();
    float f = (float)(nd->out->grad[0] / v->wsum);
    const float *xd = x->data, *td = t->data;
#pragma omp parallel for collapse(2) schedule(static) if (x->numel > HG__PAR_MIN)
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t s = 0; s < v->s; s++) {
            float tv = td[b * v->s + s];
            if (tv == (float)v->ignore)
                continue;
            int64_t cls = (int64_t)tv, base = b * v->c * v->s + s;
            float m = -INFINITY;
            for (int64_t c = 0; c < v->c; c++)
                m = fmaxf(m, xd[base + c * v->s]);
            double z = 0.0;
            for (int64_t c = 0; c < v->c; c++)
                z += exp((double)(xd[base + c * v->s] - m));
            float scale = f * class_weight(w, cls), inv = (float)(1.0 / z);
            for (int64_t c = 0; c < v->c; c++) {
                float p = expf(xd[base + c * v->s] - m) * inv;
                gx[base + c * v->s] += scale * (p - (c == cls ? 1.0f : 0.0f));
            }
        }
    return HG_OK;
}

hg_tensor *hg_cross_entropy(hg_ctx *ctx, hg_tensor *logits, hg_tensor *target,
                            hg_tensor *class_weights, int32_t ignore_index)
{
    const char *op = "cross_entropy";
    HG_PROPAGATE_NULL(logits, target);
    if (!hg_require_real(op, logits) || !hg_require_rank(op, logits, 2, HG_MAX_DIMS) ||
        hg__check_class_target(op, logits, target) != HG_OK)
        return NULL;
    ce_state v = {.n = logits->shape[0], .c = logits->shape[1], .ignore = ignore_index};
    v.s = 1;
    for (int d = 2; d < logits->ndim; d++)
        v.s *= logits->shape[d];
    if (class_weights && (!hg_require_real(op, class_weights) ||
                          hg_check_shape(class_weights, 1, (const int64_t[]){v.c}) != HG_OK)) {
        hg_error_context(HG_ERR_INVALID, "%s: class weights", op);
        return NULL;
    }
    if (hg__check_labels(op, target, v.c, true, ignore_index) != HG_OK)
        return NULL;
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    const float *xd = logits->data, *td = target->data;
    double acc = 0.0, wsum = 0.0;
#pragma omp parallel for collapse(2) reduction(+ : acc, wsum) schedule(static) \
    if (logits->numel > HG__PAR_MIN)
    for (int64_t b = 0; b < v.n; b++)
        for (int64_t s = 0; s < v.s; s++) {
            float tv = td[b * v.s + s];
            if (tv == (float)ignore_index)
                continue;
            int64_t cls = (int64_t)tv, base = b * v.c * v.s + s;
            float m = -INFINITY;
            for (int64_t c = 0; c < v.c; c++)
                m = fmaxf(m, xd[base + c * v.s]);
            double z = 0.0;
            for (int64_t c = 0; c < v.c; c++)
                z += exp((double)(xd[base + c * v.s] - m));
            double wc = class_weight(class_weights, cls);
            acc += wc * ((double)m + log(z) - xd[base + cls * v.s]);
            wsum += wc;
        }
    v.wsum = wsum;
    out->data[0] = wsum != 0.0 ? (float)(acc / wsum) : 0.0f;
    hg_tensor *in[3] = {logits, target, class_weights};
    hg_node *node;
    if (hg__record(ctx, op, ce_backward, out, 3, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(ce_state *)node->state = v;
    return out;
}
