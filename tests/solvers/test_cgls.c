/* CGLS: min ||A x - y||^2 + lambda ||x||^2 against the normal equations solved by Cholesky in
 * double (dense real and complex A with an inconsistent y, a 2-D blur with Tikhonov), the
 * reported objective and residual, warm start, and argument errors. */
#include "solver_ops.h"

static void solve_and_compare(const hg_linop *a, const float *y, double lambda, int max_iter,
                              double tol, double bound)
{
    int64_t n = hg_linop_in_floats(a), m = hg_linop_out_floats(a);
    double *ref = t_lsq_reference(a, y, lambda);
    float *x = calloc(n, sizeof(float));
    hg_solver_info info;
    CHECK_OK(hg_cgls(a, y, x, lambda, &(hg_solver_opts){.max_iter = max_iter, .tol = tol}, &info));
    double err = t_rel_err_d(x, ref, n);
    CHECK_MSG(err < bound, "cgls %s lambda %g: rel err %g", a->name, lambda, err);
    CHECK(info.residual < tol && info.iterations < max_iter);
    /* objective ||A x - y||^2 + lambda ||x||^2 recomputed in double */
    float *ax = malloc(sizeof(float) * m);
    CHECK_OK(hg_linop_forward(a, x, ax));
    double obj = 0;
    for (int64_t i = 0; i < m; i++)
        obj += ((double)ax[i] - y[i]) * ((double)ax[i] - y[i]);
    for (int64_t i = 0; i < n; i++)
        obj += lambda * x[i] * x[i];
    CHECK_MSG(fabs(info.objective - obj) <= 1e-4 * obj, "objective %g vs %g", info.objective, obj);
    /* warm start from the solution: the first residual is already below tol */
    hg_solver_info again;
    CHECK_OK(hg_cgls(a, y, x, lambda, &(hg_solver_opts){.max_iter = max_iter, .tol = 10 * tol}, &again));
    CHECK_MSG(again.iterations <= 1, "warm start took %d iterations", (int)again.iterations);
    printf("cgls %-13s lambda %.2f: %3d iterations, residual %.1e, max rel err vs Cholesky %.1e\n",
           a->name, lambda, (int)info.iterations, info.residual, err);
    free(ref), free(x), free(ax);
}

int main(void)
{
    for (int cplx = 0; cplx < 2; cplx++) {
        t_dense d;
        hg_linop *a = t_dense_random(&d, 60, 40, cplx, 7 + cplx);
        int64_t m = hg_linop_out_floats(a);
        float *y = malloc(sizeof(float) * m);
        hg_rng r = hg_rng_new(2);
        hg_rng_fill_normal(&r, y, m, 0, 1); /* not in the range of A: a true least-squares fit */
        solve_and_compare(a, y, 0.0, 200, 1e-6, 1e-4);
        solve_and_compare(a, y, 0.3, 200, 1e-6, 1e-4);
        free(y), free(d.a);
        hg_linop_free(a);
    }
    t_blur b;
    hg_linop *blur = t_blur_op(&b, 12, 10);
    float y[120];
    for (int i = 0; i < 120; i++)
        y[i] = (float)((i / 10 > 3 && i / 10 < 8 && i % 10 > 2) ? 1.0 : 0.1 * (i % 3));
    solve_and_compare(blur, y, 0.01, 500, 1e-6, 1e-4);
    solve_and_compare(blur, y, 1e-4, 500, 1e-6, 1e-4); /* almost unregularized */

    float x[120] = {0};
    CHECK_FAILS(hg_cgls(blur, NULL, x, 0, NULL, NULL), HG_ERR_INVALID,
                "cgls: right-hand side (blur output) is NULL");
    CHECK_FAILS(hg_cgls(blur, y, x, NAN, NULL, NULL), HG_ERR_INVALID, "lambda must be finite");
    CHECK_FAILS(hg_cgls(blur, y, x, 0, &(hg_solver_opts){.max_iter = -1}, NULL), HG_ERR_INVALID,
                "cgls: max_iter must be positive");
    hg_solver_info info;
    CHECK_OK(hg_cgls(blur, y, x, 0, NULL, &info)); /* defaults: 30 iterations, no tol */
    CHECK(info.iterations == 30);
    hg_linop_free(blur);
    return hg_test_finish("test_cgls");
}
