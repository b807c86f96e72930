/* ESPIRiT coil sensitivity estimation (Uecker et al., MRM 71:990, 2014), one set of maps.
 *
 * 1. Calibration matrix A of the centred calib x calib region: one row per k x k patch, one
 *    column per (coil, ky, kx) of the patch.
 * 2. Its right singular vectors with sigma > thresh sigma_max span (conjugated) the patches
 *    of consistent k-space; P projects onto that span. (Eigen-decomposition of the small Gram matrix
 *    A^H A with LAPACK's cheevd instead of an SVD of A.)
 * 3. Averaging P over the k^2 positions of a point in its patches gives a k-space correlation
 *    y_c(k) = sum_{c', d} g_cc'(d) y_c'(k + d), g_cc'(d) = 1/k^2 sum_e P[(c, e), (c', e + d)],
 *    which in image space is a pixel-wise nc x nc matrix G(r) = DFT_d g(d) (Hermitian, so only
 *    nc (nc + 1) / 2 transforms). True maps are eigenvectors of G(r) with eigenvalue 1.
 * 4. Per pixel, the top eigenvector by power iteration (until a step changes it by less
 *    than 1e-5, at most `iters` steps); phase relative to coil 0; zero where
 *    the eigenvalue is below crop. */
#include "physics/mri_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* LAPACK (in OpenBLAS), Fortran calling convention with hidden string lengths. */
extern void cheevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda,
                    float *w, float *work, const int *lwork, float *rwork, const int *lrwork,
                    int *iwork, const int *liwork, int *info, size_t ljobz, size_t luplo);

hg_status hg_mri_heev(int n, float *a, float *w, float *vec)
{
    int info = 0, lwork = -1, lrwork = -1, liwork = -1, iwq = 0;
    float wq[2] = {0, 0}, rwq = 0;
    /* Row-major a read as column-major is a^T = conj(a), whose eigenvectors are conj(v). */
    cheevd_("V", "U", &n, a, &n, w, wq, &lwork, &rwq, &lrwork, &iwq, &liwork, &info, 1, 1);
    if (info != 0)
        return hg_error(HG_ERR_NUMERIC, "espirit: cheevd workspace query failed (info %d)",
                        info);
    lwork = (int)wq[0], lrwork = (int)rwq, liwork = iwq;
    float *work = hg_malloc((size_t)(2 * lwork + lrwork) * sizeof(float));
    int *iwork = hg_malloc((size_t)liwork * sizeof(int));
    if (!work || !iwork) {
        hg_free(work), hg_free(iwork);
        return HG_ERR_NOMEM;
    }
    cheevd_("V", "U", &n, a, &n, w, work, &lwork, work + 2 * lwork, &lrwork, iwork, &liwork,
            &info, 1, 1);
    hg_free(work), hg_free(iwork);
    if (info != 0)
        return hg_error(HG_ERR_NUMERIC, "espirit: cheevd did not converge (info %d)", info);
    for (int64_t i = 0; i < (int64_t)n * n; i++) {
        vec[2 * i] = a[2 * i];
        vec[2 * i + 1] = -a[2 * i + 1];
    }
    return HG_OK;
}

typedef struct {
    int64_t nc, ny, nx, c, k;
} geom;

/* The calibration matrix [patches, nc k k], complex. */
static void calib_matrix(const geom *g, const float *ks, float *a)
{
    int64_t y0 = g->ny / 2 - g->c / 2, x0 = g->nx / 2 - g->c / 2, np = g->c - g->k + 1;
    int64_t cols = g->nc * g->k * g->k;
    for (int64_t py = 0; py < np; py++)
        for (int64_t px = 0; px < np; px++) {
            float *row = a + 2 * (py * np + px) * cols;
            for (int64_t ch = 0; ch < g->nc; ch++)
                for (int64_t dy = 0; dy < g->k; dy++)
                    for (int64_t dx = 0; dx < g->k; dx++) {
                        const float *v =
                            ks + 2 * ((ch * g->ny + y0 + py + dy) * g->nx + x0 + px + dx);
                        float *o = row + 2 * ((ch * g->k + dy) * g->k + dx);
                        o[0] = v[0], o[1] = v[1];
                    }
        }
}

/* g_cc'(d) on a ny x nx grid centred at (ny/2, nx/2), for one coil pair. */
static void correlation(const geom *g, const float *p, int64_t c1, int64_t c2, float *grid)
{
    int64_t k = g->k, m = g->nc * k * k;
    memset(grid, 0, (size_t)(2 * g->ny * g->nx) * sizeof(float));
    float inv = 1.0f / (float)(k * k);
    for (int64_t ey = 0; ey < k; ey++)
        for (int64_t ex = 0; ex < k; ex++)
            for (int64_t fy = 0; fy < k; fy++)
                for (int64_t fx = 0; fx < k; fx++) {
                    int64_t a = (c1 * k + ey) * k + ex, b = (c2 * k + fy) * k + fx;
                    int64_t at = (g->ny / 2 + fy - ey) * g->nx + g->nx / 2 + fx - ex;
                    grid[2 * at] += inv * p[2 * (a * m + b)];
                    grid[2 * at + 1] += inv * p[2 * (a * m + b) + 1];
                }
}

