/* matmul (2-D, batched 3-D, all transpose flags) and linear: values and gradients against
 * PyTorch, finite differences, a naive triple loop on a larger product, errors, timing. */
#include "actloss_fixture.h"
#include "gradcheck_table.h"

#include <time.h>

static hg_tensor *f_mm00(hg_ctx *c, hg_tensor **x) { return hg_matmul(c, x[0], x[1], 0, 0); }
static hg_tensor *f_mm01(hg_ctx *c, hg_tensor **x) { return hg_matmul(c, x[0], x[1], 0, 1); }
static hg_tensor *f_mm10(hg_ctx *c, hg_tensor **x) { return hg_matmul(c, x[0], x[1], 1, 0); }
static hg_tensor *f_mm11(hg_ctx *c, hg_tensor **x) { return hg_matmul(c, x[0], x[1], 1, 1); }
static hg_tensor *f_linear(hg_ctx *c, hg_tensor **x) { return hg_linear(c, x[0], x[1], x[2]); }

static hg_tensor *g_matmul(hg_ctx *c, hg_tensor **x, void *u)
{
    int flags = *(const int *)u;
    return hg_matmul(c, x[0], x[1], flags & 2, flags & 1);
}
static hg_tensor *g_linear(hg_ctx *c, hg_tensor **x, void *u)
{
    (void)u;
    return hg_linear(c, x[0], x[1], x[2]);
}
static hg_tensor *g_linear_nobias(hg_ctx *c, hg_tensor **x, void *u)
{
    (void)u;
    return hg_linear(c, x[0], x[1], NULL);
}

static void fixtures(void)
{
    hg_params p;
    hg_test_load_fixture(FX_FILE, &p);
    const double tol = 1e-5;
    const fx_case cases[] = {
        {"matmul_00", 2, f_mm00, 3, 0, tol},         {"matmul_01", 2, f_mm01, 3, 0, tol},
        {"matmul_10", 2, f_mm10, 3, 0, tol},         {"matmul_11", 2, f_mm11, 3, 0, tol},
        {"matmul_batched_01", 2, f_mm01, 3, 0, tol}, {"linear", 3, f_linear, 7, 0, tol},
        {"linear_3d", 3, f_linear, 7, 0, tol},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        fx_run(&p, &cases[i]);
    printf("vs PyTorch: worst output error %.3g, worst gradient error %.3g\n", fx_worst_out,
           fx_worst_grad);
    hg_params_free(&p);
}

static void gradchecks(void)
{
    static const int flags[4] = {0, 1, 2, 3}; /* bit 1: trans_a, bit 0: trans_b */
    const int64_t M = 3, K = 4, N = 5;
    for (int f = 0; f < 4; f++) {
        bool ta = f & 2, tb = f & 1;
        gc_input a = GC_IN(2, -1, 1, ta ? K : M, ta ? M : K);
        gc_input b = GC_IN(2, -1, 1, tb ? N : K, tb ? K : N);
        gc_input a3 = GC_IN(3, -1, 1, 2, ta ? K : M, ta ? M : K);
        gc_input b3 = GC_IN(3, -1, 1, 2, tb ? N : K, tb ? K : N);
        gc_case c2 = {"matmul 2-D", g_matmul, 2, {a, b}, &flags[f]};
        gc_case c3 = {"matmul batched", g_matmul, 2, {a3, b3}, &flags[f]};
        gc_run(&c2, 300 + f);
        gc_run(&c3, 310 + f);
    }
    gc_input x = GC_IN(2, -1, 1, 4, 6), w = GC_IN(2, -1, 1, 3, 6), bias = GC_IN(1, -1, 1, 3);
    gc_input x3 = GC_IN(3, -1, 1, 2, 2, 6);
    gc_case l1 = {"linear", g_linear, 3, {x, w, bias}, NULL};
    gc_case l2 = {"linear [*, in]", g_linear, 3, {x3, w, bias}, NULL};
    gc_case l3 = {"linear no bias", g_linear_nobias, 2, {x, w}, NULL};
    gc_run(&l1, 320);
    gc_run(&l2, 321);
    gc_run(&l3, 322);
}

/* A product big enough for BLAS's blocked kernels, against a double-precision triple loop. */
static void against_naive(void)
{
    const int64_t B = 2, M = 67, K = 131, N = 45;
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *a = hg_new(ctx, B, K, M), *b = hg_new(ctx, B, N, K);
    hg_test_fill(a, 11, -1, 1);
    hg_test_fill(b, 12, -1, 1);
    hg_tensor *c = hg_matmul(ctx, a, b, true, true);
    REQUIRE(c);
    CHECK(c->ndim == 3 && c->shape[0] == B && c->shape[1] == M && c->shape[2] == N);
    double worst = 0, scale = 0;
    for (int64_t t = 0; t < B; t++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)a->data[(t * K + k) * M + i] * b->data[(t * N + j) * K + k];
                worst = fmax(worst, fabs(s - c->data[(t * M + i) * N + j]));
                scale = fmax(scale, fabs(s));
            }
    CHECK_MSG(worst / scale < 1e-5, "batched A^T B^T vs naive: %.3g", worst / scale);
    hg_ctx_free(ctx);
}

