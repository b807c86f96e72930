/* Expected calibration error and reliability diagram (data + PNG). */
#include "hinge/image.h"
#include "hinge/seg_metrics.h"

#include <math.h>
#include <string.h>

hg_status hg_calibration_compute(const float *prob, const float *label, int64_t n, int32_t bins,
                                 hg_calibration *out)
{
    const char *M = "calibration";
    if (!prob || !label || !out || n < 1)
        return hg_error(HG_ERR_INVALID, "%s: NULL argument or n = %lld < 1", M, (long long)n);
    if (bins < 1 || bins > HG_CALIB_MAX_BINS)
        return hg_error(HG_ERR_INVALID, "%s: %d bins, expected 1..%d", M, bins,
                        HG_CALIB_MAX_BINS);
    double sum_p[HG_CALIB_MAX_BINS] = {0}, sum_y[HG_CALIB_MAX_BINS] = {0};
    memset(out, 0, sizeof *out);
    out->bins = bins;
    for (int64_t i = 0; i < n; i++) {
        double p = prob[i];
        if (!(p >= 0 && p <= 1))
            return hg_error(HG_ERR_INVALID, "%s: probability[%lld] = %g, expected in [0, 1]", M,
                            (long long)i, p);
        if (label[i] != 0.0f && label[i] != 1.0f)
            return hg_error(HG_ERR_INVALID, "%s: label[%lld] = %g, expected 0 or 1", M,
                            (long long)i, (double)label[i]);
        /* number of inner edges k/bins <= p, as numpy's searchsorted(side='right') */
        int b = (int)floor(p * bins);
        if (b > bins - 1)
            b = bins - 1;
        if (b < bins - 1 && (double)(b + 1) / bins <= p)
            b++;
        else if (b > 0 && (double)b / bins > p)
            b--;
        out->count[b]++;
        sum_p[b] += p;
        sum_y[b] += label[i];
    }
    for (int b = 0; b < bins; b++) {
        if (!out->count[b]) {
            out->confidence[b] = out->frequency[b] = NAN;
            continue;
        }
        out->confidence[b] = sum_p[b] / (double)out->count[b];
        out->frequency[b] = sum_y[b] / (double)out->count[b];
        double gap = fabs(out->frequency[b] - out->confidence[b]);
        out->ece += (double)out->count[b] / (double)n * gap;
        out->mce = fmax(out->mce, gap);
    }
    return HG_OK;
}

static void put(uint8_t *px, int32_t size, int32_t x, int32_t y, uint8_t r, uint8_t g, uint8_t b)
{
    if (x < 0 || y < 0 || x >= size || y >= size)
        return;
    uint8_t *p = px + 3 * ((size_t)(size - 1 - y) * (size_t)size + (size_t)x); /* y up */
    p[0] = r;
    p[1] = g;
    p[2] = b;
}

hg_status hg_calibration_png(const char *path, const hg_calibration *c, int32_t size)
{
    if (!path || !c || c->bins < 1 || c->bins > HG_CALIB_MAX_BINS)
        return hg_error(HG_ERR_INVALID, "calibration_png: NULL path or invalid calibration");
    if (size < 32 || size > 4096)
        return hg_error(HG_ERR_INVALID, "calibration_png: size %d, expected 32..4096", size);
    uint8_t *px = hg_malloc((size_t)size * (size_t)size * 3);
    if (!px)
        return HG_ERR_NOMEM;
    memset(px, 255, (size_t)size * (size_t)size * 3);
    int32_t bw = size / c->bins;
    for (int32_t b = 0; b < c->bins; b++) {
        if (!c->count[b])
            continue;
        int32_t x0 = b * bw, x1 = b == c->bins - 1 ? size : x0 + bw;
        int32_t hf = (int32_t)lround(c->frequency[b] * (size - 1));
        int32_t hc = (int32_t)lround(c->confidence[b] * (size - 1));
        for (int32_t x = x0; x < x1 - 1; x++) {
            for (int32_t y = 0; y <= hf; y++)
                put(px, size, x, y, 60, 110, 200);
            for (int32_t y = hf < hc ? hf : hc; y <= (hf < hc ? hc : hf); y++)
                put(px, size, x, y, 220, 60, 50);
        }
    }
    for (int32_t i = 0; i < size; i++)
        put(px, size, i, i, 90, 90, 90);
    hg_status s = hg_png_write(path, px, size, size, 3);
    hg_free(px);
    return s;
}
