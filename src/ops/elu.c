/* elu: x for x > 0, alpha * (exp(x) - 1) otherwise. expm1 keeps small negative x accurate. */
#include "ops/actloss_internal.h"

static hg_status elu_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    float alpha = *(const float *)n->state;
    const float *x = n->in[0]->data, *y = n->out->data, *g = n->out->grad;
    int64_t len = n->out->numel;
    /* For x <= 0, d/dx alpha*(e^x - 1) = alpha*e^x = y + alpha: no second exp needed. */
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        gx[i] += x[i] > 0.0f ? g[i] : g[i] * (y[i] + alpha);
    return HG_OK;
}

hg_tensor *hg_elu(hg_ctx *ctx, hg_tensor *x, float alpha)
{
    hg_tensor *out = hg__pointwise_out(ctx, "elu", x);
    if (!out)
        return NULL;
    if (!isfinite(alpha)) {
        hg_error(HG_ERR_INVALID, "elu of %s: alpha must be finite, got %g", hg_tensor_label(x),
                 (double)alpha);
        return NULL;
    }
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        y[i] = xd[i] > 0.0f ? xd[i] : alpha * expm1f(xd[i]);
    hg_node *node;
    if (hg__record(ctx, "elu", elu_backward, out, 1, &x, sizeof(float), &node) != HG_OK)
        return NULL;
    if (node)
        *(float *)node->state = alpha;
    return out;
}
