/* The oneDNN convolution path (src/ops/conv_dnnl.c) against the im2col + sgemm path on the
 * same inputs: forward, dx, dw, db for 1-D, 2-D and 3-D convs and transposed convs, strided,
 * padded, dilated and grouped, in oneDNN's blocked layouts (the default) and in the plain one;
 * finite-difference gradient checks on the dispatched (AUTO) path and with oneDNN forced;
 * bit-identical results for 1, 2 and 3 threads on the shapes the rule table routes to oneDNN;
 * batches run in chunks of images (as big activations are) against whole batches;
 * and a primitive creation that fails inside oneDNN reported as an hg_error naming the conv. */
#include "conv_test_common.h"

#include "ops/conv_internal.h"

#include <string.h>

typedef struct {
    int n, cin, cout, nsp, groups, transposed;
    int sp[3], k[3], s[3], p[3], d[3];
} ccase;

static const ccase cases[] = {
    /* n cin cout nsp g  t   spatial         kernel     stride     padding    dilation */
    {2, 5, 7, 1, 1, 0, {37}, {3}, {1}, {1}, {1}},                     /* 1-D */
    {1, 4, 6, 1, 2, 0, {40}, {5}, {2}, {2}, {2}},                     /* 1-D strided dilated grouped */
    {2, 7, 32, 2, 1, 0, {30, 45}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},   /* LPD-like */
    {4, 1, 32, 2, 1, 0, {32, 32}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},   /* U-Net first conv */
    {1, 16, 24, 2, 1, 0, {17, 19}, {3, 3}, {2, 2}, {1, 1}, {1, 1}},  /* strided, odd sizes */
    {1, 6, 9, 2, 3, 0, {13, 11}, {3, 5}, {1, 2}, {2, 1}, {2, 1}},    /* dilated, grouped */
    {2, 32, 16, 2, 1, 0, {16, 16}, {1, 1}, {1, 1}, {0, 0}, {1, 1}},  /* 1x1 head */
    {1, 3, 5, 2, 1, 0, {12, 9}, {4, 3}, {3, 2}, {0, 1}, {1, 1}},     /* stride > kernel - 1 */
    {1, 1, 8, 3, 1, 0, {9, 10, 11}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}}, /* 3-D first */
    {1, 16, 16, 3, 1, 0, {8, 8, 8}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
    {2, 8, 12, 3, 1, 0, {7, 9, 8}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 2, 1}}, /* strided 3-D */
    {1, 16, 2, 3, 1, 0, {6, 6, 6}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}}, /* 3-D head */
    {1, 32, 16, 3, 1, 1, {4, 5, 4}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}}, /* 3-D up */
    {2, 16, 8, 2, 1, 1, {7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1}},     /* 2-D transposed */
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct {
    const ccase *c;
    hg_tensor *x, *w, *b, *gy;
    hg_conv_opts o;
} problem;

static problem make(const ccase *c, uint64_t seed)
{
    problem p;
    memset(&p, 0, sizeof p);
    p.c = c;
    int64_t xs[5] = {c->n, c->cin}, ws[5];
    if (c->transposed)
        ws[0] = c->cin, ws[1] = c->cout / c->groups;
    else
        ws[0] = c->cout, ws[1] = c->cin / c->groups;
    for (int i = 0; i < c->nsp; i++) {
        xs[2 + i] = c->sp[i];
        ws[2 + i] = c->k[i];
        p.o.stride[i] = c->s[i];
        p.o.padding[i] = c->p[i];
        p.o.dilation[i] = c->d[i];
    }
    p.o.groups = c->groups;
    p.x = hg_tensor_new(NULL, HG_F32, 2 + c->nsp, xs);
    p.w = hg_tensor_new(NULL, HG_F32, 2 + c->nsp, ws);
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
    const problem *p = user;
    return p->c->transposed ? hg_conv_transpose(ctx, x, w, b, &p->o)
                            : hg_conv(ctx, x, w, b, &p->o);
}

