/* mse_loss: mean((pred - target)^2) -> [1], summed in double. Both inputs get gradients. */
#include "ops/actloss_internal.h"

static hg_status mse_backward(hg_ctx *ctx, hg_node *n)
{
    hg_tensor *p = n->in[0], *t = n->in[1];
    float *gp = hg_needs_grad(n, 0) ? hg_grad(ctx, p) : NULL;
    float *gt = hg_needs_grad(n, 1) ? hg_grad(ctx, t) : NULL;
    if ((hg_needs_grad(n, 0) && !gp) || (hg_needs_grad(n, 1) && !gt))
        return hg_error_status();
    float f = n->out->grad[0] * 2.0f / (float)p->numel;
    const float *pd = p->data, *td = t->data;
#pragma omp parallel for schedule(static) if (p->numel > HG__PAR_MIN)
    for (int64_t i = 0; i < p->numel; i++) {
        float d = f * (pd[i] - td[i]);
        if (gp)
            gp[i] += d;
        if (gt)
            gt[i] -= d;
    }
    return HG_OK;
}

hg_tensor *hg_mse_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target)
{
    HG_PROPAGATE_NULL(pred, target);
    if (!hg_require_real("mse_loss", pred) || !hg_require_real("mse_loss", target) ||
        !hg__same_shape("mse_loss", pred, target))
        return NULL;
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    const float *pd = pred->data, *td = target->data;
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (pred->numel > HG__PAR_MIN)
    for (int64_t i = 0; i < pred->numel; i++) {
        double d = (double)pd[i] - td[i];
        acc += d * d;
    }
    out->data[0] = pred->numel ? (float)(acc / (double)pred->numel) : 0.0f;
    hg_tensor *in[2] = {pred, target};
    hg_node *node;
    if (hg__record(ctx, "mse_loss", mse_backward, out, 2, in, 0, &node) != HG_OK)
        return NULL;
    return out;
}
