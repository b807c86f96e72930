/* Coil maps: simulated maps, RSS and SENSE combination, ESPIRiT against the true maps of
 * simulated data and against BART's ecalib on bart phantom -x 64 -s 8 -k. */
#include "hinge/cfl.h"
#include "hinge/mri.h"
#include "test_util.h"

#include <string.h>

/* Per-pixel |<a, b>| / (|a| |b|) over pixels where both maps are non-zero (and inside
 * `support` when given): mean and minimum; count of such pixels. */
static int64_t g_above; /* pixels of the last map_agreement with |<a, b>| > 0.99 */

static void map_agreement(const hg_tensor *a, const hg_tensor *b, const float *support,
                          double *mean, double *min, int64_t *pixels)
{
    int64_t nc = a->shape[0], n = a->numel / nc, used = 0;
    g_above = 0;
    double sum = 0, lo = 1;
    for (int64_t i = 0; i < n; i++) {
        if (support && support[i] == 0)
            continue;
        double re = 0, im = 0, na = 0, nb = 0;
        for (int64_t c = 0; c < nc; c++) {
            const float *x = a->data + 2 * (c * n + i), *y = b->data + 2 * (c * n + i);
            re += (double)x[0] * y[0] + (double)x[1] * y[1];
            im += (double)x[0] * y[1] - (double)x[1] * y[0];
            na += (double)x[0] * x[0] + (double)x[1] * x[1];
            nb += (double)y[0] * y[0] + (double)y[1] * y[1];
        }
        if (na == 0 || nb == 0)
            continue;
        double r = sqrt(re * re + im * im) / sqrt(na * nb);
        sum += r, lo = fmin(lo, r), used++;
        g_above += r > 0.99;
    }
    *mean = used ? sum / (double)used : 0, *min = lo, *pixels = used;
}

/* An ellipse with a smooth texture, and its support. */
static void phantom(int64_t ny, int64_t nx, hg_tensor *x, float *support)
{
    for (int64_t y = 0; y < ny; y++)
        for (int64_t i = 0; i < nx; i++) {
            double u = (i - nx / 2) / (0.7 * nx / 2), v = (y - ny / 2) / (0.85 * ny / 2);
            bool in = u * u + v * v < 1.0;
            double val = in ? 1.0 + 0.5 * cos(3 * u) * sin(2 * v) : 0.0;
            x->data[2 * (y * nx + i)] = (float)val;
            x->data[2 * (y * nx + i) + 1] = (float)(0.2 * val * u);
            support[y * nx + i] = in;
        }
}