/* Prints the time of a linear layer forward + backward of a typical size (information only). */
static void timing(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(NULL, 256, 512), *w = hg_new(NULL, 256, 512), *b = hg_new(NULL, 256);
    hg_test_fill(x, 1, -1, 1);
    hg_test_fill(w, 2, -0.05f, 0.05f);
    x->requires_grad = w->requires_grad = b->requires_grad = true;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int reps = 10;
    for (int r = 0; r < reps; r++) {
        hg_ctx_reset(ctx);
        CHECK_OK(hg_backward(ctx, hg_sum(ctx, hg_linear(ctx, x, w, b))));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) /
                reps;
    printf("linear 256x512 -> 256 forward+backward: %.2f ms (%.1f GFLOP/s)\n", ms,
           3 * 2.0 * 256 * 512 * 256 / (ms * 1e6));
    /* sum of outputs: d/db = rows, checked exactly. */
    CHECK(b->grad && b->grad[0] == 256.0f * reps);
    hg_tensor_free(x), hg_tensor_free(w), hg_tensor_free(b);
    hg_ctx_free(ctx);
}

static void errors(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *a = hg_new(ctx, 3, 4), *b = hg_new(ctx, 5, 6), *b3 = hg_new(ctx, 2, 4, 6);
    a->name = "A", b->name = "B", b3->name = "B3";
    CHECK_NULL_WITH(hg_matmul(ctx, a, b, false, false),
                    "matmul: inner dims of A [3, 4] and B [5, 6] differ: 4 vs 5");
    CHECK_NULL_WITH(hg_matmul(ctx, a, b, true, true),
                    "matmul: inner dims of A [3, 4]^T and B [5, 6]^T differ: 3 vs 6");
    CHECK_NULL_WITH(hg_matmul(ctx, a, b3, false, false),
                    "matmul: batch shapes of A [3, 4] and B3 [2, 4, 6] differ");
    hg_tensor *x = hg_new(ctx, 8, 6), *w = hg_new(ctx, 3, 5), *bias = hg_new(ctx, 4);
    x->name = "x", w->name = "fc.weight", bias->name = "fc.bias";
    CHECK_NULL_WITH(hg_linear(ctx, x, w, NULL),
                    "linear: weight fc.weight shape: expected [*, 6] (features of x [8, 6]), "
                    "got [3, 5]");
    CHECK_NULL_WITH(hg_linear(ctx, x, hg_new(ctx, 3, 6), bias),
                    "linear: fc.bias shape: expected [3], got [4]");
    hg_ctx_free(ctx);
}

int main(void)
{
    fixtures();
    gradchecks();
    against_naive();
    timing();
    errors();
    return hg_test_finish("test_linalg");
}
