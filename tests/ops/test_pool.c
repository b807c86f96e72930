/* Max, average and global average pooling: forward values and input gradients against
 * PyTorch (fixture cases carry their own options), finite-difference gradient checks over a
 * table of shapes and options, and the error paths. */
#include "poolnorm_test_common.h"

typedef struct {
    bool max;
    hg_pool_opts o;
} pool_case;

static hg_tensor *run_pool(hg_ctx *ctx, hg_tensor **in, void *user)
{
    const pool_case *c = user;
    return c->max ? hg_max_pool(ctx, in[0], &c->o) : hg_avg_pool(ctx, in[0], &c->o);
}

static hg_tensor *run_gap(hg_ctx *ctx, hg_tensor **in, void *user)
{
    (void)user;
    return hg_global_avg_pool(ctx, in[0]);
}

static hg_pool_opts opts_from(const hg_tensor *v)
{
    hg_pool_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < 3; i++) {
        o.kernel[i] = (int32_t)v->data[i];
        o.stride[i] = (int32_t)v->data[3 + i];
        o.padding[i] = (int32_t)v->data[6 + i];
    }
    o.ceil_mode = v->data[9] != 0;
    o.count_include_pad = v->data[10] != 0;
    return o;
}

/* Forward output and the input gradient for the fixture's seeded output gradient. */
static int against_torch(const hg_params *p, hg_ctx *ctx)
{
    int cases = 0;
    double worst_y = 0, worst_g = 0;
    for (int max = 1; max >= 0; max--) {
        const char *name = max ? "maxpool" : "avgpool";
        for (int i = 0;; i++) {
            hg_tensor *x = fx(p, "%s.%d.x", name, i);
            if (!x)
                break;
            hg_pool_opts o = opts_from(fx(p, "%s.%d.opts", name, i));
            hg_tensor *yref = fx(p, "%s.%d.y", name, i), *gy = fx(p, "%s.%d.gy", name, i);
            hg_tensor *gxref = fx(p, "%s.%d.gx", name, i);
            hg_ctx_reset(ctx);
            want_grad(x);
            hg_tensor *y = max ? hg_max_pool(ctx, x, &o) : hg_avg_pool(ctx, x, &o);
            char what[64];
            snprintf(what, sizeof what, "%s case %d", name, i);
            REQUIRE(y);
            CHECK_MSG(hg_shape_equal(y, yref), "%s: output shape", what);
            if (!hg_shape_equal(y, yref))
                continue;
            check_close(what, y->data, yref, 1e-5, &worst_y);
            CHECK_OK(hg_backward_seed(ctx, y, gy->data));
            check_close(what, x->grad, gxref, 1e-5, &worst_g);
            x->requires_grad = false;
            cases++;
        }
    }
    for (int i = 0;; i++) {
        hg_tensor *x = fx(p, "gap.%d.x", i);
        if (!x)
            break;
        hg_ctx_reset(ctx);
        want_grad(x);
        hg_tensor *y = hg_global_avg_pool(ctx, x);
        REQUIRE(y);
        CHECK(hg_shape_equal(y, fx(p, "gap.%d.y", i)));
        check_close("global_avg_pool", y->data, fx(p, "gap.%d.y", i), 1e-5, &worst_y);
        CHECK_OK(hg_backward_seed(ctx, y, fx(p, "gap.%d.gy", i)->data));
        check_close("global_avg_pool grad", x->grad, fx(p, "gap.%d.gx", i), 1e-5, &worst_g);
        x->requires_grad = false;
        cases++;
    }
    printf("pool vs torch: %d cases, max rel error forward %.3g, gradient %.3g\n", cases, worst_y,
           worst_g);
    return cases;
}

