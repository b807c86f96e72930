/* "fbpconvnet": FBP followed by a residual U-Net (Jin et al., IEEE TIP 2017): x = FBP(y) +
 * U(FBP(y)). The FBP (ramp filter with a Hann window, the learned-primal-dual paper's
 * baseline) is a fixed linear layer built from the geometry in the config; the U-Net is
 * src/nn/unet.c's body with one input and one output channel. Config: the CT keys,
 * features ("32,64,128"; the paper's 64..1024 is far larger than this ellipse problem
 * needs), norm (batch). */
#include "learned_internal.h"
#include "unet_internal.h"

#include <stdlib.h>

typedef struct {
    hg_learned_ct ct;
    hg_linop *fbp;
    hg_unet_net unet;
} fbpconvnet;

static const char *const fbpconvnet_keys[] = {HG_LEARNED_CT_KEYS, "features", "norm", NULL};

static hg_status fbpconvnet_build(hg_model *m, hg_rng *rng)
{
    fbpconvnet *f = calloc(1, sizeof *f);
    if (!f)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = f;
    hg_unet_net *u = &f->unet;
    u->dims = 2, u->in_channels = 1, u->classes = 1, u->norm = HG_NORM_BATCH;
    u->features[0] = 32, u->features[1] = 64, u->features[2] = 128;
    int nl = 3;
    hg_status s = hg_config_int_list(&m->config, "features", UNET_MAX_LEVELS, u->features, &nl);
    const char *norm = hg_metadata_get(&m->config, "norm");
    if (s == HG_OK && norm)
        s = hg_norm_kind_parse(norm, &u->norm);
    u->levels = nl;
    if (s == HG_OK)
        s = hg_learned_ct_init(&f->ct, m);
    if (s == HG_OK && f->ct.g.nx % (1 << (nl - 1)) != 0)
        s = hg_error(HG_ERR_INVALID, "config 'size' %d is not divisible by 2^%d (U-Net levels)",
                     f->ct.g.nx, nl - 1);
    if (s == HG_OK) {
        f->fbp = hg_ct_fbp(&f->ct.g, HG_CT_HANN, 1.0f);
        if (!f->fbp)
            s = hg_error_status();
    }
    if (s == HG_OK)
        s = hg_unet_net_init(u, &m->params, "unet.", rng);
    return s;
}

static hg_tensor *fbpconvnet_forward(hg_model *m, hg_ctx *ctx, hg_tensor *y)
{
    fbpconvnet *f = m->impl;
    if (hg_learned_ct_check_input(&f->ct, "fbpconvnet", y) != HG_OK)
        return NULL;
    hg_tensor *x0 = hg_linop_apply(ctx, f->fbp, y, false);
    return hg_add(ctx, x0, hg_unet_net_forward(ctx, &f->unet, x0));
}

static void fbpconvnet_destroy(hg_model *m)
{
    fbpconvnet *f = m->impl;
    if (f) {
        hg_linop_free(f->fbp);
        hg_learned_ct_free(&f->ct);
    }
    free(f);
}

static hg_status fbpconvnet_fold(hg_model *m, int *folded)
{
    return hg_unet_net_fold_batch_norm(&((fbpconvnet *)m->impl)->unet, &m->params, folded);
}

const hg_model_arch hg_arch_fbpconvnet = {"fbpconvnet", "FBP + residual U-Net post-processing",
                                          fbpconvnet_keys, fbpconvnet_build, fbpconvnet_forward,
                                          fbpconvnet_destroy, fbpconvnet_fold};
