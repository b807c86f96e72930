/* Shared by the convolution path tests (test_conv_direct.c, test_conv_dnnl.c): one forward +
 * backward of a conv-like op, kept as heap copies of y, dx, dw, db to compare across paths
 * and thread counts. */
#ifndef HINGE_TESTS_CONV_TEST_COMMON_H
#define HINGE_TESTS_CONV_TEST_COMMON_H

#include "test_util.h"

#include <string.h>

typedef struct {
    float *v[4];
    int64_t n[4];
} conv_result;

static const char *const conv_what[4] = {"y", "dx", "dw", "db"};

/* x, w, b uniform in [-1, 1] from seed, seed + 1, seed + 2, all requiring gradients. */
static void conv_fill(hg_tensor *x, hg_tensor *w, hg_tensor *b, uint64_t seed)
{
    REQUIRE(x && w && b);
    hg_test_fill(x, seed, -1, 1);
    hg_test_fill(w, seed + 1, -1, 1);
    hg_test_fill(b, seed + 2, -1, 1);
    x->requires_grad = w->requires_grad = b->requires_grad = true;
}

typedef hg_tensor *(*conv_apply_fn)(hg_ctx *ctx, hg_tensor *x, hg_tensor *w, hg_tensor *b,
                                    const void *user);

/* y = f(x) + f(x) (so that accumulation into existing gradients, and a forward into a
 * bias-filled output, are covered), backward from *gy (filled on first use), gradients
 * zeroed first. */
static conv_result conv_run(conv_apply_fn f, const void *user, hg_tensor *x, hg_tensor *w,
                            hg_tensor *b, hg_tensor **gy)
{
    conv_result r;
    hg_tensor *t[3] = {x, w, b};
    for (int k = 0; k < 3; k++)
        if (t[k]->grad)
            memset(t[k]->grad, 0, (size_t)t[k]->numel * sizeof(float));
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *y = hg_add(ctx, f(ctx, x, w, b, user), f(ctx, x, w, b, user));
    if (!y)
        printf("conv failed: %s\n", hg_error_message());
    REQUIRE(y != NULL);
    if (!*gy) {
        *gy = hg_tensor_like(NULL, y);
        hg_test_fill(*gy, 77, -1, 1);
    }
    CHECK_OK(hg_backward_seed(ctx, y, (*gy)->data));
    const float *src[4] = {y->data, x->grad, w->grad, b->grad};
    int64_t cnt[4] = {y->numel, x->numel, w->numel, b->numel};
    for (int k = 0; k < 4; k++) {
        r.n[k] = cnt[k];
        r.v[k] = malloc((size_t)cnt[k] * sizeof(float));
        REQUIRE(src[k] && r.v[k]);
        memcpy(r.v[k], src[k], (size_t)cnt[k] * sizeof(float));
    }
    hg_ctx_free(ctx);
    return r;
}

static void conv_free_result(conv_result *r)
{
    for (int k = 0; k < 4; k++)
        free(r->v[k]);
}

#endif
