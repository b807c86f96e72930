/* Cartesian multi-coil SENSE: y_c = M F (s_c x), its adjoint and its normal operator.
 *
 * With F = Q FFT P / sqrt(N) (P, Q the diagonal shift phases, see mri_fft.c) the operator
 * stores P s_c and M Q / sqrt(N), so the forward is one complex multiply, an FFT and one
 * multiply per coil. Q commutes with the real diagonal M, hence
 * F^H M^2 F = P^H FFT^H (M^2 / N) FFT P: the normal operator needs no shift phases at all. */
#include "physics/mri_internal.h"

#include <omp.h>
#include <string.h>

typedef struct {
    hg_cfft fft;
    int64_t coils;
    float *ps;      /* complex [coils, npix]: P s_c */
    float *mq;      /* complex [npix]: M Q / sqrt(N) */
    float *m2;      /* real [npix]: M^2 / (product of the sizes the mask varies along) */
    float *scratch; /* coils slots */
    unsigned normal_dims; /* dimensions the mask varies along (hg_cfft_raw's dim mask) */
    float *w;             /* real [npix]: sum_c |s_c|^2 M^2 when the mask is constant */
    /* Masks varying along the last dimension only (Cartesian lines): the normal operator
     * works row by row, each row in cache through all coils. */
    fftwf_plan row_fwd, row_inv; /* one row, in place */
    int row_threads;             /* row buffers: one per thread */
    int64_t row_slot;            /* floats per row buffer (2 rows: work + accumulator) */
    float *rows;
} sense_data;

/* Per coil c into slot c: buf = ps_c . x. */
static void coil_weight(const sense_data *d, int64_t c, const float *x, float *buf)
{
    const float *s = d->ps + 2 * c * d->fft.npix;
    for (int64_t i = 0; i < d->fft.npix; i++) {
        float sr = s[2 * i], si = s[2 * i + 1], xr = x[2 * i], xi = x[2 * i + 1];
        buf[2 * i] = sr * xr - si * xi;
        buf[2 * i + 1] = sr * xi + si * xr;
    }
}

/* x = sum_c conj(ps_c) . slot_c, summed over coils in a fixed order (deterministic). */
static void coil_reduce(const sense_data *d, float *x)
{
    int64_t n = d->fft.npix;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float re = 0, im = 0;
        for (int64_t c = 0; c < d->coils; c++) {
            const float *s = d->ps + 2 * (c * n + i);
            const float *b = d->scratch + c * d->fft.slot + 2 * i;
            re += s[0] * b[0] + s[1] * b[1];
            im += s[0] * b[1] - s[1] * b[0];
        }
        x[2 * i] = re, x[2 * i + 1] = im;
    }
}

static hg_status sense_forward(const hg_linop *op, const float *x, float *y)
{
    const sense_data *d = op->data;
    int64_t n = d->fft.npix;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < d->coils; c++) {
        float *buf = d->scratch + c * d->fft.slot, *yc = y + 2 * c * n;
        coil_weight(d, c, x, buf);
        hg_cfft_raw_forward(&d->fft, buf);
        for (int64_t i = 0; i < n; i++) {
            float mr = d->mq[2 * i], mi = d->mq[2 * i + 1], br = buf[2 * i], bi = buf[2 * i + 1];
            yc[2 * i] = mr * br - mi * bi;
            yc[2 * i + 1] = mr * bi + mi * br;
        }
    }
    return HG_OK;
}

static hg_status sense_adjoint(const hg_linop *op, const float *y, float *x)
{
    const sense_data *d = op->data;
    int64_t n = d->fft.npix;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < d->coils; c++) {
        float *buf = d->scratch + c * d->fft.slot;
        const float *yc = y + 2 * c * n;
        for (int64_t i = 0; i < n; i++) { /* conj(mq) . y_c */
            float mr = d->mq[2 * i], mi = d->mq[2 * i + 1], yr = yc[2 * i], yi = yc[2 * i + 1];
            buf[2 * i] = mr * yr + mi * yi;
            buf[2 * i + 1] = mr * yi - mi * yr;
        }
        hg_cfft_raw_inverse(&d->fft, buf);
    }
    coil_reduce(d, x);
    return HG_OK;
}

