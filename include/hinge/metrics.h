/* Image quality metrics, as used in reconstruction papers (fastMRI conventions).
 *
 * All take pred and target tensors of identical shape and compute in double precision.
 * The default data range (data_range <= 0) is max(target), as fastMRI's evaluation does;
 * pass the true dynamic range (e.g. max - min of the reference volume) to compare with
 * papers that use another convention.
 */
#ifndef HINGE_METRICS_H
#define HINGE_METRICS_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 10 log10(R^2 / MSE); +inf when pred == target. Real tensors only. */
hg_status hg_psnr(const hg_tensor *pred, const hg_tensor *target, double data_range,
                  double *out);
/* fastMRI's NMSE: ||target - pred||^2 / ||target||^2 (complex: squared magnitudes). */
hg_status hg_nmse(const hg_tensor *pred, const hg_tensor *target, double *out);

typedef enum hg_ssim_window {
    HG_SSIM_UNIFORM = 0, /* skimage's default: 7x7 box */
    HG_SSIM_GAUSSIAN = 1 /* gaussian_weights=True: sigma 1.5, 11 taps (truncate 3.5) */
} hg_ssim_window;

typedef struct hg_ssim_opts {
    hg_ssim_window window;
    double data_range;          /* <= 0: max(target) */
    int32_t win_size;           /* odd, uniform window only; 0: 7 */
    bool population_covariance; /* false (skimage default): sample covariance, N/(N-1) */
} hg_ssim_opts;

/* Mean SSIM of the 2-D slices [.., H, W] (each slice as skimage's structural_similarity with
 * K1 0.01, K2 0.03, averaging S over the pixels whose window lies inside the image), then
 * averaged over slices. opts may be NULL (skimage defaults, uniform 7x7). H and W must be at
 * least the window size. */
hg_status hg_ssim(const hg_tensor *pred, const hg_tensor *target, const hg_ssim_opts *opts,
                  double *out);

#ifdef __cplusplus
}
#endif
#endif
