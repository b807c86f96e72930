/* FBP (fan flat/arc) and FDK (cone) on exact line integrals of ellipse phantoms (no inverse
 * crime): the quantitative value of a uniform disc/ball, PSNR floors for Shepp–Logan, the
 * exact adjoint of the FBP operator, filter windows and cutoff on noisy data, and the
 * projector as a differentiable op. */
#include "hinge/ct.h"
#include "test_util.h"

#define PI 3.14159265358979323846

static double psnr(const float *ref, const float *x, int64_t n)
{
    float lo = ref[0], hi = ref[0];
    double mse = 0;
    for (int64_t i = 0; i < n; i++) {
        lo = fminf(lo, ref[i]), hi = fmaxf(hi, ref[i]);
        mse += (double)(x[i] - ref[i]) * (x[i] - ref[i]);
    }
    return 10.0 * log10((double)(hi - lo) * (hi - lo) / (mse / (double)n));
}

/* Reconstructs the phantom from its exact projections; returns the PSNR against the 4x
 * (3-D: 2x) supersampled rasterization and, when disc_mean is given, the mean inside 70% of
 * a centred disc of radius 0.5 (phantom units). */
static double recon(const hg_ct_geometry *g, const hg_ct_phantom *p, hg_ct_filter f,
                    double *disc_mean)
{
    hg_linop *R = hg_ct_fbp(g, f, 1.0f);
    REQUIRE(R);
    int64_t ni = hg_linop_out_floats(R), ns = hg_linop_in_floats(R);
    float *img = malloc(4 * ni), *rec = malloc(4 * ni), *sino = malloc(4 * ns);
    CHECK_OK(hg_ct_phantom_rasterize(p, g, p->ndim == 3 ? 2 : 4, img));
    CHECK_OK(hg_ct_phantom_project(p, g, sino));
    CHECK_OK(hg_linop_forward(R, sino, rec));
    double q = psnr(img, rec, ni);
    if (disc_mean) {
        double acc = 0, cnt = 0, r = 0.7 * 0.5 * p->scale;
        for (int k = 0; k < g->nz; k++)
            for (int j = 0; j < g->ny; j++)
                for (int i = 0; i < g->nx; i++) {
                    double x = (i - 0.5 * (g->nx - 1)) * g->dx, y = (j - 0.5 * (g->ny - 1)) * g->dy;
                    double z = (k - 0.5 * (g->nz - 1)) * g->dz;
                    if (x * x + y * y + z * z < r * r)
                        acc += rec[((int64_t)k * g->ny + j) * g->nx + i], cnt++;
                }
        *disc_mean = acc / cnt;
    }
    free(img), free(rec), free(sino);
    hg_linop_free(R);
    return q;
}

static hg_ct_phantom *disc(int ndim, float scale)
{
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(ndim, scale);
    REQUIRE(p);
    p->count = 1;
    p->ellipses[0] = (hg_ct_ellipse){.value = 1.0f, .a = 0.5f, .b = 0.5f, .c = 0.5f};
    return p;
}

static void test_fan(void)
{
    float ang[240];
    hg_ct_angles_uniform(ang, 240, 0.0, 2 * PI);
    for (int kind = HG_CT_FAN_FLAT; kind <= HG_CT_FAN_ARC; kind++) {
        hg_ct_geometry g = hg_ct_fan((hg_ct_kind)kind, 128, 128, 1.0f, 240, ang, 300, 1.0f,
                                     200.0f, 400.0f);
        g.offset_u = 0.3f;
        hg_ct_phantom *sl = hg_ct_phantom_shepp_logan(2, 64.0f), *d = disc(2, 64.0f);
        double mean, q = recon(&g, sl, HG_CT_RAMP, NULL);
        recon(&g, d, HG_CT_RAMP, &mean);
        printf("fan kind %d 128^2 x 240: Shepp-Logan PSNR %.2f dB, disc value %.4f\n", kind, q,
               mean);
        CHECK_MSG(q > 27.5, "fan %d PSNR %g", kind, q);
        CHECK_NEAR(mean, 1.0, 0.01);
        hg_linop *R = hg_ct_fbp(&g, HG_CT_HAMMING, 0.8f);
        double err;
        CHECK_OK(hg_linop_adjoint_error(R, 5, &err));
        CHECK_MSG(err < 1e-5, "fan fbp adjoint error %g", err);
        hg_linop_free(R);
        hg_ct_phantom_free(sl), hg_ct_phantom_free(d);
    }
}

static void test_fdk(void)
{
    float ang[120];
    hg_ct_angles_uniform(ang, 120, 0.0, 2 * PI);
    hg_ct_geometry g = hg_ct_cone(64, 64, 64, 1.0f, 120, ang, 128, 128, 1.0f, 1.0f, 150.0f,
                                  300.0f);
    hg_ct_phantom *sl = hg_ct_phantom_shepp_logan(3, 32.0f), *d = disc(3, 32.0f);
    double mean, q = recon(&g, sl, HG_CT_RAMP, NULL);
    recon(&g, d, HG_CT_RAMP, &mean);
    printf("fdk 64^3 x 120 (cone half-angle %.1f deg): Shepp-Logan PSNR %.2f dB, ball %.4f\n",
           atan(64.0 / 300.0) * 180 / PI, q, mean);
    CHECK_MSG(q > 26.5, "fdk PSNR %g", q);
    CHECK_NEAR(mean, 1.0, 0.02);
    hg_ct_geometry s = hg_ct_cone(12, 10, 8, 1.0f, 9, ang, 20, 14, 1.2f, 1.1f, 40.0f, 70.0f);
    s.offset_v = 0.4f;
    hg_linop *R = hg_ct_fbp(&s, HG_CT_COSINE, 1.0f);
    double err;
    CHECK_OK(hg_linop_adjoint_error(R, 6, &err));
    CHECK_MSG(err < 1e-5, "fdk adjoint error %g", err);
    hg_linop_free(R);
    hg_ct_phantom_free(sl), hg_ct_phantom_free(d);
}

