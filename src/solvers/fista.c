/* FISTA (Beck & Teboulle 2009) for  min_x 1/2 ||A x - y||^2 + lambda ||W x||_1.
 *
 * W must be orthonormal and square (W^H W = W W^H = I: an orthonormal wavelet transform with
 * periodic extension), so that the prox of lambda ||W .||_1 is W^H soft(W v, lambda) exactly.
 * W = NULL means the identity (plain l1 / LASSO); only then is x >= 0 supported, as the prox
 * of lambda ||x||_1 + indicator(x >= 0) is max(v - lambda, 0). With a general W the two do not
 * combine into a closed-form prox, and clamping after the prox would silently solve another
 * problem, so nonneg with W is refused.
 *
 * Soft-thresholding acts on magnitudes: per float for real coefficients, per (re, im) pair for
 * complex ones. Step 1/L with L = ||A||^2 (power iteration enlarged by 1 %, vec.h).
 * Reported residual: ||x_k - x_{k-1}|| / ||x_k||; objective: the cost above at the returned x. */
#include "solvers/vec.h"

#include <math.h>

/* In-place soft-thresholding by t; `complex_pairs` thresholds (re, im) magnitudes. */
static void soft_threshold(float *c, int64_t nfloats, double t, bool complex_pairs)
{
    float ft = (float)t;
    if (!complex_pairs) {
#pragma omp parallel for schedule(static) if (nfloats > 32768)
        for (int64_t i = 0; i < nfloats; i++) {
            float a = fabsf(c[i]) - ft;
            c[i] = a > 0.0f ? copysignf(a, c[i]) : 0.0f;
        }
        return;
    }
    int64_t pairs = nfloats / 2;
#pragma omp parallel for schedule(static) if (pairs > 16384)
    for (int64_t i = 0; i < pairs; i++) {
        double re = c[2 * i], im = c[2 * i + 1], mag = sqrt(re * re + im * im);
        float f = mag > t ? (float)(1.0 - t / mag) : 0.0f;
        c[2 * i] *= f;
        c[2 * i + 1] *= f;
    }
}

static double l1_norm(const float *c, int64_t nfloats, bool complex_pairs)
{
    double s = 0.0;
    if (!complex_pairs) {
        for (int64_t i = 0; i < nfloats; i++)
            s += fabs((double)c[i]);
        return s;
    }
    for (int64_t i = 0; i < nfloats / 2; i++)
        s += hypot((double)c[2 * i], (double)c[2 * i + 1]);
    return s;
}

static hg_status fista_check(const hg_linop *a, const hg_linop *w, double lambda,
                             const hg_solver_cfg *cfg)
{
    if (!(lambda >= 0.0) || isinf(lambda))
        return hg_error(HG_ERR_INVALID, "fista_l1: lambda must be finite and >= 0, got %g", lambda);
    if (!w)
        return cfg->nonneg && a->in_dtype == HG_C64
                   ? hg_error(HG_ERR_INVALID, "fista_l1: nonneg needs a real image, but %s takes a complex one",
                              a->name)
                   : HG_OK;
    char sa[96], sw[96];
    if (!hg_solver_same_space(w->in_dtype, w->in_ndim, w->in_shape, a->in_dtype, a->in_ndim,
                              a->in_shape))
        return hg_error(HG_ERR_INVALID, "fista_l1: W (%s) takes %s but A (%s) takes %s", w->name,
                        hg_solver_shape_str(w->in_dtype, w->in_ndim, w->in_shape, sw, sizeof sw),
                        a->name,
                        hg_solver_shape_str(a->in_dtype, a->in_ndim, a->in_shape, sa, sizeof sa));
    if (w->out_dtype != w->in_dtype || hg_linop_out_floats(w) != hg_linop_in_floats(w))
        return hg_error(HG_ERR_INVALID, "fista_l1: W (%s) must be square and orthonormal, but maps %s to %s",
                        w->name,
                        hg_solver_shape_str(w->in_dtype, w->in_ndim, w->in_shape, sa, sizeof sa),
                        hg_solver_shape_str(w->out_dtype, w->out_ndim, w->out_shape, sw, sizeof sw));
    if (cfg->nonneg)
        return hg_error(HG_ERR_UNSUPPORTED,
                        "fista_l1: nonneg with W (%s) has no closed-form prox; use W = NULL or drop nonneg",
                        w->name);
    return HG_OK;
}

