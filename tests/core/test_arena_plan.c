/* The context arena's placement (src/core/memory.c):
 * - op scratch of a mark window comes from the free list and goes back to it on release;
 * - tensor headers live outside the data region, so freed neighbours merge;
 * - a freed block at a chunk's top lowers the top, which a larger request then extends;
 * - a step is planned from the previous step's trace: a fragmenting sequence needs its live
 *   peak only, the planned steps call malloc no more, and a bogus free does not end the plan;
 * - a step that departs from the plan continues correctly (live blocks are never overlapped)
 *   and is planned in turn; a randomized program of allocations, frees and scratch windows,
 *   repeated, varied and cut short across steps, keeps every live block's contents intact;
 * - the legacy arena (as before planning) does not reuse freed memory for scratch. */
#include "core/internal.h"
#include "test_util.h"

#include <string.h>

#define MB ((size_t)1 << 20)

static bool disjoint(const void *a, size_t na, const void *b, size_t nb)
{
    const char *x = a, *y = b;
    return x + na <= y || y + nb <= x;
}

static void scratch_and_merging(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_tensor *a = hg_new(ctx, 256 * 1024), *b = hg_new(ctx, 256 * 1024); /* 1 MB each */
    hg_tensor *c = hg_new(ctx, 256 * 1024);
    REQUIRE(a && b && c);
    float *pa = a->data, *pb = b->data;
    CHECK_MSG((char *)pb == (char *)pa + MB, "headers sit between data blocks");
    /* scratch of a window reuses a freed block and gives it back on release */
    hg_tensor_release(a);
    hg_ctx_mark m = hg_ctx_mark_get(ctx);
    void *s = hg_ctx_alloc(ctx, 512 * 1024);
    CHECK_MSG(s == pa, "scratch did not take the freed block");
    size_t fp = hg_ctx_step_footprint_bytes(ctx);
    hg_ctx_release(ctx, m);
    CHECK(hg_ctx_alloc(ctx, 768 * 1024) == pa); /* the whole block is free again */
    hg_ctx_release(ctx, m);
    CHECK(hg_ctx_step_footprint_bytes(ctx) == fp);
    /* neighbours merge: a and b freed make room for 2 MB where a was */
    hg_tensor_release(b);
    hg_tensor *d = hg_new(ctx, 512 * 1024);
    CHECK_MSG(d && d->data == pa, "freed neighbours did not merge");
    /* a freed top lowers the top: a larger request extends it in place */
    float *pc = c->data;
    hg_tensor_release(c);
    hg_tensor *e = hg_new(ctx, 768 * 1024);
    CHECK_MSG(e && e->data == pc, "the freed top was not extended");
    hg_ctx_free(ctx);

    /* the legacy arena bumps scratch past freed blocks */
    ctx = hg_ctx_new();
    hg_ctx_set_legacy_arena(ctx, true);
    hg_ctx_set_grad(ctx, false);
    a = hg_new(ctx, 256 * 1024);
    b = hg_new(ctx, 16);
    REQUIRE(a && b);
    pa = a->data;
    hg_tensor_release(a);
    m = hg_ctx_mark_get(ctx);
    s = hg_ctx_alloc(ctx, 512 * 1024);
    CHECK(s && s != pa);
    hg_ctx_release(ctx, m);
    hg_ctx_free(ctx);
}

/* A(1 MB), B(2 MB), free A, C(2 MB), free B, free C: on the fly C cannot use A's hole (5 MB);
 * planned, 4 MB (the live peak, B and C). */
typedef struct { void *a, *b, *c; } abc;

static abc fragmenting_step(hg_ctx *ctx)
{
    abc r;
    hg_ctx_reset(ctx);
    r.a = hg_ctx_alloc_data(ctx, MB, false);
    r.b = hg_ctx_alloc_data(ctx, 2 * MB, false);
    REQUIRE(r.a && r.b);
    memset(r.b, 0x5A, 2 * MB);
    CHECK(hg_ctx_free_data(ctx, r.a, MB));
    r.c = hg_ctx_alloc_data(ctx, 2 * MB, false);
    REQUIRE(r.c);
    CHECK(disjoint(r.b, 2 * MB, r.c, 2 * MB));
    memset(r.c, 0xA5, 2 * MB);
    CHECK(((unsigned char *)r.b)[2 * MB - 1] == 0x5A);
    CHECK(hg_ctx_free_data(ctx, r.b, 2 * MB));
    CHECK(hg_ctx_free_data(ctx, r.c, 2 * MB));
    return r;
}

