/* sum_dim and mean_dim: reduction along one dim (keepdim keeps it with size 1). Real or
 * complex (re and im reduced alike). x is viewed as [outer, n, inner]; sums run in double. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t outer, n, inner, ef; /* ef: floats per element */
    float factor;                /* 1 for sum, 1/n for mean */
} reduce_state;

static hg_status reduce_dim_backward(hg_ctx *ctx, hg_node *n)
{
    const reduce_state *v = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *g = n->out->grad;
    int64_t row = v->inner * v->ef; /* floats of one inner block */
#pragma omp parallel for collapse(2) schedule(static) if (n->in[0]->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t k = 0; k < v->n; k++) {
            float *dst = gx + (o * v->n + k) * row;
            const float *src = g + o * row;
            for (int64_t i = 0; i < row; i++)
                dst[i] += v->factor * src[i];
        }
    return HG_OK;
}

static hg_tensor *reduce_dim(hg_ctx *ctx, hg_tensor *x, int dim, bool keepdim, bool mean)
{
    const char *op = mean ? "mean_dim" : "sum_dim";
    HG_PROPAGATE_NULL(x);
    if (!hg__norm_dim(op, x, &dim))
        return NULL;
    reduce_state v;
    hg__split_dim(x, dim, &v.outer, &v.n, &v.inner);
    v.ef = hg__elem_floats(x);
    v.factor = mean && v.n > 0 ? 1.0f / (float)v.n : 1.0f;
    int64_t shape[HG_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d != dim)
            shape[nd++] = x->shape[d];
        else if (keepdim)
            shape[nd++] = 1;
    }
    if (nd == 0)
        shape[nd++] = 1; /* a 1-D tensor reduces to [1]: there are no 0-D tensors */
    hg_tensor *out = hg_tensor_empty(ctx, x->dtype, nd, shape);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t row = v.inner * v.ef;
#pragma omp parallel for collapse(2) schedule(static) if (x->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < row; i++) {
            double acc = 0.0;
            for (int64_t k = 0; k < v.n; k++)
                acc += xd[(o * v.n + k) * row + i];
            y[o * row + i] = (float)(acc * v.factor);
        }
    hg_node *node;
    if (hg__record(ctx, op, reduce_dim_backward, out, 1, &x, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(reduce_state *)node->state = v;
    return out;
}

hg_tensor *hg_sum_dim(hg_ctx *ctx, hg_tensor *x, int dim, bool keepdim)
{
    return reduce_dim(ctx, x, dim, keepdim, false);
}

hg_tensor *hg_mean_dim(hg_ctx *ctx, hg_tensor *x, int dim, bool keepdim)
{
    return reduce_dim(ctx, x, dim, keepdim, true);
}
