/* Dice, Hausdorff (max and 95th percentile), average symmetric surface distance and volume of
 * one labelled structure, spacing aware, 2-D and 3-D. */
#include "hinge/seg_metrics.h"

#include "seg_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

hg_status hg_seg_spatial_dims(const char *metric, const hg_tensor *t, int nsp, int64_t *dims)
{
    char b[64];
    if (!t)
        return hg_error(HG_ERR_INVALID, "%s: NULL label map", metric);
    if (nsp != 2 && nsp != 3)
        return hg_error(HG_ERR_INVALID, "%s: %d spatial dims, expected 2 or 3", metric, nsp);
    if (t->dtype != HG_F32 || t->ndim < nsp)
        return hg_error(HG_ERR_INVALID, "%s: '%s' has shape %s, expected at least %d real axes",
                        metric, hg_tensor_label(t), hg_shape_str(t, b, sizeof b), nsp);
    for (int a = 0; a < t->ndim - nsp; a++)
        if (t->shape[a] != 1)
            return hg_error(HG_ERR_INVALID, "%s: '%s' has shape %s; axes before the last %d "
                            "must be 1", metric, hg_tensor_label(t),
                            hg_shape_str(t, b, sizeof b), nsp);
    for (int a = 0; a < nsp; a++)
        dims[a] = t->shape[t->ndim - nsp + a];
    return HG_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double hg_percentile_sorted_inplace(double *v, int64_t n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1)
        return v[n - 1];
    double frac = pos - (double)lo;
    return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

/* 1 where the voxel is in the structure and touches the outside through a face or the border. */
static int64_t surface(const uint8_t *m, const int64_t *d, int nsp, uint8_t *edge)
{
    int64_t D = nsp == 3 ? d[0] : 1, H = d[nsp - 2], W = d[nsp - 1], count = 0;
    for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                int64_t i = (z * H + y) * W + x;
                uint8_t e = 0;
                if (m[i]) {
                    e = x == 0 || x == W - 1 || y == 0 || y == H - 1 || !m[i - 1] || !m[i + 1] ||
                        !m[i - W] || !m[i + W];
                    if (!e && nsp == 3)
                        e = z == 0 || z == D - 1 || !m[i - H * W] || !m[i + H * W];
                }
                edge[i] = e;
                count += e;
            }
    return count;
}

/* Distances from the surface points `from` to the nearest point of `to_dist2` (squared EDT). */
static void gather(const uint8_t *from, const double *to_dist2, int64_t n, double *out)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (from[i])
            out[k++] = sqrt(to_dist2[i]);
}

static void empty_scores(hg_seg_scores *o, int64_t np, int64_t nt)
{
    if (np == 0 && nt == 0) {
        o->dice = 1.0;
        o->hd = o->hd95 = o->assd = 0.0;
        o->rel_volume_diff = 0.0;
        o->flags = HG_SEG_BOTH_EMPTY;
    } else {
        o->dice = 0.0;
        o->hd = o->hd95 = o->assd = INFINITY;
        o->flags = np == 0 ? HG_SEG_PRED_EMPTY : HG_SEG_TRUTH_EMPTY;
        o->rel_volume_diff = nt == 0 ? INFINITY : -1.0;
    }
}

