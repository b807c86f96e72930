/* PDHG-TV: min 1/2 ||A x - y||^2 + lambda TV(x).
 * - 1-D step (and the same step replicated over the rows of a 2-D image): the exact solution
 *   is known, each plateau moves towards the other by lambda / its length (KKT-verified in the
 *   comment below), also with x >= 0 and for complex data with a constant phase.
 * - 2-D noisy image: primal-dual gap against a dual solution computed in the test by another
 *   method (projected fast gradient on the ROF dual, Beck & Teboulle 2009, in double).
 * - Huge lambda gives the constant image at the mean; A = 2 I matches denoising y/2 with
 *   lambda/4; argument errors. */
#include "solver_ops.h"

/* Step f = lo (i < k), hi (i >= k), n samples, lambda small enough: the solution is
 * u = lo + lambda / k on the left and hi - lambda / (n - k) on the right. KKT: u - f + lambda
 * D^T s = 0 with s_i = (i + 1) / k on the left (s_{k-1} = 1 = sign of the jump) and
 * s_i = 1 - (i + 1 - k) / (n - k) on the right (s_{n-1} = 0), all |s_i| <= 1. With x >= 0 and
 * lo + lambda / k < 0, the left plateau becomes 0 (multiplier -lo - lambda / k >= 0). */
static double step_error(const float *x, int n, int k, int stride, int c, double lo, double hi,
                         double lambda, bool nonneg, double phase)
{
    double left = lo + lambda / k, right = hi - lambda / (n - k);
    if (nonneg && left < 0)
        left = 0;
    double err = 0;
    for (int i = 0; i < n; i++) {
        double u = i < k ? left : right;
        if (c == 1) {
            err = fmax(err, fabs(x[i * stride] - u));
        } else {
            err = fmax(err, fabs(x[2 * i * stride] - u * cos(phase)));
            err = fmax(err, fabs(x[2 * i * stride + 1] - u * sin(phase)));
        }
    }
    return err;
}

static void check_step(int rows, hg_dtype dt, bool nonneg)
{
    const int n = 64, k = 24;
    const double lo = nonneg ? -1.0 : 1.0, hi = 3.0, lambda = 4.0, phase = 0.7;
    int c = dt == HG_C64 ? 2 : 1;
    int64_t shape1[1] = {n}, shape2[2] = {rows, n};
    hg_linop *id = rows ? t_identity(dt, 2, shape2) : t_identity(dt, 1, shape1);
    int64_t nf = hg_linop_in_floats(id);
    float *y = malloc(sizeof(float) * nf), *x = calloc(nf, sizeof(float));
    for (int64_t e = 0; e < nf / c; e++) {
        double f = (e % n) < k ? lo : hi;
        y[e * c] = (float)(c == 2 ? f * cos(phase) : f);
        if (c == 2)
            y[e * c + 1] = (float)(f * sin(phase));
    }
    hg_solver_info info;
    hg_solver_opts o = {.max_iter = rows ? 4000 : 2000, .tol = 1e-9, .nonneg = nonneg};
    CHECK_OK(hg_pdhg_tv(id, y, x, lambda, &o, &info));
    double err = 0;
    for (int r = 0; r < (rows ? rows : 1); r++)
        err = fmax(err, step_error(x + (int64_t)r * n * c, n, k, 1, c, lo, hi, lambda, nonneg, phase));
    CHECK_MSG(err < 1e-3, "step %s rows %d nonneg %d: max err %g", dt == HG_C64 ? "complex" : "real",
              rows, nonneg, err);
    printf("pdhg_tv step %-7s %s%-9s: %4d iterations, max |x - exact| %.1e\n",
           dt == HG_C64 ? "complex" : "real", rows ? "16x64" : "64", nonneg ? " nonneg" : "",
           (int)info.iterations, err);
    free(y), free(x);
    hg_linop_free(id);
}

/* 3-D TV (dims 3) on a volume that varies along one axis only: the isotropic TV of such a
 * volume is the 1-D TV of each line, so every line must be the exact 1-D step solution. */
static void check_step_3d(int axis)
{
    const int n = 64, k = 24;
    int64_t shape[3] = {4, 4, 4};
    shape[axis] = n;
    hg_linop *id = t_identity(HG_F32, 3, shape);
    int64_t nf = hg_linop_in_floats(id), stride = axis == 0 ? 16 : axis == 1 ? 4 : 1;
    float *y = malloc(sizeof(float) * nf), *x = calloc(nf, sizeof(float));
    for (int64_t e = 0; e < nf; e++)
        y[e] = (e / stride) % n < k ? 1.0f : 3.0f;
    hg_solver_info info;
    CHECK_OK(hg_pdhg_tv(id, y, x, 4.0, &(hg_solver_opts){.max_iter = 4000, .tol = 1e-7}, &info));
    double err = 0;
    for (int64_t e = 0; e < nf; e++) {
        double u = (e / stride) % n < k ? 1.0 + 4.0 / k : 3.0 - 4.0 / (n - k);
        err = fmax(err, fabs(x[e] - u));
    }
    CHECK_MSG(err < 1e-3, "3-D step along axis %d: max err %g", axis, err);
    printf("pdhg_tv step 3-D along axis %d: %4d iterations, max |x - exact| %.1e\n", axis,
           (int)info.iterations, err);
    free(y), free(x);
    hg_linop_free(id);
}

