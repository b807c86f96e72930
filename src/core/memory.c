/* Heap helpers and the context arena.
 *
 * A context keeps two kinds of chunks, both kept across resets:
 * - bookkeeping chunks for small requests (tensor headers, tape nodes, small op state and
 *   scratch up to HG_META_MAX bytes), bumped and rewound by position (marks, reset). Keeping
 *   them out of the data region lets freed data blocks merge with their neighbours.
 * - the data region for tensor data, gradients and large op scratch. A request takes the
 *   smallest free block that fits, else the top of a chunk; a freed block merges with free
 *   neighbours and, when it ends at its chunk's top, lowers the top. Large scratch taken in a
 *   mark window is logged and handed back to the free list when the window is released, so
 *   late-backward im2col buffers reuse freed gradient memory instead of growing the arena.
 *
 * Allocation planning. Every data-region allocation and free of a step is recorded (sizes and
 * lifetimes, in event order). At reset the trace is placed offline, by the tightest of the
 * dynamic allocator's own layout and greedy by size (blocks by decreasing size, each into a gap
 * among the blocks alive at the same time, as TFLite's arena planner), and the data region
 * becomes one chunk of the plan's extent. The next steps replay the plan as long as their
 * events are the same (same sizes, same frees in the same order); at the first difference the context switches back to dynamic allocation from
 * the plan's live blocks (the free list is rebuilt from the gaps), records the new trace and
 * plans it at the next reset. Up to the first difference the live blocks are exactly those of
 * the plan, so a replayed block never overlaps a live one. A training loop that allocates the
 * same sequence every step thus calls malloc only in its first step (and at the first reset).
 */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#define HG_ALIGN 64
#define HG_CHUNK_MIN ((size_t)16 << 20)  /* data chunks of the first (unplanned) step */
#define HG_META_CHUNK ((size_t)1 << 20)  /* bookkeeping chunks */
#define HG_META_MAX ((size_t)4096)       /* hg_ctx_alloc requests up to this go to bookkeeping */
#define HG_PLAN_MAX_BLOCKS ((int64_t)1 << 20)   /* above this, a step is not planned */
#define HG_GREEDY_MAX_BLOCKS ((int64_t)1 << 14) /* above this, no greedy pass (O(n^2)) */
#define HG_OPEN INT64_MAX                /* lifetime end of a block not freed in the step */

