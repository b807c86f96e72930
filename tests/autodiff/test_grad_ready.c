/* The gradient-ready hook: every leaf on the tape is reported exactly once, at a moment when
 * its gradient already equals the final one, and in backward order (the last layer's weights
 * first, long before backward reaches the first layer). A leaf used twice (early and late) is
 * reported only after its early use; errors from the hook stop backward; without a hook the
 * backward is unchanged. */
#include "test_util.h"

#include <string.h>

enum { MAXREP = 16 };

typedef struct report {
    int n;
    hg_tensor *leaf[MAXREP];
    float snap[MAXREP][64]; /* the gradient when reported */
    int fail_at;            /* report index that returns an error (-1: none) */
} report;

static hg_status on_ready(void *user, hg_tensor *leaf)
{
    report *r = user;
    if (r->n == r->fail_at)
        return hg_error(HG_ERR_STATE, "refused %s", hg_tensor_label(leaf));
    if (r->n >= MAXREP)
        return hg_error(HG_ERR_INVALID, "too many reports");
    r->leaf[r->n] = leaf;
    memset(r->snap[r->n], 0, sizeof r->snap[r->n]);
    if (leaf->grad)
        memcpy(r->snap[r->n], leaf->grad, (size_t)leaf->numel * sizeof(float));
    r->n++;
    return HG_OK;
}

static hg_tensor *leaf(int64_t rows, int64_t cols, const char *name, uint64_t seed)
{
    hg_tensor *t = cols ? hg_new(NULL, rows, cols) : hg_new(NULL, rows);
    hg_test_fill(t, seed, -0.8f, 0.8f);
    t->requires_grad = true;
    hg_tensor_set_name(t, name);
    return t;
}

/* loss = sum(y*y) * sum(u) with y = w2 relu(w1 (x*u) + b1) + b2: `u` is used first and last
 * on the tape. */
static hg_tensor *net(hg_ctx *ctx, hg_tensor *x, hg_tensor *u, hg_tensor *w1, hg_tensor *b1,
                      hg_tensor *w2, hg_tensor *b2)
{
    hg_tensor *h = hg_relu(ctx, hg_linear(ctx, hg_mul(ctx, x, u), w1, b1));
    hg_tensor *y = hg_linear(ctx, h, w2, b2);
    return hg_sum(ctx, hg_mul(ctx, hg_mul(ctx, y, y), hg_sum(ctx, u)));
}

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(NULL, 2, 4); /* data, no gradient: never reported */
    hg_test_fill(x, 1, -1.0f, 1.0f);
    hg_tensor *u = leaf(4, 0, "u", 2), *w1 = leaf(5, 4, "w1", 3), *b1 = leaf(5, 0, "b1", 4);
    hg_tensor *w2 = leaf(3, 5, "w2", 5), *b2 = leaf(3, 0, "b2", 6);
    hg_tensor *unused = leaf(2, 0, "unused", 7);
    hg_tensor *all[5] = {u, w1, b1, w2, b2};

    /* reference gradients without a hook */
    float ref[5][64];
    hg_tensor *loss = net(ctx, x, u, w1, b1, w2, b2);
    REQUIRE(loss);
    CHECK_OK(hg_backward(ctx, loss));
    for (int i = 0; i < 5; i++)
        memcpy(ref[i], all[i]->grad, (size_t)all[i]->numel * sizeof(float));

    static report r;
    memset(&r, 0, sizeof r);
    r.fail_at = -1;
    for (int i = 0; i < 5; i++)
        memset(all[i]->grad, 0, (size_t)all[i]->numel * sizeof(float));
    hg_ctx_reset(ctx);
    hg_tape_set_grad_ready_hook(ctx, on_ready, &r);
    loss = net(ctx, x, u, w1, b1, w2, b2);
    CHECK_OK(hg_backward(ctx, loss));
    /* each leaf once, never x or the unused one */
    CHECK_MSG(r.n == 5, "%d reports", r.n);
    for (int i = 0; i < 5; i++) {
        int seen = 0;
        for (int k = 0; k < r.n; k++)
            if (r.leaf[k] == all[i]) {
                seen++;
                /* the gradient was already final (bitwise) when reported */
                CHECK_MSG(memcmp(r.snap[k], all[i]->grad, (size_t)all[i]->numel * 4) == 0,
                          "%s changed after it was reported", all[i]->name);
                CHECK_MSG(memcmp(ref[i], all[i]->grad, (size_t)all[i]->numel * 4) == 0,
                          "%s differs from the backward without a hook", all[i]->name);
            }
        CHECK_MSG(seen == 1, "%s reported %d times", all[i]->name, seen);
    }
    for (int k = 0; k < r.n; k++)
        CHECK(r.leaf[k] != x && r.leaf[k] != unused);
    /* order: the second layer (recorded last) is ready first; u, also used at the very end,
     * becomes ready only after its first use (the input multiply), i.e. last */
    int pos[5];
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < r.n; k++)
            if (r.leaf[k] == all[i])
                pos[i] = k;
    CHECK(pos[3] < pos[1] && pos[4] < pos[1] && pos[3] < pos[2]);
    CHECK_MSG(pos[0] == 4, "u reported at position %d", pos[0]);

    /* the hook survives reset and an error from it stops backward, naming the leaf */
    memset(&r, 0, sizeof r);
    r.fail_at = 1;
    hg_ctx_reset(ctx);
    loss = net(ctx, x, u, w1, b1, w2, b2);
    CHECK_FAILS(hg_backward(ctx, loss), HG_ERR_STATE, "gradient-ready hook of");
    CHECK(r.n == 1);

    /* removed: nothing is reported any more */
    memset(&r, 0, sizeof r);
    r.fail_at = -1;
    hg_tape_set_grad_ready_hook(ctx, NULL, NULL);
    hg_ctx_reset(ctx);
    loss = net(ctx, x, u, w1, b1, w2, b2);
    CHECK_OK(hg_backward(ctx, loss));
    CHECK(r.n == 0);

    /* the same leaf twice in one node (x*x): reported once */
    memset(&r, 0, sizeof r);
    r.fail_at = -1;
    hg_tape_set_grad_ready_hook(ctx, on_ready, &r);
    hg_ctx_reset(ctx);
    memset(b2->grad, 0, 3 * sizeof(float));
    CHECK_OK(hg_backward(ctx, hg_sum(ctx, hg_mul(ctx, b2, b2))));
    CHECK(r.n == 1 && r.leaf[0] == b2);
    CHECK_NEAR(r.snap[0][1], 2.0 * b2->data[1], 1e-6);

    hg_ctx_free(ctx);
    hg_tensor *ts[] = {x, u, w1, b1, w2, b2, unused};
    for (int i = 0; i < 7; i++)
        hg_tensor_free(ts[i]);
    return hg_test_finish("test_grad_ready");
}
