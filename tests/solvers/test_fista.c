/* FISTA-l1: min 1/2 ||A x - y||^2 + lambda ||W x||_1.
 * - A = I, W orthonormal (Haar, db2; real and complex): the solution is soft-thresholding in
 *   the W domain, W^H soft(W y, lambda), computed here with the test's own thresholding.
 * - A = I, W = NULL, x >= 0: max(y - lambda, 0).
 * - Dense underdetermined A with W = db2: the optimality (KKT) conditions in the W domain,
 *   checked in double: |g_i| <= lambda where c_i = 0, g_i = -lambda sign(c_i) elsewhere, with
 *   g = W A^T (A x - y) and c = W x.
 * - the reported objective; argument errors (W/A mismatch, nonneg with W). */
#include "solver_ops.h"

static void soft(float *c, int64_t nf, double t, int cplx)
{
    if (!cplx) {
        for (int64_t i = 0; i < nf; i++)
            c[i] = fabs(c[i]) > t ? (float)(c[i] - copysign(t, c[i])) : 0.0f;
        return;
    }
    for (int64_t i = 0; i < nf; i += 2) {
        double mag = hypot(c[i], c[i + 1]);
        double f = mag > t ? (mag - t) / mag : 0.0;
        c[i] = (float)(c[i] * f), c[i + 1] = (float)(c[i + 1] * f);
    }
}

static void check_denoise(hg_dtype dt, int taps)
{
    int64_t shape[2] = {16, 32};
    hg_linop *id = t_identity(dt, 2, shape);
    hg_linop *w = hg_linop_wavelet(dt, 2, shape, 2, 3, taps);
    REQUIRE(w);
    int64_t n = hg_linop_in_floats(id);
    float *y = malloc(sizeof(float) * n), *x = calloc(n, sizeof(float));
    float *c = malloc(sizeof(float) * n), *ref = malloc(sizeof(float) * n);
    hg_rng r = hg_rng_new(13);
    hg_rng_fill_normal(&r, y, n, 0, 1);
    const double lambda = 0.8;
    CHECK_OK(hg_linop_forward(w, y, c));
    soft(c, n, lambda, dt == HG_C64);
    CHECK_OK(hg_linop_adjoint(w, c, ref));
    hg_solver_info info;
    CHECK_OK(hg_fista_l1(id, w, y, x, lambda, &(hg_solver_opts){.max_iter = 200, .tol = 1e-7}, &info));
    double err = 0, scale = 0;
    for (int64_t i = 0; i < n; i++)
        err = fmax(err, fabs(x[i] - ref[i])), scale = fmax(scale, fabs(ref[i]));
    CHECK_MSG(err < 1e-5 * scale, "%s %s: max err %g", w->name, dt == HG_C64 ? "complex" : "real", err);
    /* objective 1/2 ||x - y||^2 + lambda ||W x||_1 in double */
    CHECK_OK(hg_linop_forward(w, x, c));
    double obj = 0;
    for (int64_t i = 0; i < n; i++)
        obj += 0.5 * ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    for (int64_t i = 0; i < n; i += (dt == HG_C64 ? 2 : 1))
        obj += lambda * (dt == HG_C64 ? hypot(c[i], c[i + 1]) : fabs(c[i]));
    CHECK_MSG(fabs(info.objective - obj) < 1e-5 * obj, "objective %g vs %g", info.objective, obj);
    printf("fista A=I %-16s %-7s: %3d iterations, max |x - W^H soft(W y)| %.1e (of %.1f)\n", w->name,
           dt == HG_C64 ? "complex" : "real", (int)info.iterations, err, scale);
    free(y), free(x), free(c), free(ref);
    hg_linop_free(w), hg_linop_free(id);
}

static void check_nonneg_identity(void)
{
    hg_linop *id = t_identity(HG_F32, 1, (int64_t[]){50});
    float y[50], x[50] = {0};
    for (int i = 0; i < 50; i++)
        y[i] = (float)(i - 25) / 10.0f;
    CHECK_OK(hg_fista_l1(id, NULL, y, x, 0.5, &(hg_solver_opts){.max_iter = 100, .nonneg = true}, NULL));
    for (int i = 0; i < 50; i++)
        CHECK_NEAR(x[i], fmax(y[i] - 0.5, 0.0), 1e-5);
    hg_linop_free(id);
}

