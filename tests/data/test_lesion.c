/* Synthetic lesions in brain slices: reproducibility, the lesion's geometry and contrast
 * against its recorded parameters, the held-out split, and bad options. Uses synthetic
 * backgrounds; the Colin27 part runs when mricron-data is installed. */
#include "hinge/lesion.h"
#include "test_util.h"

#include <string.h>
#include <unistd.h>

static bool same(const hg_tensor *a, const hg_tensor *b)
{
    return a->numel == b->numel && memcmp(a->data, b->data, (size_t)a->numel * 4) == 0;
}

static void test_samples(void)
{
    hg_lesion_source src;
    CHECK_OK(hg_lesion_source_synthetic(20, 48, 5, &src));
    CHECK(src.n_train == 16 && src.n_test == 4);
    for (int64_t i = 0; i < src.n_test; i++)
        for (int64_t j = 0; j < src.n_train; j++)
            CHECK(src.test[i] != src.train[j]);
    hg_lesion_opts o = hg_lesion_opts_default(48);
    o.p_lesion = 1.0f;
    hg_tensor *a = hg_new(NULL, 1, 48, 48), *b = hg_new(NULL, 1, 48, 48);
    hg_tensor *ma = hg_new(NULL, 48, 48), *mb = hg_new(NULL, 48, 48);
    hg_lesion_info ia, ib;
    CHECK_OK(hg_lesion_sample(&o, &src, false, 9, 3, a, ma, &ia));
    CHECK_OK(hg_lesion_sample(&o, &src, false, 9, 3, b, mb, &ib));
    CHECK(same(a, b) && same(ma, mb)); /* a pure function of (seed, index) */
    CHECK_OK(hg_lesion_sample(&o, &src, false, 9, 4, b, mb, &ib));
    CHECK(!same(a, b));
    CHECK_OK(hg_lesion_sample(&o, &src, false, 10, 3, b, mb, &ib));
    CHECK(!same(a, b));

    /* Geometry and contrast: without noise, image - background is the lesion alone. */
    o.noise = 0;
    int64_t checked = 0, mask_outside_brain = 0, area_wrong = 0, sign_wrong = 0, far_changed = 0;
    double max_rel_contrast = 0;
    for (int64_t i = 0; i < 40; i++) {
        hg_lesion_info l;
        CHECK_OK(hg_lesion_sample(&o, &src, i % 2, 1, i, a, ma, &l));
        const float *bg = src.slices->data + l.slice * 48 * 48;
        const float *br = src.brain->data + l.slice * 48 * 48;
        double brain_sum = 0, peak = 0;
        int64_t brain_n = 0, area = 0;
        for (int64_t y = 0; y < 48; y++)
            for (int64_t x = 0; x < 48; x++) {
                int64_t from = y * 48 + (l.flipped ? 47 - x : x), at = y * 48 + x;
                double d = a->data[at] - bg[from];
                brain_sum += br[from] > 0 ? bg[from] : 0;
                brain_n += br[from] > 0;
                area += ma->data[at] > 0;
                mask_outside_brain += ma->data[at] > 0 && !(br[from] > 0);
                if (fabs(d) > fabs(peak))
                    peak = d;
                /* beyond 3 edge widths outside the ellipse the change is below e^-12 */
                double dy = (double)y - l.cy, dx = (double)x - l.cx;
                double u = (cos(l.angle) * dy + sin(l.angle) * dx) / l.ry;
                double v = (-sin(l.angle) * dy + cos(l.angle) * dx) / l.rx;
                double r = sqrt(u * u + v * v), rbar = 0.5 * (l.ry + l.rx);
                if ((r - 1) * rbar > 3 * o.edge && fabs(d) > 1e-4)
                    far_changed++;
            }
        area_wrong += area != l.area || area < 1 ||
                      area > 3.1416 * o.radius_max * o.radius_max + 4 * o.radius_max;
        CHECK(l.ry >= o.radius_min && l.ry <= o.radius_max && l.rx >= o.radius_min &&
              l.rx <= o.radius_max);
        CHECK(fabs(l.contrast) >= o.contrast_min && fabs(l.contrast) <= o.contrast_max);
        /* the peak change is the contrast times the mean brain intensity (w reaches ~1 at
         * the centre of all but the smallest lesions) */
        double want = l.contrast * brain_sum / (double)brain_n;
        sign_wrong += peak * want <= 0;
        max_rel_contrast = fmax(max_rel_contrast, fabs(peak) / fabs(want));
        checked++;
    }
    printf("40 lesions: peak change / (contrast x mean brain) <= %.3f; masks outside the "
           "brain %lld, wrong areas %lld, wrong signs %lld, far pixels changed %lld\n",
           max_rel_contrast, (long long)mask_outside_brain, (long long)area_wrong,
           (long long)sign_wrong, (long long)far_changed);
    CHECK(checked == 40 && mask_outside_brain == 0 && area_wrong == 0 && sign_wrong == 0);
    CHECK(far_changed == 0);
    CHECK(max_rel_contrast <= 1.0 + 1e-4 && max_rel_contrast > 0.9);

    /* p_lesion 0: no lesion, empty mask, the background (or its mirror) plus nothing */
    o.p_lesion = 0;
    hg_lesion_info l;
    CHECK_OK(hg_lesion_sample(&o, &src, true, 2, 0, a, ma, &l));
    double msum = 0;
    for (int64_t i = 0; i < ma->numel; i++)
        msum += ma->data[i];
    CHECK(!l.present && msum == 0 && l.area == 0);
    bool is_test = false;
    for (int64_t i = 0; i < src.n_test; i++)
        is_test |= src.test[i] == l.slice;
    CHECK(is_test);

    /* batches: labels follow p_lesion (0.5 -> both classes), masks agree with labels */
    o = hg_lesion_opts_default(48);
    hg_tensor *x, *lab, *m;
    CHECK_OK(hg_lesion_batch(&o, &src, false, 3, 0, 64, NULL, &x, &lab, &m));
    int64_t pos = 0, mismatch = 0;
    for (int64_t i = 0; i < 64; i++) {
        double s = 0;
        for (int64_t p = 0; p < 48 * 48; p++)
            s += m->data[i * 48 * 48 + p];
        pos += lab->data[i] > 0;
        mismatch += (s > 0) != (lab->data[i] > 0);
    }
    printf("batch of 64: %lld with a lesion\n", (long long)pos);
    CHECK(pos > 16 && pos < 48 && mismatch == 0);
    hg_tensor_free(x), hg_tensor_free(lab), hg_tensor_free(m);

    /* errors */
    o.radius_min = 5, o.radius_max = 2;
    CHECK_FAILS(hg_lesion_sample(&o, &src, false, 0, 0, a, ma, NULL), HG_ERR_INVALID,
                "0 < radius_min <= radius_max");
    o = hg_lesion_opts_default(48);
    hg_tensor *small = hg_new(NULL, 32, 32);
    CHECK_FAILS(hg_lesion_sample(&o, &src, false, 0, 0, small, NULL, NULL), HG_ERR_INVALID,
                "image [32, 32] (and mask) must hold 48 x 48 pixels");
    CHECK_FAILS(hg_lesion_source_synthetic(1, 48, 0, &src), HG_ERR_INVALID, "count >= 2");
    hg_tensor_free(a), hg_tensor_free(b), hg_tensor_free(ma), hg_tensor_free(mb);
    hg_tensor_free(small);
    hg_lesion_source_free(&src);
}

