/* abs: |x| for real x (derivative sign(x), 0 at 0 as PyTorch); the modulus sqrt(re^2 + im^2)
 * for complex x, giving a real tensor (derivative (re, im) / |z|, taken as 0 at z = 0). */
#include "ops/actloss_internal.h"

static hg_status abs_backward(hg_ctx *ctx, hg_node *n)
{
    hg_tensor *x = n->in[0];
    float *gx = hg_grad(ctx, x);
    if (!gx)
        return hg_error_status();
    const float *xd = x->data, *y = n->out->data, *g = n->out->grad;
    int64_t len = x->numel;
    if (x->dtype == HG_C64) {
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
        for (int64_t i = 0; i < len; i++) {
            float f = y[i] > 0.0f ? g[i] / y[i] : 0.0f;
            gx[2 * i] += f * xd[2 * i];
            gx[2 * i + 1] += f * xd[2 * i + 1];
        }
    } else {
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            gx[i] += xd[i] > 0.0f ? g[i] : (xd[i] < 0.0f ? -g[i] : 0.0f);
    }
    return HG_OK;
}

hg_tensor *hg_abs(hg_ctx *ctx, hg_tensor *x)
{
    HG_PROPAGATE_NULL(x);
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
    if (x->dtype == HG_C64) {
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            y[i] = hypotf(xd[2 * i], xd[2 * i + 1]); /* no overflow of the squares */
    } else {
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            y[i] = fabsf(xd[i]);
    }
    hg_node *node;
    if (hg__record(ctx, "abs", abs_backward, out, 1, &x, 0, &node) != HG_OK)
        return NULL;
    return out;
}
