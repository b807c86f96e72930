/* Segmentation from NIfTI data sets: loading with checks, the data-set fingerprint, the
 * self-configured training plan, resampling, and the training task that follows the plan
 * (src/data/seg_dataset.c, seg_fingerprint.c, seg_plan.c, resample.c; src/nn/train_plan.c).
 *
 * Data-set layout (nnU-Net-like, docs/segment.md):
 *     DIR/imagesTr/<case>_0000.nii.gz [, <case>_0001.nii.gz ...]  one file per channel
 *                  (or <case>.nii.gz for a single channel)
 *     DIR/labelsTr/<case>.nii.gz      integer label map, same grid as the image
 *     DIR/dataset.json                optional: {"labels": {"background": 0, "brain": 1},
 *                                     "modality": "CT"|"MR", "sites": {"<case>": "A"},
 *                                     "validation": ["<case>", ...]}
 * Axis order: tensors are [C, D, H, W] (NIfTI z, y, x reversed); every spacing and shape in
 * this header is in tensor order (D, H, W), unlike hg_image.spacing (x first).
 */
#ifndef HINGE_SEG_PLAN_H
#define HINGE_SEG_PLAN_H

#include "hinge/image.h"
#include "hinge/nn.h"
#include "hinge/segment.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HG_SEG_MAX_CLASSES 64
#define HG_SEG_MAX_CHANNELS 8
#define HG_SEG_MAX_LEVELS 7

/* ---- data set -------------------------------------------------------------------------- */

typedef struct hg_seg_case {
    char name[128];
    char site[64];        /* dataset.json "sites" entry, or "" */
    hg_tensor *image;     /* [C, D, H, W] (D = 1 for 2-D images), heap */
    hg_tensor *label;     /* [D, H, W] integer labels as floats, heap */
    double spacing[3];    /* D, H, W (mm) */
    double affine[4][4];  /* the label file's voxel -> world affine (hg_image_affine) */
    bool validation;      /* listed in dataset.json "validation" */
} hg_seg_case;

typedef struct hg_seg_dataset {
    int32_t count, channels, classes;
    int32_t ndim;          /* 3, or 2 when every case has a single slice */
    char modality[16];     /* "CT", "MR" or "" (dataset.json "modality" or channel_names "0") */
    char label_names[HG_SEG_MAX_CLASSES][32];
    bool labels_declared;  /* dataset.json listed the labels (else 0..max found) */
    bool validation_listed;/* dataset.json has a "validation" list */
    hg_seg_case *cases;    /* sorted by name */
} hg_seg_dataset;

/* Loads every case of DIR into memory and checks it. Errors name the case and the mismatch:
 * a missing label file, image/label (or channel/channel) shape or geometry mismatch (spacing
 * or affine differing by more than 1e-3 mm), labels that are not integers or not declared in
 * dataset.json (or negative, or >= HG_SEG_MAX_CLASSES), empty images (no voxels, or every
 * voxel the same value, or non-finite values), an empty imagesTr. */
hg_status hg_seg_dataset_load(const char *dir, hg_seg_dataset *ds);
void hg_seg_dataset_free(hg_seg_dataset *ds);

/* ---- fingerprint ----------------------------------------------------------------------- */

typedef struct hg_seg_fingerprint {
    int32_t cases, channels, classes, ndim;
    char modality[16];
    double median_spacing[3], min_spacing[3], max_spacing[3];
    int64_t median_shape[3], min_shape[3], max_shape[3];
    /* Intensities over the foreground (label > 0) voxels of all cases, per channel: at most
     * 100,000 voxels per case, evenly strided; percentiles as numpy's 'linear'. */
    double fg_mean[HG_SEG_MAX_CHANNELS], fg_std[HG_SEG_MAX_CHANNELS];
    double fg_p005[HG_SEG_MAX_CHANNELS], fg_p50[HG_SEG_MAX_CHANNELS],
        fg_p995[HG_SEG_MAX_CHANNELS];
    double fg_min[HG_SEG_MAX_CHANNELS], fg_max[HG_SEG_MAX_CHANNELS];
    double class_fraction[HG_SEG_MAX_CLASSES]; /* of all voxels of all cases */
    double class_cases[HG_SEG_MAX_CLASSES];    /* fraction of cases that contain the class */
    double total_voxels;
} hg_seg_fingerprint;

