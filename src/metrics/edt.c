/* Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012), separable over axes.
 *
 * Pass 1 along the last axis starts from f = 0 on the mask and +inf elsewhere; every later pass
 * takes the previous squared distances as f and computes min_q f(q) + (s (p - q))^2 with the
 * lower envelope of parabolas, which is exact for the squared Euclidean distance with
 * anisotropic spacing s per axis. O(numel) per axis. */
#include "hinge/seg_metrics.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* One line: f (n values) in, d out; v (n) and z (n + 1) scratch. s = spacing on this axis. */
static void edt_line(const double *f, double *d, int64_t n, double s, int64_t *v, double *z)
{
    int64_t k = -1;
    for (int64_t q = 0; q < n; q++) {
        if (isinf(f[q]))
            continue; /* a parabola at infinite height never lies on the envelope */
        double xq = (double)q * s;
        if (k < 0) {
            k = 0;
            v[0] = q;
            z[0] = -INFINITY;
            z[1] = INFINITY;
            continue;
        }
        /* z[0] = -inf stops the loop at k = 0 */
        double sp;
        for (;;) {
            double xp = (double)v[k] * s;
            sp = ((f[q] + xq * xq) - (f[v[k]] + xp * xp)) / (2.0 * (xq - xp));
            if (sp > z[k])
                break;
            k--;
        }
        k++;
        v[k] = q;
        z[k] = sp;
        z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (int64_t q = 0; q < n; q++)
            d[q] = INFINITY;
        return;
    }
    k = 0;
    for (int64_t q = 0; q < n; q++) {
        double xq = (double)q * s;
        while (z[k + 1] < xq)
            k++;
        double dx = (double)(q - v[k]) * s;
        d[q] = dx * dx + f[v[k]];
    }
}

hg_status hg_edt_squared(const uint8_t *mask, int ndim, const int64_t *dims,
                         const double *spacing, double *out)
{
    if (!mask || !dims || !out || ndim < 1 || ndim > 3)
        return hg_error(HG_ERR_INVALID, "edt: %d spatial dims (expected 1..3) or NULL buffer",
                        ndim);
    int64_t numel = 1, maxn = 1;
    for (int a = 0; a < ndim; a++) {
        if (dims[a] < 1)
            return hg_error(HG_ERR_INVALID, "edt: dim %d is %lld, expected >= 1", a,
                            (long long)dims[a]);
        numel *= dims[a];
        if (dims[a] > maxn)
            maxn = dims[a];
    }
    for (int a = 0; a < ndim; a++)
        if (spacing && !(spacing[a] > 0 && isfinite(spacing[a])))
            return hg_error(HG_ERR_INVALID, "edt: spacing[%d] = %g, expected finite > 0", a,
                            spacing[a]);
    for (int64_t i = 0; i < numel; i++)
        out[i] = mask[i] ? 0.0 : INFINITY;
    int nt = omp_get_max_threads();
    /* per thread: f (maxn), d (maxn), z (maxn + 1) doubles and v (maxn) indices */
    size_t per = (size_t)(3 * maxn + 1);
    double *buf = hg_malloc(sizeof(double) * per * (size_t)nt);
    int64_t *vbuf = hg_malloc(sizeof(int64_t) * (size_t)maxn * (size_t)nt);
    if (!buf || !vbuf) {
        hg_free(buf);
        hg_free(vbuf);
        return HG_ERR_NOMEM;
    }
    for (int a = ndim - 1; a >= 0; a--) {
        int64_t n = dims[a], stride = 1;
        for (int b = a + 1; b < ndim; b++)
            stride *= dims[b];
        double s = spacing ? spacing[ndim - 1 - a] : 1.0;
        int64_t lines = numel / n;
#pragma omp parallel for schedule(static) num_threads(nt) if (numel > 32768)
        for (int64_t l = 0; l < lines; l++) {
            int t = omp_get_thread_num();
            double *f = buf + (size_t)t * per, *d = f + maxn, *z = d + maxn;
            int64_t *v = vbuf + (size_t)t * (size_t)maxn;
            int64_t base = (l / stride) * n * stride + l % stride;
            for (int64_t q = 0; q < n; q++)
                f[q] = out[base + q * stride];
            edt_line(f, d, n, s, v, z);
            for (int64_t q = 0; q < n; q++)
                out[base + q * stride] = d[q];
        }
    }
    hg_free(buf);
    hg_free(vbuf);
    return HG_OK;
}
