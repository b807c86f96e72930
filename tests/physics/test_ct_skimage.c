/* Against scikit-image (fixtures from tools/fixtures/make_ct_fixtures.py): the parallel
 * projector vs skimage.transform.radon, and FBP vs iradon's PSNR on the same sinogram. */
#include "hinge/ct.h"
#include "test_util.h"

static double psnr(const float *ref, const float *x, int64_t n)
{
    float lo = ref[0], hi = ref[0];
    double mse = 0;
    for (int64_t i = 0; i < n; i++) {
        lo = fminf(lo, ref[i]), hi = fmaxf(hi, ref[i]);
        mse += (double)(x[i] - ref[i]) * (x[i] - ref[i]);
    }
    mse /= (double)n;
    return 10.0 * log10((double)(hi - lo) * (hi - lo) / mse);
}

/* Radon of a 64^2 Shepp–Logan (padded to 65^2), 60 angles: skimage rotates the image with
 * bilinear interpolation and sums columns, Joseph interpolates along the ray; both
 * approximate the same line integrals, so they agree to interpolation error. */
static void test_radon(void)
{
    hg_params p;
    hg_params_init(&p);
    hg_test_load_fixture("ct/radon64.safetensors", &p);
    hg_tensor *img = hg_test_get(&p, "image"), *theta = hg_test_get(&p, "theta");
    hg_tensor *ref = hg_test_get(&p, "sino");
    int n = (int)img->shape[0], na = (int)theta->numel;
    hg_ct_geometry g = hg_ct_parallel(n, n, 1.0f, na, theta->data, n, 1.0f);
    hg_linop *A = hg_ct_projector(&g);
    REQUIRE(A);
    hg_ctx *ctx = hg_ctx_new();
    img->name = "image";
    hg_tensor *y = hg_linop_apply(ctx, A, img, false);
    REQUIRE(y);
    CHECK(hg_shape_equal(y, ref));
    double num = 0, den = 0, peak = 0, maxd = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        double d = (double)y->data[i] - ref->data[i];
        num += d * d, den += (double)ref->data[i] * ref->data[i];
        peak = fmax(peak, fabs(ref->data[i])), maxd = fmax(maxd, fabs(d));
    }
    printf("radon 65^2 x 60: rel L2 %.5f, max |diff| %.4f of peak %.3f\n", sqrt(num / den), maxd,
           peak);
    CHECK_MSG(sqrt(num / den) < 0.01, "rel L2 error vs skimage radon %g", sqrt(num / den));
    CHECK_MSG(maxd < 0.04 * peak, "max error vs skimage radon %g (peak %g)", maxd, peak);
    /* a sinogram that does not fit the geometry is refused with both shapes named */
    hg_tensor *bad = hg_new(ctx, 64, 64);
    bad->name = "phantom";
    CHECK_NULL_WITH(hg_linop_apply(ctx, A, bad, false),
                    "ct_parallel: phantom: expected real shape [..., 65, 65], got real [64, 64]");
    hg_ctx_free(ctx);
    hg_linop_free(A);
    hg_params_free(&p);
}

/* FBP of skimage's own 180-angle radon data of Shepp–Logan 256^2 (padded to 257^2): hinge
 * must reach iradon's PSNR with the same filter (within 0.005 dB: the algorithms are the
 * same up to float rounding and detector padding). As in iradon(circle=True), the
 * reconstruction is set to 0 outside the inscribed circle before the PSNR. */
static void test_fbp(void)
{
    hg_params p;
    hg_params_init(&p);
    hg_test_load_fixture("ct/fbp256.safetensors", &p);
    hg_tensor *img = hg_test_get(&p, "image"), *theta = hg_test_get(&p, "theta");
    hg_tensor *sino = hg_test_get(&p, "sino");
    int n = (int)img->shape[0], na = (int)theta->numel;
    hg_ct_geometry g = hg_ct_parallel(n, n, 1.0f, na, theta->data, n, 1.0f);
    const struct {
        hg_ct_filter f;
        const char *key;
    } cases[] = {{HG_CT_RAMP, "psnr.ramp"}, {HG_CT_SHEPP_LOGAN, "psnr.shepp-logan"},
                 {HG_CT_HANN, "psnr.hann"}};
    float *rec = malloc(sizeof(float) * (size_t)img->numel);
    for (int c = 0; c < 3; c++) {
        hg_linop *R = hg_ct_fbp(&g, cases[c].f, 1.0f);
        REQUIRE(R);
        CHECK_OK(hg_linop_forward(R, sino->data, rec));
        int r = n / 2;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++)
                if ((i - r) * (i - r) + (j - r) * (j - r) > r * r)
                    rec[j * n + i] = 0.0f;
        double ours = psnr(img->data, rec, img->numel);
        double theirs = hg_test_get(&p, cases[c].key)->data[0];
        printf("fbp %s 257^2 x 180: PSNR %.4f dB (skimage iradon %.4f dB)\n",
               hg_ct_filter_name(cases[c].f), ours, theirs);
        CHECK_MSG(ours >= theirs - 0.005, "%s: PSNR %g below skimage's %g", cases[c].key, ours, theirs);
        hg_linop_free(R);
    }
    free(rec);
    hg_params_free(&p);
}

int main(void)
{
    test_radon();
    test_fbp();
    return hg_test_finish("test_ct_skimage");
}
