/* pad: constant padding of the spatial dims of x [N, C, *S] (1 to 3 spatial dims), with
 * before[i] / after[i] >= 0 elements added to spatial dim i. Complex x is padded with
 * value + 0i. The backward pass crops the gradient back to x's window. */
#include "ops/actloss_internal.h"

typedef struct {
    int ndim;
    int64_t in_shape[HG_MAX_DIMS];
    int64_t out_shape[HG_MAX_DIMS];
    int64_t before[HG_MAX_DIMS]; /* per dim (0 for N and C) */
    int64_t ef;
} pad_state;

/* Offset (in floats) in the output of the first element of input row r (a row is the last
 * dim). */
static int64_t pad_row_offset(const pad_state *v, int64_t r)
{
    int64_t off = 0, mul = 1;
    off += v->before[v->ndim - 1];
    mul = v->out_shape[v->ndim - 1];
    for (int d = v->ndim - 2; d >= 0; d--) {
        int64_t k = r % v->in_shape[d];
        r /= v->in_shape[d];
        off += (k + v->before[d]) * mul;
        mul *= v->out_shape[d];
    }
    return off * v->ef;
}

static hg_status pad_backward(hg_ctx *ctx, hg_node *n)
{
    const pad_state *v = n->state;
    hg_tensor *x = n->in[0];
    float *gx = hg_grad(ctx, x);
    if (!gx)
        return hg_error_status();
    const float *g = n->out->grad;
    int64_t row = v->in_shape[v->ndim - 1] * v->ef;
    int64_t rows = row ? hg_tensor_nfloats(x) / row : 0;
#pragma omp parallel for schedule(static) if (x->numel > HG__PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *src = g + pad_row_offset(v, r);
        for (int64_t i = 0; i < row; i++)
            gx[r * row + i] += src[i];
    }
    return HG_OK;
}

hg_tensor *hg_pad(hg_ctx *ctx, hg_tensor *x, const int32_t *before, const int32_t *after,
                  float value)
{
    HG_PROPAGATE_NULL(x);
    if (!hg_require_rank("pad", x, 3, 5))
        return NULL;
    if (!before || !after) {
        hg_error(HG_ERR_INVALID, "pad of %s: before/after is NULL", hg_tensor_label(x));
        return NULL;
    }
    pad_state v = {.ndim = x->ndim, .ef = hg__elem_floats(x)};
    memcpy(v.in_shape, x->shape, sizeof v.in_shape);
    memcpy(v.out_shape, x->shape, sizeof v.out_shape);
    for (int i = 0; i < x->ndim - 2; i++) {
        if (before[i] < 0 || after[i] < 0) {
            hg_error(HG_ERR_INVALID,
                     "pad of %s: spatial dim %d: padding must be >= 0, got before %d, after %d",
                     hg_tensor_label(x), i, before[i], after[i]);
            return NULL;
        }
        v.before[i + 2] = before[i];
        v.out_shape[i + 2] += (int64_t)before[i] + after[i];
    }
    hg_tensor *out = hg_tensor_empty(ctx, x->dtype, x->ndim, v.out_shape);
    if (!out)
        return NULL;
    int64_t nf = hg_tensor_nfloats(out);
    float *y = out->data;
#pragma omp parallel for schedule(static) if (nf > HG__PAR_MIN)
    for (int64_t i = 0; i < nf; i++)
        y[i] = (v.ef == 2 && (i & 1)) ? 0.0f : value;
    int64_t row = v.in_shape[v.ndim - 1] * v.ef;
    int64_t rows = row ? hg_tensor_nfloats(x) / row : 0;
#pragma omp parallel for schedule(static) if (x->numel > HG__PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        memcpy(y + pad_row_offset(&v, r), x->data + r * row, (size_t)row * sizeof(float));
    hg_node *node;
    if (hg__record(ctx, "pad", pad_backward, out, 1, &x, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(pad_state *)node->state = v;
    return out;
}
