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

/* Mean over images and foreground classes 1..K-1 of the Dice of argmax(model(x)) against y,
 * for x [N, C, S], y [N, S] (classes absent from both count 1, as hg_dice_multiclass). */
hg_status hg_seg_evaluate(hg_model *m, const hg_tensor *x, const hg_tensor *y, int ndim,
                          double *mean_dice);

#ifdef __cplusplus
}
#endif
#endif
