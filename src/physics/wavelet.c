/* Orthonormal multi-level Daubechies wavelet transform (Haar = 2 taps, db2 = 4 taps) with
 * periodic extension over the last `dims` axes of a real or complex item (complex: re and im
 * transformed alike). The output has the input's shape in the Mallat layout of
 * pywt.coeffs_to_array(pywt.wavedecn(x, w, mode="periodization", level=levels)): after level
 * l the approximation occupies the first n / 2^l samples of every transformed axis, each axis
 * split as [approximation | detail].
 *
 * One analysis step on a line t of even length n (s = taps/2 - 1 centres the filter as
 * PyWavelets does):  a[k] = sum_j h[j] t[(2k + j - s) mod n],  d[k] = sum_j g[j] t[...],
 * g[j] = (-1)^j h[taps-1-j]. The periodized filter bank is an orthogonal matrix, so the
 * adjoint (synthesis) is the inverse. */
#include "hinge/solvers.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int ndim, dims, levels, taps, shift, c;
    int64_t shape[HG_MAX_DIMS];
    int64_t stride[HG_MAX_DIMS]; /* in floats */
    float h[4], g[4]; /* unused taps are 0 */
    int nthreads;
    int64_t tmp_len; /* floats per thread: input and output line */
    float *tmp;
} wav_data;

/* Filters from the scaling coefficients (PyWavelets rec_lo). */
static void set_filters(wav_data *d)
{
    static const double haar[2] = {0.70710678118654752440, 0.70710678118654752440};
    static const double db2[4] = {0.48296291314453414337, 0.83651630373780790556,
                                  0.22414386804201338103, -0.12940952255126038117};
    const double *h = d->taps == 2 ? haar : db2;
    for (int j = 0; j < d->taps; j++) {
        d->h[j] = (float)h[j];
        d->g[j] = (float)((j % 2 ? -1.0 : 1.0) * h[d->taps - 1 - j]);
    }
    d->shift = d->taps / 2 - 1;
}

/* Lines are processed as tiles: `wdt` floats that are contiguous in memory and transformed
 * alike (re and im of one element along the last axis; up to TILE_FLOATS neighbouring lines for
 * the other axes, so that a strided axis is read row by row instead of one float per cache
 * line). Filters index rows (2k + j - shift) mod len; only the rows near the ends wrap. */
#define TILE_FLOATS 32

static inline int64_t wrap(int64_t i, int64_t len)
{
    return i < 0 ? i + len : i >= len ? i - len : i;
}

static void analyze_tile(const wav_data *d, const float *t, float *out, int64_t len, int64_t wdt)
{
    int64_t half = len / 2;
    const float h0 = d->h[0], h1 = d->h[1], g0 = d->g[0], g1 = d->g[1];
    const float h2 = d->h[2], h3 = d->h[3], g2 = d->g[2], g3 = d->g[3]; /* 0 for Haar */
    for (int64_t k = 0; k < half; k++) {
        float *a = out + k * wdt, *det = out + (half + k) * wdt;
        int64_t b = 2 * k - d->shift;
        const float *s0 = t + wrap(b, len) * wdt, *s1 = t + wrap(b + 1, len) * wdt;
        if (d->taps == 2) {
            for (int64_t e = 0; e < wdt; e++) {
                a[e] = h0 * s0[e] + h1 * s1[e];
                det[e] = g0 * s0[e] + g1 * s1[e];
            }
            continue;
        }
        const float *s2 = t + wrap(b + 2, len) * wdt, *s3 = t + wrap(b + 3, len) * wdt;
        for (int64_t e = 0; e < wdt; e++) {
            a[e] = h0 * s0[e] + h1 * s1[e] + h2 * s2[e] + h3 * s3[e];
            det[e] = g0 * s0[e] + g1 * s1[e] + g2 * s2[e] + g3 * s3[e];
        }
    }
}

/* The adjoint (= inverse) of analyze_tile, written per output row pair (2m, 2m+1) so every row
 * is written once. With i = 2k + j - shift: Haar (shift 0) gives row 2m from (j 0, k m) and
 * 2m+1 from (j 1, k m); db2 (shift 1) gives 2m from (j 1, k m) + (j 3, k m-1) and 2m+1 from
 * (j 0, k m+1) + (j 2, k m), k taken modulo len/2. */
