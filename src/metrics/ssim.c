/* SSIM, skimage-compatible (skimage.metrics.structural_similarity), 2-D per slice.
 *
 * The local means/variances are separable filters (a row pass then a column pass) over the
 * five maps x, y, x^2, y^2, xy, computed only where the window lies inside the image: those
 * are exactly the pixels skimage averages after cropping the filter radius, so boundary
 * handling never enters the result. Everything is in double precision.
 */
#include "hinge/metrics.h"

#include "metrics_internal.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define SSIM_K1 0.01
#define SSIM_K2 0.03
#define SSIM_SIGMA 1.5
#define SSIM_TRUNCATE 3.5
#define SSIM_MAX_WIN 63

/* Window weights (sum 1); returns the window size or 0 on a bad size. */
static int make_window(const hg_ssim_opts *o, double *w)
{
    if (o->window == HG_SSIM_GAUSSIAN) {
        int r = (int)(SSIM_TRUNCATE * SSIM_SIGMA + 0.5); /* as scipy.ndimage: 5 -> 11 taps */
        double sum = 0;
        for (int k = -r; k <= r; k++)
            sum += w[k + r] = exp(-0.5 * k * k / (SSIM_SIGMA * SSIM_SIGMA));
        for (int k = 0; k < 2 * r + 1; k++)
            w[k] /= sum;
        return 2 * r + 1;
    }
    int n = o->win_size ? o->win_size : 7;
    if (n < 1 || n % 2 == 0 || n > SSIM_MAX_WIN)
        return 0;
    for (int k = 0; k < n; k++)
        w[k] = 1.0 / n;
    return n;
}

/* Mean of S over the valid pixels of one H x W slice. rows is scratch of 5 * H * Wo doubles
 * (the row-filtered maps), acc of 5 * Wo doubles per thread. Loops run along rows so that
 * they vectorize. */
static double ssim_slice(const float *x, const float *y, int64_t h, int64_t wd, const double *w,
                         int win, double c1, double c2, double cov_norm, double *rows,
                         double *acc)
{
    int64_t wo = wd - win + 1, ho = h - win + 1, plane = h * wo;
#pragma omp parallel for schedule(static) if (h * wd > 16384)
    for (int64_t r = 0; r < h; r++) {
        double *rx = rows + r * wo, *ry = rx + plane, *rxx = ry + plane, *ryy = rxx + plane,
               *rxy = ryy + plane;
        const float *px = x + r * wd, *py = y + r * wd;
        for (int64_t c = 0; c < wo; c++)
            rx[c] = ry[c] = rxx[c] = ryy[c] = rxy[c] = 0;
        for (int k = 0; k < win; k++) {
            double wk = w[k];
            for (int64_t c = 0; c < wo; c++) {
                double a = px[c + k], b = py[c + k];
                rx[c] += wk * a, ry[c] += wk * b;
                rxx[c] += wk * a * a, ryy[c] += wk * b * b, rxy[c] += wk * a * b;
            }
        }
    }
    double total = 0;
#pragma omp parallel reduction(+ : total) if (h * wd > 16384)
    {
        double *ux = acc + (size_t)omp_get_thread_num() * 5 * (size_t)wo, *uy = ux + wo,
               *uxx = uy + wo, *uyy = uxx + wo, *uxy = uyy + wo;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < ho; r++) {
            for (int64_t c = 0; c < wo; c++)
                ux[c] = uy[c] = uxx[c] = uyy[c] = uxy[c] = 0;
            for (int k = 0; k < win; k++) {
                double wk = w[k];
                const double *rx = rows + (r + k) * wo, *ry = rx + plane, *rxx = ry + plane,
                             *ryy = rxx + plane, *rxy = ryy + plane;
                for (int64_t c = 0; c < wo; c++) {
                    ux[c] += wk * rx[c], uy[c] += wk * ry[c];
                    uxx[c] += wk * rxx[c], uyy[c] += wk * ryy[c], uxy[c] += wk * rxy[c];
                }
            }
            for (int64_t c = 0; c < wo; c++) {
                double vx = cov_norm * (uxx[c] - ux[c] * ux[c]);
                double vy = cov_norm * (uyy[c] - uy[c] * uy[c]);
                double vxy = cov_norm * (uxy[c] - ux[c] * uy[c]);
                total += (2 * ux[c] * uy[c] + c1) * (2 * vxy + c2) /
                         ((ux[c] * ux[c] + uy[c] * uy[c] + c1) * (vx + vy + c2));
            }
        }
    }
    return total / (double)(ho * wo);
}

hg_status hg_ssim(const hg_tensor *pred, const hg_tensor *target, const hg_ssim_opts *opts,
                  double *out)
{
    hg_ssim_opts o = opts ? *opts : (hg_ssim_opts){0};
    hg_status s = hg_metric_check_pair("ssim", pred, target, false);
    if (s)
        return s;
    if (target->ndim < 2)
        return hg_error(HG_ERR_INVALID, "ssim: '%s' is %d-D, expected [.., H, W]",
                        hg_tensor_label(target), target->ndim);
    double w[SSIM_MAX_WIN];
    int win = make_window(&o, w);
    if (win == 0)
        return hg_error(HG_ERR_INVALID, "ssim: win_size %d, expected odd, 1..%d",
                        (int)o.win_size, SSIM_MAX_WIN);
    int64_t h = target->shape[target->ndim - 2], wd = target->shape[target->ndim - 1];
    if (h < win || wd < win)
        return hg_error(HG_ERR_INVALID, "ssim: slices of '%s' are %lld x %lld, smaller than the "
                        "%d x %d window", hg_tensor_label(target), (long long)h, (long long)wd,
                        win, win);
    double range;
    if ((s = hg_metric_range("ssim", target, o.data_range, &range)))
        return s;
    double np = (double)win * win;
    double cov_norm = o.population_covariance ? 1.0 : np / (np - 1);
    if (win == 1)
        cov_norm = 1.0;
    double c1 = (SSIM_K1 * range) * (SSIM_K1 * range), c2 = (SSIM_K2 * range) * (SSIM_K2 * range);
    int64_t wo = wd - win + 1;
    int threads = omp_get_max_threads();
    double *rows = hg_malloc((size_t)(5 * (h + threads) * wo) * sizeof(double));
    if (!rows)
        return hg_error_context(hg_error_status(), "ssim");
    double *acc = rows + 5 * h * wo;
    int64_t slices = target->numel / (h * wd);
    double total = 0;
    for (int64_t i = 0; i < slices; i++)
        total += ssim_slice(pred->data + i * h * wd, target->data + i * h * wd, h, wd, w, win, c1,
                            c2, cov_norm, rows, acc);
    hg_free(rows);
    *out = total / (double)slices;
    if (isnan(*out))
        return hg_error(HG_ERR_NUMERIC, "ssim: NaN (NaN or Inf in '%s' or '%s')",
                        hg_tensor_label(pred), hg_tensor_label(target));
    return HG_OK;
}