/* x = prox(v): W^H soft(W v) or soft(v) [clamped]; v may be overwritten. */
static hg_status prox(const hg_linop *w, float *v, float *c, float *x, int64_t n, double t,
                      bool nonneg, bool complex_pairs)
{
    if (!w) {
        soft_threshold(v, n, t, complex_pairs);
        if (nonneg)
            hg_vec_clamp_nonneg(v, n);
        hg_vec_copy(x, v, n);
        return HG_OK;
    }
    hg_status s = hg_linop_forward(w, v, c);
    if (s != HG_OK)
        return s;
    soft_threshold(c, n, t, complex_pairs);
    return hg_linop_adjoint(w, c, x);
}

hg_status hg_fista_l1(const hg_linop *a, const hg_linop *w, const float *y, float *x,
                      double lambda, const hg_solver_opts *opts, hg_solver_info *info)
{
    hg_solver_cfg cfg;
    hg_status s = hg_solver_check_args("fista_l1", a, y, x);
    if (s == HG_OK)
        s = hg_solver_cfg_init(&cfg, opts, "fista_l1");
    if (s == HG_OK)
        s = fista_check(a, w, lambda, &cfg);
    double na = 0.0;
    if (s == HG_OK)
        s = hg_solver_norm("fista_l1", a, &na);
    if (s != HG_OK)
        return s;
    int64_t n = hg_linop_in_floats(a), m = hg_linop_out_floats(a);
    bool cplx = (w ? w->out_dtype : a->in_dtype) == HG_C64;
    float *v[6];
    /* With a direct normal operator (SENSE: no k-space output, row FFTs only) the gradient
     * is A^H A z - A^H y with A^H y computed once: the same iterates, a cheaper step. */
    bool use_normal = a->normal != NULL;
    float *work = hg_solver_work("fista_l1", 6,
                                 (int64_t[]){n, m, n, n, n, use_normal ? n : 0}, v);
    if (!work)
        return HG_ERR_NOMEM;
    float *z = v[0], *r = v[1], *g = v[2], *c = v[3], *xold = v[4], *aty = v[5];
    if (use_normal && (s = hg_linop_adjoint(a, y, aty)) != HG_OK) {
        hg_free(work);
        return s;
    }
    double lip = na * na, t = 1.0, residual = NAN;
    if (cfg.nonneg)
        hg_vec_clamp_nonneg(x, n);
    hg_vec_copy(z, x, n);
    int32_t it = 0;
    while (it < cfg.max_iter) {
        /* gradient step at z: g = z - A^H (A z - y) / L */
        if (use_normal) {
            if ((s = hg_linop_normal(a, z, g)) != HG_OK)
                break;
            hg_vec_axpy(g, -1.0, aty, n);
        } else {
            if ((s = hg_linop_forward(a, z, r)) != HG_OK)
                break;
            hg_vec_axpy(r, -1.0, y, m);
            if ((s = hg_linop_adjoint(a, r, g)) != HG_OK)
                break;
        }
        hg_vec_xpay(g, -1.0 / lip, z, n);
        hg_vec_copy(xold, x, n);
        if ((s = prox(w, g, c, x, n, lambda / lip, cfg.nonneg, cplx)) != HG_OK)
            break;
        double t_new = 0.5 * (1.0 + sqrt(1.0 + 4.0 * t * t)), beta = (t - 1.0) / t_new;
        t = t_new;
        float fb = (float)beta;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++)
            z[i] = x[i] + fb * (x[i] - xold[i]);
        it++;
        double xn = hg_vec_nrm2(x, n);
        residual = hg_vec_dist(x, xold, n) / (xn > 0.0 ? xn : 1.0);
        if (!isfinite(residual)) {
            s = hg_error(HG_ERR_NUMERIC, "fista_l1: iterate of %s is not finite at iteration %d",
                         a->name, (int)it);
            break;
        }
        if (cfg.callback && cfg.callback(it, residual, cfg.user))
            break;
        if (residual < cfg.tol)
            break;
    }
    double objective = NAN;
    if (s == HG_OK)
        s = hg_linop_forward(a, x, r);
    if (s == HG_OK && w)
        s = hg_linop_forward(w, x, c);
    if (s == HG_OK) {
        double d = hg_vec_dist(r, y, m);
        objective = 0.5 * d * d + lambda * l1_norm(w ? c : x, n, cplx);
    }
    hg_solver_info_set(info, it, residual, objective);
    hg_free(work);
    return s;
}
