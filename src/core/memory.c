/* Heap helpers and the context arena.
 *
 * A context hands out memory from a list of large chunks. Reset rewinds every chunk without
 * freeing it, so a training step that allocates the same sequence every time reaches a steady
 * state with no malloc at all (ggml's discipline).
 *
 * Liveness (inference): hg_tensor_release hands a dead tensor's data back; the block goes to
 * a free list (sorted by chunk and offset, neighbours merged) that later tensor allocations
 * search first (best fit, split). So a forward pass without a tape occupies about the largest
 * set of tensors alive at once instead of the sum of all of them. Op scratch (hg_ctx_alloc,
 * mark windows) never takes from the free list: hg_ctx_release rewinds by position only and
 * would lose such a block. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#define HG_ALIGN 64
#define HG_CHUNK_MIN ((size_t)16 << 20)

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

typedef struct hg_chunk {
    struct hg_chunk *next;
    size_t size;
    size_t used;
    unsigned char *base;
} hg_chunk;

typedef struct hg_free_block {
    hg_chunk *chunk;
    size_t off, size;
} hg_free_block;

/* Kept across resets (emptied), so steady-state steps do not malloc for it either. */
typedef struct hg_free_list {
    hg_free_block *b;
    int64_t n, cap;
} hg_free_list;

static size_t round_up(size_t bytes)
{
    return bytes == 0 ? HG_ALIGN : (bytes + HG_ALIGN - 1) / HG_ALIGN * HG_ALIGN;
}

hg_ctx *hg_ctx_new(void)
{
    hg_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        hg_error(HG_ERR_NOMEM, "out of memory allocating a context");
        return NULL;
    }
    ctx->record_grad = true;
    ctx->training = true;
    return ctx;
}

void hg_ctx_free(hg_ctx *ctx)
{
    if (!ctx)
        return;
    hg_chunk *c = ctx->chunks;
    while (c) {
        hg_chunk *next = c->next;
        free(c->base);
        free(c);
        c = next;
    }
    free(ctx->tape);
    if (ctx->free_list)
        free(ctx->free_list->b);
    free(ctx->free_list);
    free(ctx);
}

void hg_ctx_reset(hg_ctx *ctx)
{
    for (hg_chunk *c = ctx->chunks; c; c = c->next)
        c->used = 0;
    ctx->current = ctx->chunks;
    ctx->in_use = 0;
    ctx->bumped = 0;
    ctx->tape_len = 0;
    /* (release_in_backward and the grad-ready hook are settings: they survive reset) */
    if (ctx->free_list)
        ctx->free_list->n = 0;
}

void hg_ctx_set_grad(hg_ctx *ctx, bool record) { ctx->record_grad = record; }
void hg_ctx_set_rng(hg_ctx *ctx, hg_rng rng) { ctx->rng = rng; }
hg_rng *hg_ctx_rng(hg_ctx *ctx) { return &ctx->rng; }
bool hg_ctx_grad_enabled(const hg_ctx *ctx) { return ctx->record_grad; }
void hg_ctx_set_training(hg_ctx *ctx, bool training) { ctx->training = training; }
bool hg_ctx_training(const hg_ctx *ctx) { return ctx->training; }
size_t hg_ctx_bytes_in_use(const hg_ctx *ctx) { return ctx->in_use; }
size_t hg_ctx_peak_bytes(const hg_ctx *ctx) { return ctx->peak; }
size_t hg_ctx_footprint_bytes(const hg_ctx *ctx) { return ctx->bump_peak; }

static hg_chunk *chunk_new(size_t size)
{
    hg_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = aligned_alloc(HG_ALIGN, size);
    if (!c->base) {
        free(c);
        return NULL;
    }
    c->size = size;
    return c;
}

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

static void count_alloc(hg_ctx *ctx, size_t bytes, bool bumped)
{
    ctx->in_use += bytes;
    if (ctx->in_use > ctx->peak)
        ctx->peak = ctx->in_use;
    if (bumped) {
        ctx->bumped += bytes;
        if (ctx->bumped > ctx->bump_peak)
            ctx->bump_peak = ctx->bumped;
    }
}

