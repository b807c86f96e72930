/* matmul: op(a) op(b) with op = identity or transpose, for 2-D [M, K] x [K, N] and batched
 * 3-D [B, M, K] x [B, K, N] operands (shapes before the transposes as stored). One
 * cblas_sgemm per batch entry, forward and backward; gradients accumulate with beta = 1. */
#include "ops/actloss_internal.h"

#include <cblas.h>

typedef struct {
    int64_t batch, m, n, k;
    bool ta, tb;
} matmul_state;

/* C[M, N] (+)= op(A) op(B) for row-major A (stored [M, K] or [K, M] when ta) and B. */
static void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a,
                 const float *b, float beta, float *c)
{
    /* BLAS rejects (and prints about) leading dimensions of 0: empty products are handled
     * here. With k = 0 the product is zero, so C keeps beta * C. */
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        if (beta == 0.0f)
            memset(c, 0, (size_t)(m * n) * sizeof(float));
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)(ta ? m : k), b, (int)(tb ? k : n), beta,
                c, (int)n);
}

static hg_status matmul_backward(hg_ctx *ctx, hg_node *nd)
{
    const matmul_state *v = nd->state;
    hg_tensor *a = nd->in[0], *b = nd->in[1];
    float *ga = hg_needs_grad(nd, 0) ? hg_grad(ctx, a) : NULL;
    float *gb = hg_needs_grad(nd, 1) ? hg_grad(ctx, b) : NULL;
    if ((hg_needs_grad(nd, 0) && !ga) || (hg_needs_grad(nd, 1) && !gb))
        return hg_error_status();
    int64_t m = v->m, n = v->n, k = v->k;
    for (int64_t i = 0; i < v->batch; i++) {
        const float *A = a->data + i * m * k, *B = b->data + i * k * n;
        const float *G = nd->out->grad + i * m * n;
        /* With C = op(A) op(B): dop(A) = G op(B)^T and dop(B) = op(A)^T G; a transposed
         * operand receives the transpose of that, written as a product in the other order. */
        if (ga) {
            float *dA = ga + i * m * k;
            if (!v->ta)
                gemm(false, !v->tb, m, k, n, G, B, 1.0f, dA);  /* [M,K] = G op(B)^T */
            else
                gemm(v->tb, true, k, m, n, B, G, 1.0f, dA);    /* [K,M] = op(B) G^T */
        }
        if (gb) {
            float *dB = gb + i * k * n;
            if (!v->tb)
                gemm(!v->ta, false, k, n, m, A, G, 1.0f, dB);  /* [K,N] = op(A)^T G */
            else
                gemm(true, v->ta, n, k, m, G, A, 1.0f, dB);    /* [N,K] = G^T op(A) */
        }
    }
    return HG_OK;
}

hg_tensor *hg_matmul(hg_ctx *ctx, hg_tensor *a, hg_tensor *b, bool trans_a, bool trans_b)
{
    HG_PROPAGATE_NULL(a, b);
    if (!hg_require_real("matmul", a) || !hg_require_real("matmul", b) ||
        !hg_require_rank("matmul", a, 2, 3) || !hg_require_rank("matmul", b, 2, 3))
        return NULL;
    char sa[96], sb[96];
    if (a->ndim != b->ndim || (a->ndim == 3 && a->shape[0] != b->shape[0])) {
        hg_error(HG_ERR_INVALID, "matmul: batch shapes of %s %s and %s %s differ",
                 hg_tensor_label(a), hg_shape_str(a, sa, sizeof sa), hg_tensor_label(b),
                 hg_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    int r = a->ndim - 2;
    matmul_state v = {.batch = r ? a->shape[0] : 1, .ta = trans_a, .tb = trans_b};
    v.m = a->shape[r + (trans_a ? 1 : 0)];
    v.k = a->shape[r + (trans_a ? 0 : 1)];
    int64_t kb = b->shape[r + (trans_b ? 1 : 0)];
    v.n = b->shape[r + (trans_b ? 0 : 1)];
    if (kb != v.k) {
        hg_error(HG_ERR_INVALID,
                 "matmul: inner dims of %s %s%s and %s %s%s differ: %lld vs %lld",
                 hg_tensor_label(a), hg_shape_str(a, sa, sizeof sa), trans_a ? "^T" : "",
                 hg_tensor_label(b), hg_shape_str(b, sb, sizeof sb), trans_b ? "^T" : "",
                 (long long)v.k, (long long)kb);
        return NULL;
    }
    if (v.m > INT32_MAX || v.n > INT32_MAX || v.k > INT32_MAX) {
        hg_error(HG_ERR_UNSUPPORTED, "matmul: dims beyond the BLAS int range");
        return NULL;
    }
    int64_t shape[3] = {v.batch, v.m, v.n};
    hg_tensor *out = r ? hg_tensor_new(ctx, HG_F32, 3, shape)
                       : hg_tensor_new(ctx, HG_F32, 2, shape + 1);
    if (!out)
        return NULL;
    for (int64_t i = 0; i < v.batch; i++)
            gemm(trans_a, trans_b, v.m, v.n, v.k, a->data + i * v.m * v.k,
                 b->data + i * v.k * v.n, 0.0f, out->data + i * v.m * v.n);
    hg_tensor *in[2] = {a, b};
    hg_node *node;
    if (hg__record(ctx, "matmul", matmul_backward, out, 2, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(matmul_state *)node->state = v;
    return out;
}
