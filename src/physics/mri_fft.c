/* Centred orthonormal FFT: the shared transform (hg_cfft) and the operator hg_linop_fft.
 *
 * fftshift(fft(ifftshift(x))) over a dimension of size n with h = n / 2 equals
 * q[k] * FFT(p . x)[k] with p[m] = exp(2 pi i h m / n), q[k] = exp(2 pi i h (k - h) / n):
 * the shifts become diagonal phases (+-1 for even n), fused with the 1/sqrt(N) scale. */
#include "physics/mri_internal.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#define HG_PI 3.14159265358979323846

char *hg_mri_shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

/* exp(2 pi i r / n) with r reduced mod n first, so that r = 0 and r = n/2 are exact. */
static void unit_phase(int64_t r, int64_t n, double *re, double *im)
{
    r %= n;
    if (r < 0)
        r += n;
    if (r == 0) {
        *re = 1.0, *im = 0.0;
    } else if (2 * r == n) {
        *re = -1.0, *im = 0.0;
    } else {
        double a = 2.0 * HG_PI * (double)r / (double)n;
        *re = cos(a), *im = sin(a);
    }
}

#define CFFT_BLOCK 8 /* columns per gather: 64 bytes of complex values per row */

static fftwf_plan plan_batch(int64_t len, int howmany, float *at, int sign)
{
    int n = (int)len;
    fftwf_complex *b = (fftwf_complex *)at;
    return fftwf_plan_many_dft(1, &n, howmany, b, NULL, 1, n, b, NULL, 1, n, sign,
                               FFTW_ESTIMATE);
}

static hg_status plan_pass(hg_cfft *f, int d, float *tmp)
{
    hg_cfft_pass *p = &f->pass[d];
    p->len = f->n[d];
    p->stride = 1, p->outer = 1;
    for (int e = d + 1; e < f->dims; e++)
        p->stride *= f->n[e];
    for (int e = 0; e < d; e++)
        p->outer *= f->n[e];
    for (int inv = 0; inv < 2; inv++) {
        int sign = inv ? FFTW_BACKWARD : FFTW_FORWARD;
        if (p->stride == 1) {
            p->plan[inv] = plan_batch(p->len, (int)p->outer, tmp, sign);
            if (!p->plan[inv])
                return HG_ERR_UNSUPPORTED;
            continue;
        }
        p->block = p->stride < CFFT_BLOCK ? (int)p->stride : CFFT_BLOCK;
        p->rem = (int)(p->stride % p->block);
        p->plan[inv] = plan_batch(p->len, p->block, tmp + f->gather, sign);
        if (p->rem)
            p->rem_plan[inv] = plan_batch(p->len, p->rem, tmp + f->gather, sign);
        if (!p->plan[inv] || (p->rem && !p->rem_plan[inv]))
            return HG_ERR_UNSUPPORTED;
    }
    return HG_OK;
}

