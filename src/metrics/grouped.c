/* Grouped metrics: per-group means with bootstrap CIs and the between-group gap, for
 * "does the model work as well at every site" tables. */
#include "hinge/seg_metrics.h"

#include "seg_internal.h"

#include <math.h>
#include <string.h>

void hg_grouped_free(hg_grouped *g)
{
    if (!g)
        return;
    hg_free(g->group);
    memset(g, 0, sizeof *g);
}

/* Means of every group for one resample: each group's finite cases drawn with replacement
 * from that group (members lists the cases by group, start[g]..start[g+1]). */
static double resampled_gap(const double *values, const int64_t *members, const int64_t *start,
                            int32_t groups, hg_rng *r, double *means)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int32_t g = 0; g < groups; g++) {
        int64_t m = start[g + 1] - start[g];
        if (m == 0) {
            means[g] = NAN;
            continue;
        }
        double s = 0;
        for (int64_t i = 0; i < m; i++)
            s += values[members[start[g] + (int64_t)hg_rng_below(r, (uint64_t)m)]];
        means[g] = s / (double)m;
        lo = fmin(lo, means[g]);
        hi = fmax(hi, means[g]);
    }
    return hi - lo;
}

hg_status hg_grouped_metric(const double *values, const int32_t *group, int64_t n,
                            int32_t groups, int32_t replicates, double level, hg_rng rng,
                            hg_grouped *out)
{
    const char *M = "grouped_metric";
    if (!values || !group || !out || n < 1)
        return hg_error(HG_ERR_INVALID, "%s: NULL argument or n = %lld < 1", M, (long long)n);
    if (groups < 1 || groups > 100000)
        return hg_error(HG_ERR_INVALID, "%s: %d groups, expected 1..100000", M, groups);
    if (replicates < 2 || !(level > 0 && level < 1))
        return hg_error(HG_ERR_INVALID, "%s: %d replicates (>= 2) at level %g (in (0, 1))", M,
                        replicates, level);
    for (int64_t i = 0; i < n; i++)
        if (group[i] < 0 || group[i] >= groups)
            return hg_error(HG_ERR_INVALID, "%s: group[%lld] = %d, expected 0..%d", M,
                            (long long)i, group[i], groups - 1);
    memset(out, 0, sizeof *out);
    out->group = hg_calloc((size_t)groups, sizeof *out->group);
    int64_t *members = hg_malloc(sizeof(int64_t) * (size_t)n);
    int64_t *start = hg_calloc((size_t)groups + 1, sizeof(int64_t));
    double *gaps = hg_malloc(sizeof(double) * (size_t)replicates);
    double *means = hg_malloc(sizeof(double) * (size_t)groups * (size_t)replicates);
    double *column = hg_malloc(sizeof(double) * (size_t)replicates);
    hg_status s = HG_OK;
    if (!out->group || !members || !start || !gaps || !means || !column) {
        s = HG_ERR_NOMEM;
        goto done;
    }
    out->groups = groups;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(values[i]))
            start[group[i] + 1]++;
        else
            out->group[group[i]].skipped++;
    }
    for (int32_t g = 0; g < groups; g++)
        start[g + 1] += start[g];
    {
        int64_t *fill = hg_malloc(sizeof(int64_t) * (size_t)groups);
        if (!fill) {
            s = HG_ERR_NOMEM;
            goto done;
        }
        memcpy(fill, start, sizeof(int64_t) * (size_t)groups);
        for (int64_t i = 0; i < n; i++)
            if (isfinite(values[i]))
                members[fill[group[i]]++] = i;
        hg_free(fill);
    }
    double lo = INFINITY, hi = -INFINITY;
    out->worst = out->best = -1;
    for (int32_t g = 0; g < groups; g++) {
        hg_group_summary *G = &out->group[g];
        G->count = start[g + 1] - start[g];
        G->mean = G->lo = G->hi = NAN;
        if (!G->count)
            continue;
        double sum = 0;
        for (int64_t i = start[g]; i < start[g + 1]; i++)
            sum += values[members[i]];
        G->mean = sum / (double)G->count;
        if (G->mean < lo)
            lo = G->mean, out->worst = g;
        if (G->mean > hi)
            hi = G->mean, out->best = g;
    }
    if (out->worst < 0) {
        s = hg_error(HG_ERR_NUMERIC, "%s: no finite value in %lld cases", M, (long long)n);
        goto done;
    }
    out->gap = hi - lo;
#pragma omp parallel for schedule(static) if ((int64_t)replicates * n > 20000)
    for (int32_t b = 0; b < replicates; b++) {
        hg_rng r = hg_rng_split(&rng, (uint64_t)b);
        gaps[b] = resampled_gap(values, members, start, groups, &r,
                                means + (size_t)b * (size_t)groups);
    }
    double alpha = 100.0 * (1.0 - level) / 2.0;
    for (int32_t g = 0; g < groups; g++) {
        if (out->group[g].count < 2)
            continue;
        for (int32_t b = 0; b < replicates; b++)
            column[b] = means[(size_t)b * (size_t)groups + (size_t)g];
        out->group[g].lo = hg_percentile_sorted_inplace(column, replicates, alpha);
        out->group[g].hi = hg_percentile_sorted_inplace(column, replicates, 100.0 - alpha);
    }
    out->gap_lo = hg_percentile_sorted_inplace(gaps, replicates, alpha);
    out->gap_hi = hg_percentile_sorted_inplace(gaps, replicates, 100.0 - alpha);
done:
    hg_free(members);
    hg_free(start);
    hg_free(gaps);
    hg_free(means);
    hg_free(column);
    if (s)
        hg_grouped_free(out);
    return s;
}
