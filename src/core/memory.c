/* Heap helpers and the context arena.
 *
 * A context hands out memory from a list of large chunks. Reset rewinds every chunk without
 * freeing it, so a training step that allocates the same sequence every time reaches a steady
 * state with no malloc at all (ggml's discipline). */
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
    free(ctx);
}

void hg_ctx_reset(hg_ctx *ctx)
{
    for (hg_chunk *c = ctx->chunks; c; c = c->next)
        c->used = 0;
    ctx->current = ctx->chunks;
    ctx->in_use = 0;
    ctx->tape_len = 0;
}

void hg_ctx_set_grad(hg_ctx *ctx, bool record) { ctx->record_grad = record; }
void hg_ctx_set_rng(hg_ctx *ctx, hg_rng rng) { ctx->rng = rng; }
hg_rng *hg_ctx_rng(hg_ctx *ctx) { return &ctx->rng; }
bool hg_ctx_grad_enabled(const hg_ctx *ctx) { return ctx->record_grad; }
void hg_ctx_set_training(hg_ctx *ctx, bool training) { ctx->training = training; }
bool hg_ctx_training(const hg_ctx *ctx) { return ctx->training; }
size_t hg_ctx_bytes_in_use(const hg_ctx *ctx) { return ctx->in_use; }
size_t hg_ctx_peak_bytes(const hg_ctx *ctx) { return ctx->peak; }

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

static void *ctx_alloc_raw(hg_ctx *ctx, size_t bytes)
{
    if (bytes > SIZE_MAX - HG_ALIGN) {
        hg_error(HG_ERR_NOMEM, "context allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    size_t need = bytes == 0 ? HG_ALIGN : (bytes + HG_ALIGN - 1) / HG_ALIGN * HG_ALIGN;
    /* First fit from the current chunk onwards; earlier chunks are full for this step. */
    hg_chunk *prev = NULL;
    for (hg_chunk *c = ctx->current; c; prev = c, c = c->next) {
        if (c->size - c->used >= need) {
            void *p = c->base + c->used;
            c->used += need;
            ctx->current = c;
            ctx->in_use += need;
            if (ctx->in_use > ctx->peak)
                ctx->peak = ctx->in_use;
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
    ctx->in_use += need;
    if (ctx->in_use > ctx->peak)
        ctx->peak = ctx->in_use;
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
}
