/* PSNR and NMSE (fastMRI definitions). */
#include "hinge/metrics.h"

#include "metrics_internal.h"

#include <math.h>

hg_status hg_metric_check_pair(const char *metric, const hg_tensor *pred,
                               const hg_tensor *target, bool allow_complex)
{
    if (!pred || !target)
        return hg_error(HG_ERR_INVALID, "%s: NULL tensor", metric);
    char a[64], b[64];
    if (!hg_shape_equal(pred, target) || pred->dtype != target->dtype)
        return hg_error(HG_ERR_INVALID, "%s: '%s' has shape %s%s, target '%s' has %s%s", metric,
                        hg_tensor_label(pred), hg_shape_str(pred, a, sizeof a),
                        pred->dtype == HG_C64 ? " (complex)" : "", hg_tensor_label(target),
                        hg_shape_str(target, b, sizeof b),
                        target->dtype == HG_C64 ? " (complex)" : "");
    if (!allow_complex && pred->dtype == HG_C64)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: complex tensor '%s'; take the magnitude first",
                        metric, hg_tensor_label(pred));
    if (pred->numel == 0)
        return hg_error(HG_ERR_INVALID, "%s: empty tensor '%s'", metric, hg_tensor_label(pred));
    return HG_OK;
}

hg_status hg_metric_range(const char *metric, const hg_tensor *target, double given,
                          double *range)
{
    if (given > 0) {
        *range = given;
        return HG_OK;
    }
    double mx = -INFINITY;
    for (int64_t i = 0; i < target->numel; i++)
        mx = fmax(mx, (double)target->data[i]);
    if (!(mx > 0) || !isfinite(mx))
        return hg_error(HG_ERR_INVALID, "%s: default data range max('%s') = %g must be > 0; pass "
                        "the data range", metric, hg_tensor_label(target), mx);
    *range = mx;
    return HG_OK;
}

static void sums(const hg_tensor *pred, const hg_tensor *target, double *err2, double *ref2)
{
    int64_t n = hg_tensor_nfloats(target);
    double e = 0, r = 0;
    const float *x = pred->data, *y = target->data;
#pragma omp parallel for reduction(+ : e, r) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)y[i];
        e += d * d;
        r += (double)y[i] * (double)y[i];
    }
    *err2 = e;
    *ref2 = r;
}

hg_status hg_psnr(const hg_tensor *pred, const hg_tensor *target, double data_range,
                  double *out)
{
    double range, e, r;
    hg_status s = hg_metric_check_pair("psnr", pred, target, false);
    if (!s)
        s = hg_metric_range("psnr", target, data_range, &range);
    if (s)
        return s;
    sums(pred, target, &e, &r);
    double mse = e / (double)target->numel;
    if (isnan(mse))
        return hg_error(HG_ERR_NUMERIC, "psnr: NaN in '%s' or '%s'", hg_tensor_label(pred),
                        hg_tensor_label(target));
    *out = mse == 0 ? INFINITY : 10.0 * log10(range * range / mse);
    return HG_OK;
}

hg_status hg_nmse(const hg_tensor *pred, const hg_tensor *target, double *out)
{
    double e, r;
    hg_status s = hg_metric_check_pair("nmse", pred, target, true);
    if (s)
        return s;
    sums(pred, target, &e, &r);
    if (!(r > 0))
        return hg_error(HG_ERR_NUMERIC, "nmse: target '%s' has zero (or NaN) norm",
                        hg_tensor_label(target));
    *out = e / r;
    return HG_OK;
}