/* Smoother windows and a lower cutoff trade resolution for noise: on pure noise the
 * reconstruction's standard deviation must fall in that order. */
static void test_filters(void)
{
    float ang[90];
    hg_ct_angles_uniform(ang, 90, 0.0, PI);
    hg_ct_geometry g = hg_ct_parallel(64, 64, 1.0f, 90, ang, 95, 1.0f);
    int64_t ns = 90 * 95;
    float *noise = calloc(ns, 4), *rec = malloc(64 * 64 * 4);
    hg_rng rng = hg_rng_new(9);
    hg_rng_fill_normal(&rng, noise, ns, 0.0f, 1.0f);
    const struct {
        hg_ct_filter f;
        float cutoff;
    } order[] = {{HG_CT_RAMP, 1.0f},    {HG_CT_SHEPP_LOGAN, 1.0f}, {HG_CT_COSINE, 1.0f},
                 {HG_CT_HAMMING, 1.0f}, {HG_CT_HANN, 1.0f},        {HG_CT_HANN, 0.5f}};
    double prev = INFINITY;
    for (int c = 0; c < 6; c++) {
        hg_linop *R = hg_ct_fbp(&g, order[c].f, order[c].cutoff);
        REQUIRE(R);
        CHECK_OK(hg_linop_forward(R, noise, rec));
        double ss = 0;
        for (int i = 0; i < 64 * 64; i++)
            ss += (double)rec[i] * rec[i];
        double sd = sqrt(ss / (64 * 64));
        printf("noise std after %s (cutoff %.1f): %.4f\n", hg_ct_filter_name(order[c].f),
               (double)order[c].cutoff, sd);
        CHECK_MSG(sd < prev, "%s cutoff %g: std %g not below %g", hg_ct_filter_name(order[c].f),
                  (double)order[c].cutoff, sd, prev);
        prev = sd;
        hg_linop_free(R);
    }
    CHECK_NULL_WITH(hg_ct_fbp(&g, HG_CT_RAMP, 0.0f), "cutoff must be in (0, 1], got 0");
    CHECK_NULL_WITH(hg_ct_fbp(&g, (hg_ct_filter)9, 1.0f), "unknown filter 9");
    /* data that does not match the geometry: a batch of sinograms with 94 detectors */
    hg_linop *R = hg_ct_fbp(&g, HG_CT_RAMP, 1.0f);
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *bad = hg_new(ctx, 3, 90, 94);
    bad->name = "sinogram";
    CHECK_NULL_WITH(hg_linop_apply(ctx, R, bad, false),
                    "ct_fbp_parallel: sinogram: expected real shape [..., 90, 95], got real [3, 90, 94]");
    hg_tensor *ok = hg_new(ctx, 3, 90, 95);
    hg_tensor *rec3 = hg_linop_apply(ctx, R, ok, false);
    CHECK(rec3 && rec3->ndim == 3 && rec3->shape[0] == 3 && rec3->shape[1] == 64 && rec3->shape[2] == 64);
    hg_ctx_free(ctx);
    hg_linop_free(R);
    free(noise), free(rec);
}

static const hg_linop *g_op;
static hg_tensor *apply_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    return hg_linop_apply(ctx, g_op, in[0], *(bool *)user);
}

static void test_gradcheck(void)
{
    float ang[5];
    hg_ct_angles_uniform(ang, 5, 0.2, PI);
    hg_ct_geometry gs[2] = {hg_ct_parallel(6, 5, 1.0f, 5, ang, 9, 1.0f),
                            hg_ct_fan(HG_CT_FAN_ARC, 6, 5, 1.0f, 5, ang, 11, 1.0f, 20.0f, 35.0f)};
    for (int k = 0; k < 2; k++) {
        hg_linop *A = hg_ct_projector(&gs[k]);
        REQUIRE(A);
        g_op = A;
        for (int adj = 0; adj < 2; adj++) {
            hg_tensor *x = adj ? hg_new(NULL, 2, 5, 9 + 2 * k) : hg_new(NULL, 2, 5, 6);
            hg_test_fill(x, 3 + adj, -1, 1);
            x->requires_grad = true;
            bool flag = adj;
            CHECK_OK(hg_gradcheck(apply_fn, &x, 1, &flag, NULL, NULL));
            hg_tensor_free(x);
        }
        hg_linop_free(A);
    }
}

int main(void)
{
    test_fan();
    test_fdk();
    test_filters();
    test_gradcheck();
    return hg_test_finish("test_ct_fbp");
}
