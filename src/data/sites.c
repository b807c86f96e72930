/* Multi-site simulation: the same anatomy as seen by scanners that differ in contrast curve,
 * intensity scale, noise, bias field, resolution and slice thickness. */
#include "hinge/seg_data.h"

#include "seg_data_internal.h"

#include <math.h>
#include <string.h>

hg_site hg_site_random(hg_rng rng)
{
    hg_site s;
    s.scale = (float)exp(log(0.5) + (log(2.0) - log(0.5)) * hg_rng_uniform(&rng));
    s.offset = (float)(-0.2 + 0.4 * hg_rng_uniform(&rng));
    s.gamma = (float)(0.6 + 1.0 * hg_rng_uniform(&rng));
    s.noise_std = (float)(0.01 + 0.07 * hg_rng_uniform(&rng));
    s.bias_strength = (float)(0.3 * hg_rng_uniform(&rng));
    s.blur_sigma = (float)(1.2 * hg_rng_uniform(&rng));
    s.slice_thickness = 1 + (int32_t)hg_rng_below(&rng, 3);
    return s;
}

/* Partial-volume averaging over `t` consecutive slices along D (centred, edges clamped). */
static void thick_slices(float *x, const hg_vol *v, int32_t t, float *tmp)
{
    int64_t plane = v->h * v->w;
    for (int64_t c = 0; c < v->c; c++) {
        float *xc = x + c * v->n;
        for (int64_t z = 0; z < v->d; z++)
            for (int64_t i = 0; i < plane; i++) {
                double s = 0;
                for (int32_t k = 0; k < t; k++) {
                    int64_t zz = z - (t - 1) / 2 + k;
                    zz = zz < 0 ? 0 : zz >= v->d ? v->d - 1 : zz;
                    s += xc[zz * plane + i];
                }
                tmp[z * plane + i] = (float)(s / t);
            }
        memcpy(xc, tmp, sizeof(float) * (size_t)v->n);
    }
}

hg_status hg_site_apply(const hg_site *site, int ndim, hg_rng rng, hg_tensor *image,
                        hg_ctx *ctx)
{
    hg_vol v;
    hg_status s = hg_vol_of("site", image, NULL, ndim, &v);
    if (s)
        return s;
    if (!site || !ctx || !(site->scale > 0) || !(site->gamma > 0) || !(site->noise_std >= 0) ||
        !(site->bias_strength >= 0) || !(site->blur_sigma >= 0) || site->slice_thickness < 1)
        return hg_error(HG_ERR_INVALID, "site: needs a context and scale > 0, gamma > 0, "
                        "noise/bias/blur >= 0, slice thickness >= 1");
    float *tmp = hg_ctx_alloc(ctx, sizeof(float) * (size_t)v.n * 2);
    if (!tmp)
        return HG_ERR_NOMEM;
    float *field = tmp + v.n, *x = image->data;
    hg_rng br = hg_rng_split(&rng, 1), nr = hg_rng_split(&rng, 2);
    hg_vol_bias_field(&v, site->bias_strength, &br, field);
    for (int64_t c = 0; c < v.c; c++)
        for (int64_t i = 0; i < v.n; i++) {
            float t = fminf(fmaxf(x[c * v.n + i], 0.0f), 1.0f);
            x[c * v.n + i] = powf(t, site->gamma) * field[i];
        }
    double sigma[3] = {0, site->blur_sigma, site->blur_sigma};
    hg_vol_blur(x, &v, sigma, tmp);
    if (ndim == 3 && site->slice_thickness > 1)
        thick_slices(x, &v, site->slice_thickness, tmp);
    for (int64_t c = 0; c < v.c; c++) {
        hg_rng_fill_normal(&nr, tmp, v.n, 0.0f, site->noise_std);
        for (int64_t i = 0; i < v.n; i++)
            x[c * v.n + i] = site->scale * x[c * v.n + i] + site->offset + tmp[i];
    }
    return HG_OK;
}
