/* relu_inplace / leaky_relu_inplace: max(x, 0), or x > 0 ? x : slope x, written over x, as
 * PyTorch's ReLU(inplace=True) and LeakyReLU(inplace=True); one op with the slope (0: ReLU).
 *
 * Why: after conv -> norm, the norm's output is read by nobody but the ReLU (a norm's
 * backward reads its input, not its output), so a separate ReLU output only doubles the
 * memory of that stage: the tape would keep both alive until backward. The backward reads the
 * output instead of the input (y > 0 exactly where x > 0 for a slope >= 0; the derivative at
 * 0 is that of hg_relu / hg_leaky_relu, so values and gradients are theirs, bitwise). The
 * caller guarantees that the backward of the op that produced x does not read x, and that x
 * is not read elsewhere afterwards. */
#include "ops/actloss_internal.h"

typedef struct {
    float slope;
} act_state;

static hg_status relu_inplace_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *y = n->out->data, *g = n->out->grad;
    int64_t len = n->out->numel;
    float slope = ((const act_state *)n->state)->slope;
    if (slope != 0.0f)
        hg__leaky_grad_all(y, g, gx, slope, len);
    else
        hg__relu_grad_all(y, g, gx, len);
    return HG_OK;
}

static hg_tensor *activate_inplace(hg_ctx *ctx, hg_tensor *x, float slope, const char *op)
{
    if (!x)
        return NULL;
    if (x->dtype != HG_F32) {
        hg_error(HG_ERR_INVALID, "%s: %s must be real", op, hg_tensor_label(x));
        return NULL;
    }
    if (!(slope >= 0.0f) || !isfinite(slope)) {
        hg_error(HG_ERR_INVALID, "%s of %s: slope must be finite and >= 0 (the backward reads "
                                 "the output's sign), got %g",
                 op, hg_tensor_label(x), (double)slope);
        return NULL;
    }
    bool tracked = x->requires_grad && hg_ctx_grad_enabled(ctx);
    if (tracked && !x->node) {
        hg_error(HG_ERR_INVALID, "%s: %s is a leaf that requires a gradient; "
                                 "overwriting it would change what its users read",
                 op, hg_tensor_label(x));
        return NULL;
    }
    float *d = x->data;
    int64_t len = x->numel;
    if (slope != 0.0f) {
        hg__leaky_all(d, d, slope, len);
    } else {
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
        for (int64_t i = 0; i < len; i++)
            d[i] = d[i] > 0.0f ? d[i] : 0.0f;
    }
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
    if (hg__record(ctx, op, relu_inplace_backward, out, 1, &x, sizeof(act_state), &node) !=
        HG_OK)
        return NULL;
    if (node)
        ((act_state *)node->state)->slope = slope;
    return out;
}

hg_tensor *hg_relu_inplace(hg_ctx *ctx, hg_tensor *x)
{
    return activate_inplace(ctx, x, 0.0f, "relu_inplace");
}

hg_tensor *hg_leaky_relu_inplace(hg_ctx *ctx, hg_tensor *x, float slope)
{
    return activate_inplace(ctx, x, slope, "leaky_relu_inplace");
}