/* Normal operator for masks varying along the last dimension only. */
static void sense_normal_rows(const sense_data *d, const float *x, float *y)
{
    int64_t len = d->fft.n[d->fft.dims - 1], nrows = d->fft.npix / len, n = d->fft.npix;
#pragma omp parallel num_threads(d->row_threads)
    {
        float *buf = d->rows + (int64_t)omp_get_thread_num() * d->row_slot;
        float *acc = buf + d->row_slot / 2;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < nrows; r++) {
            const float *xr = x + 2 * r * len, *m2 = d->m2 + r * len;
            memset(acc, 0, (size_t)(2 * len) * sizeof(float));
            for (int64_t c = 0; c < d->coils; c++) {
                const float *s = d->ps + 2 * (c * n + r * len);
                for (int64_t i = 0; i < len; i++) {
                    buf[2 * i] = s[2 * i] * xr[2 * i] - s[2 * i + 1] * xr[2 * i + 1];
                    buf[2 * i + 1] = s[2 * i] * xr[2 * i + 1] + s[2 * i + 1] * xr[2 * i];
                }
                fftwf_execute_dft(d->row_fwd, (fftwf_complex *)buf, (fftwf_complex *)buf);
                for (int64_t i = 0; i < len; i++)
                    buf[2 * i] *= m2[i], buf[2 * i + 1] *= m2[i];
                fftwf_execute_dft(d->row_inv, (fftwf_complex *)buf, (fftwf_complex *)buf);
                for (int64_t i = 0; i < len; i++) {
                    acc[2 * i] += s[2 * i] * buf[2 * i] + s[2 * i + 1] * buf[2 * i + 1];
                    acc[2 * i + 1] += s[2 * i] * buf[2 * i + 1] - s[2 * i + 1] * buf[2 * i];
                }
            }
            /* y may alias x: row r of x is no longer read once its coils are done. */
            memcpy(y + 2 * r * len, acc, (size_t)(2 * len) * sizeof(float));
        }
    }
}

static hg_status sense_normal(const hg_linop *op, const float *x, float *y)
{
    const sense_data *d = op->data;
    int64_t n = d->fft.npix;
    if (d->rows) {
        sense_normal_rows(d, x, y);
        return HG_OK;
    }
    if (d->normal_dims == 0) { /* no transform left: a pixel-wise weight */
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            y[2 * i] = d->w[i] * x[2 * i], y[2 * i + 1] = d->w[i] * x[2 * i + 1];
        return HG_OK;
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < d->coils; c++) {
        float *buf = d->scratch + c * d->fft.slot;
        coil_weight(d, c, x, buf);
        hg_cfft_raw(&d->fft, buf, false, d->normal_dims);
        for (int64_t i = 0; i < n; i++) {
            buf[2 * i] *= d->m2[i];
            buf[2 * i + 1] *= d->m2[i];
        }
        hg_cfft_raw(&d->fft, buf, true, d->normal_dims);
    }
    coil_reduce(d, y); /* y may alias x: x is no longer read */
    return HG_OK;
}

static void sense_destroy(hg_linop *op)
{
    sense_data *d = op->data;
    if (!d)
        return;
    hg_cfft_free(&d->fft);
    if (d->row_fwd)
        fftwf_destroy_plan(d->row_fwd);
    if (d->row_inv)
        fftwf_destroy_plan(d->row_inv);
    hg_free(d->ps), hg_free(d->mq), hg_free(d->m2), hg_free(d->scratch), hg_free(d->w);
    hg_free(d->rows);
    hg_free(d);
}

static hg_status check_inputs(const hg_tensor *sens, const hg_tensor *mask)
{
    char a[96], b[96], c[96];
    if (!sens)
        return hg_error(HG_ERR_INVALID, "sense: NULL sensitivity maps");
    if (sens->dtype != HG_C64 || sens->ndim < 3 || sens->ndim > 4)
        return hg_error(HG_ERR_INVALID,
                        "sense: %s: expected complex maps [coils, H, W] or [coils, D, H, W], "
                        "got %s %s",
                        hg_tensor_label(sens), sens->dtype == HG_C64 ? "complex" : "real",
                        hg_shape_str(sens, a, sizeof a));
    if (!mask)
        return HG_OK;
    bool same = mask->ndim == sens->ndim - 1;
    for (int i = 0; same && i < mask->ndim; i++)
        same = mask->shape[i] == sens->shape[i + 1];
    if (mask->dtype != HG_F32 || !same)
        return hg_error(HG_ERR_INVALID,
                        "sense: mask %s is %s %s, expected real %s (the image shape of %s %s)",
                        hg_tensor_label(mask), mask->dtype == HG_C64 ? "complex" : "real",
                        hg_shape_str(mask, a, sizeof a),
                        hg_mri_shape_str(sens->ndim - 1, sens->shape + 1, b, sizeof b),
                        hg_tensor_label(sens), hg_shape_str(sens, c, sizeof c));
    return HG_OK;
}

