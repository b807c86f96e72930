/* The AVX-512 parallel-beam kernels (src/physics/ct_simd.c) against the portable code:
 * projector and FBP outputs agree to float rounding for awkward geometries (odd sizes,
 * detector counts not a multiple of 16, offsets, detector pitch smaller and larger than the
 * pixel, so the permute windows overflow and the gather fallback runs), and the projector's
 * adjoint stays its transpose (sums of 180 terms in another order: ~1e-6 of the peak; a
 * wrong interpolation index would be ~1e-2). Skips the comparison on CPUs without AVX-512. */
#include "hinge/ct.h"
#include "physics/ct_internal.h"
#include "test_util.h"

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

int main(void)
{
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
    return hg_test_finish("test_ct_simd");
}
