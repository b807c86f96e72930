/* Chambolle-Pock PDHG for  min_x 1/2 ||A x - y||^2 + lambda TV(x)  [+ indicator(x >= 0)],
 * TV(x) = sum over pixels of the Euclidean norm of the forward-difference gradient
 * (isotropic; over re and im too for complex images) over the item's last min(ndim, 3) axes.
 *
 * Scaling (documented choice): K = [A; mu D] with mu = ||A|| / ||D||, so both blocks have the
 * same norm and neither dual variable dominates the step sizes; then ||K|| <= sqrt(2) ||A||
 * and tau = sigma = 0.99 / (sqrt(2) ||A||) satisfy sigma tau ||K||^2 < 1. ||A|| comes from
 * power iteration enlarged by 1 % (vec.h), ||D|| is exact (hg_linop_gradient_norm). The TV
 * term becomes (lambda / mu) ||mu D x||_{2,1}, whose conjugate's prox is the projection of
 * each pixel's dual vector onto the ball of radius lambda / mu. The data term's conjugate
 * prox is p -> (p - sigma y) / (1 + sigma).
 *
 * Reported residual: ||x_k - x_{k-1}|| / ||x_k||; objective: the primal objective above at
 * the returned x. */
#include "solvers/vec.h"

#include <math.h>

typedef struct {
    const hg_linop *a;
    hg_linop *grad; /* owned, created per call */
    int64_t n, m, nq; /* floats in x, in A x, in D x */
    int64_t pixels;   /* elements of x */
    int dims, c;
    double lambda, mu, tau, sigma;
} pdhg;

/* Projects each pixel's dual vector (dims components x c floats) onto the ball of radius r. */
static void project_ball(const pdhg *P, float *q, double r)
{
    int64_t n = P->n;
    int dims = P->dims, c = P->c;
#pragma omp parallel for schedule(static) if (P->pixels > 16384)
    for (int64_t px = 0; px < P->pixels; px++) {
        double s = 0.0;
        for (int k = 0; k < dims; k++)
            for (int e = 0; e < c; e++) {
                double v = q[k * n + px * c + e];
                s += v * v;
            }
        if (s > r * r) {
            float f = (float)(r / sqrt(s));
            for (int k = 0; k < dims; k++)
                for (int e = 0; e < c; e++)
                    q[k * n + px * c + e] *= f;
        }
    }
}

/* sum over pixels of the gradient magnitude */
static double tv_of_gradient(const pdhg *P, const float *g)
{
    int64_t n = P->n;
    int dims = P->dims, c = P->c;
    double tv = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : tv) if (P->pixels > 16384)
    for (int64_t px = 0; px < P->pixels; px++) {
        double s = 0.0;
        for (int k = 0; k < dims; k++)
            for (int e = 0; e < c; e++) {
                double v = g[k * n + px * c + e];
                s += v * v;
            }
        tv += sqrt(s);
    }
    return tv;
}

static hg_status pdhg_check(const hg_linop *a, const float *y, float *x, double lambda,
                            const hg_solver_cfg *cfg)
{
    if (!(lambda >= 0.0) || isinf(lambda))
        return hg_error(HG_ERR_INVALID, "pdhg_tv: lambda must be finite and >= 0, got %g", lambda);
    if (cfg->nonneg && a->in_dtype == HG_C64)
        return hg_error(HG_ERR_INVALID, "pdhg_tv: nonneg needs a real image, but %s takes a complex one",
                        a->name);
    if (a->in_ndim + 1 > HG_MAX_DIMS)
        return hg_error(HG_ERR_INVALID, "pdhg_tv: image of %s has %d dimensions, at most %d supported",
                        a->name, (int)a->in_ndim, HG_MAX_DIMS - 1);
    return HG_OK;
}

static hg_status pdhg_setup(pdhg *P, const hg_linop *a, double lambda)
{
    P->a = a;
    P->lambda = lambda;
    P->dims = a->in_ndim < 3 ? a->in_ndim : 3;
    P->c = a->in_dtype == HG_C64 ? 2 : 1;
    P->n = hg_linop_in_floats(a);
    P->m = hg_linop_out_floats(a);
    P->nq = P->dims * P->n;
    P->pixels = P->n / P->c;
    double na;
    hg_status s = hg_solver_norm("pdhg_tv", a, &na);
    if (s != HG_OK)
        return s;
    double nd = hg_linop_gradient_norm(a->in_ndim, a->in_shape, P->dims);
    P->mu = nd > 0.0 ? na / nd : 1.0; /* nd = 0: a single pixel, D = 0 and q stays 0 */
    double k = sqrt(na * na + P->mu * P->mu * nd * nd);
    P->tau = P->sigma = 0.99 / k;
    P->grad = hg_linop_gradient(a->in_dtype, a->in_ndim, a->in_shape, P->dims);
    return P->grad ? HG_OK : hg_error_context(hg_error_status(), "pdhg_tv");
}

