/* hg_conv and hg_conv_transpose: PyTorch fixtures (forward and backward), a table-driven
 * gradient check over many configurations, the adjoint identity between the two ops, a naive
 * direct convolution on a problem large enough to be split into column tiles, scratch
 * release, and the error paths. */
#include "test_util.h"

#include <string.h>

/* ---- helpers --------------------------------------------------------------------------- */

typedef struct conv_case {
    int tr;            /* conv_transpose */
    int n, cin, cout, nsp;
    int sp[3], k[3];
    int s[3], p[3], d[3], op[3];
    int groups, bias;
} conv_case;

static hg_conv_opts case_opts(const conv_case *c)
{
    hg_conv_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < c->nsp; i++) {
        o.stride[i] = c->s[i];
        o.padding[i] = c->p[i];
        o.dilation[i] = c->d[i];
        o.output_padding[i] = c->op[i];
    }
    o.groups = c->groups;
    return o;
}

static hg_tensor *case_x(const conv_case *c)
{
    int64_t shape[5] = {c->n, c->cin};
    for (int i = 0; i < c->nsp; i++)
        shape[2 + i] = c->sp[i];
    return hg_tensor_new(NULL, HG_F32, 2 + c->nsp, shape);
}

static hg_tensor *case_w(const conv_case *c)
{
    int64_t shape[5] = {c->tr ? c->cin : c->cout, (c->tr ? c->cout : c->cin) / c->groups};
    for (int i = 0; i < c->nsp; i++)
        shape[2 + i] = c->k[i];
    return hg_tensor_new(NULL, HG_F32, 2 + c->nsp, shape);
}

typedef struct {
    const conv_case *c;
    hg_conv_opts o;
} run_args;

static hg_tensor *run_case(hg_ctx *ctx, hg_tensor **in, void *user)
{
    const run_args *a = user;
    hg_tensor *b = a->c->bias ? in[2] : NULL;
    return a->c->tr ? hg_conv_transpose(ctx, in[0], in[1], b, &a->o)
                    : hg_conv(ctx, in[0], in[1], b, &a->o);
}

/* The same inputs used twice: backward must accumulate into x, w and b, not overwrite. */
static hg_tensor *run_case_twice(hg_ctx *ctx, hg_tensor **in, void *user)
{
    hg_tensor *y = run_case(ctx, in, user);
    return hg_add(ctx, y, run_case(ctx, in, user));
}

static double dot(const float *a, const float *b, int64_t n)
{
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++)
        acc += (double)a[i] * (double)b[i];
    return acc;
}

/* ---- PyTorch fixtures ------------------------------------------------------------------ */

static void test_fixtures(void)
{
    hg_params fx;
    hg_test_load_fixture("torch/conv.safetensors", &fx);
    int count = (int)hg_test_get(&fx, "count")->data[0];
    CHECK(count >= 10);
    double worst[4] = {0, 0, 0, 0}; /* y, gx, gw, gb */
    hg_ctx *ctx = hg_ctx_new();
    for (int i = 0; i < count; i++) {
        char name[64];
#define FX(field) (snprintf(name, sizeof name, "c%d." field, i), hg_test_get(&fx, name))
        hg_tensor *cfg_t = FX("cfg");
        REQUIRE(cfg_t->numel == 15);
        const float *cfg = cfg_t->data;
        bool tr = cfg[0] != 0, has_bias = cfg[14] != 0;
        hg_conv_opts o;
        memset(&o, 0, sizeof o);
        o.groups = (int32_t)cfg[1];
        for (int j = 0; j < 3; j++) {
            o.stride[j] = (int32_t)cfg[2 + j];
            o.padding[j] = (int32_t)cfg[5 + j];
            o.dilation[j] = (int32_t)cfg[8 + j];
            o.output_padding[j] = (int32_t)cfg[11 + j];
        }
        hg_tensor *x = FX("x"), *w = FX("w"), *b = has_bias ? FX("b") : NULL;
        hg_tensor *y_ref = FX("y"), *gy = FX("gy");
        x->requires_grad = w->requires_grad = true;
        if (b)
            b->requires_grad = true;
        hg_ctx_reset(ctx);
        hg_tensor *y = tr ? hg_conv_transpose(ctx, x, w, b, &o) : hg_conv(ctx, x, w, b, &o);
        REQUIRE(y != NULL);
        REQUIRE(hg_shape_equal(y, y_ref));
        double e = hg_test_rel_err(y->data, y_ref->data, y->numel);
        CHECK_MSG(e <= 1e-4, "case %d forward rel err %.3g", i, e);
        worst[0] = fmax(worst[0], e);
        CHECK_OK(hg_backward_seed(ctx, y, gy->data));
        const char *gname[3] = {"gx", "gw", "gb"};
        hg_tensor *in[3] = {x, w, b};
        for (int k = 0; k < 3; k++) {
            if (!in[k])
                continue;
            snprintf(name, sizeof name, "c%d.%s", i, gname[k]);
            hg_tensor *ref = hg_test_get(&fx, name);
            REQUIRE(in[k]->grad != NULL);
            e = hg_test_rel_err(in[k]->grad, ref->data, ref->numel);
            CHECK_MSG(e <= 1e-4, "case %d %s rel err %.3g", i, gname[k], e);
            worst[1 + k] = fmax(worst[1 + k], e);
        }
#undef FX
    }
    printf("vs PyTorch (%d cases): max rel err y %.2e, dx %.2e, dw %.2e, db %.2e\n", count,
           worst[0], worst[1], worst[2], worst[3]);
    hg_ctx_free(ctx);
    hg_params_free(&fx);
}

