/* Deep supervision: the multi-level segmentation loss over a U-Net's decoder outputs, against
 * nearest-downsampled targets (see include/hinge/segment.h). */
#include "hinge/segment.h"

#include <string.h>

hg_tensor *hg_labels_downsample(hg_ctx *ctx, const hg_tensor *y, int factor)
{
    if (!y)
        return NULL;
    int nd = y->ndim - 1;
    if (nd < 1 || nd > 3 || factor < 1) {
        hg_error(HG_ERR_INVALID, "labels downsample: '%s' must be [N, *S] with 1-3 spatial "
                 "dims and factor >= 1 (got %d-D, factor %d)", hg_tensor_label(y), y->ndim,
                 factor);
        return NULL;
    }
    int64_t shape[4] = {y->shape[0], 1, 1, 1}, in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    for (int a = 0; a < nd; a++) {
        in[3 - nd + a] = y->shape[1 + a];
        out[3 - nd + a] = shape[1 + a] = (y->shape[1 + a] + factor - 1) / factor;
    }
    hg_tensor *z = hg_tensor_empty(ctx, HG_F32, y->ndim, shape);
    if (!z)
        return NULL;
    int64_t in_n = in[0] * in[1] * in[2], out_n = out[0] * out[1] * out[2];
    for (int64_t n = 0; n < y->shape[0]; n++)
        for (int64_t d = 0; d < out[0]; d++)
            for (int64_t h = 0; h < out[1]; h++)
                for (int64_t w = 0; w < out[2]; w++)
                    z->data[n * out_n + (d * out[1] + h) * out[2] + w] =
                        y->data[n * in_n + (d * factor * in[1] + h * factor) * in[2] +
                                w * factor];
    return z;
}

static hg_tensor *level_loss(hg_ctx *ctx, hg_tensor *logits, hg_tensor *y, float wd, float wc)
{
    hg_tensor *dice = hg_scale(ctx, hg_soft_dice_loss(ctx, logits, y, 1e-5f, false), wd);
    hg_tensor *ce = hg_scale(ctx, hg_cross_entropy(ctx, logits, y, NULL, -100), wc);
    return hg_add(ctx, dice, ce);
}

hg_tensor *hg_seg_loss(hg_ctx *ctx, hg_model *m, hg_tensor *x, hg_tensor *y, float dice_weight,
                       float ce_weight)
{
    if (dice_weight == 0 && ce_weight == 0)
        dice_weight = ce_weight = 1;
    hg_tensor *out[HG_DEEP_MAX_OUTPUTS];
    int n = hg_unet_deep_outputs(m, ctx, x, out);
    if (n <= 0)
        return NULL;
    if (n == 1)
        return level_loss(ctx, out[0], y, dice_weight, ce_weight);
    double norm = 0;
    for (int l = 0; l < n; l++)
        norm += 1.0 / (double)(1 << l);
    hg_tensor *total = NULL;
    for (int l = 0; l < n; l++) {
        hg_tensor *yl = l ? hg_labels_downsample(ctx, y, 1 << l) : y;
        hg_tensor *term = hg_scale(ctx, level_loss(ctx, out[l], yl, dice_weight, ce_weight),
                                   (float)(1.0 / (double)(1 << l) / norm));
        total = total ? hg_add(ctx, total, term) : term;
    }
    return total;
}
