/* Segmentation and diagnosis metrics: overlap, surface distances, volumes (per structure),
 * ROC AUC, operating points, bootstrap confidence intervals, calibration, grouped metrics.
 *
 * Label maps are float tensors holding integer labels (0 = background). The spatial axes are
 * the LAST `ndim_spatial` (2 or 3) axes of the tensor; any leading axes must have size 1
 * (so [1, 1, H, W] with ndim_spatial 2 is fine). `spacing` is in NIfTI order, as in
 * hg_image: spacing[0] is the voxel size along the LAST tensor axis (x), spacing[1] along the
 * one before (y), spacing[2] along z. NULL spacing means 1 along every axis.
 *
 * Absent structures (documented, never undefined):
 *   - truth and prediction both empty: Dice 1, all distances 0, volume difference 0, flag
 *     HG_SEG_BOTH_EMPTY (a correct "nothing there").
 *   - exactly one empty: Dice 0, HD / HD95 / ASSD = +INFINITY, flag HG_SEG_PRED_EMPTY or
 *     HG_SEG_TRUTH_EMPTY. Averaging code must check the flags (hg_finite_mean skips them).
 */
#ifndef HINGE_SEG_METRICS_H
#define HINGE_SEG_METRICS_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- overlap, surface distance, volume ------------------------------------------------- */

enum {
    HG_SEG_BOTH_EMPTY = 1u << 0,
    HG_SEG_PRED_EMPTY = 1u << 1, /* prediction empty, truth not */
    HG_SEG_TRUTH_EMPTY = 1u << 2 /* truth empty, prediction not */
};

typedef struct hg_seg_scores {
    double dice;        /* 2|P∩T| / (|P| + |T|) */
    double hd;          /* Hausdorff distance: max of both directed maxima (physical units) */
    double hd95;        /* max of the two directed 95th percentiles (numpy 'linear') */
    double assd;        /* average symmetric surface distance: mean over both surfaces' points */
    double volume_pred; /* voxel count times voxel volume */
    double volume_truth;
    double volume_diff; /* volume_pred - volume_truth */
    double rel_volume_diff; /* volume_diff / volume_truth; 0 when both empty, inf when truth is */
    int64_t surface_pred, surface_truth; /* number of surface voxels */
    uint32_t flags;     /* HG_SEG_* */
} hg_seg_scores;

/* Scores of the structure `label` (voxels equal to label). Surfaces are the structure's voxels
 * that have a face neighbour (4 in 2-D, 6 in 3-D) outside it or lie on the array border
 * (scipy: mask ^ binary_erosion(mask)); distances from one surface to the other come from an
 * exact Euclidean distance transform (Felzenszwalb–Huttenlocher, separable, spacing aware). */
hg_status hg_seg_scores_compute(const hg_tensor *pred, const hg_tensor *truth, int32_t label,
                                int ndim_spatial, const double *spacing, hg_seg_scores *out);

/* Dice of every class 0..classes-1 in one pass; dice[c] = 1 when class c is absent from both.
 * Every label must be an integer in [0, classes). */
hg_status hg_dice_multiclass(const hg_tensor *pred, const hg_tensor *truth, int32_t classes,
                             double *dice);

/* Exact squared Euclidean distance transform: out[i] = squared physical distance from voxel i
 * to the nearest voxel with mask[i] != 0 (+inf when the mask is empty). Shapes as above; mask
 * and out may be the same length arrays of `numel` entries for the given dims. dims are the
 * spatial dims in tensor order (slowest first), spacing in NIfTI order. */
hg_status hg_edt_squared(const uint8_t *mask, int ndim, const int64_t *dims,
                         const double *spacing, double *out);

/* ---- connected components (src/metrics/components.c) ------------------------------------ */

/* Labels the connected components of mask (nonzero = foreground) on a grid of dims (tensor
 * order, ndim 2 or 3): labels[i] = 1..*count in raster order of each component's first
 * voxel, 0 for background. connectivity: 4 or 8 in 2-D, 6 or 26 in 3-D (scipy.ndimage.label
 * with the cross or the full 3x3(x3) structure). */
hg_status hg_connected_components(const uint8_t *mask, int ndim, const int64_t *dims,
                                  int connectivity, int32_t *labels, int32_t *count);
/* Keeps, for every class 1..max of the label map (layout as above), only its largest
 * connected component (ties: the first in raster order); the other voxels of the class
 * become background 0. *removed (may be NULL) receives the number of voxels cleared. */
hg_status hg_keep_largest_component(hg_tensor *labels, int ndim_spatial, int connectivity,
                                    int64_t *removed);

/* ---- diagnosis: scores against binary outcomes ----------------------------------------- */

/* Area under the ROC curve of scores for binary labels (0/1), ties counted one half
 * (Mann–Whitney U / (n_pos n_neg)). Fails when a class is missing. */
hg_status hg_roc_auc(const float *score, const float *label, int64_t n, double *auc);

