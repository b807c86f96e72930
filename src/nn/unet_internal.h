/* The U-Net body of src/nn/unet.c, shared with architectures that embed one (fbpconvnet).
 * Private to src/nn. */
#ifndef HINGE_UNET_INTERNAL_H
#define HINGE_UNET_INTERNAL_H

#include "hinge/nn.h"

#define UNET_MAX_LEVELS 7

typedef struct {
    hg_conv_layer conv[2];
    hg_norm_layer norm[2];
    /* Residual units (encoder only): conv[0] has the level's stride, and the shortcut is the
     * input, average-pooled when strided and projected (1^d conv + norm) when the channel
     * count changes (nnU-Net's BasicBlockD). */
    bool residual, project;
    int32_t stride;
    hg_conv_layer skip;
    hg_norm_layer skip_norm;
} hg_unet_block;

typedef struct {
    int64_t dims, in_channels, classes, levels;
    int64_t features[UNET_MAX_LEVELS];
    hg_norm_kind norm;
    bool leaky;
    hg_unet_block enc[UNET_MAX_LEVELS];
    hg_unet_block dec[UNET_MAX_LEVELS];
    hg_conv_layer up[UNET_MAX_LEVELS];
    hg_conv_layer head;
    bool residual;           /* residual encoder (strided convs replace the max pools) */
    bool deep_supervision;   /* 1^d heads ds[l] on decoder levels 1..levels-2 */
    hg_conv_layer ds[UNET_MAX_LEVELS];
} hg_unet_net;

/* Registers the layers of u (whose size fields are filled in) as "<prefix>enc0.conv0...". */
hg_status hg_unet_net_init(hg_unet_net *u, hg_params *p, const char *prefix, hg_rng *rng);
/* [N, in_channels, spatial...] -> [N, classes, spatial...]; spatial sizes must be divisible
 * by 2^(levels-1). */
hg_tensor *hg_unet_net_forward(hg_ctx *ctx, const hg_unet_net *u, hg_tensor *x);
/* The same, also writing the logits of every decoder level to out[0..levels-1) (out[0] is
 * the returned full-resolution output, out[l] is at 1/2^l) when u->deep_supervision; out may
 * be NULL. */
hg_tensor *hg_unet_net_forward_deep(hg_ctx *ctx, const hg_unet_net *u, hg_tensor *x,
                                    hg_tensor **out);
/* hg_model_fold_batch_norm for the U-Net's conv-norm pairs (adds the count to *folded). */
hg_status hg_unet_net_fold_batch_norm(hg_unet_net *u, hg_params *p, int *folded);

#endif
