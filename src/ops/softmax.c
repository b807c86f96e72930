/* softmax along any dim, stable (the maximum is subtracted before exp). x is viewed as
 * [outer, n, inner] around dim; each (outer, inner) pair is one independent row of n
 * elements at stride `inner`. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t outer, n, inner;
} softmax_state;

/* y = softmax(x) (log_softmax when log) for one row. Shared with log_softmax.c and the
 * losses through actloss_internal.h's declaration. */
void hg__softmax_row(const float *x, float *y, int64_t n, int64_t stride, bool want_log)
{
    float m = -INFINITY;
    for (int64_t k = 0; k < n; k++)
        m = fmaxf(m, x[k * stride]);
    if (m == -INFINITY)
        m = 0.0f; /* a row of -inf: keep exp(x - m) defined */
    double s = 0.0;
    if (want_log) {
        for (int64_t k = 0; k < n; k++)
            s += expf(x[k * stride] - m);
        float lse = (float)log(s);
        for (int64_t k = 0; k < n; k++)
            y[k * stride] = x[k * stride] - m - lse;
    } else {
        /* One exp per element: y holds the exponentials until they are normalized. */
        for (int64_t k = 0; k < n; k++) {
            float e = expf(x[k * stride] - m);
            y[k * stride] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int64_t k = 0; k < n; k++)
            y[k * stride] *= inv;
    }
}

static hg_status softmax_backward(hg_ctx *ctx, hg_node *n)
{
    const softmax_state *v = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *y = n->out->data, *g = n->out->grad;
    /* dx = y * (g - <g, y>) per row. */
#pragma omp parallel for collapse(2) schedule(static) if (n->out->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t i = 0; i < v->inner; i++) {
            int64_t base = o * v->n * v->inner + i;
            double dot = 0.0;
            for (int64_t k = 0; k < v->n; k++)
                dot += (double)g[base + k * v->inner] * y[base + k * v->inner];
            for (int64_t k = 0; k < v->n; k++) {
                int64_t j = base + k * v->inner;
                gx[j] += y[j] * (g[j] - (float)dot);
            }
        }
    return HG_OK;
}

hg_tensor *hg_softmax(hg_ctx *ctx, hg_tensor *x, int dim)
{
    hg_tensor *out = hg__pointwise_out(ctx, "softmax", x);
    if (!out || !hg__norm_dim("softmax", x, &dim))
        return NULL;
    softmax_state v;
    hg__split_dim(x, dim, &v.outer, &v.n, &v.inner);
    const float *xd = x->data;
    float *y = out->data;
#pragma omp parallel for collapse(2) schedule(static) if (x->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++) {
            int64_t base = o * v.n * v.inner + i;
            hg__softmax_row(xd + base, y + base, v.n, v.inner, false);
        }
    hg_node *node;
    if (hg__record(ctx, "softmax", softmax_backward, out, 1, &x, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(softmax_state *)node->state = v;
    return out;
}
