/* Shared pieces of the learned MRI networks (modl.c, varnet.c): the acquisition keys of the
 * config, the input checks against them, and the per-sample preparation that needs no
 * gradient (mask from the data, intensity scale, ACS coil images, initial maps). Private to
 * src/nn. */
#ifndef HINGE_MRI_NET_INTERNAL_H
#define HINGE_MRI_NET_INTERNAL_H

#include "hinge/mri_learned.h"
#include "hinge/nn.h"

#define HG_MRI_NET_KEYS "size", "coils", "mask", "acceleration", "center_fraction", "mask_seeds"

typedef struct {
    hg_mri_geometry g;
    hg_linop *fft; /* centred FFT over [coils, size, size] */
} hg_mri_net;

/* Parses the acquisition keys of m->config (defaults: 128, 8, random, 4, 0.08, fresh), stores
 * the normalized values back (so a saved model names them all) and plans the FFT. */
hg_status hg_mri_net_init(hg_mri_net *n, hg_model *m);
void hg_mri_net_free(hg_mri_net *n);

/* What the networks need from one batch of k-space, computed without the tape. */
typedef struct {
    int64_t batch;
    hg_tensor *kspace; /* [N, C, n, n] complex: the input divided by scale */
    hg_tensor *mask;   /* [N, 1, n, n] real 0/1 */
    hg_tensor *scale;  /* [N, 1, 1, 1] real: max of the zero-filled RSS image */
    hg_tensor *acs;    /* [N, C, n, n] complex: coil images of the ACS block only (scaled) */
    hg_tensor *sens;   /* [N, C, n, n] complex: acs / RSS(acs) */
} hg_mri_prep;

/* Checks k-space [N, coils, n, n] against the model's acquisition (errors name arch, the field
 * and both values) and fills p (tensors in ctx). */
hg_status hg_mri_net_prepare(const hg_mri_net *n, const char *arch, hg_ctx *ctx, hg_tensor *k,
                             hg_mri_prep *p);

/* Differentiable helpers. */
/* Root sum of squares over dim 1 of complex [N, C, *S] -> real [N, 1, *S]. */
hg_tensor *hg_mri_rss_op(hg_ctx *ctx, hg_tensor *x);
/* u / RSS(u) over coils (complex [N, C, *S]), the normalization of sensitivity maps. */
hg_tensor *hg_mri_normalize_maps(hg_ctx *ctx, hg_tensor *u);
/* The magnitude image times the per-sample scale: [N, 1, *S] real. */
hg_tensor *hg_mri_unscale(hg_ctx *ctx, hg_tensor *image, hg_tensor *scale);

#endif
