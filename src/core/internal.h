/* Private to the library: the context layout and small helpers shared by src/. */
#ifndef HINGE_CORE_INTERNAL_H
#define HINGE_CORE_INTERNAL_H

#include "hinge/autodiff.h"
#include "hinge/core.h"

struct hg_chunk;
struct hg_arena; /* src/core/memory.c */

struct hg_ctx {
    struct hg_arena *arena; /* chunks, free list, scratch log, allocation trace and plan */
    size_t in_use;
    size_t peak;
    bool record_grad;
    bool training;
    hg_rng rng; /* stream of stochastic layers */
    hg_node **tape;
    int64_t tape_len;
    int64_t tape_cap;
    bool release_in_backward; /* see hg_tape_set_release */
    hg_grad_ready_fn grad_ready; /* see hg_tape_set_grad_ready_hook (NULL: none) */
    void *grad_ready_user;
    struct hg_profile *profile;  /* see hg_ctx_set_profile (NULL: none) */
};

/* Scratch marks: everything hg_ctx_alloc'ed after m = hg_ctx_mark_get(ctx) is handed back by
 * hg_ctx_release(ctx, m), so an op's temporary buffers (im2col columns) do not pile up in the
 * arena until the next reset. Only for scratch that nobody uses after the op returns. Small
 * requests come from the bookkeeping chunks and are rewound by position; large ones come from
 * the data region (free list first) and are logged, and release hands the logged blocks back.
 * Tensor data (hg_ctx_alloc_data) taken inside a window is not logged: it lives until it is
 * freed or the context is reset. */
typedef struct hg_ctx_mark {
    struct hg_chunk *chunk; /* bookkeeping chunk being filled at the mark (NULL: none yet) */
    size_t used;            /* its fill level */
    size_t aux;             /* scratch log length (legacy arena: bytes in use at the mark) */
} hg_ctx_mark;
hg_ctx_mark hg_ctx_mark_get(const hg_ctx *ctx);
void hg_ctx_release(hg_ctx *ctx, hg_ctx_mark m);
/* Tensor data: like hg_ctx_alloc/hg_ctx_calloc, but always from the data region (a planned
 * place, else best fit from the free list, else the top of a chunk), whatever the size. */
void *hg_ctx_alloc_data(hg_ctx *ctx, size_t bytes, bool zero);
/* Hands `bytes` (as allocated) at p back for later allocations; false (nothing done) when p
 * is not a live data block of ctx. Debug builds fill the block with NaN. */
bool hg_ctx_free_data(hg_ctx *ctx, void *p, size_t bytes);
/* Test and bench hook: the allocator as it was before allocation planning (every request,
 * tensor headers and op scratch included, bumped into the data chunks; scratch windows rewound
 * by position; freed blocks never merge into a chunk's top; no plan), so a test can measure
 * what planning saves. Only on a context that has not allocated since creation or reset. */
void hg_ctx_set_legacy_arena(hg_ctx *ctx, bool on);

/* hg_tensor.flags */
#define HG_TENSOR_VIEW 1u      /* data belongs to another tensor */
#define HG_TENSOR_HEAP_GRAD 2u /* grad was heap-allocated (heap tensors) */
#define HG_TENSOR_LEAF_SEEN 4u /* scratch mark of the grad-ready pre-pass (src/autodiff/tape.c) */

#endif
