/* CG on (M + lambda I) x = b: against Cholesky in double (real and complex Hermitian M, with
 * and without lambda), finite termination on a diagonal with 3 distinct eigenvalues, the
 * reported objective, early stopping (tol and callback), and argument errors. */
#include "solver_ops.h"

/* M = A^H A of a random dense A, as a dense (square) operator of floats. */
static hg_linop *normal_matrix(t_dense *mdat, const t_dense *a)
{
    int n = a->n, c = a->cplx ? 2 : 1;
    mdat->m = mdat->n = n, mdat->cplx = a->cplx;
    mdat->a = malloc(sizeof(float) * n * n * c);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double re = 0, im = 0; /* sum_k conj(a_ki) a_kj */
            for (int k = 0; k < a->m; k++) {
                if (!a->cplx) {
                    re += (double)a->a[k * n + i] * a->a[k * n + j];
                    continue;
                }
                double xr = a->a[2 * (k * n + i)], xi = -a->a[2 * (k * n + i) + 1];
                double yr = a->a[2 * (k * n + j)], yi = a->a[2 * (k * n + j) + 1];
                re += xr * yr - xi * yi;
                im += xr * yi + xi * yr;
            }
            mdat->a[c * (i * n + j)] = (float)re;
            if (a->cplx)
                mdat->a[c * (i * n + j) + 1] = (float)im;
        }
    return t_dense_op(mdat, "normal");
}

/* (M + lambda I) x = b in double from M's real matrix. */
static double *cg_reference(const hg_linop *m, const float *b, double lambda)
{
    int64_t n = hg_linop_in_floats(m);
    double *s = t_matrix(m), *x = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) {
        s[i * n + i] += lambda;
        x[i] = b[i];
    }
    t_cholesky_solve(s, x, n);
    free(s);
    return x;
}

static void check_against_cholesky(int cplx)
{
    t_dense ad, md;
    hg_linop *a = t_dense_random(&ad, 60, 40, cplx, 3);
    hg_linop *m = normal_matrix(&md, &ad);
    int64_t n = hg_linop_in_floats(m);
    float *b = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n);
    hg_rng r = hg_rng_new(5);
    hg_rng_fill_normal(&r, b, n, 0, 1);
    for (int l = 0; l < 2; l++) {
        double lambda = l ? 0.5 : 0.0;
        double *ref = cg_reference(m, b, lambda);
        memset(x, 0, sizeof(float) * n);
        hg_solver_opts o = {.max_iter = 300, .tol = 1e-6};
        hg_solver_info info;
        CHECK_OK(hg_cg(m, b, x, lambda, &o, &info));
        double err = t_rel_err_d(x, ref, n);
        CHECK_MSG(err < 1e-4, "cg %s lambda %g: rel err %g", cplx ? "complex" : "real", lambda, err);
        CHECK(info.residual < 1e-6 && info.iterations < 300);
        /* objective 1/2 x^T (M + lambda) x - b^T x at the returned x, in double */
        double *s = t_matrix(m), obj = 0;
        for (int64_t i = 0; i < n; i++) {
            double mx = lambda * x[i];
            for (int64_t j = 0; j < n; j++)
                mx += s[i * n + j] * x[j];
            obj += 0.5 * x[i] * mx - (double)b[i] * x[i];
        }
        CHECK_MSG(fabs(info.objective - obj) <= 1e-5 * fabs(obj), "objective %g vs %g",
                  info.objective, obj);
        printf("cg %s 40x40 (A^H A, A 60x40) lambda %.1f: %d iterations, residual %.1e, max rel err vs Cholesky %.1e\n",
               cplx ? "complex" : "real", lambda, (int)info.iterations, info.residual, err);
        free(s), free(ref);
    }
    free(b), free(x), free(ad.a), free(md.a);
    hg_linop_free(a), hg_linop_free(m);
}

