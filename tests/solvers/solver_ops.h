/* Operators built in the solver tests (dense real/complex matrices, a diagonal, a 2-D blur, the
 * identity) and an independent double-precision reference: the operator's real matrix (by
 * applying it to unit vectors; for complex operators this is the real 2m x 2n representation,
 * which matches the solvers' Re<.,.> inner product) and regularized normal equations solved by
 * Cholesky. Header-only: each test includes it once. */
#ifndef HINGE_TEST_SOLVER_OPS_H
#define HINGE_TEST_SOLVER_OPS_H

#include "test_util.h"

#include <string.h>

/* ---- dense (real or complex) matrix ---------------------------------------------------- */

typedef struct {
    int m, n; /* rows, columns (complex elements when cplx) */
    int cplx;
    float *a; /* m x n, interleaved when complex */
} t_dense;

static inline hg_status t_dense_fwd(const hg_linop *op, const float *x, float *y)
{
    const t_dense *d = op->data;
    for (int i = 0; i < d->m; i++) {
        double re = 0, im = 0;
        for (int j = 0; j < d->n; j++) {
            if (!d->cplx) {
                re += (double)d->a[i * d->n + j] * x[j];
                continue;
            }
            double ar = d->a[2 * (i * d->n + j)], ai = d->a[2 * (i * d->n + j) + 1];
            re += ar * x[2 * j] - ai * x[2 * j + 1];
            im += ar * x[2 * j + 1] + ai * x[2 * j];
        }
        if (d->cplx)
            y[2 * i] = (float)re, y[2 * i + 1] = (float)im;
        else
            y[i] = (float)re;
    }
    return HG_OK;
}

static inline hg_status t_dense_adj(const hg_linop *op, const float *y, float *x)
{
    const t_dense *d = op->data;
    for (int j = 0; j < d->n; j++) {
        double re = 0, im = 0;
        for (int i = 0; i < d->m; i++) {
            if (!d->cplx) {
                re += (double)d->a[i * d->n + j] * y[i];
                continue;
            }
            double ar = d->a[2 * (i * d->n + j)], ai = -d->a[2 * (i * d->n + j) + 1]; /* conj */
            re += ar * y[2 * i] - ai * y[2 * i + 1];
            im += ar * y[2 * i + 1] + ai * y[2 * i];
        }
        if (d->cplx)
            x[2 * j] = (float)re, x[2 * j + 1] = (float)im;
        else
            x[j] = (float)re;
    }
    return HG_OK;
}

static inline hg_linop *t_dense_op(t_dense *d, const char *name)
{
    hg_dtype dt = d->cplx ? HG_C64 : HG_F32;
    hg_linop *op = hg_linop_new(name, dt, 1, (int64_t[]){d->n}, dt, 1, (int64_t[]){d->m});
    REQUIRE(op);
    op->forward = t_dense_fwd, op->adjoint = t_dense_adj, op->data = d;
    return op;
}

/* Gaussian random m x n matrix (scaled by 1/sqrt(m)). */
static inline hg_linop *t_dense_random(t_dense *d, int m, int n, int cplx, uint64_t seed)
{
    d->m = m, d->n = n, d->cplx = cplx;
    int64_t nf = (int64_t)m * n * (cplx ? 2 : 1);
    d->a = malloc(sizeof(float) * nf);
    hg_rng r = hg_rng_new(seed);
    hg_rng_fill_normal(&r, d->a, nf, 0, (float)(1.0 / sqrt(m)));
    return t_dense_op(d, cplx ? "dense_complex" : "dense");
}

/* ---- 2-D blur with a 3x3 kernel and zero boundary ------------------------------------ */

typedef struct {
    int h, w;
    float k[9];
} t_blur;

static inline hg_status t_blur_apply(const t_blur *b, const float *x, float *y, int flip)
{
    for (int i = 0; i < b->h; i++)
        for (int j = 0; j < b->w; j++) {
            double s = 0;
            for (int di = -1; di <= 1; di++)
                for (int dj = -1; dj <= 1; dj++) {
                    int ii = i + di, jj = j + dj;
                    if (ii < 0 || jj < 0 || ii >= b->h || jj >= b->w)
                        continue;
                    int ki = flip ? 1 - di : 1 + di, kj = flip ? 1 - dj : 1 + dj;
                    s += b->k[ki * 3 + kj] * x[ii * b->w + jj];
                }
            y[i * b->w + j] = (float)s;
        }
    return HG_OK;
}

