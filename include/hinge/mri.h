/* MRI physics on the linear-operator interface (include/hinge/linop.h): the centred
 * orthonormal FFT, multi-coil Cartesian SENSE, sampling masks, coil sensitivities (simulated
 * and ESPIRiT-estimated), coil combination and CG-SENSE.
 *
 * Conventions
 * - Complex data are HG_C64 (interleaved re, im). An image is [*S] with S = [H, W] or
 *   [D, H, W]; multi-coil data are [coils, *S]. k-space is centred: DC at index n/2 of each
 *   dimension (integer division), as in fastMRI, BART and numpy's fftshift.
 * - The FFT is fftshift(fft(ifftshift(x), norm="ortho")) over the image dimensions, so it is
 *   unitary and its adjoint is its inverse. Shifts are applied as diagonal phase factors
 *   (exactly +-1 for even sizes), which also lets the SENSE normal operator skip them.
 * - Random choices come from hg_rng (Philox): results depend only on the seed, not on thread
 *   count. The bit streams differ from numpy's, so masks reproduce fastMRI's definitions and
 *   statistics, not its exact draws (equispaced masks with a given offset match exactly).
 * - Operators copy what they are given (maps, masks) at creation and own FFTW plans made then
 *   (FFTW_ESTIMATE). Creating operators is not thread-safe (FFTW's planner is global);
 *   applying different operators from different threads is.
 */
#ifndef HINGE_MRI_H
#define HINGE_MRI_H

#include "hinge/core.h"
#include "hinge/linop.h"
#include "hinge/solvers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- operators ------------------------------------------------------------------------- */

/* Centred orthonormal DFT over the last `dims` (2 or 3) dimensions of a complex item of
 * shape [*shape] (ndim >= dims); leading dimensions (e.g. coils) are transformed
 * independently, in parallel. Square operator: adjoint = inverse, normal = identity. */
hg_linop *hg_linop_fft(int ndim, const int64_t *shape, int dims);

/* Cartesian SENSE: image x [*S] -> k-space y [coils, *S], y_c = M F (s_c x), with
 * sens complex [coils, *S] (S 2-D or 3-D) and mask real [*S] (sampling weights, usually
 * 0/1; NULL = fully sampled). The normal operator sum_c conj(s_c) F^H M^2 F (s_c x) is
 * applied directly: no shift phases, no k-space output, and transforms only along the
 * dimensions the mask varies along (1-D row FFTs for line masks, none when fully sampled).
 * Sums over coils run in a fixed order: results do not depend on the thread count. */
hg_linop *hg_linop_sense(const hg_tensor *sens, const hg_tensor *mask);

/* ---- sampling masks -------------------------------------------------------------------- */

typedef enum hg_mask_kind {
    /* fastMRI RandomMaskFunc: round(n * center_fraction) centre lines, every other line
     * kept with probability (n / accel - n_low) / (n - n_low). */
    HG_MASK_RANDOM = 0,
    /* fastMRI (>= 0.2) EquispacedMaskFunc: centre lines + lines offset, offset + accel, ...
     * (integer acceleration; offset drawn in [0, accel) when negative). */
    HG_MASK_EQUISPACED = 1,
    /* fastMRI EquispacedMaskFractionFunc (0.1's EquispacedMaskFunc, the public multi-coil
     * data): spacing adjusted to reach n / accel lines in total, positions
     * rint(offset + i * adjusted) < n - 1 (offset drawn in [0, rint(adjusted)) when negative). */
    HG_MASK_EQUISPACED_FRACTION = 2
} hg_mask_kind;

/* A fastMRI-style line mask over n lines (the phase-encoding direction). The centre block
 * of n_low = rint(n * center_fraction) lines starts at (n - n_low + 1) / 2. mask gets n
 * values 0/1; num_low (may be NULL) gets n_low. rng is advanced (RANDOM, or a drawn offset). */
hg_status hg_mri_mask_lines(hg_mask_kind kind, int64_t n, double center_fraction,
                            double acceleration, int64_t offset, hg_rng *rng, float *mask,
                            int64_t *num_low);