static void synthesize_tile(const wav_data *d, const float *t, float *out, int64_t len,
                            int64_t wdt)
{
    int64_t half = len / 2;
    const float h0 = d->h[0], h1 = d->h[1], g0 = d->g[0], g1 = d->g[1];
    const float h2 = d->h[2], h3 = d->h[3], g2 = d->g[2], g3 = d->g[3];
    for (int64_t m = 0; m < half; m++) {
        float *even = out + 2 * m * wdt, *odd = even + wdt;
        const float *a = t + m * wdt, *det = t + (half + m) * wdt;
        if (d->taps == 2) {
            for (int64_t e = 0; e < wdt; e++) {
                even[e] = h0 * a[e] + g0 * det[e];
                odd[e] = h1 * a[e] + g1 * det[e];
            }
            continue;
        }
        int64_t prev = wrap(m - 1, half), next = wrap(m + 1, half);
        const float *ap = t + prev * wdt, *dp = t + (half + prev) * wdt;
        const float *an = t + next * wdt, *dn = t + (half + next) * wdt;
        for (int64_t e = 0; e < wdt; e++) {
            even[e] = h1 * a[e] + g1 * det[e] + h3 * ap[e] + g3 * dp[e];
            odd[e] = h0 * an[e] + g0 * dn[e] + h2 * a[e] + g2 * det[e];
        }
    }
}

/* Transforms every line along `axis` inside the block ext[] (full size on untransformed axes,
 * the current approximation size on transformed ones), in place in buf. */
static void transform_axis(const wav_data *d, float *buf, const int64_t *ext, int axis,
                           bool analysis)
{
    int last = d->ndim - 1;
    int64_t row = ext[last] * d->c; /* contiguous floats of one block row along the last axis */
    int64_t wdt = axis == last ? d->c : (row < TILE_FLOATS ? row : TILE_FLOATS);
    int64_t chunks = axis == last ? 1 : (row + wdt - 1) / wdt;
    int64_t groups = 1; /* coordinates on the axes other than `axis` and the last one */
    for (int i = 0; i < last; i++)
        if (i != axis)
            groups *= ext[i];
    int64_t tiles = groups * chunks, len = ext[axis];
    int64_t step = d->stride[axis];
    int nth = omp_get_max_threads() < d->nthreads ? omp_get_max_threads() : d->nthreads;
    if (groups * row * (axis == last ? 1 : len) < 16384) /* floats in the block */
        nth = 1;
#pragma omp parallel num_threads(nth)
    {
        float *tin = d->tmp + (int64_t)omp_get_thread_num() * d->tmp_len;
        float *tout = tin + d->tmp_len / 2;
#pragma omp for schedule(static)
        for (int64_t tile = 0; tile < tiles; tile++) {
            /* tile = [group coordinates][chunk of the last axis] (one chunk for the last axis) */
            int64_t rem = tile / chunks, off = 0, w = wdt;
            if (axis != last) {
                off = (tile % chunks) * wdt;
                w = row - off < wdt ? row - off : wdt;
            }
            for (int i = last - 1; i >= 0; i--) {
                if (i == axis)
                    continue;
                off += (rem % ext[i]) * d->stride[i];
                rem /= ext[i];
            }
            float *base = buf + off;
            if (step == w) /* the last axis: the line is contiguous */
                memcpy(tin, base, (size_t)(len * w) * sizeof(float));
            else
                for (int64_t k = 0; k < len; k++)
                    memcpy(tin + k * w, base + k * step, (size_t)w * sizeof(float));
            if (analysis)
                analyze_tile(d, tin, tout, len, w);
            else
                synthesize_tile(d, tin, tout, len, w);
            if (step == w)
                memcpy(base, tout, (size_t)(len * w) * sizeof(float));
            else
                for (int64_t k = 0; k < len; k++)
                    memcpy(base + k * step, tout + k * w, (size_t)w * sizeof(float));
        }
    }
}

static void block_at_level(const wav_data *d, int level, int64_t *ext)
{
    for (int i = 0; i < d->ndim; i++)
        ext[i] = i >= d->ndim - d->dims ? d->shape[i] >> level : d->shape[i];
}