static hg_status check_kspace(const hg_tensor *ks, const hg_espirit_opts *o)
{
    char a[96];
    if (!ks)
        return hg_error(HG_ERR_INVALID, "espirit: NULL k-space");
    if (ks->dtype != HG_C64 || ks->ndim != 3)
        return hg_error(HG_ERR_INVALID,
                        "espirit: k-space %s: expected complex [coils, H, W], got %s %s",
                        hg_tensor_label(ks), ks->dtype == HG_C64 ? "complex" : "real",
                        hg_shape_str(ks, a, sizeof a));
    int64_t ny = ks->shape[1], nx = ks->shape[2];
    if (o->kernel < 1 || o->calib < o->kernel || o->calib > ny || o->calib > nx ||
        2 * o->kernel - 1 > ny || 2 * o->kernel - 1 > nx)
        return hg_error(HG_ERR_INVALID,
                        "espirit: kernel %d and calibration region %d must satisfy 1 <= kernel "
                        "<= calib <= image size %lld x %lld",
                        o->kernel, o->calib, (long long)ny, (long long)nx);
    if (ks->shape[0] > 64 || ks->shape[0] * o->kernel * o->kernel > 4096)
        return hg_error(HG_ERR_UNSUPPORTED,
                        "espirit: %lld coils x %d^2 kernel = %lld unknowns per patch; at most 64 "
                        "coils and 4096 unknowns",
                        (long long)ks->shape[0], o->kernel,
                        (long long)(ks->shape[0] * o->kernel * o->kernel));
    return HG_OK;
}

/* Top eigenvector of the pixel's Hermitian nc x nc matrix by power iteration. */
static float power_iteration(const float *gm, int64_t nc, int iters, float *v, float *w)
{
    for (int64_t c = 0; c < nc; c++)
        v[2 * c] = 1.0f / sqrtf((float)nc), v[2 * c + 1] = 0.0f;
    double lambda = 0.0;
    for (int it = 0; it < iters; it++) {
        double norm = 0.0;
        for (int64_t a = 0; a < nc; a++) {
            float re = 0, im = 0;
            for (int64_t b = 0; b < nc; b++) {
                const float *m = gm + 2 * (a * nc + b);
                re += m[0] * v[2 * b] - m[1] * v[2 * b + 1];
                im += m[0] * v[2 * b + 1] + m[1] * v[2 * b];
            }
            w[2 * a] = re, w[2 * a + 1] = im;
            norm += (double)re * re + (double)im * im;
        }
        lambda = sqrt(norm);
        if (lambda == 0.0)
            break;
        double change = 0.0;
        for (int64_t a = 0; a < 2 * nc; a++) {
            float next = (float)(w[a] / lambda);
            change += (double)(next - v[a]) * (next - v[a]);
            v[a] = next;
        }
        if (change < 1e-10) /* |step| < 1e-5: converged at float precision */
            break;
    }
    return (float)lambda;
}

