/* hg_conv: N-d cross-correlation (PyTorch's Conv1d/2d/3d) as im2col + sgemm, or direct
 * AVX2/AVX-512 kernels for stride-1 2-D convs (conv_direct.c, chosen in conv_gemm.c).
 * Backward: dx = C^T(dy) (col2im), dw = dy (x) im2col(x), db = sum of dy. */
#include "ops/conv_internal.h"

static hg_status conv_backward(hg_ctx *ctx, hg_node *n)
{
    const hg_conv_plan *p = n->state;
    hg_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *gy = n->out->grad;
    /* Gradient buffers first: the kernels' scratch is released back to the arena after
     * them, which must not take these along. */
    float *gx = hg_needs_grad(n, 0) ? hg_grad(ctx, x) : NULL;
    float *gw = hg_needs_grad(n, 1) ? hg_grad(ctx, w) : NULL;
    float *gb = hg_needs_grad(n, 2) ? hg_grad(ctx, b) : NULL;
    if ((hg_needs_grad(n, 0) && !gx) || (hg_needs_grad(n, 1) && !gw) ||
        (hg_needs_grad(n, 2) && !gb))
        return hg_error_status();
    hg_status st = HG_OK;
    if (gb)
        hg_conv_bias_grad(gy, gb, p->batch, p->cs, p->g.out_vol);
    if (gw)
        st = hg_conv_weight_grad(ctx, p, x->data, gy, gw);
    if (gx && st == HG_OK)
        st = hg_conv_apply_adjoint(ctx, p, gy, w->data, gx);
    return st;
}

hg_tensor *hg_conv(hg_ctx *ctx, hg_tensor *x, hg_tensor *w, hg_tensor *b,
                   const hg_conv_opts *opts)
{
    HG_PROPAGATE_NULL(x, w);
    hg_conv_plan plan;
    int64_t shape[HG_MAX_DIMS];
    if (hg_conv_plan_init("conv", false, x, w, b, opts, &plan, shape) != HG_OK)
        return NULL;
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, shape);
    if (!out)
        return NULL;
    if (b)
        hg_conv_fill_bias(out->data, b->data, plan.batch, plan.cs, plan.g.out_vol);
    if (hg_conv_apply(ctx, &plan, x->data, w->data, out->data, b ? 1.0f : 0.0f) != HG_OK) {
        if (!ctx) /* a heap output is the caller's only once returned */
            hg_tensor_free(out);
        return NULL;
    }
    hg_tensor *in[3] = {x, w, b};
    hg_node *node = hg_tape_record(ctx, "conv", conv_backward, out, 3, in);
    if (node) {
        hg_conv_plan *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        *st = plan;
        node->state = st;
    }
    return out;
}
