/* Conjugate gradient on (M + lambda I) x = b, M self-adjoint positive (semi)definite.
 *
 * The residual r is updated by recursion (r -= alpha q), the textbook form: one operator
 * application per iteration. Reported residual: ||r|| / ||b|| (||r|| when b = 0). Reported
 * objective: the quadratic 1/2 <x, (M + lambda) x> - <b, x> = -1/2 <x, b + r>, which CG
 * decreases monotonically. */
#include "solvers/vec.h"

#include <math.h>

static hg_status cg_check(const hg_linop *m, const float *b, float *x, double lambda)
{
    hg_status s = hg_solver_check_args("cg", m, b, x);
    if (s != HG_OK)
        return s;
    if (!hg_solver_same_space(m->in_dtype, m->in_ndim, m->in_shape, m->out_dtype, m->out_ndim,
                              m->out_shape)) {
        char in[96], out[96];
        return hg_error(HG_ERR_INVALID, "cg: operator %s must be square (input = output), got %s -> %s",
                        m->name,
                        hg_solver_shape_str(m->in_dtype, m->in_ndim, m->in_shape, in, sizeof in),
                        hg_solver_shape_str(m->out_dtype, m->out_ndim, m->out_shape, out,
                                            sizeof out));
    }
    if (!(lambda >= 0.0) || isinf(lambda))
        return hg_error(HG_ERR_INVALID, "cg: lambda must be finite and >= 0, got %g", lambda);
    return HG_OK;
}

/* q = (M + lambda I) p */
static hg_status apply_shifted(const hg_linop *m, double lambda, const float *p, float *q,
                               int64_t n)
{
    hg_status s = hg_linop_forward(m, p, q);
    if (s == HG_OK && lambda != 0.0)
        hg_vec_axpy(q, lambda, p, n);
    return s;
}

hg_status hg_cg(const hg_linop *m, const float *b, float *x, double lambda,
                const hg_solver_opts *opts, hg_solver_info *info)
{
    hg_solver_cfg cfg;
    hg_status s = cg_check(m, b, x, lambda);
    if (s == HG_OK)
        s = hg_solver_cfg_init(&cfg, opts, "cg");
    if (s != HG_OK)
        return s;
    int64_t n = hg_linop_in_floats(m);
    float *r, *p, *q;
    float *vecs[3];
    float *work = hg_solver_work("cg", 3, (int64_t[]){n, n, n}, vecs);
    if (!work)
        return HG_ERR_NOMEM;
    r = vecs[0], p = vecs[1], q = vecs[2];

    double bnorm = hg_vec_nrm2(b, n);
    double scale = bnorm > 0.0 ? bnorm : 1.0;
    s = apply_shifted(m, lambda, x, q, n);
    if (s == HG_OK) {
        hg_vec_sub(r, b, q, n);
        hg_vec_copy(p, r, n);
    }
    double rs = s == HG_OK ? hg_vec_dot(r, r, n) : 0.0;
    double residual = sqrt(rs) / scale;
    int32_t it = 0;
    while (s == HG_OK && it < cfg.max_iter && rs > 0.0 && !(residual < cfg.tol)) {
        s = apply_shifted(m, lambda, p, q, n);
        if (s != HG_OK)
            break;
        double pq = hg_vec_dot(p, q, n);
        if (!(pq > 0.0) || !isfinite(pq)) {
            s = hg_error(HG_ERR_NUMERIC,
                         "cg: operator %s (+ lambda %g) is not positive definite: <p, M p> = %g at iteration %d",
                         m->name, lambda, pq, (int)it + 1);
            break;
        }
        double alpha = rs / pq;
        hg_vec_axpy(x, alpha, p, n);
        hg_vec_axpy(r, -alpha, q, n);
        double rs_new = hg_vec_dot(r, r, n);
        it++;
        residual = sqrt(rs_new) / scale;
        if (!isfinite(residual)) {
            s = hg_error(HG_ERR_NUMERIC, "cg: residual of %s is not finite at iteration %d",
                         m->name, (int)it);
            break;
        }
        if (cfg.callback && cfg.callback(it, residual, cfg.user))
            break;
        hg_vec_xpay(p, rs_new / rs, r, n); /* p = r + beta p */
        rs = rs_new;
    }
    double objective = NAN;
    if (s == HG_OK) {
        hg_vec_axpy(r, 1.0, b, n); /* r + b, r is no longer needed */
        objective = -0.5 * hg_vec_dot(x, r, n);
    }
    hg_solver_info_set(info, it, residual, objective);
    hg_free(work);
    return s;
}
