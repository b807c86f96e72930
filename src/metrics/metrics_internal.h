/* Shared argument checks of the metrics. */
#ifndef HINGE_METRICS_INTERNAL_H
#define HINGE_METRICS_INTERNAL_H

#include "hinge/core.h"

/* Same shape and dtype, nonempty; complex only when allowed. The error names the metric. */
hg_status hg_metric_check_pair(const char *metric, const hg_tensor *pred,
                               const hg_tensor *target, bool allow_complex);
/* The data range: `given` when > 0, else max(target) (which must be > 0). */
hg_status hg_metric_range(const char *metric, const hg_tensor *target, double given,
                          double *range);

#endif