static void test_colin(void)
{
    if (access(HG_LESION_T1, R_OK) != 0 || access(HG_LESION_BRAIN, R_OK) != 0) {
        printf("SKIP Colin27 part: %s not installed (apt-get install mricron-data)\n",
               HG_LESION_T1);
        return;
    }
    hg_lesion_source src;
    CHECK_OK(hg_lesion_source_nifti(HG_LESION_T1, HG_LESION_BRAIN, 64, &src));
    /* every held-out slice is at least 3 slices from every training slice */
    int64_t min_gap = 1 << 30;
    for (int64_t i = 0; i < src.n_test; i++)
        for (int64_t j = 0; j < src.n_train; j++)
            min_gap = llabs(src.test[i] - src.train[j]) < min_gap
                          ? llabs(src.test[i] - src.train[j]) : min_gap;
    printf("Colin27: %lld slices, %lld training, %lld held out, min gap %lld slices\n",
           (long long)src.slices->shape[0], (long long)src.n_train, (long long)src.n_test,
           (long long)min_gap);
    CHECK(min_gap >= 3 && src.n_test >= 10 && src.n_train >= 4 * src.n_test);
    /* intensities: brain scaled so its 99th percentile is ~1 */
    double mx = 0;
    for (int64_t i = 0; i < src.slices->numel; i++)
        if (src.brain->data[i] > 0)
            mx = fmax(mx, src.slices->data[i]);
    CHECK(mx > 0.8 && mx < 1.6);
    hg_lesion_source_free(&src);
    CHECK_FAILS(hg_lesion_source_nifti("/nonexistent/t1.nii.gz", HG_LESION_BRAIN, 64, &src),
                HG_ERR_IO, "lesion source: T1");
}

int main(void)
{
    test_samples();
    test_colin();
    return hg_test_finish("test_lesion");
}