hg_status hg_cfft_init(hg_cfft *f, int dims, const int64_t *n, const char *who)
{
    memset(f, 0, sizeof *f);
    if (dims < 2 || dims > 3)
        return hg_error(HG_ERR_INVALID, "%s: FFT over %d dimensions, expected 2 or 3", who,
                        dims);
    f->dims = dims;
    f->npix = 1;
    int64_t longest = 1;
    for (int d = 0; d < dims; d++) {
        if (n[d] < 1 || n[d] > (1 << 24))
            return hg_error(HG_ERR_INVALID, "%s: FFT size %lld in dimension %d out of range",
                            who, (long long)n[d], d);
        f->n[d] = n[d];
        f->npix *= n[d];
        longest = n[d] > longest ? n[d] : longest;
    }
    f->gather = (2 * f->npix + 15) / 16 * 16;
    f->slot = f->gather + (2 * CFFT_BLOCK * longest + 15) / 16 * 16;
    f->pre = hg_malloc((size_t)f->npix * 2 * sizeof(float));
    f->post = hg_malloc((size_t)f->npix * 2 * sizeof(float));
    float *tmp = hg_malloc((size_t)f->slot * sizeof(float));
    if (!f->pre || !f->post || !tmp) {
        hg_free(tmp);
        hg_cfft_free(f);
        return hg_error(HG_ERR_NOMEM, "%s: out of memory for %lld-point FFT", who,
                        (long long)f->npix);
    }
    /* Phases are separable: multiply the per-dimension factors for every index. */
    double scale = 1.0 / sqrt((double)f->npix);
    for (int64_t i = 0; i < f->npix; i++) {
        double pr = 1, pi = 0, qr = scale, qi = 0;
        int64_t rest = i;
        for (int d = dims - 1; d >= 0; d--) {
            int64_t len = f->n[d], k = rest % len, h = len / 2;
            rest /= len;
            double ar, ai, br, bi;
            unit_phase(h * k, len, &ar, &ai);
            unit_phase(h * (k - h), len, &br, &bi);
            double t = pr * ar - pi * ai;
            pi = pr * ai + pi * ar, pr = t;
            t = qr * br - qi * bi;
            qi = qr * bi + qi * br, qr = t;
        }
        f->pre[2 * i] = (float)pr, f->pre[2 * i + 1] = (float)pi;
        f->post[2 * i] = (float)qr, f->post[2 * i + 1] = (float)qi;
    }
    hg_status s = HG_OK;
    for (int d = 0; d < dims && s == HG_OK; d++)
        s = plan_pass(f, d, tmp);
    hg_free(tmp);
    if (s != HG_OK) {
        hg_cfft_free(f);
        return hg_error(HG_ERR_UNSUPPORTED, "%s: FFTW could not plan a %lld-point FFT", who,
                        (long long)f->npix);
    }
    return HG_OK;
}

void hg_cfft_free(hg_cfft *f)
{
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 2; i++) {
            if (f->pass[d].plan[i])
                fftwf_destroy_plan(f->pass[d].plan[i]);
            if (f->pass[d].rem_plan[i])
                fftwf_destroy_plan(f->pass[d].rem_plan[i]);
        }
    hg_free(f->pre);
    hg_free(f->post);
    memset(f, 0, sizeof *f);
}

/* A strided pass: gather `width` columns into rows, transform, scatter back. */
static void strided_pass(const hg_cfft_pass *p, float *slot, float *g, int inv)
{
    int64_t len = p->len, stride = p->stride;
    for (int64_t o = 0; o < p->outer; o++) {
        float *base = slot + 2 * o * len * stride;
        for (int64_t s0 = 0; s0 < stride; s0 += p->block) {
            int64_t width = stride - s0 < p->block ? stride - s0 : p->block;
            for (int64_t l = 0; l < len; l++)
                for (int64_t j = 0; j < width; j++) {
                    g[2 * (j * len + l)] = base[2 * (l * stride + s0 + j)];
                    g[2 * (j * len + l) + 1] = base[2 * (l * stride + s0 + j) + 1];
                }
            fftwf_plan plan = width == p->block ? p->plan[inv] : p->rem_plan[inv];
            fftwf_execute_dft(plan, (fftwf_complex *)g, (fftwf_complex *)g);
            for (int64_t l = 0; l < len; l++)
                for (int64_t j = 0; j < width; j++) {
                    base[2 * (l * stride + s0 + j)] = g[2 * (j * len + l)];
                    base[2 * (l * stride + s0 + j) + 1] = g[2 * (j * len + l) + 1];
                }
        }
    }
}

void hg_cfft_raw(const hg_cfft *f, float *slot, bool inverse, unsigned dim_mask)
{
    int inv = inverse ? 1 : 0;
    for (int d = f->dims - 1; d >= 0; d--) {
        if (!(dim_mask & (1u << d)))
            continue;
        const hg_cfft_pass *p = &f->pass[d];
        if (p->stride == 1)
            fftwf_execute_dft(p->plan[inv], (fftwf_complex *)slot, (fftwf_complex *)slot);
        else
            strided_pass(p, slot, slot + f->gather, inv);
    }
}

