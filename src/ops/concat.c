/* concat: joins tensors of one dtype along dim; all other dims must agree. The tape holds at
 * most HG_MAX_INPUTS inputs per node, so the full input list lives in the node state and the
 * node's own inputs are only (up to six of) those that require a gradient. */
#include "ops/actloss_internal.h"

typedef struct {
    int n, dim;
    int64_t outer, inner, ef, total; /* total: size of the output along dim */
    hg_tensor **xs;
} concat_state;

static hg_status concat_backward(hg_ctx *ctx, hg_node *nd)
{
    const concat_state *v = nd->state;
    const float *g = nd->out->grad;
    int64_t out_row = v->total * v->inner * v->ef, off = 0;
    for (int k = 0; k < v->n; k++) {
        hg_tensor *x = v->xs[k];
        int64_t blk = x->shape[v->dim] * v->inner * v->ef;
        if (x->requires_grad) {
            float *gx = hg_grad(ctx, x);
            if (!gx)
                return hg_error_status();
#pragma omp parallel for schedule(static) if (x->numel > HG__PAR_MIN)
            for (int64_t o = 0; o < v->outer; o++)
                for (int64_t i = 0; i < blk; i++)
                    gx[o * blk + i] += g[o * out_row + off + i];
        }
        off += blk;
    }
    return HG_OK;
}

/* Checks that every input matches xs[0] in dtype, rank and size outside dim. */
static bool concat_check(hg_tensor *const *xs, int n, int dim)
{
    const hg_tensor *a = xs[0];
    for (int k = 1; k < n; k++) {
        const hg_tensor *b = xs[k];
        bool ok = b->dtype == a->dtype && b->ndim == a->ndim;
        for (int d = 0; ok && d < a->ndim; d++)
            if (d != dim && a->shape[d] != b->shape[d])
                ok = false;
        if (!ok) {
            char sa[96], sb[96];
            hg_error(HG_ERR_INVALID,
                     "concat along dim %d: input %d %s %s%s does not match input 0 %s %s%s", dim,
                     k, hg_tensor_label(b), hg_shape_str(b, sb, sizeof sb),
                     b->dtype == HG_C64 ? " (complex)" : "", hg_tensor_label(a),
                     hg_shape_str(a, sa, sizeof sa), a->dtype == HG_C64 ? " (complex)" : "");
            return false;
        }
    }
    return true;
}

hg_tensor *hg_concat(hg_ctx *ctx, hg_tensor *const *xs, int n, int dim)
{
    if (!xs || n < 1) {
        hg_error(HG_ERR_INVALID, "concat: expected at least 1 input, got %d", n);
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (!xs[k]) {
            if (hg_error_status() == HG_OK)
                hg_error(HG_ERR_INVALID, "concat: input %d is NULL", k);
            return NULL;
        }
    if (!hg__norm_dim("concat", xs[0], &dim) || !concat_check(xs, n, dim))
        return NULL;
    concat_state v = {.n = n, .dim = dim, .ef = hg__elem_floats(xs[0])};
    int64_t dummy;
    hg__split_dim(xs[0], dim, &v.outer, &dummy, &v.inner);
    for (int k = 0; k < n; k++)
        v.total += xs[k]->shape[dim];
    int64_t shape[HG_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[dim] = v.total;
    hg_tensor *out = hg_tensor_empty(ctx, xs[0]->dtype, xs[0]->ndim, shape);
    if (!out)
        return NULL;
    int64_t out_row = v.total * v.inner * v.ef, off = 0;
    for (int k = 0; k < n; k++) {
        int64_t blk = xs[k]->shape[dim] * v.inner * v.ef;
        for (int64_t o = 0; o < v.outer; o++)
            memcpy(out->data + o * out_row + off, xs[k]->data + o * blk,
                   (size_t)blk * sizeof(float));
        off += blk;
    }
    hg_tensor *rec[HG_MAX_INPUTS];
    int n_rec = 0;
    for (int k = 0; k < n && n_rec < HG_MAX_INPUTS; k++)
        if (xs[k]->requires_grad)
            rec[n_rec++] = xs[k];
    hg_node *node;
    if (hg__record(ctx, "concat", concat_backward, out, n_rec, rec, sizeof v, &node) != HG_OK)
        return NULL;
    if (node) {
        v.xs = hg_ctx_alloc(ctx, (size_t)n * sizeof *v.xs);
        if (!v.xs)
            return NULL;
        memcpy(v.xs, xs, (size_t)n * sizeof *v.xs);
        *(concat_state *)node->state = v;
    }
    return out;
}