static void check_kkt(void)
{
    t_dense d;
    hg_linop *a = t_dense_random(&d, 40, 64, 0, 17); /* underdetermined: l1 picks a sparse c */
    hg_linop *w = hg_linop_wavelet(HG_F32, 1, (int64_t[]){64}, 1, 3, 4);
    REQUIRE(w);
    float y[40], x[64] = {0}, c[64], ax[40], g[64], wg[64];
    hg_rng r = hg_rng_new(19);
    hg_rng_fill_normal(&r, y, 40, 0, 1);
    const double lambda = 0.05;
    hg_solver_info info;
    CHECK_OK(hg_fista_l1(a, w, y, x, lambda, &(hg_solver_opts){.max_iter = 5000, .tol = 1e-9}, &info));
    CHECK_OK(hg_linop_forward(w, x, c));
    CHECK_OK(t_dense_fwd(a, x, ax));
    for (int i = 0; i < 40; i++)
        ax[i] -= y[i];
    CHECK_OK(t_dense_adj(a, ax, g));
    CHECK_OK(hg_linop_forward(w, g, wg));
    double worst = 0;
    int active = 0;
    for (int i = 0; i < 64; i++) {
        double v = fabs(c[i]) > 1e-6 ? fabs(wg[i] + copysign(lambda, c[i])) : fmax(0.0, fabs(wg[i]) - lambda);
        active += fabs(c[i]) > 1e-6;
        worst = fmax(worst, v);
    }
    CHECK_MSG(worst < 1e-3 * lambda, "KKT violation %g (lambda %g)", worst, lambda);
    CHECK(active > 0 && active < 40);
    printf("fista A 40x64, W db2: %d iterations, %d nonzero coefficients, KKT violation %.1e (lambda %.2f)\n",
           (int)info.iterations, active, worst, lambda);
    hg_linop_free(w), hg_linop_free(a);
    free(d.a);
}

static void check_errors(void)
{
    hg_linop *id = t_identity(HG_F32, 2, (int64_t[]){16, 16});
    hg_linop *w8 = hg_linop_wavelet(HG_F32, 2, (int64_t[]){8, 8}, 2, 1, 2);
    hg_linop *w16 = hg_linop_wavelet(HG_F32, 2, (int64_t[]){16, 16}, 2, 1, 2);
    hg_linop *grad = hg_linop_gradient(HG_F32, 2, (int64_t[]){16, 16}, 2);
    REQUIRE(w8 && w16 && grad);
    float y[256] = {0}, x[256] = {0};
    CHECK_FAILS(hg_fista_l1(id, w8, y, x, 0.1, NULL, NULL), HG_ERR_INVALID,
                "fista_l1: W (wavelet(haar,1)) takes real [8, 8] but A (identity) takes real [16, 16]");
    CHECK_FAILS(hg_fista_l1(id, grad, y, x, 0.1, NULL, NULL), HG_ERR_INVALID,
                "fista_l1: W (gradient) must be square and orthonormal, but maps real [16, 16] to real [2, 16, 16]");
    CHECK_FAILS(hg_fista_l1(id, w16, y, x, 0.1, &(hg_solver_opts){.nonneg = true}, NULL),
                HG_ERR_UNSUPPORTED, "nonneg with W (wavelet(haar,1)) has no closed-form prox");
    CHECK_FAILS(hg_fista_l1(id, w16, y, x, -1, NULL, NULL), HG_ERR_INVALID,
                "fista_l1: lambda must be finite and >= 0, got -1");
    CHECK_FAILS(hg_fista_l1(id, w16, y, x, 0.1, &(hg_solver_opts){.max_iter = -3}, NULL), HG_ERR_INVALID,
                "fista_l1: max_iter must be positive (0 for the default 30), got -3");
    hg_linop *zero = hg_linop_scale(id, 0.0f);
    CHECK_FAILS(hg_fista_l1(zero, NULL, y, x, 0.1, NULL, NULL), HG_ERR_NUMERIC,
                "expected a finite positive norm");
    hg_linop_free(zero), hg_linop_free(grad), hg_linop_free(w16), hg_linop_free(w8), hg_linop_free(id);
}

int main(void)
{
    for (int taps = 2; taps <= 4; taps += 2) {
        check_denoise(HG_F32, taps);
        check_denoise(HG_C64, taps);
    }
    check_nonneg_identity();
    check_kkt();
    check_errors();
    return hg_test_finish("test_fista");
}
