/* Coil sensitivities: simulated loop-coil maps and coil combination (RSS, SENSE). */
#include "physics/mri_internal.h"

#include <math.h>
#include <string.h>

#define HG_PI 3.14159265358979323846

static bool is_image_shape(int ndim, const int64_t *shape)
{
    return shape && (ndim == 2 || ndim == 3) && hg_shape_numel(ndim, shape) > 0;
}

hg_tensor *hg_mri_coils_sim(hg_ctx *ctx, int ndim, const int64_t *shape, int coils,
                            const hg_tensor *support)
{
    char a[96], b[96];
    if (!is_image_shape(ndim, shape) || coils < 1 || coils > 1024) {
        hg_error(HG_ERR_INVALID, "coil simulation: %d coils over %d-D image, expected 1..1024 "
                 "coils over [H, W] or [D, H, W]", coils, ndim);
        return NULL;
    }
    if (support && (support->dtype != HG_F32 || support->ndim != ndim ||
                    hg_check_shape(support, ndim, shape) != HG_OK)) {
        hg_error(HG_ERR_INVALID, "coil simulation: support %s is %s, expected real %s",
                 hg_tensor_label(support), hg_shape_str(support, a, sizeof a),
                 hg_mri_shape_str(ndim, shape, b, sizeof b));
        return NULL;
    }
    int64_t full[4] = {coils, 1, 1, 1};
    memcpy(full + 1, shape, (size_t)ndim * sizeof *shape);
    hg_tensor *s = hg_tensor_empty(ctx, HG_C64, ndim + 1, full);
    if (!s)
        return NULL;
    int64_t nd = ndim == 3 ? shape[0] : 1, ny = shape[ndim - 2], nx = shape[ndim - 1];
    int64_t npix = nd * ny * nx;
    const double radius = 1.5, width = 1.0; /* in half fields of view */
    for (int c = 0; c < coils; c++) {
        double ang = 2.0 * HG_PI * c / coils;
        double cx = radius * cos(ang), cy = radius * sin(ang);
        double cz = ndim == 3 ? (c % 2 ? 0.5 : -0.5) : 0.0;
        float *o = s->data + 2 * c * npix;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < npix; i++) {
            int64_t z = i / (ny * nx), y = (i / nx) % ny, x = i % nx;
            double px = (x - nx / 2) / (nx / 2.0), py = (y - ny / 2) / (ny / 2.0);
            double pz = nd > 1 ? (z - nd / 2) / (nd / 2.0) : 0.0;
            double dx = px - cx, dy = py - cy, dz = pz - cz;
            double d2 = (dx * dx + dy * dy + dz * dz) / (width * width);
            double mag = 1.0 / pow(1.0 + d2, 1.5);
            double ph = atan2(dy, dx);
            o[2 * i] = (float)(mag * cos(ph));
            o[2 * i + 1] = (float)(mag * sin(ph));
        }
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < npix; i++) {
        double sum = 0.0;
        for (int c = 0; c < coils; c++) {
            const float *v = s->data + 2 * ((int64_t)c * npix + i);
            sum += (double)v[0] * v[0] + (double)v[1] * v[1];
        }
        float k = (support && support->data[i] == 0.0f) ? 0.0f : (float)(1.0 / sqrt(sum));
        for (int c = 0; c < coils; c++) {
            float *v = s->data + 2 * ((int64_t)c * npix + i);
            v[0] *= k, v[1] *= k;
        }
    }
    return s;
}

static hg_status check_multicoil(const char *who, const hg_tensor *t)
{
    char a[96];
    if (!t)
        return hg_error(HG_ERR_INVALID, "%s: NULL input", who);
    if (t->dtype != HG_C64 || t->ndim < 2)
        return hg_error(HG_ERR_INVALID, "%s: %s: expected complex [coils, *S], got %s %s", who,
                        hg_tensor_label(t), t->dtype == HG_C64 ? "complex" : "real",
                        hg_shape_str(t, a, sizeof a));
    return HG_OK;
}

hg_tensor *hg_mri_rss(hg_ctx *ctx, const hg_tensor *x)
{
    if (check_multicoil("rss", x) != HG_OK)
        return NULL;
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim - 1, x->shape + 1);
    if (!out)
        return NULL;
    int64_t coils = x->shape[0], n = out->numel;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t c = 0; c < coils; c++) {
            const float *v = x->data + 2 * (c * n + i);
            s += (double)v[0] * v[0] + (double)v[1] * v[1];
        }
        out->data[i] = (float)sqrt(s);
    }
    return out;
}

hg_tensor *hg_mri_sense_combine(hg_ctx *ctx, const hg_tensor *x, const hg_tensor *sens)
{
    char a[96], b[96];
    if (check_multicoil("sense combine", x) != HG_OK ||
        check_multicoil("sense combine", sens) != HG_OK)
        return NULL;
    if (x->shape[0] != sens->shape[0]) {
        hg_error(HG_ERR_INVALID, "sense combine: %s has %lld coils, %s has %lld",
                 hg_tensor_label(x), (long long)x->shape[0], hg_tensor_label(sens),
                 (long long)sens->shape[0]);
        return NULL;
    }
    if (!hg_shape_equal(x, sens)) {
        hg_error(HG_ERR_INVALID, "sense combine: %s %s and %s %s differ in shape",
                 hg_tensor_label(x), hg_shape_str(x, a, sizeof a), hg_tensor_label(sens),
                 hg_shape_str(sens, b, sizeof b));
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, HG_C64, x->ndim - 1, x->shape + 1);
    if (!out)
        return NULL;
    int64_t coils = x->shape[0], n = out->numel;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double re = 0, im = 0, w = 0;
        for (int64_t c = 0; c < coils; c++) {
            const float *v = x->data + 2 * (c * n + i), *s = sens->data + 2 * (c * n + i);
            re += (double)s[0] * v[0] + (double)s[1] * v[1];
            im += (double)s[0] * v[1] - (double)s[1] * v[0];
            w += (double)s[0] * s[0] + (double)s[1] * s[1];
        }
        out->data[2 * i] = w > 0 ? (float)(re / w) : 0.0f;
        out->data[2 * i + 1] = w > 0 ? (float)(im / w) : 0.0f;
    }
    return out;
}
