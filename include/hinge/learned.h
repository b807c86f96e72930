/* Learned reconstruction: unrolled networks with the physics in the loop (src/nn/lpd.c,
 * lgd.c, fbpconvnet.c) and the reconstruction training task (src/nn/train_recon.c).
 *
 * A learned CT model carries its acquisition in its config, so a model file is complete:
 *   geometry (parallel)    parallel | fan-flat | fan-arc
 *   size (128)             image side n (n x n pixels)
 *   pixel (1)              pixel spacing; the image covers [-n/2, n/2]·pixel
 *   angles (30)            views uniformly over [0, range)
 *   range (180; fan 360)   angular range in degrees
 *   detectors (183)        detector elements
 *   detector_spacing       detector pitch (pixel; fan: pixel·sdd/sod, as hinge simulate)
 *   sod, sdd               fan only: source-isocentre and source-detector distance
 *                          (2 and 4 image widths, as hinge simulate)
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

/* What the training and test data of a reconstruction experiment are: the phantoms and the
 * measurement noise. The zero value means the learned primal-dual ellipse experiment. */
typedef enum { HG_RECON_ELLIPSES = 0, HG_RECON_CHEST } hg_recon_phantom;

typedef struct hg_recon_protocol {
    hg_recon_phantom phantom;
    double mean_ellipses; /* ellipses: Poisson mean of their count (0: 50) */
    float rel_noise;      /* photons == 0: white Gaussian noise of rel_noise·mean|Ax| */
    double photons;       /* > 0: pre-log Poisson noise, photons per detector pixel without
                           * object (LoDoPaB-CT: 4096), zero counts as 0.1 photon, post-log */
    double width_m;       /* Poisson: field width in metres (0: LoDoPaB's 0.26); with μ_max
                           * 81.35858 m⁻¹ it turns line integrals in pixels into μ·length */
} hg_recon_protocol;

hg_status hg_recon_protocol_check(const hg_recon_protocol *p);
const char *hg_recon_phantom_name(hg_recon_phantom p);
/* "ellipses" or "chest" -> *out; HG_ERR_INVALID naming the accepted values otherwise. */
hg_status hg_recon_phantom_parse(const char *name, hg_recon_phantom *out);

/* Adds the protocol's noise to a noiseless sinogram on g (in place). */
hg_status hg_recon_measure(const hg_ct_geometry *g, const hg_recon_protocol *p, hg_rng *rng,
                           float *sino);
/* One training pair drawn with rng: the phantom rasterized on g's grid, and its measurement
 * on g's geometry with the protocol's noise. Ellipses are projected with A (g's discrete
 * projector), as the published experiment did; chest phantoms with their exact line
 * integrals (4×4 supersampled raster as the target), so there is no inverse crime. */
hg_status hg_recon_simulate(const hg_ct_geometry *g, const hg_linop *a, hg_rng *rng,
                            const hg_recon_protocol *p, float *image, float *sino);

/* Reconstruction task: fresh phantoms every step from the step's rng (exact resume), MSE loss,
 * validation PSNR (mean over the held-out set; data range = max - min of each target). */
typedef struct hg_recon_task {
    int64_t batch;         /* LPD: 5 */
    hg_recon_protocol protocol; /* phantoms and noise (LPD: ellipses, rel_noise 0.05) */
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
