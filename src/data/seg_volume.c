/* Volume helpers for the segmentation data: shape checks, trilinear sampling, Gaussian blur,
 * smooth bias fields. */
#include "seg_data_internal.h"

#include <math.h>

hg_status hg_vol_of(const char *who, const hg_tensor *image, const hg_tensor *label, int ndim,
                    hg_vol *v)
{
    char b1[64], b2[64];
    if (ndim != 2 && ndim != 3)
        return hg_error(HG_ERR_INVALID, "%s: %d spatial dims, expected 2 or 3", who, ndim);
    if (!image || image->dtype != HG_F32 || image->ndim != ndim + 1)
        return hg_error(HG_ERR_INVALID, "%s: image '%s' has shape %s, expected [C, %s] (real)",
                        who, hg_tensor_label(image), image ? hg_shape_str(image, b1, sizeof b1)
                                                           : "NULL",
                        ndim == 2 ? "H, W" : "D, H, W");
    const int64_t *s = image->shape + 1;
    v->c = image->shape[0];
    v->d = ndim == 3 ? s[0] : 1;
    v->h = s[ndim - 2];
    v->w = s[ndim - 1];
    v->n = v->d * v->h * v->w;
    if (label) {
        bool ok = label->dtype == HG_F32 && label->numel == v->n &&
                  (label->ndim == ndim || (label->ndim == ndim + 1 && label->shape[0] == 1));
        for (int a = 0; ok && a < ndim; a++)
            ok = label->shape[label->ndim - ndim + a] == s[a];
        if (!ok)
            return hg_error(HG_ERR_INVALID, "%s: label '%s' has shape %s, image '%s' has %s; "
                            "expected the image's spatial shape", who, hg_tensor_label(label),
                            hg_shape_str(label, b1, sizeof b1), hg_tensor_label(image),
                            hg_shape_str(image, b2, sizeof b2));
    }
    return HG_OK;
}

static inline int64_t clampi(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

float hg_vol_linear(const float *x, const hg_vol *v, double z, double y, double xx)
{
    double fz = floor(z), fy = floor(y), fx = floor(xx);
    double tz = z - fz, ty = y - fy, tx = xx - fx;
    int64_t z0 = clampi((int64_t)fz, v->d), z1 = clampi((int64_t)fz + 1, v->d);
    int64_t y0 = clampi((int64_t)fy, v->h), y1 = clampi((int64_t)fy + 1, v->h);
    int64_t x0 = clampi((int64_t)fx, v->w), x1 = clampi((int64_t)fx + 1, v->w);
#define AT(a, b, c) ((double)x[((a) * v->h + (b)) * v->w + (c)])
    double c00 = AT(z0, y0, x0) * (1 - tx) + AT(z0, y0, x1) * tx;
    double c01 = AT(z0, y1, x0) * (1 - tx) + AT(z0, y1, x1) * tx;
    double c10 = AT(z1, y0, x0) * (1 - tx) + AT(z1, y0, x1) * tx;
    double c11 = AT(z1, y1, x0) * (1 - tx) + AT(z1, y1, x1) * tx;
#undef AT
    double c0 = c00 * (1 - ty) + c01 * ty, c1 = c10 * (1 - ty) + c11 * ty;
    return (float)(c0 * (1 - tz) + c1 * tz);
}

/* One axis of the blur: n samples at stride, kernel k[-r..r], edges replicated. */
static void blur_axis(float *x, const hg_vol *v, int axis, double sigma, float *tmp)
{
    if (!(sigma > 0))
        return;
    int64_t r = (int64_t)ceil(3.0 * sigma);
    if (r > 64)
        r = 64;
    double k[129], ks = 0;
    for (int64_t i = -r; i <= r; i++)
        ks += k[i + r] = exp(-0.5 * (double)(i * i) / (sigma * sigma));
    int64_t n = axis == 0 ? v->d : axis == 1 ? v->h : v->w;
    int64_t stride = axis == 0 ? v->h * v->w : axis == 1 ? v->w : 1;
    if (n == 1)
        return;
#pragma omp parallel for schedule(static) if (v->n > 65536)
    for (int64_t i = 0; i < v->n; i++) {
        int64_t pos = (i / stride) % n, base = i - pos * stride;
        double s = 0;
        for (int64_t j = -r; j <= r; j++)
            s += k[j + r] * x[base + clampi(pos + j, n) * stride];
        tmp[i] = (float)(s / ks);
    }
    for (int64_t i = 0; i < v->n; i++)
        x[i] = tmp[i];
}

void hg_vol_blur(float *x, const hg_vol *v, const double sigma[3], float *tmp)
{
    for (int64_t c = 0; c < v->c; c++)
        for (int a = 0; a < 3; a++)
            blur_axis(x + c * v->n, v, a, sigma[a], tmp);
}

void hg_vol_bias_field(const hg_vol *v, float strength, hg_rng *rng, float *field)
{
    /* coefficients of 1, z, y, x, z^2, y^2, x^2, zy, zx, yx on [-1, 1]^3, then the log field
     * is rescaled so that its largest magnitude is `strength` */
    double a[10];
    for (int i = 0; i < 10; i++)
        a[i] = hg_rng_uniform(rng) * 2.0 - 1.0;
    if (v->d == 1)
        a[1] = a[4] = a[7] = a[8] = 0;
    double mx = 0;
    for (int64_t i = 0; i < v->n; i++) {
        int64_t zz = i / (v->h * v->w), yy = (i / v->w) % v->h, xx = i % v->w;
        double z = v->d > 1 ? 2.0 * (double)zz / (double)(v->d - 1) - 1 : 0;
        double y = v->h > 1 ? 2.0 * (double)yy / (double)(v->h - 1) - 1 : 0;
        double x = v->w > 1 ? 2.0 * (double)xx / (double)(v->w - 1) - 1 : 0;
        double l = a[1] * z + a[2] * y + a[3] * x + a[4] * z * z + a[5] * y * y + a[6] * x * x +
                   a[7] * z * y + a[8] * z * x + a[9] * y * x;
        field[i] = (float)l;
        mx = fmax(mx, fabs(l));
    }
    double scale = mx > 0 ? strength / mx : 0;
    for (int64_t i = 0; i < v->n; i++)
        field[i] = (float)exp(field[i] * scale);
}
