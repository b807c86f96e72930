/* Inference-time liveness in the arena: released tensor data is reused (best fit, split,
 * neighbours merged), zeroed when hg_tensor_new asks for it, never handed out twice, ignored
 * while a tape records and for views and heap tensors, forgotten by reset, and dropped when a
 * scratch mark rewinds over it. */
#include "test_util.h"

#include "core/internal.h"

#include <string.h>

static bool overlap(const hg_tensor *a, const hg_tensor *b)
{
    const char *pa = (const char *)a->data, *pb = (const char *)b->data;
    size_t na = (size_t)a->numel * 4, nb = (size_t)b->numel * 4;
    return pa < pb + nb && pb < pa + na;
}

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);

    /* reuse: b's block serves c (smaller: split), the rest serves d */
    hg_tensor *a = hg_new(ctx, 1024), *b = hg_new(ctx, 1024), *keep = hg_new(ctx, 16);
    REQUIRE(a && b && keep);
    float *b_data = b->data;
    size_t live = hg_ctx_bytes_in_use(ctx), foot = hg_ctx_footprint_bytes(ctx);
    hg_tensor_release(b);
    CHECK(b->data == NULL);
    CHECK(hg_ctx_bytes_in_use(ctx) == live - 4096);
    hg_tensor *c = hg_new(ctx, 512);
    hg_test_fill(c, 1, -1, 1);
    hg_tensor *d = hg_tensor_empty(ctx, HG_F32, 1, (int64_t[]){500});
    CHECK(c->data == b_data && d->data == b_data + 512);
    /* only the two tensor headers came from the chunk */
    CHECK_MSG(hg_ctx_footprint_bytes(ctx) - foot <= 2 * 256, "footprint grew by %zu",
              hg_ctx_footprint_bytes(ctx) - foot);
    CHECK(!overlap(c, d) && !overlap(c, a) && !overlap(d, keep));

    /* c and d are neighbours: merged again, they hold a 1024-float tensor, zeroed */
    hg_tensor_release(c);
    hg_tensor_release(d);
    hg_tensor *e = hg_new(ctx, 1024);
    REQUIRE(e);
    CHECK_MSG(e->data == b_data, "merged block not reused");
    float mx = 0;
    for (int64_t i = 0; i < e->numel; i++)
        mx = fmaxf(mx, fabsf(e->data[i]));
    CHECK(mx == 0.0f);
    CHECK(!overlap(e, a) && !overlap(e, keep));
    /* no block fits: the chunk grows instead */
    hg_tensor *f = hg_new(ctx, 4096);
    CHECK(f && !overlap(f, e) && !overlap(f, a) && !overlap(f, keep));
    CHECK(hg_ctx_footprint_bytes(ctx) > foot);

    /* views and heap tensors are left alone */
    hg_tensor *v = hg_reshape(ctx, f, HG_SHAPE(64, 64));
    REQUIRE(v);
    hg_tensor_release(v);
    CHECK(v->data == f->data && v->data != NULL);
    hg_tensor *h = hg_new(NULL, 8);
    hg_tensor_release(h);
    CHECK(h->data != NULL);
    hg_tensor_free(h);
    hg_tensor_release(NULL);

    /* while a tape records, backward may read anything: no release */
    hg_ctx_set_grad(ctx, true);
    hg_tensor_release(f);
    CHECK(f->data != NULL);
    hg_ctx_set_grad(ctx, false);

    /* reset forgets free blocks: the next tensor starts at the arena's beginning again */
    hg_ctx_reset(ctx);
    hg_tensor *g = hg_new(ctx, 64);
    hg_tensor_release(g);
    hg_ctx_reset(ctx);
    hg_tensor *g2 = hg_new(ctx, 64), *g3 = hg_new(ctx, 64);
    CHECK(!overlap(g2, g3));

    /* a block released inside a scratch window is rewound with it, not handed out twice */
    hg_ctx_mark m = hg_ctx_mark_get(ctx);
    hg_tensor *w = hg_new(ctx, 256);
    hg_tensor_release(w);
    hg_ctx_release(ctx, m);
    hg_tensor *x1 = hg_new(ctx, 256), *x2 = hg_new(ctx, 256);
    CHECK_MSG(x1 && x2 && !overlap(x1, x2), "one block handed out twice");
    CHECK(!overlap(x1, g2) && !overlap(x2, g3));

    /* the live peak counts released memory once */
    hg_ctx_reset(ctx);
    size_t before = hg_ctx_peak_bytes(ctx);
    for (int i = 0; i < 10; i++) {
        hg_tensor *t = hg_new(ctx, 4096);
        hg_tensor_release(t);
    }
    CHECK(hg_ctx_peak_bytes(ctx) == before); /* 16 KiB at a time, below the earlier peak */
    CHECK(hg_ctx_bytes_in_use(ctx) <= 10 * 256); /* the headers */
    hg_ctx_free(ctx);
    return hg_test_finish("test_liveness");
}
