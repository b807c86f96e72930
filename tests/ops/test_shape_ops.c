/* Shape ops (slice, split, concat, permute, pad, complex <-> channels) and the reductions along
 * one dim: values and gradients against PyTorch, finite differences, round trips, errors. */
#include "actloss_fixture.h"
#include "gradcheck_table.h"

static hg_tensor *f_sum1(hg_ctx *c, hg_tensor **x) { return hg_sum_dim(c, x[0], 1, false); }
static hg_tensor *f_sum0k(hg_ctx *c, hg_tensor **x) { return hg_sum_dim(c, x[0], 0, true); }
static hg_tensor *f_meanlk(hg_ctx *c, hg_tensor **x) { return hg_mean_dim(c, x[0], -1, true); }
static hg_tensor *f_mean2(hg_ctx *c, hg_tensor **x) { return hg_mean_dim(c, x[0], 2, false); }
static hg_tensor *f_slice(hg_ctx *c, hg_tensor **x) { return hg_slice(c, x[0], 2, 1, 3); }
static hg_tensor *f_concat(hg_ctx *c, hg_tensor **x) { return hg_concat(c, x, 3, 1); }
static hg_tensor *f_permute(hg_ctx *c, hg_tensor **x)
{
    return hg_permute(c, x[0], (const int32_t[]){0, 2, 3, 1});
}
static hg_tensor *f_permute_rev(hg_ctx *c, hg_tensor **x)
{
    return hg_permute(c, x[0], (const int32_t[]){3, 2, 1, 0});
}
static hg_tensor *f_pad2d(hg_ctx *c, hg_tensor **x)
{
    /* torch F.pad(x, (2, 0, 1, 3)): W gets 2 before, H 1 before and 3 after. */
    return hg_pad(c, x[0], (const int32_t[]){1, 2}, (const int32_t[]){3, 0}, 0.5f);
}
static hg_tensor *f_pad3d(hg_ctx *c, hg_tensor **x)
{
    /* F.pad(x, (1, 1, 2, 0, 1, 3)): W 1/1, H 2/0, D 1/3. */
    return hg_pad(c, x[0], (const int32_t[]){1, 2, 1}, (const int32_t[]){3, 0, 1}, 0.0f);
}
static hg_tensor *f_c2ch(hg_ctx *c, hg_tensor **x) { return hg_complex_to_channels(c, x[0]); }
static hg_tensor *f_ch2c(hg_ctx *c, hg_tensor **x) { return hg_channels_to_complex(c, x[0]); }

#define GC_WRAP(name, expr)                                                                    \
    static hg_tensor *name(hg_ctx *c, hg_tensor **x, void *u)                                  \
    {                                                                                          \
        (void)u;                                                                               \
        return expr;                                                                           \
    }
GC_WRAP(g_sum_dim, hg_sum_dim(c, x[0], *(const int *)u, false))
GC_WRAP(g_sum_dim_keep, hg_sum_dim(c, x[0], *(const int *)u, true))
GC_WRAP(g_mean_dim, hg_mean_dim(c, x[0], *(const int *)u, false))
GC_WRAP(g_slice, hg_slice(c, x[0], 1, -3, -1))
GC_WRAP(g_concat2, hg_concat(c, x, 2, -1))
GC_WRAP(g_permute, hg_permute(c, x[0], (const int32_t[]){2, 0, 3, 1}))
GC_WRAP(g_pad, hg_pad(c, x[0], (const int32_t[]){2, 0}, (const int32_t[]){1, 3}, -1.0f))
GC_WRAP(g_pad3d, hg_pad(c, x[0], (const int32_t[]){1, 2, 1}, (const int32_t[]){2, 0, 1}, 0.0f))
GC_WRAP(g_c2ch, hg_complex_to_channels(c, x[0]))
GC_WRAP(g_ch2c, hg_channels_to_complex(c, x[0]))

/* split into three parts, weighted differently so each part's gradient path is visible. */
static hg_tensor *g_split(hg_ctx *c, hg_tensor **x, void *u)
{
    (void)u;
    hg_tensor *parts[3];
    if (hg_split(c, x[0], 1, 3, (const int64_t[]){1, 3, 2}, parts) != HG_OK)
        return NULL;
    hg_tensor *a = hg_sum_dim(c, hg_scale(c, parts[0], 2.0f), 1, false);
    hg_tensor *b = hg_sum_dim(c, hg_square(c, parts[1]), 1, false);
    hg_tensor *d = hg_sum_dim(c, hg_neg(c, parts[2]), 1, false);
    return hg_add(c, hg_add(c, a, b), d);
}

