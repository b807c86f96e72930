/* log_softmax along any dim: x - max - log(sum exp(x - max)), stable for any range. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t outer, n, inner;
} log_softmax_state;

static hg_status log_softmax_backward(hg_ctx *ctx, hg_node *n)
{
    const log_softmax_state *v = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *y = n->out->data, *g = n->out->grad;
    /* dx = g - softmax * sum(g) per row; softmax = exp(y). */
#pragma omp parallel for collapse(2) schedule(static) if (n->out->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t i = 0; i < v->inner; i++) {
            int64_t base = o * v->n * v->inner + i;
            double s = 0.0;
            for (int64_t k = 0; k < v->n; k++)
                s += g[base + k * v->inner];
            for (int64_t k = 0; k < v->n; k++) {
                int64_t j = base + k * v->inner;
                gx[j] += g[j] - expf(y[j]) * (float)s;
            }
        }
    return HG_OK;
}

hg_tensor *hg_log_softmax(hg_ctx *ctx, hg_tensor *x, int dim)
{
    hg_tensor *out = hg__pointwise_out(ctx, "log_softmax", x);
    if (!out || !hg__norm_dim("log_softmax", x, &dim))
        return NULL;
    log_softmax_state v;
    hg__split_dim(x, dim, &v.outer, &v.n, &v.inner);
    const float *xd = x->data;
    float *y = out->data;
#pragma omp parallel for collapse(2) schedule(static) if (x->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t base = o * v.n * v.inner + i;
            hg__softmax_row(xd + base, y + base, v.n, v.inner, true);
        }
    hg_node *node;
    if (hg__record(ctx, "log_softmax", log_softmax_backward, out, 1, &x, sizeof v, &node) !=
        HG_OK)
        return NULL;
    if (node)
        *(log_softmax_state *)node->state = v;
    return out;
}