/* ---- 2-D reference: forward differences (Neumann) written independently, in double -------- */

enum { H = 24, W = 20, N = H * W };

static void d2(const double *u, double *g) /* g[0..N): along rows (axis 0), g[N..2N): axis 1 */
{
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            g[i * W + j] = i + 1 < H ? u[(i + 1) * W + j] - u[i * W + j] : 0;
            g[N + i * W + j] = j + 1 < W ? u[i * W + j + 1] - u[i * W + j] : 0;
        }
}

static void d2t(const double *g, double *u)
{
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double v = 0;
            v += (i > 0 ? g[(i - 1) * W + j] : 0) - (i + 1 < H ? g[i * W + j] : 0);
            v += (j > 0 ? g[N + i * W + j - 1] : 0) - (j + 1 < W ? g[N + i * W + j] : 0);
            u[i * W + j] = v;
        }
}

static double primal(const double *u, const float *f, double lambda)
{
    double g[2 * N], p = 0;
    d2(u, g);
    for (int i = 0; i < N; i++)
        p += 0.5 * (u[i] - f[i]) * (u[i] - f[i]) + lambda * hypot(g[i], g[N + i]);
    return p;
}

/* ROF dual: max over |q_i| <= 1 of D(q) = 1/2 ||f||^2 - 1/2 ||f - lambda D^T q||^2; any feasible
 * q gives a lower bound on the primal minimum (weak duality). Projected fast gradient. */
static double dual_reference(const float *f, double lambda, int iters, double *u_out)
{
    static double q[2 * N], qold[2 * N], z[2 * N], u[N], g[2 * N];
    memset(q, 0, sizeof q), memset(z, 0, sizeof z);
    double t = 1, step = 1.0 / (8.0 * lambda * lambda);
    for (int it = 0; it < iters; it++) {
        d2t(z, u);
        for (int i = 0; i < N; i++)
            u[i] = f[i] - lambda * u[i];
        d2(u, g); /* minus the gradient of 1/2 ||f - lambda D^T z||^2, over lambda */
        memcpy(qold, q, sizeof q);
        for (int i = 0; i < N; i++) {
            double a = z[i] + step * lambda * g[i], b = z[N + i] + step * lambda * g[N + i];
            double m = fmax(1.0, hypot(a, b));
            q[i] = a / m, q[N + i] = b / m;
        }
        double tn = 0.5 * (1 + sqrt(1 + 4 * t * t));
        for (int i = 0; i < 2 * N; i++)
            z[i] = q[i] + (t - 1) / tn * (q[i] - qold[i]);
        t = tn;
    }
    d2t(q, u);
    double dual = 0;
    for (int i = 0; i < N; i++) {
        u_out[i] = f[i] - lambda * u[i];
        dual += 0.5 * (double)f[i] * f[i] - 0.5 * u_out[i] * u_out[i];
    }
    return dual;
}

