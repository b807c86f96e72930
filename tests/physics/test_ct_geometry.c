/* CT geometry validation (errors with their messages, coverage warnings), phantoms
 * (Shepp–Logan against skimage's, random ellipses), refinement/downsampling and noise. */
#include "hinge/ct.h"
#include "test_util.h"

#include <string.h>

#define PI 3.14159265358979323846

static void test_errors(void)
{
    float ang[8];
    hg_ct_angles_uniform(ang, 8, 0.0, 2 * PI);
    hg_ct_geometry ok = hg_ct_fan(HG_CT_FAN_FLAT, 32, 32, 1.0f, 8, ang, 100, 1.0f, 100, 200);
    hg_ct_info info;
    CHECK_OK(hg_ct_geometry_check(&ok, &info));
    CHECK(info.covered && info.warning[0] == '\0');
    CHECK_NEAR(info.image_radius, 16 * sqrt(2.0), 1e-4);
    CHECK_NEAR(info.fov_radius, 100 * sin(atan(50.0 / 200)), 1e-3);

    hg_ct_geometry g = ok;
    g.sod = -1;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "sod must be > 0, got -1");
    g = ok, g.sdd = 0;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "sdd must be > 0, got 0");
    g = ok, g.sdd = 90;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "sdd must exceed sod = 100, got 90");
    g = ok, g.sod = 20, g.sdd = 40;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID,
                "source (sod = 20) lies inside the image circle of radius 22.6");
    g = ok, g.n_angles = 0;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "n_angles must be >= 1, got 0");
    g = ok, g.angles = NULL;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "angles is NULL");
    g = ok, g.n_det = 0;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID,
                "detector count n_det must be >= 1, got 0");
    g = ok, g.du = 0;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "spacing du must be > 0, got 0");
    g = ok, g.dx = -0.5f;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "spacing dx must be > 0, got -0.5");
    g = ok, g.nz = 4;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "nz = 1 in 2-D");
    g = ok, g.nx = 0;
    CHECK_NULL_WITH(hg_ct_projector(&g), "image size must be >= 1");
    CHECK_NULL_WITH(hg_ct_fbp(&g, HG_CT_RAMP, 1.0f), "image size must be >= 1");
    float bad_ang[2] = {0.0f, NAN};
    g = ok, g.n_angles = 2, g.angles = bad_ang;
    CHECK_FAILS(hg_ct_geometry_check(&g, NULL), HG_ERR_INVALID, "angle 1 must be finite");
    hg_ct_geometry c = hg_ct_cone(16, 16, 16, 1.0f, 8, ang, 40, 0, 1.0f, 1.0f, 100, 200);
    CHECK_FAILS(hg_ct_geometry_check(&c, NULL), HG_ERR_INVALID, "n_rows must be >= 1, got 0");
    c.n_rows = 40, c.dv = 0;
    CHECK_FAILS(hg_ct_geometry_check(&c, NULL), HG_ERR_INVALID, "spacing dv must be > 0");

    /* valid but doubtful: truncation and short scans are reported, not refused */
    g = ok, g.n_det = 20;
    CHECK_OK(hg_ct_geometry_check(&g, &info));
    CHECK(!info.covered);
    CHECK_MSG(hg_test_contains(info.warning, "data truncated"), "warning: %s", info.warning);
    g = ok, g.offset_u = 45.0f; /* detector shifted: one side of the image is cut */
    CHECK_OK(hg_ct_geometry_check(&g, &info));
    CHECK(!info.covered && info.fov_radius < 5.0f);
    float half[8];
    hg_ct_angles_uniform(half, 8, 0.0, PI);
    g = ok, g.angles = half;
    CHECK_OK(hg_ct_geometry_check(&g, &info));
    CHECK_MSG(hg_test_contains(info.warning, "full scan needs 6.28"), "warning: %s", info.warning);
    hg_ct_geometry p = hg_ct_parallel(32, 32, 1.0f, 8, half, 46, 1.0f);
    CHECK_OK(hg_ct_geometry_check(&p, &info));
    CHECK(info.covered && info.warning[0] == '\0');
    c.dv = 1.0f, c.n_rows = 8;
    CHECK_OK(hg_ct_geometry_check(&c, &info));
    CHECK_MSG(hg_test_contains(info.warning, "detector rows cover z within 2"), "warning: %s",
              info.warning);
}

/* Our rasterized modified Shepp–Logan against skimage's phantom (400^2 point samples, stored
 * as 5x5 block means = the same sample points as our 80^2 grid with 5x supersampling):
 * orientation, scale and contrasts must agree up to skimage's 8-bit quantization. skimage
 * samples [-1, 1] at linspace(-1, 1, 400): phantom unit 1 is 199.5 of its pixels = 39.9 of
 * ours. */
