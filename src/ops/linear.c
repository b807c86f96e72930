/* linear: y = x w^T + b for x [..., in] (leading dims flattened into rows), w [out, in],
 * b [out] or NULL. One sgemm forward; backward dx = g w, dw += g^T x, db += column sums. */
#include "ops/actloss_internal.h"

#include <cblas.h>

typedef struct {
    int64_t rows, in, out;
} linear_state;

static hg_status linear_backward(hg_ctx *ctx, hg_node *nd)
{
    const linear_state *v = nd->state;
    hg_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    float *gx = hg_needs_grad(nd, 0) ? hg_grad(ctx, x) : NULL;
    float *gw = hg_needs_grad(nd, 1) ? hg_grad(ctx, w) : NULL;
    float *gb = hg_needs_grad(nd, 2) ? hg_grad(ctx, b) : NULL;
    if ((hg_needs_grad(nd, 0) && !gx) || (hg_needs_grad(nd, 1) && !gw) ||
        (hg_needs_grad(nd, 2) && !gb))
        return hg_error_status();
    const float *g = nd->out->grad;
    int nr = (int)v->rows, ni = (int)v->in, no = (int)v->out;
    if (gx && nr && ni && no)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, ni, no, 1.0f, g, no, w->data,
                    ni, 1.0f, gx, ni);
    if (gw && nr && ni && no)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, ni, nr, 1.0f, g, no, x->data,
                    ni, 1.0f, gw, ni);
    if (gb) {
#pragma omp parallel for schedule(static) if (v->rows * v->out > HG__PAR_MIN)
        for (int64_t o = 0; o < v->out; o++) {
            double s = 0.0;
            for (int64_t r = 0; r < v->rows; r++)
                s += g[r * v->out + o];
            gb[o] += (float)s;
        }
    }
    return HG_OK;
}

hg_tensor *hg_linear(hg_ctx *ctx, hg_tensor *x, hg_tensor *w, hg_tensor *b)
{
    HG_PROPAGATE_NULL(x, w);
    if (!hg_require_real("linear", x) || !hg_require_real("linear", w) ||
        (b && !hg_require_real("linear", b)))
        return NULL;
    char sx[96], sw[96];
    if (w->ndim != 2 || w->shape[1] != x->shape[x->ndim - 1]) {
        hg_error(HG_ERR_INVALID, "linear: weight %s shape: expected [*, %lld] (features of %s %s), "
                 "got %s", hg_tensor_label(w), (long long)x->shape[x->ndim - 1],
                 hg_tensor_label(x), hg_shape_str(x, sx, sizeof sx),
                 hg_shape_str(w, sw, sizeof sw));
        return NULL;
    }
    if (b && hg_check_shape(b, 1, (const int64_t[]){w->shape[0]}) != HG_OK) {
        hg_error_context(HG_ERR_INVALID, "linear");
        return NULL;
    }
    linear_state v = {.in = w->shape[1], .out = w->shape[0]};
    v.rows = v.in ? x->numel / v.in : 0;
    if (v.rows > INT32_MAX || v.in > INT32_MAX || v.out > INT32_MAX) {
        hg_error(HG_ERR_UNSUPPORTED, "linear: dims beyond the BLAS int range");
        return NULL;
    }
    int64_t shape[HG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = v.out;
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, shape);
    if (!out)
        return NULL;
    float *y = out->data;
    /* Bias first, then sgemm with beta = 1 adds x w^T on top. */
    for (int64_t r = 0; r < v.rows; r++)
        for (int64_t o = 0; o < v.out; o++)
            y[r * v.out + o] = b ? b->data[o] : 0.0f;
    if (v.rows && v.out && v.in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)v.rows, (int)v.out, (int)v.in,
                    1.0f, x->data, (int)v.in, w->data, (int)v.in, 1.0f, y, (int)v.out);
    hg_tensor *in[3] = {x, w, b};
    hg_node *node;
    if (hg__record(ctx, "linear", linear_backward, out, 3, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(linear_state *)node->state = v;
    return out;
}
