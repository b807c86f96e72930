/* Op profile: each op's forward calls are counted under its name and output rank, backward
 * time reaches the ops that have one, the times add up to no more than the elapsed time, and
 * a detached profile stops counting. */
#include "test_util.h"

#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const hg_op_time *find(const hg_profile *p, const char *op, int ndim)
{
    for (int32_t i = 0; i < hg_profile_count(p); i++) {
        const hg_op_time *e = hg_profile_entry(p, i);
        if (strcmp(e->op, op) == 0 && e->out_ndim == ndim)
            return e;
    }
    return NULL;
}

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_profile *p = hg_profile_new();
    REQUIRE(ctx && p);
    hg_tensor *x = hg_new(NULL, 2, 3, 8, 8), *w = hg_new(NULL, 4, 3, 3, 3);
    hg_test_fill(x, 1, -1.0f, 1.0f);
    hg_test_fill(w, 2, -0.5f, 0.5f);
    w->requires_grad = true;
    hg_conv_opts opts = {.stride = {1, 1}, .padding = {1, 1}};

    double t0 = now();
    hg_ctx_set_profile(ctx, p);
    for (int step = 0; step < 3; step++) {
        hg_ctx_reset(ctx);
        hg_tensor *y = hg_relu(ctx, hg_conv(ctx, x, w, NULL, &opts));
        CHECK_OK(hg_backward(ctx, hg_sum(ctx, hg_mul(ctx, y, y))));
    }
    hg_ctx_set_profile(ctx, NULL);
    double elapsed = now() - t0;

    const hg_op_time *conv = find(p, "conv", 4), *relu = find(p, "relu", 4),
                     *mul = find(p, "mul", 4), *sum = find(p, "sum", 1);
    REQUIRE(conv && relu && mul && sum);
    CHECK(conv->calls == 3 && relu->calls == 3 && mul->calls == 3 && sum->calls == 3);
    CHECK(hg_profile_count(p) == 4); /* nothing else is charged */
    CHECK(conv->backward_s > 0 && relu->backward_s > 0); /* both are on the tape */
    double total = 0;
    for (int32_t i = 0; i < hg_profile_count(p); i++) {
        const hg_op_time *e = hg_profile_entry(p, i);
        CHECK(e->forward_s >= 0 && e->backward_s >= 0 && e->forward_cpu_s >= 0);
        total += e->forward_s + e->backward_s;
    }
    CHECK_MSG(total <= elapsed + 1e-6, "ops %.6f s > elapsed %.6f s", total, elapsed);

    /* detached: nothing more is counted */
    hg_ctx_reset(ctx);
    hg_relu(ctx, hg_conv(ctx, x, w, NULL, &opts));
    CHECK(conv->calls == 3);
    CHECK(hg_profile_entry(p, hg_profile_count(p)) == NULL);

    hg_profile_free(p);
    hg_tensor_free(x);
    hg_tensor_free(w);
    hg_ctx_free(ctx);
    return hg_test_finish("test_profile");
}
