/* slice: elements start..end-1 along dim (a copy; real or complex). Negative start/end count
 * from the end as in Python; the range must lie inside the dim and may be empty only if
 * start == end. The backward pass adds the gradient back into that range. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t outer, n, inner, start, len, ef;
} slice_state;

static hg_status slice_backward(hg_ctx *ctx, hg_node *n)
{
    const slice_state *v = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *g = n->out->grad;
    int64_t blk = v->len * v->inner * v->ef, off = v->start * v->inner * v->ef;
    int64_t src_row = v->n * v->inner * v->ef;
#pragma omp parallel for schedule(static) if (n->out->numel > HG__PAR_MIN)
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t i = 0; i < blk; i++)
            gx[o * src_row + off + i] += g[o * blk + i];
    return HG_OK;
}

hg_tensor *hg_slice(hg_ctx *ctx, hg_tensor *x, int dim, int64_t start, int64_t end)
{
    HG_PROPAGATE_NULL(x);
    if (!hg__norm_dim("slice", x, &dim))
        return NULL;
    int64_t size = x->shape[dim];
    int64_t s = start < 0 ? start + size : start, e = end < 0 ? end + size : end;
    if (s < 0 || e > size || s > e) {
        char sh[96];
        hg_error(HG_ERR_INVALID,
                 "slice of %s %s: range [%lld, %lld) outside dim %d of size %lld", hg_tensor_label(x),
                 hg_shape_str(x, sh, sizeof sh), (long long)start, (long long)end, dim,
                 (long long)size);
        return NULL;
    }
    slice_state v;
    hg__split_dim(x, dim, &v.outer, &v.n, &v.inner);
    v.start = s, v.len = e - s, v.ef = hg__elem_floats(x);
    int64_t shape[HG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = v.len;
    hg_tensor *out = hg_tensor_empty(ctx, x->dtype, x->ndim, shape);
    if (!out)
        return NULL;
    int64_t blk = v.len * v.inner * v.ef, off = v.start * v.inner * v.ef;
    int64_t src_row = v.n * v.inner * v.ef;
    for (int64_t o = 0; o < v.outer; o++)
        memcpy(out->data + o * blk, x->data + o * src_row + off, (size_t)blk * sizeof(float));
    hg_node *node;
    if (hg__record(ctx, "slice", slice_backward, out, 1, &x, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(slice_state *)node->state = v;
    return out;
}
