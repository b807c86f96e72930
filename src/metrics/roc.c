/* ROC AUC (Mann–Whitney with midranks for ties), operating points, percentile bootstrap. */
#include "hinge/seg_metrics.h"

#include "seg_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

typedef struct scored {
    float score;
    uint8_t positive;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

static hg_status check_binary(const char *M, const float *score, const float *label, int64_t n)
{
    if (!score || !label || n < 1)
        return hg_error(HG_ERR_INVALID, "%s: NULL scores/labels or n = %lld < 1", M,
                        (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (label[i] != 0.0f && label[i] != 1.0f)
            return hg_error(HG_ERR_INVALID, "%s: label[%lld] = %g, expected 0 or 1", M,
                            (long long)i, (double)label[i]);
        if (!isfinite(score[i]))
            return hg_error(HG_ERR_NUMERIC, "%s: score[%lld] = %g, expected finite", M,
                            (long long)i, (double)score[i]);
    }
    return HG_OK;
}

/* AUC of the samples idx[0..n) (all when idx is NULL), using scratch s (n entries). NaN when a
 * class is missing. Sum of the positives' midranks gives U = R+ - n+(n+ + 1)/2. */
static double auc_of(const float *score, const float *label, const int64_t *idx, int64_t n,
                     scored *s)
{
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = idx ? idx[i] : i;
        s[i].score = score[j];
        s[i].positive = label[j] == 1.0f;
        npos += s[i].positive;
    }
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0)
        return NAN;
    qsort(s, (size_t)n, sizeof *s, cmp_scored);
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, pos_in_tie = 0;
        while (j < n && s[j].score == s[i].score)
            pos_in_tie += s[j++].positive;
        double midrank = 0.5 * (double)(i + 1 + j); /* ranks i+1 .. j */
        rank_sum += midrank * (double)pos_in_tie;
        i = j;
    }
    double u = rank_sum - 0.5 * (double)npos * (double)(npos + 1);
    return u / ((double)npos * (double)nneg);
}

hg_status hg_roc_auc(const float *score, const float *label, int64_t n, double *auc)
{
    hg_status st = check_binary("roc_auc", score, label, n);
    if (st)
        return st;
    scored *s = hg_malloc(sizeof(scored) * (size_t)n);
    if (!s)
        return HG_ERR_NOMEM;
    double a = auc_of(score, label, NULL, n, s);
    hg_free(s);
    if (isnan(a))
        return hg_error(HG_ERR_INVALID, "roc_auc: labels of %lld samples are all one class; "
                        "the AUC needs positives and negatives", (long long)n);
    *auc = a;
    return HG_OK;
}

static int cmp_scored_desc(const void *a, const void *b) { return cmp_scored(b, a); }

hg_status hg_roc_curve(const float *score, const float *label, int64_t n, double *fpr,
                       double *tpr, double *threshold, int64_t *count)
{
    hg_status st = check_binary("roc_curve", score, label, n);
    if (st)
        return st;
    if (!fpr || !tpr || !threshold || !count)
        return hg_error(HG_ERR_INVALID, "roc_curve: NULL output array");
    scored *s = hg_malloc(sizeof(scored) * (size_t)n);
    if (!s)
        return HG_ERR_NOMEM;
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) {
        s[i].score = score[i];
        s[i].positive = label[i] == 1.0f;
        npos += s[i].positive;
    }
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0) {
        hg_free(s);
        return hg_error(HG_ERR_INVALID, "roc_curve: labels of %lld samples are all one class",
                        (long long)n);
    }
    qsort(s, (size_t)n, sizeof *s, cmp_scored_desc);
    int64_t k = 0, tp = 0, fp = 0;
    fpr[0] = tpr[0] = 0.0;
    threshold[0] = INFINITY;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && s[j].score == s[i].score) { /* a tie moves the curve diagonally */
            tp += s[j].positive;
            fp += !s[j].positive;
            j++;
        }
        k++;
        fpr[k] = (double)fp / (double)nneg;
        tpr[k] = (double)tp / (double)npos;
        threshold[k] = s[i].score;
        i = j;
    }
    *count = k + 1;
    hg_free(s);
    return HG_OK;
}

