/* Patch sampling with a foreground ratio (nnU-Net style oversampling of labelled regions). */
#include "hinge/seg_data.h"

#include "seg_data_internal.h"

#include <string.h>

hg_status hg_patch_sample(const hg_tensor *image, const hg_tensor *label, int ndim,
                          const int64_t *patch, float fg_ratio, hg_rng rng, hg_tensor *out_image,
                          hg_tensor *out_label)
{
    hg_vol v, pv;
    hg_status s = hg_vol_of("patch", image, label, ndim, &v);
    if (!s)
        s = hg_vol_of("patch", out_image, out_label, ndim, &pv);
    if (s)
        return s;
    if (!label || !out_label || !patch || !(fg_ratio >= 0 && fg_ratio <= 1))
        return hg_error(HG_ERR_INVALID, "patch: labels, patch size and fg_ratio in [0, 1] "
                        "(got %g) are required", (double)fg_ratio);
    int64_t want[3] = {1, 1, 1}, got[3] = {pv.d, pv.h, pv.w}, dims[3] = {v.d, v.h, v.w};
    for (int a = 0; a < ndim; a++)
        want[3 - ndim + a] = patch[a];
    for (int a = 0; a < 3; a++)
        if (want[a] != got[a] || pv.c != v.c)
            return hg_error(HG_ERR_INVALID, "patch: output '%s' has %lld channels and size "
                            "%lld x %lld x %lld, expected %lld channels and %lld x %lld x %lld",
                            hg_tensor_label(out_image), (long long)pv.c, (long long)got[0],
                            (long long)got[1], (long long)got[2], (long long)v.c,
                            (long long)want[0], (long long)want[1], (long long)want[2]);
    /* corner of the patch in the image (may be negative or overhang: padding) */
    int64_t corner[3] = {0, 0, 0};
    int64_t fg = -1;
    if (hg_rng_uniform(&rng) < fg_ratio) {
        int64_t count = 0;
        for (int64_t i = 0; i < v.n; i++)
            count += label->data[i] > 0;
        if (count) {
            int64_t pick = (int64_t)hg_rng_below(&rng, (uint64_t)count);
            for (int64_t i = 0; i < v.n && fg < 0; i++)
                if (label->data[i] > 0 && pick-- == 0)
                    fg = i;
        }
    }
    int64_t at[3] = {fg / (v.h * v.w), (fg / v.w) % v.h, fg % v.w};
    for (int a = 0; a < 3; a++) {
        int64_t lo = 0, hi = dims[a] - want[a]; /* inside placements */
        if (hi < 0) { /* patch larger than the image: centre it */
            corner[a] = hi / 2;
            continue;
        }
        if (fg >= 0) {
            int64_t c = at[a] - want[a] / 2;
            corner[a] = c < lo ? lo : c > hi ? hi : c;
        } else {
            corner[a] = (int64_t)hg_rng_below(&rng, (uint64_t)(hi + 1));
        }
    }
    for (int64_t c = 0; c < v.c; c++)
        for (int64_t z = 0; z < pv.d; z++)
            for (int64_t y = 0; y < pv.h; y++)
                for (int64_t x = 0; x < pv.w; x++) {
                    int64_t sz = z + corner[0], sy = y + corner[1], sx = x + corner[2];
                    int64_t o = ((c * pv.d + z) * pv.h + y) * pv.w + x;
                    bool in = sz >= 0 && sz < v.d && sy >= 0 && sy < v.h && sx >= 0 && sx < v.w;
                    int64_t i = (sz * v.h + sy) * v.w + sx;
                    out_image->data[o] = in ? image->data[c * v.n + i] : 0.0f;
                    if (c == 0)
                        out_label->data[o - c * pv.n] = in ? label->data[i] : 0.0f;
                }
    return HG_OK;
}
