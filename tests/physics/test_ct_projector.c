/* Joseph projectors: adjoint = exact transpose for every geometry at several sizes, and
 * projections of a rasterized Shepp–Logan phantom against its exact line integrals. */
#include "hinge/ct.h"
#include "test_util.h"

#include <string.h>

#define PI 3.14159265358979323846

static double worst[4]; /* largest adjoint error per geometry kind, printed at the end */

static double adjoint_err(const hg_ct_geometry *g, uint64_t seed)
{
    hg_linop *A = hg_ct_projector(g);
    REQUIRE(A);
    double err = 1.0;
    CHECK_OK(hg_linop_adjoint_error(A, seed, &err));
    hg_linop_free(A);
    worst[g->kind] = fmax(worst[g->kind], err);
    return err;
}

static void test_adjoints(void)
{
    float ang[97];
    const int sizes[3][3] = {{8, 8, 5}, {33, 20, 17}, {64, 64, 97}}; /* nx, ny, angles */
    for (int s = 0; s < 3; s++) {
        int nx = sizes[s][0], ny = sizes[s][1], na = sizes[s][2];
        hg_ct_angles_uniform(ang, na, 0.1, PI);
        hg_ct_geometry g = hg_ct_parallel(nx, ny, 1.0f, na, ang, nx + 7, 0.9f);
        g.offset_u = 1.3f;
        double e = adjoint_err(&g, 11 + s);
        CHECK_MSG(e <= 1e-5, "parallel %dx%d: adjoint error %g", nx, ny, e);
        hg_ct_angles_uniform(ang, na, 0.0, 2 * PI);
        for (int kind = HG_CT_FAN_FLAT; kind <= HG_CT_FAN_ARC; kind++) {
            hg_ct_geometry f = hg_ct_fan((hg_ct_kind)kind, nx, ny, 0.5f, na, ang, nx + 5, 1.1f,
                                         2.0f * nx, 3.5f * nx);
            f.offset_u = -0.7f;
            f.dy = 0.6f; /* anisotropic pixels */
            e = adjoint_err(&f, 21 + s);
            CHECK_MSG(e <= 1e-5, "fan kind %d %dx%d: adjoint error %g", kind, nx, ny, e);
        }
    }
    const int csz[2][4] = {{6, 7, 5, 4}, {24, 20, 16, 20}}; /* nx, ny, nz, angles */
    for (int s = 0; s < 2; s++) {
        hg_ct_angles_uniform(ang, csz[s][3], 0.0, 2 * PI);
        hg_ct_geometry g = hg_ct_cone(csz[s][0], csz[s][1], csz[s][2], 1.0f, csz[s][3], ang,
                                      csz[s][0] + 6, csz[s][2] + 5, 1.5f, 1.4f,
                                      3.0f * csz[s][0], 5.0f * csz[s][0]);
        g.offset_u = 0.4f, g.offset_v = -0.9f, g.dz = 0.8f;
        double e = adjoint_err(&g, 31 + s);
        CHECK_MSG(e <= 1e-5, "cone %d: adjoint error %g", s, e);
    }
    printf("max adjoint error: parallel %.2e, fan flat %.2e, fan arc %.2e, cone %.2e\n",
           worst[0], worst[1], worst[2], worst[3]);
}

/* Relative L2 error of the Joseph projection of the 4x-supersampled rasterized phantom
 * against the exact line integrals of the ellipses. */
static double analytic_err(const hg_ct_geometry *g, int ndim)
{
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(ndim, 0.5f * g->nx * g->dx);
    hg_linop *A = hg_ct_projector(g);
    REQUIRE(p && A);
    int64_t ni = hg_linop_in_floats(A), ns = hg_linop_out_floats(A);
    float *img = malloc(sizeof(float) * ni), *y = malloc(sizeof(float) * ns),
          *ref = malloc(sizeof(float) * ns);
    CHECK_OK(hg_ct_phantom_rasterize(p, g, ndim == 3 ? 2 : 4, img));
    CHECK_OK(hg_linop_forward(A, img, y));
    CHECK_OK(hg_ct_phantom_project(p, g, ref));
    double num = 0, den = 0;
    for (int64_t i = 0; i < ns; i++)
        num += (double)(y[i] - ref[i]) * (y[i] - ref[i]), den += (double)ref[i] * ref[i];
    free(img), free(y), free(ref);
    hg_linop_free(A);
    hg_ct_phantom_free(p);
    return sqrt(num / den);
}

/* The error is the pixel discretization of the phantom's jumps: it must shrink ~ linearly
 * with the pixel size (a shifted or mis-scaled projector would plateau instead). */
