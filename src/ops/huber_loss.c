/* huber_loss (PyTorch's HuberLoss): mean of 0.5 d^2 for |d| < delta, delta (|d| - delta/2)
 * otherwise, d = pred - target. The derivative is d clipped to [-delta, delta]. */
#include "ops/actloss_internal.h"

static hg_status huber_backward(hg_ctx *ctx, hg_node *n)
{
    hg_tensor *p = n->in[0], *t = n->in[1];
    float *gp = hg_needs_grad(n, 0) ? hg_grad(ctx, p) : NULL;
    float *gt = hg_needs_grad(n, 1) ? hg_grad(ctx, t) : NULL;
    if ((hg_needs_grad(n, 0) && !gp) || (hg_needs_grad(n, 1) && !gt))
        return hg_error_status();
    float delta = *(const float *)n->state;
    float f = n->out->grad[0] / (float)p->numel;
    const float *pd = p->data, *td = t->data;
#pragma omp parallel for schedule(static) if (p->numel > HG__PAR_MIN)
    for (int64_t i = 0; i < p->numel; i++) {
        float d = fminf(fmaxf(pd[i] - td[i], -delta), delta) * f;
        if (gp)
            gp[i] += d;
        if (gt)
            gt[i] -= d;
    }
    return HG_OK;
}

hg_tensor *hg_huber_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target, float delta)
{
    HG_PROPAGATE_NULL(pred, target);
    if (!hg_require_real("huber_loss", pred) || !hg_require_real("huber_loss", target) ||
        !hg__same_shape("huber_loss", pred, target))
        return NULL;
    if (!(delta > 0.0f) || !isfinite(delta)) {
        hg_error(HG_ERR_INVALID, "huber_loss: delta must be positive and finite, got %g",
                 (double)delta);
        return NULL;
    }
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    const float *pd = pred->data, *td = target->data;
    double acc = 0.0, dl = delta;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (pred->numel > HG__PAR_MIN)
    for (int64_t i = 0; i < pred->numel; i++) {
        double a = fabs((double)pd[i] - td[i]);
        acc += a < dl ? 0.5 * a * a : dl * (a - 0.5 * dl);
    }
    out->data[0] = pred->numel ? (float)(acc / (double)pred->numel) : 0.0f;
    hg_tensor *in[2] = {pred, target};
    hg_node *node;
    if (hg__record(ctx, "huber_loss", huber_backward, out, 2, in, sizeof(float), &node) != HG_OK)
        return NULL;
    if (node)
        *(float *)node->state = delta;
    return out;
}
