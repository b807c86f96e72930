/* Intensity harmonization: per-image z-score, percentile scaling, Nyul histogram
 * standardization. */
#include "hinge/seg_data.h"

#include <math.h>
#include <stdlib.h>

static hg_status check_image(const char *who, const hg_tensor *t)
{
    if (!t || t->dtype != HG_F32 || t->numel < 2)
        return hg_error(HG_ERR_INVALID, "%s: image '%s' must be a real tensor of >= 2 voxels",
                        who, hg_tensor_label(t));
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(t->data[i]))
            return hg_error(HG_ERR_NUMERIC, "%s: '%s'[%lld] = %g, expected finite", who,
                            hg_tensor_label(t), (long long)i, (double)t->data[i]);
    return HG_OK;
}

hg_status hg_harmonize_zscore(hg_tensor *image, const hg_tensor *mask)
{
    hg_status s = check_image("zscore", image);
    if (s)
        return s;
    if (mask && mask->numel != image->numel)
        return hg_error(HG_ERR_INVALID, "zscore: mask '%s' has %lld voxels, image '%s' %lld",
                        hg_tensor_label(mask), (long long)mask->numel, hg_tensor_label(image),
                        (long long)image->numel);
    double sum = 0, sum2 = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < image->numel; i++)
        if (!mask || mask->data[i] > 0) {
            sum += image->data[i];
            n++;
        }
    if (n < 2)
        return hg_error(HG_ERR_INVALID, "zscore: mask '%s' selects %lld voxels, expected >= 2",
                        hg_tensor_label(mask), (long long)n);
    double mean = sum / (double)n;
    for (int64_t i = 0; i < image->numel; i++)
        if (!mask || mask->data[i] > 0)
            sum2 += (image->data[i] - mean) * (image->data[i] - mean);
    double sd = sqrt(sum2 / (double)n); /* population std, as nnU-Net / TorchIO */
    if (!(sd > 0))
        return hg_error(HG_ERR_NUMERIC, "zscore: image '%s' is constant", hg_tensor_label(image));
    for (int64_t i = 0; i < image->numel; i++)
        image->data[i] = (float)((image->data[i] - mean) / sd);
    return HG_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, int64_t n, double q)
{
    double pos = q / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1)
        return sorted[n - 1];
    return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (pos - (double)lo);
}

/* The 11 Nyul landmarks (or any list of percentiles) of an image. */
static hg_status percentiles(const hg_tensor *t, const double *q, int nq, double *out)
{
    double *v = hg_malloc(sizeof(double) * (size_t)t->numel);
    if (!v)
        return HG_ERR_NOMEM;
    for (int64_t i = 0; i < t->numel; i++)
        v[i] = t->data[i];
    qsort(v, (size_t)t->numel, sizeof *v, cmp_double);
    for (int k = 0; k < nq; k++)
        out[k] = pct(v, t->numel, q[k]);
    hg_free(v);
    return HG_OK;
}

hg_status hg_harmonize_percentile(hg_tensor *image, double p_lo, double p_hi)
{
    hg_status s = check_image("percentile", image);
    if (s)
        return s;
    if (!(p_lo >= 0 && p_lo < p_hi && p_hi <= 100))
        return hg_error(HG_ERR_INVALID, "percentile: %g..%g, expected 0 <= lo < hi <= 100", p_lo,
                        p_hi);
    double q[2] = {p_lo, p_hi}, v[2];
    if ((s = percentiles(image, q, 2, v)))
        return s;
    if (!(v[1] > v[0]))
        return hg_error(HG_ERR_NUMERIC, "percentile: image '%s' has equal %g and %g "
                        "percentiles (%g)", hg_tensor_label(image), p_lo, p_hi, v[0]);
    for (int64_t i = 0; i < image->numel; i++)
        image->data[i] = (float)((image->data[i] - v[0]) / (v[1] - v[0]));
    return HG_OK;
}

static void nyul_q(const hg_nyul *n, double q[HG_NYUL_LANDMARKS])
{
    q[0] = n->p_lo;
    for (int k = 1; k < HG_NYUL_LANDMARKS - 1; k++)
        q[k] = 10.0 * k;
    q[HG_NYUL_LANDMARKS - 1] = n->p_hi;
}

hg_status hg_nyul_init(hg_nyul *n, double p_lo, double p_hi, double s_min, double s_max)
{
    if (!n || !(p_lo >= 0 && p_lo < 10 && p_hi > 90 && p_hi <= 100 && s_min < s_max))
        return hg_error(HG_ERR_INVALID, "nyul: percentiles %g..%g (expected [0, 10) and "
                        "(90, 100]) or scale %g..%g invalid", p_lo, p_hi, s_min, s_max);
    *n = (hg_nyul){.p_lo = p_lo, .p_hi = p_hi, .s_min = s_min, .s_max = s_max};
    return HG_OK;
}

hg_status hg_nyul_fit(hg_nyul *n, const hg_tensor *const *images, int32_t count)
{
    if (!n || !images || count < 1 || !(n->s_max > n->s_min))
        return hg_error(HG_ERR_INVALID, "nyul: fit needs an initialized model and >= 1 image");
    double q[HG_NYUL_LANDMARKS], sum[HG_NYUL_LANDMARKS] = {0};
    nyul_q(n, q);
    for (int32_t j = 0; j < count; j++) {
        double l[HG_NYUL_LANDMARKS];
        hg_status s = check_image("nyul", images[j]);
        if (!s)
            s = percentiles(images[j], q, HG_NYUL_LANDMARKS, l);
        if (s)
            return hg_error_context(s, "nyul: image %d", j);
        double span = l[HG_NYUL_LANDMARKS - 1] - l[0];
        if (!(span > 0))
            return hg_error(HG_ERR_NUMERIC, "nyul: image %d ('%s') has no intensity spread", j,
                            hg_tensor_label(images[j]));
        for (int k = 0; k < HG_NYUL_LANDMARKS; k++)
            sum[k] += n->s_min + (l[k] - l[0]) / span * (n->s_max - n->s_min);
    }
    for (int k = 0; k < HG_NYUL_LANDMARKS; k++)
        n->standard[k] = sum[k] / count;
    n->trained = count;
    return HG_OK;
}

hg_status hg_nyul_apply(const hg_nyul *n, hg_tensor *image)
{
    if (!n || n->trained < 1)
        return hg_error(HG_ERR_STATE, "nyul: apply before fit");
    hg_status s = check_image("nyul", image);
    double q[HG_NYUL_LANDMARKS], l[HG_NYUL_LANDMARKS];
    nyul_q(n, q);
    if (!s)
        s = percentiles(image, q, HG_NYUL_LANDMARKS, l);
    if (s)
        return s;
    for (int k = 1; k < HG_NYUL_LANDMARKS; k++)
        if (!(l[k] > l[k - 1]))
            return hg_error(HG_ERR_NUMERIC, "nyul: image '%s' has repeated landmarks at "
                            "percentiles %g and %g (value %g); too few distinct intensities",
                            hg_tensor_label(image), q[k - 1], q[k], l[k]);
    const double *st = n->standard;
    for (int64_t i = 0; i < image->numel; i++) {
        double x = image->data[i];
        int k = 0; /* segment [l[k], l[k+1]]; the end segments extrapolate */
        while (k < HG_NYUL_LANDMARKS - 2 && x > l[k + 1])
            k++;
        image->data[i] = (float)(st[k] + (x - l[k]) * (st[k + 1] - st[k]) / (l[k + 1] - l[k]));
    }
    return HG_OK;
}
