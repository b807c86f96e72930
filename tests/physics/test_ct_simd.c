/* The AVX-512 parallel-beam kernels (src/physics/ct_simd.c) against the portable code:
 * projector and FBP outputs agree to float rounding for awkward geometries (odd sizes,
 * detector counts not a multiple of 16, offsets, detector pitch smaller and larger than the
 * pixel, so the permute windows overflow and the gather fallback runs), and the projector's
 * adjoint stays its transpose (sums of 180 terms in another order: ~1e-6 of the peak; a
 * wrong interpolation index would be ~1e-2). Skips the comparison on CPUs without AVX-512. */
#include "hinge/ct.h"
#include "physics/ct_internal.h"
#include "test_util.h"

#include <omp.h>
#include <string.h>

#define PI 3.14159265358979323846

static double max_rel(const float *a, const float *b, int64_t n)
{
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i])), s = fmax(s, fabs((double)b[i]));
    return s > 0 ? m / s : m;
}

/* Forward of op on `in` with the AVX-512 kernels and with the portable code. */
static double simd_vs_portable(hg_linop *op, const float *in)
{
    int64_t no = hg_linop_out_floats(op);
    float *a = malloc(sizeof(float) * no), *b = malloc(sizeof(float) * no);
    ct_simd_override(1);
    CHECK_OK(hg_linop_forward(op, in, a));
    ct_simd_override(0);
    CHECK_OK(hg_linop_forward(op, in, b));
    ct_simd_override(1);
    double e = max_rel(a, b, no);
    free(a), free(b);
    return e;
}

static void check_geometry(int nx, int ny, int na, int n_det, float du, float off, double *worst)
{
    float ang[200];
    hg_ct_angles_uniform(ang, na, 0.05, PI);
    hg_ct_geometry g = hg_ct_parallel(nx, ny, 1.0f, na, ang, n_det, du);
    g.offset_u = off;
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(2, 0.5f * nx);
    hg_linop *A = hg_ct_projector(&g), *R = hg_ct_fbp(&g, HG_CT_HANN, 1.0f);
    REQUIRE(p && A && R);
    float *img = malloc(sizeof(float) * nx * ny), *sino = malloc(sizeof(float) * na * n_det);
    CHECK_OK(hg_ct_phantom_rasterize(p, &g, 2, img));
    CHECK_OK(hg_ct_phantom_project(p, &g, sino));
    double ea = simd_vs_portable(A, img), er = simd_vs_portable(R, sino), adj = 1;
    CHECK_MSG(ea <= 1e-5, "projector %dx%d, %d det, du %g: AVX-512 vs portable %g", nx, ny,
              n_det, (double)du, ea);
    CHECK_MSG(er <= 2e-5, "fbp %dx%d, %d det, du %g: AVX-512 vs portable %g", nx, ny, n_det,
              (double)du, er);
    CHECK_OK(hg_linop_adjoint_error(A, 7, &adj));
    CHECK_MSG(adj <= 1e-5, "projector %dx%d adjoint error %g", nx, ny, adj);
    worst[0] = fmax(worst[0], ea), worst[1] = fmax(worst[1], er), worst[2] = fmax(worst[2], adj);
    free(img), free(sino);
    hg_linop_free(A), hg_linop_free(R);
    hg_ct_phantom_free(p);
}