static inline hg_status t_blur_fwd(const hg_linop *op, const float *x, float *y)
{
    return t_blur_apply(op->data, x, y, 0);
}
static inline hg_status t_blur_adj(const hg_linop *op, const float *y, float *x)
{
    return t_blur_apply(op->data, y, x, 1);
}

static inline hg_linop *t_blur_op(t_blur *b, int h, int w)
{
    const float k[9] = {0.05f, 0.1f, 0.05f, 0.12f, 0.4f, 0.08f, 0.04f, 0.1f, 0.06f};
    b->h = h, b->w = w;
    memcpy(b->k, k, sizeof k);
    hg_linop *op = hg_linop_new("blur", HG_F32, 2, (int64_t[]){h, w}, HG_F32, 2, (int64_t[]){h, w});
    REQUIRE(op);
    op->forward = t_blur_fwd, op->adjoint = t_blur_adj, op->data = b;
    return op;
}

/* ---- identity ------------------------------------------------------------------------- */

static inline hg_status t_copy(const hg_linop *op, const float *x, float *y)
{
    memcpy(y, x, sizeof(float) * hg_linop_in_floats(op));
    return HG_OK;
}

static inline hg_linop *t_identity(hg_dtype dt, int ndim, const int64_t *shape)
{
    hg_linop *op = hg_linop_new("identity", dt, ndim, shape, dt, ndim, shape);
    REQUIRE(op);
    op->forward = t_copy, op->adjoint = t_copy;
    return op;
}

/* ---- double-precision reference ------------------------------------------------------- */

/* The m x n real matrix (row-major, double) of an operator over floats. */
static inline double *t_matrix(const hg_linop *op)
{
    int64_t n = hg_linop_in_floats(op), m = hg_linop_out_floats(op);
    double *a = malloc(sizeof(double) * m * n);
    float *e = calloc(n, sizeof(float)), *col = malloc(sizeof(float) * m);
    for (int64_t j = 0; j < n; j++) {
        e[j] = 1.0f;
        CHECK_OK(hg_linop_forward(op, e, col));
        e[j] = 0.0f;
        for (int64_t i = 0; i < m; i++)
            a[i * n + j] = col[i];
    }
    free(e), free(col);
    return a;
}

/* Solves the symmetric positive definite n x n system s x = b in place by Cholesky. */
static inline void t_cholesky_solve(double *s, double *b, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double d = s[j * n + j];
        for (int64_t k = 0; k < j; k++)
            d -= s[j * n + k] * s[j * n + k];
        REQUIRE(d > 0);
        s[j * n + j] = sqrt(d);
        for (int64_t i = j + 1; i < n; i++) {
            double v = s[i * n + j];
            for (int64_t k = 0; k < j; k++)
                v -= s[i * n + k] * s[j * n + k];
            s[i * n + j] = v / s[j * n + j];
        }
    }
    for (int64_t i = 0; i < n; i++) { /* L z = b */
        double v = b[i];
        for (int64_t k = 0; k < i; k++)
            v -= s[i * n + k] * b[k];
        b[i] = v / s[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; i--) { /* L^T x = z */
        double v = b[i];
        for (int64_t k = i + 1; k < n; k++)
            v -= s[k * n + i] * b[k];
        b[i] = v / s[i * n + i];
    }
}

/* argmin ||A x - y||^2 + lambda ||x||^2 in double: (A^T A + lambda I) x = A^T y. */
static inline double *t_lsq_reference(const hg_linop *op, const float *y, double lambda)
{
    int64_t n = hg_linop_in_floats(op), m = hg_linop_out_floats(op);
    double *a = t_matrix(op), *s = calloc(n * n, sizeof(double)), *x = calloc(n, sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++) {
            double v = 0;
            for (int64_t k = 0; k < m; k++)
                v += a[k * n + i] * a[k * n + j];
            s[i * n + j] = v + (i == j ? lambda : 0.0);
        }
        double v = 0;
        for (int64_t k = 0; k < m; k++)
            v += a[k * n + i] * y[k];
        x[i] = v;
    }
    t_cholesky_solve(s, x, n);
    free(a), free(s);
    return x;
}

/* max_i |x_i - ref_i| / max_i |ref_i| */
static inline double t_rel_err_d(const float *x, const double *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num = fmax(num, fabs(x[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
    }
    return den > 0 ? num / den : num;
}

#endif