hg_status hg_seg_scores_compute(const hg_tensor *pred, const hg_tensor *truth, int32_t label,
                                int ndim_spatial, const double *spacing, hg_seg_scores *out)
{
    const char *M = "seg_scores";
    int64_t dp[3], dt[3];
    hg_status s = hg_seg_spatial_dims(M, pred, ndim_spatial, dp);
    if (!s)
        s = hg_seg_spatial_dims(M, truth, ndim_spatial, dt);
    if (s)
        return s;
    if (!out)
        return hg_error(HG_ERR_INVALID, "%s: NULL output", M);
    for (int a = 0; a < ndim_spatial; a++)
        if (dp[a] != dt[a]) {
            char b1[64], b2[64];
            return hg_error(HG_ERR_INVALID, "%s: '%s' has shape %s, truth '%s' has %s", M,
                            hg_tensor_label(pred), hg_shape_str(pred, b1, sizeof b1),
                            hg_tensor_label(truth), hg_shape_str(truth, b2, sizeof b2));
        }
    double voxel = 1.0;
    for (int a = 0; a < ndim_spatial; a++) {
        if (spacing && !(spacing[a] > 0 && isfinite(spacing[a])))
            return hg_error(HG_ERR_INVALID, "%s: spacing[%d] = %g, expected finite > 0", M, a,
                            spacing[a]);
        voxel *= spacing ? spacing[a] : 1.0;
    }
    int64_t n = pred->numel;
    /* masks: pm, tm; edges: pe, te; then the two squared EDTs and the distance lists */
    uint8_t *mem = hg_malloc((size_t)n * 4);
    double *d2 = hg_malloc(sizeof(double) * (size_t)n * 2);
    if (!mem || !d2) {
        hg_free(mem);
        hg_free(d2);
        return HG_ERR_NOMEM;
    }
    uint8_t *pm = mem, *tm = mem + n, *pe = mem + 2 * n, *te = mem + 3 * n;
    int64_t np = 0, nt = 0, inter = 0;
    float lf = (float)label;
    for (int64_t i = 0; i < n; i++) {
        pm[i] = pred->data[i] == lf;
        tm[i] = truth->data[i] == lf;
        np += pm[i];
        nt += tm[i];
        inter += pm[i] & tm[i];
    }
    memset(out, 0, sizeof *out);
    out->volume_pred = (double)np * voxel;
    out->volume_truth = (double)nt * voxel;
    out->volume_diff = out->volume_pred - out->volume_truth;
    if (np == 0 || nt == 0) {
        empty_scores(out, np, nt);
        goto done;
    }
    out->dice = 2.0 * (double)inter / (double)(np + nt);
    out->rel_volume_diff = out->volume_diff / out->volume_truth;
    int64_t sp = surface(pm, dp, ndim_spatial, pe), st = surface(tm, dp, ndim_spatial, te);
    out->surface_pred = sp;
    out->surface_truth = st;
    double *dist_t = d2, *dist_p = d2 + n;
    if ((s = hg_edt_squared(te, ndim_spatial, dp, spacing, dist_t)) ||
        (s = hg_edt_squared(pe, ndim_spatial, dp, spacing, dist_p)))
        goto done;
    /* the two directed distance lists, pred surface first */
    double *lists = hg_malloc(sizeof(double) * (size_t)(sp + st));
    if (!lists) {
        s = HG_ERR_NOMEM;
        goto done;
    }
    double *a = lists, *b = lists + sp; /* a: pred surface -> truth, b: truth -> pred */
    gather(pe, dist_t, n, a);
    gather(te, dist_p, n, b);
    double sum = 0, mx = 0;
    for (int64_t i = 0; i < sp + st; i++) {
        sum += lists[i];
        mx = fmax(mx, lists[i]);
    }
    out->assd = sum / (double)(sp + st);
    out->hd = mx;
    double pa = hg_percentile_sorted_inplace(a, sp, 95.0);
    double pb = hg_percentile_sorted_inplace(b, st, 95.0);
    out->hd95 = fmax(pa, pb);
    hg_free(lists);
done:
    hg_free(mem);
    hg_free(d2);
    return s;
}

hg_status hg_dice_multiclass(const hg_tensor *pred, const hg_tensor *truth, int32_t classes,
                             double *dice)
{
    const char *M = "dice";
    if (!pred || !truth || !dice)
        return hg_error(HG_ERR_INVALID, "%s: NULL argument", M);
    if (classes < 1 || classes > 4096)
        return hg_error(HG_ERR_INVALID, "%s: %d classes, expected 1..4096", M, classes);
    if (!hg_shape_equal(pred, truth) || pred->dtype != HG_F32 || truth->dtype != HG_F32) {
        char b1[64], b2[64];
        return hg_error(HG_ERR_INVALID, "%s: '%s' has shape %s, truth '%s' has %s (both real)",
                        M, hg_tensor_label(pred), hg_shape_str(pred, b1, sizeof b1),
                        hg_tensor_label(truth), hg_shape_str(truth, b2, sizeof b2));
    }
    int64_t *cnt = hg_calloc((size_t)classes * 3, sizeof(int64_t));
    if (!cnt)
        return HG_ERR_NOMEM;
    int64_t *cp = cnt, *ct = cnt + classes, *ci = cnt + 2 * classes;
    for (int64_t i = 0; i < pred->numel; i++) {
        float p = pred->data[i], t = truth->data[i];
        if (!(p >= 0 && p < (float)classes && p == floorf(p)) ||
            !(t >= 0 && t < (float)classes && t == floorf(t))) {
            const hg_tensor *bad = !(p >= 0 && p < (float)classes && p == floorf(p)) ? pred
                                                                                      : truth;
            hg_free(cnt);
            return hg_error(HG_ERR_INVALID, "%s: '%s'[%lld] = %g, expected an integer label in "
                            "[0, %d)", M, hg_tensor_label(bad), (long long)i,
                            (double)bad->data[i], classes);
        }
        int a = (int)p, b = (int)t;
        cp[a]++;
        ct[b]++;
        ci[a] += a == b;
    }
    for (int c = 0; c < classes; c++)
        dice[c] = cp[c] + ct[c] == 0 ? 1.0 : 2.0 * (double)ci[c] / (double)(cp[c] + ct[c]);
    hg_free(cnt);
    return HG_OK;
}
