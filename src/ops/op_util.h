/* Helpers shared by the op files (private to src/ops). */
#ifndef HINGE_OPS_OP_UTIL_H
#define HINGE_OPS_OP_UTIL_H

#include "core/internal.h"
#include "hinge/ops.h"

#include <string.h>

/* Returns true (and keeps the first error) when any input is NULL. */
#define HG_PROPAGATE_NULL(...)                                                                 \
    do {                                                                                       \
        const hg_tensor *hg__in[] = {__VA_ARGS__};                                             \
        for (size_t hg__i = 0; hg__i < sizeof hg__in / sizeof hg__in[0]; hg__i++)              \
            if (!hg__in[hg__i]) {                                                              \
                if (hg_error_status() == HG_OK)                                                \
                    hg_error(HG_ERR_INVALID, "%s: input %zu is NULL", __func__, hg__i);        \
                return NULL;                                                                   \
            }                                                                                  \
    } while (0)

/* Fails with a message naming op and tensor unless t is real (float32). */
static inline bool hg_require_real(const char *op, const hg_tensor *t)
{
    if (t->dtype == HG_F32)
        return true;
    hg_error(HG_ERR_INVALID, "%s: %s must be real (f32), got complex", op, hg_tensor_label(t));
    return false;
}

/* Fails unless t has between lo and hi dimensions. */
static inline bool hg_require_rank(const char *op, const hg_tensor *t, int lo, int hi)
{
    if (t->ndim >= lo && t->ndim <= hi)
        return true;
    hg_error(HG_ERR_INVALID, "%s: %s rank: expected %d to %d dimensions, got %d", op,
             hg_tensor_label(t), lo, hi, t->ndim);
    return false;
}

/* Accumulates n floats of src into dst. */
static inline void hg_accumulate(float *restrict dst, const float *restrict src, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* Broadcasting of two shapes (numpy rules, right-aligned). */
typedef struct hg_broadcast {
    int32_t ndim;
    int64_t shape[HG_MAX_DIMS];
    int64_t stride_a[HG_MAX_DIMS]; /* 0 along broadcast dimensions */
    int64_t stride_b[HG_MAX_DIMS];
    int64_t numel;
    bool same;                     /* a and b have the output's shape */
} hg_broadcast;

hg_status hg_broadcast_shapes(const char *op, const hg_tensor *a, const hg_tensor *b,
                              hg_broadcast *bc);
/* Offsets into a and b of the output element at flat index i. */
static inline void hg_broadcast_offsets(const hg_broadcast *bc, int64_t i, int64_t *oa,
                                        int64_t *ob)
{
    int64_t a = 0, b = 0;
    for (int d = bc->ndim - 1; d >= 0; d--) {
        int64_t k = i % bc->shape[d];
        i /= bc->shape[d];
        a += k * bc->stride_a[d];
        b += k * bc->stride_b[d];
    }
    *oa = a;
    *ob = b;
}

#endif
