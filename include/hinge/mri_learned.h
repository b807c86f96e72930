/* Learned multi-coil MRI reconstruction: MoDL and E2E-VarNet-style networks (src/nn/modl.c,
 * src/nn/varnet.c), the differentiable coil/k-space ops they are built from (src/ops/), the
 * training task on Colin27 T1 slices (src/nn/train_mri.c, src/data/colin27.c).
 *
 * Input and output of both models
 *   in:  centred multi-coil k-space [N, coils, size, size] (HG_C64), zero where not sampled
 *        (as `hinge simulate mri` writes it): the sampling mask is read from the data (a
 *        k-space location is sampled when any coil has a non-zero value there).
 *   out: magnitude image [N, 1, size, size] (HG_F32).
 * Each sample is scaled by the maximum of its zero-filled root-sum-of-squares image before
 * the network and scaled back after, so a model works for any intensity scale.
 * Coil sensitivities are estimated inside the model from the auto-calibration (ACS) lines,
 * the contiguous sampled block around the k-space centre: the low-resolution coil images
 * normalized by their root sum of squares (MoDL), refined by a small U-Net (VarNet).
 *
 * Geometry keys in every MRI model's config (stored in the model file, checked against data):
 *   size (128)              image side n (n x n)
 *   coils (8)               receive coils
 *   mask (random)           random | equispaced: fastMRI line masks along the last dimension
 *   acceleration (4)        n / sampled lines
 *   center_fraction (0.08)  fraction of fully sampled centre lines (fastMRI: 0.08 at 4x, 0.04
 *                           at 8x)
 *   mask_seeds (fresh)      "fresh": trained with a new random mask every step, any draw of the
 *                           mask kind is accepted; "fixed:S": one mask (seed S), only it is
 *                           accepted.
 * Data are refused, naming the field and both values, when the coil count or size differ, the
 * ACS block is narrower than round(n * center_fraction) lines, or the number of sampled lines
 * is more than 3 standard deviations (+1) from n / acceleration for the model's mask kind.
 */
#ifndef HINGE_MRI_LEARNED_H
#define HINGE_MRI_LEARNED_H

#include "hinge/linop.h"
#include "hinge/mri.h"
#include "hinge/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- differentiable ops -------------------------------------------------------------- */

/* Coil expansion E: x [N, 1, *S] complex, sens [N, C, *S] complex -> [N, C, *S], out_c = s_c x.
 * Gradients flow to both x and sens. */
hg_tensor *hg_coil_expand(hg_ctx *ctx, hg_tensor *x, hg_tensor *sens);
/* Coil reduction R = E^H: k [N, C, *S] complex, sens [N, C, *S] -> [N, 1, *S],
 * out = sum_c conj(s_c) k_c. Gradients flow to both inputs. */
hg_tensor *hg_coil_reduce(hg_ctx *ctx, hg_tensor *k, hg_tensor *sens);
/* VarNet's soft data-consistency term eta * M (k - y): k, y [N, C, *S] complex, mask
 * [N, 1, *S] real (a constant: no gradient), eta [1] real. Gradients to k, y and eta. */
hg_tensor *hg_kspace_soft_dc(hg_ctx *ctx, hg_tensor *k, hg_tensor *y, const hg_tensor *mask,
                             hg_tensor *eta);
/* MoDL's data consistency: per sample i, x_i = (A_i^H A_i + lambda I)^{-1} (rhs_i + lambda z_i)
 * with A_i = M_i F S_i (sens [N, C, *S] complex and mask [N, 1, *S] real are constants),
 * solved by `iters` conjugate-gradient iterations started from z_i. rhs, z [N, 1, *S] complex,
 * lambda [1] real > 0. The backward pass solves the same symmetric system with the incoming
 * gradient g (v = (A^H A + lambda)^{-1} g, from 0, `iters` iterations): d rhs = v,
 * d z = lambda v, d lambda = Re<v, z - x>; exact when CG has converged. coil_fft: the centred
 * FFT over [C, *S] (hg_linop_fft(3, {C, *S}, 2)), borrowed. */
hg_tensor *hg_sense_cg_dc(hg_ctx *ctx, hg_tensor *rhs, hg_tensor *z, hg_tensor *lambda,
                          const hg_tensor *sens, const hg_tensor *mask, const hg_linop *coil_fft,
                          int iters);

/* ---- models and their geometry ------------------------------------------------------- */

