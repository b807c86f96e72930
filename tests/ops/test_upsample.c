/* Upsampling (nearest, linear/bilinear/trilinear; align_corners both ways; up, down and same
 * sizes): forward and input gradient against PyTorch's F.interpolate(size=...), gradient checks,
 * exact properties and errors. */
#include "poolnorm_test_common.h"

typedef struct {
    int64_t size[3];
    hg_upsample_mode mode;
    bool align;
} up_case;

static hg_tensor *run_up(hg_ctx *ctx, hg_tensor **in, void *user)
{
    const up_case *c = user;
    return hg_upsample(ctx, in[0], c->size, c->mode, c->align);
}

static int against_torch(const hg_params *p, hg_ctx *ctx)
{
    int cases = 0;
    double worst_y[2] = {0, 0}, worst_g[2] = {0, 0};
    for (int i = 0;; i++) {
        hg_tensor *x = fx(p, "upsample.%d.x", i);
        if (!x)
            break;
        const float *o = fx(p, "upsample.%d.opts", i)->data;
        int64_t size[3] = {(int64_t)o[0], (int64_t)o[1], (int64_t)o[2]};
        int mode = (int)o[3];
        hg_tensor *yref = fx(p, "upsample.%d.y", i);
        hg_ctx_reset(ctx);
        want_grad(x);
        hg_tensor *y = hg_upsample(ctx, x, size, (hg_upsample_mode)mode, o[4] != 0);
        char what[96];
        snprintf(what, sizeof what, "upsample case %d (mode %d, align %d, %dd)", i, mode,
                 (int)o[4], x->ndim - 2);
        REQUIRE(y);
        CHECK_MSG(hg_shape_equal(y, yref), "%s: shape", what);
        if (!hg_shape_equal(y, yref))
            continue;
        check_close(what, y->data, yref, 1e-4, &worst_y[mode]);
        CHECK_OK(hg_backward_seed(ctx, y, fx(p, "upsample.%d.gy", i)->data));
        check_close(what, x->grad, fx(p, "upsample.%d.gx", i), 1e-4, &worst_g[mode]);
        x->requires_grad = false;
        cases++;
    }
    printf("upsample vs torch: %d cases, max rel error nearest %.3g / %.3g, linear %.3g / %.3g "
           "(forward / gradient)\n",
           cases, worst_y[0], worst_g[0], worst_y[1], worst_g[1]);
    return cases;
}

static void gradchecks(void)
{
    static const struct {
        int nd;
        int64_t in[3], out[3];
    } t[] = {
        {1, {4}, {7}},          {1, {6}, {4}},          {1, {3}, {1}},
        {2, {3, 4}, {5, 7}},    {2, {5, 4}, {2, 8}},    {2, {3, 3}, {3, 6}},
        {3, {2, 3, 2}, {3, 5, 4}}, {3, {3, 2, 4}, {2, 4, 3}},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        for (int m = 0; m < 3; m++) {
            int64_t shape[5] = {2, 2, t[i].in[0], t[i].in[1], t[i].in[2]};
            hg_tensor *x = hg_tensor_new(NULL, HG_F32, 2 + t[i].nd, shape);
            hg_test_fill(x, 40 + i, -1, 1);
            x->requires_grad = true;
            up_case c = {.mode = m ? HG_UPSAMPLE_LINEAR : HG_UPSAMPLE_NEAREST, .align = m == 2};
            memcpy(c.size, t[i].out, sizeof c.size);
            CHECK_MSG(hg_gradcheck(run_up, &x, 1, &c, NULL, NULL) == HG_OK, "row %zu mode %d: %s",
                      i, m, hg_error_message());
            n++;
            hg_tensor_free(x);
        }
    printf("upsample gradchecks: %d\n", n);
}

/* Properties that hold exactly: align_corners keeps the corner samples; resampling a linear
 * ramp linearly gives the ramp at the new positions; same size is the identity. */
static void properties(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 1, 1, 5);
    for (int i = 0; i < 5; i++)
        x->data[i] = (float)i;
    hg_tensor *y = hg_upsample(ctx, x, (int64_t[]){9}, HG_UPSAMPLE_LINEAR, true);
    REQUIRE(y);
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(y->data[i], 0.5 * i, 1e-6);
    y = hg_upsample(ctx, x, (int64_t[]){10}, HG_UPSAMPLE_LINEAR, false);
    REQUIRE(y);
    /* src = (i + 0.5) / 2 - 0.5, clamped to [0, 4] */
    for (int i = 0; i < 10; i++) {
        double s = (i + 0.5) / 2 - 0.5;
        CHECK_NEAR(y->data[i], s < 0 ? 0 : (s > 4 ? 4 : s), 1e-6);
    }
    y = hg_upsample(ctx, x, (int64_t[]){10}, HG_UPSAMPLE_NEAREST, false);
    REQUIRE(y);
    for (int i = 0; i < 10; i++)
        CHECK(y->data[i] == (float)(i / 2));
    hg_tensor *img = hg_new(NULL, 2, 3, 4, 5);
    hg_test_fill(img, 5, -1, 1);
    for (int m = 0; m < 2; m++) {
        y = hg_upsample(ctx, img, (int64_t[]){4, 5}, (hg_upsample_mode)m, false);
        REQUIRE(y);
        CHECK(memcmp(y->data, img->data, sizeof(float) * (size_t)img->numel) == 0);
    }
    hg_tensor_free(x);
    hg_tensor_free(img);
}

static void errors(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 1, 2, 3, 3);
    hg_tensor_set_name(x, "img");
    CHECK_NULL_WITH(hg_upsample(ctx, x, (int64_t[]){0, 4}, HG_UPSAMPLE_LINEAR, false),
                    "upsample of img [1, 2, 3, 3]: spatial dimension 0: output size must be >= 1");
    CHECK_NULL_WITH(hg_upsample(ctx, x, NULL, HG_UPSAMPLE_LINEAR, false), "out_size is NULL");
    CHECK_NULL_WITH(hg_upsample(ctx, x, (int64_t[]){4, 4}, (hg_upsample_mode)7, false),
                    "unknown mode 7");
    hg_tensor *v = hg_new(NULL, 6);
    hg_tensor_set_name(v, "vec");
    CHECK_NULL_WITH(hg_upsample(ctx, v, (int64_t[]){4}, HG_UPSAMPLE_NEAREST, false),
                    "vec rank: expected 3 to 5 dimensions, got 1");
    CHECK_NULL_WITH(hg_upsample(NULL, x, (int64_t[]){4, 4}, HG_UPSAMPLE_NEAREST, false),
                    "upsample: NULL context");
    CHECK_NULL_WITH(hg_upsample(ctx, NULL, (int64_t[]){4}, HG_UPSAMPLE_NEAREST, false), "NULL");
    hg_tensor_free(x);
    hg_tensor_free(v);
}

int main(void)
{
    hg_params p;
    hg_test_load_fixture(POOLNORM_FIXTURE, &p);
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx);
    CHECK(against_torch(&p, ctx) >= 39);
    gradchecks();
    properties(ctx);
    errors(ctx);
    hg_ctx_free(ctx);
    hg_params_free(&p);
    return hg_test_finish("test_upsample");
}
