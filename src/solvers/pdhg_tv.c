/* Chambolle-Pock PDHG for  min_x 1/2 ||A x - y||^2 + lambda TV(x)  [+ indicator(x >= 0)],
 * TV(x) = sum over pixels of the Euclidean norm of the forward-difference gradient
 * (isotropic; over re and im too for complex images) over the item's last min(ndim, 3) axes.
 *
 * Scaling (documented choice): K = [A; mu D] with mu = ||A|| / ||D||, so both blocks have the
 * same norm and neither dual variable dominates the step sizes; then ||K|| <= sqrt(2) ||A||
 * and the steps start at tau = sigma = 0.99 / (sqrt(2) ||A||), so sigma tau ||K||^2 < 1; the
 * product is kept while the ratio sigma / tau adapts (rebalance below: a fixed ratio that is
 * fast for one lambda and image size is 10-100x slower for another). ||A|| comes from
 * power iteration enlarged by 1 % (vec.h), ||D|| is exact (hg_linop_gradient_norm). The TV
 * term becomes (lambda / mu) ||mu D x||_{2,1}, whose conjugate's prox is the projection of
 * each pixel's dual vector onto the ball of radius lambda / mu. The data term's conjugate
 * prox is p -> (p - sigma y) / (1 + sigma).
 *
 * Iteration order as in Goldstein et al. (2015), Algorithm 1: primal step with K^T z_k,
 * extrapolation xhat = 2 x_{k+1} - x_k, dual step with K xhat.
 *
 * Reported residual: the larger relative change of the primal and the dual iterate,
 * max(||x_k - x_{k-1}|| / ||x_k||, ||z_k - z_{k-1}|| / ||z_k||) (x alone would stall at the
 * first iteration from x = z = 0); objective: the primal objective above at the returned x. */
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

/* The adaptive step balance of Goldstein et al. (2015): the product sigma tau stays fixed (so
 * sigma tau ||K||^2 < 1 holds throughout) while the ratio moves to balance the primal and
 * dual residuals; alpha decays so the adaptation stops and the usual convergence proof
 * applies. The l1 norms of the residuals are compared, as in the paper. */
typedef struct {
    double alpha, eta, delta;
} balance;

static void rebalance(balance *b, double primal_res, double dual_res, double *tau, double *sigma)
{
    if (primal_res > b->delta * dual_res) { /* primal lags: larger primal steps */
        *tau /= 1.0 - b->alpha;
        *sigma *= 1.0 - b->alpha;
        b->alpha *= b->eta;
    } else if (primal_res < dual_res / b->delta) {
        *tau *= 1.0 - b->alpha;
        *sigma /= 1.0 - b->alpha;
        b->alpha *= b->eta;
    }
}

/* Dual step: z = [p; q] <- prox_{sigma F*}(z_old + sigma K xhat), kxh = K xhat. */
static void dual_step(const pdhg *P, const float *y, const float *zold, const float *kxh,
                      float *z, double sigma)
{
    int64_t m = P->m, nq = P->nq;
    float fs = (float)sigma, inv = (float)(1.0 / (1.0 + sigma));
#pragma omp parallel for schedule(static) if (m > 32768)
    for (int64_t i = 0; i < m; i++)
        z[i] = (zold[i] + fs * (kxh[i] - y[i])) * inv;
#pragma omp parallel for schedule(static) if (nq > 32768)
    for (int64_t i = m; i < m + nq; i++)
        z[i] = zold[i] + fs * kxh[i];
    project_ball(P, z + m, P->lambda / P->mu);
}

/* kt = K^T z = A^H p + mu D^T q (tmp: n floats). */
static hg_status adjoint_k(const pdhg *P, const float *z, float *kt, float *tmp)
{
    hg_status s = hg_linop_adjoint(P->a, z, kt);
    if (s == HG_OK)
        s = hg_linop_adjoint(P->grad, z + P->m, tmp);
    if (s == HG_OK)
        hg_vec_axpy(kt, P->mu, tmp, P->n);
    return s;
}

/* kx = K x = [A x; mu D x]. */
static hg_status forward_k(const pdhg *P, const float *x, float *kx)
{
    hg_status s = hg_linop_forward(P->a, x, kx);
    if (s == HG_OK)
        s = hg_linop_forward(P->grad, x, kx + P->m);
    if (s == HG_OK)
        hg_vec_scale(kx + P->m, P->mu, P->nq);
    return s;
}

