/* Augmentation of an image [C, S] and its label map [S], consistent between the two.
 *
 * Spatial transforms (flips, 90-degree rotations, zoom, elastic) are composed into one map from
 * output to source coordinates and applied in a single resampling pass: linear for the
 * image, nearest for the labels, so labels never take values that were not there. Intensity
 * transforms follow (gamma, contrast, bias field, blur, resolution change, noise). Every draw
 * comes from the rng passed by value, in a fixed order, whether or not a transform fires. */
#include "hinge/seg_data.h"

#include "seg_data_internal.h"

#include <math.h>
#include <string.h>

typedef struct spatial {
    bool any, flip[3];
    int rot;         /* quarter turns in (H, W) */
    double scale;    /* zoom */
    float *disp;     /* elastic control points: [3][gd][gh][gw] displacements or NULL */
    hg_vol grid;     /* control point lattice */
    double gstep;
} spatial;

static bool fires(hg_rng *rng, float p) { return hg_rng_uniform(rng) < (double)p; }
static double between(hg_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * hg_rng_uniform(rng);
}

static hg_status check_opts(const hg_augment_opts *o)
{
    float probs[] = {o->p_flip, o->p_rot90, o->p_scale, o->p_elastic, o->p_gamma, o->p_contrast,
                     o->p_noise, o->p_bias, o->p_blur, o->p_lowres};
    for (size_t i = 0; i < sizeof probs / sizeof *probs; i++)
        if (!(probs[i] >= 0 && probs[i] <= 1))
            return hg_error(HG_ERR_INVALID, "augment: probability #%zu is %g, expected [0, 1]",
                            i, (double)probs[i]);
    if (o->p_scale > 0 && !(o->scale_min > 0 && o->scale_max >= o->scale_min))
        return hg_error(HG_ERR_INVALID, "augment: scale range %g..%g, expected 0 < min <= max",
                        (double)o->scale_min, (double)o->scale_max);
    if (o->p_gamma > 0 && !(o->gamma_min > 0 && o->gamma_max >= o->gamma_min))
        return hg_error(HG_ERR_INVALID, "augment: gamma range %g..%g, expected 0 < min <= max",
                        (double)o->gamma_min, (double)o->gamma_max);
    if (o->p_lowres > 0 && !(o->lowres_min > 0 && o->lowres_min <= 1))
        return hg_error(HG_ERR_INVALID, "augment: lowres_min %g, expected (0, 1]",
                        (double)o->lowres_min);
    if (o->elastic_grid < 0 || o->blur_sigma_max < 0 || o->noise_std < 0 ||
        o->bias_strength < 0 || o->elastic_alpha < 0)
        return hg_error(HG_ERR_INVALID, "augment: negative elastic/blur/noise/bias setting");
    return HG_OK;
}

/* Draws the spatial part (always the same number of draws per transform). */
static hg_status draw_spatial(const hg_augment_opts *o, int ndim, const hg_vol *v, hg_rng *rng,
                              hg_ctx *ctx, spatial *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->scale = 1.0;
    for (int a = 3 - ndim; a < 3; a++) {
        sp->flip[a] = fires(rng, o->p_flip);
        sp->any |= sp->flip[a];
    }
    bool rot = fires(rng, o->p_rot90);
    int k = 1 + (int)hg_rng_below(rng, 3);
    if (rot && v->h == v->w) {
        sp->rot = k;
        sp->any = true;
    }
    bool zoom = fires(rng, o->p_scale);
    double s = between(rng, o->scale_min, o->scale_max);
    if (zoom) {
        sp->scale = s;
        sp->any = true;
    }
    hg_rng el = hg_rng_split(rng, 1); /* the field's draws do not shift later transforms */
    if (fires(rng, o->p_elastic) && o->elastic_alpha > 0) {
        sp->gstep = o->elastic_grid > 0 ? o->elastic_grid : 8;
        hg_vol g = {3, 1, 1, 1, 0};
        int64_t dims[3] = {v->d, v->h, v->w}, *gd[3] = {&g.d, &g.h, &g.w};
        for (int a = 3 - ndim; a < 3; a++)
            *gd[a] = (int64_t)ceil((double)(dims[a] - 1) / sp->gstep) + 1;
        g.n = g.d * g.h * g.w;
        sp->grid = g;
        sp->disp = hg_ctx_calloc(ctx, sizeof(float) * (size_t)(3 * g.n));
        if (!sp->disp)
            return HG_ERR_NOMEM;
        for (int a = 3 - ndim; a < 3; a++)
            hg_rng_fill_normal(&el, sp->disp + a * g.n, g.n, 0.0f, o->elastic_alpha);
        sp->any = true;
    }
    return HG_OK;
}