static void gradchecks(void)
{
    static const struct {
        int nd;
        int64_t s[3];
        int32_t k[3], st[3], pad[3];
        bool ceil;
    } t[] = {
        {1, {9}, {3}, {2}, {1}, false},
        {1, {10}, {4}, {3}, {2}, true},
        {1, {5}, {2}, {2}, {1}, true},
        {2, {5, 6}, {2, 3}, {1, 2}, {1, 1}, false},
        {2, {7, 5}, {3, 3}, {2, 2}, {1, 0}, true},
        {2, {4, 4}, {4, 4}, {0, 0}, {0, 0}, false},
        {3, {3, 4, 5}, {2, 2, 3}, {1, 2, 2}, {1, 0, 1}, true},
        {3, {4, 3, 3}, {3, 2, 2}, {1, 1, 1}, {0, 1, 0}, false},
    };
    hg_gradcheck_opts go = {.eps = 1e-3, .rtol = 1e-2, .atol = 1e-3};
    int n = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        for (int kind = 0; kind < 3; kind++) { /* max, avg with and without padding counted */
            int64_t shape[5] = {2, 2, t[i].s[0], t[i].s[1], t[i].s[2]};
            hg_tensor *x = hg_tensor_new(NULL, HG_F32, 2 + t[i].nd, shape);
            fill_distinct(x, 10 + i, 0.05f);
            x->requires_grad = true;
            pool_case c = {.max = kind == 0};
            memcpy(c.o.kernel, t[i].k, sizeof c.o.kernel);
            memcpy(c.o.stride, t[i].st, sizeof c.o.stride);
            memcpy(c.o.padding, t[i].pad, sizeof c.o.padding);
            c.o.ceil_mode = t[i].ceil;
            c.o.count_include_pad = kind == 1;
            hg_gradcheck_result r;
            hg_status s = hg_gradcheck(run_pool, &x, 1, &c, &go, &r);
            CHECK_MSG(s == HG_OK, "gradcheck %s row %zu: %s", kind ? "avg_pool" : "max_pool", i,
                      hg_error_message());
            n++;
            hg_tensor_free(x);
        }
    for (int nd = 1; nd <= 3; nd++) {
        int64_t shape[5] = {2, 3, 3, 4, 2};
        hg_tensor *x = hg_tensor_new(NULL, HG_F32, 2 + nd, shape);
        hg_test_fill(x, 77 + nd, -1, 1);
        x->requires_grad = true;
        CHECK_OK(hg_gradcheck(run_gap, &x, 1, NULL, NULL, NULL));
        n++;
        hg_tensor_free(x);
    }
    printf("pool gradchecks: %d\n", n);
}

/* Hand-checkable values: a 4x4 ramp pooled 2x2, and ceil mode's dropped window. */
static void small_values(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 1, 1, 4, 4);
    for (int i = 0; i < 16; i++)
        x->data[i] = (float)i;
    hg_pool_opts o = {.kernel = {2, 2}};
    hg_tensor *m = hg_max_pool(ctx, x, &o), *a = hg_avg_pool(ctx, x, &o);
    REQUIRE(m && a);
    CHECK(m->ndim == 4 && m->shape[2] == 2 && m->shape[3] == 2);
    CHECK(m->data[0] == 5 && m->data[1] == 7 && m->data[2] == 13 && m->data[3] == 15);
    CHECK(a->data[0] == 2.5f && a->data[3] == 12.5f);
    /* 1-D, length 5, kernel 2, stride 2, padding 1, ceil: windows start at -1, 1, 3 (a 4th
     * would start at 5, inside the right padding, and is dropped). */
    hg_tensor *v = hg_new(NULL, 1, 1, 5);
    for (int i = 0; i < 5; i++)
        v->data[i] = (float)(i + 1);
    hg_pool_opts c = {.kernel = {2}, .stride = {2}, .padding = {1}, .ceil_mode = true};
    hg_tensor *mv = hg_max_pool(ctx, v, &c);
    REQUIRE(mv);
    CHECK(mv->shape[2] == 3 && mv->data[0] == 1 && mv->data[1] == 3 && mv->data[2] == 5);
    c.count_include_pad = true;
    hg_tensor *av = hg_avg_pool(ctx, v, &c);
    REQUIRE(av);
    CHECK(av->data[0] == 0.5f && av->data[1] == 2.5f && av->data[2] == 4.5f);
    c.count_include_pad = false;
    av = hg_avg_pool(ctx, v, &c);
    REQUIRE(av);
    CHECK(av->data[0] == 1.0f && av->data[2] == 4.5f);
    /* A NaN in a window wins (PyTorch), and its gradient goes there. */
    v->data[3] = NAN;
    v->requires_grad = true;
    hg_ctx_reset(ctx);
    hg_pool_opts k2 = {.kernel = {2}};
    hg_tensor *mn = hg_max_pool(ctx, v, &k2);
    REQUIRE(mn);
    CHECK(mn->data[0] == 2 && isnan(mn->data[1]));
    CHECK_OK(hg_backward_seed(ctx, mn, (float[]){1, 1}));
    CHECK(v->grad && v->grad[1] == 1 && v->grad[3] == 1 && v->grad[2] == 0);
    hg_tensor_free(x);
    hg_tensor_free(v);
}