static void test_shepp_logan(void)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_test_load_fixture("ct/radon64.safetensors", &fx);
    const hg_tensor *ref = hg_test_get(&fx, "phantom80");
    float ang[1] = {0};
    hg_ct_geometry g = hg_ct_parallel(80, 80, 1.0f, 1, ang, 80, 1.0f);
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(2, 39.9f);
    float *img = malloc(sizeof(float) * 80 * 80);
    CHECK_OK(hg_ct_phantom_rasterize(p, &g, 5, img));
    double e = hg_test_rel_err(img, ref->data, 80 * 80);
    printf("Shepp-Logan 80^2 vs skimage's phantom: max |diff| / max %.4f\n", e);
    CHECK_MSG(e < 0.01, "max error vs skimage phantom %g", e);
    /* ellipse values from the published table: 1 - 0.8 inside the brain, +0.1 in ellipse 5 */
    CHECK_NEAR(img[40 * 80 + 40], 0.2, 1e-6);
    CHECK_NEAR(img[(39 - 14) * 80 + 40], 0.3, 1e-6); /* y = +0.35 -> above the centre */
    hg_ct_phantom_free(p);
    hg_params_free(&fx);

    hg_ct_phantom *p3 = hg_ct_phantom_shepp_logan(3, 16.0f);
    hg_ct_geometry c = hg_ct_cone(32, 32, 32, 1.0f, 1, ang, 8, 8, 1, 1, 100, 200);
    float *vol = malloc(sizeof(float) * 32 * 32 * 32);
    hg_ct_geometry g2 = hg_ct_parallel(8, 8, 1.0f, 1, ang, 8, 1.0f);
    CHECK_OK(hg_ct_phantom_rasterize(p3, &c, 1, vol));
    /* z = -0.15 +- 0.41 holds ellipsoid 5 (y = 0.35): present below the centre plane only */
    CHECK_NEAR(vol[((15 - 5) * 32 + (15 - 5)) * 32 + 16], 0.3, 1e-6);
    CHECK_NEAR(vol[((31 - 2) * 32 + (15 - 5)) * 32 + 16], 0.0, 1e-6);
    CHECK_FAILS(hg_ct_phantom_rasterize(p3, &g2, 1, vol), HG_ERR_INVALID,
                "a 3-D phantom does not fit a 2-D geometry");
    CHECK_FAILS(hg_ct_phantom_rasterize(p3, &c, 0, vol), HG_ERR_INVALID,
                "supersample must be >= 1, got 0");
    CHECK_NULL_WITH(hg_ct_phantom_shepp_logan(4, 1.0f), "ndim must be 2 or 3, got 4");
    free(vol), free(img);
    hg_ct_phantom_free(p3);
}

static void test_random_ellipses(void)
{
    hg_rng r1 = hg_rng_new(5), r2 = hg_rng_new(5);
    hg_ct_phantom *a = hg_ct_phantom_random_ellipses(&r1, 50, false, 64.0f);
    hg_ct_phantom *b = hg_ct_phantom_random_ellipses(&r2, 50, false, 64.0f);
    REQUIRE(a && b);
    CHECK(a->count == b->count && a->count > 25 && a->count < 80);
    CHECK(memcmp(a->ellipses, b->ellipses, sizeof *a->ellipses * a->count) == 0);
    int neg = 0;
    for (int i = 0; i < a->count; i++) {
        neg += a->ellipses[i].value < 0;
        CHECK(fabsf(a->ellipses[i].x0) <= 1 && fabsf(a->ellipses[i].y0) <= 1);
        CHECK(a->ellipses[i].a > 0 && a->ellipses[i].phi >= 0 && a->ellipses[i].phi < 2 * PI);
    }
    CHECK(neg > 0 && neg < a->count); /* values of both signs */
    /* mean count over many draws ~ Poisson(50) */
    double total = 0;
    for (int t = 0; t < 200; t++) {
        hg_ct_phantom *p = hg_ct_phantom_random_ellipses(&r1, 50, true, 1.0f);
        total += p->count;
        for (int i = 0; i < p->count; i++)
            CHECK(fabsf(p->ellipses[i].x0) <= 0.5f);
        hg_ct_phantom_free(p);
    }
    CHECK_NEAR(total / 200, 50.0, 2.0);
    hg_ct_phantom_free(a), hg_ct_phantom_free(b);
}

/* Simulating on a 2x finer grid and averaging down gives the coarse pixel means; the fine
 * projection approximates the exact line integrals better than the coarse one. */
