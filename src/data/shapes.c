/* Synthetic shapes segmentation data set: ellipsoids (odd labels) and boxes (even labels) on a
 * zero background, 2-D or 3-D, each sample a pure function of its random stream. */
#include "hinge/seg_data.h"

#include "seg_data_internal.h"

#include <math.h>
#include <string.h>

static hg_status check_opts(const hg_shapes_opts *o)
{
    if (!o || (o->ndim != 2 && o->ndim != 3))
        return hg_error(HG_ERR_INVALID, "shapes: ndim %d, expected 2 or 3", o ? o->ndim : -1);
    for (int a = 0; a < o->ndim; a++)
        if (o->size[a] < 4 || o->size[a] > 4096)
            return hg_error(HG_ERR_INVALID, "shapes: size[%d] = %lld, expected 4..4096", a,
                            (long long)o->size[a]);
    if (o->classes < 2 || o->classes > 255)
        return hg_error(HG_ERR_INVALID, "shapes: %d classes, expected 2..255", o->classes);
    if (o->objects < 1 || o->objects > 1000)
        return hg_error(HG_ERR_INVALID, "shapes: %d objects, expected 1..1000", o->objects);
    if (o->radius_min < 0 || o->radius_max < o->radius_min || !(o->noise >= 0))
        return hg_error(HG_ERR_INVALID, "shapes: radius %g..%g or noise %g invalid",
                        (double)o->radius_min, (double)o->radius_max, (double)o->noise);
    return HG_OK;
}

hg_status hg_shapes_render(const hg_shapes_opts *o, hg_rng rng, hg_tensor *image,
                           hg_tensor *label)
{
    hg_status s = check_opts(o);
    hg_vol v;
    if (!s)
        s = hg_vol_of("shapes", image, label, o->ndim, &v);
    if (s)
        return s;
    if (!label || v.c != 1 || v.h != o->size[o->ndim - 2] || v.w != o->size[o->ndim - 1] ||
        (o->ndim == 3 && v.d != o->size[0])) {
        char b[64];
        return hg_error(HG_ERR_INVALID, "shapes: image '%s' has shape %s, expected [1, %s] of "
                        "the options' size and a label map", hg_tensor_label(image),
                        hg_shape_str(image, b, sizeof b), o->ndim == 2 ? "H, W" : "D, H, W");
    }
    int64_t dims[3] = {v.d, v.h, v.w};
    double smallest = (double)(o->ndim == 3 ? fmin(v.d, fmin(v.h, v.w)) : fmin(v.h, v.w));
    double rmin = o->radius_min > 0 ? o->radius_min : smallest / 10;
    double rmax = o->radius_max > 0 ? o->radius_max : smallest / 4;
    memset(image->data, 0, sizeof(float) * (size_t)v.n);
    memset(label->data, 0, sizeof(float) * (size_t)v.n);
    for (int32_t j = 0; j < o->objects; j++) {
        int k = 1 + j % (o->classes - 1); /* every class appears when objects >= classes-1 */
        double c[3] = {0}, r[3] = {1, 1, 1};
        for (int a = 3 - o->ndim; a < 3; a++) {
            r[a] = rmin + (rmax - rmin) * hg_rng_uniform(&rng);
            double lo = fmin(r[a], (double)dims[a] / 2), hi = (double)dims[a] - 1 - lo;
            c[a] = lo + (hi - lo) * hg_rng_uniform(&rng);
        }
        float value = 0.2f + 0.8f * (float)k / (float)(o->classes - 1) +
                      0.1f * ((float)hg_rng_uniform(&rng) - 0.5f);
        bool box = k % 2 == 0;
        for (int64_t i = 0; i < v.n; i++) {
            double p[3] = {(double)(i / (v.h * v.w)), (double)((i / v.w) % v.h),
                           (double)(i % v.w)};
            double q = 0;
            for (int a = 3 - o->ndim; a < 3; a++) {
                double t = (p[a] - c[a]) / r[a];
                q = box ? fmax(q, fabs(t)) : q + t * t;
            }
            if (q <= 1.0) {
                image->data[i] = value;
                label->data[i] = (float)k;
            }
        }
    }
    if (o->noise > 0) {
        for (int64_t i = 0; i < v.n; i++)
            image->data[i] += o->noise * (float)hg_rng_normal(&rng);
    }
    return HG_OK;
}

hg_status hg_shapes_batch(const hg_shapes_opts *o, uint64_t seed, int64_t first, int64_t n,
                          hg_ctx *ctx, hg_tensor **x, hg_tensor **y)
{
    hg_status s = check_opts(o);
    if (s)
        return s;
    if (n < 1 || first < 0 || !x || !y)
        return hg_error(HG_ERR_INVALID, "shapes: batch of %lld from %lld, expected n >= 1",
                        (long long)n, (long long)first);
    int64_t xs[5] = {n, 1}, ys[4] = {n};
    for (int a = 0; a < o->ndim; a++)
        xs[2 + a] = ys[1 + a] = o->size[a];
    hg_tensor *X = hg_tensor_new(ctx, HG_F32, o->ndim + 2, xs);
    hg_tensor *Y = hg_tensor_new(ctx, HG_F32, o->ndim + 1, ys);
    if (!X || !Y) {
        if (!ctx)
            hg_tensor_free(X), hg_tensor_free(Y);
        return HG_ERR_NOMEM;
    }
    int64_t per = X->numel / n;
    hg_rng base = hg_rng_new(seed);
    s = HG_OK;
#pragma omp parallel for schedule(dynamic) reduction(| : s) if (n > 1)
    for (int64_t i = 0; i < n; i++) {
        /* views of sample i (no allocation): shapes [1, S] and [S] */
        hg_tensor xi = *X, yi = *Y;
        xi.ndim = o->ndim + 1;
        xi.shape[0] = 1;
        for (int a = 0; a < o->ndim; a++)
            xi.shape[1 + a] = o->size[a];
        xi.numel = per;
        xi.data = X->data + i * per;
        xi.node = NULL;
        yi.ndim = o->ndim;
        for (int a = 0; a < o->ndim; a++)
            yi.shape[a] = o->size[a];
        yi.numel = per;
        yi.data = Y->data + i * per;
        yi.node = NULL;
        s |= hg_shapes_render(o, hg_rng_split(&base, (uint64_t)(first + i)), &xi, &yi);
    }
    if (s) {
        if (!ctx)
            hg_tensor_free(X), hg_tensor_free(Y);
        return hg_error(s, "shapes: rendering the batch failed");
    }
    *x = X;
    *y = Y;
    return HG_OK;
}