static void simulated(void)
{
    int64_t ny = 64, nx = 64, shape[2] = {64, 64};
    hg_tensor *sens = hg_mri_coils_sim(NULL, 2, shape, 8, NULL);
    REQUIRE(sens && sens->ndim == 3 && sens->shape[0] == 8);
    double worst = 0;
    for (int64_t i = 0; i < ny * nx; i++) {
        double s = 0;
        for (int c = 0; c < 8; c++) {
            const float *v = sens->data + 2 * (c * ny * nx + i);
            s += (double)v[0] * v[0] + (double)v[1] * v[1];
        }
        worst = fmax(worst, fabs(s - 1.0));
    }
    CHECK_MSG(worst < 1e-5, "sum |s_c|^2 - 1 up to %.3g", worst);
    /* Coils see different parts: coil 0 (at +x) is stronger at the right than the left. */
    const float *r = sens->data + 2 * (32 * 64 + 60), *l = sens->data + 2 * (32 * 64 + 3);
    CHECK(hypot(r[0], r[1]) > 2 * hypot(l[0], l[1]));

    /* 3-D maps: normalized too, and different along z for coils above / below the centre. */
    hg_tensor *s3 = hg_mri_coils_sim(NULL, 3, (int64_t[]){8, 16, 12}, 4, NULL);
    REQUIRE(s3 && s3->ndim == 4 && s3->shape[0] == 4 && s3->shape[1] == 8);
    double worst3 = 0;
    for (int64_t i = 0; i < 8 * 16 * 12; i++) {
        double sum = 0;
        for (int c = 0; c < 4; c++) {
            const float *v = s3->data + 2 * (c * 8 * 16 * 12 + i);
            sum += (double)v[0] * v[0] + (double)v[1] * v[1];
        }
        worst3 = fmax(worst3, fabs(sum - 1.0));
    }
    CHECK(worst3 < 1e-5);
    const float *top = s3->data + 2 * (7 * 16 * 12 + 8 * 12 + 6), *bottom = s3->data + 2 * (8 * 12 + 6);
    CHECK(fabs(hypot(top[0], top[1]) - hypot(bottom[0], bottom[1])) > 1e-3);
    hg_tensor_free(s3);
    /* Support zeros the maps outside; a wrong support shape names both shapes. */
    hg_tensor *sup = hg_new(NULL, 64, 64);
    for (int64_t i = 0; i < 64 * 32; i++)
        sup->data[i] = 1.0f;
    hg_tensor *half = hg_mri_coils_sim(NULL, 2, shape, 8, sup);
    REQUIRE(half);
    CHECK(half->data[2 * (64 * 40 + 5)] == 0.0f && half->data[2 * (64 * 10 + 5)] != 0.0f);
    hg_tensor_free(half), hg_tensor_free(sup);
    hg_tensor *bad = hg_new(NULL, 32, 64);
    bad->name = "body";
    CHECK_NULL_WITH(hg_mri_coils_sim(NULL, 2, shape, 8, bad),
                    "support body is [32, 64], expected real [64, 64]");
    hg_tensor_free(bad);

    hg_tensor *x = hg_new_complex(NULL, 64, 64);
    float support[64 * 64];
    phantom(ny, nx, x, support);
    hg_linop *a = hg_linop_sense(sens, NULL);
    REQUIRE(a);
    hg_tensor *k = hg_tensor_new(NULL, HG_C64, 3, sens->shape);
    CHECK_OK(hg_linop_forward(a, x->data, k->data));

    /* ESPIRiT from the fully sampled centre recovers the maps up to a phase per pixel. */
    hg_tensor *eig = NULL;
    hg_tensor *est = hg_mri_espirit(NULL, k, NULL, &eig);
    REQUIRE(est && eig);
    double mean, min;
    int64_t used;
    map_agreement(est, sens, support, &mean, &min, &used);
    int64_t inside = 0;
    for (int i = 0; i < 64 * 64; i++)
        inside += support[i] != 0;
    printf("espirit vs true maps (inside the object, %lld of %lld pixels kept): mean "
           "|<s,t>| %.5f, min %.5f\n",
           (long long)used, (long long)inside, mean, min);
    CHECK(used > 0.98 * inside);
    CHECK_MSG(mean > 0.995 && min > 0.95, "mean %.4f min %.4f", mean, min);
    /* Only the calibration region is read: 4x line-undersampled data with a 32-line fully
     * sampled centre give the same maps. */
    {
        float lines[64];
        CHECK_OK(hg_mri_mask_lines(HG_MASK_EQUISPACED, 64, 0.5, 4, 1, NULL, lines, NULL));
        hg_tensor *ku = hg_tensor_clone(NULL, k);
        for (int64_t i = 0; i < ku->numel; i++)
            if (lines[i % 64] == 0.0f)
                ku->data[2 * i] = ku->data[2 * i + 1] = 0.0f;
        hg_tensor *est2 = hg_mri_espirit(NULL, ku, NULL, NULL);
        REQUIRE(est2);
        CHECK(memcmp(est2->data, est->data, (size_t)hg_tensor_nfloats(est) * 4) == 0);
        hg_tensor_free(est2), hg_tensor_free(ku);
    }
    /* The SENSE combination of the coil images with the estimated maps gives the image back
     * up to the maps' phase: compare magnitudes inside the object. */
    hg_linop *f = hg_linop_fft(3, k->shape, 2);
    hg_tensor *ci = hg_tensor_new(NULL, HG_C64, 3, k->shape);
    CHECK_OK(hg_linop_adjoint(f, k->data, ci->data));
    hg_tensor *comb = hg_mri_sense_combine(NULL, ci, est);
    hg_tensor *rss = hg_mri_rss(NULL, ci);
    REQUIRE(comb && rss);
    double num = 0, den = 0, rnum = 0;
    for (int64_t i = 0; i < ny * nx; i++) {
        if (!support[i])
            continue;
        double t = hypot(x->data[2 * i], x->data[2 * i + 1]);
        double e = hypot(comb->data[2 * i], comb->data[2 * i + 1]);
        num += (e - t) * (e - t), den += t * t;
        rnum += (rss->data[i] - t) * (rss->data[i] - t); /* maps normalized: RSS = |x| */
    }
    printf("espirit sense-combined |image| NRMSE %.2e, rss NRMSE %.2e\n", sqrt(num / den),
           sqrt(rnum / den));
    CHECK(sqrt(num / den) < 0.01);
    CHECK(sqrt(rnum / den) < 1e-5);
    hg_tensor_free(comb), hg_tensor_free(rss), hg_tensor_free(ci), hg_linop_free(f);

    /* Mismatches name both sides. */
    hg_tensor *six = hg_new_complex(NULL, 6, 64, 64);
    six->name = "coil images", sens->name = "sens";
    CHECK_NULL_WITH(hg_mri_sense_combine(NULL, six, sens),
                    "coil images has 6 coils, sens has 8");
    CHECK_NULL_WITH(hg_mri_espirit(NULL, six, &(hg_espirit_opts){.calib = 80}, NULL),
                    "calibration region 80");
    hg_tensor_free(six);
    hg_tensor_free(est), hg_tensor_free(eig), hg_tensor_free(k), hg_tensor_free(x);
    hg_linop_free(a);
    hg_tensor_free(sens);
}