/* Whether the mask is the same at every index of image dimension `dim`. */
static bool mask_constant_along(const hg_tensor *mask, int dim)
{
    if (!mask)
        return true;
    int64_t len = mask->shape[dim], stride = 1;
    for (int e = dim + 1; e < mask->ndim; e++)
        stride *= mask->shape[e];
    for (int64_t i = 0; i < mask->numel; i++)
        if ((i / stride) % len != 0 && mask->data[i] != mask->data[i - (i / stride) % len * stride])
            return false;
    return true;
}

static hg_status init_rows(sense_data *d)
{
    int len = (int)d->fft.n[d->fft.dims - 1];
    d->row_threads = omp_get_max_threads();
    d->row_slot = 2 * ((2 * (int64_t)len + 15) / 16 * 16);
    d->rows = hg_malloc((size_t)(d->row_slot * d->row_threads) * sizeof(float));
    if (!d->rows)
        return HG_ERR_NOMEM;
    fftwf_complex *b = (fftwf_complex *)d->rows;
    d->row_fwd = fftwf_plan_dft_1d(len, b, b, FFTW_FORWARD, FFTW_ESTIMATE);
    d->row_inv = fftwf_plan_dft_1d(len, b, b, FFTW_BACKWARD, FFTW_ESTIMATE);
    if (!d->row_fwd || !d->row_inv)
        return hg_error(HG_ERR_UNSUPPORTED, "sense: FFTW could not plan %d-point rows", len);
    return HG_OK;
}

hg_linop *hg_linop_sense(const hg_tensor *sens, const hg_tensor *mask)
{
    if (check_inputs(sens, mask) != HG_OK)
        return NULL;
    int dims = sens->ndim - 1;
    const int64_t *img = sens->shape + 1;
    hg_linop *op = hg_linop_new(dims == 2 ? "sense2d" : "sense3d", HG_C64, dims, img, HG_C64,
                                sens->ndim, sens->shape);
    sense_data *d = op ? hg_calloc(1, sizeof *d) : NULL;
    if (!d) {
        hg_linop_free(op);
        return NULL;
    }
    op->data = d;
    op->destroy = sense_destroy;
    op->forward = sense_forward;
    op->adjoint = sense_adjoint;
    op->normal = sense_normal;
    if (hg_cfft_init(&d->fft, dims, img, op->name) != HG_OK) {
        hg_linop_free(op);
        return NULL;
    }
    int64_t n = d->fft.npix;
    d->coils = sens->shape[0];
    d->ps = hg_malloc((size_t)(2 * n * d->coils) * sizeof(float));
    d->mq = hg_malloc((size_t)(2 * n) * sizeof(float));
    d->m2 = hg_malloc((size_t)n * sizeof(float));
    d->scratch = hg_malloc((size_t)(d->fft.slot * d->coils) * sizeof(float));
    if (!d->ps || !d->mq || !d->m2 || !d->scratch) {
        hg_linop_free(op);
        return NULL;
    }
    for (int64_t c = 0; c < d->coils; c++) {
        const float *s = sens->data + 2 * c * n;
        float *o = d->ps + 2 * c * n;
        for (int64_t i = 0; i < n; i++) {
            float pr = d->fft.pre[2 * i], pi = d->fft.pre[2 * i + 1];
            o[2 * i] = pr * s[2 * i] - pi * s[2 * i + 1];
            o[2 * i + 1] = pr * s[2 * i + 1] + pi * s[2 * i];
        }
    }
    int64_t n_var = 1; /* the normal operator's transforms scale by this product */
    for (int e = 0; e < dims; e++)
        if (!mask_constant_along(mask, e)) {
            d->normal_dims |= 1u << e;
            n_var *= img[e];
        }
    float inv_var = 1.0f / (float)n_var;
    for (int64_t i = 0; i < n; i++) {
        float m = mask ? mask->data[i] : 1.0f;
        d->mq[2 * i] = m * d->fft.post[2 * i];
        d->mq[2 * i + 1] = m * d->fft.post[2 * i + 1];
        d->m2[i] = m * m * inv_var;
    }
    if (d->normal_dims == 1u << (dims - 1) && init_rows(d) != HG_OK) {
        hg_linop_free(op);
        return NULL;
    }
    if (d->normal_dims == 0) {
        d->w = hg_malloc((size_t)n * sizeof(float));
        if (!d->w) {
            hg_linop_free(op);
            return NULL;
        }
        for (int64_t i = 0; i < n; i++) {
            double acc = 0.0;
            for (int64_t c = 0; c < d->coils; c++) {
                const float *v = sens->data + 2 * (c * n + i);
                acc += (double)v[0] * v[0] + (double)v[1] * v[1];
            }
            d->w[i] = (float)acc * d->m2[i];
        }
    }
    return op;
}