void *hg_malloc(size_t bytes)
{
    if (bytes == 0)
        bytes = 1;
    size_t rounded = (bytes + HG_ALIGN - 1) / HG_ALIGN * HG_ALIGN;
    if (rounded < bytes) {
        hg_error(HG_ERR_NOMEM, "allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    void *p = aligned_alloc(HG_ALIGN, rounded);
    if (!p)
        hg_error(HG_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
#ifndef NDEBUG
    else
        memset(p, 0xFF, rounded); /* NaN: reading memory never written shows in tests */
#endif
    return p;
}

void *hg_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        hg_error(HG_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = hg_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void hg_free(void *p) { free(p); }

/* ---- arena layout ------------------------------------------------------------------------ */

typedef struct hg_chunk {
    struct hg_chunk *next;
    size_t size;
    size_t used; /* top: bytes from base handed out (data: some may be free below it) */
    unsigned char *base;
} hg_chunk;

typedef struct span { /* a free data block, or a logged scratch block (chunk unused) */
    hg_chunk *chunk;
    size_t off, size;
    unsigned char *p;
} span;

typedef struct tblock { /* one data-region allocation of a step */
    size_t size, off;   /* off: its place in the plan */
    int64_t t0, t1;     /* events of its allocation and its free (HG_OPEN: not freed) */
} tblock;

typedef struct trace {
    tblock *b;
    int64_t nb, cap_b;
    int64_t *ev; /* event k: block id * 2, + 1 for its free */
    int64_t nev, cap_ev;
    size_t extent; /* of the plan */
} trace;

typedef struct slot { /* pointer -> block id of the live blocks (dynamic mode) */
    uintptr_t key;    /* 0: empty */
    int64_t id;
} slot;

typedef struct freelist { /* free data blocks, sorted by chunk and offset */
    span *b;
    int64_t n, cap;
} freelist;

struct hg_arena {
    hg_chunk *data, *data_cur; /* data region; data_cur: legacy arena's chunk being filled */
    hg_chunk *meta, *meta_cur; /* bookkeeping chunks */
    freelist free;
    span *log; /* large scratch taken by hg_ctx_alloc since reset, for mark windows */
    int64_t nlog, cap_log;
    trace cur, plan; /* this step's events; the planned step */
    bool planned;    /* `plan` holds a placement and data is one chunk of its extent */
    bool replay;     /* this step follows the plan (no difference yet) */
    int64_t rev, rnb; /* replay position: events and blocks so far */
    slot *map;
    size_t map_cap, map_n;
    size_t data_used, meta_used; /* handed out from chunks now (tops) */
    size_t data_step_peak, meta_step_peak;
    size_t step_peak, step_footprint, footprint;
    size_t heap_allocs;
    bool legacy;
};

static size_t round_up(size_t bytes)
{
    return bytes == 0 ? HG_ALIGN : (bytes + HG_ALIGN - 1) / HG_ALIGN * HG_ALIGN;
}

static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* Grows an array to hold `need` elements (doubling); counts the heap call. */
static bool grow(struct hg_arena *a, void **arr, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    int64_t c = imax(imax(*cap * 2, need), 64);
    void *q = realloc(*arr, (size_t)c * elem);
    if (!q) {
        hg_error(HG_ERR_NOMEM, "out of memory growing the context's bookkeeping to %lld entries",
                 (long long)c);
        return false;
    }
    a->heap_allocs++;
    *arr = q;
    *cap = c;
    return true;
}

static hg_chunk *chunk_new(struct hg_arena *a, size_t size)
{
    hg_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = aligned_alloc(HG_ALIGN, size);
    if (!c->base) {
        free(c);
        return NULL;
    }
    a->heap_allocs += 2;
    c->size = size;
    return c;
}

static void chunks_free(hg_chunk *c)
{
    while (c) {
        hg_chunk *next = c->next;
        free(c->base);
        free(c);
        c = next;
    }
}

static void chunk_append(hg_chunk **list, hg_chunk *c)
{
    while (*list)
        list = &(*list)->next;
    *list = c;
}

hg_ctx *hg_ctx_new(void)
{
    hg_ctx *ctx = calloc(1, sizeof *ctx);
    struct hg_arena *a = calloc(1, sizeof *a);
    if (!ctx || !a) {
        free(ctx);
        free(a);
        hg_error(HG_ERR_NOMEM, "out of memory allocating a context");
        return NULL;
    }
    ctx->arena = a;
    ctx->record_grad = true;
    ctx->training = true;
    return ctx;
}

void hg_ctx_free(hg_ctx *ctx)
{
    if (!ctx)
        return;
    struct hg_arena *a = ctx->arena;
    chunks_free(a->data);
    chunks_free(a->meta);
    free(a->free.b);
    free(a->log);
    free(a->cur.b), free(a->cur.ev), free(a->plan.b), free(a->plan.ev);
    free(a->map);
    free(a);
    free(ctx->tape);
    free(ctx);
}

void hg_ctx_set_grad(hg_ctx *ctx, bool record) { ctx->record_grad = record; }
void hg_ctx_set_rng(hg_ctx *ctx, hg_rng rng) { ctx->rng = rng; }
hg_rng *hg_ctx_rng(hg_ctx *ctx) { return &ctx->rng; }
bool hg_ctx_grad_enabled(const hg_ctx *ctx) { return ctx->record_grad; }
void hg_ctx_set_training(hg_ctx *ctx, bool training) { ctx->training = training; }
bool hg_ctx_training(const hg_ctx *ctx) { return ctx->training; }
size_t hg_ctx_bytes_in_use(const hg_ctx *ctx) { return ctx->in_use; }
size_t hg_ctx_peak_bytes(const hg_ctx *ctx) { return ctx->peak; }
size_t hg_ctx_footprint_bytes(const hg_ctx *ctx) { return ctx->arena->footprint; }
size_t hg_ctx_step_peak_bytes(const hg_ctx *ctx) { return ctx->arena->step_peak; }
size_t hg_ctx_step_footprint_bytes(const hg_ctx *ctx) { return ctx->arena->step_footprint; }
size_t hg_ctx_heap_allocations(const hg_ctx *ctx) { return ctx->arena->heap_allocs; }
void hg_ctx_set_legacy_arena(hg_ctx *ctx, bool on) { ctx->arena->legacy = on; }

#ifndef NDEBUG
/* Debug builds fill fresh arena memory with NaN (0xFF bytes), so an op that reads an output
 * buffer it never wrote shows up as NaN in tests instead of depending on what the previous
 * step left there. */
static void *poison(void *p, size_t bytes)
{
    if (p)
        memset(p, 0xFF, bytes);
    return p;
}
#else
static inline void *poison(void *p, size_t bytes)
{
    (void)bytes;
    return p;
}
#endif

/* ---- accounting -------------------------------------------------------------------------- */

static void count_in(hg_ctx *ctx, size_t bytes)
{
    struct hg_arena *a = ctx->arena;
    ctx->in_use += bytes;
    if (ctx->in_use > ctx->peak)
        ctx->peak = ctx->in_use;
    if (ctx->in_use > a->step_peak)
        a->step_peak = ctx->in_use;
}

/* The footprint: the high-water marks of the data region's and the bookkeeping chunks' tops
 * added (two separate memories: what a step has touched of each), per step and since creation.
 * In a single region this is the peak of the top, as the bump arena counted it. */
static void count_tops(struct hg_arena *a)
{
    if (a->data_used > a->data_step_peak)
        a->data_step_peak = a->data_used;
    if (a->meta_used > a->meta_step_peak)
        a->meta_step_peak = a->meta_used;
    a->step_footprint = a->data_step_peak + a->meta_step_peak;
    if (a->step_footprint > a->footprint)
        a->footprint = a->step_footprint;
}

/* ---- bookkeeping chunks ------------------------------------------------------------------ */

static void *meta_take(hg_ctx *ctx, size_t need)
{
    struct hg_arena *a = ctx->arena;
    for (hg_chunk *c = a->meta_cur ? a->meta_cur : a->meta; c; c = c->next)
        if (c->size - c->used >= need) {
            void *p = c->base + c->used;
            c->used += need;
            a->meta_cur = c;
            a->meta_used += need;
            count_in(ctx, need);
            count_tops(a);
            return p;
        }
    hg_chunk *c = chunk_new(a, need > HG_META_CHUNK ? need : HG_META_CHUNK);
    if (!c) {
        hg_error(HG_ERR_NOMEM, "out of memory: context needs %zu more bytes (%zu in use)", need,
                 ctx->in_use);
        return NULL;
    }
    chunk_append(&a->meta, c);
    a->meta_cur = c;
    return meta_take(ctx, need);
}

/* ---- data region: free list -------------------------------------------------------------- */

static bool span_before(const span *x, const span *y)
{
    return x->chunk != y->chunk ? (uintptr_t)x->chunk->base < (uintptr_t)y->chunk->base
                                : x->off < y->off;
}

static void free_remove(freelist *f, int64_t i)
{
    memmove(f->b + i, f->b + i + 1, (size_t)(f->n - i - 1) * sizeof *f->b);
    f->n--;
}

/* Inserts a free block in order, merged with its free neighbours; returns its index (-1: the
 * list could not grow). */
static int64_t free_insert(struct hg_arena *a, freelist *f, span blk)
{
    int64_t lo = 0, hi = f->n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (span_before(&f->b[mid], &blk))
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t i = lo;
    bool prev = i > 0 && f->b[i - 1].chunk == blk.chunk &&
                f->b[i - 1].off + f->b[i - 1].size == blk.off;
    bool next = i < f->n && f->b[i].chunk == blk.chunk && blk.off + blk.size == f->b[i].off;
    if (prev && next) {
        f->b[i - 1].size += blk.size + f->b[i].size;
        free_remove(f, i);
        return i - 1;
    }
    if (prev) {
        f->b[i - 1].size += blk.size;
        return i - 1;
    }
    if (next) {
        f->b[i].off = blk.off;
        f->b[i].size += blk.size;
        return i;
    }
    if (!grow(a, (void **)&f->b, &f->cap, f->n + 1, sizeof *f->b))
        return -1;
    memmove(f->b + i + 1, f->b + i, (size_t)(f->n - i) * sizeof *f->b);
    f->b[i] = blk;
    f->n++;
    return i;
}

/* The smallest free block that fits: its start (the remainder stays free), or false. */
static bool free_take(freelist *f, size_t need, hg_chunk **chunk, size_t *off)
{
    int64_t best = -1;
    for (int64_t i = 0; i < f->n; i++)
        if (f->b[i].size >= need && (best < 0 || f->b[i].size < f->b[best].size))
            best = i;
    if (best < 0)
        return false;
    span *b = &f->b[best];
    *chunk = b->chunk;
    *off = b->off;
    b->off += need;
    b->size -= need;
    if (b->size == 0)
        free_remove(f, best);
    return true;
}

/* ---- data region: dynamic allocation ----------------------------------------------------- */

static hg_chunk *data_chunk_of(const struct hg_arena *a, const void *p, size_t bytes)
{
    const unsigned char *q = p;
    for (hg_chunk *c = a->data; c; c = c->next)
        if (q >= c->base && q < c->base + c->used)
            return (size_t)(q - c->base) + bytes <= c->used ? c : NULL;
    return NULL;
}

/* Free block first (unless use_free is false: the legacy arena's scratch), else the top of the chunk with the least room that fits, else a new chunk
 * (legacy arena: from the chunk being filled onwards, as the bump arena did). */
static void *dyn_take(hg_ctx *ctx, size_t need, bool use_free)
{
    struct hg_arena *a = ctx->arena;
    hg_chunk *best = NULL;
    size_t off = 0;
    if (use_free && free_take(&a->free, need, &best, &off))
        return best->base + off;
    for (hg_chunk *c = a->legacy && a->data_cur ? a->data_cur : a->data; c; c = c->next)
        if (c->size - c->used >= need && (!best || c->size - c->used < best->size - best->used)) {
            best = c;
            if (a->legacy)
                break;
        }
    if (!best) {
        best = chunk_new(a, need > HG_CHUNK_MIN ? need : HG_CHUNK_MIN);
        if (!best) {
            hg_error(HG_ERR_NOMEM, "out of memory: context needs %zu more bytes (%zu in use)",
                     need, ctx->in_use);
            return NULL;
        }
        chunk_append(&a->data, best);
    }
    void *p = best->base + best->used;
    best->used += need;
    a->data_cur = best;
    a->data_used += need;
    return p;
}

/* A freed block joins the free list; one that ends at its chunk's top lowers the top instead,
 * so that a later request larger than any hole can extend it. */
static bool dyn_put(struct hg_arena *a, hg_chunk *c, unsigned char *p, size_t size)
{
    int64_t i = free_insert(a, &a->free, (span){c, (size_t)(p - c->base), size, NULL});
    if (i < 0)
        return false;
    span *b = &a->free.b[i];
    if (!a->legacy && b->off + b->size == c->used) {
        c->used = b->off;
        a->data_used -= b->size;
        free_remove(&a->free, i);
    }
    return true;
}

/* ---- pointer -> block id of live blocks (open addressing, linear probing) ---------------- */

static size_t map_hash(uintptr_t key, size_t cap)
{
    return (size_t)(((uint64_t)key >> 6) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static bool map_put(struct hg_arena *a, const void *p, int64_t id)
{
    if (2 * (a->map_n + 1) > a->map_cap) {
        size_t cap = a->map_cap ? 2 * a->map_cap : 1024;
        slot *m = calloc(cap, sizeof *m);
        if (!m) {
            hg_error(HG_ERR_NOMEM, "out of memory growing the context's block map");
            return false;
        }
        a->heap_allocs++;
        for (size_t i = 0; i < a->map_cap; i++)
            if (a->map[i].key) {
                size_t h = map_hash(a->map[i].key, cap);
                while (m[h].key)
                    h = (h + 1) & (cap - 1);
                m[h] = a->map[i];
            }
        free(a->map);
        a->map = m;
        a->map_cap = cap;
    }
    size_t h = map_hash((uintptr_t)p, a->map_cap);
    while (a->map[h].key)
        h = (h + 1) & (a->map_cap - 1);
    a->map[h] = (slot){(uintptr_t)p, id};
    a->map_n++;
    return true;
}

/* Removes p; its block id, or -1 when p is not a live block. */
static int64_t map_del(struct hg_arena *a, const void *p)
{
    if (!a->map_n)
        return -1;
    size_t mask = a->map_cap - 1, h = map_hash((uintptr_t)p, a->map_cap);
    while (a->map[h].key && a->map[h].key != (uintptr_t)p)
        h = (h + 1) & mask;
    if (!a->map[h].key)
        return -1;
    int64_t id = a->map[h].id;
    /* backward-shift deletion: move later entries of the probe run into the hole */
    size_t hole = h;
    for (size_t j = (h + 1) & mask; a->map[j].key; j = (j + 1) & mask) {
        size_t home = map_hash(a->map[j].key, a->map_cap);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            a->map[hole] = a->map[j];
            hole = j;
        }
    }
    a->map[hole].key = 0;
    a->map_n--;
    return id;
}

static void map_clear(struct hg_arena *a)
{
    if (a->map_n)
        memset(a->map, 0, a->map_cap * sizeof *a->map);
    a->map_n = 0;
}

/* ---- the trace of a step ----------------------------------------------------------------- */

static bool trace_alloc(struct hg_arena *a, const void *p, size_t size)
{
    trace *t = &a->cur;
    if (!grow(a, (void **)&t->b, &t->cap_b, t->nb + 1, sizeof *t->b) ||
        !grow(a, (void **)&t->ev, &t->cap_ev, t->nev + 1, sizeof *t->ev) ||
        !map_put(a, p, t->nb))
        return false;
    t->b[t->nb] = (tblock){size, 0, t->nev, HG_OPEN};
    t->ev[t->nev++] = 2 * t->nb++;
    return true;
}

/* The id of the live block at p freed now, or -1 (not a block of this size). */
static int64_t trace_free(struct hg_arena *a, const void *p, size_t size)
{
    trace *t = &a->cur;
    if (!grow(a, (void **)&t->ev, &t->cap_ev, t->nev + 1, sizeof *t->ev))
        return -1;
    int64_t id = map_del(a, p);
    if (id < 0)
        return -1;
    if (t->b[id].size != size) { /* not the block as allocated: put it back */
        map_put(a, p, id);
        return -1;
    }
    t->b[id].t1 = t->nev;
    t->ev[t->nev++] = 2 * id + 1;
    return id;
}

/* ---- planning ---------------------------------------------------------------------------- */

static int by_size_desc(const void *x, const void *y)
{
    const tblock *const *a = x, *const *b = y;
    if ((*a)->size != (*b)->size)
        return (*a)->size < (*b)->size ? 1 : -1;
    return (*a)->t0 < (*b)->t0 ? -1 : (*a)->t0 > (*b)->t0;
}

static int by_offset(const void *x, const void *y)
{
    const tblock *const *a = x, *const *b = y;
    return (*a)->off < (*b)->off ? -1 : (*a)->off > (*b)->off;
}

/* The dynamic allocator (best fit, freed blocks merged, a freed top lowered) replayed on the
 * trace in one unbounded chunk: the offsets into off[]; returns the extent, 0 when out of
 * memory. *live_peak: the most bytes live at once, a lower bound of any layout's extent. */
static size_t simulate_dynamic(struct hg_arena *a, const trace *t, size_t *off,
                               size_t *live_peak)
{
    hg_chunk region = {0};
    freelist f = {0};
    size_t top = 0, extent = 0, live = 0;
    *live_peak = 0;
    for (int64_t e = 0; e < t->nev; e++) {
        int64_t id = t->ev[e] / 2;
        size_t size = t->b[id].size;
        if (!(t->ev[e] & 1)) {
            live += size;
            *live_peak = live > *live_peak ? live : *live_peak;
            hg_chunk *c;
            if (!free_take(&f, size, &c, &off[id])) {
                off[id] = top;
                top += size;
                extent = top > extent ? top : extent;
            }
            continue;
        }
        live -= size;
        int64_t i = free_insert(a, &f, (span){&region, off[id], size, NULL});
        if (i < 0) {
            extent = 0;
            break;
        }
        if (f.b[i].off + f.b[i].size == top) {
            top = f.b[i].off;
            free_remove(&f, i);
        }
    }
    free(f.b);
    return extent;
}

/* Greedy by size: the largest blocks first (order), each at the start of a gap between the
 * blocks already placed that live at the same time (the tightest gap, or with first_fit the
 * lowest), or above them all. Writes the offsets; returns the extent. */
static size_t greedy_by_size(trace *t, tblock **order, tblock **placed, bool first_fit)
{
    size_t extent = 0;
    for (int64_t k = 0; k < t->nb; k++) {
        tblock *b = order[k];
        size_t end = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int64_t j = 0; j < k; j++) {
            const tblock *q = placed[j];
            if (q->t0 >= b->t1 || b->t0 >= q->t1)
                continue; /* not alive at the same time */
            size_t gap = q->off > end ? q->off - end : 0;
            if (gap >= b->size && gap < best_gap && !(first_fit && best != SIZE_MAX)) {
                best = end;
                best_gap = gap;
            }
            if (q->off + q->size > end)
                end = q->off + q->size;
        }
        b->off = best != SIZE_MAX ? best : end;
        if (b->off + b->size > extent)
            extent = b->off + b->size;
        int64_t at = k;
        while (at > 0 && placed[at - 1]->off > b->off) {
            placed[at] = placed[at - 1];
            at--;
        }
        placed[at] = b;
    }
    return extent;
}

/* Places the trace's blocks by the tightest of three layouts: the dynamic allocator's own and
 * greedy by size into the tightest or the lowest gap (none is always the best). The live peak
 * is a lower bound: a layout that reaches it ends the search (and the O(n^2) greedy passes are
 * skipped, as they are for very long traces). False when the scratch arrays cannot be allocated (the step stays unplanned). */
static bool plan_trace(struct hg_arena *a, trace *t)
{
    tblock **order = malloc((size_t)t->nb * sizeof *order);
    tblock **placed = malloc((size_t)t->nb * sizeof *placed); /* sorted by offset */
    size_t *best = malloc((size_t)t->nb * sizeof *best);
    if (!order || !placed || !best) {
        free(order);
        free(placed);
        free(best);
        return false;
    }
    a->heap_allocs += 3;
    for (int64_t i = 0; i < t->nb; i++) {
        order[i] = &t->b[i];
        if (t->b[i].t1 == HG_OPEN)
            t->b[i].t1 = t->nev;
    }
    size_t live_peak, extent = simulate_dynamic(a, t, best, &live_peak);
    if (extent == 0)
        extent = SIZE_MAX;
    qsort(order, (size_t)t->nb, sizeof *order, by_size_desc);
    for (int first_fit = 0;
         first_fit < 2 && extent != live_peak && t->nb <= HG_GREEDY_MAX_BLOCKS; first_fit++) {
        size_t e = greedy_by_size(t, order, placed, first_fit);
        if (e < extent) {
            extent = e;
            for (int64_t i = 0; i < t->nb; i++)
                best[i] = t->b[i].off;
        }
    }
    for (int64_t i = 0; i < t->nb; i++)
        t->b[i].off = best[i];
    t->extent = extent;
    free(order);
    free(placed);
    free(best);
    return true;
}

/* Makes the data region one chunk that holds the plan (reusing the first chunk if it is large
 * enough); false when it cannot be allocated. */
static bool layout_for_plan(struct hg_arena *a)
{
    size_t need = (a->plan.extent + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    if (need == 0)
        need = HG_ALIGN;
    if (a->data && a->data->size >= need) {
        chunks_free(a->data->next);
        a->data->next = NULL;
        return true;
    }
    chunks_free(a->data);
    a->data = a->data_cur = NULL;
    hg_chunk *c = chunk_new(a, need);
    if (!c)
        return false;
    a->data = c;
    return true;
}

/* Replay meets an event the plan does not have: from here on, dynamic allocation around the
 * plan's live blocks, and this step's trace is the plan's prefix. Should bookkeeping fail, the
 * whole extent stays taken (new blocks then go above it): never a live block handed out. */
static bool leave_plan(struct hg_arena *a)
{
    trace *t = &a->cur, *pl = &a->plan;
    hg_chunk *c = a->data;
    a->replay = false;
    c->used = pl->extent;
    a->data_used = c->used;
    a->free.n = 0;
    map_clear(a);
    if (!grow(a, (void **)&t->b, &t->cap_b, a->rnb, sizeof *t->b) ||
        !grow(a, (void **)&t->ev, &t->cap_ev, a->rev, sizeof *t->ev))
        return false;
    if (a->rev > 0)
        memcpy(t->ev, pl->ev, (size_t)a->rev * sizeof *t->ev);
    t->nev = a->rev;
    t->nb = a->rnb;
    int64_t nlive = 0;
    for (int64_t i = 0; i < a->rnb; i++) {
        t->b[i] = pl->b[i];
        if (pl->b[i].t1 >= a->rev) {
            t->b[i].t1 = HG_OPEN;
            if (!map_put(a, c->base + t->b[i].off, i))
                return false;
            nlive++;
        }
    }
    /* the live blocks, in order of offset, leave gaps that become the free list */
    tblock **live = malloc((size_t)(nlive ? nlive : 1) * sizeof *live);
    if (!live) {
        hg_error(HG_ERR_NOMEM, "out of memory leaving the context's allocation plan");
        return false;
    }
    a->heap_allocs++;
    nlive = 0;
    for (int64_t i = 0; i < a->rnb; i++)
        if (t->b[i].t1 == HG_OPEN)
            live[nlive++] = &t->b[i];
    qsort(live, (size_t)nlive, sizeof *live, by_offset);
    size_t top = 0;
    bool ok = true;
    for (int64_t i = 0; i < nlive && ok; i++) {
        if (live[i]->off > top)
            ok = free_insert(a, &a->free, (span){c, top, live[i]->off - top, NULL}) >= 0;
        if (live[i]->off + live[i]->size > top)
            top = live[i]->off + live[i]->size;
    }
    free(live);
    if (ok)
        c->used = a->data_used = top;
    return ok;
}

/* Whether q is a block of the plan allocated and not yet freed in this replay (slow path: only
 * for a free the plan did not expect next). */
static bool live_planned(const struct hg_arena *a, const unsigned char *q, size_t bytes)
{
    for (int64_t i = 0; i < a->rnb; i++)
        if (a->data->base + a->plan.b[i].off == q && a->plan.b[i].size == bytes &&
            a->plan.b[i].t1 >= a->rev)
            return true;
    return false;
}

/* ---- data region: requests and frees ----------------------------------------------------- */

static void *data_take(hg_ctx *ctx, size_t bytes)
{
    struct hg_arena *a = ctx->arena;
    if (bytes > SIZE_MAX - HG_ALIGN) {
        hg_error(HG_ERR_NOMEM, "context allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    size_t need = round_up(bytes);
    if (a->replay) {
        const trace *pl = &a->plan;
        int64_t e = a->rev < pl->nev ? pl->ev[a->rev] : -1;
        if (e >= 0 && !(e & 1) && pl->b[e / 2].size == need) {
            void *p = a->data->base + pl->b[e / 2].off;
            a->rev++;
            a->rnb++;
            if (pl->b[e / 2].off + need > a->data_used)
                a->data_used = pl->b[e / 2].off + need;
            count_in(ctx, need);
            count_tops(a);
            return p;
        }
        if (!leave_plan(a))
            return NULL;
    }
    void *p = dyn_take(ctx, need, true);
    if (!p)
        return NULL;
    if (!a->legacy && !trace_alloc(a, p, need)) {
        dyn_put(a, data_chunk_of(a, p, need), p, need);
        return NULL;
    }
    count_in(ctx, need);
    count_tops(a);
    return p;
}

bool hg_ctx_free_data(hg_ctx *ctx, void *p, size_t bytes)
{
    struct hg_arena *a = ctx->arena;
    if (!p)
        return false;
    bytes = round_up(bytes);
    if (a->replay) {
        const trace *pl = &a->plan;
        unsigned char *q = p;
        if (q < a->data->base || q >= a->data->base + pl->extent)
            return false; /* not in the region: not ours, and no reason to leave the plan */
        int64_t e = a->rev < pl->nev ? pl->ev[a->rev] : -1;
        if (e >= 0 && (e & 1) && a->data->base + pl->b[e / 2].off == q &&
            pl->b[e / 2].size == bytes) {
            a->rev++;
            ctx->in_use -= bytes;
            poison(p, bytes); /* debug builds: a read after release sees NaN */
            return true;
        }
        if (!live_planned(a, q, bytes) || !leave_plan(a))
            return false; /* not a live block: nothing to free, and the plan still holds */
    }
    hg_chunk *c = data_chunk_of(a, p, bytes);
    if (!c || (!a->legacy && trace_free(a, p, bytes) < 0))
        return false;
    poison(p, bytes);
    if (!dyn_put(a, c, p, bytes))
        return false;
    ctx->in_use -= bytes;
    return true;
}

void *hg_ctx_alloc_data(hg_ctx *ctx, size_t bytes, bool zero)
{
    void *p = data_take(ctx, bytes);
    if (!p)
        return NULL;
    return zero ? memset(p, 0, bytes) : poison(p, bytes);
}

/* Op scratch and op state: small requests from the bookkeeping chunks, large ones from the data
 * region, logged so that releasing a mark window hands them back. */
static void *ctx_alloc_raw(hg_ctx *ctx, size_t bytes)
{
    struct hg_arena *a = ctx->arena;
    if (a->legacy) {
        void *p = bytes <= SIZE_MAX - HG_ALIGN ? dyn_take(ctx, round_up(bytes), false) : NULL;
        if (p) {
            count_in(ctx, round_up(bytes));
            count_tops(a);
        } else if (bytes > SIZE_MAX - HG_ALIGN) {
            hg_error(HG_ERR_NOMEM, "context allocation of %zu bytes overflows", bytes);
        }
        return p;
    }
    if (bytes <= HG_META_MAX)
        return meta_take(ctx, round_up(bytes));
    if (!grow(a, (void **)&a->log, &a->cap_log, a->nlog + 1, sizeof *a->log))
        return NULL;
    void *p = data_take(ctx, bytes);
    if (p)
        a->log[a->nlog++] = (span){NULL, 0, round_up(bytes), p};
    return p;
}

void *hg_ctx_alloc(hg_ctx *ctx, size_t bytes) { return poison(ctx_alloc_raw(ctx, bytes), bytes); }

void *hg_ctx_calloc(hg_ctx *ctx, size_t bytes)
{
    void *p = ctx_alloc_raw(ctx, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* ---- marks and reset --------------------------------------------------------------------- */

hg_ctx_mark hg_ctx_mark_get(const hg_ctx *ctx)
{
    const struct hg_arena *a = ctx->arena;
    if (a->legacy)
        return (hg_ctx_mark){a->data_cur, a->data_cur ? a->data_cur->used : 0, ctx->in_use};
    return (hg_ctx_mark){a->meta_cur, a->meta_cur ? a->meta_cur->used : 0, (size_t)a->nlog};
}

/* Rewinds a bump-filled chunk list to a mark: chunks after the marked one hold post-mark memory
 * only. Sets *cur to the chunk to fill next; returns the bytes still used in the list. */
static size_t rewind_to(hg_chunk *list, hg_ctx_mark m, hg_chunk **cur)
{
    hg_chunk *c = m.chunk ? m.chunk : list;
    if (m.chunk) {
        m.chunk->used = m.used;
        c = m.chunk->next;
    }
    for (; c; c = c->next)
        c->used = 0;
    *cur = m.chunk ? m.chunk : list;
    size_t used = 0;
    for (c = list; c; c = c->next)
        used += c->used;
    return used;
}

/* The bump arena's release: rewinds the data chunks to the mark's position; free blocks in the
 * rewound memory are dropped. */
static void legacy_release(hg_ctx *ctx, hg_ctx_mark m)
{
    struct hg_arena *a = ctx->arena;
    a->data_used = rewind_to(a->data, m, &a->data_cur);
    ctx->in_use = m.aux;
    int64_t kept = 0;
    for (int64_t i = 0; i < a->free.n; i++)
        if (a->free.b[i].off + a->free.b[i].size <= a->free.b[i].chunk->used)
            a->free.b[kept++] = a->free.b[i];
    a->free.n = kept;
}

void hg_ctx_release(hg_ctx *ctx, hg_ctx_mark m)
{
    struct hg_arena *a = ctx->arena;
    if (a->legacy) {
        legacy_release(ctx, m);
        return;
    }
    /* large scratch of the window, latest first (its frees then match the order of a replay) */
    while (a->nlog > (int64_t)m.aux) {
        span s = a->log[--a->nlog];
        hg_ctx_free_data(ctx, s.p, s.size);
    }
    size_t before = a->meta_used;
    a->meta_used = rewind_to(a->meta, m, &a->meta_cur);
    ctx->in_use -= before - a->meta_used;
}

/* One bookkeeping chunk as large as the last step's peak (several after a first step). */
static void consolidate_meta(struct hg_arena *a)
{
    if (!a->meta || !a->meta->next)
        return;
    size_t need = a->meta_step_peak > HG_META_CHUNK ? a->meta_step_peak : HG_META_CHUNK;
    hg_chunk *c = chunk_new(a, need);
    if (!c)
        return; /* keep the chunks we have */
    chunks_free(a->meta);
    a->meta = c;
}

/* The step that ends: keeps the plan it followed, or plans its own trace. */
static void plan_step(struct hg_arena *a)
{
    if (a->legacy) {
        a->planned = false;
        return;
    }
    if (a->replay)
        return; /* followed the plan to the end, or a prefix of it: keep it */
    if (a->cur.nb == 0 && !a->planned)
        return;
    a->planned = false;
    if (a->cur.nb == 0 || a->cur.nb > HG_PLAN_MAX_BLOCKS || !plan_trace(a, &a->cur))
        return;
    trace s = a->plan;
    a->plan = a->cur;
    a->cur = s;
    a->planned = layout_for_plan(a);
}

void hg_ctx_reset(hg_ctx *ctx)
{
    struct hg_arena *a = ctx->arena;
    plan_step(a);
    consolidate_meta(a);
    for (hg_chunk *c = a->data; c; c = c->next)
        c->used = 0;
    for (hg_chunk *c = a->meta; c; c = c->next)
        c->used = 0;
    a->data_cur = a->data;
    a->meta_cur = a->meta;
    a->free.n = a->nlog = 0;
    map_clear(a);
    a->cur.nb = a->cur.nev = 0;
    a->replay = a->planned;
    a->rev = a->rnb = 0;
    a->data_used = a->meta_used = a->data_step_peak = a->meta_step_peak = 0;
    a->step_peak = a->step_footprint = 0;
    ctx->in_use = 0;
    ctx->tape_len = 0;
    /* (release_in_backward and the grad-ready hook are settings: they survive reset) */
}

/* ---- liveness: released tensor data ------------------------------------------------------ */

void hg_tensor_release_unsaved(hg_tensor *t)
{
    if (!t || !t->ctx || !t->data || (t->flags & HG_TENSOR_VIEW))
        return;
    if (hg_ctx_free_data(t->ctx, t->data, (size_t)hg_tensor_nfloats(t) * sizeof(float)))
        t->data = NULL;
}

void hg_tensor_release(hg_tensor *t)
{
    if (t && t->ctx && !t->ctx->record_grad)
        hg_tensor_release_unsaved(t);
}
