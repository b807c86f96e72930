/* sum and mean of all elements -> [1]. */
#include "ops/op_util.h"

static hg_status sum_backward(hg_ctx *ctx, hg_node *n)
{
    hg_tensor *x = n->in[0];
    float *gx = hg_grad(ctx, x);
    if (!gx)
        return hg_error_status();
    float g = n->out->grad[0] * *(const float *)n->state;
    int64_t nf = x->numel;
#pragma omp parallel for schedule(static) if (nf > 65536)
    for (int64_t i = 0; i < nf; i++)
        gx[i] += g;
    return HG_OK;
}

static hg_tensor *reduce_all(hg_ctx *ctx, hg_tensor *x, bool mean, const char *op)
{
    HG_PROPAGATE_NULL(x);
    if (!hg_require_real(op, x))
        return NULL;
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    double acc = 0.0;
    const float *d = x->data;
    int64_t nf = x->numel;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (nf > 65536)
    for (int64_t i = 0; i < nf; i++)
        acc += d[i];
    float factor = mean && nf > 0 ? 1.0f / (float)nf : 1.0f;
    out->data[0] = (float)(acc * factor);
    hg_node *node = hg_tape_record(ctx, op, sum_backward, out, 1, &x);
    if (node) {
        float *f = hg_node_state(ctx, node, sizeof *f);
        if (!f)
            return NULL;
        *f = factor;
        node->state = f;
    }
    return out;
}

hg_tensor *hg_sum(hg_ctx *ctx, hg_tensor *x) { return reduce_all(ctx, x, false, "sum"); }
hg_tensor *hg_mean(hg_ctx *ctx, hg_tensor *x) { return reduce_all(ctx, x, true, "mean"); }
