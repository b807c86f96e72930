/* MRI training data: axial slices of a T1 volume (Colin27) resampled to the network's size,
 * the fixed train/test split of experiment 3, and one simulated multi-coil acquisition. */
#include "hinge/image.h"
#include "hinge/mri_learned.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Area-averaging weights of a 1-D resampling from m to n samples: output i covers source
 * [i m/n, (i+1) m/n); w[i*m + j] is the overlap of source pixel j, normalized. */
static float *area_weights(int64_t m, int64_t n)
{
    float *w = calloc((size_t)(m * n), sizeof *w);
    if (!w) {
        hg_error(HG_ERR_NOMEM, "t1 slices: out of memory");
        return NULL;
    }
    double f = (double)m / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double a = i * f, b = (i + 1) * f, sum = 0;
        for (int64_t j = (int64_t)floor(a); j < m && j < b; j++) {
            double o = fmin(b, j + 1.0) - fmax(a, (double)j);
            if (o > 0)
                w[i * m + j] = (float)o, sum += o;
        }
        for (int64_t j = 0; j < m; j++)
            w[i * m + j] = (float)(w[i * m + j] / sum);
    }
    return w;
}

hg_tensor *hg_mri_t1_slices(const char *path, int64_t size, const int64_t *z, int64_t count)
{
    if (size < 8 || size > 4096 || count < 1) {
        hg_error(HG_ERR_INVALID, "t1 slices: size %lld (8..4096) or count %lld (>= 1) invalid",
                 (long long)size, (long long)count);
        return NULL;
    }
    hg_image img;
    hg_image_init(&img);
    if (hg_nifti_read(path, &img) != HG_OK)
        return NULL;
    hg_tensor *v = img.data, *out = NULL;
    float *wr = NULL, *wc = NULL, *sq = NULL, *tmp = NULL;
    if (v->dtype != HG_F32 || v->ndim != 3) {
        hg_error(HG_ERR_INVALID, "t1 slices: %s must be a real 3-D volume, got %d dims", path,
                 v->ndim);
        goto done;
    }
    /* Layout [z, y, x]; an axial slice is [y, x], padded to a centred square of side m. */
    int64_t nz = v->shape[0], ny = v->shape[1], nx = v->shape[2];
    int64_t m = ny > nx ? ny : nx;
    for (int64_t i = 0; i < count; i++)
        if (z[i] < 0 || z[i] >= nz) {
            hg_error(HG_ERR_INVALID, "t1 slices: slice %lld outside %s's %lld slices",
                     (long long)z[i], path, (long long)nz);
            goto done;
        }
    wr = area_weights(m, size), wc = area_weights(m, size);
    sq = calloc((size_t)(m * m), sizeof *sq), tmp = calloc((size_t)(size * m), sizeof *tmp);
    out = hg_new(NULL, count, size, size);
    if (!wr || !wc || !sq || !tmp || !out) {
        hg_tensor_free(out);
        out = NULL;
        if (hg_error_status() == HG_OK)
            hg_error(HG_ERR_NOMEM, "t1 slices: out of memory");
        goto done;
    }
    for (int64_t s = 0; s < count; s++) {
        memset(sq, 0, (size_t)(m * m) * sizeof *sq);
        const float *src = v->data + z[s] * ny * nx;
        /* Rows flipped so that anterior (the volume's +y) is at the top of the image. */
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++)
                sq[((m - ny) / 2 + (ny - 1 - y)) * m + (m - nx) / 2 + x] = src[y * nx + x];
        for (int64_t i = 0; i < size; i++) /* rows: tmp[i, :] = sum_j wr[i, j] sq[j, :] */
            for (int64_t x = 0; x < m; x++) {
                float acc = 0;
                for (int64_t j = 0; j < m; j++)
                    acc += wr[i * m + j] * sq[j * m + x];
                tmp[i * m + x] = acc;
            }
        float *o = out->data + s * size * size, mx = 0;
        for (int64_t i = 0; i < size; i++)
            for (int64_t k = 0; k < size; k++) {
                float acc = 0;
                for (int64_t x = 0; x < m; x++)
                    acc += wc[k * m + x] * tmp[i * m + x];
                o[i * size + k] = acc;
                mx = fmaxf(mx, acc);
            }
        for (int64_t i = 0; i < size * size && mx > 0; i++)
            o[i] /= mx;
    }
done:
    free(wr), free(wc), free(sq), free(tmp);
    hg_image_free(&img);
    return out;
}

int64_t hg_mri_colin27_split(bool test, int64_t *z, int64_t max)
{
    int64_t n = 0;
    if (test) {
        for (int64_t s = 100; s <= 118 && n < max; s += 2)
            z[n++] = s;
        return n;
    }
    for (int64_t s = 30; s <= 150 && n < max; s++)
        if (s <= 95 || s >= 125)
            z[n++] = s;
    return n;
}

hg_status hg_mri_simulate_kspace(const hg_linop *coil_fft, const float *image,
                                 const hg_tensor *sens, const float *lines, double noise,
                                 hg_rng *rng, float *kspace)
{
    if (!coil_fft || !image || !sens || !lines || !kspace || sens->dtype != HG_C64 ||
        sens->ndim != 3 || sens->shape[1] != sens->shape[2] ||
        hg_linop_in_floats(coil_fft) != hg_tensor_nfloats(sens) || !(noise >= 0))
        return hg_error(HG_ERR_INVALID, "mri simulate: expected maps [coils, n, n] matching the "
                        "coil FFT and noise >= 0");
    int64_t c = sens->shape[0], n = sens->shape[1], np = n * n;
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = 0; i < np; i++) {
            const float *s = sens->data + 2 * (j * np + i);
            kspace[2 * (j * np + i)] = s[0] * image[i];
            kspace[2 * (j * np + i) + 1] = s[1] * image[i];
        }
    hg_status st = hg_linop_forward(coil_fft, kspace, kspace);
    if (st != HG_OK)
        return st;
    double peak = 0;
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = 0; i < np; i++) {
            float *v = kspace + 2 * (j * np + i);
            if (lines[i % n] == 0)
                v[0] = v[1] = 0;
            else
                peak = fmax(peak, hypot(v[0], v[1]));
        }
    if (noise > 0)
        for (int64_t j = 0; j < c; j++)
            for (int64_t i = 0; i < np; i++)
                if (lines[i % n] != 0) {
                    float *v = kspace + 2 * (j * np + i);
                    v[0] += (float)(noise * peak * hg_rng_normal(rng));
                    v[1] += (float)(noise * peak * hg_rng_normal(rng));
                }
    return HG_OK;
}
