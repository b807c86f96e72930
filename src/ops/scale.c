/* scale: s * x for a real scalar s; real or complex x (both floats of a complex element are
 * scaled, so the backward pass is the same loop). */
#include "ops/actloss_internal.h"

static hg_status scale_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    float s = *(const float *)n->state;
    const float *g = n->out->grad;
    int64_t nf = hg_tensor_nfloats(n->out);
#pragma omp parallel for schedule(static) if (nf > HG__PAR_MIN)
    for (int64_t i = 0; i < nf; i++)
        gx[i] += s * g[i];
    return HG_OK;
}

hg_tensor *hg_scale(hg_ctx *ctx, hg_tensor *x, float s)
{
    HG_PROPAGATE_NULL(x);
    if (!isfinite(s)) {
        hg_error(HG_ERR_INVALID, "scale of %s: factor must be finite, got %g", hg_tensor_label(x),
                 (double)s);
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, x->dtype, x->ndim, x->shape);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t nf = hg_tensor_nfloats(x);
#pragma omp parallel for schedule(static) if (nf > HG__PAR_MIN)
    for (int64_t i = 0; i < nf; i++)
        y[i] = s * xd[i];
    hg_node *node;
    if (hg__record(ctx, "scale", scale_backward, out, 1, &x, sizeof(float), &node) != HG_OK)
        return NULL;
    if (node)
        *(float *)node->state = s;
    return out;
}