/* ---- gradient checks ------------------------------------------------------------------- */

static const conv_case grad_cases[] = {
    /* tr n cin cout nsp  sp          k          s          p          d          op   g bias */
    {0, 1, 1, 1, 1, {7}, {3}, {1}, {0}, {1}, {0}, 1, 0},
    {0, 2, 3, 2, 1, {9}, {3}, {2}, {1}, {1}, {0}, 1, 1},
    {0, 3, 4, 4, 1, {11}, {3}, {1}, {2}, {2}, {0}, 2, 1},
    {0, 1, 4, 4, 1, {8}, {2}, {2}, {1}, {1}, {0}, 4, 0},
    {0, 1, 2, 3, 2, {5, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, 1, 1},
    {0, 2, 2, 2, 2, {7, 5}, {3, 2}, {2, 1}, {0, 2}, {1, 2}, {0}, 1, 0},
    {0, 1, 4, 2, 2, {6, 7}, {3, 3}, {2, 2}, {2, 1}, {2, 1}, {0}, 2, 1},
    {0, 2, 4, 4, 2, {5, 5}, {3, 3}, {1, 2}, {1, 1}, {1, 1}, {0}, 4, 1}, /* depthwise */
    {0, 1, 4, 8, 2, {5, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, 4, 0}, /* depth multiplier */
    {0, 3, 3, 2, 2, {4, 5}, {1, 1}, {1, 1}, {0, 0}, {1, 1}, {0}, 1, 1}, /* 1x1 */
    {0, 1, 2, 2, 2, {5, 5}, {1, 1}, {2, 2}, {1, 0}, {1, 1}, {0}, 1, 1}, /* 1x1 strided */
    {0, 1, 1, 2, 2, {3, 3}, {3, 3}, {1, 1}, {0, 0}, {1, 1}, {0}, 1, 1}, /* kernel = input */
    /* stride 1 with padding beyond the kernel extent: dx by col2im, not the flipped conv */
    {0, 1, 2, 3, 2, {4, 5}, {2, 1}, {1, 1}, {2, 1}, {1, 1}, {0}, 1, 1},
    {0, 1, 2, 2, 3, {4, 5, 3}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0}, 1, 1},
    {0, 2, 2, 2, 3, {5, 4, 4}, {2, 3, 1}, {2, 1, 2}, {0, 1, 0}, {2, 1, 1}, {0}, 2, 0},
    {0, 1, 4, 4, 3, {3, 4, 3}, {2, 2, 2}, {1, 2, 1}, {1, 0, 2}, {1, 1, 2}, {0}, 4, 1},
    {1, 1, 1, 1, 1, {5}, {3}, {1}, {0}, {1}, {0}, 1, 0},
    {1, 2, 3, 2, 1, {6}, {3}, {2}, {1}, {1}, {1}, 1, 1},
    {1, 3, 4, 4, 1, {5}, {4}, {3}, {2}, {2}, {2}, 2, 1},
    {1, 1, 2, 3, 2, {4, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, 1, 1},
    {1, 2, 2, 2, 2, {3, 4}, {3, 2}, {2, 2}, {1, 0}, {1, 2}, {1, 1}, 1, 0},
    {1, 1, 4, 2, 2, {4, 3}, {2, 3}, {2, 1}, {0, 2}, {1, 2}, {1, 0}, 2, 1},
    {1, 2, 4, 4, 2, {3, 4}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 4, 1}, /* depthwise */
    {1, 3, 3, 2, 2, {4, 3}, {1, 1}, {1, 1}, {0, 0}, {1, 1}, {0}, 1, 1},    /* 1x1 */
    {1, 1, 2, 2, 2, {5, 4}, {3, 3}, {1, 1}, {2, 1}, {1, 1}, {0}, 1, 0},    /* crop */
    {1, 1, 2, 2, 3, {3, 3, 2}, {3, 2, 3}, {1, 2, 1}, {1, 0, 1}, {1, 1, 2}, {0, 1, 0}, 1, 1},
    {1, 2, 4, 2, 3, {2, 3, 3}, {2, 2, 2}, {2, 1, 2}, {0, 1, 1}, {1, 2, 1}, {1, 0, 1}, 2, 0},
};

static void test_gradcheck(void)
{
    int n = (int)(sizeof grad_cases / sizeof grad_cases[0]);
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        const conv_case *c = &grad_cases[i];
        run_args a = {c, case_opts(c)};
        hg_tensor *in[3] = {case_x(c), case_w(c), hg_new(NULL, c->cout)};
        hg_test_fill(in[0], 10 + (uint64_t)i, -1, 1);
        hg_test_fill(in[1], 200 + (uint64_t)i, -1, 1);
        hg_test_fill(in[2], 400 + (uint64_t)i, -1, 1);
        for (int k = 0; k < 3; k++)
            in[k]->requires_grad = k < 2 || c->bias;
        hg_gradcheck_result r;
        hg_status st = hg_gradcheck(run_case, in, 3, &a, NULL, &r);
        CHECK_MSG(st == HG_OK, "%s case %d: %s", c->tr ? "conv_transpose" : "conv", i,
                  hg_error_message());
        worst = fmax(worst, r.max_abs_err);
        if (i % 4 == 1) {
            st = hg_gradcheck(run_case_twice, in, 3, &a, NULL, &r);
            CHECK_MSG(st == HG_OK, "%s case %d used twice: %s",
                      c->tr ? "conv_transpose" : "conv", i, hg_error_message());
        }
        for (int k = 0; k < 3; k++)
            hg_tensor_free(in[k]);
    }
    printf("gradcheck: %d configurations, max |analytic - numeric| %.2e\n", n, worst);
}

/* ---- conv_transpose is the adjoint of conv --------------------------------------------- */

static void test_adjoint(void)
{
    double worst = 0.0;
    for (size_t i = 0; i < sizeof grad_cases / sizeof grad_cases[0]; i++) {
        conv_case c = grad_cases[i];
        if (c.tr)
            continue;
        c.bias = 0;
        hg_conv_opts o = case_opts(&c);
        hg_ctx *ctx = hg_ctx_new();
        hg_tensor *x = case_x(&c), *w = case_w(&c);
        hg_test_fill(x, 1000 + i, -1, 1);
        hg_test_fill(w, 2000 + i, -1, 1);
        hg_tensor *y = hg_conv(ctx, x, w, NULL, &o);
        REQUIRE(y != NULL);
        hg_tensor *v = hg_tensor_like(ctx, y);
        hg_test_fill(v, 3000 + i, -1, 1);
        /* conv_transpose maps back to x's shape when output_padding restores the rows that
         * a strided conv drops. */
        for (int d = 0; d < c.nsp; d++) {
            int64_t back = (y->shape[2 + d] - 1) * c.s[d] - 2 * c.p[d] + c.d[d] * (c.k[d] - 1) + 1;
            o.output_padding[d] = (int32_t)(c.sp[d] - back);
        }
        hg_tensor *u = hg_conv_transpose(ctx, v, w, NULL, &o);
        REQUIRE(u != NULL);
        REQUIRE(hg_shape_equal(u, x));
        double lhs = dot(y->data, v->data, y->numel), rhs = dot(x->data, u->data, x->numel);
        double e = fabs(lhs - rhs) / fmax(fabs(lhs), 1e-12);
        CHECK_MSG(e <= 1e-5, "adjoint case %zu: <Cx, v> %.9g vs <x, C^T v> %.9g", i, lhs, rhs);
        worst = fmax(worst, e);
        hg_tensor_free(x);
        hg_tensor_free(w);
        hg_ctx_free(ctx);
    }
    printf("adjoint <conv x, v> = <x, conv_transpose v>: max rel err %.2e\n", worst);
}

/* ---- a problem split into column tiles, against a direct convolution ------------------- */

static void naive_conv3d(const hg_tensor *x, const hg_tensor *w, const hg_tensor *b,
                         const int *s, const int *p, const int *d, int groups, hg_tensor *y)
{
    int64_t cin_g = w->shape[1], cout_g = w->shape[0] / groups;
    const int64_t *xs = x->shape + 2, *ks = w->shape + 2, *ys = y->shape + 2;
    for (int64_t n = 0; n < y->shape[0]; n++)
        for (int64_t co = 0; co < y->shape[1]; co++)
            for (int64_t oz = 0; oz < ys[0]; oz++)
                for (int64_t oy = 0; oy < ys[1]; oy++)
                    for (int64_t ox = 0; ox < ys[2]; ox++) {
                        double acc = b ? b->data[co] : 0.0;
                        int64_t g = co / cout_g;
                        for (int64_t ci = 0; ci < cin_g; ci++)
                            for (int64_t a = 0; a < ks[0]; a++)
                                for (int64_t bb = 0; bb < ks[1]; bb++)
                                    for (int64_t cc = 0; cc < ks[2]; cc++) {
                                        int64_t iz = oz * s[0] - p[0] + a * d[0];
                                        int64_t iy = oy * s[1] - p[1] + bb * d[1];
                                        int64_t ix = ox * s[2] - p[2] + cc * d[2];
                                        if (iz < 0 || iz >= xs[0] || iy < 0 || iy >= xs[1] ||
                                            ix < 0 || ix >= xs[2])
                                            continue;
                                        int64_t xi = (((n * x->shape[1] + g * cin_g + ci) *
                                                           xs[0] + iz) * xs[1] + iy) * xs[2] + ix;
                                        int64_t wi = (((co * cin_g + ci) * ks[0] + a) * ks[1] +
                                                      bb) * ks[2] + cc;
                                        acc += (double)x->data[xi] * w->data[wi];
                                    }
                        y->data[(((n * y->shape[1] + co) * ys[0] + oz) * ys[1] + oy) * ys[2] +
                                ox] = (float)acc;
                    }
}

/* Run with OMP_NUM_THREADS=2 (ctest): several tiles per image, so the threaded paths (tiles
 * per thread, private weight-gradient sums, col2im rounds for stride 2) all run. */
static void test_tiled_against_naive(const int *s)
{
    /* 16 channels x 27 taps = 432 column rows: a ~1 MB column tile holds ~600 of the
     * 13 x 24 x 25 = 7800 output positions, so tiles start and end mid-row and mid-plane. */
    const int p[3] = {1, 0, 1}, d[3] = {1, 1, 1};
    hg_tensor *x = hg_new(NULL, 1, 32, 13, 26, 25), *w = hg_new(NULL, 6, 16, 3, 3, 3);
    hg_tensor *b = hg_new(NULL, 6);
    hg_test_fill(x, 5, -1, 1);
    hg_test_fill(w, 6, -1, 1);
    hg_test_fill(b, 7, -1, 1);
    x->requires_grad = w->requires_grad = true;
    hg_conv_opts o = {{s[0], s[1], s[2]}, {1, 0, 1}, {1, 1, 1}, {0, 0, 0}, 2};
    hg_ctx *ctx = hg_ctx_new();
    size_t before = hg_ctx_bytes_in_use(ctx);
    hg_tensor *y = hg_conv(ctx, x, w, b, &o);
    REQUIRE(y != NULL);
    /* The column scratch (~4 MB) went back to the arena: what stays is the output + node. */
    size_t kept = hg_ctx_bytes_in_use(ctx) - before;
    CHECK_MSG(kept < (size_t)y->numel * sizeof(float) + 4096, "conv kept %zu bytes", kept);
    CHECK(hg_ctx_peak_bytes(ctx) > (size_t)(1 << 20)); /* and it was tiled from scratch */
    /* Without a context the output is a heap tensor and the scratch comes from the heap. */
    hg_tensor *yh = hg_conv(NULL, x, w, b, &o);
    REQUIRE(yh != NULL && yh->ctx == NULL);
    CHECK(hg_test_rel_err(yh->data, y->data, y->numel) == 0.0);
    hg_tensor *zh = hg_conv_transpose(NULL, yh, w, NULL, &o);
    hg_tensor *z = hg_conv_transpose(ctx, yh, w, NULL, &o);
    REQUIRE(zh != NULL && z != NULL);
    CHECK(hg_test_rel_err(zh->data, z->data, z->numel) == 0.0);
    hg_tensor_free(yh);
    hg_tensor_free(zh);
    hg_tensor *ref = hg_tensor_like(NULL, y);
    naive_conv3d(x, w, b, s, p, d, 2, ref);
    double e = hg_test_rel_err(y->data, ref->data, y->numel);
    CHECK_MSG(e <= 1e-5, "tiled conv vs direct: rel err %.3g", e);

    /* Backward through the tiles, by the identities <dy, conv(x)> = <dx, x> (no bias) and
     * <dy, conv(x) - b> = <dw, w>, both exact for a bilinear op. */
    hg_tensor *gy = hg_tensor_like(NULL, y);
    hg_test_fill(gy, 8, -1, 1);
    CHECK_OK(hg_backward_seed(ctx, y, gy->data));
    const int64_t vol = y->shape[2] * y->shape[3] * y->shape[4];
    double ydot = 0.0;
    for (int64_t i = 0; i < y->numel; i++)
        ydot += (double)gy->data[i] * ((double)ref->data[i] - b->data[i / vol % 6]);
    double ex = fabs(dot(x->grad, x->data, x->numel) - ydot) / fabs(ydot);
    double ew = fabs(dot(w->grad, w->data, w->numel) - ydot) / fabs(ydot);
    CHECK_MSG(ex <= 1e-5 && ew <= 1e-5, "tiled backward identities: dx %.3g, dw %.3g", ex, ew);
    /* conv_transpose of gy (col2im when strided) is the same adjoint */
    for (int i = 0; i < 3; i++)
        o.output_padding[i] = (int32_t)(x->shape[2 + i] - ((y->shape[2 + i] - 1) * s[i] -
                                                            2 * p[i] + 3));
    hg_tensor *u = hg_conv_transpose(ctx, gy, w, NULL, &o);
    REQUIRE(u != NULL && hg_shape_equal(u, x));
    double et = fabs(dot(u->data, x->data, x->numel) - ydot) / fabs(ydot);
    CHECK_MSG(et <= 1e-5, "tiled conv_transpose adjoint identity: %.3g", et);
    printf("tiled 3-D conv stride %d,%d,%d (%lld columns): forward rel err %.2e vs direct, "
           "backward identities dx %.2e dw %.2e, transpose %.2e\n", s[0], s[1], s[2],
           (long long)vol, e, ex, ew, et);
    hg_tensor_free(ref);
    hg_tensor_free(gy);
    hg_tensor_free(x);
    hg_tensor_free(w);
    hg_tensor_free(b);
    hg_ctx_free(ctx);
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_errors(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(NULL, 1, 3, 8, 8), *w = hg_new(NULL, 4, 2, 3, 3);
    hg_tensor_set_name(x, "image");
    hg_tensor_set_name(w, "kernel");
    /* weight expects 2 channels, the image has 3: both counts named */
    CHECK_NULL_WITH(hg_conv(ctx, x, w, NULL, NULL), "expects 2 input channels");
    CHECK_NULL_WITH(hg_conv(ctx, x, w, NULL, NULL), "image has 3");
    hg_conv_opts o = {{0}, {0}, {0}, {0}, 2};
    CHECK_NULL_WITH(hg_conv(ctx, x, w, NULL, &o), "groups 2 does not divide the 3 input");
    hg_tensor *x4 = hg_new(NULL, 1, 4, 8, 8), *w3 = hg_new(NULL, 3, 2, 3, 3);
    CHECK_NULL_WITH(hg_conv(ctx, x4, w3, NULL, &o), "does not divide the 3 output channels");
    hg_conv_opts tg = {{0}, {0}, {0}, {0}, 3};
    CHECK_NULL_WITH(hg_conv_transpose(ctx, x4, w3, NULL, &tg), "groups 3 does not divide the 4");
    /* kernel larger than the padded input */
    hg_tensor *small = hg_new(NULL, 1, 2, 2, 8), *w33 = hg_new(NULL, 1, 2, 3, 3);
    CHECK_NULL_WITH(hg_conv(ctx, small, w33, NULL, NULL), "larger than the padded input 2");
    hg_conv_opts pad1 = {{0}, {1, 0}, {0}, {0}, 0};
    CHECK(hg_conv(ctx, small, w33, NULL, &pad1) != NULL); /* padding makes it fit */
    hg_conv_opts dil = {{0}, {1, 1}, {2, 2}, {0}, 0};
    CHECK_NULL_WITH(hg_conv(ctx, small, w33, NULL, &dil), "kernel extent 5");
    /* rank */
    hg_tensor *flat = hg_new(NULL, 3, 8), *w1 = hg_new(NULL, 4, 3, 3);
    CHECK_NULL_WITH(hg_conv(ctx, flat, w1, NULL, NULL), "expected 3 to 5 dimensions, got 2");
    CHECK_NULL_WITH(hg_conv(ctx, x, w1, NULL, NULL), "weight tensor rank: expected 4 dimensions");
    /* complex input */
    hg_tensor *xc = hg_new_complex(NULL, 1, 2, 8, 8);
    hg_tensor_set_name(xc, "kspace");
    CHECK_NULL_WITH(hg_conv(ctx, xc, w, NULL, NULL), "kspace must be real");
    CHECK_NULL_WITH(hg_conv_transpose(ctx, xc, w, NULL, NULL), "kspace must be real");
    /* bias, options */
    hg_tensor *x2 = hg_new(NULL, 1, 2, 8, 8), *b5 = hg_new(NULL, 5);
    CHECK_NULL_WITH(hg_conv(ctx, x2, w, b5, NULL), "expected [4], got [5]");
    hg_conv_opts neg = {{-1, 1}, {0}, {0}, {0}, 0};
    CHECK_NULL_WITH(hg_conv(ctx, x2, w, NULL, &neg), "stride[0] must be >= 1, got -1");
    hg_conv_opts npad = {{0}, {0, -2}, {0}, {0}, 0};
    CHECK_NULL_WITH(hg_conv(ctx, x2, w, NULL, &npad), "padding[1] must be >= 0");
    hg_conv_opts opad = {{0}, {0}, {0}, {1, 0}, 0};
    CHECK_NULL_WITH(hg_conv(ctx, x2, w, NULL, &opad), "conv_transpose only");
    /* transposed: channels are w.shape[0]; output_padding below stride or dilation */
    hg_tensor *wt = hg_new(NULL, 3, 2, 3, 3);
    CHECK_NULL_WITH(hg_conv_transpose(ctx, x2, wt, NULL, NULL), "expects 3 input channels");
    hg_conv_opts big_op = {{2, 2}, {0}, {0}, {2, 0}, 0};
    CHECK_NULL_WITH(hg_conv_transpose(ctx, x, wt, NULL, &big_op),
                    "output_padding[0] 2 must be smaller than stride 2");
    hg_conv_opts shrink = {{0}, {3, 3}, {0}, {0}, 0};
    hg_tensor *x1 = hg_new(NULL, 1, 3, 2, 2);
    CHECK_NULL_WITH(hg_conv_transpose(ctx, x1, wt, NULL, &shrink), "is not positive");
    /* NULL propagates */
    CHECK_NULL_WITH(hg_conv(ctx, NULL, w, NULL, NULL), "NULL");
    hg_tensor *all[] = {x, w, x4, w3, small, w33, flat, w1, xc, x2, b5, wt, x1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        hg_tensor_free(all[i]);
    hg_ctx_free(ctx);
}

int main(void)
{
    test_fixtures();
    test_gradcheck();
    test_adjoint();
    test_tiled_against_naive((const int[3]){1, 1, 1});
    test_tiled_against_naive((const int[3]){2, 1, 2});
    test_errors();
    return hg_test_finish("test_conv");
}