/* A line mask (n = shape[ndim-1]) broadcast over the other dimensions of a real tensor of
 * the given shape: lines vary along the last dimension, as fastMRI's masks (W). */
hg_tensor *hg_mri_mask_expand(hg_ctx *ctx, int ndim, const int64_t *shape, const float *lines);

/* Variable-density Poisson-disc mask [ny, nx] (SigPy's poisson() semantics): minimum
 * distance grows linearly with the distance from the centre; the slope is bisected until the
 * acceleration ny*nx/samples is within `tol` of `acceleration` (or 40 bisection steps); a
 * fully sampled calib_y x calib_x centre; crop_corner keeps samples inside the ellipse
 * inscribed in the grid. actual (may be NULL) gets the achieved acceleration. */
hg_status hg_mri_mask_poisson(int64_t ny, int64_t nx, double acceleration, int64_t calib_y,
                              int64_t calib_x, bool crop_corner, double tol, uint64_t seed,
                              float *mask, double *actual);

/* ---- coil sensitivities and combination ------------------------------------------------ */

/* Smooth simulated receive maps [coils, *shape] (shape 2-D [H, W] or 3-D [D, H, W]) of
 * small loops evenly spaced on a circle of radius 1.5 (in units of the half field of view)
 * around the centre, alternating above/below the centre slice in 3-D: magnitude of an
 * on-axis loop field 1 / (1 + (d/a)^2)^(3/2), phase = the azimuth seen from the coil.
 * Normalized so sum_c |s_c|^2 = 1 at every pixel; support (real [*shape], may be NULL)
 * zeros the maps where support == 0. Heap tensor when ctx is NULL. */
hg_tensor *hg_mri_coils_sim(hg_ctx *ctx, int ndim, const int64_t *shape, int coils,
                            const hg_tensor *support);

typedef struct hg_espirit_opts {
    int32_t calib;  /* calibration region size (square), default 24 */
    int32_t kernel; /* kernel size, default 6 */
    double thresh;  /* keep singular vectors with sigma^2 > thresh sigma_max^2, default
                     * 0.001 (BART ecalib -t: the same kernels for the same value) */
    double crop;    /* zero maps where the top eigenvalue < crop, default 0.8 */
    int32_t iters;  /* power iterations per pixel, default 60 */
} hg_espirit_opts;

/* ESPIRiT (Uecker et al. 2014), one set of maps: from centred 2-D multi-coil k-space
 * [coils, H, W] (the calib x calib centre fully sampled) to maps [coils, H, W] with
 * sum_c |s_c|^2 = 1 where the eigenvalue passes `crop`, phase relative to coil 0.
 * eig (may be NULL) gets the top eigenvalue map [H, W] (real, heap tensor, caller frees).
 * opts may be NULL (all defaults); in a given opts, zero calib, kernel or iters mean the
 * default while thresh and crop are used as given. Heap tensors when ctx is NULL. */
hg_tensor *hg_mri_espirit(hg_ctx *ctx, const hg_tensor *kspace, const hg_espirit_opts *opts,
                          hg_tensor **eig);

/* Root sum of squares over coils: complex [coils, *S] -> real [*S]. */
hg_tensor *hg_mri_rss(hg_ctx *ctx, const hg_tensor *coil_images);
/* SENSE (adjoint-based) combination: sum_c conj(s_c) x_c / sum_c |s_c|^2 (0 where the maps
 * vanish): complex [coils, *S] x complex [coils, *S] -> complex [*S]. */
hg_tensor *hg_mri_sense_combine(hg_ctx *ctx, const hg_tensor *coil_images,
                                const hg_tensor *sens);

/* ---- reconstruction -------------------------------------------------------------------- */

/* CG-SENSE: solves (A^H A + lambda I) x = A^H y for A = hg_linop_sense(sens, mask) with
 * hg_cg. kspace complex [coils, *S]; image complex [*S] holds the initial guess on entry
 * (zeros for the usual start) and the solution on return. */
hg_status hg_mri_cg_sense(const hg_tensor *kspace, const hg_tensor *sens, const hg_tensor *mask,
                          double lambda, const hg_solver_opts *opts, hg_tensor *image,
                          hg_solver_info *info);

#ifdef __cplusplus
}
#endif
#endif
