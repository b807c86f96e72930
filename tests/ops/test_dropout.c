/* Dropout: identity in eval mode and for p = 0; in training, keep rate, inverted scaling,
 * masks independent of the thread count and reproducible from the rng state, gradient equal to
 * the mask times 1/(1-p), and the error paths. */
#include "poolnorm_test_common.h"

static hg_tensor *run_dropout(hg_ctx *ctx, hg_tensor **in, void *user)
{
    hg_rng r = *(const hg_rng *)user; /* the same mask on every call of the check */
    return hg_dropout(ctx, in[0], 0.4f, &r);
}

static void eval_identity(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 3, 5);
    hg_test_fill(x, 1, -1, 1);
    x->requires_grad = true;
    hg_rng r = hg_rng_new(7);
    hg_ctx_reset(ctx);
    hg_ctx_set_training(ctx, false);
    hg_tensor *y = hg_dropout(ctx, x, 0.5f, &r);
    REQUIRE(y);
    CHECK(y->data == x->data && hg_shape_equal(x, y)); /* a view, no copy */
    CHECK(r.counter == 0);
    float seed[15];
    for (int i = 0; i < 15; i++)
        seed[i] = (float)i;
    CHECK_OK(hg_backward_seed(ctx, y, seed));
    CHECK(x->grad && x->grad[14] == 14.0f && x->grad[3] == 3.0f);
    hg_ctx_set_training(ctx, true);
    hg_ctx_reset(ctx);
    y = hg_dropout(ctx, x, 0.0f, NULL); /* p = 0 needs no randomness */
    REQUIRE(y);
    CHECK(y->data == x->data);
    hg_tensor_free(x);
}

/* Keep rate, scaling, gradient, and the thread-count independence of the mask. */
static void training(hg_ctx *ctx)
{
    const int64_t n = 100003; /* not a multiple of 4, and large enough to run in parallel */
    const float p = 0.3f;
    hg_tensor *x = hg_new(NULL, 1, 7, n);
    hg_test_fill(x, 2, 0.5f, 1.5f); /* non-zero, so a zero output means dropped */
    x->requires_grad = true;
    float *masks[3];
    int threads[3] = {1, 2, 3};
    for (int t = 0; t < 3; t++) {
        hg_set_threads(threads[t]);
        hg_ctx_reset(ctx);
        hg_rng r = hg_rng_new(99);
        r.counter = 12345;
        hg_tensor *y = hg_dropout(ctx, x, p, &r);
        REQUIRE(y);
        CHECK(r.counter == 12345 + (uint64_t)((7 * n + 3) / 4));
        masks[t] = malloc(sizeof(float) * (size_t)x->numel);
        memcpy(masks[t], y->data, sizeof(float) * (size_t)x->numel);
        if (t)
            continue;
        int64_t kept = 0, bad_scale = 0;
        float scale = 1.0f / (1.0f - p);
        for (int64_t i = 0; i < x->numel; i++)
            if (y->data[i] != 0.0f) {
                kept++;
                bad_scale += y->data[i] != x->data[i] * scale;
            }
        double rate = (double)kept / (double)x->numel;
        double sigma = sqrt(p * (1 - p) / (double)x->numel);
        printf("dropout p=%.1f: kept %.5f (expected %.5f +- %.5f)\n", (double)p, rate, 1.0 - p,
               sigma);
        CHECK_MSG(fabs(rate - (1.0 - p)) < 5 * sigma, "keep rate %.5f", rate);
        CHECK(bad_scale == 0);
        /* Gradient: the output gradient where kept, times 1/(1-p); zero where dropped. */
        float *gy = malloc(sizeof(float) * (size_t)x->numel);
        hg_rng gr = hg_rng_new(5);
        hg_rng_fill_uniform(&gr, gy, x->numel, -1, 1);
        if (x->grad)
            memset(x->grad, 0, sizeof(float) * (size_t)x->numel);
        CHECK_OK(hg_backward_seed(ctx, y, gy));
        int64_t bad_grad = 0;
        for (int64_t i = 0; i < x->numel; i++)
            bad_grad += x->grad[i] != (y->data[i] != 0.0f ? gy[i] * scale : 0.0f);
        CHECK_MSG(bad_grad == 0, "%lld gradient entries differ from mask/(1-p)", (long long)bad_grad);
        free(gy);
    }
    hg_set_threads(0);
    CHECK(memcmp(masks[0], masks[1], sizeof(float) * (size_t)x->numel) == 0);
    CHECK(memcmp(masks[0], masks[2], sizeof(float) * (size_t)x->numel) == 0);
    /* Counter-based: a prefix of the tensor draws the prefix of the mask... */
    hg_tensor *head = hg_new(NULL, 1, 1, 1001);
    memcpy(head->data, x->data, sizeof(float) * 1001);
    hg_ctx_reset(ctx);
    hg_rng r = hg_rng_new(99);
    r.counter = 12345;
    hg_tensor *yh = hg_dropout(ctx, head, p, &r);
    REQUIRE(yh);
    CHECK(memcmp(yh->data, masks[0], sizeof(float) * 1001) == 0);
    /* ...and the next call, from the advanced counter, a different one. */
    hg_tensor *yh2 = hg_dropout(ctx, head, p, &r);
    REQUIRE(yh2);
    CHECK(memcmp(yh2->data, yh->data, sizeof(float) * 1001) != 0);
    for (int t = 0; t < 3; t++)
        free(masks[t]);
    hg_tensor_free(head);
    hg_tensor_free(x);
}

static void gradcheck(void)
{
    hg_tensor *x = hg_new(NULL, 2, 3, 4, 5);
    hg_test_fill(x, 3, -1, 1);
    x->requires_grad = true;
    hg_rng r = hg_rng_new(4);
    CHECK_OK(hg_gradcheck(run_dropout, &x, 1, &r, NULL, NULL));
    hg_tensor_free(x);
}

static void errors(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 4, 4);
    hg_tensor_set_name(x, "hidden");
    hg_rng r = hg_rng_new(1);
    CHECK_NULL_WITH(hg_dropout(ctx, x, 1.0f, &r), "dropout of hidden: p must be in [0, 1), got 1");
    CHECK_NULL_WITH(hg_dropout(ctx, x, -0.1f, &r), "got -0.1");
    CHECK_NULL_WITH(hg_dropout(ctx, x, NAN, &r), "p must be in [0, 1)");
    CHECK_NULL_WITH(hg_dropout(ctx, x, 0.5f, NULL), "rng is NULL in training mode");
    CHECK_NULL_WITH(hg_dropout(ctx, NULL, 0.5f, &r), "NULL");
    hg_tensor_free(x);
}

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx);
    eval_identity(ctx);
    training(ctx);
    gradcheck();
    errors(ctx);
    hg_ctx_free(ctx);
    return hg_test_finish("test_dropout");
}
