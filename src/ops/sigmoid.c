/* sigmoid: 1 / (1 + exp(-x)), evaluated without overflow for either sign of x. */
#include "ops/actloss_internal.h"

static hg_status sigmoid_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *y = n->out->data, *g = n->out->grad;
    int64_t len = n->out->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        gx[i] += g[i] * y[i] * (1.0f - y[i]);
    return HG_OK;
}

hg_tensor *hg_sigmoid(hg_ctx *ctx, hg_tensor *x)
{
    hg_tensor *out = hg__pointwise_out(ctx, "sigmoid", x);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        /* exp of a non-positive argument only: never overflows. */
        float e = expf(-fabsf(xd[i]));
        y[i] = xd[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
    hg_node *node;
    if (hg__record(ctx, "sigmoid", sigmoid_backward, out, 1, &x, 0, &node) != HG_OK)
        return NULL;
    return out;
}