static conv_result run(problem *p) { return conv_run(apply, p, p->x, p->w, p->b, &p->gy); }

/* p on the im2col path against p with the overrides set now (restored to AUTO after): the
 * worst relative error per output goes into worst[4]; above 1e-5 is a failure. */
static void compare(problem *p, hg_conv_path path, hg_conv_dnnl_layout layout, bool wino,
                    const char *label, double *worst)
{
    hg__conv_path = HG_CONV_PATH_GEMM;
    conv_result ref = run(p);
    hg__conv_path = path;
    hg__conv_dnnl_layout = layout;
    hg__conv_dnnl_winograd = wino;
    conv_result got = run(p);
    hg__conv_path = HG_CONV_PATH_AUTO;
    hg__conv_dnnl_layout = HG_CONV_DNNL_BLOCKED;
    hg__conv_dnnl_winograd = false;
    for (int k = 0; k < 4; k++) {
        double e = hg_test_rel_err(got.v[k], ref.v[k], ref.n[k]);
        CHECK_MSG(e <= 1e-5, "%s %s: rel err %.3g vs sgemm", label, conv_what[k], e);
        worst[k] = fmax(worst[k], e);
    }
    conv_free_result(&got);
    conv_free_result(&ref);
}

static void test_against_gemm(void)
{
    double worst[4] = {0, 0, 0, 0};
    for (int i = 0; i < N_CASES; i++) {
        problem p = make(&cases[i], 100 + 10 * (uint64_t)i);
        char label[64];
        snprintf(label, sizeof label, "case %d (blocked layout)", i);
        compare(&p, HG_CONV_PATH_DNNL, HG_CONV_DNNL_BLOCKED, false, label, worst);
        snprintf(label, sizeof label, "case %d (plain layout)", i);
        compare(&p, HG_CONV_PATH_DNNL, HG_CONV_DNNL_PLAIN, false, label, worst);
        free_problem(&p);
    }
    printf("oneDNN (blocked and plain layouts) vs im2col+sgemm, %d cases: max rel err y %.2e, "
           "dx %.2e, dw %.2e, db %.2e\n",
           N_CASES, worst[0], worst[1], worst[2], worst[3]);
}

/* oneDNN's Winograd F(4x4, 3x3) on U-Net / LPD shapes (>= 32 channels, multiples of 16): the
 * error against sgemm, in max-abs over max-abs (the same measure as above). */
