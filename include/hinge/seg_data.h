/* Segmentation data: synthetic shapes, patch sampling, augmentation, multi-site simulation and
 * intensity harmonization (src/data/).
 *
 * A sample is an image [C, (D,) H, W] and a label map [(D,) H, W] of integer labels stored as
 * floats (0 = background). Everything random takes an hg_rng by value and draws only from it,
 * so a sample is a pure function of (options, rng): give sample i the stream
 * hg_rng_split(&base, i) and any loader order or thread count reproduces it.
 */
#ifndef HINGE_SEG_DATA_H
#define HINGE_SEG_DATA_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- synthetic shapes ------------------------------------------------------------------ */

typedef struct hg_shapes_opts {
    int32_t ndim;       /* spatial dims: 2 or 3 */
    int64_t size[3];    /* spatial size in tensor order: {H, W} for 2-D, {D, H, W} for 3-D */
    int32_t classes;    /* labels 0..classes-1; odd labels are ellipsoids, even labels boxes */
    int32_t objects;    /* objects per image (>= 1); later objects cover earlier ones */
    float radius_min, radius_max; /* semi-axes / half-sides in voxels (0: size/10, size/4) */
    float noise;        /* Gaussian noise std added to the image */
} hg_shapes_opts;

/* Renders one sample into image [1, (D,) H, W] and label [(D,) H, W] (preallocated, shapes
 * checked). Intensity of label k is 0.2 + 0.8 k / (classes - 1) plus a per-object offset of at
 * most +-0.05; background 0. */
hg_status hg_shapes_render(const hg_shapes_opts *o, hg_rng rng, hg_tensor *image,
                           hg_tensor *label);
/* Samples first..first+n-1 of the data set `seed` into x [n, 1, S] and y [n, S] (in ctx, or
 * on the heap when ctx is NULL); sample i uses hg_rng_split(hg_rng_new(seed), i). */
hg_status hg_shapes_batch(const hg_shapes_opts *o, uint64_t seed, int64_t first, int64_t n,
                          hg_ctx *ctx, hg_tensor **x, hg_tensor **y);

/* ---- patches --------------------------------------------------------------------------- */

/* Crops a patch of `patch` (spatial, tensor order) from image [C, S] / label [S] into
 * out_image [C, P] / out_label [P]. With probability fg_ratio the patch is centred on a
 * uniformly chosen foreground voxel (label > 0; a uniform patch when there is none), else
 * placed uniformly. Patches larger than the image are padded (image 0, label 0). */
hg_status hg_patch_sample(const hg_tensor *image, const hg_tensor *label, int ndim,
                          const int64_t *patch, float fg_ratio, hg_rng rng, hg_tensor *out_image,
                          hg_tensor *out_label);

/* Class-aware oversampling (nnU-Net): the foreground voxels of a label map listed per class,
 * built once per case so that drawing a patch does not scan the volume. Memory: 8 bytes per
 * foreground voxel. */
#define HG_PATCH_MAX_CLASSES 65536
typedef struct hg_patch_index {
    int32_t classes; /* max label + 1 */
    int64_t *start;  /* [classes + 1]: class c's voxels are voxels[start[c] .. start[c + 1]) */
    int64_t *voxels; /* flat voxel indices of labels >= 1, by class, raster order within */
} hg_patch_index;

typedef enum hg_fg_sampling {
    HG_FG_CLASSES = 0, /* a class uniformly among the foreground classes present, then a voxel */
    HG_FG_ANY,         /* a voxel uniformly among all foreground voxels (large classes win) */
} hg_fg_sampling;

/* Builds the index of label [S] (integer values 0..HG_PATCH_MAX_CLASSES-1, else an error
 * naming the voxel). Free with hg_patch_index_free. */
hg_status hg_patch_index_build(const hg_tensor *label, hg_patch_index *ix);
void hg_patch_index_free(hg_patch_index *ix);
/* hg_patch_sample with the index of `label`: with probability fg_ratio the patch is centred
 * (clamped inside the image) on a foreground voxel drawn as `mode` says, else placed
 * uniformly. A pure function of (inputs, rng). */
hg_status hg_patch_sample_indexed(const hg_tensor *image, const hg_tensor *label,
                                  const hg_patch_index *index, int ndim, const int64_t *patch,
                                  float fg_ratio, hg_fg_sampling mode, hg_rng rng,
                                  hg_tensor *out_image, hg_tensor *out_label);