static void planning(void)
{
    hg_ctx *ctx = hg_ctx_new();
    fragmenting_step(ctx);
    size_t first = hg_ctx_step_footprint_bytes(ctx);
    CHECK(first == 5 * MB);
    abc s2 = fragmenting_step(ctx);
    size_t allocs = hg_ctx_heap_allocations(ctx);
    CHECK(hg_ctx_step_footprint_bytes(ctx) == 4 * MB);
    CHECK(hg_ctx_step_peak_bytes(ctx) == 4 * MB);
    CHECK(s2.c == s2.a); /* C takes A's place in the plan */
    /* a bogus free (inside a live block) is refused and does not end the plan */
    hg_ctx_reset(ctx);
    void *a = hg_ctx_alloc_data(ctx, MB, false);
    CHECK(!hg_ctx_free_data(ctx, (char *)a + 64, 64));
    void *b = hg_ctx_alloc_data(ctx, 2 * MB, false);
    CHECK(b == s2.b);
    hg_ctx_reset(ctx); /* a prefix of the plan: the plan stays */
    fragmenting_step(ctx);
    CHECK(hg_ctx_step_footprint_bytes(ctx) == 4 * MB);
    CHECK_MSG(hg_ctx_heap_allocations(ctx) == allocs, "planned steps called malloc");
    CHECK(hg_ctx_footprint_bytes(ctx) == first); /* since creation: the first step's */

    /* a different step: A, B, then D (3 MB) while A and B live; then planned in turn */
    for (int rep = 0; rep < 3; rep++) {
        hg_ctx_reset(ctx);
        void *pa = hg_ctx_alloc_data(ctx, MB, false), *pb = hg_ctx_alloc_data(ctx, 2 * MB, false);
        void *pd = hg_ctx_alloc_data(ctx, 3 * MB, false);
        REQUIRE(pa && pb && pd);
        CHECK(disjoint(pa, MB, pb, 2 * MB) && disjoint(pa, MB, pd, 3 * MB) &&
              disjoint(pb, 2 * MB, pd, 3 * MB));
        CHECK(hg_ctx_step_footprint_bytes(ctx) >= 6 * MB);
        if (rep == 1)
            allocs = hg_ctx_heap_allocations(ctx);
        if (rep == 2)
            CHECK(hg_ctx_heap_allocations(ctx) == allocs);
    }
    hg_ctx_free(ctx);
}

/* ---- randomized programs ------------------------------------------------------------------ */

typedef struct blk {
    unsigned char *p;
    size_t size;
    unsigned char tag;
    int window; /* scratch of this window depth (0: tensor data) */
} blk;

static bool intact(const blk *b)
{
    for (size_t i = 0; i < b->size; i += 61)
        if (b->p[i] != b->tag)
            return false;
    return b->p[b->size - 1] == b->tag;
}

static size_t rand_size(hg_rng *r)
{
    switch (hg_rng_below(r, 4)) {
    case 0: return 1 + hg_rng_below(r, 4000);
    case 1: return 4097 + hg_rng_below(r, 60000);
    case 2: return (size_t)(1 + hg_rng_below(r, 8)) * 65536;
    default: return 1 + hg_rng_below(r, 3 * MB);
    }
}

/* One step: `events` operations drawn from seed `a`, from event `cut` on from seed `b`. */
static int run_program(hg_ctx *ctx, uint64_t a, uint64_t b, int cut, int events)
{
    enum { MAXB = 256 };
    blk live[MAXB];
    int n = 0, depth = 0, bad = 0;
    hg_ctx_mark marks[3];
    hg_rng ra = hg_rng_new(a), rb = hg_rng_new(b);
    hg_ctx_reset(ctx);
    for (int e = 0; e < events; e++) {
        hg_rng *r = e < cut ? &ra : &rb;
        uint64_t op = hg_rng_below(r, 10);
        if (op < 4 && n < MAXB) { /* tensor data */
            size_t size = rand_size(r);
            unsigned char *p = hg_ctx_alloc_data(ctx, size, false);
            if (!p)
                return -1;
            live[n] = (blk){p, size, (unsigned char)(1 + hg_rng_below(r, 250)), 0};
            memset(p, live[n].tag, size);
            n++;
        } else if (op < 7 && n > 0) { /* free a tensor (not scratch) */
            int i = (int)hg_rng_below(r, (uint64_t)n);
            if (live[i].window)
                continue;
            bad += !intact(&live[i]);
            bad += !hg_ctx_free_data(ctx, live[i].p, live[i].size);
            live[i] = live[--n];
        } else if (op == 7 && depth < 3) {
            marks[depth++] = hg_ctx_mark_get(ctx);
        } else if (op == 8 && depth > 0 && n < MAXB) { /* scratch in the open window */
            size_t size = rand_size(r);
            unsigned char *p = hg_ctx_alloc(ctx, size);
            if (!p)
                return -1;
            live[n] = (blk){p, size, (unsigned char)(1 + hg_rng_below(r, 250)), depth};
            memset(p, live[n].tag, size);
            n++;
        } else if (op == 9 && depth > 0) { /* close the window: its scratch goes */
            for (int i = 0; i < n;) {
                if (live[i].window == depth) {
                    bad += !intact(&live[i]);
                    live[i] = live[--n];
                } else {
                    i++;
                }
            }
            hg_ctx_release(ctx, marks[--depth]);
        }
    }
    for (int i = 0; i < n; i++)
        bad += !intact(&live[i]);
    return bad;
}

static void randomized(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_rng r = hg_rng_new(2026);
    int bad = 0;
    for (int step = 0; step < 60; step++) {
        uint64_t prog = (uint64_t)step / 4; /* each program four times in a row... */
        int cut = 400;
        if (step % 4 == 3 && step % 8 != 7)
            cut = (int)hg_rng_below(&r, 400); /* ...the fourth departs at a random event */
        int events = step % 8 == 7 ? (int)hg_rng_below(&r, 400) : 400; /* or is cut short */
        int b = run_program(ctx, prog, 1000 + (uint64_t)step, cut, events);
        REQUIRE(b >= 0);
        bad += b;
    }
    CHECK_MSG(bad == 0, "%d blocks corrupted or refused", bad);
    /* a repeated program in steady state: no malloc */
    run_program(ctx, 77, 0, 400, 400);
    run_program(ctx, 77, 0, 400, 400);
    size_t allocs = hg_ctx_heap_allocations(ctx);
    CHECK(run_program(ctx, 77, 0, 400, 400) == 0);
    CHECK(hg_ctx_heap_allocations(ctx) == allocs);
    hg_ctx_free(ctx);
}

int main(void)
{
    scratch_and_merging();
    planning();
    randomized();
    return hg_test_finish("test_arena_plan");
}
