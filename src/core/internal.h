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
};

/* hg_tensor.flags */
#define HG_TENSOR_VIEW 1u      /* data belongs to another tensor */
#define HG_TENSOR_HEAP_GRAD 2u /* grad was heap-allocated (heap tensors) */

#endif