/* The acquisition a model was trained for (its config). */
typedef struct hg_mri_geometry {
    int64_t size, coils;
    hg_mask_kind mask;      /* HG_MASK_RANDOM or HG_MASK_EQUISPACED */
    double acceleration, center_fraction;
    bool fixed_mask;        /* mask_seeds "fixed:S" */
    uint64_t mask_seed;
} hg_mri_geometry;

/* The geometry of an MRI model ("modl", "varnet"); HG_ERR_INVALID for other models. */
hg_status hg_mri_model_geometry(const hg_model *m, hg_mri_geometry *g);
/* Checks a sidecar's acquisition (as `hinge simulate mri` writes: coils, mask kind name,
 * acceleration, centre fraction; pass NULL / <= 0 for unknown fields) against the model's;
 * HG_ERR_INVALID naming the field and both values. */
hg_status hg_mri_check_acquisition(const hg_model *m, int64_t coils, const char *mask,
                                   double acceleration, double center_fraction);
/* The line mask of a geometry: n values 0/1 from rng (fresh masks) or from the fixed seed. */
hg_status hg_mri_geometry_mask(const hg_mri_geometry *g, hg_rng *rng, float *lines);

/* ---- data ---------------------------------------------------------------------------- */

/* Axial slices of a T1 volume (Colin27: /usr/share/mricron/templates/ch2.nii.gz) resampled to
 * size x size: each slice is zero-padded to a square and resampled by area averaging
 * (bilinear when enlarging), then divided by its maximum. z: slice indices along the
 * volume's third axis. Returns a heap tensor [count, size, size]. */
hg_tensor *hg_mri_t1_slices(const char *path, int64_t size, const int64_t *z, int64_t count);
/* The fixed split of experiment 3 (docs/results/mri.md) for Colin27 (181 axial slices):
 * training z in [30, 95] and [125, 150], held-out test z = 100, 102, ..., 118 (5 slices of gap
 * on each side). Fills up to max indices; returns the count. */
int64_t hg_mri_colin27_split(bool test, int64_t *z, int64_t max);
#define HG_COLIN27_PATH "/usr/share/mricron/templates/ch2.nii.gz"

/* One simulated acquisition: image (real [n, n]) -> k-space [coils, n, n] = M F (s_c x) with
 * the maps sens [coils, n, n] and the line mask `lines` (n values, along the last dimension),
 * plus complex Gaussian noise of standard deviation noise * max|k| per real component at
 * sampled locations, drawn from rng in the order of `hinge simulate mri --noise`.
 * coil_fft: hg_linop_fft(3, {coils, n, n}, 2). */
hg_status hg_mri_simulate_kspace(const hg_linop *coil_fft, const float *image,
                                 const hg_tensor *sens, const float *lines, double noise,
                                 hg_rng *rng, float *kspace);

/* Training task: images [S, n, n] (e.g. Colin27 training slices) with a random flip per
 * sample, the model's coil count of simulated loop coils, a fresh mask of the model's kind
 * every sample (the fixed mask for "fixed:S" models), noise; MSE loss on the magnitude.
 * Validation: mean PSNR on val_images with masks and noise drawn from val_seed. */
typedef struct hg_mri_task {
    const hg_tensor *train_images; /* [S, n, n], borrowed */
    const hg_tensor *val_images;   /* [V, n, n] or NULL, borrowed */
    int64_t batch;                 /* 1 */
    double noise;                  /* 0.01 */
    uint64_t val_seed;
    /* filled by hg_mri_task_init */
    hg_mri_geometry geometry;
    hg_tensor *sens;               /* simulated maps [coils, n, n] */
    hg_linop *fft;                 /* over [coils, n, n] */
    hg_tensor *val_kspace;         /* [V, coils, n, n] */
} hg_mri_task;

hg_status hg_mri_task_init(hg_mri_task *t, const hg_model *m);
void hg_mri_task_free(hg_mri_task *t);
hg_task hg_mri_task_make(hg_mri_task *t);
/* Mean PSNR / SSIM / NMSE of the model on k-space [V, coils, n, n] against images [V, n, n]
 * (data range = the target's maximum, as fastMRI). Any output may be NULL. */
hg_status hg_mri_evaluate(hg_model *m, const hg_tensor *kspace, const hg_tensor *images,
                          double *psnr, double *ssim, double *nmse);

#ifdef __cplusplus
}
#endif
#endif