/* Source coordinate (voxel units) of output voxel p. */
static void source_of(const spatial *sp, const hg_vol *v, const double p[3], double q[3])
{
    double c[3] = {0.5 * (double)(v->d - 1), 0.5 * (double)(v->h - 1), 0.5 * (double)(v->w - 1)};
    double r[3];
    for (int a = 0; a < 3; a++)
        r[a] = p[a];
    if (sp->disp) {
        double gz = p[0] / sp->gstep, gy = p[1] / sp->gstep, gx = p[2] / sp->gstep;
        for (int a = 0; a < 3; a++)
            r[a] += hg_vol_linear(sp->disp + a * sp->grid.n, &sp->grid, gz, gy, gx);
    }
    for (int a = 0; a < 3; a++)
        r[a] = (r[a] - c[a]) / sp->scale;
    for (int k = 0; k < sp->rot; k++) { /* quarter turn: (y, x) <- (x, -y) */
        double y = r[1];
        r[1] = r[2];
        r[2] = -y;
    }
    for (int a = 0; a < 3; a++)
        q[a] = (sp->flip[a] ? -r[a] : r[a]) + c[a];
}

static void resample(const spatial *sp, const hg_vol *v, const float *img, const float *lab,
                     float *img_out, float *lab_out)
{
#pragma omp parallel for schedule(static) if (v->n > 16384)
    for (int64_t i = 0; i < v->n; i++) {
        double p[3] = {(double)(i / (v->h * v->w)), (double)((i / v->w) % v->h),
                       (double)(i % v->w)}, q[3];
        source_of(sp, v, p, q);
        for (int64_t c = 0; c < v->c; c++)
            img_out[c * v->n + i] = hg_vol_linear(img + c * v->n, v, q[0], q[1], q[2]);
        if (lab) {
            int64_t z = (int64_t)lround(q[0]), y = (int64_t)lround(q[1]),
                    x = (int64_t)lround(q[2]);
            z = z < 0 ? 0 : z >= v->d ? v->d - 1 : z;
            y = y < 0 ? 0 : y >= v->h ? v->h - 1 : y;
            x = x < 0 ? 0 : x >= v->w ? v->w - 1 : x;
            lab_out[i] = lab[(z * v->h + y) * v->w + x];
        }
    }
}

static void channel_range(const float *x, int64_t n, float *lo, float *hi)
{
    float a = x[0], b = x[0];
    for (int64_t i = 1; i < n; i++) {
        a = fminf(a, x[i]);
        b = fmaxf(b, x[i]);
    }
    *lo = a;
    *hi = b;
}

/* Resolution change: blur for the coarser grid, sample it there, interpolate back. */
static void lowres(float *x, const hg_vol *v, int ndim, double f, float *tmp, float *coarse)
{
    hg_vol cv = *v;
    cv.c = 1;
    if (ndim == 3)
        cv.d = (int64_t)fmax(1, lround((double)v->d * f));
    cv.h = (int64_t)fmax(1, lround((double)v->h * f));
    cv.w = (int64_t)fmax(1, lround((double)v->w * f));
    cv.n = cv.d * cv.h * cv.w;
    double sig = 0.5 / f, sigma[3] = {ndim == 3 ? sig : 0, sig, sig};
    hg_vol one = *v;
    one.c = 1;
    double rz = (double)v->d / (double)cv.d, ry = (double)v->h / (double)cv.h,
           rx = (double)v->w / (double)cv.w;
    for (int64_t c = 0; c < v->c; c++) {
        float *xc = x + c * v->n;
        hg_vol_blur(xc, &one, sigma, tmp);
        for (int64_t i = 0; i < cv.n; i++) /* cell centres of the coarse grid */
            coarse[i] = hg_vol_linear(xc, &one, ((double)(i / (cv.h * cv.w)) + 0.5) * rz - 0.5,
                                      ((double)((i / cv.w) % cv.h) + 0.5) * ry - 0.5,
                                      ((double)(i % cv.w) + 0.5) * rx - 0.5);
        for (int64_t i = 0; i < v->n; i++)
            xc[i] = hg_vol_linear(coarse, &cv, ((double)(i / (v->h * v->w)) + 0.5) / rz - 0.5,
                                  ((double)((i / v->w) % v->h) + 0.5) / ry - 0.5,
                                  ((double)(i % v->w) + 0.5) / rx - 0.5);
    }
}

