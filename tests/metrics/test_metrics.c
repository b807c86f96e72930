/* PSNR / SSIM / NMSE against scikit-image (fixtures), identities, and argument errors. */
#include "hinge/metrics.h"
#include "test_util.h"

#include <string.h>
#include <time.h>

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-12); }

static hg_metadata meta;

static void check_case(const hg_params *fx, const char *name)
{
    char k[64];
    snprintf(k, sizeof k, "%s.target", name);
    hg_tensor *t = hg_test_get(fx, k);
    snprintf(k, sizeof k, "%s.pred", name);
    hg_tensor *p = hg_test_get(fx, k);
    snprintf(k, sizeof k, "%s.expected", name);
    const char *es = hg_metadata_get(&meta, k);
    REQUIRE(es);
    double e[6];
    char *end = (char *)es;
    for (int i = 0; i < 6; i++)
        e[i] = strtod(end, &end);
    double range = e[5], v;
    CHECK_OK(hg_psnr(p, t, range, &v));
    CHECK_MSG(rel(v, e[0]) < 1e-9, "%s psnr %.9g vs skimage %.9g", name, v, (double)e[0]);
    CHECK_OK(hg_nmse(p, t, &v));
    CHECK_MSG(rel(v, e[1]) < 1e-9, "%s nmse %.9g vs %.9g", name, v, (double)e[1]);
    hg_ssim_opts o = {.data_range = range};
    CHECK_OK(hg_ssim(p, t, &o, &v));
    CHECK_MSG(rel(v, e[2]) < 1e-9, "%s ssim uniform %.9g vs skimage %.9g", name, v,
              (double)e[2]);
    o.window = HG_SSIM_GAUSSIAN;
    CHECK_OK(hg_ssim(p, t, &o, &v));
    CHECK_MSG(rel(v, e[3]) < 1e-9, "%s ssim gaussian %.9g vs skimage %.9g", name, v,
              (double)e[3]);
    o = (hg_ssim_opts){.data_range = range, .win_size = 5, .population_covariance = true};
    CHECK_OK(hg_ssim(p, t, &o, &v));
    CHECK_MSG(rel(v, e[4]) < 1e-9, "%s ssim win 5 %.9g vs skimage %.9g", name, v, (double)e[4]);
    double ours[3];
    hg_psnr(p, t, range, &ours[0]);
    hg_ssim(p, t, &(hg_ssim_opts){.data_range = range}, &ours[1]);
    hg_ssim(p, t, &(hg_ssim_opts){.data_range = range, .window = HG_SSIM_GAUSSIAN}, &ours[2]);
    printf("%s: psnr %.12f ssim %.12f/%.12f (skimage: %.12f %.12f/%.12f)\n", name, ours[0], ours[1],
           ours[2], (double)e[0], (double)e[2], (double)e[3]);
    /* identities */
    CHECK_OK(hg_ssim(t, t, NULL, &v));
    if (range == 0)
        CHECK_NEAR(v, 1.0, 1e-12);
    CHECK_OK(hg_psnr(t, t, 1.0, &v));
    CHECK(isinf(v) && v > 0);
    CHECK_OK(hg_nmse(t, t, &v));
    CHECK(v == 0.0);
}

int main(void)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_metadata_init(&meta);
    REQUIRE(hg_safetensors_load(hg_test_fixture("metrics/skimage_metrics.safetensors"), &fx,
                                &meta) == HG_OK);
    check_case(&fx, "2d");
    check_case(&fx, "3d");
    check_case(&fx, "4d_range");

    /* errors */
    hg_tensor *a = hg_new(NULL, 8, 8), *b = hg_new(NULL, 8, 9), *c = hg_new(NULL, 5, 5);
    hg_tensor_set_name(a, "recon");
    hg_tensor_set_name(b, "truth");
    double v;
    CHECK_FAILS(hg_psnr(a, b, 0, &v), HG_ERR_INVALID,
                "psnr: 'recon' has shape [8, 8], target 'truth' has [8, 9]");
    CHECK_FAILS(hg_psnr(a, a, 0, &v), HG_ERR_INVALID, "default data range max('recon') = 0");
    CHECK_FAILS(hg_nmse(a, a, &v), HG_ERR_NUMERIC, "zero (or NaN) norm");
    hg_tensor_fill(c, 1.0f);
    CHECK_FAILS(hg_ssim(c, c, NULL, &v), HG_ERR_INVALID, "5 x 5, smaller than the 7 x 7 window");
    hg_ssim_opts even = {.win_size = 4};
    CHECK_FAILS(hg_ssim(a, a, &even, &v), HG_ERR_INVALID, "win_size 4");
    hg_tensor *z = hg_new_complex(NULL, 8, 8);
    CHECK_FAILS(hg_psnr(z, z, 1, &v), HG_ERR_UNSUPPORTED, "complex");
    hg_test_fill(z, 3, -1, 1);
    CHECK_OK(hg_nmse(z, z, &v));
    a->data[3] = NAN;
    hg_tensor_fill(b, 1.0f);
    hg_tensor *d = hg_new(NULL, 8, 8);
    hg_tensor_fill(d, 1.0f);
    CHECK_FAILS(hg_psnr(a, d, 1, &v), HG_ERR_NUMERIC, "NaN");
    CHECK_FAILS(hg_ssim(a, d, NULL, &v), HG_ERR_NUMERIC, "NaN");

    /* speed: 8 slices of 320 x 320 (a fastMRI knee volume is ~35 of these) */
    hg_tensor *x = hg_new(NULL, 8, 320, 320), *y = hg_new(NULL, 8, 320, 320);
    hg_test_fill(x, 1, 0, 1);
    hg_test_fill(y, 2, 0, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hg_ssim_opts g = {.window = HG_SSIM_GAUSSIAN};
    CHECK_OK(hg_ssim(x, y, &g, &v));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("ssim gaussian 8x320x320: %.1f ms\n",
           1e3 * ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)));
    hg_tensor_free(a), hg_tensor_free(b), hg_tensor_free(c), hg_tensor_free(d);
    hg_tensor_free(x), hg_tensor_free(y), hg_tensor_free(z);
    hg_params_free(&fx);
    hg_metadata_free(&meta);
    return hg_test_finish("test_metrics");
}
