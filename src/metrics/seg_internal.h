/* Shared helpers of the segmentation / diagnosis metrics. */
#ifndef HINGE_SEG_INTERNAL_H
#define HINGE_SEG_INTERNAL_H

#include "hinge/core.h"

/* Spatial dims of a label map: the last nsp axes (leading axes must be 1). dims receives
 * them in tensor order. The error names the metric and the tensor. */
hg_status hg_seg_spatial_dims(const char *metric, const hg_tensor *t, int nsp, int64_t *dims);
/* numpy.percentile(v, q) with the default 'linear' method; sorts v in place. n >= 1. */
double hg_percentile_sorted_inplace(double *v, int64_t n, double q);

#endif
