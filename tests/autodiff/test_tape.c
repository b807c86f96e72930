/* The tape itself: reuse of a value in two places accumulates, untracked inputs get no
 * gradient, inference mode records nothing, and gradcheck catches a wrong backward. */
#include "test_util.h"

#include "core/internal.h"

static hg_status wrong_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    for (int64_t i = 0; i < n->in[0]->numel; i++)
        gx[i] += 1.1f * n->out->grad[i] * 2.0f * n->in[0]->data[i]; /* 10% too large */
    return HG_OK;
}

static hg_tensor *bad_square(hg_ctx *ctx, hg_tensor **in, void *user)
{
    hg_tensor *x = in[0];
    hg_tensor *out = hg_tensor_like(ctx, x);
    for (int64_t i = 0; i < x->numel; i++)
        out->data[i] = x->data[i] * x->data[i];
    hg_tape_record(ctx, "bad_square", wrong_backward, out, 1, &x);
    return out;
}

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(NULL, 3), *c = hg_new(NULL, 3);
    x->data[0] = 1, x->data[1] = 2, x->data[2] = -3;
    c->data[0] = 5, c->data[1] = 6, c->data[2] = 7;
    x->requires_grad = true;
    /* y = sum(x*x + x*c): dy/dx = 2x + c; c gets no gradient. */
    hg_tensor *y = hg_sum(ctx, hg_add(ctx, hg_mul(ctx, x, x), hg_mul(ctx, x, c)));
    REQUIRE(y);
    CHECK_OK(hg_backward(ctx, y));
    CHECK_NEAR(x->grad[0], 7, 1e-6);
    CHECK_NEAR(x->grad[1], 10, 1e-6);
    CHECK_NEAR(x->grad[2], 1, 1e-6);
    CHECK(c->grad == NULL);
    CHECK(hg_tape_length(ctx) == 4); /* mul, mul, add, sum */

    /* inference mode: nothing recorded, and backward refuses */
    hg_ctx_reset(ctx);
    hg_ctx_set_grad(ctx, false);
    y = hg_sum(ctx, hg_mul(ctx, x, x));
    CHECK(hg_tape_length(ctx) == 0);
    CHECK_FAILS(hg_backward(ctx, y), HG_ERR_STATE, "does not depend on any trainable tensor");
    hg_ctx_set_grad(ctx, true);

    /* NaN loss is refused with a clear message */
    hg_ctx_reset(ctx);
    hg_tensor *nan = hg_new(NULL, 1);
    nan->data[0] = NAN;
    nan->requires_grad = true;
    nan->name = "loss";
    CHECK_FAILS(hg_backward(ctx, hg_mul(ctx, nan, nan)), HG_ERR_NUMERIC, "is nan");

    /* gradcheck must fail on a wrong backward */
    hg_test_fill(x, 3, 0.5f, 2.0f);
    CHECK_FAILS(hg_gradcheck(bad_square, &x, 1, NULL, NULL, NULL), HG_ERR_NUMERIC, "analytic");
    hg_tensor_free(x);
    hg_tensor_free(c);
    hg_tensor_free(nan);
    hg_ctx_free(ctx);
    return hg_test_finish("test_tape");
}