static void *ctx_alloc_raw(hg_ctx *ctx, size_t bytes)
{
    if (bytes > SIZE_MAX - HG_ALIGN) {
        hg_error(HG_ERR_NOMEM, "context allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    size_t need = round_up(bytes);
    /* First fit from the current chunk onwards; earlier chunks are full for this step. */
    hg_chunk *prev = NULL;
    for (hg_chunk *c = ctx->current; c; prev = c, c = c->next) {
        if (c->size - c->used >= need) {
            void *p = c->base + c->used;
            c->used += need;
            ctx->current = c;
            count_alloc(ctx, need, true);
            return p;
        }
    }
    size_t size = need > HG_CHUNK_MIN ? need : HG_CHUNK_MIN;
    hg_chunk *c = chunk_new(size);
    if (!c) {
        hg_error(HG_ERR_NOMEM, "out of memory: context needs %zu more bytes (%zu in use)", need,
                 ctx->in_use);
        return NULL;
    }
    if (!ctx->chunks) {
        ctx->chunks = c;
    } else {
        if (!prev)
            for (prev = ctx->chunks; prev->next; prev = prev->next) {}
        prev->next = c;
    }
    c->used = need;
    ctx->current = c;
    count_alloc(ctx, need, true);
    return c->base;
}


void *hg_ctx_alloc(hg_ctx *ctx, size_t bytes) { return poison(ctx_alloc_raw(ctx, bytes), bytes); }

void *hg_ctx_calloc(hg_ctx *ctx, size_t bytes)
{
    void *p = ctx_alloc_raw(ctx, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

hg_ctx_mark hg_ctx_mark_get(const hg_ctx *ctx)
{
    hg_ctx_mark m = {ctx->current, ctx->current ? ctx->current->used : 0, ctx->in_use};
    return m;
}

void hg_ctx_release(hg_ctx *ctx, hg_ctx_mark m)
{
    /* Allocation only moves forward from `current`, so every chunk after the marked one holds
     * post-mark memory only and can be rewound entirely. */
    hg_chunk *c = m.chunk ? m.chunk : ctx->chunks;
    if (m.chunk) {
        m.chunk->used = m.used;
        c = m.chunk->next;
    }
    for (; c; c = c->next)
        c->used = 0;
    ctx->current = m.chunk ? m.chunk : ctx->chunks;
    ctx->in_use = m.in_use;
    ctx->bumped = 0;
    for (c = ctx->chunks; c; c = c->next)
        ctx->bumped += c->used;
    /* Blocks released inside the window that lie in the rewound memory are not free any
     * more: the bump pointer hands them out again. */
    hg_free_list *fl = ctx->free_list;
    int64_t kept = 0;
    for (int64_t i = 0; fl && i < fl->n; i++)
        if (fl->b[i].off + fl->b[i].size <= fl->b[i].chunk->used)
            fl->b[kept++] = fl->b[i];
    if (fl)
        fl->n = kept;
}

/* ---- liveness: released tensor data ------------------------------------------------------ */

static hg_chunk *chunk_of(const hg_ctx *ctx, const void *p, size_t bytes)
{
    const unsigned char *q = p;
    for (hg_chunk *c = ctx->chunks; c; c = c->next)
        if (q >= c->base && q < c->base + c->used)
            return (size_t)(q - c->base) + bytes <= c->used ? c : NULL;
    return NULL;
}

static bool block_before(const hg_free_block *a, const hg_free_block *b)
{
    return a->chunk != b->chunk ? (uintptr_t)a->chunk->base < (uintptr_t)b->chunk->base
                                : a->off < b->off;
}

/* Inserts a block in order and merges it with its neighbours in the same chunk; false when
 * the list cannot grow (the memory then simply stays unused until reset). */
static bool free_list_insert(hg_ctx *ctx, hg_free_block blk)
{
    hg_free_list *fl = ctx->free_list;
    if (!fl && !(fl = ctx->free_list = calloc(1, sizeof *fl)))
        return false;
    int64_t i = 0;
    while (i < fl->n && block_before(&fl->b[i], &blk))
        i++;
    bool merge_prev = i > 0 && fl->b[i - 1].chunk == blk.chunk &&
                      fl->b[i - 1].off + fl->b[i - 1].size == blk.off;
    bool merge_next = i < fl->n && fl->b[i].chunk == blk.chunk &&
                      blk.off + blk.size == fl->b[i].off;
    if (merge_prev && merge_next) {
        fl->b[i - 1].size += blk.size + fl->b[i].size;
        memmove(fl->b + i, fl->b + i + 1, (size_t)(fl->n - i - 1) * sizeof *fl->b);
        fl->n--;
        return true;
    }
    if (merge_prev) {
        fl->b[i - 1].size += blk.size;
        return true;
    }
    if (merge_next) {
        fl->b[i].off = blk.off;
        fl->b[i].size += blk.size;
        return true;
    }
    if (fl->n == fl->cap) {
        int64_t cap = fl->cap ? 2 * fl->cap : 64;
        hg_free_block *b = realloc(fl->b, (size_t)cap * sizeof *b);
        if (!b)
            return false;
        fl->b = b;
        fl->cap = cap;
    }
    memmove(fl->b + i + 1, fl->b + i, (size_t)(fl->n - i) * sizeof *fl->b);
    fl->b[i] = blk;
    fl->n++;
    return true;
}

bool hg_ctx_free_data(hg_ctx *ctx, void *p, size_t bytes)
{
    bytes = round_up(bytes);
    hg_chunk *c = p ? chunk_of(ctx, p, bytes) : NULL;
    if (!c)
        return false;
    poison(p, bytes); /* debug builds: a read after release sees NaN */
    hg_free_block blk = {c, (size_t)((unsigned char *)p - c->base), bytes};
    if (!free_list_insert(ctx, blk))
        return false;
    ctx->in_use -= bytes;
    return true;
}

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

/* The smallest free block that fits (its remainder stays free), or NULL. */
static void *take_free(hg_ctx *ctx, size_t need)
{
    hg_free_list *fl = ctx->free_list;
    int64_t best = -1;
    for (int64_t i = 0; fl && i < fl->n; i++)
        if (fl->b[i].size >= need && (best < 0 || fl->b[i].size < fl->b[best].size))
            best = i;
    if (best < 0)
        return NULL;
    hg_free_block *b = &fl->b[best];
    void *p = b->chunk->base + b->off;
    b->off += need;
    b->size -= need;
    if (b->size == 0) {
        memmove(fl->b + best, fl->b + best + 1, (size_t)(fl->n - best - 1) * sizeof *fl->b);
        fl->n--;
    }
    count_alloc(ctx, need, false);
    return p;
}

void *hg_ctx_alloc_data(hg_ctx *ctx, size_t bytes, bool zero)
{
    void *p = ctx->free_list && bytes <= SIZE_MAX - HG_ALIGN ? take_free(ctx, round_up(bytes))
                                                             : NULL;
    if (!p)
        return zero ? hg_ctx_calloc(ctx, bytes) : hg_ctx_alloc(ctx, bytes);
    return zero ? memset(p, 0, bytes) : poison(p, bytes);
}
