/* "varnet": an end-to-end variational network (Sriram et al., MICCAI 2020, E2E-VarNet) for
 * multi-coil Cartesian MRI, working in k-space. Maps: the ACS coil images (the sampled centre
 * block only, inverse FFT per coil) refined by a small U-Net applied to every coil image
 * (residual), then normalized by their root sum of squares. From k = y, each of the
 * `cascades` (5) computes
 *   k <- k - eta_t M (k - y) - F E(U_t(R(F^H k)))
 * with R = sum_c conj(s_c) (.) the coil reduction, E its adjoint, U_t the cascade's own U-Net
 * on the complex image as two channels and eta_t a learned scalar (initially 1, as the paper).
 * The output is the root sum of squares of F^H k times the sample's scale. The U-Nets'
 * last convs start at zero, so the untrained network returns the zero-filled RSS image with
 * the ACS maps. (The paper: 12 cascades of 18-channel 4-level U-Nets with instance norm; here
 * 5 cascades of 16,32,64 by default, for small CPU budgets.)
 * Config: the acquisition keys (include/hinge/mri_learned.h), cascades (5), features
 * ("16,32,64"), sens_features ("8,16"), norm (instance | group | none | batch). */
#include "mri_net_internal.h"
#include "unet_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VARNET_MAX_CASCADES 32

typedef struct {
    hg_mri_net net;
    int64_t cascades;
    hg_unet_net sens;
    hg_unet_net cascade[VARNET_MAX_CASCADES];
    hg_tensor *eta[VARNET_MAX_CASCADES];
} varnet;

static const char *const varnet_keys[] = {HG_MRI_NET_KEYS, "cascades", "features",
                                          "sens_features", "norm", NULL};

/* A 2 -> 2 channel U-Net whose output layer starts at zero. */
static hg_status unet_init(hg_unet_net *u, hg_params *p, const char *prefix, const int64_t *feat,
                           int levels, hg_norm_kind norm, hg_rng *rng)
{
    u->dims = 2, u->in_channels = 2, u->classes = 2, u->levels = levels, u->norm = norm;
    u->leaky = true;
    memcpy(u->features, feat, (size_t)levels * sizeof *feat);
    hg_status s = hg_unet_net_init(u, p, prefix, rng);
    if (s == HG_OK) {
        memset(u->head.weight->data, 0, (size_t)u->head.weight->numel * sizeof(float));
        memset(u->head.bias->data, 0, (size_t)u->head.bias->numel * sizeof(float));
    }
    return s;
}

static hg_status varnet_build(hg_model *m, hg_rng *rng)
{
    varnet *v = calloc(1, sizeof *v);
    if (!v)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = v;
    v->cascades = 5;
    int64_t feat[UNET_MAX_LEVELS] = {16, 32, 64}, sfeat[UNET_MAX_LEVELS] = {8, 16};
    int nf = 3, ns = 2;
    hg_norm_kind norm = HG_NORM_INSTANCE;
    const hg_metadata *cf = &m->config;
    hg_status s = hg_config_int(cf, "cascades", 1, VARNET_MAX_CASCADES, &v->cascades);
    if (s == HG_OK) s = hg_config_int_list(cf, "features", UNET_MAX_LEVELS, feat, &nf);
    if (s == HG_OK) s = hg_config_int_list(cf, "sens_features", UNET_MAX_LEVELS, sfeat, &ns);
    const char *nk = hg_metadata_get(cf, "norm");
    if (s == HG_OK && nk) s = hg_norm_kind_parse(nk, &norm);
    if (s == HG_OK) s = hg_mri_net_init(&v->net, m);
    if (s != HG_OK)
        return s;
    int64_t div = 1ll << (nf > ns ? nf - 1 : ns - 1);
    if (v->net.g.size % div != 0)
        return hg_error(HG_ERR_INVALID, "varnet: size %lld must be divisible by %lld for U-Nets "
                        "of %d and %d levels", (long long)v->net.g.size, (long long)div, nf, ns);
    s = unet_init(&v->sens, &m->params, "sens.", sfeat, ns, norm, rng);
    for (int t = 0; s == HG_OK && t < v->cascades; t++) {
        char n[64];
        snprintf(n, sizeof n, "cascade%d.", t);
        s = unet_init(&v->cascade[t], &m->params, n, feat, nf, norm, rng);
        snprintf(n, sizeof n, "cascade%d.eta", t);
        if (s == HG_OK && !(v->eta[t] = hg_params_add(&m->params, n, true, 1,
                                                      (const int64_t[]){1})))
            s = hg_error_status();
        if (s == HG_OK)
            v->eta[t]->data[0] = 1.0f;
    }
    return s;
}

/* Complex [N, 1, n, n] -> the U-Net on its two real channels -> complex [N, 1, n, n]. */
static hg_tensor *unet_complex(hg_ctx *ctx, const hg_unet_net *u, hg_tensor *x)
{
    return hg_channels_to_complex(ctx, hg_unet_net_forward(ctx, u, hg_complex_to_channels(ctx, x)));
}

/* Maps from the ACS coil images: per coil U-Net (residual), then RSS normalization. */
static hg_tensor *estimate_maps(hg_ctx *ctx, const varnet *v, hg_tensor *acs)
{
    int64_t nb = acs->shape[0], c = acs->shape[1], n = acs->shape[2];
    hg_tensor *per_coil = hg_reshape(ctx, acs, 4, (const int64_t[]){nb * c, 1, n, n});
    hg_tensor *u = hg_add(ctx, per_coil, unet_complex(ctx, &v->sens, per_coil));
    return hg_mri_normalize_maps(ctx, hg_reshape(ctx, u, 4, (const int64_t[]){nb, c, n, n}));
}

static hg_tensor *varnet_forward(hg_model *m, hg_ctx *ctx, hg_tensor *kin)
{
    varnet *v = m->impl;
    hg_mri_prep p;
    if (hg_mri_net_prepare(&v->net, "varnet", ctx, kin, &p) != HG_OK)
        return NULL;
    const hg_linop *fft = v->net.fft;
    hg_tensor *sens = estimate_maps(ctx, v, p.acs);
    hg_tensor *k = p.kspace;
    for (int t = 0; t < v->cascades; t++) {
        hg_tensor *img = hg_coil_reduce(ctx, hg_linop_apply(ctx, fft, k, true), sens);
        hg_tensor *ref = hg_linop_apply(ctx, fft,
                                        hg_coil_expand(ctx, unet_complex(ctx, &v->cascade[t], img),
                                                       sens), false);
        hg_tensor *dc = hg_kspace_soft_dc(ctx, k, p.kspace, p.mask, v->eta[t]);
        k = hg_sub(ctx, hg_sub(ctx, k, dc), ref);
    }
    return hg_mri_unscale(ctx, hg_mri_rss_op(ctx, hg_linop_apply(ctx, fft, k, true)), p.scale);
}

static void varnet_destroy(hg_model *m)
{
    varnet *v = m->impl;
    if (v)
        hg_mri_net_free(&v->net);
    free(v);
}

const hg_model_arch hg_arch_varnet = {"varnet", "E2E-VarNet-style cascades of U-Nets with soft "
                                      "k-space data consistency (multi-coil MRI)", varnet_keys,
                                      varnet_build, varnet_forward, varnet_destroy, NULL};
