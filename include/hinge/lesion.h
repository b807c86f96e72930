/* Computer-aided detection data: synthetic lesions inserted into real 2-D brain slices
 * (src/data/lesion.c), and the training tasks that learn to detect them (a classifier:
 * lesion present/absent) and to segment them (src/nn/train_lesion.c).
 *
 * Backgrounds are axial slices of a T1 volume (Colin27 by default) resampled to size x size,
 * with a brain mask that says where a lesion may go; or synthetic head-like images when no
 * volume is available (tests). Slices are split into a training and a held-out set by
 * contiguous blocks, so a test slice is never a neighbour of a training slice.
 *
 * A sample is a pure function of (options, source, split, seed, index): sample i draws from
 * hg_rng_split(hg_rng_new(seed), i), so data sets are reproducible and training can draw a
 * fresh sample every step.
 */
#ifndef HINGE_LESION_H
#define HINGE_LESION_H

#include "hinge/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HG_LESION_T1 "/usr/share/mricron/templates/ch2.nii.gz"
#define HG_LESION_BRAIN "/usr/share/mricron/templates/ch2bet.nii.gz"

typedef struct hg_lesion_source {
    hg_tensor *slices; /* [S, size, size] backgrounds, brain intensities scaled to ~[0, 1] */
    hg_tensor *brain;  /* [S, size, size] 1 inside the brain, else 0 */
    int64_t *train, *test; /* slice indices of the two splits */
    int64_t n_train, n_test;
} hg_lesion_source;

/* Axial slices of a T1 volume (tensor order [z, y, x]) and its skull-stripped version (brain
 * = stripped > 0): the slices whose brain area is at least 25% of the largest, zero-padded
 * to square, box-averaged to size x size, anterior at the top, divided by the 99th
 * percentile of brain intensities. Split: blocks of 10 consecutive slices, every 5th block
 * held out, and the 2 slices on each side of a held-out block used by neither split. */
hg_status hg_lesion_source_nifti(const char *t1_path, const char *brain_path, int64_t size,
                                 hg_lesion_source *out);
/* count synthetic head-like slices (an ellipse of skull, a textured brain with dark
 * ventricles) of size x size, reproducible from seed; every 5th slice held out. */
hg_status hg_lesion_source_synthetic(int64_t count, int64_t size, uint64_t seed,
                                     hg_lesion_source *out);
void hg_lesion_source_free(hg_lesion_source *s);

typedef struct hg_lesion_opts {
    float p_lesion;       /* probability that a sample has a lesion (0.5) */
    float radius_min, radius_max;     /* ellipse semi-axes in pixels (size/40, size/10) */
    float contrast_min, contrast_max; /* |intensity change| over the slice's mean brain
                                         intensity (0.15, 0.6); the sign is random */
    float edge;           /* width of the smooth edge in pixels (1) */
    float noise;          /* Gaussian noise std added to every sample (0.02) */
} hg_lesion_opts;

/* The defaults above for images of the given size. */
hg_lesion_opts hg_lesion_opts_default(int64_t size);

typedef struct hg_lesion_info {
    int64_t slice;       /* background slice index into the source */
    bool present;
    bool flipped;        /* left-right mirrored background */
    float cy, cx;        /* centre (pixels) */
    float ry, rx, angle; /* semi-axes (pixels) and rotation (radians) */
    float contrast;      /* signed, relative to the mean brain intensity */
    int64_t area;        /* mask pixels */
} hg_lesion_info;

/* Sample `index` of the split (test or training) of data set `seed`: image [1, H, W] (or
 * [H, W]) and mask [H, W] (1 = lesion; may be NULL), preallocated. Lesion: a rotated
 * ellipse centred on a brain pixel, intensity + contrast * mean brain * w, where w falls
 * from 1 to 0 over `edge` pixels across the border (a logistic profile), inside the brain
 * only; mask = inside the ellipse and the brain (a draw whose mask would hold under half of
 * the ellipse's area is redrawn, up to 50 times; if none fits the sample is a negative).
 * info may be NULL. */
hg_status hg_lesion_sample(const hg_lesion_opts *o, const hg_lesion_source *src, bool test,
                           uint64_t seed, int64_t index, hg_tensor *image, hg_tensor *mask,
                           hg_lesion_info *info);
/* Samples first..first+n-1 into x [n, 1, H, W], label [n] (0/1) and mask [n, H, W] (each may
 * be NULL when not wanted), in ctx or on the heap (ctx NULL). */
hg_status hg_lesion_batch(const hg_lesion_opts *o, const hg_lesion_source *src, bool test,
                          uint64_t seed, int64_t first, int64_t n, hg_ctx *ctx, hg_tensor **x,
                          hg_tensor **label, hg_tensor **mask);

/* ---- training tasks (src/nn/train_lesion.c) -------------------------------------------- */

/* Each step draws `batch` fresh training samples (data set data_seed, indices step*batch..).
 * Classification (segmentation false): cross-entropy on present/absent; validation: ROC AUC
 * of the class-1 softmax score on val_count held-out samples of data set data_seed + 1.
 * Segmentation: hg_seg_loss on the masks (deep supervision when the U-Net has it);
 * validation: mean lesion Dice over the held-out samples that have a lesion. The held-out
 * split is the source's test slices; validation is monitoring, not model selection. */
typedef struct hg_lesion_task {
    const hg_lesion_source *src;
    hg_lesion_opts opts;
    uint64_t data_seed;
    int64_t batch;
    int64_t val_count; /* 0: no validation */
    bool segmentation;
} hg_lesion_task;

hg_task hg_lesion_task_make(hg_lesion_task *t);
/* The class-1 softmax scores of a two-class classifier on x [N, C, *S] (eval mode, batches
 * of 64) into score[N]. */
hg_status hg_classifier_scores(hg_model *m, const hg_tensor *x, float *score);

#ifdef __cplusplus
}
#endif
#endif