static double primal_objective(const pdhg *P, const float *y, const float *x, float *ax,
                               float *gx, hg_status *s)
{
    *s = hg_linop_forward(P->a, x, ax);
    if (*s == HG_OK)
        *s = hg_linop_forward(P->grad, x, gx);
    if (*s != HG_OK)
        return NAN;
    double d = hg_vec_dist(ax, y, P->m);
    return 0.5 * d * d + P->lambda * tv_of_gradient(P, gx);
}

hg_status hg_pdhg_tv(const hg_linop *a, const float *y, float *x, double lambda,
                     const hg_solver_opts *opts, hg_solver_info *info)
{
    hg_solver_cfg cfg;
    hg_status s = hg_solver_check_args("pdhg_tv", a, y, x);
    if (s == HG_OK)
        s = hg_solver_cfg_init(&cfg, opts, "pdhg_tv");
    if (s == HG_OK)
        s = pdhg_check(a, y, x, lambda, &cfg);
    pdhg P = {0};
    if (s == HG_OK)
        s = pdhg_setup(&P, a, lambda);
    if (s != HG_OK)
        return s;
    int64_t n = P.n, m = P.m, nq = P.nq;
    float *v[8];
    float *work = hg_solver_work("pdhg_tv", 8, (int64_t[]){m, m, nq, nq, n, n, n, n}, v);
    if (!work) {
        hg_linop_free(P.grad);
        return HG_ERR_NOMEM;
    }
    float *p = v[0], *ax = v[1], *q = v[2], *gx = v[3], *t1 = v[4], *t2 = v[5], *xold = v[6],
          *xbar = v[7];
    hg_vec_zero(p, m);
    hg_vec_zero(q, nq);
    if (cfg.nonneg)
        hg_vec_clamp_nonneg(x, n);
    hg_vec_copy(xbar, x, n);
    double sigma = P.sigma, tau = P.tau, mu = P.mu, radius = lambda / mu;
    double residual = NAN;
    int32_t it = 0;
    while (it < cfg.max_iter) {
        /* dual ascent on both blocks at the extrapolated point */
        if ((s = hg_linop_forward(a, xbar, ax)) != HG_OK ||
            (s = hg_linop_forward(P.grad, xbar, gx)) != HG_OK)
            break;
        float fs = (float)sigma, inv = (float)(1.0 / (1.0 + sigma)), fsm = (float)(sigma * mu);
#pragma omp parallel for schedule(static) if (m > 32768)
        for (int64_t i = 0; i < m; i++)
            p[i] = (p[i] + fs * (ax[i] - y[i])) * inv;
        hg_vec_axpy(q, fsm, gx, nq);
        project_ball(&P, q, radius);
        /* primal descent */
        if ((s = hg_linop_adjoint(a, p, t1)) != HG_OK ||
            (s = hg_linop_adjoint(P.grad, q, t2)) != HG_OK)
            break;
        hg_vec_copy(xold, x, n);
        float ft = (float)tau, ftm = (float)(tau * mu);
#pragma omp parallel for schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++) {
            float v_new = x[i] - ft * t1[i] - ftm * t2[i];
            x[i] = cfg.nonneg && v_new < 0.0f ? 0.0f : v_new;
            xbar[i] = 2.0f * x[i] - xold[i];
        }
        it++;
        double xn = hg_vec_nrm2(x, n);
        residual = hg_vec_dist(x, xold, n) / (xn > 0.0 ? xn : 1.0);
        if (!isfinite(residual)) {
            s = hg_error(HG_ERR_NUMERIC, "pdhg_tv: iterate of %s is not finite at iteration %d",
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
        objective = primal_objective(&P, y, x, ax, gx, &s);
    hg_solver_info_set(info, it, residual, objective);
    hg_free(work);
    hg_linop_free(P.grad);
    return s;
}