static hg_status wav_forward(const hg_linop *op, const float *x, float *y)
{
    const wav_data *d = op->data;
    memcpy(y, x, (size_t)hg_linop_in_floats(op) * sizeof(float));
    int64_t ext[HG_MAX_DIMS];
    for (int l = 0; l < d->levels; l++) {
        block_at_level(d, l, ext);
        for (int a = d->ndim - d->dims; a < d->ndim; a++)
            transform_axis(d, y, ext, a, true);
    }
    return HG_OK;
}

static hg_status wav_adjoint(const hg_linop *op, const float *y, float *x)
{
    const wav_data *d = op->data;
    memcpy(x, y, (size_t)hg_linop_in_floats(op) * sizeof(float));
    int64_t ext[HG_MAX_DIMS];
    for (int l = d->levels - 1; l >= 0; l--) {
        block_at_level(d, l, ext);
        for (int a = d->ndim - 1; a >= d->ndim - d->dims; a--)
            transform_axis(d, x, ext, a, false);
    }
    return HG_OK;
}

static void wav_destroy(hg_linop *op)
{
    wav_data *d = op->data;
    if (d)
        hg_free(d->tmp);
    free(d);
}

static hg_status wav_check(hg_dtype dtype, int ndim, const int64_t *shape, int dims, int levels,
                           int taps)
{
    if (!shape || ndim < 1 || ndim > HG_MAX_DIMS)
        return hg_error(HG_ERR_INVALID, "wavelet: item must have 1 to %d dimensions, got %d",
                        HG_MAX_DIMS, ndim);
    if (dims < 1 || dims > 3 || dims > ndim)
        return hg_error(HG_ERR_INVALID, "wavelet: dims must be 1, 2 or 3 and at most the item's %d dimensions, got %d",
                        ndim, dims);
    if (taps != 2 && taps != 4)
        return hg_error(HG_ERR_INVALID, "wavelet: taps must be 2 (Haar) or 4 (db2), got %d", taps);
    if (levels < 1 || levels > 30)
        return hg_error(HG_ERR_INVALID, "wavelet: levels must be 1 to 30, got %d", levels);
    if (dtype != HG_F32 && dtype != HG_C64)
        return hg_error(HG_ERR_INVALID, "wavelet: unknown dtype %d", (int)dtype);
    for (int i = ndim - dims; i < ndim; i++)
        if (shape[i] <= 0 || shape[i] % ((int64_t)1 << levels) != 0)
            return hg_error(HG_ERR_INVALID, "wavelet: axis %d has size %lld, expected a multiple of 2^%d = %lld for %d levels",
                            i, (long long)shape[i], levels, (long long)1 << levels, levels);
    return HG_OK;
}

hg_linop *hg_linop_wavelet(hg_dtype dtype, int ndim, const int64_t *shape, int dims, int levels,
                           int taps)
{
    if (wav_check(dtype, ndim, shape, dims, levels, taps) != HG_OK)
        return NULL;
    char name[32];
    snprintf(name, sizeof name, "wavelet(%s,%d)", taps == 2 ? "haar" : "db2", levels);
    hg_linop *op = hg_linop_new(name, dtype, ndim, shape, dtype, ndim, shape);
    if (!op)
        return NULL;
    wav_data *d = calloc(1, sizeof *d);
    if (!d) {
        hg_linop_free(op);
        hg_error(HG_ERR_NOMEM, "wavelet: out of memory");
        return NULL;
    }
    op->data = d;
    op->destroy = wav_destroy;
    d->ndim = ndim, d->dims = dims, d->levels = levels, d->taps = taps;
    d->c = dtype == HG_C64 ? 2 : 1;
    memcpy(d->shape, shape, (size_t)ndim * sizeof *shape);
    int64_t st = d->c, maxlen = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        d->stride[i] = st;
        st *= shape[i];
        if (i >= ndim - dims && shape[i] > maxlen)
            maxlen = shape[i];
    }
    set_filters(d);
    /* One input and one output line per thread, allocated once (operators are not
     * thread-safe, see linop.h; calls run parallel inside). */
    d->nthreads = omp_get_max_threads();
    d->tmp_len = 2 * maxlen * (TILE_FLOATS > d->c ? TILE_FLOATS : d->c);
    d->tmp = hg_malloc((size_t)(d->nthreads * d->tmp_len) * sizeof(float));
    if (!d->tmp) {
        hg_linop_free(op);
        return NULL;
    }
    op->forward = wav_forward;
    op->adjoint = wav_adjoint;
    return op;
}