static void test_winograd(void)
{
    const ccase wc[] = {
        {2, 32, 32, 2, 1, 0, {30, 45}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
        {1, 64, 128, 2, 1, 0, {33, 32}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
        {1, 256, 256, 2, 1, 0, {16, 16}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
    };
    double worst[4] = {0, 0, 0, 0};
    for (int i = 0; i < 3; i++) {
        problem p = make(&wc[i], 1700 + (uint64_t)i);
        char label[64];
        snprintf(label, sizeof label, "winograd case %d", i);
        compare(&p, HG_CONV_PATH_DNNL, HG_CONV_DNNL_BLOCKED, true, label, worst);
        free_problem(&p);
    }
    /* Asked for where oneDNN has no Winograd kernel (3-D) on the dispatched path: the direct
     * kernel instead, no error. */
    double fallback[4] = {0, 0, 0, 0};
    problem p = make(&cases[9], 1750);
    compare(&p, HG_CONV_PATH_AUTO, HG_CONV_DNNL_BLOCKED, true, "3-D, Winograd asked for",
            fallback);
    free_problem(&p);
    printf("oneDNN Winograd vs im2col+sgemm, 3 cases: max rel err y %.2e, dx %.2e, dw %.2e\n",
           worst[0], worst[1], worst[2]);
}

static hg_tensor *gc_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    const problem *p = user;
    return apply(ctx, in[0], in[1], in[2], p);
}

/* Central differences on the AUTO (dispatched) path and with oneDNN forced. */
static void test_gradcheck(void)
{
    const ccase small[] = {
        {2, 3, 5, 2, 1, 0, {5, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
        {1, 2, 4, 3, 1, 0, {4, 5, 4}, {3, 3, 3}, {2, 1, 1}, {1, 0, 1}, {1, 1, 2}},
        {1, 4, 2, 1, 2, 0, {15}, {3}, {2}, {1}, {2}},
        {1, 4, 2, 3, 1, 1, {2, 3, 2}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}},
    };
    const hg_conv_path paths[2] = {HG_CONV_PATH_AUTO, HG_CONV_PATH_DNNL};
    double worst = 0;
    for (int pi = 0; pi < 2; pi++) {
        hg__conv_path = paths[pi];
        for (int i = 0; i < 4; i++) {
            problem p = make(&small[i], 500 + (uint64_t)i);
            hg_tensor *in[3] = {p.x, p.w, p.b};
            hg_gradcheck_result r;
            hg_status st = hg_gradcheck(gc_fn, in, 3, &p, NULL, &r);
            CHECK_MSG(st == HG_OK, "gradcheck %d (%s): %s", i, pi ? "oneDNN" : "auto",
                      hg_error_message());
            worst = fmax(worst, r.max_abs_err);
            free_problem(&p);
        }
    }
    hg__conv_path = HG_CONV_PATH_AUTO;
    printf("gradcheck, auto and oneDNN paths, 4 configurations: max |analytic - numeric| "
           "%.2e\n",
           worst);
}

/* Bit-identical for 1, 2 and 3 threads on the dispatched path, on shapes of the classes the
 * rule table sends to oneDNN (U-Net 2-D and 3-D, LPD). With oneDNN forced for every pass the
 * same comparison is only reported: it shows which of oneDNN's passes depend on the thread
 * count (the reason the rule table keeps them away from oneDNN). */
static void test_threads(void)
{
    const ccase det[] = {
        {4, 1, 32, 2, 1, 0, {64, 64}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
        {2, 32, 64, 2, 1, 0, {32, 32}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
        {5, 32, 32, 2, 1, 0, {32, 48}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
        {1, 1, 16, 3, 1, 0, {16, 16, 16}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
        {1, 16, 32, 3, 1, 0, {16, 16, 16}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
        {1, 32, 16, 3, 1, 1, {8, 8, 8}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}},
    };
    const int nd = (int)(sizeof det / sizeof det[0]);
    for (int forced = 1; forced >= 0; forced--) {
        hg__conv_path = forced ? HG_CONV_PATH_DNNL : HG_CONV_PATH_AUTO;
        for (int i = 0; i < nd; i++) {
            problem p = make(&det[i], 900 + (uint64_t)i);
            hg_set_threads(1);
            conv_result one = run(&p);
            for (int t = 2; t <= 3; t++) {
                hg_set_threads(t);
                conv_result r = run(&p);
                for (int k = 0; k < 4; k++) {
                    bool same = memcmp(r.v[k], one.v[k], (size_t)one.n[k] * sizeof(float)) == 0;
                    if (forced && !same)
                        printf("oneDNN forced, shape %d: %s differs between 1 and %d threads "
                               "(rel %.2e)\n",
                               i, conv_what[k], t, hg_test_rel_err(r.v[k], one.v[k], one.n[k]));
                    else
                        CHECK_MSG(same, "shape %d: %s differs between 1 and %d threads", i,
                                  conv_what[k], t);
                }
                conv_free_result(&r);
            }
            hg_set_threads(0);
            conv_free_result(&one);
            free_problem(&p);
        }
    }
    hg__conv_path = HG_CONV_PATH_AUTO;
}

/* oneDNN rejecting the primitive (here: an algorithm it does not know) is an hg_error naming
 * the pass, the failing call and the shapes; the op returns NULL. */
static void test_error(void)
{
    const ccase c = {1, 3, 4, 2, 1, 0, {6, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1}};
    problem p = make(&c, 1300);
    hg__conv_path = HG_CONV_PATH_DNNL;
    hg__conv_dnnl_fail = true;
    CHECK_NULL_WITH(hg_conv(NULL, p.x, p.w, p.b, &p.o),
                    "conv (oneDNN forward): convolution primitive descriptor failed");
    CHECK_MSG(strstr(hg_error_message(), "[1, 3, 6, 7] -> [1, 4, 6, 7], kernel 3x3") != NULL,
              "message names the shapes: %s", hg_error_message());
    /* conv_transpose's forward is C^T: oneDNN's backward-data pass */
    hg_tensor *wt = hg_new(NULL, 3, 2, 3, 3);
    CHECK_NULL_WITH(hg_conv_transpose(NULL, p.x, wt, NULL, &p.o),
                    "conv (oneDNN backward-data): convolution primitive descriptor failed");
    hg_tensor_free(wt);
    hg__conv_dnnl_fail = false;
    hg__conv_path = HG_CONV_PATH_AUTO;
    free_problem(&p);
}

/* Batches whose blocked copies pass the budget run in chunks of images: with the budget
 * lowered to 2 images of each case (batch 5: chunks 2, 2, 1), every pass against the whole
 * batch in one call. Forward and dx are per image, so bitwise equal; dw adds the chunks in
 * order, so within rounding. */
static void test_chunks(void)
{
    static const ccase big[] = {
        {5, 32, 32, 2, 1, 0, {12, 12}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},      /* Winograd */
        {5, 16, 16, 3, 1, 0, {6, 6, 6}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
        {5, 32, 16, 3, 1, 1, {3, 4, 3}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}}, /* up */
    };
    for (int i = 0; i < 3; i++) {
        problem p = make(&big[i], 900 + (uint64_t)i);
        hg__conv_path = HG_CONV_PATH_DNNL;
        conv_result whole = run(&p);
        const ccase *c = &big[i];
        int64_t vol_in = 1, vol_out = 1;
        for (int d = 0; d < c->nsp; d++) {
            vol_in *= c->sp[d];
            vol_out *= c->transposed ? c->sp[d] * c->s[d]
                                     : (c->sp[d] + 2 * c->p[d] - c->k[d]) / c->s[d] + 1;
        }
        int64_t per_image = (c->cin * vol_in + c->cout * vol_out) * (int64_t)sizeof(float);
        hg__conv_dnnl_chunk_bytes = 2 * per_image; /* chunks of 2, 2, 1 images */
        conv_result chunked = run(&p);
        hg__conv_dnnl_chunk_bytes = (int64_t)32 << 20;
        hg__conv_path = HG_CONV_PATH_AUTO;
        CHECK_MSG(memcmp(whole.v[0], chunked.v[0], (size_t)whole.n[0] * sizeof(float)) == 0,
                  "chunk case %d: forward differs", i);
        CHECK_MSG(memcmp(whole.v[1], chunked.v[1], (size_t)whole.n[1] * sizeof(float)) == 0,
                  "chunk case %d: dx differs", i);
        double e = hg_test_rel_err(chunked.v[2], whole.v[2], whole.n[2]);
        CHECK_MSG(e <= 1e-5, "chunk case %d: dw rel err %.3g", i, e);
        conv_free_result(&whole);
        conv_free_result(&chunked);
        free_problem(&p);
    }
}

int main(void)
{
    if (!hg_conv_dnnl_available()) {
        printf("built without oneDNN (HINGE_DNNL=OFF): nothing to test\n");
        return hg_test_finish("test_conv_dnnl");
    }
    test_against_gemm();
    test_winograd();
    test_gradcheck();
    test_threads();
    test_chunks();
    test_error();
    return hg_test_finish("test_conv_dnnl");
}