/* concat of eight inputs: more than a tape node holds (HG_MAX_INPUTS). Inputs 0..3 are the
 * checked ones; each is used twice. */
static hg_tensor *g_concat8(hg_ctx *c, hg_tensor **x, void *u)
{
    (void)u;
    hg_tensor *xs[8] = {x[0], x[1], x[2], x[3], x[3], x[2], x[1], hg_square(c, x[0])};
    return hg_concat(c, xs, 8, 0);
}

static void fixtures(void)
{
    hg_params p;
    hg_test_load_fixture(FX_FILE, &p);
    const double exact = 1e-7, red = 1e-4;
    const fx_case cases[] = {
        {"sum_dim1", 1, f_sum1, 1, 0, red},
        {"sum_dim0_keep", 1, f_sum0k, 1, 0, red},
        {"mean_last_keep", 1, f_meanlk, 1, 0, red},
        {"mean_dim2", 1, f_mean2, 1, 0, red},
        {"slice", 1, f_slice, 1, 0, exact},
        {"concat", 3, f_concat, 7, 0, exact},
        {"permute", 1, f_permute, 1, 0, exact},
        {"permute_rev", 1, f_permute_rev, 1, 0, exact},
        {"pad2d", 1, f_pad2d, 1, 0, exact},
        {"pad3d", 1, f_pad3d, 1, 0, exact},
        {"complex_to_channels", 1, f_c2ch, 1, 1, exact},
        {"channels_to_complex", 1, f_ch2c, 1, 0, exact},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        fx_run(&p, &cases[i]);
    printf("vs PyTorch: worst output error %.3g, worst gradient error %.3g\n", fx_worst_out,
           fx_worst_grad);
    hg_params_free(&p);
}

static void gradchecks(void)
{
    static const int d0 = 0, d1 = 1, d_last = -1, d2 = 2;
    gc_input x4 = GC_IN(4, -2, 2, 2, 3, 4, 3), x3 = GC_IN(3, -1, 1, 2, 6, 3);
    gc_input x5 = GC_IN(5, -1, 1, 1, 2, 2, 3, 2);
    gc_input c4 = GC_IN(4, -1, 1, 2, 3, 2, 2);
    c4.complex = true;
    gc_input r4 = GC_IN(4, -1, 1, 2, 6, 2, 2);
    gc_input c3 = x3;
    c3.complex = true;
    gc_input a = GC_IN(2, -1, 1, 2, 3), b = GC_IN(2, -1, 1, 2, 5);
    gc_input e0 = GC_IN(2, -1, 1, 1, 3), e1 = GC_IN(2, -1, 1, 2, 3), e2 = GC_IN(2, -1, 1, 3, 3);
    gc_input e3 = GC_IN(2, -1, 1, 1, 3);
    const gc_case cases[] = {
        {"sum_dim 0", g_sum_dim, 1, {x4}, &d0},
        {"sum_dim -1", g_sum_dim, 1, {x4}, &d_last},
        {"sum_dim keepdim", g_sum_dim_keep, 1, {x4}, &d2},
        {"sum_dim complex", g_sum_dim, 1, {c3}, &d1},
        {"mean_dim 1", g_mean_dim, 1, {x4}, &d1},
        {"slice negative bounds", g_slice, 1, {x3}, NULL},
        {"slice complex", g_slice, 1, {c3}, NULL},
        {"split", g_split, 1, {x3}, NULL},
        {"concat last dim", g_concat2, 2, {a, b}, NULL},
        {"concat 8 inputs", g_concat8, 4, {e0, e1, e2, e3}, NULL},
        {"permute", g_permute, 1, {x4}, NULL},
        {"permute complex", g_permute, 1, {c4}, NULL},
        {"pad", g_pad, 1, {x4}, NULL},
        {"pad complex", g_pad, 1, {c4}, NULL},
        {"pad 3-D", g_pad3d, 1, {x5}, NULL},
        {"complex_to_channels", g_c2ch, 1, {c4}, NULL},
        {"channels_to_complex", g_ch2c, 1, {r4}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        gc_run(&cases[i], 200 + i);
}

/* Inverse pairs give back their input exactly. */
static void round_trips(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *z = hg_new_complex(ctx, 2, 3, 4, 5);
    hg_test_fill(z, 5, -1, 1);
    hg_tensor *back = hg_channels_to_complex(ctx, hg_complex_to_channels(ctx, z));
    REQUIRE(back);
    CHECK(back->dtype == HG_C64 && hg_shape_equal(back, z));
    CHECK(memcmp(back->data, z->data, sizeof(float) * 2 * 120) == 0);
    hg_tensor *x = hg_new(ctx, 2, 3, 4, 5);
    hg_test_fill(x, 6, -1, 1);
    hg_tensor *p = hg_permute(ctx, hg_permute(ctx, x, (const int32_t[]){3, 0, 2, 1}),
                              (const int32_t[]){1, 3, 2, 0});
    REQUIRE(p);
    CHECK(hg_shape_equal(p, x) && memcmp(p->data, x->data, sizeof(float) * 120) == 0);
    hg_tensor *parts[2];
    CHECK_OK(hg_split(ctx, x, 2, 2, (const int64_t[]){1, 3}, parts));
    hg_tensor *j = hg_concat(ctx, parts, 2, 2);
    REQUIRE(j);
    CHECK(memcmp(j->data, x->data, sizeof(float) * 120) == 0);
    hg_tensor *s = hg_sum_dim(ctx, hg_new(ctx, 4), 0, false);
    CHECK(s && s->ndim == 1 && s->shape[0] == 1); /* a 1-D tensor reduces to [1] */
    hg_tensor *e = hg_slice(ctx, x, 1, 2, 2);
    CHECK(e && e->shape[1] == 0 && e->numel == 0);
    hg_ctx_free(ctx);
}

static void errors(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(ctx, 2, 3, 4, 5);
    x->name = "volume";
    CHECK_NULL_WITH(hg_slice(ctx, x, 1, 1, 5),
                    "slice of volume [2, 3, 4, 5]: range [1, 5) outside dim 1 of size 3");
    CHECK_NULL_WITH(hg_sum_dim(ctx, x, 4, false), "sum_dim: dim 4 out of range for volume");
    CHECK_NULL_WITH(hg_permute(ctx, x, (const int32_t[]){0, 1, 1, 3}),
                    "permute of volume: perm[2] = 1 is not a new dim");
    hg_tensor *y = hg_new(ctx, 2, 4, 4, 5);
    y->name = "other";
    hg_tensor *pair[2] = {x, y};
    CHECK_NULL_WITH(hg_concat(ctx, pair, 2, 2),
                    "concat along dim 2: input 1 other [2, 4, 4, 5] does not match input 0 "
                    "volume [2, 3, 4, 5]");
    CHECK(hg_concat(ctx, pair, 2, 1) != NULL);
    hg_tensor *parts[2];
    CHECK_FAILS(hg_split(ctx, x, 3, 2, (const int64_t[]){2, 2}, parts), HG_ERR_INVALID,
                "split of volume: part sizes add up to 4, expected dim 3's size 5");
    CHECK_NULL_WITH(hg_pad(ctx, x, (const int32_t[]){1, -1}, (const int32_t[]){0, 0}, 0),
                    "pad of volume: spatial dim 1: padding must be >= 0");
    CHECK_NULL_WITH(hg_pad(ctx, hg_new(ctx, 5, 5), (const int32_t[]){1}, (const int32_t[]){1}, 0),
                    "pad: tensor rank: expected 3 to 5 dimensions, got 2");
    CHECK_NULL_WITH(hg_complex_to_channels(ctx, x), "complex_to_channels: volume must be complex");
    CHECK_NULL_WITH(hg_channels_to_complex(ctx, x),
                    "channels_to_complex: volume [2, 3, 4, 5]: expected an even number of "
                    "channels, got 3");
    hg_ctx_free(ctx);
}

int main(void)
{
    fixtures();
    gradchecks();
    round_trips();
    errors();
    return hg_test_finish("test_shape_ops");
}