hg_status hg_augment(const hg_augment_opts *o, int ndim, hg_rng rng, hg_tensor *image,
                     hg_tensor *label, hg_ctx *ctx)
{
    hg_vol v;
    hg_status s = o ? check_opts(o) : hg_error(HG_ERR_INVALID, "augment: NULL options");
    if (!s)
        s = hg_vol_of("augment", image, label, ndim, &v);
    if (!s && !ctx)
        s = hg_error(HG_ERR_INVALID, "augment: a context is needed for scratch memory");
    if (s)
        return s;
    spatial sp;
    if ((s = draw_spatial(o, ndim, &v, &rng, ctx, &sp)))
        return s;
    float *tmp = hg_ctx_alloc(ctx, sizeof(float) * (size_t)(v.n * (v.c + 2)));
    if (!tmp)
        return HG_ERR_NOMEM;
    if (sp.any) {
        float *img = tmp, *lab = tmp + v.c * v.n;
        memcpy(img, image->data, sizeof(float) * (size_t)(v.c * v.n));
        if (label)
            memcpy(lab, label->data, sizeof(float) * (size_t)v.n);
        resample(&sp, &v, img, label ? lab : NULL, image->data, label ? label->data : NULL);
    }
    float *x = image->data, *t1 = tmp, *t2 = tmp + v.n;
    /* gamma */
    bool f = fires(&rng, o->p_gamma);
    double g = between(&rng, o->gamma_min, o->gamma_max);
    for (int64_t c = 0; f && c < v.c; c++) {
        float lo, hi;
        channel_range(x + c * v.n, v.n, &lo, &hi);
        if (hi > lo)
            for (int64_t i = 0; i < v.n; i++) {
                float *p = x + c * v.n + i;
                *p = lo + (hi - lo) * (float)pow((*p - lo) / (hi - lo), g);
            }
    }
    /* contrast about the channel mean */
    f = fires(&rng, o->p_contrast);
    double k = between(&rng, o->contrast_min, o->contrast_max);
    for (int64_t c = 0; f && c < v.c; c++) {
        double m = 0;
        for (int64_t i = 0; i < v.n; i++)
            m += x[c * v.n + i];
        m /= (double)v.n;
        for (int64_t i = 0; i < v.n; i++)
            x[c * v.n + i] = (float)(m + k * (x[c * v.n + i] - m));
    }
    /* bias field */
    f = fires(&rng, o->p_bias);
    hg_rng br = hg_rng_split(&rng, 2);
    if (f && o->bias_strength > 0) {
        hg_vol_bias_field(&v, o->bias_strength, &br, t1);
        for (int64_t c = 0; c < v.c; c++)
            for (int64_t i = 0; i < v.n; i++)
                x[c * v.n + i] *= t1[i];
    }
    /* blur */
    f = fires(&rng, o->p_blur);
    double sg = between(&rng, 0.5, fmax(0.5, o->blur_sigma_max));
    if (f && o->blur_sigma_max > 0) {
        double sigma[3] = {ndim == 3 ? sg : 0, sg, sg};
        hg_vol_blur(x, &v, sigma, t1);
    }
    /* resolution change */
    f = fires(&rng, o->p_lowres);
    double rf = between(&rng, o->lowres_min, 1.0);
    if (f && rf < 1)
        lowres(x, &v, ndim, rf, t1, t2);
    /* noise */
    f = fires(&rng, o->p_noise);
    double ns = between(&rng, 0, o->noise_std);
    hg_rng nr = hg_rng_split(&rng, 3);
    if (f && ns > 0)
        for (int64_t c = 0; c < v.c; c++) {
            hg_rng_fill_normal(&nr, t1, v.n, 0.0f, (float)ns);
            for (int64_t i = 0; i < v.n; i++)
                x[c * v.n + i] += t1[i];
        }
    return HG_OK;
}