hg_status hg_operating_point_at(const float *score, const float *label, int64_t n,
                                double threshold, hg_operating_point *out)
{
    hg_status st = check_binary("operating_point", score, label, n);
    if (st)
        return st;
    hg_operating_point o = {0};
    for (int64_t i = 0; i < n; i++) {
        bool called = (double)score[i] >= threshold, pos = label[i] == 1.0f;
        o.tp += called && pos;
        o.fp += called && !pos;
        o.tn += !called && !pos;
        o.fn += !called && pos;
    }
#define RATIO(a, b) ((a) + (b) ? (double)(a) / (double)((a) + (b)) : NAN)
    o.sensitivity = RATIO(o.tp, o.fn);
    o.specificity = RATIO(o.tn, o.fp);
    o.ppv = RATIO(o.tp, o.fp);
    o.npv = RATIO(o.tn, o.fn);
#undef RATIO
    o.accuracy = (double)(o.tp + o.tn) / (double)n;
    *out = o;
    return HG_OK;
}

hg_status hg_bootstrap(int64_t n, hg_stat_fn stat, void *user, int32_t replicates,
                       double level, hg_rng rng, hg_bootstrap_ci *out)
{
    if (n < 1 || !stat || !out)
        return hg_error(HG_ERR_INVALID, "bootstrap: n = %lld, expected >= 1 (and a statistic)",
                        (long long)n);
    if (replicates < 2 || replicates > 10000000)
        return hg_error(HG_ERR_INVALID, "bootstrap: %d replicates, expected 2..1e7",
                        replicates);
    if (!(level > 0 && level < 1))
        return hg_error(HG_ERR_INVALID, "bootstrap: level %g, expected in (0, 1)", level);
    int nt = omp_get_max_threads();
    int64_t *idx = hg_malloc(sizeof(int64_t) * (size_t)n * (size_t)(nt + 1));
    double *vals = hg_malloc(sizeof(double) * (size_t)replicates);
    if (!idx || !vals) {
        hg_free(idx);
        hg_free(vals);
        return HG_ERR_NOMEM;
    }
    int64_t *all = idx + (size_t)n * (size_t)nt;
    for (int64_t i = 0; i < n; i++)
        all[i] = i;
    out->estimate = stat(all, n, user);
#pragma omp parallel for schedule(dynamic, 16) num_threads(nt)
    for (int32_t b = 0; b < replicates; b++) {
        int64_t *mine = idx + (size_t)n * (size_t)omp_get_thread_num();
        hg_rng r = hg_rng_split(&rng, (uint64_t)b);
        for (int64_t i = 0; i < n; i++)
            mine[i] = (int64_t)hg_rng_below(&r, (uint64_t)n);
        vals[b] = stat(mine, n, user);
    }
    int32_t used = 0;
    for (int32_t b = 0; b < replicates; b++)
        if (isfinite(vals[b]))
            vals[used++] = vals[b];
    hg_status st = HG_OK;
    out->replicates_used = used;
    if (used < 2) {
        st = hg_error(HG_ERR_NUMERIC, "bootstrap: only %d of %d replicates gave a finite "
                      "statistic", used, replicates);
    } else {
        double alpha = 100.0 * (1.0 - level) / 2.0;
        out->lo = hg_percentile_sorted_inplace(vals, used, alpha);
        out->hi = hg_percentile_sorted_inplace(vals, used, 100.0 - alpha);
    }
    hg_free(idx);
    hg_free(vals);
    return st;
}

typedef struct auc_user {
    const float *score, *label;
    scored *scratch; /* n per thread */
    int64_t n;
} auc_user;

static double auc_stat(const int64_t *idx, int64_t n, void *user)
{
    auc_user *u = user;
    return auc_of(u->score, u->label, idx, n, u->scratch + (size_t)u->n * omp_get_thread_num());
}

hg_status hg_roc_auc_ci(const float *score, const float *label, int64_t n, int32_t replicates,
                        double level, hg_rng rng, hg_bootstrap_ci *out)
{
    double auc;
    hg_status st = hg_roc_auc(score, label, n, &auc);
    if (st)
        return st;
    auc_user u = {score, label, NULL, n};
    u.scratch = hg_malloc(sizeof(scored) * (size_t)n * (size_t)omp_get_max_threads());
    if (!u.scratch)
        return HG_ERR_NOMEM;
    st = hg_bootstrap(n, auc_stat, &u, replicates, level, rng, out);
    hg_free(u.scratch);
    return st;
}

double hg_finite_mean(const double *v, int64_t n, int64_t *used)
{
    double s = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            s += v[i];
            k++;
        }
    if (used)
        *used = k;
    return k ? s / (double)k : NAN;
}