static void errors(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 1, 2, 3, 3);
    hg_tensor_set_name(x, "feat");
    hg_pool_opts big = {.kernel = {5, 2}};
    CHECK_NULL_WITH(hg_max_pool(ctx, x, &big), "kernel 5 larger than the padded input 3");
    CHECK_NULL_WITH(hg_avg_pool(ctx, x, &big), "avg_pool of feat");
    hg_pool_opts pad = {.kernel = {2, 2}, .padding = {0, 2}};
    CHECK_NULL_WITH(hg_max_pool(ctx, x, &pad), "padding of spatial dimension 1 must be in [0, 1]");
    hg_pool_opts zero = {.kernel = {2, 0}};
    CHECK_NULL_WITH(hg_avg_pool(ctx, x, &zero), "kernel size of spatial dimension 1 must be >= 1");
    hg_pool_opts neg = {.kernel = {2, 2}, .stride = {-1, 1}};
    CHECK_NULL_WITH(hg_max_pool(ctx, x, &neg), "stride");
    CHECK_NULL_WITH(hg_max_pool(ctx, x, NULL), "options are NULL");
    CHECK_NULL_WITH(hg_max_pool(ctx, NULL, &pad), "NULL");
    hg_tensor *flat = hg_new(NULL, 4, 4);
    hg_tensor_set_name(flat, "flat");
    hg_pool_opts ok = {.kernel = {2}};
    CHECK_NULL_WITH(hg_max_pool(ctx, flat, &ok), "flat rank: expected 3 to 5 dimensions, got 2");
    CHECK_NULL_WITH(hg_global_avg_pool(ctx, flat), "global_avg_pool: flat rank");
    hg_tensor *z = hg_new_complex(NULL, 1, 1, 4);
    CHECK_NULL_WITH(hg_avg_pool(ctx, z, &ok), "must be real");
    hg_tensor_free(x);
    hg_tensor_free(flat);
    hg_tensor_free(z);
}

/* The 2-wide stride-2 fast path (the U-Nets' pooling) against a brute-force window scan, on
 * values with many ties and a few NaNs: the value, and the gradient's target (the first
 * maximum in window order, or the first NaN). 2-D and 3-D. */
static void pool2_vs_brute_force(hg_ctx *ctx)
{
    for (int nd = 2; nd <= 3; nd++) {
        int64_t shape[5] = {2, 3, nd == 3 ? 4 : 6, 6, 8};
        hg_tensor *x = hg_tensor_new(NULL, HG_F32, 2 + nd, shape);
        REQUIRE(x);
        hg_test_fill(x, 31 + nd, 0, 4);
        for (int64_t i = 0; i < x->numel; i++)
            x->data[i] = i % 37 == 5 ? NAN : floorf(x->data[i]); /* ties: 4 levels */
        x->requires_grad = true;
        hg_ctx_reset(ctx);
        hg_pool_opts two = {.kernel = {2, 2, 2}};
        hg_tensor *y = hg_max_pool(ctx, x, &two);
        REQUIRE(y);
        float *seed = calloc((size_t)y->numel, sizeof *seed);
        for (int64_t i = 0; i < y->numel; i++)
            seed[i] = (float)(i + 1);
        CHECK_OK(hg_backward_seed(ctx, y, seed));
        float *expect = calloc((size_t)x->numel, sizeof *expect);
        int64_t D = nd == 3 ? shape[2] : 1, H = shape[nd], W = shape[nd + 1];
        int64_t kd = nd == 3 ? 2 : 1, oD = D / kd, oH = H / 2, oW = W / 2, o = 0, bad = 0;
        for (int64_t pl = 0; pl < shape[0] * shape[1]; pl++)
            for (int64_t od = 0; od < oD; od++)
                for (int64_t oh = 0; oh < oH; oh++)
                    for (int64_t ow = 0; ow < oW; ow++, o++) {
                        int64_t at = -1;
                        float best = 0;
                        for (int64_t d = od * kd; d < od * kd + kd; d++)
                            for (int64_t h = 2 * oh; h < 2 * oh + 2; h++)
                                for (int64_t w = 2 * ow; w < 2 * ow + 2; w++) {
                                    int64_t i = pl * D * H * W + (d * H + h) * W + w;
                                    float v = x->data[i];
                                    if (at < 0 || (!isnan(best) && (v > best || isnan(v))))
                                        at = i, best = v;
                                }
                        bad += isnan(best) ? !isnan(y->data[o]) : y->data[o] != best;
                        expect[at] += seed[o];
                    }
        CHECK(o == y->numel);
        CHECK_MSG(bad == 0, "%d-D pool2: %lld values differ from the brute-force scan", nd,
                  (long long)bad);
        CHECK(memcmp(expect, x->grad, (size_t)x->numel * sizeof(float)) == 0);
        free(seed);
        free(expect);
        hg_tensor_free(x);
    }
}

int main(void)
{
    hg_params p;
    hg_test_load_fixture(POOLNORM_FIXTURE, &p);
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx);
    CHECK(against_torch(&p, ctx) >= 29);
    small_values(ctx);
    pool2_vs_brute_force(ctx);
    gradchecks();
    errors(ctx);
    hg_ctx_free(ctx);
    hg_params_free(&p);
    return hg_test_finish("test_pool");
}
