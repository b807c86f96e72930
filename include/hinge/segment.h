/* Segmentation with models: sliding-window inference with Gaussian blending, and a training
 * task on the synthetic shapes (src/nn/sliding_window.c, src/nn/train_seg.c). */
#ifndef HINGE_SEGMENT_H
#define HINGE_SEGMENT_H

#include "hinge/nn.h"
#include "hinge/seg_data.h"
#include "hinge/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_sliding_window_opts {
    int64_t window[3]; /* spatial window in tensor order ({H, W} or {D, H, W}) */
    double overlap;    /* fraction of the window shared by neighbours, in [0, 1); e.g. 0.5 */
    bool uniform;      /* false (default): Gaussian weights, sigma = window / 8 (nnU-Net) */
} hg_sliding_window_opts;

/* Runs the model on overlapping windows of x [1, C, S] (ndim spatial dims) and blends the
 * outputs with per-voxel weights: out = sum_w g_w y_w / sum_w g_w. Windows are spread evenly
 * from the first to the last valid position; an axis shorter than the window is zero-padded
 * and cropped back. Inference mode (no tape, eval layers); ctx is reset after each window,
 * so memory is one window's activations plus the output. Returns a heap tensor [1, K, S]
 * (the model's raw outputs, e.g. logits). */
hg_tensor *hg_sliding_window(hg_model *m, const hg_tensor *x, int ndim,
                             const hg_sliding_window_opts *o, hg_ctx *ctx);

/* Segmentation training on the synthetic shapes: each step draws `batch` training images
 * (image index = (step * batch + i) mod train_samples of the data set data_seed), crops a
 * patch with the foreground ratio, augments it (when augment is not NULL), and scores
 * dice_weight * soft Dice + ce_weight * cross-entropy. Validation: mean foreground Dice over
 * val_samples images of the data set data_seed + 1, predicted whole (argmax of the logits). */
typedef struct hg_seg_task {
    hg_shapes_opts shapes;
    uint64_t data_seed;
    int64_t train_samples;
    int64_t batch;
    int64_t patch[3];          /* spatial, tensor order; zeros: whole images */
    float fg_ratio;            /* e.g. 0.33 */
    const hg_augment_opts *augment;
    int64_t val_samples;       /* 0: no validation */
    float dice_weight, ce_weight; /* both 0: 1 and 1 */
} hg_seg_task;

hg_task hg_seg_task_make(hg_seg_task *t);

/* ---- deep supervision (src/nn/unet.c, src/nn/deep_supervision.c) ---------------------- */

#define HG_DEEP_MAX_OUTPUTS 7
/* The logits of every decoder level of a "unet" model built with deep_supervision=1: out[0]
 * at full resolution, out[l] at 1/2^l of it (l < levels - 1). Any other model: out[0] is its
 * forward. out has room for HG_DEEP_MAX_OUTPUTS. Returns the count, 0 on error. */
int hg_unet_deep_outputs(hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor **out);
/* Label map y [N, *S] downsampled by `factor` per spatial axis by nearest neighbour (element
 * factor*i, as torch's nearest interpolation with scale 1/factor); no gradient. */
hg_tensor *hg_labels_downsample(hg_ctx *ctx, const hg_tensor *y, int factor);
/* The segmentation loss dice_weight * soft Dice + ce_weight * cross-entropy (both 0: 1 and 1).
 * With deep supervision, the weighted sum over decoder levels l of that loss against the
 * targets downsampled by 2^l, with weights 2^-l normalized to sum 1 (nnU-Net's scheme, except
 * that nnU-Net gives the lowest level weight 0). */
hg_tensor *hg_seg_loss(hg_ctx *ctx, hg_model *m, hg_tensor *x, hg_tensor *y,
                       float dice_weight, float ce_weight);

/* Mean over images and foreground classes 1..K-1 of the Dice of argmax(model(x)) against y,
 * for x [N, C, S], y [N, S] (classes absent from both count 1, as hg_dice_multiclass). */
hg_status hg_seg_evaluate(hg_model *m, const hg_tensor *x, const hg_tensor *y, int ndim,
                          double *mean_dice);

#ifdef __cplusplus
}
#endif
#endif