hg_status hg_seg_fingerprint_compute(const hg_seg_dataset *ds, hg_seg_fingerprint *fp);

/* ---- plan ------------------------------------------------------------------------------ */

typedef struct hg_seg_plan_opts {
    double memory_mb;        /* training memory budget (0: 2048) */
    int32_t threads;         /* cores for training (0: hg_get_threads()) */
    double step_seconds;     /* target seconds per training step (0: 2) */
    double gflops_per_thread;/* assumed training throughput per core (0: 8) */
    int32_t dims;            /* 0: 3 for volumes, 2 for 2-D data; 2 forces slices */
    int32_t base_features;   /* 0: 32, halved (down to 4) when the budget needs it */
    int32_t max_features;    /* 0: 320 */
    int32_t min_batch;       /* 0: 2 */
} hg_seg_plan_opts;

typedef struct hg_seg_plan {
    int32_t dims, channels, classes;
    double target_spacing[3];    /* D, H, W (D: kept as is for dims 2) */
    int64_t median_shape[3];     /* median case shape at the target spacing */
    char normalization[16];      /* "zscore" (per image) or "ct" (clip, then global z-score) */
    double clip_lo[HG_SEG_MAX_CHANNELS], clip_hi[HG_SEG_MAX_CHANNELS];
    double mean[HG_SEG_MAX_CHANNELS], std[HG_SEG_MAX_CHANNELS];
    int64_t patch[3];            /* D, H, W; patch[0] = 1 for dims 2 */
    int32_t levels;              /* U-Net levels (pooling steps + 1) */
    int32_t pool[3];             /* pooling steps per axis (the U-Net pools all axes alike) */
    int32_t features[HG_SEG_MAX_LEVELS];
    int32_t batch;
    int32_t threads;             /* the CPU budget it was planned for */
    double memory_mb;            /* hg_unet_train_bytes of the plan */
    double step_gflop;           /* hg_unet_train_flops of the plan / 1e9 */
    double step_seconds;         /* step_gflop / (threads * gflops_per_thread) */
} hg_seg_plan;

/* The plan (nnU-Net's heuristics, shrunk to the budget):
 *  - target spacing: the median spacing; dims 3 unless the data are 2-D or dims = 2;
 *  - normalization: "ct" when the modality is CT (clip to the foreground 0.5/99.5
 *    percentiles, then subtract the foreground mean and divide by its std), else "zscore";
 *  - patch: the median resampled shape, at most 128^3 voxels in 3-D (512^2 in 2-D) with its
 *    aspect kept; pooling steps per axis while the axis stays >= 8 (at most 5); the U-Net
 *    pools every axis at once, so levels - 1 = the fewest steps of any axis and every patch
 *    axis is a multiple of 2^(levels-1);
 *  - features f_l = min(base * 2^l, max_features);
 *  - batch min_batch; while the memory or time estimate exceeds the budget: the patch axis
 *    largest relative to the median shape shrinks by one multiple (levels drop with it) while
 *    every axis stays >= half the median shape; then the base features halve down to 8; then
 *    the patch shrinks down to 8 voxels per axis; then the features halve down to 4. Then the
 *    batch grows while both budgets hold and batch * patch stays under 5% of the data set's
 *    voxels. Fails naming the smallest plan's needs when even it does not fit. */
hg_status hg_seg_plan_make(const hg_seg_fingerprint *fp, const hg_seg_plan_opts *o,
                           hg_seg_plan *p);

/* Memory of one training step of the "unet" architecture (batch norm, ReLU), in bytes:
 *     4 * B * 2 * A  +  T * max(1 MiB, 512 * 4 * I)  +  16 * P
 * A: activation floats of one sample kept for backward, with V_l = prod(patch / 2^l):
 *     A = C V_0 + sum_l 6 f_l V_l (two conv-norm-act per encoder level)
 *               + sum_{l < L-1} (f_l V_{l+1} (pool) + 9 f_l V_l (up-conv, concat, block))
 *               + 4 K V_0 (logits, softmax, loss terms);
 * doubled for their gradients; T threads' im2col tiles of at least 512 columns of
 * I = 3^dims * c_in floats (the largest c_in) or 1 MiB (src/ops/conv_gemm.c); P parameters
 * (weights, gradients, two Adam moments). */
