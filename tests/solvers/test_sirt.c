/* SIRT on nonnegative dense systems: the R-weighted residual (recomputed in the test from the
 * matrix, in double) decreases monotonically, a consistent system converges to its
 * nonnegative solution, a zero row is ignored, x >= 0 holds throughout with nonneg, the
 * reported residual matches, and complex or negative operators are refused. */
#include "solver_ops.h"

typedef struct {
    const t_dense *a;
    const float *y;
    float *x; /* the solver's iterate, updated in place */
    double last_weighted;
    int monotone_violations;
    int negative_seen;
    int calls;
    double reported;
} trace;

/* ||y - A x||_R^2 with R = 1 / row sums (0 for an empty row), in double. */
static double weighted_residual(const t_dense *a, const float *y, const float *x, double *plain)
{
    double w = 0, p = 0;
    for (int i = 0; i < a->m; i++) {
        double ax = 0, rs = 0;
        for (int j = 0; j < a->n; j++) {
            ax += (double)a->a[i * a->n + j] * x[j];
            rs += a->a[i * a->n + j];
        }
        double d = y[i] - ax;
        p += d * d;
        w += rs > 0 ? d * d / rs : 0;
    }
    if (plain)
        *plain = sqrt(p);
    return w;
}

static int record(int32_t it, double residual, void *user)
{
    trace *t = user;
    double w = weighted_residual(t->a, t->y, t->x, NULL);
    if (w > t->last_weighted * (1 + 1e-6) + 1e-12)
        t->monotone_violations++;
    t->last_weighted = w;
    for (int j = 0; j < t->a->n; j++)
        t->negative_seen |= t->x[j] < 0;
    t->calls++;
    t->reported = residual;
    return 0;
}

/* A nonnegative 50 x 30 matrix: diagonal-dominant block plus uniform clutter; row 40 empty. */
static hg_linop *nonneg_matrix(t_dense *d)
{
    d->m = 50, d->n = 30, d->cplx = 0;
    d->a = malloc(sizeof(float) * 50 * 30);
    hg_rng r = hg_rng_new(3);
    hg_rng_fill_uniform(&r, d->a, 50 * 30, 0.0f, 0.1f);
    for (int j = 0; j < 30; j++)
        d->a[j * 30 + j] += 2.0f;
    for (int j = 0; j < 30; j++)
        d->a[40 * 30 + j] = 0.0f;
    return t_dense_op(d, "projector");
}

static void run(const hg_linop *op, t_dense *d, const float *xtrue, bool nonneg, int iters,
                double *err_out, trace *t)
{
    float y[50], x[30] = {0};
    CHECK_OK(t_dense_fwd(op, xtrue, y));
    y[40] = 5.0f; /* an empty row cannot match any y: it must simply be ignored */
    *t = (trace){.a = d, .y = y, .x = x, .last_weighted = INFINITY};
    hg_solver_info info;
    hg_solver_opts o = {.max_iter = iters, .nonneg = nonneg, .callback = record, .user = t};
    CHECK_OK(hg_sirt(op, y, x, &o, &info));
    CHECK(info.iterations == iters && t->calls == iters);
    CHECK_MSG(t->monotone_violations == 0, "weighted residual increased %d times",
              t->monotone_violations);
    double plain, ynorm = 0;
    double w = weighted_residual(d, y, x, &plain);
    for (int i = 0; i < 50; i++)
        ynorm += (double)y[i] * y[i];
    CHECK_NEAR(info.residual, plain / sqrt(ynorm), 1e-6);
    CHECK_NEAR(info.objective, 0.5 * w, 1e-6 * (1 + w));
    double err = 0;
    for (int j = 0; j < 30; j++)
        err = fmax(err, fabs(x[j] - (nonneg && xtrue[j] < 0 ? 0 : xtrue[j])));
    *err_out = err;
}

int main(void)
{
    t_dense d;
    hg_linop *op = nonneg_matrix(&d);
    float xtrue[30];
    for (int j = 0; j < 30; j++)
        xtrue[j] = (float)(0.2 + 0.8 * ((j * 7) % 11) / 10.0);
    trace t;
    double err;
    run(op, &d, xtrue, false, 1000, &err, &t);
    CHECK_MSG(err < 1e-4, "SIRT did not converge to the consistent solution: max err %g", err);
    printf("sirt 50x30 consistent: 1000 iterations, residual %.1e (incl. ignored empty row), max err %.1e, monotone\n",
           t.reported, err);

    /* With nonneg the iterates stay >= 0 and the weighted residual still decreases. */
    for (int j = 0; j < 30; j += 4)
        xtrue[j] = -0.5f;
    run(op, &d, xtrue, true, 1000, &err, &t);
    CHECK(!t.negative_seen);
    printf("sirt nonneg: x >= 0 throughout, weighted residual monotone\n");

    /* tol stops early */
    float y[50], x[30] = {0};
    CHECK_OK(t_dense_fwd(op, xtrue, y));
    hg_solver_info info;
    CHECK_OK(hg_sirt(op, y, x, &(hg_solver_opts){.max_iter = 1000, .tol = 1e-3}, &info));
    CHECK(info.residual < 1e-3 && info.iterations < 1000);

    /* refused: complex operators and negative entries */
    hg_linop *cid = t_identity(HG_C64, 1, (int64_t[]){4});
    float c[8] = {0}, cx[8] = {0};
    CHECK_FAILS(hg_sirt(cid, c, cx, NULL, NULL), HG_ERR_INVALID,
                "sirt: operator identity must be real (a nonnegative projector), got complex -> complex");
    hg_linop *neg = hg_linop_scale(op, -1.0f);
    CHECK_FAILS(hg_sirt(neg, y, x, NULL, NULL), HG_ERR_INVALID, "has a negative row sum");
    CHECK_FAILS(hg_sirt(op, y, x, &(hg_solver_opts){.max_iter = -5}, NULL), HG_ERR_INVALID,
                "sirt: max_iter must be positive (0 for the default 30), got -5");
    hg_linop_free(neg), hg_linop_free(cid), hg_linop_free(op);
    free(d.a);
    return hg_test_finish("test_sirt");
}
