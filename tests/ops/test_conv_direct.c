/* The direct convolution kernels (src/ops/conv_direct.c) against the im2col + sgemm path on
 * the same inputs: forward, dx, dw, db, for each instruction set this CPU has (AVX-512, AVX2),
 * on shapes that hit every block remainder (channels not a multiple of the block, rows not a
 * multiple of the vector, 1-D, 5x5 and 1x3 kernels, paddings 0..2, sizes below one vector);
 * finite-difference gradient checks with the direct path forced; bit-identical results for
 * 1, 2 and 3 threads; and the LPD shapes that motivated the kernels. */
#include "test_util.h"

#include "ops/conv_internal.h"

#include <string.h>

typedef struct {
    int n, cin, cout, nsp, h, w, kh, kw, ph, pw;
} dcase;

static const dcase cases[] = {
    /* n cin cout nsp  h    w  kh kw ph pw */
    {2, 7, 32, 2, 30, 183, 3, 3, 1, 1}, /* LPD dual block, first conv */
    {2, 32, 5, 2, 16, 16, 3, 3, 1, 1},  /* LPD last conv: 5 = remainder of every block */
    {1, 6, 32, 2, 9, 8, 3, 3, 1, 1},
    {3, 4, 4, 2, 4, 12, 3, 3, 1, 1},    /* the width below one vector */
    {1, 1, 1, 2, 1, 1, 3, 3, 1, 1},     /* one pixel */
    {1, 3, 9, 2, 5, 37, 3, 3, 0, 0},
    {2, 13, 17, 2, 7, 33, 5, 5, 2, 2},  /* 5x5: direct forward, sgemm weight gradient */
    {1, 2, 3, 2, 6, 20, 1, 3, 0, 1},
    {1, 5, 7, 1, 1, 50, 1, 3, 0, 1},    /* 1-D */
    {1, 9, 11, 2, 9, 40, 3, 3, 2, 2},   /* padding 2 */
    {1, 3, 4, 2, 6, 7, 3, 3, 3, 0},     /* padding beyond the kernel: col2im adjoint */
    {2, 33, 14, 2, 18, 65, 3, 3, 1, 1}, /* 33 rows of the weight gradient, two row bands */
    {4, 7, 16, 2, 16, 47, 3, 3, 1, 1},  /* test_learned_ct's small LPD */
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct {
    hg_tensor *x, *w, *b, *gy;
    hg_conv_opts o;
} problem;

static problem make(const dcase *c, uint64_t seed)
{
    problem p;
    memset(&p, 0, sizeof p);
    if (c->nsp == 1) {
        p.x = hg_new(NULL, c->n, c->cin, c->w);
        p.w = hg_new(NULL, c->cout, c->cin, c->kw);
        p.o.padding[0] = c->pw;
    } else {
        p.x = hg_new(NULL, c->n, c->cin, c->h, c->w);
        p.w = hg_new(NULL, c->cout, c->cin, c->kh, c->kw);
        p.o.padding[0] = c->ph;
        p.o.padding[1] = c->pw;
    }
    p.b = hg_new(NULL, c->cout);
    hg_test_fill(p.x, seed, -1, 1);
    hg_test_fill(p.w, seed + 1, -1, 1);
    hg_test_fill(p.b, seed + 2, -1, 1);
    p.x->requires_grad = p.w->requires_grad = p.b->requires_grad = true;
    return p;
}

static void free_problem(problem *p)
{
    hg_tensor_free(p->x), hg_tensor_free(p->w), hg_tensor_free(p->b), hg_tensor_free(p->gy);
}

/* y, dx, dw, db (concatenated, heap) of one forward + backward, twice over the same inputs so
 * that accumulation into existing gradients is covered. */
typedef struct {
    float *v[4];
    int64_t n[4];
} result;

static result run(problem *p)
{
    result r;
    hg_tensor *t[3] = {p->x, p->w, p->b};
    for (int k = 0; k < 3; k++)
        if (t[k]->grad)
            memset(t[k]->grad, 0, (size_t)t[k]->numel * sizeof(float));
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *y = hg_add(ctx, hg_conv(ctx, p->x, p->w, p->b, &p->o),
                          hg_conv(ctx, p->x, p->w, p->b, &p->o));
    REQUIRE(y != NULL);
    if (!p->gy) {
        p->gy = hg_tensor_like(NULL, y);
        hg_test_fill(p->gy, 77, -1, 1);
    }
    CHECK_OK(hg_backward_seed(ctx, y, p->gy->data));
    const float *src[4] = {y->data, p->x->grad, p->w->grad, p->b->grad};
    int64_t cnt[4] = {y->numel, p->x->numel, p->w->numel, p->b->numel};
    for (int k = 0; k < 4; k++) {
        r.n[k] = cnt[k];
        r.v[k] = malloc((size_t)cnt[k] * sizeof(float));
        REQUIRE(src[k] && r.v[k]);
        memcpy(r.v[k], src[k], (size_t)cnt[k] * sizeof(float));
    }
    hg_ctx_free(ctx);
    return r;
}

static void free_result(result *r)
{
    for (int k = 0; k < 4; k++)
        free(r->v[k]);
}

static const char *const what[4] = {"y", "dx", "dw", "db"};

static void test_against_gemm(void)
{
    hg_conv_isa isas[2] = {HG_CONV_ISA_AUTO, HG_CONV_ISA_AVX2};
    double worst[4] = {0, 0, 0, 0};
    int compared = 0;
    for (int i = 0; i < N_CASES; i++) {
        problem p = make(&cases[i], 100 + 10 * (uint64_t)i);
        hg__conv_path = HG_CONV_PATH_GEMM;
        result ref = run(&p);
        for (int s = 0; s < 2; s++) {
            hg__conv_isa = isas[s];
            if (s == 1 && strcmp(hg_conv_direct_isa(), "avx2") != 0)
                continue; /* this CPU has no AVX2, or AUTO was AVX2 already */
            hg__conv_path = HG_CONV_PATH_DIRECT;
            if (strcmp(hg_conv_direct_isa(), "none") == 0)
                continue;
            result got = run(&p);
            for (int k = 0; k < 4; k++) {
                double e = hg_test_rel_err(got.v[k], ref.v[k], ref.n[k]);
                CHECK_MSG(e <= 2e-6, "case %d (%s) %s: rel err %.3g vs sgemm", i,
                          hg_conv_direct_isa(), what[k], e);
                worst[k] = fmax(worst[k], e);
            }
            compared++;
            free_result(&got);
        }
        hg__conv_isa = HG_CONV_ISA_AUTO;
        hg__conv_path = HG_CONV_PATH_AUTO;
        free_result(&ref);
        free_problem(&p);
    }
    printf("direct (%s%s) vs im2col+sgemm, %d runs: max rel err y %.2e, dx %.2e, dw %.2e, "
           "db %.2e\n",
           hg_conv_direct_isa(), strcmp(hg_conv_direct_isa(), "avx512") == 0 ? " and avx2" : "",
           compared, worst[0], worst[1], worst[2], worst[3]);
}

/* The direct path forced, against central differences. */
typedef struct {
    hg_conv_opts o;
} gc_args;

static hg_tensor *gc_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    const gc_args *a = user;
    return hg_conv(ctx, in[0], in[1], in[2], &a->o);
}