double hg_unet_train_bytes(int dims, int64_t in_channels, int64_t classes, int levels,
                           const int32_t *features, const int64_t *patch, int64_t batch,
                           int threads);
/* Floating-point operations of one training step: 3 x 2 x multiply-adds of the convs (the
 * forward, the input gradient, the weight gradient). */
double hg_unet_train_flops(int dims, int64_t in_channels, int64_t classes, int levels,
                           const int32_t *features, const int64_t *patch, int64_t batch);

/* plan.json: {"fingerprint": {...}, "plan": {...}} (fp may be NULL when writing). Written
 * atomically; reading checks every field it needs and names the missing or bad one. */
hg_status hg_seg_plan_write(const char *path, const hg_seg_fingerprint *fp,
                            const hg_seg_plan *p);
hg_status hg_seg_plan_read(const char *path, hg_seg_plan *p);
/* The plan as model metadata ("plan.*" keys) and back, so a model file carries its
 * preprocessing. *found is false (and p untouched) when meta holds no plan. */
hg_status hg_seg_plan_to_metadata(const hg_seg_plan *p, hg_metadata *meta);
hg_status hg_seg_plan_from_metadata(const hg_metadata *meta, hg_seg_plan *p, bool *found);

/* ---- resampling and normalization ------------------------------------------------------ */

typedef enum hg_interp { HG_INTERP_LINEAR = 0, HG_INTERP_NEAREST } hg_interp;

/* Shape of an axis of n voxels at spacing `from` resampled to spacing `to`:
 * max(1, round(n * from / to)). */
int64_t hg_resample_size(int64_t n, double from, double to);
/* Resamples x [C, D, H, W] (or [D, H, W]) to the spatial shape out[3]: output voxel i of an
 * axis samples the input at (i + 0.5) * n_in / n_out - 0.5 (voxel centres of the same
 * field of view), trilinear (edges clamped) or nearest. Returns a heap tensor. */
hg_tensor *hg_resample(const hg_tensor *x, const int64_t out[3], hg_interp interp);
/* Normalizes image [C, D, H, W] in place as the plan says. */
hg_status hg_seg_plan_normalize(const hg_seg_plan *p, hg_tensor *image);

/* ---- training from a plan -------------------------------------------------------------- */

/* Cases resampled to the plan's spacing and normalized, split into training and validation
 * (dataset.json "validation", else every 5th case by name starting with the last). Each
 * step draws `batch` patches of random training cases (augmentation; the last
 * max(1, round(batch * fg_ratio)) of them centred on a foreground voxel, nnU-Net's rule with
 * at least one per batch, chosen as fg_sampling says) and
 * scores Dice + cross-entropy; validation is the mean foreground Dice of the sliding-window
 * prediction (window = the patch) over the validation cases. */
typedef struct hg_plan_task {
    hg_seg_plan plan;
    float fg_ratio;                 /* 0: 0.33 (nnU-Net); < 0: no oversampling */
    hg_fg_sampling fg_sampling;     /* HG_FG_CLASSES (default) or HG_FG_ANY */
    const hg_augment_opts *augment; /* NULL: none */
    /* filled by hg_plan_task_init */
    int32_t n_train, n_val;
    hg_tensor **images, **labels;   /* train cases first, then validation */
    hg_patch_index *index;          /* per training case: its foreground voxels by class */
    char (*names)[128];
    hg_seg_task loss_task;          /* borrowed for its Dice + CE loss */
} hg_plan_task;

hg_status hg_plan_task_init(hg_plan_task *t, const hg_seg_dataset *ds, double val_fraction);
void hg_plan_task_free(hg_plan_task *t);
hg_task hg_plan_task_make(hg_plan_task *t);
/* The "unet" model config of the plan (dims, in_channels, classes, features). */
hg_status hg_seg_plan_model_config(const hg_seg_plan *p, hg_metadata *config);

#ifdef __cplusplus
}
#endif
#endif
