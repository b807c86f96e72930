/* Private to the library: the context layout and small helpers shared by src/. */
#ifndef HINGE_CORE_INTERNAL_H
#define HINGE_CORE_INTERNAL_H

#include "hinge/autodiff.h"
#include "hinge/core.h"

struct hg_chunk;

struct hg_ctx {
    struct hg_chunk *chunks;  /* arena chunks, kept across resets */
    struct hg_chunk *current; /* chunk being filled */
    size_t in_use;
    size_t peak;
    bool record_grad;
    bool training;
    hg_rng rng; /* stream of stochastic layers */
    hg_node **tape;
    int64_t tape_len;
    int64_t tape_cap;
    struct hg_free_list *free_list; /* tensor data released for reuse (hg_tensor_release) */
    size_t bumped, bump_peak;       /* arena bytes handed out from chunks, and their peak */
    bool release_in_backward;       /* see hg_tape_set_release */
    hg_grad_ready_fn grad_ready; /* see hg_tape_set_grad_ready_hook (NULL: none) */
    void *grad_ready_user;
    struct hg_profile *profile;  /* see hg_ctx_set_profile (NULL: none) */
};

/* Scratch marks: everything hg_ctx_alloc'ed after m = hg_ctx_mark_get(ctx) is handed back by
 * hg_ctx_release(ctx, m), so an op's temporary buffers (im2col columns) do not pile up in the
 * arena until the next reset. Only for scratch that nobody uses after the op returns. */
typedef struct hg_ctx_mark {
    struct hg_chunk *chunk; /* chunk being filled at the mark (NULL: none yet) */
    size_t used;            /* its fill level */
    size_t in_use;
} hg_ctx_mark;
hg_ctx_mark hg_ctx_mark_get(const hg_ctx *ctx);
void hg_ctx_release(hg_ctx *ctx, hg_ctx_mark m);
/* Tensor data: like hg_ctx_alloc/hg_ctx_calloc, but first reuses memory that
 * hg_tensor_release handed back (best fit). Only tensor data goes through here, never op
 * scratch taken inside a mark window, so a released block cannot be lost by hg_ctx_release. */
void *hg_ctx_alloc_data(hg_ctx *ctx, size_t bytes, bool zero);
/* Hands `bytes` (as allocated) at p back for hg_ctx_alloc_data; false (nothing done) when p
 * is not live arena memory of ctx. Debug builds fill the block with NaN. */
bool hg_ctx_free_data(hg_ctx *ctx, void *p, size_t bytes);

/* hg_tensor.flags */
#define HG_TENSOR_VIEW 1u      /* data belongs to another tensor */
#define HG_TENSOR_HEAP_GRAD 2u /* grad was heap-allocated (heap tensors) */
#define HG_TENSOR_LEAF_SEEN 4u /* scratch mark of the grad-ready pre-pass (src/autodiff/tape.c) */

#endif
