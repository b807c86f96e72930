/* "unet": the 2-D/3-D U-Net (Ronneberger 2015; nnU-Net's plain variant with norm choice).
 * Level l: (conv3-norm-act) x 2 with features[l]; 2x max pool between levels; the decoder
 * up-samples with a 2x2 transposed conv, concatenates the skip, and applies two convs; a 1x1
 * conv maps to the classes (logits). Convs before a norm carry no bias (the norm cancels it).
 * Options: residual=1 makes the encoder nnU-Net's ResidualEncoder (one BasicBlockD per level:
 * conv3 (stride 2 from level 1 on, replacing the max pool)-norm-act-conv3-norm, plus the input
 * average-pooled and 1^d-projected when needed, then act); deep_supervision=1 adds 1^d heads
 * "ds<l>" on decoder levels 1..levels-2 for hg_seg_loss (inference uses the full-resolution
 * head only). */
#include "unet_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef hg_unet_block unet_block;
typedef hg_unet_net unet;

static const char *const unet_keys[] = {"dims", "in_channels", "classes", "features", "norm",
                                        "activation", "residual", "deep_supervision", NULL};

/* Two conv-norm(-act) units; residual blocks also get the shortcut "<name>.skip" when the
 * channel count changes. */
static hg_status block_init(unet_block *b, hg_params *p, const char *name, int dims, int cin,
                            int cout, hg_norm_kind norm, bool residual, int stride, hg_rng *rng)
{
    b->residual = residual;
    b->stride = stride;
    for (int i = 0; i < 2; i++) {
        char n[128];
        snprintf(n, sizeof n, "%s.conv%d", name, i);
        hg_status s = hg_conv_layer_init(&b->conv[i], p, n, dims, i ? cout : cin, cout, 3,
                                         i ? 1 : stride, 1, norm == HG_NORM_NONE, false, rng);
        snprintf(n, sizeof n, "%s.norm%d", name, i);
        if (s == HG_OK)
            s = hg_norm_layer_init(&b->norm[i], p, n, norm, cout, cout >= 8 ? 8 : 1);
        if (s != HG_OK)
            return s;
    }
    b->project = residual && cin != cout;
    if (!b->project)
        return HG_OK;
    char n[128];
    snprintf(n, sizeof n, "%s.skip.conv", name);
    hg_status s = hg_conv_layer_init(&b->skip, p, n, dims, cin, cout, 1, 1, 0,
                                     norm == HG_NORM_NONE, false, rng);
    snprintf(n, sizeof n, "%s.skip.norm", name);
    return s == HG_OK ? hg_norm_layer_init(&b->skip_norm, p, n, norm, cout, cout >= 8 ? 8 : 1)
                      : s;
}

static hg_status unet_build(hg_model *m, hg_rng *rng)
{
    unet *u = calloc(1, sizeof *u);
    if (!u)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = u;
    u->dims = 2, u->in_channels = 1, u->classes = 2, u->norm = HG_NORM_BATCH;
    int64_t def[4] = {32, 64, 128, 256};
    memcpy(u->features, def, sizeof def);
    int nl = 4;
    const hg_metadata *cf = &m->config;
    hg_status s = hg_config_int(cf, "dims", 1, 3, &u->dims);
    if (s == HG_OK) s = hg_config_int(cf, "in_channels", 1, 4096, &u->in_channels);
    if (s == HG_OK) s = hg_config_int(cf, "classes", 1, 4096, &u->classes);
    if (s == HG_OK) s = hg_config_int_list(cf, "features", UNET_MAX_LEVELS, u->features, &nl);
    const char *norm = hg_metadata_get(cf, "norm");
    if (s == HG_OK && norm) s = hg_norm_kind_parse(norm, &u->norm);
    const char *act = hg_metadata_get(cf, "activation");
    if (s == HG_OK && act) {
        if (strcmp(act, "relu") == 0) u->leaky = false;
        else if (strcmp(act, "leaky_relu") == 0) u->leaky = true;
        else s = hg_error(HG_ERR_INVALID, "config 'activation': expected relu or leaky_relu, got '%s'", act);
    }
    int64_t residual = 0, deep = 0;
    if (s == HG_OK) s = hg_config_int(cf, "residual", 0, 1, &residual);
    if (s == HG_OK) s = hg_config_int(cf, "deep_supervision", 0, 1, &deep);
    if (s != HG_OK)
        return s;
    u->residual = residual, u->deep_supervision = deep;
    u->levels = nl;
    return hg_unet_net_init(u, &m->params, "", rng);
}

