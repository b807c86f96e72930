/* l1_loss: mean|pred - target| -> [1]; the derivative sign(d) is 0 at d = 0 (PyTorch). */
#include "ops/actloss_internal.h"

static hg_status l1_backward(hg_ctx *ctx, hg_node *n)
{
    hg_tensor *p = n->in[0], *t = n->in[1];
    float *gp = hg_needs_grad(n, 0) ? hg_grad(ctx, p) : NULL;
    float *gt = hg_needs_grad(n, 1) ? hg_grad(ctx, t) : NULL;
    if ((hg_needs_grad(n, 0) && !gp) || (hg_needs_grad(n, 1) && !gt))
        return hg_error_status();
    float f = n->out->grad[0] / (float)p->numel;
    const float *pd = p->data, *td = t->data;
#pragma omp parallel for schedule(static) if (p->numel > HG__PAR_MIN)
    for (int64_t i = 0; i < p->numel; i++) {
        float d = pd[i] - td[i];
        float s = d > 0.0f ? f : (d < 0.0f ? -f : 0.0f);
        if (gp)
            gp[i] += s;
        if (gt)
            gt[i] -= s;
    }
    return HG_OK;
}

hg_tensor *hg_l1_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target)
{
    HG_PROPAGATE_NULL(pred, target);
    if (!hg_require_real("l1_loss", pred) || !hg_require_real("l1_loss", target) ||
        !hg__same_shape("l1_loss", pred, target))
        return NULL;
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    const float *pd = pred->data, *td = target->data;
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (pred->numel > HG__PAR_MIN)
    for (int64_t i = 0; i < pred->numel; i++)
        acc += fabs((double)pd[i] - td[i]);
    out->data[0] = pred->numel ? (float)(acc / (double)pred->numel) : 0.0f;
    hg_tensor *in[2] = {pred, target};
    hg_node *node;
    if (hg__record(ctx, "l1_loss", l1_backward, out, 2, in, 0, &node) != HG_OK)
        return NULL;
    return out;
}