/* Cone beam: the AVX-512 block path against the portable rays, and the adjoint. */
static void check_cone(int n, int views, int n_det, int n_rows, float du, float off,
                       double *worst)
{
    float ang[64];
    hg_ct_angles_uniform(ang, views, 0.1, 2 * PI);
    hg_ct_geometry g = hg_ct_cone(n, n + 3, n - 2, 1.0f, views, ang, n_det, n_rows, du, du,
                                  2.0f * n, 4.0f * n);
    g.offset_u = off, g.offset_v = -0.5f * off;
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(3, 0.5f * n);
    hg_linop *A = hg_ct_projector(&g);
    REQUIRE(p && A);
    float *vol = malloc(sizeof(float) * hg_linop_in_floats(A));
    CHECK_OK(hg_ct_phantom_rasterize(p, &g, 1, vol));
    double e = simd_vs_portable(A, vol), adj = 1;
    CHECK_MSG(e <= 1e-5, "cone %d, %d det, du %g: AVX-512 vs portable %g", n, n_det, (double)du, e);
    CHECK_OK(hg_linop_adjoint_error(A, 9, &adj));
    CHECK_MSG(adj <= 1e-5, "cone %d adjoint error %g", n, adj);
    worst[0] = fmax(worst[0], e);
    free(vol);
    hg_linop_free(A);
    hg_ct_phantom_free(p);
}

/* Outputs are bitwise the same for 1, 2 and 3 threads (each output has one owner). */
static void check_threads(void)
{
    float ang[45];
    hg_ct_angles_uniform(ang, 45, 0.0, PI);
    hg_ct_geometry g = hg_ct_parallel(70, 70, 1.0f, 45, ang, 75, 1.0f);
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(2, 35.0f);
    REQUIRE(p);
    static float img[70 * 70], sino[45 * 75], y[3][45 * 75], x[3][70 * 70];
    CHECK_OK(hg_ct_phantom_rasterize(p, &g, 2, img));
    CHECK_OK(hg_ct_phantom_project(p, &g, sino));
    int saved = omp_get_max_threads();
    for (int t = 0; t < 3; t++) { /* operators made per count: FBP sizes its buffers then */
        omp_set_num_threads(t + 1);
        hg_linop *A = hg_ct_projector(&g), *R = hg_ct_fbp(&g, HG_CT_RAMP, 1.0f);
        REQUIRE(A && R);
        CHECK_OK(hg_linop_forward(A, img, y[t]));
        CHECK_OK(hg_linop_forward(R, sino, x[t]));
        hg_linop_free(A), hg_linop_free(R);
    }
    omp_set_num_threads(saved);
    for (int t = 1; t < 3; t++) {
        CHECK_MSG(!memcmp(y[0], y[t], sizeof y[0]), "projector differs on %d threads", t + 1);
        CHECK_MSG(!memcmp(x[0], x[t], sizeof x[0]), "fbp differs on %d threads", t + 1);
    }
    hg_ct_phantom_free(p);
}

int main(void)
{
    check_threads();
    if (!ct_simd_ok()) {
        printf("no AVX-512 on this CPU: nothing to compare\n");
        return hg_test_finish("test_ct_simd");
    }
    double worst[3] = {0, 0, 0};
    check_geometry(256, 256, 180, 256, 1.0f, 0.0f, worst);   /* the benchmark */
    check_geometry(257, 257, 60, 363, 1.0f, 0.0f, worst);    /* skimage's padded size */
    check_geometry(61, 45, 37, 70, 0.7f, 1.3f, worst);       /* pitch < pixel: gathers */
    check_geometry(50, 64, 23, 33, 2.5f, -2.2f, worst);      /* pitch > pixel */
    check_geometry(17, 9, 5, 7, 1.0f, 0.3f, worst);          /* tiny, partial blocks */
    printf("AVX-512 vs portable: projector %.2e, fbp %.2e (max relative); adjoint %.2e\n",
           worst[0], worst[1], worst[2]);
    double cw = 0;
    check_cone(40, 24, 47, 41, 2.0f, 0.7f, &cw);  /* magnification 2: ~1 voxel per pitch */
    check_cone(33, 17, 35, 20, 0.6f, -1.1f, &cw); /* fine pitch */
    check_cone(30, 13, 20, 18, 4.5f, 0.0f, &cw);  /* coarse pitch: gather fallback */
    printf("cone AVX-512 vs portable: %.2e (max relative)\n", cw);
    return hg_test_finish("test_ct_simd");
}
