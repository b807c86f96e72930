/* tanh, with the derivative 1 - y^2 taken from the saved output. */
#include "ops/actloss_internal.h"

static hg_status tanh_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *y = n->out->data, *g = n->out->grad;
    int64_t len = n->out->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        gx[i] += g[i] * (1.0f - y[i] * y[i]);
    return HG_OK;
}

hg_tensor *hg_tanh(hg_ctx *ctx, hg_tensor *x)
{
    hg_tensor *out = hg__pointwise_out(ctx, "tanh", x);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        y[i] = tanhf(xd[i]);
    hg_node *node;
    if (hg__record(ctx, "tanh", tanh_backward, out, 1, &x, 0, &node) != HG_OK)
        return NULL;
    return out;
}
