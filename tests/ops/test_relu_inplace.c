/* relu_inplace and leaky_relu_inplace: same values and gradients as relu / leaky_relu
 * (bitwise), gradient checks through them, x itself returned when nothing is recorded, leaves
 * and negative slopes refused. */
#include "test_util.h"

#include <string.h>

static hg_tensor *through_leaky(hg_ctx *ctx, hg_tensor **in, void *user)
{
    (void)user;
    return hg_leaky_relu_inplace(ctx, hg_scale(ctx, in[0], 1.5f), 0.1f);
}

/* Values and input gradient of leaky_relu_inplace against leaky_relu, bitwise, on values
 * that include zeros and signed zeros. */
static void leaky_against_reference(hg_ctx *ctx, hg_tensor *x)
{
    x->data[0] = 0.0f, x->data[1] = -0.0f;
    float g1[60], y1[60];
    for (int pass = 0; pass < 2; pass++) {
        hg_ctx_reset(ctx);
        memset(x->grad, 0, 60 * sizeof(float));
        hg_tensor *w = hg_new(ctx, 3, 4, 5);
        hg_test_fill(w, 9, -1.0f, 1.0f);
        hg_tensor *z = hg_scale(ctx, x, 1.5f);
        hg_tensor *y = pass ? hg_leaky_relu_inplace(ctx, z, 0.01f) : hg_leaky_relu(ctx, z, 0.01f);
        REQUIRE(y);
        if (pass)
            CHECK(memcmp(y->data, y1, sizeof y1) == 0);
        else
            memcpy(y1, y->data, sizeof y1);
        CHECK_OK(hg_backward(ctx, hg_sum(ctx, hg_mul(ctx, y, w))));
        if (pass)
            CHECK(memcmp(x->grad, g1, sizeof g1) == 0);
        else
            memcpy(g1, x->grad, sizeof g1);
    }
    hg_tensor *t = hg_scale(ctx, x, 1.0f);
    CHECK_NULL_WITH(hg_leaky_relu_inplace(ctx, t, -0.5f), "slope must be finite and >= 0");
}

static hg_tensor *through(hg_ctx *ctx, hg_tensor **in, void *user)
{
    (void)user; /* a copy first: the in-place op must not overwrite the checked input */
    return hg_relu_inplace(ctx, hg_scale(ctx, in[0], 1.5f));
}

int main(void)
{
    hg_tensor *x = hg_new(NULL, 3, 4, 5);
    hg_test_fill(x, 1, -1.0f, 1.0f);
    x->requires_grad = true;
    hg_gradcheck_result r;
    CHECK_OK(hg_gradcheck(through, &x, 1, NULL, NULL, &r));
    CHECK_OK(hg_gradcheck(through_leaky, &x, 1, NULL, NULL, &r));

    /* against hg_relu: forward and input gradient bitwise equal */
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *w = hg_new(ctx, 3, 4, 5);
    hg_test_fill(w, 2, -1.0f, 1.0f);
    if (x->grad)
        memset(x->grad, 0, 60 * sizeof(float));
    hg_tensor *ref = hg_relu(ctx, hg_scale(ctx, x, 1.5f));
    CHECK_OK(hg_backward(ctx, hg_sum(ctx, hg_mul(ctx, ref, w))));
    float gref[60], yref[60];
    memcpy(gref, x->grad, sizeof gref);
    memcpy(yref, ref->data, sizeof yref);
    memset(x->grad, 0, sizeof gref);
    hg_ctx_reset(ctx);
    w = hg_new(ctx, 3, 4, 5);
    hg_test_fill(w, 2, -1.0f, 1.0f);
    hg_tensor *y = hg_relu_inplace(ctx, hg_scale(ctx, x, 1.5f));
    REQUIRE(y);
    CHECK(memcmp(y->data, yref, sizeof yref) == 0);
    CHECK_OK(hg_backward(ctx, hg_sum(ctx, hg_mul(ctx, y, w))));
    CHECK(memcmp(x->grad, gref, sizeof gref) == 0);

    /* without a tape: x itself, overwritten */
    hg_ctx_reset(ctx);
    hg_ctx_set_grad(ctx, false);
    hg_tensor *t = hg_scale(ctx, x, -1.0f);
    CHECK(hg_relu_inplace(ctx, t) == t);
    float mx = 0;
    for (int i = 0; i < 60; i++)
        mx = fmaxf(mx, fabsf(t->data[i] - fmaxf(-x->data[i], 0.0f)));
    CHECK(mx == 0.0f);
    hg_ctx_set_grad(ctx, true);

    /* a leaf that wants a gradient is not overwritten */
    float before = x->data[0];
    hg_tensor_set_name(x, "x");
    CHECK_NULL_WITH(hg_relu_inplace(ctx, x), "relu_inplace: x is a leaf");
    CHECK(x->data[0] == before);
    CHECK(hg_relu_inplace(ctx, NULL) == NULL);
    leaky_against_reference(ctx, x);
    hg_ctx_free(ctx);
    hg_tensor_free(x);
    return hg_test_finish("test_relu_inplace");
}
