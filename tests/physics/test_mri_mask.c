/* Sampling masks: fastMRI line masks against its definitions (fixture), statistics and
 * seeds; Poisson disc acceleration, calibration block, density and reproducibility. */
#include "hinge/mri.h"
#include "test_util.h"

#include <string.h>

static int64_t count(const float *m, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        c += m[i] != 0.0f;
    return c;
}

static void fixture_cases(void)
{
    hg_params fx;
    hg_test_load_fixture("mri/masks.safetensors", &fx);
    for (int i = 0; i < 6; i++) {
        char key[64];
        snprintf(key, sizeof key, "eq%d.params", i);
        const float *p = hg_test_get(&fx, key)->data;
        int64_t n = (int64_t)p[0], off = (int64_t)p[3];
        double cf = p[1], acc = p[2];
        float *m = malloc((size_t)n * sizeof(float));
        int64_t low;
        /* Equispaced with the fixture's offset: exactly fastMRI's mask. */
        CHECK_OK(hg_mri_mask_lines(HG_MASK_EQUISPACED, n, cf, acc, off, NULL, m, &low));
        snprintf(key, sizeof key, "eq%d.mask", i);
        CHECK_MSG(memcmp(m, hg_test_get(&fx, key)->data, (size_t)n * 4) == 0, "%s differs", key);
        CHECK_OK(hg_mri_mask_lines(HG_MASK_EQUISPACED_FRACTION, n, cf, acc, off, NULL, m, NULL));
        snprintf(key, sizeof key, "eqf%d.mask", i);
        CHECK_MSG(memcmp(m, hg_test_get(&fx, key)->data, (size_t)n * 4) == 0, "%s differs", key);
        /* Random: the centre block is fastMRI's (count and placement). */
        hg_rng rng = hg_rng_new(100 + (uint64_t)i);
        CHECK_OK(hg_mri_mask_lines(HG_MASK_RANDOM, n, cf, acc, -1, &rng, m, &low));
        snprintf(key, sizeof key, "center%d.mask", i);
        const float *c = hg_test_get(&fx, key)->data;
        CHECK(low == count(c, n));
        int missing = 0;
        for (int64_t j = 0; j < n; j++)
            missing += c[j] != 0.0f && m[j] == 0.0f;
        CHECK_MSG(missing == 0, "case %d: %d centre lines missing", i, missing);
        free(m);
    }
    hg_params_free(&fx);
}

static void random_statistics(void)
{
    /* 368 lines, 8 % centre (29 lines: rint(29.44)), 4x: expected 92 lines per mask. */
    int64_t n = 368, low = 0, total = 0;
    float m[368], m2[368];
    for (uint64_t seed = 0; seed < 200; seed++) {
        hg_rng rng = hg_rng_new(seed);
        CHECK_OK(hg_mri_mask_lines(HG_MASK_RANDOM, n, 0.08, 4, -1, &rng, m, &low));
        total += count(m, n);
    }
    CHECK(low == 29);
    double mean = (double)total / 200.0;
    /* The count is 29 + Binomial(339, p), sd ~ 7.8 per mask, ~0.55 for the mean of 200. */
    CHECK_MSG(fabs(mean - 92.0) < 2.5, "mean lines %.2f, expected 92", mean);
    printf("random 4x mask of 368 lines: %.2f lines on average (expected 92)\n", mean);
    /* Same seed, same mask; another seed, another mask. */
    hg_rng a = hg_rng_new(7), b = hg_rng_new(7), c = hg_rng_new(8);
    CHECK_OK(hg_mri_mask_lines(HG_MASK_RANDOM, n, 0.08, 4, -1, &a, m, NULL));
    CHECK_OK(hg_mri_mask_lines(HG_MASK_RANDOM, n, 0.08, 4, -1, &b, m2, NULL));
    CHECK(memcmp(m, m2, sizeof m) == 0);
    CHECK_OK(hg_mri_mask_lines(HG_MASK_RANDOM, n, 0.08, 4, -1, &c, m2, NULL));
    CHECK(memcmp(m, m2, sizeof m) != 0);
    /* Ties round to even like Python: 25 * 0.1 = 2.5 -> 2 centre lines. */
    hg_rng d = hg_rng_new(1);
    CHECK_OK(hg_mri_mask_lines(HG_MASK_RANDOM, 25, 0.1, 4, -1, &d, m, &low));
    CHECK(low == 2);
    /* A drawn equispaced offset lies in [0, accel): every 4th line from it. */
    hg_rng e = hg_rng_new(3);
    CHECK_OK(hg_mri_mask_lines(HG_MASK_EQUISPACED, 64, 0.0, 4, -1, &e, m, NULL));
    CHECK(count(m, 64) == 16);
    /* Errors. */
    CHECK_FAILS(hg_mri_mask_lines(HG_MASK_EQUISPACED, 64, 0.08, 4.5, 0, NULL, m, NULL),
                HG_ERR_INVALID, "acceleration 4.5 is not an integer");
    CHECK_FAILS(hg_mri_mask_lines(HG_MASK_RANDOM, 64, 1.5, 4, 0, &e, m, NULL), HG_ERR_INVALID,
                "centre fraction 1.5");
    CHECK_FAILS(hg_mri_mask_lines(HG_MASK_RANDOM, 64, 0.1, 0.5, 0, &e, m, NULL), HG_ERR_INVALID,
                "acceleration 0.5");
    CHECK_FAILS(hg_mri_mask_lines(HG_MASK_EQUISPACED_FRACTION, 64, 0.5, 4, 0, NULL, m, NULL),
                HG_ERR_INVALID, "32 centre lines already reach acceleration 4");
    /* Expansion: lines vary along the last dimension. */
    hg_tensor *full = hg_mri_mask_expand(NULL, 2, (int64_t[]){3, 64}, m);
    REQUIRE(full);
    CHECK(full->data[64 + 5] == m[5] && full->data[2 * 64 + 63] == m[63]);
    hg_tensor_free(full);
}