static void test_gradcheck(void)
{
    const dcase small[] = {
        {2, 3, 5, 2, 5, 19, 3, 3, 1, 1},
        {1, 2, 9, 2, 4, 6, 3, 3, 0, 1},
        {1, 4, 3, 1, 1, 21, 1, 3, 0, 2},
    };
    hg__conv_path = HG_CONV_PATH_DIRECT;
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        problem p = make(&small[i], 500 + (uint64_t)i);
        gc_args a = {p.o};
        hg_tensor *in[3] = {p.x, p.w, p.b};
        hg_gradcheck_result r;
        hg_status st = hg_gradcheck(gc_fn, in, 3, &a, NULL, &r);
        CHECK_MSG(st == HG_OK, "direct gradcheck %d: %s", i, hg_error_message());
        worst = fmax(worst, r.max_abs_err);
        free_problem(&p);
    }
    hg__conv_path = HG_CONV_PATH_AUTO;
    printf("direct gradcheck (%s): 3 configurations, max |analytic - numeric| %.2e\n",
           hg_conv_direct_isa(), worst);
}

/* Bit-identical for 1, 2 and 3 threads (the weight gradient's slots). */
static void test_threads(void)
{
    const dcase c = {5, 7, 32, 2, 30, 183, 3, 3, 1, 1};
    problem p = make(&c, 900);
    hg__conv_path = HG_CONV_PATH_DIRECT;
    hg_set_threads(1);
    result one = run(&p);
    for (int t = 2; t <= 3; t++) {
        hg_set_threads(t);
        result r = run(&p);
        for (int k = 0; k < 4; k++)
            CHECK_MSG(memcmp(r.v[k], one.v[k], (size_t)one.n[k] * sizeof(float)) == 0,
                      "%s differs between 1 and %d threads", what[k], t);
        free_result(&r);
    }
    hg_set_threads(0);
    hg__conv_path = HG_CONV_PATH_AUTO;
    free_result(&one);
    free_problem(&p);
}

int main(void)
{
    printf("direct kernels on this CPU: %s\n", hg_conv_direct_isa());
    test_against_gemm();
    test_gradcheck();
    test_threads();
    return hg_test_finish("test_conv_direct");
}
