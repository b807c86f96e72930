/* pow_scalar: x^p for a constant exponent p (ONNX Pow with a scalar exponent, x**2 in
 * PyTorch). Integer exponents keep negative bases well defined (powf handles them); the
 * derivative p x^(p-1) is taken as 0 where it is 0^(negative) (undefined) so no Inf flows. */
#include "ops/op_util.h"

#include <math.h>

typedef struct {
    float p;
} pow_state;

static hg_status pow_backward(hg_ctx *ctx, hg_node *n)
{
    const pow_state *st = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *x = n->in[0]->data, *g = n->out->grad;
    float p = st->p;
    int64_t len = n->out->numel;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (int64_t i = 0; i < len; i++) {
        float d = p == 0.0f ? 0.0f : p == 1.0f ? 1.0f : p == 2.0f ? 2.0f * x[i]
                                                    : p * powf(x[i], p - 1.0f);
        gx[i] += isfinite(d) ? g[i] * d : 0.0f;
    }
    return HG_OK;
}

hg_tensor *hg_pow_scalar(hg_ctx *ctx, hg_tensor *x, float p)
{
    HG_PROPAGATE_NULL(x);
    if (!hg_require_real("pow_scalar", x))
        return NULL;
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
    if (p == 2.0f) { /* the common case (x**2) exactly as x*x */
#pragma omp parallel for schedule(static) if (len > 65536)
        for (int64_t i = 0; i < len; i++)
            y[i] = xd[i] * xd[i];
    } else {
#pragma omp parallel for schedule(static) if (len > 65536)
        for (int64_t i = 0; i < len; i++)
            y[i] = powf(xd[i], p);
    }
    hg_node *node = hg_tape_record(ctx, "pow_scalar", pow_backward, out, 1, &x);
    if (node) {
        pow_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        st->p = p;
        node->state = st;
    }
    return out;
}