static void poisson(void)
{
    int64_t ny = 96, nx = 80;
    float *m = malloc((size_t)(ny * nx) * sizeof(float));
    float *m2 = malloc((size_t)(ny * nx) * sizeof(float));
    double got;
    CHECK_OK(hg_mri_mask_poisson(ny, nx, 5.0, 16, 12, true, 0.1, 42, m, &got));
    double direct = (double)(ny * nx) / (double)count(m, ny * nx);
    CHECK_NEAR(got, direct, 1e-9);
    CHECK_MSG(fabs(got - 5.0) < 0.1, "poisson acceleration %.3f, wanted 5", got);
    printf("poisson 96x80, R=5, calib 16x12: acceleration %.3f\n", got);
    /* The calibration block is fully sampled. */
    int holes = 0;
    for (int64_t y = ny / 2 - 8; y < ny / 2 + 8; y++)
        for (int64_t x = nx / 2 - 6; x < nx / 2 + 6; x++)
            holes += m[y * nx + x] == 0.0f;
    CHECK(holes == 0);
    /* Variable density: the inner ring (outside the calibration block) is denser than the
     * outer ring; crop_corner leaves the corners empty. */
    int64_t in_n = 0, in_s = 0, out_n = 0, out_s = 0, corner = 0;
    for (int64_t y = 0; y < ny; y++)
        for (int64_t x = 0; x < nx; x++) {
            double dy = (y - ny / 2) / (ny / 2.0), dx = (x - nx / 2) / (nx / 2.0);
            double r = sqrt(dx * dx + dy * dy);
            if (r > 0.3 && r < 0.5)
                in_n++, in_s += m[y * nx + x] != 0;
            if (r > 0.75 && r < 0.95)
                out_n++, out_s += m[y * nx + x] != 0;
            if (r > 1.3)
                corner += m[y * nx + x] != 0;
        }
    CHECK_MSG((double)in_s / in_n > 1.5 * (double)out_s / out_n, "density %.3f vs %.3f",
              (double)in_s / in_n, (double)out_s / out_n);
    CHECK(corner == 0);
    /* Reproducible from the seed; another seed differs. */
    CHECK_OK(hg_mri_mask_poisson(ny, nx, 5.0, 16, 12, true, 0.1, 42, m2, NULL));
    CHECK(memcmp(m, m2, (size_t)(ny * nx) * 4) == 0);
    CHECK_OK(hg_mri_mask_poisson(ny, nx, 5.0, 16, 12, true, 0.1, 43, m2, NULL));
    CHECK(memcmp(m, m2, (size_t)(ny * nx) * 4) != 0);
    CHECK_FAILS(hg_mri_mask_poisson(ny, nx, 5.0, 200, 12, true, 0.1, 1, m, NULL), HG_ERR_INVALID,
                "calibration 200 x 12");
    free(m), free(m2);
}

int main(void)
{
    fixture_cases();
    random_statistics();
    poisson();
    return hg_test_finish("test_mri_mask");
}
