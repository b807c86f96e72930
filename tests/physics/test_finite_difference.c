/* Finite-difference gradient: hand-computed values (forward differences, Neumann boundary),
 * the adjoint as negative divergence, adjoint tests, the exact norm formula against power
 * iteration, complex = re/im, errors. */
#include "test_util.h"

static void check_hand_values(void)
{
    /* 2-D [3, 3]: x[i][j] = i^2 + 10 j. */
    float x[9], g[18], d[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            x[i * 3 + j] = (float)(i * i + 10 * j);
    hg_linop *op = hg_linop_gradient(HG_F32, 2, (int64_t[]){3, 3}, 2);
    REQUIRE(op);
    CHECK(op->out_ndim == 3 && op->out_shape[0] == 2 && op->out_shape[1] == 3);
    CHECK_OK(hg_linop_forward(op, x, g));
    /* along axis 0: x[i+1] - x[i] = 2i + 1 for i < 2, 0 on the last row */
    const float g0[9] = {1, 1, 1, 3, 3, 3, 0, 0, 0};
    /* along axis 1: 10, 10, 0 on every row */
    const float g1[9] = {10, 10, 0, 10, 10, 0, 10, 10, 0};
    for (int k = 0; k < 9; k++) {
        CHECK_NEAR(g[k], g0[k], 0);
        CHECK_NEAR(g[9 + k], g1[k], 0);
    }
    /* adjoint of the gradient of x: -div, per axis (D^T g)[k] = g[k-1] - g[k] */
    CHECK_OK(hg_linop_adjoint(op, g, d));
    const float col0[3] = {-1, 1 - 3, 3}; /* axis-0 part, same for every column */
    const float row1[3] = {-10, 0, 10};   /* axis-1 part, same for every row */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            CHECK_NEAR(d[i * 3 + j], col0[i] + row1[j], 1e-6);
    hg_linop_free(op);
}

static void check_op(hg_dtype dt, int ndim, const int64_t *shape, int dims)
{
    hg_linop *op = hg_linop_gradient(dt, ndim, shape, dims);
    REQUIRE(op);
    double adj, norm;
    CHECK_OK(hg_linop_adjoint_error(op, 3, &adj));
    CHECK_MSG(adj < 1e-5, "gradient adjoint error %g", adj);
    CHECK_OK(hg_linop_norm(op, 2000, 9, &norm));
    double exact = hg_linop_gradient_norm(ndim, shape, dims);
    CHECK_MSG(fabs(norm - exact) / exact < 2e-3, "power iteration %g vs exact norm %g", norm, exact);
    if (dt == HG_C64) { /* re and im differentiate independently */
        hg_linop *opr = hg_linop_gradient(HG_F32, ndim, shape, dims);
        REQUIRE(opr);
        int64_t n = hg_linop_in_floats(op), m = hg_linop_out_floats(op);
        float *x = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * m);
        float *xr = malloc(sizeof(float) * n / 2), *gr = malloc(sizeof(float) * m / 2);
        hg_rng r = hg_rng_new(4);
        hg_rng_fill_normal(&r, x, n, 0, 1);
        CHECK_OK(hg_linop_forward(op, x, g));
        double worst = 0;
        for (int part = 0; part < 2; part++) {
            for (int64_t i = 0; i < n / 2; i++)
                xr[i] = x[2 * i + part];
            CHECK_OK(hg_linop_forward(opr, xr, gr));
            for (int64_t i = 0; i < m / 2; i++)
                worst = fmax(worst, fabs(gr[i] - g[2 * i + part]));
        }
        CHECK_NEAR(worst, 0, 0);
        free(x), free(g), free(xr), free(gr);
        hg_linop_free(opr);
    }
    printf("gradient %s ndim %d dims %d: adjoint error %.1e, norm %.5f (exact %.5f)\n",
           dt == HG_C64 ? "complex" : "real", ndim, dims, adj, norm, exact);
    hg_linop_free(op);
}

int main(void)
{
    check_hand_values();
    for (int dt = 0; dt < 2; dt++) {
        hg_dtype t = dt ? HG_C64 : HG_F32;
        check_op(t, 1, (int64_t[]){17}, 1);
        check_op(t, 2, (int64_t[]){6, 9}, 2);
        check_op(t, 3, (int64_t[]){4, 5, 7}, 3);
        check_op(t, 3, (int64_t[]){3, 5, 7}, 2); /* a stack of 2-D images */
        check_op(t, 4, (int64_t[]){2, 3, 4, 5}, 3);
    }
    CHECK_NEAR(hg_linop_gradient_norm(2, (int64_t[]){1, 1}, 2), 0, 0);
    CHECK_NULL_WITH(hg_linop_gradient(HG_F32, 2, (int64_t[]){8, 8}, 3),
                    "dims must be 1, 2 or 3 and at most the item's 2 dimensions, got 3");
    CHECK_NULL_WITH(hg_linop_gradient(HG_F32, 5, (int64_t[]){2, 2, 2, 2, 2}, 2),
                    "item must have 1 to 4 dimensions (the output adds one), got 5");
    CHECK_NULL_WITH(hg_linop_gradient(HG_F32, 2, (int64_t[]){8, 0}, 2), "invalid");
    return hg_test_finish("test_finite_difference");
}