/* The ROC curve at every distinct score (sklearn's roc_curve with drop_intermediate=False):
 * point 0 is (0, 0) at threshold +inf, then one point per distinct score in decreasing order
 * ("score >= threshold is positive"). fpr, tpr and threshold need n + 1 entries; *count
 * receives the number of points. Its trapezoidal area equals hg_roc_auc. */
hg_status hg_roc_curve(const float *score, const float *label, int64_t n, double *fpr,
                       double *tpr, double *threshold, int64_t *count);

typedef struct hg_operating_point {
    int64_t tp, fp, tn, fn;
    double sensitivity; /* tp / (tp + fn); NaN without positives */
    double specificity; /* tn / (tn + fp); NaN without negatives */
    double ppv, npv, accuracy;
} hg_operating_point;

/* Confusion counts when score >= threshold is called positive. */
hg_status hg_operating_point_at(const float *score, const float *label, int64_t n,
                                double threshold, hg_operating_point *out);

/* A statistic of the resampled indices idx[0..n) (e.g. the AUC of those samples). Returning
 * NaN marks a replicate as undefined (e.g. a resample without positives); it is skipped. */
typedef double (*hg_stat_fn)(const int64_t *idx, int64_t n, void *user);

typedef struct hg_bootstrap_ci {
    double estimate;   /* the statistic on the full sample */
    double lo, hi;     /* percentile interval (numpy 'linear' percentiles) */
    int32_t replicates_used; /* replicates with a finite statistic */
} hg_bootstrap_ci;

/* Percentile bootstrap: `replicates` resamples with replacement of n items; replicate b uses
 * the stream hg_rng_split(&rng, b), so results depend only on (rng, replicates), not on the
 * thread count. level e.g. 0.95. The statistic is called from several threads at once. */
hg_status hg_bootstrap(int64_t n, hg_stat_fn stat, void *user, int32_t replicates,
                       double level, hg_rng rng, hg_bootstrap_ci *out);

/* The AUC with a bootstrap CI (resamples lacking a class are skipped). */
hg_status hg_roc_auc_ci(const float *score, const float *label, int64_t n, int32_t replicates,
                        double level, hg_rng rng, hg_bootstrap_ci *out);

/* ---- calibration ----------------------------------------------------------------------- */

#define HG_CALIB_MAX_BINS 100

typedef struct hg_calibration {
    int32_t bins;
    int64_t count[HG_CALIB_MAX_BINS];
    double confidence[HG_CALIB_MAX_BINS]; /* mean predicted probability in the bin */
    double frequency[HG_CALIB_MAX_BINS];  /* fraction of positives in the bin (NaN if empty) */
    double ece; /* sum_b n_b/N |frequency_b - confidence_b| */
    double mce; /* max over nonempty bins */
} hg_calibration;

/* Reliability of predicted probabilities p in [0, 1] of the positive class. Uniform bins;
 * a probability exactly on an inner edge goes to the upper bin (sklearn's calibration_curve
 * binning); 1.0 goes to the last bin. */
hg_status hg_calibration_compute(const float *prob, const float *label, int64_t n, int32_t bins,
                                 hg_calibration *out);
/* Reliability diagram as an RGB PNG of size x size pixels: per-bin frequency bars (blue),
 * the gap to the diagonal (red), the diagonal (gray). */
hg_status hg_calibration_png(const char *path, const hg_calibration *c, int32_t size);

/* Mean of the finite values of v[0..n); *used receives their count (may be NULL). NaN when
 * none is finite. */
double hg_finite_mean(const double *v, int64_t n, int64_t *used);

/* ---- grouped metrics (per site / scanner / sex ...) -------------------------------------- */

typedef struct hg_group_summary {
    int64_t count;   /* cases of the group with a finite value */
    int64_t skipped; /* cases with a non-finite value (e.g. HD95 of a missed structure) */
    double mean;     /* NaN when count is 0 */
    double lo, hi;   /* bootstrap CI of the mean (NaN when count < 2) */
} hg_group_summary;

typedef struct hg_grouped {
    int32_t groups;
    hg_group_summary *group; /* [groups], owned; free with hg_grouped_free */
    double gap;              /* max - min of the group means (groups with count >= 1) */
    double gap_lo, gap_hi;   /* stratified bootstrap CI of the gap (cases resampled within
                                their group) */
    int32_t worst, best;     /* groups with the lowest / highest mean */
} hg_grouped;

/* Per-group means with percentile-bootstrap CIs of a per-case metric values[0..n), where
 * group[i] in [0, groups) is case i's group. Non-finite values are skipped and counted.
 * Replicate b draws from hg_rng_split(&rng, b): thread-count independent. */
hg_status hg_grouped_metric(const double *values, const int32_t *group, int64_t n,
                            int32_t groups, int32_t replicates, double level, hg_rng rng,
                            hg_grouped *out);
void hg_grouped_free(hg_grouped *g);

#ifdef __cplusplus
}
#endif
#endif
