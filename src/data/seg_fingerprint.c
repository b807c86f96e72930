/* The data-set fingerprint: spacings, shapes, foreground intensity statistics and class
 * frequencies (the facts the plan is derived from, as nnU-Net's). */
#include "hinge/seg_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FG_SAMPLES_PER_CASE 100000

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int icmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* numpy.percentile(..., method='linear') of sorted v[0..n). */
static double percentile(const double *v, int64_t n, double q)
{
    double pos = q / 100.0 * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

/* Median of n doubles (sorts a copy in scratch). */
static double median_d(const double *v, int n, double *scratch)
{
    memcpy(scratch, v, sizeof *v * (size_t)n);
    qsort(scratch, (size_t)n, sizeof *scratch, dcmp);
    return n % 2 ? scratch[n / 2] : 0.5 * (scratch[n / 2 - 1] + scratch[n / 2]);
}

static int64_t median_i(const int64_t *v, int n, int64_t *scratch)
{
    memcpy(scratch, v, sizeof *v * (size_t)n);
    qsort(scratch, (size_t)n, sizeof *scratch, icmp);
    return n % 2 ? scratch[n / 2] : (scratch[n / 2 - 1] + scratch[n / 2]) / 2;
}

static void geometry(const hg_seg_dataset *ds, hg_seg_fingerprint *fp, double *sp, int64_t *sh)
{
    int n = ds->count;
    for (int a = 0; a < 3; a++) {
        double *col = sp + n, *scratch = sp + 2 * n;
        int64_t *icol = sh + n, *iscr = sh + 2 * n;
        fp->min_spacing[a] = INFINITY, fp->max_spacing[a] = 0;
        fp->min_shape[a] = INT64_MAX, fp->max_shape[a] = 0;
        for (int i = 0; i < n; i++) {
            col[i] = ds->cases[i].spacing[a];
            icol[i] = ds->cases[i].label->shape[a];
            fp->min_spacing[a] = fmin(fp->min_spacing[a], col[i]);
            fp->max_spacing[a] = fmax(fp->max_spacing[a], col[i]);
            if (icol[i] < fp->min_shape[a]) fp->min_shape[a] = icol[i];
            if (icol[i] > fp->max_shape[a]) fp->max_shape[a] = icol[i];
        }
        fp->median_spacing[a] = median_d(col, n, scratch);
        fp->median_shape[a] = median_i(icol, n, iscr);
    }
}

/* Foreground intensities of channel ch: every case's label > 0 voxels, strided down to at
 * most FG_SAMPLES_PER_CASE per case. */
static hg_status intensities(const hg_seg_dataset *ds, int ch, hg_seg_fingerprint *fp)
{
    int64_t cap = 0;
    for (int i = 0; i < ds->count; i++)
        cap += FG_SAMPLES_PER_CASE;
    double *v = malloc(sizeof *v * (size_t)cap);
    if (!v)
        return hg_error(HG_ERR_NOMEM, "fingerprint: out of memory for %lld samples",
                        (long long)cap);
    int64_t n = 0;
    for (int i = 0; i < ds->count; i++) {
        const hg_seg_case *c = &ds->cases[i];
        int64_t vox = c->label->numel, fg = 0;
        for (int64_t k = 0; k < vox; k++)
            fg += c->label->data[k] > 0;
        int64_t stride = fg > FG_SAMPLES_PER_CASE ? (fg + FG_SAMPLES_PER_CASE - 1) /
                                                        FG_SAMPLES_PER_CASE : 1;
        const float *x = c->image->data + ch * vox;
        for (int64_t k = 0, j = 0; k < vox; k++)
            if (c->label->data[k] > 0 && j++ % stride == 0)
                v[n++] = x[k];
    }
    if (n == 0) { /* no foreground anywhere: statistics of nothing are NaN */
        fp->fg_mean[ch] = fp->fg_std[ch] = fp->fg_p005[ch] = fp->fg_p50[ch] = NAN;
        fp->fg_p995[ch] = fp->fg_min[ch] = fp->fg_max[ch] = NAN;
        free(v);
        return HG_OK;
    }
    double sum = 0, sq = 0;
    for (int64_t k = 0; k < n; k++)
        sum += v[k];
    double mean = sum / (double)n;
    for (int64_t k = 0; k < n; k++)
        sq += (v[k] - mean) * (v[k] - mean);
    qsort(v, (size_t)n, sizeof *v, dcmp);
    fp->fg_mean[ch] = mean;
    fp->fg_std[ch] = sqrt(sq / (double)n);
    fp->fg_p005[ch] = percentile(v, n, 0.5);
    fp->fg_p50[ch] = percentile(v, n, 50);
    fp->fg_p995[ch] = percentile(v, n, 99.5);
    fp->fg_min[ch] = v[0];
    fp->fg_max[ch] = v[n - 1];
    free(v);
    return HG_OK;
}

hg_status hg_seg_fingerprint_compute(const hg_seg_dataset *ds, hg_seg_fingerprint *fp)
{
    if (!ds || !fp || ds->count < 1)
        return hg_error(HG_ERR_INVALID, "fingerprint: the data set has no cases");
    memset(fp, 0, sizeof *fp);
    fp->cases = ds->count, fp->channels = ds->channels, fp->classes = ds->classes;
    fp->ndim = ds->ndim;
    memcpy(fp->modality, ds->modality, sizeof fp->modality);
    double *sp = malloc(sizeof *sp * 3 * (size_t)ds->count);
    int64_t *sh = malloc(sizeof *sh * 3 * (size_t)ds->count);
    if (!sp || !sh) {
        free(sp), free(sh);
        return hg_error(HG_ERR_NOMEM, "fingerprint: out of memory");
    }
    geometry(ds, fp, sp, sh);
    free(sp), free(sh);
    hg_status s = HG_OK;
    for (int ch = 0; ch < ds->channels && s == HG_OK; ch++)
        s = intensities(ds, ch, fp);
    double total = 0;
    for (int i = 0; i < ds->count; i++) {
        const hg_tensor *y = ds->cases[i].label;
        bool present[HG_SEG_MAX_CLASSES] = {false};
        for (int64_t k = 0; k < y->numel; k++) {
            int c = (int)y->data[k];
            fp->class_fraction[c] += 1;
            present[c] = true;
        }
        total += (double)y->numel;
        for (int c = 0; c < ds->classes; c++)
            fp->class_cases[c] += present[c] ? 1.0 / ds->count : 0;
    }
    for (int c = 0; c < ds->classes; c++)
        fp->class_fraction[c] /= total;
    fp->total_voxels = total;
    return s;
}