/* out = a . b (conj_a: conj(a) . b), complex, n values. */
static void cmul(const float *restrict a, const float *b, float *out, int64_t n, bool conj_a)
{
    float s = conj_a ? -1.0f : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float ar = a[2 * i], ai = s * a[2 * i + 1], br = b[2 * i], bi = b[2 * i + 1];
        out[2 * i] = ar * br - ai * bi;
        out[2 * i + 1] = ar * bi + ai * br;
    }
}

void hg_cfft_forward(const hg_cfft *f, const float *in, float *buf, float *out)
{
    cmul(f->pre, in, buf, f->npix, false);
    hg_cfft_raw_forward(f, buf);
    cmul(f->post, buf, out, f->npix, false);
}

void hg_cfft_inverse(const hg_cfft *f, const float *in, float *buf, float *out)
{
    cmul(f->post, in, buf, f->npix, true);
    hg_cfft_raw_inverse(f, buf);
    cmul(f->pre, buf, out, f->npix, true);
}

/* ---- the operator ---------------------------------------------------------------------- */

typedef struct {
    hg_cfft fft;
    int64_t batch; /* images per item (product of the leading dimensions) */
    float *scratch; /* batch slots: images transform here, in parallel */
} fft_data;

static hg_status fft_apply(const hg_linop *op, const float *in, float *out, bool inverse)
{
    const fft_data *d = op->data;
    int64_t np2 = 2 * d->fft.npix;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < d->batch; b++) {
        float *buf = d->scratch + b * d->fft.slot;
        if (inverse)
            hg_cfft_inverse(&d->fft, in + b * np2, buf, out + b * np2);
        else
            hg_cfft_forward(&d->fft, in + b * np2, buf, out + b * np2);
    }
    return HG_OK;
}

static hg_status fft_forward(const hg_linop *op, const float *x, float *y)
{
    return fft_apply(op, x, y, false);
}

static hg_status fft_adjoint(const hg_linop *op, const float *y, float *x)
{
    return fft_apply(op, y, x, true);
}

static hg_status fft_normal(const hg_linop *op, const float *x, float *y)
{
    if (x != y)
        memcpy(y, x, (size_t)hg_linop_in_floats(op) * sizeof(float));
    return HG_OK;
}

static void fft_destroy(hg_linop *op)
{
    fft_data *d = op->data;
    if (!d)
        return;
    hg_cfft_free(&d->fft);
    hg_free(d->scratch);
    hg_free(d);
}

hg_linop *hg_linop_fft(int ndim, const int64_t *shape, int dims)
{
    char s[96];
    if (!shape || ndim < 2 || ndim > HG_MAX_DIMS || dims < 2 || dims > 3 || dims > ndim) {
        hg_error(HG_ERR_INVALID,
                 "fft: transform over %d dimensions of a %d-dimensional item; expected 2 or 3 "
                 "of at most %d",
                 dims, ndim, HG_MAX_DIMS);
        return NULL;
    }
    if (hg_shape_numel(ndim, shape) <= 0) {
        hg_error(HG_ERR_INVALID, "fft: invalid shape %s", hg_mri_shape_str(ndim, shape, s, 96));
        return NULL;
    }
    hg_linop *op = hg_linop_new("fft", HG_C64, ndim, shape, HG_C64, ndim, shape);
    fft_data *d = op ? hg_calloc(1, sizeof *d) : NULL;
    if (!d) {
        hg_linop_free(op);
        return NULL;
    }
    op->data = d;
    op->destroy = fft_destroy;
    op->forward = fft_forward;
    op->adjoint = fft_adjoint;
    op->normal = fft_normal;
    if (hg_cfft_init(&d->fft, dims, shape + ndim - dims, "fft") != HG_OK) {
        hg_linop_free(op);
        return NULL;
    }
    d->batch = hg_shape_numel(ndim - dims, shape); /* 1 when there are no leading dims */
    d->scratch = hg_malloc((size_t)(d->batch * d->fft.slot) * sizeof(float));
    if (!d->scratch) {
        hg_linop_free(op);
        return NULL;
    }
    return op;
}