static hg_status diag_fwd(const hg_linop *op, const float *x, float *y)
{
    int64_t n = hg_linop_in_floats(op);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 5) * x[i];
    return HG_OK;
}

static int stop_at_3(int32_t it, double res, void *user)
{
    *(double *)user = res;
    return it >= 3;
}

static void check_diagonal(void)
{
    /* 3 distinct eigenvalues: exact CG terminates in 3 iterations. */
    hg_linop *d = hg_linop_new("diag", HG_F32, 1, (int64_t[]){30}, HG_F32, 1, (int64_t[]){30});
    REQUIRE(d);
    d->forward = d->adjoint = diag_fwd;
    float b[30], x[30] = {0};
    for (int i = 0; i < 30; i++)
        b[i] = (float)(1 + i % 7);
    hg_solver_info info;
    CHECK_OK(hg_cg(d, b, x, 0, &(hg_solver_opts){.max_iter = 50, .tol = 1e-5}, &info));
    CHECK_MSG(info.iterations == 3, "%d iterations", (int)info.iterations);
    for (int i = 0; i < 30; i++)
        CHECK_NEAR(x[i], b[i] / (i % 3 == 0 ? 1.0 : i % 3 == 1 ? 2.0 : 5.0), 1e-5);
    /* The callback stops after its 3rd call even without tol; its residual is reported. */
    float x2[30] = {0};
    double last = -1;
    hg_solver_opts o = {.max_iter = 50, .callback = stop_at_3, .user = &last};
    CHECK_OK(hg_cg(d, b, x2, 1.0, &o, &info));
    CHECK(info.iterations == 3 && last == info.residual);
    /* max_iter = 0 means the default 30; a single iteration is one step of steepest descent */
    CHECK_OK(hg_cg(d, b, x2, 0, &(hg_solver_opts){.max_iter = 1}, &info));
    CHECK(info.iterations == 1);
    hg_linop_free(d);
}

static void check_errors(void)
{
    t_dense ad;
    hg_linop *a = t_dense_random(&ad, 6, 4, 0, 1);
    float b[6] = {0}, x[6] = {0};
    CHECK_FAILS(hg_cg(a, b, x, 0, NULL, NULL), HG_ERR_INVALID,
                "cg: operator dense must be square (input = output), got real [4] -> real [6]");
    hg_linop *m = t_identity(HG_F32, 1, (int64_t[]){6});
    CHECK_FAILS(hg_cg(m, b, x, 0, &(hg_solver_opts){.max_iter = -2}, NULL), HG_ERR_INVALID,
                "cg: max_iter must be positive (0 for the default 30), got -2");
    CHECK_FAILS(hg_cg(m, b, x, -1, NULL, NULL), HG_ERR_INVALID, "lambda must be finite and >= 0, got -1");
    CHECK_FAILS(hg_cg(m, b, x, 0, &(hg_solver_opts){.tol = -1e-3}, NULL), HG_ERR_INVALID,
                "tol must be finite and >= 0");
    CHECK_FAILS(hg_cg(m, b, NULL, 0, NULL, NULL), HG_ERR_INVALID, "x (identity input) is NULL");
    /* b = 0 and x = 0: already solved, zero iterations */
    hg_solver_info info;
    CHECK_OK(hg_cg(m, b, x, 0, NULL, &info));
    CHECK(info.iterations == 0 && info.residual == 0);
    /* an indefinite operator is detected */
    hg_linop *neg = hg_linop_scale(m, -1.0f);
    b[0] = 1;
    CHECK_FAILS(hg_cg(neg, b, x, 0, NULL, NULL), HG_ERR_NUMERIC, "is not positive definite");
    hg_linop_free(neg), hg_linop_free(m), hg_linop_free(a);
    free(ad.a);
}

int main(void)
{
    check_against_cholesky(0);
    check_against_cholesky(1);
    check_diagonal();
    check_errors();
    return hg_test_finish("test_cg");
}
