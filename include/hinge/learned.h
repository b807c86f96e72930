/* Learned reconstruction: unrolled networks with the physics in the loop (src/nn/lpd.c,
 * lgd.c, fbpconvnet.c) and the reconstruction training task (src/nn/train_recon.c).
 *
 * A learned CT model carries its acquisition in its config, so a model file is complete:
 *   size (128)             image side n (n x n pixels)
 *   pixel (1)              pixel spacing; the image covers [-n/2, n/2]·pixel
 *   angles (30)            parallel-beam views uniformly over [0, π)
 *   detectors (183)        detector elements
 *   detector_spacing (1)   detector pitch
 *   op_scale               1/||A||_2, computed by power iteration when the model is created
 *                          and stored, so a loaded model uses exactly the scale it was
 *                          trained with.
 * The networks take the raw sinogram [N, 1, angles, detectors] (line integrals, as
 * `hinge simulate` writes) and return the image [N, 1, n, n]. Following Adler & Öktem, the
 * unrolled networks work with the normalised operator A/||A|| and data g/||A||.
 */
#ifndef HINGE_LEARNED_H
#define HINGE_LEARNED_H

#include "hinge/ct.h"
#include "hinge/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model's acquisition geometry (parallel beam). *angles: malloc'd array g->angles points
 * at; free it after the geometry's last use. Fails for models without a CT geometry. */
hg_status hg_learned_geometry(const hg_model *m, hg_ct_geometry *g, float **angles);

/* HG_OK when the data geometry equals the model's; otherwise HG_ERR_INVALID naming the field
 * and both values (e.g. "model has 30 angles, data has 60"). */
hg_status hg_learned_check_geometry(const hg_model *m, const hg_ct_geometry *data);

/* One training pair of the ellipse experiment: a random-ellipse phantom (Poisson(mean_count)
 * ellipses, scale = half the image width) rasterized on g's grid, its projection by A (g's
 * projector) and white Gaussian noise of rel_noise·mean|Ax|. All randomness from rng. */
hg_status hg_recon_simulate(const hg_ct_geometry *g, const hg_linop *a, hg_rng *rng,
                            double mean_count, float rel_noise, float *image, float *sino);

/* Reconstruction task: fresh phantoms every step from the step's rng (exact resume), MSE loss,
 * validation PSNR (mean over the held-out set; data range = max - min of each target). */
typedef struct hg_recon_task {
    int64_t batch;         /* LPD: 5 */
    double mean_ellipses;  /* 50 */
    float rel_noise;       /* 0.05 */
    int64_t val_count;     /* held-out phantoms (0: no validation) */
    uint64_t val_seed;     /* their seed (independent of the training seed) */
    /* filled by hg_recon_task_init */
    hg_ct_geometry geometry;
    float *angles;
    hg_linop *projector;
    hg_tensor *val_images, *val_sinos; /* [val_count, 1, n, n], [val_count, 1, angles, det] */
} hg_recon_task;

/* Takes the geometry from the model; fields above "filled" must be set (0: defaults). */
hg_status hg_recon_task_init(hg_recon_task *t, const hg_model *m);
void hg_recon_task_free(hg_recon_task *t);
hg_task hg_recon_task_make(hg_recon_task *t);

/* Mean PSNR and SSIM of the model's reconstructions of sinos against images (eval mode, no
 * tape; batches of 8). Either output may be NULL. */
hg_status hg_recon_evaluate(hg_model *m, const hg_tensor *sinos, const hg_tensor *images,
                            double *psnr, double *ssim);
/* PSNR and SSIM of one image pair as in the evaluation above (data range of the target). */
hg_status hg_recon_quality(const float *pred, const float *target, int64_t n, double *psnr,
                           double *ssim);

#ifdef __cplusplus
}
#endif
#endif
