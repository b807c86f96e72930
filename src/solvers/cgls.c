/* CGLS: min ||A x - y||^2 + lambda ||x||^2, conjugate gradient on the normal equations
 * (A^H A + lambda I) x = A^H y without forming A^H A (Hestenes-Stiefel / Paige-Saunders form:
 * the data residual r = y - A x and the normal residual s = A^H r - lambda x are updated by
 * recursion; one forward and one adjoint per iteration).
 *
 * Reported residual: ||s|| / ||A^H y||, the relative residual of the normal equations (it goes
 * to zero at the minimizer even when A x = y has no solution). Objective: ||A x - y||^2 +
 * lambda ||x||^2. */
#include "solvers/vec.h"

#include <math.h>

static hg_status cgls_check(const hg_linop *a, const float *y, float *x, double lambda)
{
    hg_status s = hg_solver_check_args("cgls", a, y, x);
    if (s != HG_OK)
        return s;
    if (!(lambda >= 0.0) || isinf(lambda))
        return hg_error(HG_ERR_INVALID, "cgls: lambda must be finite and >= 0, got %g", lambda);
    return HG_OK;
}

hg_status hg_cgls(const hg_linop *a, const float *y, float *x, double lambda,
                  const hg_solver_opts *opts, hg_solver_info *info)
{
    hg_solver_cfg cfg;
    hg_status s = cgls_check(a, y, x, lambda);
    if (s == HG_OK)
        s = hg_solver_cfg_init(&cfg, opts, "cgls");
    if (s != HG_OK)
        return s;
    int64_t n = hg_linop_in_floats(a), m = hg_linop_out_floats(a);
    float *v[4];
    float *work = hg_solver_work("cgls", 4, (int64_t[]){m, m, n, n}, v);
    if (!work)
        return HG_ERR_NOMEM;
    float *r = v[0], *q = v[1], *sv = v[2], *p = v[3];

    /* Scale of the normal equations: ||A^H y|| (sv holds A^H y for a moment). */
    s = hg_linop_adjoint(a, y, sv);
    double ahy = s == HG_OK ? hg_vec_nrm2(sv, n) : 0.0;
    double scale = ahy > 0.0 ? ahy : 1.0;
    /* r = y - A x; s = A^H r - lambda x */
    if (s == HG_OK)
        s = hg_linop_forward(a, x, q);
    if (s == HG_OK) {
        hg_vec_sub(r, y, q, m);
        s = hg_linop_adjoint(a, r, sv);
    }
    if (s == HG_OK && lambda != 0.0)
        hg_vec_axpy(sv, -lambda, x, n);
    if (s == HG_OK)
        hg_vec_copy(p, sv, n);
    double gamma = s == HG_OK ? hg_vec_dot(sv, sv, n) : 0.0;
    double residual = sqrt(gamma) / scale;
    int32_t it = 0;
    while (s == HG_OK && it < cfg.max_iter && gamma > 0.0 && !(residual < cfg.tol)) {
        s = hg_linop_forward(a, p, q);
        if (s != HG_OK)
            break;
        double delta = hg_vec_dot(q, q, m) + lambda * hg_vec_dot(p, p, n);
        if (!(delta > 0.0) || !isfinite(delta)) {
            s = hg_error(HG_ERR_NUMERIC, "cgls: breakdown on %s at iteration %d: ||A p||^2 + lambda ||p||^2 = %g",
                         a->name, (int)it + 1, delta);
            break;
        }
        double alpha = gamma / delta;
        hg_vec_axpy(x, alpha, p, n);
        hg_vec_axpy(r, -alpha, q, m);
        s = hg_linop_adjoint(a, r, sv);
        if (s != HG_OK)
            break;
        if (lambda != 0.0)
            hg_vec_axpy(sv, -lambda, x, n);
        double gamma_new = hg_vec_dot(sv, sv, n);
        it++;
        residual = sqrt(gamma_new) / scale;
        if (!isfinite(residual)) {
            s = hg_error(HG_ERR_NUMERIC, "cgls: residual of %s is not finite at iteration %d",
                         a->name, (int)it);
            break;
        }
        if (cfg.callback && cfg.callback(it, residual, cfg.user))
            break;
        hg_vec_xpay(p, gamma_new / gamma, sv, n); /* p = s + beta p */
        gamma = gamma_new;
    }
    double objective = NAN;
    if (s == HG_OK)
        objective = hg_vec_dot(r, r, m) + lambda * hg_vec_dot(x, x, n);
    hg_solver_info_set(info, it, residual, objective);
    hg_free(work);
    return s;
}
