/* Resampling of [C, D, H, W] volumes to another grid over the same field of view: trilinear
 * for images and scores, nearest neighbour for label maps. */
#include "hinge/seg_plan.h"

#include <math.h>
#include <stdlib.h>

int64_t hg_resample_size(int64_t n, double from, double to)
{
    double v = n > 0 && from > 0 && to > 0 ? round((double)n * from / to) : 1.0;
    return v < 1 ? 1 : (int64_t)v;
}

/* Source coordinate of output voxel i: voxel centres of one field of view. Per axis, the
 * lower index, the weight of the upper one, and the nearest index. */
typedef struct {
    int64_t lo, hi, nearest;
    float t;
} tap;

static void axis_taps(int64_t n_in, int64_t n_out, tap *taps)
{
    double scale = (double)n_in / (double)n_out;
    for (int64_t i = 0; i < n_out; i++) {
        double c = ((double)i + 0.5) * scale - 0.5;
        if (c < 0)
            c = 0;
        if (c > (double)(n_in - 1))
            c = (double)(n_in - 1);
        double f = floor(c);
        taps[i].lo = (int64_t)f;
        taps[i].hi = taps[i].lo + 1 < n_in ? taps[i].lo + 1 : taps[i].lo;
        taps[i].t = (float)(c - f);
        int64_t r = (int64_t)floor(c + 0.5);
        taps[i].nearest = r < n_in ? r : n_in - 1;
    }
}

hg_tensor *hg_resample(const hg_tensor *x, const int64_t out[3], hg_interp interp)
{
    char b[64];
    if (!x || x->dtype != HG_F32 || (x->ndim != 3 && x->ndim != 4)) {
        hg_error(HG_ERR_INVALID, "resample: '%s' has shape %s, expected [C, D, H, W] or "
                 "[D, H, W] (real)", hg_tensor_label(x), x ? hg_shape_str(x, b, sizeof b) : "NULL");
        return NULL;
    }
    for (int a = 0; a < 3; a++)
        if (out[a] < 1 || out[a] > (1 << 20)) {
            hg_error(HG_ERR_INVALID, "resample: output size %lld (axis %d) out of range",
                     (long long)out[a], a);
            return NULL;
        }
    int64_t c = x->ndim == 4 ? x->shape[0] : 1;
    const int64_t *in = x->shape + x->ndim - 3;
    int64_t shape[4] = {c, out[0], out[1], out[2]};
    hg_tensor *y = x->ndim == 4 ? hg_tensor_empty(NULL, HG_F32, 4, shape)
                                : hg_tensor_empty(NULL, HG_F32, 3, shape + 1);
    tap *t = y ? malloc(sizeof *t * (size_t)(out[0] + out[1] + out[2])) : NULL;
    if (!t) {
        hg_tensor_free(y);
        hg_error(HG_ERR_NOMEM, "resample: out of memory for %lld x %lld x %lld x %lld",
                 (long long)c, (long long)out[0], (long long)out[1], (long long)out[2]);
        return NULL;
    }
    tap *tz = t, *ty = t + out[0], *tx = ty + out[1];
    axis_taps(in[0], out[0], tz);
    axis_taps(in[1], out[1], ty);
    axis_taps(in[2], out[2], tx);
    int64_t plane = in[1] * in[2], vin = in[0] * plane, vout = out[0] * out[1] * out[2];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t z = 0; z < out[0]; z++) {
            const float *src = x->data + ch * vin;
            float *dst = y->data + ch * vout + z * out[1] * out[2];
            for (int64_t yy = 0; yy < out[1]; yy++)
                for (int64_t xx = 0; xx < out[2]; xx++, dst++) {
                    if (interp == HG_INTERP_NEAREST) {
                        *dst = src[tz[z].nearest * plane + ty[yy].nearest * in[2] +
                                   tx[xx].nearest];
                        continue;
                    }
                    const float *p0 = src + tz[z].lo * plane, *p1 = src + tz[z].hi * plane;
                    int64_t r0 = ty[yy].lo * in[2], r1 = ty[yy].hi * in[2];
                    int64_t c0 = tx[xx].lo, c1 = tx[xx].hi;
                    float wx = tx[xx].t, wy = ty[yy].t, wz = tz[z].t;
                    float a0 = p0[r0 + c0] + wx * (p0[r0 + c1] - p0[r0 + c0]);
                    float a1 = p0[r1 + c0] + wx * (p0[r1 + c1] - p0[r1 + c0]);
                    float b0 = p1[r0 + c0] + wx * (p1[r0 + c1] - p1[r0 + c0]);
                    float b1 = p1[r1 + c0] + wx * (p1[r1 + c1] - p1[r1 + c0]);
                    float a = a0 + wy * (a1 - a0), bb = b0 + wy * (b1 - b0);
                    *dst = a + wz * (bb - a);
                }
        }
    free(t);
    return y;
}