/* Against BART 0.8 ecalib -m 1 (defaults: calibration 24, kernel 6) on its phantom. */
static void against_bart(void)
{
    hg_tensor *k = hg_cfl_read(hg_test_fixture("mri/bart_ksp"), NULL);
    hg_tensor *ref = hg_cfl_read(hg_test_fixture("mri/bart_maps"), NULL);
    hg_tensor *cimg = hg_cfl_read(hg_test_fixture("mri/bart_cimg"), NULL);
    REQUIRE(k && ref && cimg);
    int64_t s3[3] = {8, 64, 64}; /* [8, 1, 64, 64] -> [8, 64, 64]: same bytes */
    k->ndim = ref->ndim = cimg->ndim = 3;
    memcpy(k->shape, s3, sizeof s3), memcpy(ref->shape, s3, sizeof s3);
    memcpy(cimg->shape, s3, sizeof s3);
    hg_tensor *est = hg_mri_espirit(NULL, k, NULL, NULL);
    REQUIRE(est);
    double mean, min;
    int64_t used, ours = 0, theirs = 0, both = 0;
    map_agreement(est, ref, NULL, &mean, &min, &used);
    for (int64_t i = 0; i < 64 * 64; i++) {
        bool a = est->data[2 * i] != 0 || est->data[2 * i + 1] != 0;
        bool b = ref->data[2 * i] != 0 || ref->data[2 * i + 1] != 0;
        ours += a, theirs += b, both += a && b;
    }
    double frac = (double)g_above / (double)used;
    printf("espirit vs bart ecalib: %lld pixels in both masks (ours %lld, bart %lld); "
           "|<s,t>|: mean %.5f, min %.5f, > 0.99 at %.2f %% of the pixels\n",
           (long long)both, (long long)ours, (long long)theirs, mean, min, 100 * frac);
    /* Same kernels and crop rule as BART (-t 0.001, -c 0.8): the same support. The maps
     * agree up to a phase per pixel except a few pixels at the field-of-view edge. */
    CHECK_MSG(mean > 0.995 && frac > 0.97, "mean agreement %.4f, %.4f above 0.99", mean, frac);
    CHECK(both >= 0.99 * theirs && both >= 0.99 * ours);
    /* SENSE combination with either map set: same magnitude image where both are defined. */
    hg_tensor *a = hg_mri_sense_combine(NULL, cimg, est), *b = hg_mri_sense_combine(NULL, cimg, ref);
    REQUIRE(a && b);
    double num = 0, den = 0;
    for (int64_t i = 0; i < 64 * 64; i++) {
        double x = hypot(a->data[2 * i], a->data[2 * i + 1]);
        double y = hypot(b->data[2 * i], b->data[2 * i + 1]);
        if (x == 0 || y == 0)
            continue;
        num += (x - y) * (x - y), den += y * y;
    }
    printf("sense-combined |image|: ours vs bart maps NRMSE %.2e\n", sqrt(num / den));
    CHECK(sqrt(num / den) < 0.02);
    hg_tensor_free(a), hg_tensor_free(b);
    hg_tensor_free(est), hg_tensor_free(k), hg_tensor_free(ref), hg_tensor_free(cimg);
}

int main(void)
{
    simulated();
    against_bart();
    return hg_test_finish("test_mri_coils");
}
