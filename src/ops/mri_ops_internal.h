/* Shape checks shared by the learned-MRI ops (coil_sense.c, kspace_soft_dc.c, sense_cg_dc.c).
 * Private to src/ops. */
#ifndef HINGE_OPS_MRI_OPS_INTERNAL_H
#define HINGE_OPS_MRI_OPS_INTERNAL_H

#include "hinge/mri_learned.h"
#include "ops/actloss_internal.h"

/* t must be `dtype` of rank ndim_lo..5 with t->shape[0] == n (when n >= 0), t->shape[1] ==
 * channels (when channels >= 0) and the spatial shape of ref (dims 2..) when ref != NULL. */
static inline bool hg__mri_check(const char *op, const hg_tensor *t, hg_dtype dtype, int64_t n,
                                 int64_t channels, const hg_tensor *ref)
{
    char got[96], want[96];
    hg_shape_str(t, got, sizeof got);
    if (t->dtype != dtype || t->ndim < 3) {
        hg_error(HG_ERR_INVALID, "%s: %s must be %s [N, C, *S] (2-D or 3-D S), got %s %s", op,
                 hg_tensor_label(t), dtype == HG_C64 ? "complex" : "real",
                 t->dtype == HG_C64 ? "complex" : "real", got);
        return false;
    }
    bool ok = (n < 0 || t->shape[0] == n) && (channels < 0 || t->shape[1] == channels);
    if (ref) {
        ok = ok && t->ndim == ref->ndim;
        for (int d = 2; ok && d < t->ndim; d++)
            ok = t->shape[d] == ref->shape[d];
    }
    if (!ok) {
        if (ref)
            hg_shape_str(ref, want, sizeof want);
        hg_error(HG_ERR_INVALID, "%s: %s %s does not fit: expected batch %lld, %lld channels%s%s",
                 op, hg_tensor_label(t), got, (long long)n, (long long)channels,
                 ref ? ", spatial size of " : "", ref ? want : "");
    }
    return ok;
}

/* Spatial elements of [N, C, *S]. */
static inline int64_t hg__mri_spatial(const hg_tensor *t)
{
    int64_t s = 1;
    for (int d = 2; d < t->ndim; d++)
        s *= t->shape[d];
    return s;
}

#endif
