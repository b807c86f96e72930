/* "modl": MoDL (Aggarwal, Mani & Jacob, IEEE TMI 2019) for multi-coil Cartesian MRI. From the
 * zero-filled SENSE image x0 = A^H y, each of the `iterations` (5) unrolled steps computes
 *   z = x + D_w(x)                                   (one residual CNN, shared by all steps)
 *   x = (A^H A + lambda I)^{-1} (A^H y + lambda z)   (data consistency, `cg_iters` (10) CG)
 * with A = M F S the sample's SENSE operator and lambda = exp(log_lambda) learned (initially
 * 0.05, as the paper). D_w works on the complex image as two real channels: conv3x3 2 -> width,
 * (layers - 2) x conv3x3 width -> width, conv3x3 width -> 2, ReLU between (the paper: 5
 * layers of 64 with batch norm; here 5 of 32 and no norm by default, for small CPU budgets).
 * The last conv starts at zero, so the untrained network is a proximal-point CG-SENSE.
 * Maps: the ACS estimate of include/hinge/mri_learned.h (no ESPIRiT: at 8x with 4% centre
 * lines a 128-wide image has 5 calibration lines, too few for ESPIRiT's kernels, and the
 * low-resolution estimate is cheap, deterministic and what VarNet refines). The output is
 * the magnitude |x| times the sample's scale.
 * Config: the acquisition keys (include/hinge/mri_learned.h), iterations (5), cg_iters (10),
 * width (32), layers (5). */
#include "mri_net_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODL_MAX_LAYERS 16

typedef struct {
    hg_mri_net net;
    int64_t iterations, cg_iters, width, layers;
    hg_conv_layer conv[MODL_MAX_LAYERS];
    hg_tensor *log_lambda;
} modl;

static const char *const modl_keys[] = {HG_MRI_NET_KEYS, "iterations", "cg_iters", "width",
                                        "layers", NULL};

static hg_status modl_build(hg_model *m, hg_rng *rng)
{
    modl *d = calloc(1, sizeof *d);
    if (!d)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = d;
    d->iterations = 5, d->cg_iters = 10, d->width = 32, d->layers = 5;
    const hg_metadata *cf = &m->config;
    hg_status s = hg_config_int(cf, "iterations", 1, 64, &d->iterations);
    if (s == HG_OK) s = hg_config_int(cf, "cg_iters", 1, 1000, &d->cg_iters);
    if (s == HG_OK) s = hg_config_int(cf, "width", 1, 1024, &d->width);
    if (s == HG_OK) s = hg_config_int(cf, "layers", 2, MODL_MAX_LAYERS, &d->layers);
    if (s == HG_OK) s = hg_mri_net_init(&d->net, m);
    for (int i = 0; s == HG_OK && i < d->layers; i++) {
        char n[64];
        snprintf(n, sizeof n, "denoiser.conv%d", i);
        int cin = i ? (int)d->width : 2, cout = i == d->layers - 1 ? 2 : (int)d->width;
        s = hg_conv_layer_init(&d->conv[i], &m->params, n, 2, cin, cout, 3, 1, 1, true, false,
                               rng);
    }
    if (s == HG_OK) {
        hg_conv_layer *last = &d->conv[d->layers - 1];
        memset(last->weight->data, 0, (size_t)last->weight->numel * sizeof(float));
        memset(last->bias->data, 0, (size_t)last->bias->numel * sizeof(float));
        d->log_lambda = hg_params_add(&m->params, "log_lambda", true, 1, (const int64_t[]){1});
        if (!d->log_lambda)
            s = hg_error_status();
        else
            d->log_lambda->data[0] = logf(0.05f);
    }
    return s;
}

/* z = x + D(x) on the complex image [N, 1, n, n]. */
static hg_tensor *denoise(hg_ctx *ctx, const modl *d, hg_tensor *x)
{
    hg_tensor *h = hg_complex_to_channels(ctx, x);
    for (int i = 0; i < d->layers; i++) {
        h = hg_conv_layer_forward(ctx, &d->conv[i], h);
        if (i < d->layers - 1)
            h = hg_relu(ctx, h);
    }
    return hg_add(ctx, x, hg_channels_to_complex(ctx, h));
}

static hg_tensor *modl_forward(hg_model *m, hg_ctx *ctx, hg_tensor *k)
{
    modl *d = m->impl;
    hg_mri_prep p;
    if (hg_mri_net_prepare(&d->net, "modl", ctx, k, &p) != HG_OK)
        return NULL;
    /* A^H y is data: computed off the tape. */
    hg_tensor *coil = hg_tensor_empty(ctx, HG_C64, 4, p.kspace->shape);
    if (!coil)
        return NULL;
    int64_t per = hg_tensor_nfloats(p.kspace) / p.batch;
    for (int64_t b = 0; b < p.batch; b++)
        if (hg_linop_adjoint(d->net.fft, p.kspace->data + b * per, coil->data + b * per) != HG_OK)
            return NULL;
    bool rec = hg_ctx_grad_enabled(ctx);
    hg_ctx_set_grad(ctx, false);
    hg_tensor *rhs = hg_coil_reduce(ctx, coil, p.sens);
    hg_ctx_set_grad(ctx, rec);
    hg_tensor *lambda = hg_exp(ctx, d->log_lambda);
    hg_tensor *x = rhs;
    for (int i = 0; i < d->iterations; i++)
        x = hg_sense_cg_dc(ctx, rhs, denoise(ctx, d, x), lambda, p.sens, p.mask, d->net.fft,
                           (int)d->cg_iters);
    return hg_mri_unscale(ctx, hg_abs(ctx, x), p.scale);
}

static void modl_destroy(hg_model *m)
{
    modl *d = m->impl;
    if (d)
        hg_mri_net_free(&d->net);
    free(d);
}

const hg_model_arch hg_arch_modl = {"modl", "MoDL: shared CNN denoiser + CG data consistency "
                                    "(multi-coil MRI)", modl_keys, modl_build, modl_forward,
                                    modl_destroy, NULL};