static void test_analytic(void)
{
    float ang[360];
    hg_ct_angles_uniform(ang, 90, 0.0, PI);
    double prev = 0;
    for (int n = 64; n <= 256; n *= 2) {
        hg_ct_geometry g = hg_ct_parallel(n, n, 128.0f / n, 90, ang, 185, 1.0f);
        double e = analytic_err(&g, 2);
        printf("parallel %d^2: rel L2 error vs analytic line integrals %.4f\n", n, e);
        CHECK_MSG(e < 0.06 * 64 / n, "parallel %d analytic error %g", n, e);
        if (prev > 0)
            CHECK_MSG(e < 0.6 * prev, "parallel %d: error %g does not converge from %g", n, e, prev);
        prev = e;
    }
    hg_ct_angles_uniform(ang, 120, 0.0, 2 * PI);
    for (int kind = HG_CT_FAN_FLAT; kind <= HG_CT_FAN_ARC; kind++) {
        hg_ct_geometry f = hg_ct_fan((hg_ct_kind)kind, 128, 128, 0.5f, 120, ang, 256, 0.75f,
                                     100.0f, 160.0f);
        double e = analytic_err(&f, 2);
        printf("fan kind %d 128^2: rel L2 error vs analytic %.4f\n", kind, e);
        CHECK_MSG(e < 0.035, "fan analytic error %g", e);
    }
    hg_ct_angles_uniform(ang, 24, 0.0, 2 * PI);
    prev = 0;
    for (int n = 24; n <= 48; n *= 2) {
        hg_ct_geometry c = hg_ct_cone(n, n, n, 48.0f / n, 24, ang, 80, 80, 1.5f, 1.5f, 120.0f,
                                      200.0f);
        double e = analytic_err(&c, 3);
        printf("cone %d^3: rel L2 error vs analytic %.4f\n", n, e);
        CHECK_MSG(e < 0.12 * 48 / n + 0.01, "cone %d analytic error %g", n, e);
        if (prev > 0)
            CHECK_MSG(e < 0.7 * prev, "cone %d: error %g does not converge from %g", n, e, prev);
        prev = e;
    }
}

/* Each ray (forward) and each pixel (adjoint) is summed in a fixed order whatever the thread
 * count, so results are bitwise reproducible across thread counts. */
static void test_threads(void)
{
    float ang[40];
    hg_ct_angles_uniform(ang, 40, 0.0, 2 * PI);
    hg_ct_geometry gs[2] = {hg_ct_fan(HG_CT_FAN_FLAT, 48, 40, 1.0f, 40, ang, 80, 1.0f, 80, 150),
                            hg_ct_cone(20, 18, 16, 1.0f, 40, ang, 30, 24, 1.2f, 1.2f, 60, 110)};
    for (int k = 0; k < 2; k++) {
        hg_linop *A = hg_ct_projector(&gs[k]);
        REQUIRE(A);
        int64_t n = hg_linop_in_floats(A), m = hg_linop_out_floats(A);
        float *x = malloc(4 * n), *y1 = malloc(4 * m), *y2 = malloc(4 * m), *x1 = malloc(4 * n),
              *x2 = malloc(4 * n);
        hg_rng r = hg_rng_new(4);
        hg_rng_fill_normal(&r, x, n, 0, 1);
        hg_set_threads(1);
        CHECK_OK(hg_linop_forward(A, x, y1));
        CHECK_OK(hg_linop_adjoint(A, y1, x1));
        hg_set_threads(2);
        CHECK_OK(hg_linop_forward(A, x, y2));
        CHECK_OK(hg_linop_adjoint(A, y1, x2));
        CHECK(memcmp(y1, y2, 4 * m) == 0);
        CHECK(memcmp(x1, x2, 4 * n) == 0);
        free(x), free(y1), free(y2), free(x1), free(x2);
        hg_linop_free(A);
    }
}

/* The learned primal-dual ellipse setting (DATA.md): 128^2 on [-64, 64]^2, 30 angles over
 * [0, π), 183 detector pixels. The detector must see the whole image (no warning); the power
 * iteration's operator norm (used to scale A in LPD) converges and lies within the bounds
 * ||A1||/||1|| <= ||A|| <= sqrt(max row sum · max column sum) (Schur; A has entries >= 0). */
static void test_lpd_setting(void)
{
    float ang[30];
    hg_ct_angles_uniform(ang, 30, 0.0, PI);
    hg_ct_geometry g = hg_ct_parallel(128, 128, 1.0f, 30, ang, 183, 1.0f);
    hg_ct_info info;
    CHECK_OK(hg_ct_geometry_check(&g, &info));
    CHECK_MSG(info.covered && info.warning[0] == '\0', "LPD geometry warning: %s", info.warning);
    hg_linop *A = hg_ct_projector(&g);
    REQUIRE(A);
    double norm = 0, norm2 = 0;
    CHECK_OK(hg_linop_norm(A, 30, 1, &norm));
    CHECK_OK(hg_linop_norm(A, 60, 2, &norm2));
    printf("LPD parallel operator norm %.3f (30 its) %.3f (60 its)\n", norm, norm2);
    CHECK(fabs(norm - norm2) < 1e-2 * norm2);
    /* the constant image: A1 = chord lengths; ||A|| >= ||A1|| / ||1|| */
    float *one = malloc(4 * 128 * 128), *y = malloc(4 * 30 * 183);
    for (int i = 0; i < 128 * 128; i++)
        one[i] = 1.0f;
    CHECK_OK(hg_linop_forward(A, one, y));
    double ss = 0;
    for (int i = 0; i < 30 * 183; i++)
        ss += (double)y[i] * y[i];
    CHECK(norm2 >= sqrt(ss) / 128.0 * (1 - 1e-3));
    float *ones = malloc(4 * 30 * 183), *col = malloc(4 * 128 * 128);
    for (int i = 0; i < 30 * 183; i++)
        ones[i] = 1.0f;
    CHECK_OK(hg_linop_adjoint(A, ones, col));
    double max_row = 0, max_col = 0;
    for (int i = 0; i < 30 * 183; i++)
        max_row = fmax(max_row, y[i]);
    for (int i = 0; i < 128 * 128; i++)
        max_col = fmax(max_col, col[i]);
    CHECK_MSG(norm2 <= sqrt(max_row * max_col), "norm %g above Schur bound %g", norm2,
              sqrt(max_row * max_col));
    free(one), free(y), free(ones), free(col);
    hg_linop_free(A);
}

int main(void)
{
    test_lpd_setting();
    test_threads();
    test_adjoints();
    test_analytic();
    return hg_test_finish("test_ct_projector");
}
