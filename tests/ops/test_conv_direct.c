/* The direct convolution kernels (src/ops/conv_direct.c) against the im2col + sgemm path on
 * the same inputs: forward, dx, dw, db, for each instruction set this CPU has (AVX-512, AVX2),
 * on shapes that hit every block remainder (channels not a multiple of the block, rows not a
 * multiple of the vector, 1-D, 5x5 and 1x3 kernels, paddings 0..2, sizes below one vector);
 * finite-difference gradient checks with the direct path forced; bit-identical results for
 * 1, 2 and 3 threads; and the LPD shapes that motivated the kernels. */
#include "conv_test_common.h"

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
    conv_fill(p.x, p.w, p.b, seed);
    return p;
}

static void free_problem(problem *p)
{
    hg_tensor_free(p->x), hg_tensor_free(p->w), hg_tensor_free(p->b), hg_tensor_free(p->gy);
}

static hg_tensor *apply(hg_ctx *ctx, hg_tensor *x, hg_tensor *w, hg_tensor *b,
                        const void *user)
{
    return hg_conv(ctx, x, w, b, user);
}

static conv_result run(problem *p) { return conv_run(apply, &p->o, p->x, p->w, p->b, &p->gy); }

static void test_against_gemm(void)
{
    hg_conv_isa isas[2] = {HG_CONV_ISA_AUTO, HG_CONV_ISA_AVX2};
    double worst[4] = {0, 0, 0, 0};
    int compared = 0;
    for (int i = 0; i < N_CASES; i++) {
        problem p = make(&cases[i], 100 + 10 * (uint64_t)i);
        hg__conv_path = HG_CONV_PATH_GEMM;
        conv_result ref = run(&p);
        for (int s = 0; s < 2; s++) {
            hg__conv_isa = isas[s];
            if (s == 1 && strcmp(hg_conv_direct_isa(), "avx2") != 0)
                continue; /* this CPU has no AVX2, or AUTO was AVX2 already */
            hg__conv_path = HG_CONV_PATH_DIRECT;
            if (strcmp(hg_conv_direct_isa(), "none") == 0)
                continue;
            conv_result got = run(&p);
            for (int k = 0; k < 4; k++) {
                double e = hg_test_rel_err(got.v[k], ref.v[k], ref.n[k]);
                CHECK_MSG(e <= 2e-6, "case %d (%s) %s: rel err %.3g vs sgemm", i,
                          hg_conv_direct_isa(), conv_what[k], e);
                worst[k] = fmax(worst[k], e);
            }
            compared++;
            conv_free_result(&got);
        }
        hg__conv_isa = HG_CONV_ISA_AUTO;
        hg__conv_path = HG_CONV_PATH_AUTO;
        conv_free_result(&ref);
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
    conv_result one = run(&p);
    for (int t = 2; t <= 3; t++) {
        hg_set_threads(t);
        conv_result r = run(&p);
        for (int k = 0; k < 4; k++)
            CHECK_MSG(memcmp(r.v[k], one.v[k], (size_t)one.n[k] * sizeof(float)) == 0,
                      "%s differs between 1 and %d threads", conv_what[k], t);
        conv_free_result(&r);
    }
    hg_set_threads(0);
    hg__conv_path = HG_CONV_PATH_AUTO;
    conv_free_result(&one);
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
