/* "lgd": learned gradient descent (Adler & Öktem, Inverse Problems 2017), the primal-only
 * counterpart of lpd used as its baseline. With K = A/||A||, g = y/||A|| and f = 0
 * (`primal` channels: channel 0 the image, the others a learned memory), each unrolled
 * iteration i computes the data-fit gradient ∇ = K^T (K f[0] - g) and
 *   f <- f + Λ_i([f, ∇])                  (block: primal+1 -> 32 -> 32 -> primal channels)
 * with its own weights; the output is f[0]. Config: the CT keys, iterations (10),
 * primal (5), width (32). */
#include "learned_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define LGD_MAX_ITER 64

typedef struct {
    hg_learned_ct ct;
    int64_t iterations, n_primal, width;
    hg_learned_block block[LGD_MAX_ITER];
} lgd;

static const char *const lgd_keys[] = {HG_LEARNED_CT_KEYS, "iterations", "primal", "width",
                                       NULL};

static hg_status lgd_build(hg_model *m, hg_rng *rng)
{
    lgd *l = calloc(1, sizeof *l);
    if (!l)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = l;
    l->iterations = 10, l->n_primal = 5, l->width = 32;
    const hg_metadata *cf = &m->config;
    hg_status s = hg_config_int(cf, "iterations", 1, LGD_MAX_ITER, &l->iterations);
    if (s == HG_OK) s = hg_config_int(cf, "primal", 1, 256, &l->n_primal);
    if (s == HG_OK) s = hg_config_int(cf, "width", 1, 1024, &l->width);
    if (s == HG_OK) s = hg_learned_ct_init(&l->ct, m);
    for (int i = 0; s == HG_OK && i < l->iterations; i++) {
        char n[64];
        snprintf(n, sizeof n, "iter%d", i);
        s = hg_learned_block_init(&l->block[i], &m->params, n, (int)l->n_primal + 1,
                                  (int)l->width, (int)l->n_primal, rng);
    }
    return s;
}

static hg_tensor *lgd_forward(hg_model *m, hg_ctx *ctx, hg_tensor *y)
{
    lgd *l = m->impl;
    if (hg_learned_ct_check_input(&l->ct, "lgd", y) != HG_OK)
        return NULL;
    const hg_linop *k = l->ct.a_scaled;
    int64_t side = l->ct.g.nx;
    hg_tensor *g = hg_scale(ctx, y, (float)l->ct.op_scale);
    hg_tensor *f = hg_new(ctx, y->shape[0], l->n_primal, side, side);
    for (int i = 0; i < l->iterations; i++) {
        hg_tensor *r = hg_sub(ctx, hg_linop_apply(ctx, k, hg_slice(ctx, f, 1, 0, 1), false), g);
        hg_tensor *in[2] = {f, hg_linop_apply(ctx, k, r, true)};
        f = hg_add(ctx, f, hg_learned_block_forward(ctx, &l->block[i], hg_concat(ctx, in, 2, 1)));
    }
    return hg_slice(ctx, f, 1, 0, 1);
}

static void lgd_destroy(hg_model *m)
{
    lgd *l = m->impl;
    if (l)
        hg_learned_ct_free(&l->ct);
    free(l);
}

const hg_model_arch hg_arch_lgd = {"lgd", "learned gradient descent CT reconstruction",
                                   lgd_keys, lgd_build, lgd_forward, lgd_destroy, NULL};
