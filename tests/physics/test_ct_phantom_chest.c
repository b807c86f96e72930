/* Random chest phantoms and the low-dose measurement protocol: tissue values where the layout
 * puts them, reproducibility from the seed, exact line integrals against the projector, and
 * pre-log Poisson noise whose variance matches the counting statistics. */
#include "hinge/ct.h"
#include "hinge/learned.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#define N 128

static double hu(float v) { return 1000.0 * (4.0679 * v - 1.0); }

static float *raster(uint64_t seed, const hg_ct_geometry *g)
{
    hg_rng rng = hg_rng_new(seed);
    hg_ct_phantom *p = hg_ct_phantom_random_chest(&rng, 0.5f * N);
    REQUIRE(p);
    float *img = malloc(N * N * sizeof *img);
    REQUIRE(img);
    CHECK_OK(hg_ct_phantom_rasterize(p, g, 1, img));
    hg_ct_phantom_free(p);
    return img;
}

/* Fraction of pixels whose HU lies in [lo, hi]. */
static double fraction(const float *img, double lo, double hi)
{
    int64_t k = 0;
    for (int i = 0; i < N * N; i++)
        k += hu(img[i]) >= lo && hu(img[i]) <= hi;
    return (double)k / (N * N);
}

static void test_tissues_and_seed(void)
{
    float angle = 0;
    hg_ct_geometry g = hg_ct_parallel(N, N, 1, 1, &angle, N, 1);
    for (uint64_t seed = 0; seed < 20; seed++) {
        float *a = raster(seed, &g), *b = raster(seed, &g), *c = raster(seed + 100, &g);
        CHECK(memcmp(a, b, N * N * sizeof *a) == 0);
        CHECK(memcmp(a, c, N * N * sizeof *a) != 0);
        /* Air outside the body, and everything inside the field of view. */
        for (int i = 0; i < N; i++)
            CHECK(a[i] == 0 && a[(N - 1) * N + i] == 0 && a[i * N] == 0 && a[i * N + N - 1] == 0);
        double lung = fraction(a, -900, -800), soft = fraction(a, 20, 80);
        double fat = fraction(a, -120, -80), bone = fraction(a, 250, 900);
        CHECK_MSG(lung > 0.08 && soft > 0.10 && fat > 0.01 && bone > 0.003,
                  "seed %llu: lung %.3f soft %.3f fat %.3f bone %.3f", (unsigned long long)seed,
                  lung, soft, fat, bone);
        double top = -1e9;
        for (int i = 0; i < N * N; i++)
            top = fmax(top, hu(a[i]));
        CHECK_MSG(top < 1700, "seed %llu: max %.0f HU (overlapping bones?)",
                  (unsigned long long)seed, top);
        free(a), free(b), free(c);
    }
}

/* The exact line integrals equal the Joseph projection of a finely supersampled raster up to
 * the pixel discretization of the edges. */
static void test_line_integrals(void)
{
    float ang[60];
    hg_ct_angles_uniform(ang, 60, 0, 3.14159265358979323846);
    hg_ct_geometry g = hg_ct_parallel(N, N, 1, 60, ang, 183, 1);
    hg_rng rng = hg_rng_new(7);
    hg_ct_phantom *p = hg_ct_phantom_random_chest(&rng, 0.5f * N);
    REQUIRE(p);
    hg_linop *A = hg_ct_projector(&g);
    REQUIRE(A);
    float *img = malloc(N * N * sizeof *img), *y = malloc(60 * 183 * sizeof *y);
    float *ref = malloc(60 * 183 * sizeof *ref);
    REQUIRE(img && y && ref);
    CHECK_OK(hg_ct_phantom_rasterize(p, &g, 4, img));
    CHECK_OK(hg_linop_forward(A, img, y));
    CHECK_OK(hg_ct_phantom_project(p, &g, ref));
    double num = 0, den = 0;
    for (int i = 0; i < 60 * 183; i++)
        num += (y[i] - ref[i]) * (double)(y[i] - ref[i]), den += ref[i] * (double)ref[i];
    double rel = sqrt(num / den);
    printf("chest 128^2, 60 angles: Joseph(raster) vs exact line integrals, rel L2 %.4f\n", rel);
    CHECK_MSG(rel < 0.02, "relative L2 %.4f", rel);
    hg_ct_phantom_free(p);
    hg_linop_free(A);
    free(img), free(y), free(ref);
}

/* Post-log Poisson data: the variance of (noisy - clean) is 1/(I0 e^{-μL}) / mu_scale² by the
 * delta method where counts are large. */
static void test_poisson_protocol(void)
{
    float ang[90];
    hg_ct_angles_uniform(ang, 90, 0, 3.14159265358979323846);
    hg_ct_geometry g = hg_ct_parallel(N, N, 1, 90, ang, 183, 1);
    hg_linop *A = hg_ct_projector(&g);
    REQUIRE(A);
    hg_recon_protocol pr = {.phantom = HG_RECON_CHEST, .photons = 4096};
    int64_t ns = 90 * 183;
    float *img = malloc(N * N * sizeof *img), *noisy = malloc(ns * sizeof *noisy);
    float *clean = malloc(ns * sizeof *clean);
    REQUIRE(img && noisy && clean);
    hg_rng r1 = hg_rng_new(5), r2 = hg_rng_new(5);
    hg_recon_protocol quiet = pr;
    quiet.photons = 0; /* same phantom, no noise (rel_noise 0) */
    CHECK_OK(hg_recon_simulate(&g, A, &r1, &pr, img, noisy));
    CHECK_OK(hg_recon_simulate(&g, A, &r2, &quiet, img, clean));
    double mu_scale = 81.35858 * 0.26 / N, sum_ratio = 0;
    int64_t used = 0;
    for (int64_t i = 0; i < ns; i++) {
        double counts = 4096 * exp(-mu_scale * clean[i]);
        if (counts < 200)
            continue;
        double d = (noisy[i] - clean[i]) * mu_scale;
        sum_ratio += d * d * counts; /* expectation 1 */
        used++;
    }
    double ratio = sum_ratio / (double)used;
    printf("poisson 4096 photons: variance / predicted %.3f over %lld rays\n", ratio,
           (long long)used);
    CHECK(used > 1000);
    CHECK_MSG(fabs(ratio - 1) < 0.1, "variance ratio %.3f", ratio);
    hg_recon_protocol bad = {.photons = -1};
    CHECK_FAILS(hg_recon_protocol_check(&bad), HG_ERR_INVALID, "photons must be >= 0");
    hg_recon_phantom ph;
    CHECK_FAILS(hg_recon_phantom_parse("lungs", &ph), HG_ERR_INVALID, "'lungs'");
    hg_linop_free(A);
    free(img), free(noisy), free(clean);
}

int main(void)
{
    test_tissues_and_seed();
    test_line_integrals();
    test_poisson_protocol();
    return hg_test_finish("test_ct_phantom_chest");
}
