/* Gradient checks of the elementwise, reduction and reshape ops, including broadcasting. */
#include "test_util.h"

typedef hg_tensor *(*binary_fn)(hg_ctx *, hg_tensor *, hg_tensor *);

static hg_tensor *run_binary(hg_ctx *ctx, hg_tensor **in, void *user)
{
    binary_fn f = *(binary_fn *)user;
    return f(ctx, in[0], in[1]);
}

static hg_tensor *run_sum_of_reshape(hg_ctx *ctx, hg_tensor **in, void *user)
{
    hg_tensor *r = hg_reshape(ctx, in[0], HG_SHAPE(-1, 3));
    hg_tensor *sq = hg_mul(ctx, r, r);
    return *(int *)user ? hg_mean(ctx, sq) : hg_sum(ctx, sq);
}

int main(void)
{
    static const struct {
        int64_t a[4];
        int na;
        int64_t b[4];
        int nb;
    } shapes[] = {
        {{2, 3, 4}, 3, {2, 3, 4}, 3}, {{2, 3, 4}, 3, {4}, 1},       {{2, 1, 4}, 3, {3, 1}, 2},
        {{5}, 1, {1}, 1},             {{2, 3, 1, 5}, 4, {3, 4, 1}, 3},
    };
    binary_fn fns[] = {hg_add, hg_sub, hg_mul, hg_div};
    const char *names[] = {"add", "sub", "mul", "div"};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int f = 0; f < 4; f++) {
            hg_tensor *a = hg_tensor_new(NULL, HG_F32, shapes[s].na, shapes[s].a);
            hg_tensor *b = hg_tensor_new(NULL, HG_F32, shapes[s].nb, shapes[s].b);
            hg_test_fill(a, 1 + s, -2, 2);
            hg_test_fill(b, 100 + s, 0.5f, 2); /* away from zero for div */
            a->requires_grad = b->requires_grad = true;
            hg_tensor *in[2] = {a, b};
            hg_gradcheck_result r;
            hg_status st = hg_gradcheck(run_binary, in, 2, &fns[f], NULL, &r);
            CHECK_MSG(st == HG_OK, "%s shapes #%zu: %s", names[f], s, hg_error_message());
            hg_tensor_free(a);
            hg_tensor_free(b);
        }
    }
    for (int mean = 0; mean < 2; mean++) {
        hg_tensor *x = hg_new(NULL, 4, 6);
        hg_test_fill(x, 9, -1, 1);
        x->requires_grad = true;
        CHECK_OK(hg_gradcheck(run_sum_of_reshape, &x, 1, &mean, NULL, NULL));
        hg_tensor_free(x);
    }
    /* A broken gradient must be caught: perturb the check by using a wrong function. */
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *a = hg_new(NULL, 3), *b = hg_new(NULL, 4);
    a->name = "lhs";
    b->name = "rhs";
    CHECK_NULL_WITH(hg_add(ctx, a, b), "do not broadcast");
    CHECK_NULL_WITH(hg_add(ctx, NULL, b), "NULL");
    hg_tensor_free(a);
    hg_tensor_free(b);
    hg_ctx_free(ctx);
    return hg_test_finish("test_gradcheck_basic");
}
