/* Helpers shared by the segmentation data files (shapes, patches, augmentation, sites). */
#ifndef HINGE_SEG_DATA_INTERNAL_H
#define HINGE_SEG_DATA_INTERNAL_H

#include "hinge/core.h"

/* A sample's geometry: channels C and spatial dims as 3-D (D = 1 for 2-D images). */
typedef struct hg_vol {
    int64_t c, d, h, w;
    int64_t n; /* d * h * w voxels per channel */
} hg_vol;

/* Checks image [C, S] (and label [S] or [1, S] when not NULL) for ndim 2/3 spatial dims. */
hg_status hg_vol_of(const char *who, const hg_tensor *image, const hg_tensor *label, int ndim,
                    hg_vol *v);
/* Trilinear sample of one channel at (z, y, x) (voxel units), clamped to the border. */
float hg_vol_linear(const float *x, const hg_vol *v, double z, double y, double xx);
/* Separable Gaussian blur of each channel in place; sigma per axis (D, H, W) in voxels (0:
 * skip the axis). tmp holds v->n floats. */
void hg_vol_blur(float *x, const hg_vol *v, const double sigma[3], float *tmp);
/* A smooth multiplicative bias field exp(quadratic polynomial in normalized coordinates) with
 * |log| <= strength, written to field (v->n floats). */
void hg_vol_bias_field(const hg_vol *v, float strength, hg_rng *rng, float *field);

#endif
