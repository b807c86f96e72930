/* The U-Net body of src/nn/unet.c, shared with architectures that embed one (fbpconvnet).
 * Private to src/nn. */
#ifndef HINGE_UNET_INTERNAL_H
#define HINGE_UNET_INTERNAL_H

#include "hinge/nn.h"

#define UNET_MAX_LEVELS 7

typedef struct {
    hg_conv_layer conv[2];
    hg_norm_layer norm[2];
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
} hg_unet_net;

/* Registers the layers of u (whose size fields are filled in) as "<prefix>enc0.conv0...". */
hg_status hg_unet_net_init(hg_unet_net *u, hg_params *p, const char *prefix, hg_rng *rng);
/* [N, in_channels, spatial...] -> [N, classes, spatial...]; spatial sizes must be divisible
 * by 2^(levels-1). */
hg_tensor *hg_unet_net_forward(hg_ctx *ctx, const hg_unet_net *u, hg_tensor *x);
/* hg_model_fold_batch_norm for the U-Net's conv-norm pairs (adds the count to *folded). */
hg_status hg_unet_net_fold_batch_norm(hg_unet_net *u, hg_params *p, int *folded);

#endif
