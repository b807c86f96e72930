/* Shared pieces of the learned CT reconstruction networks (lpd.c, lgd.c, fbpconvnet.c).
 * Private to src/nn. */
#ifndef HINGE_LEARNED_INTERNAL_H
#define HINGE_LEARNED_INTERNAL_H

#include "hinge/learned.h"
#include "hinge/nn.h"

/* The config keys every learned CT model accepts (see include/hinge/learned.h). */
#define HG_LEARNED_CT_KEYS                                                                     \
    "size", "pixel", "angles", "detectors", "detector_spacing", "op_scale", "geometry", "sod",  \
        "sdd", "range"

typedef struct {
    hg_ct_geometry g;
    float *angles;
    hg_linop *a;        /* raw projector */
    hg_linop *a_scaled; /* a / ||a|| (borrows a) */
    double op_scale;    /* 1 / ||a|| */
} hg_learned_ct;

/* Parses the geometry keys of m->config, builds the operators, and computes op_scale when the
 * config has none (then stores it in m->config so that it is saved with the model). */
hg_status hg_learned_ct_init(hg_learned_ct *c, hg_model *m);
void hg_learned_ct_free(hg_learned_ct *c);
/* Checks a network input against the geometry: [N, 1, angles, detectors]. */
hg_status hg_learned_ct_check_input(const hg_learned_ct *c, const char *arch, const hg_tensor *x);

/* A block of 3x3 convs (width, width, cout) with per-channel PReLU between them, as in the
 * learned primal-dual paper: Xavier-uniform weights, zero biases, PReLU slopes 0 and the last
 * conv all zero, so every residual update starts at zero. */
typedef struct {
    hg_conv_layer conv[3];
    hg_tensor *alpha[2];
} hg_learned_block;

hg_status hg_learned_block_init(hg_learned_block *b, hg_params *p, const char *name, int cin,
                                int width, int cout, hg_rng *rng);
hg_tensor *hg_learned_block_forward(hg_ctx *ctx, const hg_learned_block *b, hg_tensor *x);

/* A caller's n×n float buffer seen as a 2-D tensor, for the image metrics (no copy). */
static inline hg_tensor hg_learned_square_view(const float *data, int64_t n)
{
    hg_tensor t = {0};
    t.dtype = HG_F32;
    t.ndim = 2;
    t.shape[0] = t.shape[1] = n;
    t.numel = n * n;
    t.data = (float *)data;
    return t;
}

#endif
