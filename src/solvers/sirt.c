/* SIRT (simultaneous iterative reconstruction technique):
 *     x <- x + C A^T R (y - A x),   R = diag(1 / row sums of A),  C = diag(1 / column sums)
 * for a real operator with nonnegative entries (a projector). Rows or columns that sum to zero
 * get weight 0 (as in ASTRA), so rays that miss the image and pixels no ray sees stay put.
 *
 * This is gradient descent with step 1 in the C^{-1} metric on f(x) = 1/2 ||A x - y||_R^2 and
 * ||C^{1/2} A^T R A C^{1/2}|| <= 1 for A >= 0, so f decreases monotonically (also with the
 * x >= 0 projection, which is a projection in the diagonal C^{-1} metric too) and converges.
 * Reported residual: ||y - A x|| / ||y|| (plain, the number users compare); objective: f(x),
 * the R-weighted quantity that is guaranteed to decrease. */
#include "solvers/vec.h"

#include <math.h>

/* w[i] = 1 / s[i] where s[i] > 0, else 0. Fails on a clearly negative sum (A is not >= 0). */
static hg_status invert_sums(const hg_linop *a, float *w, int64_t n, const char *what)
{
    double maxabs = 0.0;
    for (int64_t i = 0; i < n; i++)
        maxabs = fmax(maxabs, fabs((double)w[i]));
    for (int64_t i = 0; i < n; i++) {
        if (w[i] < -1e-6 * maxabs)
            return hg_error(HG_ERR_INVALID,
                            "sirt: operator %s has a negative %s sum (%g at %lld); SIRT needs A >= 0",
                            a->name, what, (double)w[i], (long long)i);
        w[i] = w[i] > 1e-6 * maxabs ? 1.0f / w[i] : 0.0f;
    }
    return HG_OK;
}

/* r = y - A x; returns the residual norms via *plain and *weighted (||.||_R^2). */
static hg_status data_residual(const hg_linop *a, const float *y, const float *x,
                               const float *rw, float *r, int64_t m, double *plain2,
                               double *weighted2)
{
    hg_status s = hg_linop_forward(a, x, r);
    if (s != HG_OK)
        return s;
    double p = 0.0, w = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : p, w) if (m > 32768)
    for (int64_t i = 0; i < m; i++) {
        float d = y[i] - r[i];
        r[i] = d;
        p += (double)d * d;
        w += (double)d * d * rw[i];
    }
    *plain2 = p;
    *weighted2 = w;
    return HG_OK;
}

hg_status hg_sirt(const hg_linop *a, const float *y, float *x, const hg_solver_opts *opts,
                  hg_solver_info *info)
{
    hg_solver_cfg cfg;
    hg_status s = hg_solver_check_args("sirt", a, y, x);
    if (s == HG_OK && (a->in_dtype != HG_F32 || a->out_dtype != HG_F32))
        s = hg_error(HG_ERR_INVALID, "sirt: operator %s must be real (a nonnegative projector), got %s -> %s",
                     a->name, a->in_dtype == HG_C64 ? "complex" : "real",
                     a->out_dtype == HG_C64 ? "complex" : "real");
    if (s == HG_OK)
        s = hg_solver_cfg_init(&cfg, opts, "sirt");
    if (s != HG_OK)
        return s;
    int64_t n = hg_linop_in_floats(a), m = hg_linop_out_floats(a);
    float *v[4];
    float *work = hg_solver_work("sirt", 4, (int64_t[]){m, n, m, n}, v);
    if (!work)
        return HG_ERR_NOMEM;
    float *rw = v[0], *cw = v[1], *r = v[2], *g = v[3];

    /* Row sums A 1 and column sums A^T 1. */
    for (int64_t j = 0; j < n; j++)
        g[j] = 1.0f;
    for (int64_t i = 0; i < m; i++)
        r[i] = 1.0f;
    s = hg_linop_forward(a, g, rw);
    if (s == HG_OK)
        s = hg_linop_adjoint(a, r, cw);
    if (s == HG_OK)
        s = invert_sums(a, rw, m, "row");
    if (s == HG_OK)
        s = invert_sums(a, cw, n, "column");

    double ynorm = hg_vec_nrm2(y, m), scale = ynorm > 0.0 ? ynorm : 1.0;
    double plain2 = 0.0, weighted2 = 0.0;
    if (s == HG_OK)
        s = data_residual(a, y, x, rw, r, m, &plain2, &weighted2);
    double residual = sqrt(plain2) / scale;
    int32_t it = 0;
    while (s == HG_OK && it < cfg.max_iter && !(residual < cfg.tol)) {
#pragma omp parallel for schedule(static) if (m > 32768)
        for (int64_t i = 0; i < m; i++)
            r[i] *= rw[i];
        s = hg_linop_adjoint(a, r, g);
        if (s != HG_OK)
            break;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (int64_t j = 0; j < n; j++) {
            float v_new = x[j] + cw[j] * g[j];
            x[j] = cfg.nonneg && v_new < 0.0f ? 0.0f : v_new;
        }
        s = data_residual(a, y, x, rw, r, m, &plain2, &weighted2);
        if (s != HG_OK)
            break;
        it++;
        residual = sqrt(plain2) / scale;
        if (!isfinite(residual)) {
            s = hg_error(HG_ERR_NUMERIC, "sirt: residual of %s is not finite at iteration %d",
                         a->name, (int)it);
            break;
        }
        if (cfg.callback && cfg.callback(it, residual, cfg.user))
            break;
    }
    hg_solver_info_set(info, it, residual, s == HG_OK ? 0.5 * weighted2 : NAN);
    hg_free(work);
    return s;
}
