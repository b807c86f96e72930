/* permute: out.shape[i] = x.shape[perm[i]] (a copy; real or complex). The backward pass is
 * the inverse permutation, computed by the same strided gather with the roles swapped. */
#include "ops/actloss_internal.h"

typedef struct {
    int ndim;
    int64_t out_shape[HG_MAX_DIMS];
    int64_t src_stride[HG_MAX_DIMS]; /* stride in x (elements) of each output dim */
    int64_t ef;
} permute_state;

/* Walks the output in order and maps each element to its offset in x: out[i] <-> x[off].
 * When scatter, adds dst_grad[off] += src[i] instead of gathering. */
static void permute_walk(const permute_state *v, const float *src, float *dst, bool scatter,
                         int64_t numel)
{
    int64_t inner = v->out_shape[v->ndim - 1];
    int64_t rows = inner ? numel / inner : 0;
    int64_t ist = v->src_stride[v->ndim - 1] * v->ef;
#pragma omp parallel for schedule(static) if (numel > HG__PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, base = 0;
        for (int d = v->ndim - 2; d >= 0; d--) {
            base += (rem % v->out_shape[d]) * v->src_stride[d];
            rem /= v->out_shape[d];
        }
        base *= v->ef;
        const float *s = src + r * inner * v->ef;
        float *t = dst + r * inner * v->ef;
        for (int64_t i = 0; i < inner; i++)
            for (int64_t c = 0; c < v->ef; c++) {
                if (scatter)
                    dst[base + i * ist + c] += s[i * v->ef + c];
                else
                    t[i * v->ef + c] = src[base + i * ist + c];
            }
    }
}

static hg_status permute_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    permute_walk(n->state, n->out->grad, gx, true, n->out->numel);
    return HG_OK;
}

hg_tensor *hg_permute(hg_ctx *ctx, hg_tensor *x, const int32_t *perm)
{
    HG_PROPAGATE_NULL(x);
    if (!perm) {
        hg_error(HG_ERR_INVALID, "permute of %s: perm is NULL", hg_tensor_label(x));
        return NULL;
    }
    bool seen[HG_MAX_DIMS] = {false};
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]]) {
            hg_error(HG_ERR_INVALID,
                     "permute of %s: perm[%d] = %d is not a new dim in 0..%d (perm must be a "
                     "permutation of the %d dims)",
                     hg_tensor_label(x), i, perm[i], x->ndim - 1, x->ndim);
            return NULL;
        }
        seen[perm[i]] = true;
    }
    permute_state v = {.ndim = x->ndim, .ef = hg__elem_floats(x)};
    int64_t stride[HG_MAX_DIMS], s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= x->shape[d];
    }
    for (int i = 0; i < x->ndim; i++) {
        v.out_shape[i] = x->shape[perm[i]];
        v.src_stride[i] = stride[perm[i]];
    }
    hg_tensor *out = hg_tensor_empty(ctx, x->dtype, x->ndim, v.out_shape);
    if (!out)
        return NULL;
    permute_walk(&v, x->data, out->data, false, x->numel);
    hg_node *node;
    if (hg__record(ctx, "permute", permute_backward, out, 1, &x, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(permute_state *)node->state = v;
    return out;
}