hg_status hg_unet_net_init(hg_unet_net *u, hg_params *params, const char *prefix, hg_rng *rng)
{
    int dims = (int)u->dims, nl = (int)u->levels;
    hg_status s = HG_OK;
    for (int l = 0; l < nl && s == HG_OK; l++) {
        char n[96];
        snprintf(n, sizeof n, "%senc%d", prefix, l);
        s = block_init(&u->enc[l], params, n, dims,
                       (int)(l ? u->features[l - 1] : u->in_channels), (int)u->features[l],
                       u->norm, u->residual, u->residual && l ? 2 : 1, rng);
    }
    for (int l = nl - 2; l >= 0 && s == HG_OK; l--) {
        char n[96];
        snprintf(n, sizeof n, "%sup%d", prefix, l);
        s = hg_conv_layer_init(&u->up[l], params, n, dims, (int)u->features[l + 1],
                               (int)u->features[l], 2, 2, 0, true, true, rng);
        snprintf(n, sizeof n, "%sdec%d", prefix, l);
        if (s == HG_OK)
            s = block_init(&u->dec[l], params, n, dims, (int)(2 * u->features[l]),
                           (int)u->features[l], u->norm, false, 1, rng);
        snprintf(n, sizeof n, "%sds%d", prefix, l);
        if (s == HG_OK && u->deep_supervision && l > 0)
            s = hg_conv_layer_init(&u->ds[l], params, n, dims, (int)u->features[l],
                                   (int)u->classes, 1, 1, 0, true, false, rng);
    }
    char head[96];
    snprintf(head, sizeof head, "%shead", prefix);
    if (s == HG_OK)
        s = hg_conv_layer_init(&u->head, params, head, dims, (int)u->features[0],
                               (int)u->classes, 1, 1, 0, true, false, rng);
    return s;
}

/* Without a tape (inference) every intermediate is released right after its last use, so
 * the arena holds only the live tensors: the skips and the one or two being computed
 * (hg_tensor_release does nothing while a tape is recorded). */
static hg_tensor *consume(hg_tensor *next, hg_tensor *dead)
{
    if (next != dead)
        hg_tensor_release(dead);
    return next;
}

/* In place: neither a norm's nor an add's backward reads its output. */
static hg_tensor *act(hg_ctx *ctx, const unet *u, hg_tensor *x)
{
    return u->leaky ? hg_leaky_relu_inplace(ctx, x, 0.01f) : hg_relu_inplace(ctx, x);
}

/* The residual branch of a block: its input, pooled and projected when the shape changes. */
static hg_tensor *residual_add(hg_ctx *ctx, const unet *u, const unet_block *b, hg_tensor *x,
                               hg_tensor *in, bool own_input)
{
    hg_tensor *r = in;
    if (b->stride > 1) {
        hg_pool_opts pool = {.kernel = {b->stride, b->stride, b->stride},
                             .stride = {b->stride, b->stride, b->stride}};
        r = hg_avg_pool(ctx, in, &pool);
    }
    if (b->project) {
        hg_tensor *c = hg_conv_layer_forward(ctx, &b->skip, r);
        if (r != in)
            hg_tensor_release(r);
        r = consume(hg_norm_layer_forward(ctx, &b->skip_norm, c), c);
    }
    if (own_input && r != in)
        hg_tensor_release(in);
    hg_tensor *sum = hg_add(ctx, x, r);
    hg_tensor_release(x);
    if (r != in || own_input)
        hg_tensor_release(r);
    return act(ctx, u, sum);
}

/* `own_input`: x is an intermediate of the caller's that dies here. */
static hg_tensor *block_forward(hg_ctx *ctx, const unet *u, const unet_block *b, hg_tensor *x,
                                bool own_input)
{
    hg_tensor *in = x;
    for (int i = 0; i < 2; i++) {
        hg_tensor *c = hg_conv_layer_forward(ctx, &b->conv[i], x);
        /* a residual block's input lives on as its skip branch */
        if (i > 0 || (own_input && !b->residual))
            hg_tensor_release(x);
        x = consume(hg_norm_layer_forward(ctx, &b->norm[i], c), c);
        if (!b->residual || i == 0)
            x = act(ctx, u, x);
    }
    return b->residual ? residual_add(ctx, u, b, x, in, own_input) : x;
}

