/* Instance normalization over [N, C, *S], PyTorch's F.instance_norm with batch statistics
 * (no running stats): each (sample, channel) plane is normalized by its own mean and biased
 * variance, then scaled and shifted per channel. This is group normalization with one group
 * per channel, so forward and backward are those of group_norm.c; what differs is the
 * input check: PyTorch refuses a single spatial element (the variance would be 0). */
#include "ops/poolnorm_internal.h"

#include <stdio.h>

hg_tensor *hg_instance_norm(hg_ctx *ctx, hg_tensor *x, hg_tensor *gamma, hg_tensor *beta,
                            float eps)
{
    HG_PROPAGATE_NULL(x);
    hg_planes p;
    if (hg_planes_of("instance_norm", x, &p) != HG_OK)
        return NULL;
    if (p.plane < 2) {
        char sh[96];
        hg_error(HG_ERR_INVALID,
                 "instance_norm of %s %s: expected more than 1 spatial element, got %lld",
                 hg_tensor_label(x), hg_shape_str(x, sh, sizeof sh), (long long)p.plane);
        return NULL;
    }
    if (p.c > INT32_MAX) {
        hg_error(HG_ERR_INVALID, "instance_norm of %s: %lld channels exceed the supported range",
                 hg_tensor_label(x), (long long)p.c);
        return NULL;
    }
    return hg_group_norm_impl(ctx, "instance_norm", x, (int)p.c, gamma, beta, eps);
}