static void check_2d_gap(void)
{
    float f[N], x[N] = {0};
    hg_rng r = hg_rng_new(21);
    hg_rng_fill_normal(&r, f, N, 0, 0.1f);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double di = i - 11.5, dj = j - 8.0;
            f[i * W + j] += (di * di + dj * dj < 49 ? 1.0f : 0.0f) + (i > 18 ? 0.5f : 0.0f);
        }
    const double lambda = 0.15;
    double uref[N], ux[N];
    double dual = dual_reference(f, lambda, 4000, uref);
    double pref = primal(uref, f, lambda);
    hg_linop *id = t_identity(HG_F32, 2, (int64_t[]){H, W});
    hg_solver_info info;
    CHECK_OK(hg_pdhg_tv(id, f, x, lambda, &(hg_solver_opts){.max_iter = 2000}, &info));
    for (int i = 0; i < N; i++)
        ux[i] = x[i];
    double p = primal(ux, f, lambda);
    /* the reference is itself converged: its own gap certifies it */
    CHECK_MSG(pref - dual < 1e-6 * pref, "reference gap %g", pref - dual);
    CHECK_MSG(p - dual < 1e-5 * p, "pdhg primal %.9g - reference dual %.9g = %g", p, dual, p - dual);
    CHECK_MSG(fabs(info.objective - p) < 1e-5 * p, "reported objective %.9g vs %.9g", info.objective, p);
    double mean_x = 0, mean_f = 0;
    for (int i = 0; i < N; i++)
        mean_x += x[i], mean_f += f[i];
    CHECK_NEAR(mean_x / N, mean_f / N, 1e-5); /* A = I and Neumann TV preserve the mean */
    printf("pdhg_tv 2-D 24x20: %d iterations, objective %.7f, gap to reference dual %.1e (relative %.1e)\n",
           (int)info.iterations, p, p - dual, (p - dual) / p);

    /* A = 2 I: 1/2 ||2 x - f||^2 + lambda TV = 2 (1/2 ||x - f/2||^2 + lambda/4 TV) */
    hg_linop *two = hg_linop_scale(id, 2.0f);
    float x2[N] = {0}, half[N], x3[N] = {0};
    CHECK_OK(hg_pdhg_tv(two, f, x2, lambda, &(hg_solver_opts){.max_iter = 2000}, &info));
    for (int i = 0; i < N; i++)
        half[i] = 0.5f * f[i];
    CHECK_OK(hg_pdhg_tv(id, half, x3, lambda / 4, &(hg_solver_opts){.max_iter = 2000}, NULL));
    double diff = 0;
    for (int i = 0; i < N; i++)
        diff = fmax(diff, fabs(x2[i] - x3[i]));
    CHECK_MSG(diff < 1e-3, "A = 2I vs scaled denoising: max diff %g", diff);

    /* a huge lambda flattens the image to its mean */
    CHECK_OK(hg_pdhg_tv(id, f, x, 1e3, &(hg_solver_opts){.max_iter = 3000}, NULL));
    double dev = 0;
    for (int i = 0; i < N; i++)
        dev = fmax(dev, fabs(x[i] - mean_f / N));
    CHECK_MSG(dev < 1e-3, "lambda 1e3: max deviation from the mean %g", dev);
    hg_linop_free(two), hg_linop_free(id);
}

/* Reductions use fixed blocks: the iterates are bitwise identical for 1 and 2 threads, on an
 * image large enough for the parallel paths. */
static void check_thread_independence(void)
{
    const int64_t side = 192, n = side * side;
    hg_linop *id = t_identity(HG_F32, 2, (int64_t[]){side, side});
    float *y = malloc(sizeof(float) * n), *x1 = calloc(n, sizeof(float)), *x2 = calloc(n, sizeof(float));
    hg_rng r = hg_rng_new(5);
    hg_rng_fill_normal(&r, y, n, 0, 1);
    int before = hg_get_threads();
    hg_set_threads(1);
    CHECK_OK(hg_pdhg_tv(id, y, x1, 0.3, &(hg_solver_opts){.max_iter = 20}, NULL));
    hg_set_threads(2);
    CHECK_OK(hg_pdhg_tv(id, y, x2, 0.3, &(hg_solver_opts){.max_iter = 20}, NULL));
    hg_set_threads(before);
    CHECK(memcmp(x1, x2, sizeof(float) * n) == 0);
    free(y), free(x1), free(x2);
    hg_linop_free(id);
}

static void check_errors(void)
{
    hg_linop *cid = t_identity(HG_C64, 2, (int64_t[]){4, 4});
    float y[32] = {0}, x[32] = {0};
    CHECK_FAILS(hg_pdhg_tv(cid, y, x, 0.1, &(hg_solver_opts){.nonneg = true}, NULL), HG_ERR_INVALID,
                "pdhg_tv: nonneg needs a real image, but identity takes a complex one");
    CHECK_FAILS(hg_pdhg_tv(cid, y, x, -0.1, NULL, NULL), HG_ERR_INVALID,
                "pdhg_tv: lambda must be finite and >= 0, got -0.1");
    CHECK_FAILS(hg_pdhg_tv(cid, y, x, 0.1, &(hg_solver_opts){.max_iter = -1}, NULL), HG_ERR_INVALID,
                "pdhg_tv: max_iter must be positive");
    hg_linop *big = t_identity(HG_F32, 5, (int64_t[]){1, 1, 2, 2, 2});
    CHECK_FAILS(hg_pdhg_tv(big, y, x, 0.1, NULL, NULL), HG_ERR_INVALID,
                "image of identity has 5 dimensions, at most 4 supported");
    hg_linop_free(big), hg_linop_free(cid);
}

int main(void)
{
    check_step(0, HG_F32, false);
    check_step(16, HG_F32, false);
    check_step(0, HG_F32, true);
    check_step(0, HG_C64, false);
    check_step_3d(0);
    check_step_3d(2);
    check_2d_gap();
    check_thread_independence();
    check_errors();
    return hg_test_finish("test_pdhg_tv");
}
