/* relu: max(x, 0). The derivative at 0 is taken as 0, as PyTorch does. */
#include "ops/actloss_internal.h"

static hg_status relu_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *x = n->in[0]->data, *g = n->out->grad;
    int64_t len = n->out->numel;
    hg__relu_grad_all(x, g, gx, len);
    return HG_OK;
}

hg_tensor *hg_relu(hg_ctx *ctx, hg_tensor *x)
{
    hg_tensor *out = hg__pointwise_out(ctx, "relu", x);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        y[i] = xd[i] > 0.0f ? xd[i] : 0.0f;
    hg_node *node;
    if (hg__record(ctx, "relu", relu_backward, out, 1, &x, 0, &node) != HG_OK)
        return NULL;
    return out;
}