hg_tensor *hg_mri_espirit(hg_ctx *ctx, const hg_tensor *kspace, const hg_espirit_opts *opts,
                          hg_tensor **eig)
{
    hg_espirit_opts o = {24, 6, 0.001, 0.8, 60};
    if (opts) {
        o = *opts;
        o.calib = o.calib ? o.calib : 24, o.kernel = o.kernel ? o.kernel : 6;
        o.iters = o.iters ? o.iters : 60;
    }
    if (eig)
        *eig = NULL;
    if (check_kspace(kspace, &o) != HG_OK)
        return NULL;
    geom g = {kspace->shape[0], kspace->shape[1], kspace->shape[2], o.calib, o.kernel};
    int64_t np = (g.c - g.k + 1) * (g.c - g.k + 1), m = g.nc * g.k * g.k;
    int64_t npix = g.ny * g.nx, pairs = g.nc * (g.nc + 1) / 2;
    hg_cfft fft;
    if (hg_cfft_init(&fft, 2, kspace->shape + 1, "espirit") != HG_OK)
        return NULL;
    float *a = hg_malloc((size_t)(2 * np * m) * sizeof(float));
    float *gram = hg_malloc((size_t)(2 * m * m) * sizeof(float));
    float *vec = hg_malloc((size_t)(2 * m * m) * sizeof(float));
    float *w = hg_malloc((size_t)m * sizeof(float));
    float *gm = hg_malloc((size_t)(2 * npix * g.nc * g.nc) * sizeof(float));
    float *slots = hg_malloc((size_t)(pairs * fft.slot) * sizeof(float));
    hg_tensor *maps = NULL, *ev = NULL;
    hg_status s = (a && gram && vec && w && gm && slots) ? HG_OK : HG_ERR_NOMEM;
    if (s == HG_OK) {
        calib_matrix(&g, kspace->data, a);
        const float one[2] = {1, 0}, zero[2] = {0, 0};
        cblas_cgemm(CblasRowMajor, CblasConjTrans, CblasNoTrans, (int)m, (int)m, (int)np, one, a,
                    (int)m, a, (int)m, zero, gram, (int)m);
        s = hg_mri_heev((int)m, gram, w, vec);
    }
    if (s == HG_OK) {
        /* Eigenvalues (sigma^2) ascend. Keep sigma^2 > thresh sigma_max^2, as BART -t. */
        int first = (int)m - 1;
        while (first > 0 && w[first - 1] > o.thresh * w[m - 1])
            first--;
        /* A's rows (the patches, as vectors p = A[b, :]^T) are combinations of conj(v_j),
         * since A = U S V^H. The projector onto their span, P = sum_j conj(v_j) v_j^T over
         * the kept j, goes into gram. */
        for (int64_t i = 0; i < 2 * m * m; i++)
            gram[i] = 0.0f;
        for (int64_t j = first; j < m; j++) {
            const float *v = vec + 2 * j * m;
            for (int64_t r = 0; r < m; r++)
                for (int64_t c = 0; c < m; c++) {
                    float ar = v[2 * r], ai = -v[2 * r + 1], br = v[2 * c], bi = v[2 * c + 1];
                    gram[2 * (r * m + c)] += ar * br - ai * bi;
                    gram[2 * (r * m + c) + 1] += ar * bi + ai * br;
                }
        }
    }
    if (s == HG_OK) {
        float root_n = sqrtf((float)npix);
#pragma omp parallel for schedule(dynamic)
        for (int64_t pi = 0; pi < pairs; pi++) {
            int64_t c1 = 0, rest = pi;
            while (rest >= g.nc - c1)
                rest -= g.nc - c1, c1++;
            int64_t c2 = c1 + rest;
            float *buf = slots + pi * fft.slot;
            correlation(&g, gram, c1, c2, buf);
            hg_cfft_forward(&fft, buf, buf, buf);
            for (int64_t i = 0; i < npix; i++) {
                float re = root_n * buf[2 * i], im = root_n * buf[2 * i + 1];
                float *x = gm + 2 * (i * g.nc * g.nc + c1 * g.nc + c2);
                float *y = gm + 2 * (i * g.nc * g.nc + c2 * g.nc + c1);
                x[0] = re, x[1] = im;
                y[0] = re, y[1] = -im; /* Hermitian: G_c2c1 = conj(G_c1c2) */
            }
        }
        int64_t shape[3] = {g.nc, g.ny, g.nx};
        maps = hg_tensor_empty(ctx, HG_C64, 3, shape);
        ev = hg_tensor_empty(NULL, HG_F32, 2, shape + 1);
        if (!maps || !ev)
            s = hg_error_status() ? hg_error_status() : HG_ERR_NOMEM;
    }
    if (s == HG_OK) {
#pragma omp parallel
        {
            float v[2 * 64], t[2 * 64]; /* nc <= 64, checked */
#pragma omp for schedule(static)
            for (int64_t i = 0; i < npix; i++) {
                float *vb = v, *tb = t;
                float lam = power_iteration(gm + 2 * i * g.nc * g.nc, g.nc, o.iters, vb, tb);
                ev->data[i] = lam;
                float r0 = vb[0], i0 = vb[1], mag = sqrtf(r0 * r0 + i0 * i0);
                float pr = mag > 0 ? r0 / mag : 1.0f, pim = mag > 0 ? -i0 / mag : 0.0f;
                bool keep = lam >= o.crop;
                for (int64_t c = 0; c < g.nc; c++) {
                    float re = vb[2 * c] * pr - vb[2 * c + 1] * pim;
                    float im = vb[2 * c] * pim + vb[2 * c + 1] * pr;
                    maps->data[2 * (c * npix + i)] = keep ? re : 0.0f;
                    maps->data[2 * (c * npix + i) + 1] = keep ? im : 0.0f;
                }
            }
        }
    }
    hg_free(a), hg_free(gram), hg_free(vec), hg_free(w), hg_free(gm), hg_free(slots);
    hg_cfft_free(&fft);
    if (s != HG_OK) {
        if (!ctx)
            hg_tensor_free(maps);
        hg_tensor_free(ev);
        return NULL;
    }
    if (eig)
        *eig = ev;
    else
        hg_tensor_free(ev);
    return maps;
}