/* l1 norm of the primal residual (x_k - x_{k+1}) / tau - K^T (z_k - z_{k+1}) (Goldstein et al.
 * eq. 9), reduced over fixed blocks so the step adaptation is the same for any thread count. */
static double primal_residual(const float *xold, const float *x, const float *ktold,
                              const float *kt, int64_t n, double itau)
{
    double part[HG_VEC_MAX_BLOCKS];
    int64_t len = hg_vec_block_len(n), nb = (n + len - 1) / len;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        double s = 0.0;
        for (int64_t i = b * len; i < n && i < (b + 1) * len; i++)
            s += fabs((xold[i] - x[i]) * itau - (ktold[i] - kt[i]));
        part[b] = s;
    }
    double s = 0.0;
    for (int64_t b = 0; b < nb; b++)
        s += part[b];
    return s;
}

/* l1 norm of the dual residual (z_k - z_{k+1}) / sigma - K (x_k - x_{k+1}) (eq. 10), where
 * K x_{k+1} = (K xhat + K x_k) / 2 because xhat = 2 x_{k+1} - x_k; kx advances to K x_{k+1}. */
static double dual_residual(const float *zold, const float *z, float *kx, const float *kxh,
                            int64_t mz, double isig)
{
    double part[HG_VEC_MAX_BLOCKS];
    int64_t len = hg_vec_block_len(mz), nb = (mz + len - 1) / len;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        double s = 0.0;
        for (int64_t i = b * len; i < mz && i < (b + 1) * len; i++) {
            s += fabs((zold[i] - z[i]) * isig - 0.5 * (kx[i] - kxh[i]));
            kx[i] = 0.5f * (kx[i] + kxh[i]);
        }
        part[b] = s;
    }
    double s = 0.0;
    for (int64_t b = 0; b < nb; b++)
        s += part[b];
    return s;
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
    int64_t n = P.n, mz = P.m + P.nq;
    float *v[8];
    float *work = hg_solver_work("pdhg_tv", 8, (int64_t[]){mz, mz, mz, mz, n, n, n, n}, v);
    if (!work) {
        hg_linop_free(P.grad);
        return HG_ERR_NOMEM;
    }
    /* z = [p; q] dual (data; gradient), kx = K x_k, kxh = K xhat, kt = K^T z */
    float *z = v[0], *zold = v[1], *kx = v[2], *kxh = v[3], *kt = v[4], *ktold = v[5],
          *xold = v[6], *tmp = v[7];
    hg_vec_zero(z, mz);
    hg_vec_zero(kt, n);
    if (cfg.nonneg)
        hg_vec_clamp_nonneg(x, n);
    s = forward_k(&P, x, kx);
    double tau = P.tau, sigma = P.sigma, residual = NAN;
    balance bal = {0.5, 0.95, 1.5};
    int32_t it = 0;
    while (s == HG_OK && it < cfg.max_iter) {
        /* primal step, then the extrapolated point xhat = 2 x_{k+1} - x_k (in tmp) */
        hg_vec_copy(xold, x, n);
        float ft = (float)tau;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (int64_t i = 0; i < n; i++) {
            float v_new = x[i] - ft * kt[i];
            x[i] = cfg.nonneg && v_new < 0.0f ? 0.0f : v_new;
            tmp[i] = 2.0f * x[i] - xold[i];
        }
        if ((s = forward_k(&P, tmp, kxh)) != HG_OK)
            break;
        float *t = zold;
        zold = z, z = t;
        dual_step(&P, y, zold, kxh, z, sigma);
        t = ktold;
        ktold = kt, kt = t;
        if ((s = adjoint_k(&P, z, kt, tmp)) != HG_OK)
            break;
        /* residuals of the optimality conditions, then the step balance */
        double pr = primal_residual(xold, x, ktold, kt, n, 1.0 / tau);
        double dr = dual_residual(zold, z, kx, kxh, mz, 1.0 / sigma);
        rebalance(&bal, pr, dr, &tau, &sigma);
        it++;
        double xn = hg_vec_nrm2(x, n), zn = hg_vec_nrm2(z, mz);
        residual = fmax(hg_vec_dist(x, xold, n) / (xn > 0.0 ? xn : 1.0),
                        hg_vec_dist(z, zold, mz) / (zn > 0.0 ? zn : 1.0));
        if (!isfinite(residual) || !isfinite(pr + dr)) {
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
        objective = primal_objective(&P, y, x, kxh, kxh + P.m, &s);
    hg_solver_info_set(info, it, residual, objective);
    hg_free(work);
    hg_linop_free(P.grad);
    return s;
}