static hg_tensor *unet_forward(hg_model *m, hg_ctx *ctx, hg_tensor *x)
{
    return hg_unet_net_forward(ctx, m->impl, x);
}

hg_tensor *hg_unet_net_forward(hg_ctx *ctx, const hg_unet_net *u, hg_tensor *x)
{
    return hg_unet_net_forward_deep(ctx, u, x, NULL);
}

hg_tensor *hg_unet_net_forward_deep(hg_ctx *ctx, const hg_unet_net *u, hg_tensor *x,
                                    hg_tensor **out)
{
    if (!x)
        return NULL;
    int64_t want[5] = {-1, u->in_channels, -1, -1, -1};
    if (hg_check_shape(x, (int)(2 + u->dims), want) != HG_OK)
        return NULL;
    int64_t div = 1ll << (u->levels - 1);
    for (int d = 0; d < u->dims; d++)
        if (x->shape[2 + d] % div != 0) {
            hg_error(HG_ERR_INVALID,
                     "unet: spatial size %lld (dimension %d) must be divisible by %lld for %lld "
                     "levels",
                     (long long)x->shape[2 + d], d, (long long)div, (long long)u->levels);
            return NULL;
        }
    hg_tensor *skip[UNET_MAX_LEVELS];
    hg_pool_opts pool = {.kernel = {2, 2, 2}, .stride = {2, 2, 2}};
    for (int l = 0; l < u->levels; l++) {
        if (l && !u->residual) /* residual encoders downsample with strided convs */
            x = hg_max_pool(ctx, x, &pool); /* the input stays alive as skip[l - 1] */
        x = skip[l] = block_forward(ctx, u, &u->enc[l], x, l > 0 && !u->residual);
    }
    for (int l = (int)u->levels - 2; l >= 0; l--) {
        hg_tensor *up = consume(hg_conv_layer_forward(ctx, &u->up[l], x), x);
        hg_tensor *cat[2] = {skip[l], up};
        hg_tensor *joined = hg_concat(ctx, cat, 2, 1);
        hg_tensor_release(skip[l]);
        /* neither the transposed conv's backward nor the concat's reads `up`: free it even
         * while training (its gradient still flows) */
        if (joined)
            hg_tensor_release_unsaved(up);
        x = block_forward(ctx, u, &u->dec[l], joined, true);
        if (out && u->deep_supervision && l > 0)
            out[l] = hg_conv_layer_forward(ctx, &u->ds[l], x);
    }
    x = consume(hg_conv_layer_forward(ctx, &u->head, x), x);
    if (out)
        out[0] = x;
    return x;
}

int hg_unet_deep_outputs(hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor **out)
{
    if (strcmp(m->arch->name, "unet") != 0 || !((unet *)m->impl)->deep_supervision) {
        out[0] = hg_model_forward(m, ctx, x);
        return out[0] ? 1 : 0;
    }
    const unet *u = m->impl;
    for (int l = 0; l < u->levels; l++)
        out[l] = NULL;
    if (!hg_unet_net_forward_deep(ctx, u, x, out))
        return 0;
    for (int l = 1; l < u->levels - 1; l++)
        if (!out[l])
            return 0;
    return u->levels > 1 ? (int)u->levels - 1 : 1;
}

hg_status hg_unet_net_fold_batch_norm(hg_unet_net *u, hg_params *p, int *folded)
{
    for (int l = 0; l < u->levels; l++)
        for (int side = 0; side < 2; side++) {
            unet_block *b = side ? &u->dec[l] : &u->enc[l];
            if (side && l == u->levels - 1)
                continue; /* no decoder block at the bottom */
            for (int i = 0; i < 2; i++) {
                bool f = false;
                hg_status s = hg_conv_norm_fold(&b->conv[i], &b->norm[i], p, &f);
                if (s != HG_OK)
                    return s;
                *folded += f;
            }
        }
    return HG_OK;
}

static hg_status unet_fold(hg_model *m, int *folded)
{
    return hg_unet_net_fold_batch_norm(m->impl, &m->params, folded);
}

const hg_model_arch hg_arch_unet = {"unet", "2-D/3-D U-Net for segmentation", unet_keys,
                                    unet_build, unet_forward, NULL, unet_fold};
