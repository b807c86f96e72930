/* leaky_relu: x for x > 0, slope * x otherwise (derivative slope at 0, as PyTorch). */
#include "ops/actloss_internal.h"

static hg_status leaky_relu_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    float slope = *(const float *)n->state;
    const float *x = n->in[0]->data, *g = n->out->grad;
    int64_t len = n->out->numel;
    hg__leaky_grad_all(x, g, gx, slope, len);
    return HG_OK;
}

hg_tensor *hg_leaky_relu(hg_ctx *ctx, hg_tensor *x, float slope)
{
    hg_tensor *out = hg__pointwise_out(ctx, "leaky_relu", x);
    if (!out)
        return NULL;
    if (!isfinite(slope)) {
        hg_error(HG_ERR_INVALID, "leaky_relu of %s: slope must be finite, got %g",
                 hg_tensor_label(x), (double)slope);
        return NULL;
    }
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
    hg__leaky_all(xd, y, slope, len);
    hg_node *node;
    if (hg__record(ctx, "leaky_relu", leaky_relu_backward, out, 1, &x, sizeof(float), &node) !=
        HG_OK)
        return NULL;
    if (node)
        *(float *)node->state = slope;
    return out;
}
