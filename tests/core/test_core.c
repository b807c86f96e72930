/* Core: tensors, contexts, params, RNG properties, errors. */
#include "test_util.h"

#include <string.h>

static void test_arena_reuse(void)
{
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx);
    hg_tensor *a = hg_new(ctx, 4, 8);
    REQUIRE(a);
    CHECK(a->numel == 32 && a->ndim == 2 && a->ctx == ctx);
    for (int i = 0; i < 32; i++)
        CHECK(a->data[i] == 0.0f);
    size_t used = hg_ctx_bytes_in_use(ctx);
    float *first = a->data;
    hg_ctx_reset(ctx);
    CHECK(hg_ctx_bytes_in_use(ctx) == 0);
    hg_tensor *b = hg_new(ctx, 4, 8);
    CHECK(b->data == first); /* memory is reused after a reset */
    CHECK(hg_ctx_bytes_in_use(ctx) == used);
    /* a large allocation beyond one chunk still works */
    hg_tensor *big = hg_new(ctx, 5, 1024, 1024);
    CHECK(big != NULL && big->numel == 5 * 1024 * 1024);
    CHECK(hg_ctx_peak_bytes(ctx) >= 20u << 20);
    hg_ctx_free(ctx);
}

static void test_shape_errors(void)
{
    CHECK_NULL_WITH(hg_tensor_new(NULL, HG_F32, 6, (const int64_t[]){1, 1, 1, 1, 1, 1}),
                    "expected 1 to 5 dimensions, got 6");
    CHECK_NULL_WITH(hg_tensor_new(NULL, HG_F32, 2, (const int64_t[]){-1, 3}), "negative");
    CHECK_NULL_WITH(hg_tensor_new(NULL, HG_F32, 3,
                                  (const int64_t[]){INT64_MAX / 2, INT64_MAX / 2, 4}),
                    "overflowing");
    hg_tensor *t = hg_new(NULL, 2, 3);
    t->name = "weights";
    CHECK_FAILS(hg_check_shape(t, 2, (const int64_t[]){2, 4}), HG_ERR_INVALID,
                "weights shape: expected [2, 4], got [2, 3]");
    CHECK_OK(hg_check_shape(t, 2, (const int64_t[]){-1, 3}));
    hg_tensor_free(t);
}

static void test_params(void)
{
    hg_params p;
    hg_params_init(&p);
    hg_tensor *w = hg_params_add(&p, "conv1.weight", true, HG_SHAPE(8, 1, 3, 3));
    hg_tensor *m = hg_params_add(&p, "bn.running_mean", false, HG_SHAPE(8));
    REQUIRE(w && m);
    CHECK(hg_params_get(&p, "conv1.weight") == w);
    CHECK(hg_params_get(&p, "nope") == NULL);
    CHECK(hg_params_count_trainable(&p) == 72);
    CHECK_NULL_WITH(hg_params_add(&p, "conv1.weight", true, HG_SHAPE(1)), "already exists");
    hg_params_free(&p);
}

static void test_rng(void)
{
    /* Reproducible, and fills are independent of how they are split. */
    float a[1000], b[1000];
    hg_rng r1 = hg_rng_new(42), r2 = hg_rng_new(42);
    hg_rng_fill_uniform(&r1, a, 1000, 0, 1);
    hg_rng_fill_uniform(&r2, b, 400, 0, 1);
    hg_rng_fill_uniform(&r2, b + 400, 600, 0, 1);
    CHECK(memcmp(a, b, sizeof a) == 0);
    hg_rng r3 = hg_rng_new(43);
    hg_rng_fill_uniform(&r3, b, 1000, 0, 1);
    CHECK(memcmp(a, b, sizeof a) != 0);
    /* Moments of uniform, normal and Poisson draws (5 standard errors). */
    hg_rng r = hg_rng_new(7);
    int n = 200000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double x = hg_rng_normal(&r);
        s += x, s2 += x * x;
    }
    CHECK_NEAR(s / n, 0.0, 5 * 1.0 / sqrt(n));
    CHECK_NEAR(s2 / n, 1.0, 5 * sqrt(2.0 / n));
    const double means[] = {0.5, 7.0, 50.0, 4096.0};
    for (int k = 0; k < 4; k++) {
        double m = means[k], acc = 0, acc2 = 0;
        for (int i = 0; i < 20000; i++) {
            double x = hg_rng_poisson(&r, m);
            acc += x, acc2 += x * x;
        }
        double mean = acc / 20000, var = acc2 / 20000 - mean * mean;
        CHECK_NEAR(mean, m, 5 * sqrt(m / 20000));
        CHECK_NEAR(var / m, 1.0, 0.05);
    }
    /* Philox-4x32-10 known-answer test (Random123 kat_vectors: zero key and counter). */
    uint32_t out[4];
    hg_philox4x32(0, 0, out);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu &&
          out[3] == 0x9b00dbd8u);
}

int main(void)
{
    test_arena_reuse();
    test_shape_errors();
    test_params();
    test_rng();
    return hg_test_finish("test_core");
}