static void test_refine(void)
{
    float ang[30];
    hg_ct_angles_uniform(ang, 30, 0.0, PI);
    hg_ct_geometry g = hg_ct_parallel(64, 64, 2.0f, 30, ang, 91, 2.0f), f;
    CHECK_OK(hg_ct_geometry_refine(&g, 2, &f));
    CHECK(f.nx == 128 && f.ny == 128 && f.dx == 1.0f && f.n_det == 91 && f.du == 2.0f);
    CHECK_FAILS(hg_ct_geometry_refine(&g, 0, &f), HG_ERR_INVALID, "factor must be >= 1, got 0");
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(2, 64.0f);
    float *fine = malloc(4 * 128 * 128), *coarse = malloc(4 * 64 * 64), *direct = malloc(4 * 64 * 64);
    CHECK_OK(hg_ct_phantom_rasterize(p, &f, 2, fine));
    CHECK_OK(hg_ct_image_downsample(&g, 2, fine, coarse));
    CHECK_OK(hg_ct_phantom_rasterize(p, &g, 4, direct));
    CHECK(hg_test_rel_err(coarse, direct, 64 * 64) < 1e-6);
    float *yf = malloc(4 * 30 * 91), *yc = malloc(4 * 30 * 91), *ya = malloc(4 * 30 * 91);
    hg_linop *Af = hg_ct_projector(&f), *Ac = hg_ct_projector(&g);
    CHECK_OK(hg_linop_forward(Af, fine, yf));
    CHECK_OK(hg_linop_forward(Ac, direct, yc));
    CHECK_OK(hg_ct_phantom_project(p, &g, ya));
    double ef = 0, ec = 0;
    for (int i = 0; i < 30 * 91; i++)
        ef += (yf[i] - ya[i]) * (yf[i] - ya[i]), ec += (yc[i] - ya[i]) * (yc[i] - ya[i]);
    CHECK_MSG(ef < 0.5 * ec, "fine grid error %g not below coarse %g", ef, ec);
    free(fine), free(coarse), free(direct), free(yf), free(yc), free(ya);
    hg_linop_free(Af), hg_linop_free(Ac);
    hg_ct_phantom_free(p);
}

static void test_noise(void)
{
    enum { N = 200000 };
    float *y = malloc(sizeof(float) * N), *y0 = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++)
        y0[i] = y[i] = (i % 2 ? 2.0f : -2.0f); /* mean |y| = 2 */
    hg_rng rng = hg_rng_new(1);
    CHECK_OK(hg_ct_noise_gaussian(y, N, 0.05f, &rng));
    double s = 0, ss = 0;
    for (int i = 0; i < N; i++)
        s += y[i] - y0[i], ss += (double)(y[i] - y0[i]) * (y[i] - y0[i]);
    CHECK_NEAR(sqrt(ss / N), 0.1, 0.002);
    CHECK_NEAR(s / N, 0.0, 0.002);
    CHECK_FAILS(hg_ct_noise_gaussian(y, N, -1.0f, &rng), HG_ERR_INVALID, "rel_sigma must be >= 0");

    /* Poisson: at line integral 1 with 4096 photons, counts ~ 4096/e: post-log mean ~ 1 and
     * variance ~ e/4096 (delta method) */
    for (int i = 0; i < N; i++)
        y[i] = 1.0f;
    CHECK_OK(hg_ct_noise_poisson(y, N, 4096.0, 1.0, &rng));
    s = ss = 0;
    for (int i = 0; i < N; i++)
        s += y[i], ss += (double)(y[i] - 1.0) * (y[i] - 1.0);
    CHECK_NEAR(s / N, 1.0, 1e-3);
    CHECK_NEAR(ss / N, exp(1.0) / 4096, 0.05 * exp(1.0) / 4096);
    /* zero counts become 0.1 photon: a very opaque ray gives -log(0.1/i0) */
    for (int i = 0; i < 1000; i++)
        y[i] = 100.0f;
    CHECK_OK(hg_ct_noise_poisson(y, 1000, 4096.0, 1.0, &rng));
    CHECK_NEAR(y[7], -log(0.1 / 4096), 1e-4);
    CHECK_FAILS(hg_ct_noise_poisson(y, N, 0.0, 1.0, &rng), HG_ERR_INVALID, "i0 must be > 0, got 0");
    free(y), free(y0);
}

int main(void)
{
    test_errors();
    test_shepp_logan();
    test_random_ellipses();
    test_refine();
    test_noise();
    return hg_test_finish("test_ct_geometry");
}
