/* relu_inplace: max(x, 0) written over x, as PyTorch's ReLU(inplace=True).
 *
 * Why: after conv -> norm, the norm's output is read by nobody but the ReLU (a norm's
 * backward reads its input, not its output), so a separate ReLU output only doubles the
 * memory of that stage: the tape would keep both alive until backward. The backward reads the
 * output instead of the input (y > 0 exactly where x > 0; the derivative at 0 is 0, as in
 * hg_relu). The caller guarantees that the backward of the op that produced x does not read
 * x, and that x is not read elsewhere afterwards. */
#include "ops/actloss_internal.h"

static hg_status relu_inplace_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *y = n->out->data, *g = n->out->grad;
    int64_t len = n->out->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float gi = g[i]; /* loaded unconditionally: a conditional load does not vectorize */
        gx[i] += y[i] > 0.0f ? gi : 0.0f;
    }
    return HG_OK;
}

hg_tensor *hg_relu_inplace(hg_ctx *ctx, hg_tensor *x)
{
    if (!x)
        return NULL;
    if (x->dtype != HG_F32) {
        hg_error(HG_ERR_INVALID, "relu_inplace: %s must be real", hg_tensor_label(x));
        return NULL;
    }
    bool tracked = x->requires_grad && hg_ctx_grad_enabled(ctx);
    if (tracked && !x->node) {
        hg_error(HG_ERR_INVALID, "relu_inplace: %s is a leaf that requires a gradient; "
                                 "overwriting it would change what its users read",
                 hg_tensor_label(x));
        return NULL;
    }
    float *d = x->data;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        d[i] = d[i] > 0.0f ? d[i] : 0.0f;
    if (!tracked)
        return x; /* nothing recorded: x itself is the result */
    /* On the tape the result must be its own tensor (its own gradient), sharing x's data. */
    hg_tensor *out = hg_ctx_calloc(ctx, sizeof *out);
    if (!out)
        return NULL;
    *out = (hg_tensor){.dtype = x->dtype, .ndim = x->ndim, .numel = x->numel, .data = x->data,
                       .ctx = ctx, .name = x->name, .flags = HG_TENSOR_VIEW};
    for (int i = 0; i < x->ndim; i++)
        out->shape[i] = x->shape[i];
    hg_node *node;
    if (hg__record(ctx, "relu_inplace", relu_inplace_backward, out, 1, &x, 0, &node) != HG_OK)
        return NULL;
    return out;
}
