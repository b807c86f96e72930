/* "lpd": learned primal-dual reconstruction (Adler & Öktem, IEEE TMI 2018), as in the paper's
 * code for the ellipse experiment. With the normalised operator K = A/||A|| and data
 * g = y/||A||, starting from f = 0 (primal, 5 channels) and h = 0 (dual, 5 channels), each of
 * the `iterations` (10) unrolled iterations i computes
 *   h <- h + Γ_i([h, K f[1], g])        (dual block: 7 -> 32 -> 32 -> 5 channels)
 *   f <- f + Λ_i([f, K^T h[0]])          (primal block: 6 -> 32 -> 32 -> 5 channels)
 * with its own weights per iteration (no sharing); the output is f[0]. The operator and its
 * adjoint run in every iteration through hg_linop_apply, so backpropagation uses the exact
 * adjoint. Config: the CT keys of include/hinge/learned.h, iterations (10), primal (5),
 * dual (5), width (32). */
#include "learned_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define LPD_MAX_ITER 64

typedef struct {
    hg_learned_ct ct;
    int64_t iterations, n_primal, n_dual, width;
    hg_learned_block primal[LPD_MAX_ITER], dual[LPD_MAX_ITER];
} lpd;

static const char *const lpd_keys[] = {HG_LEARNED_CT_KEYS, "iterations", "primal", "dual",
                                       "width", NULL};

static hg_status lpd_build(hg_model *m, hg_rng *rng)
{
    lpd *l = calloc(1, sizeof *l);
    if (!l)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = l;
    l->iterations = 10, l->n_primal = 5, l->n_dual = 5, l->width = 32;
    const hg_metadata *cf = &m->config;
    hg_status s = hg_config_int(cf, "iterations", 1, LPD_MAX_ITER, &l->iterations);
    if (s == HG_OK) s = hg_config_int(cf, "primal", 2, 256, &l->n_primal);
    if (s == HG_OK) s = hg_config_int(cf, "dual", 1, 256, &l->n_dual);
    if (s == HG_OK) s = hg_config_int(cf, "width", 1, 1024, &l->width);
    if (s == HG_OK) s = hg_learned_ct_init(&l->ct, m);
    for (int i = 0; s == HG_OK && i < l->iterations; i++) {
        char n[64];
        snprintf(n, sizeof n, "dual%d", i);
        s = hg_learned_block_init(&l->dual[i], &m->params, n, (int)l->n_dual + 2, (int)l->width,
                                  (int)l->n_dual, rng);
        snprintf(n, sizeof n, "primal%d", i);
        if (s == HG_OK)
            s = hg_learned_block_init(&l->primal[i], &m->params, n, (int)l->n_primal + 1,
                                      (int)l->width, (int)l->n_primal, rng);
    }
    return s;
}

static hg_tensor *lpd_forward(hg_model *m, hg_ctx *ctx, hg_tensor *y)
{
    lpd *l = m->impl;
    if (hg_learned_ct_check_input(&l->ct, "lpd", y) != HG_OK)
        return NULL;
    const hg_linop *k = l->ct.a_scaled;
    int64_t n = y->shape[0], side = l->ct.g.nx;
    hg_tensor *g = hg_scale(ctx, y, (float)l->ct.op_scale);
    hg_tensor *f = hg_new(ctx, n, l->n_primal, side, side);
    hg_tensor *h = hg_new(ctx, n, l->n_dual, l->ct.g.n_angles, l->ct.g.n_det);
    for (int i = 0; i < l->iterations; i++) {
        hg_tensor *kf = hg_linop_apply(ctx, k, hg_slice(ctx, f, 1, 1, 2), false);
        hg_tensor *din[3] = {h, kf, g};
        h = hg_add(ctx, h, hg_learned_block_forward(ctx, &l->dual[i], hg_concat(ctx, din, 3, 1)));
        hg_tensor *kth = hg_linop_apply(ctx, k, hg_slice(ctx, h, 1, 0, 1), true);
        hg_tensor *pin[2] = {f, kth};
        f = hg_add(ctx, f, hg_learned_block_forward(ctx, &l->primal[i], hg_concat(ctx, pin, 2, 1)));
    }
    return hg_slice(ctx, f, 1, 0, 1);
}

static void lpd_destroy(hg_model *m)
{
    lpd *l = m->impl;
    if (l)
        hg_learned_ct_free(&l->ct);
    free(l);
}

const hg_model_arch hg_arch_lpd = {"lpd", "learned primal-dual CT reconstruction", lpd_keys,
                                   lpd_build, lpd_forward, lpd_destroy, NULL};