/* ---- augmentation ---------------------------------------------------------------------- */

/* Each transform fires with its probability p_*; zero probabilities disable it. Spatial
 * transforms are composed into one coordinate map and applied once: linear interpolation for
 * the image, nearest neighbour for labels (so labels keep their values). Intensity transforms
 * touch the image only. */
typedef struct hg_augment_opts {
    float p_flip;                  /* per spatial axis */
    float p_rot90;                 /* k*90 deg in the (H, W) plane, k uniform in 1..3; H == W */
    float p_scale;
    float scale_min, scale_max;    /* zoom factor about the centre (>1 enlarges) */
    float p_elastic;
    float elastic_alpha;           /* displacement std in voxels at the control points */
    int32_t elastic_grid;          /* control point spacing in voxels (0: 8), linear between */
    float p_gamma;
    float gamma_min, gamma_max;    /* x -> lo + (hi-lo) ((x-lo)/(hi-lo))^gamma, lo/hi = min/max */
    float p_contrast;
    float contrast_min, contrast_max; /* x -> mean + c (x - mean) */
    float p_noise;
    float noise_std;               /* Gaussian, std uniform in [0, noise_std] */
    float p_bias;
    float bias_strength;           /* multiplicative exp(smooth quadratic field), |log| <= this */
    float p_blur;
    float blur_sigma_max;          /* Gaussian, sigma uniform in [0.5, max] voxels */
    float p_lowres;
    float lowres_min;              /* resolution factor uniform in [lowres_min, 1] */
} hg_augment_opts;

/* Augments image [C, S] and label [S] (label may be NULL) in place. ctx provides scratch
 * (freed at its next reset). */
hg_status hg_augment(const hg_augment_opts *o, int ndim, hg_rng rng, hg_tensor *image,
                     hg_tensor *label, hg_ctx *ctx);

/* ---- multi-site simulation and harmonization ------------------------------------------- */

typedef struct hg_site {
    float scale, offset;  /* intensity: scale * curve(x) + offset */
    float gamma;          /* contrast curve: curve(x) = x^gamma on x clipped to [0, 1] */
    float noise_std;      /* Gaussian noise after the curve, in output units */
    float bias_strength;  /* smooth multiplicative field, |log| <= this */
    float blur_sigma;     /* in-plane blur (voxels) */
    int32_t slice_thickness; /* 3-D: average over this many slices along D (1: none) */
} hg_site;

/* A random site, reproducible from rng: scale in [0.5, 2], offset in [-0.2, 0.2], gamma in
 * [0.6, 1.6], noise in [0.01, 0.08], bias in [0, 0.3], blur in [0, 1.2], thickness 1..3. */
hg_site hg_site_random(hg_rng rng);
/* Renders image [C, S] (intensities nominally in [0, 1]) as seen by `site`, in place. */
hg_status hg_site_apply(const hg_site *site, int ndim, hg_rng rng, hg_tensor *image,
                        hg_ctx *ctx);

/* Per-image z-score: (x - mean) / std over the voxels where mask > 0 (all when mask is NULL). */
hg_status hg_harmonize_zscore(hg_tensor *image, const hg_tensor *mask);
/* Percentile scaling: maps the p_lo and p_hi percentiles (numpy 'linear') to 0 and 1. */
hg_status hg_harmonize_percentile(hg_tensor *image, double p_lo, double p_hi);

/* Nyul & Udupa histogram standardization: landmarks = percentiles p_lo, the deciles
 * 10..90, p_hi (11 landmarks); training maps each image's landmarks linearly from its
 * [p_lo, p_hi] to [s_min, s_max] and averages; transforming maps piecewise-linearly from the
 * image's landmarks to the standard ones (linear extrapolation beyond the ends). */
#define HG_NYUL_LANDMARKS 11
typedef struct hg_nyul {
    double p_lo, p_hi;      /* e.g. 1, 99 */
    double s_min, s_max;    /* e.g. 0, 100 */
    double standard[HG_NYUL_LANDMARKS];
    int32_t trained;        /* number of images averaged */
} hg_nyul;

hg_status hg_nyul_init(hg_nyul *n, double p_lo, double p_hi, double s_min, double s_max);
hg_status hg_nyul_fit(hg_nyul *n, const hg_tensor *const *images, int32_t count);
hg_status hg_nyul_apply(const hg_nyul *n, hg_tensor *image);

#ifdef __cplusplus
}
#endif
#endif
