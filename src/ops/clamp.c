/* clamp: min(max(x, lo), hi) (ONNX Clip, PyTorch clamp; ReLU6 is clamp(x, 0, 6)). The
 * gradient passes where lo <= x <= hi, as PyTorch's clamp does at the boundaries. */
#include "ops/op_util.h"

typedef struct {
    float lo, hi;
} clamp_state;

static hg_status clamp_backward(hg_ctx *ctx, hg_node *n)
{
    const clamp_state *st = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *x = n->in[0]->data, *g = n->out->grad;
    float lo = st->lo, hi = st->hi;
    int64_t len = n->out->numel;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (int64_t i = 0; i < len; i++)
        gx[i] += x[i] >= lo && x[i] <= hi ? g[i] : 0.0f;
    return HG_OK;
}

hg_tensor *hg_clamp(hg_ctx *ctx, hg_tensor *x, float lo, float hi)
{
    HG_PROPAGATE_NULL(x);
    if (!hg_require_real("clamp", x))
        return NULL;
    if (!(lo <= hi)) {
        hg_error(HG_ERR_INVALID, "clamp: %s: expected lo <= hi, got lo %g, hi %g",
                 hg_tensor_label(x), (double)lo, (double)hi);
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t len = x->numel;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (int64_t i = 0; i < len; i++) {
        float v = xd[i] < lo ? lo : xd[i];
        y[i] = v > hi ? hi : v;
    }
    hg_node *node = hg_tape_record(ctx, "clamp", clamp_backward, out, 1, &x);
    if (node) {
        clamp_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        st->lo = lo, st->hi = hi;
        node->state = st;
    }
    return out;
}
