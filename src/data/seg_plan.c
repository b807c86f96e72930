/* The self-configured training plan: target spacing, normalization, patch, depth, features
 * and batch from a fingerprint and a memory/CPU budget; its cost model; plan.json and the
 * model metadata that carries it to inference. */
#include "hinge/seg_plan.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cost model ------------------------------------------------------------------------ */

/* Voxels of level l of a patch (axes before 3 - dims are not pooled: they are 1). */
static double level_voxels(int dims, const int64_t *patch, int l)
{
    double v = 1;
    for (int a = 3 - dims; a < 3; a++)
        v *= floor((double)patch[a] / (double)(1ll << l));
    return v;
}

double hg_unet_train_bytes(int dims, int64_t in_channels, int64_t classes, int levels,
                           const int32_t *f, const int64_t *patch, int64_t batch, int threads)
{
    double k3 = dims == 3 ? 27 : 9, k2 = dims == 3 ? 8 : 4;
    double act = (double)(in_channels + 4 * classes) * level_voxels(dims, patch, 0);
    double im2col = 0, params = (double)(f[0] * classes + classes);
    for (int l = 0; l < levels; l++) {
        double v = level_voxels(dims, patch, l), cin = l ? f[l - 1] : (double)in_channels;
        act += 6.0 * f[l] * v;
        im2col = fmax(im2col, k3 * fmax(cin, f[l]));
        params += k3 * (cin * f[l] + (double)f[l] * f[l]) + 4.0 * f[l];
        if (l < levels - 1) {
            act += f[l] * level_voxels(dims, patch, l + 1) + 9.0 * f[l] * v;
            im2col = fmax(im2col, k3 * 2.0 * f[l]);
            params += k2 * f[l + 1] * f[l] + f[l] + k3 * 3.0 * f[l] * f[l] + 4.0 * f[l];
        }
    }
    /* im2col tiles (src/ops/conv_gemm.c): >= 512 columns or 1 MiB per thread */
    double tile = fmax(1048576.0, 512.0 * 4.0 * im2col);
    return 4.0 * (double)batch * 2.0 * act + (threads > 0 ? threads : 1) * tile + 16.0 * params;
}

double hg_unet_train_flops(int dims, int64_t in_channels, int64_t classes, int levels,
                           const int32_t *f, const int64_t *patch, int64_t batch)
{
    double k3 = dims == 3 ? 27 : 9;
    double mac = (double)f[0] * (double)classes * level_voxels(dims, patch, 0);
    for (int l = 0; l < levels; l++) {
        double v = level_voxels(dims, patch, l), cin = l ? f[l - 1] : (double)in_channels;
        mac += k3 * (cin * f[l] + (double)f[l] * f[l]) * v;
        if (l < levels - 1) /* transposed 2x up-conv (one tap per output), decoder block */
            mac += (double)f[l + 1] * f[l] * v + k3 * 3.0 * f[l] * f[l] * v;
    }
    return 6.0 * mac * (double)batch;
}

/* ---- plan ------------------------------------------------------------------------------ */

/* Pooling steps per axis (halvings that keep the axis >= 4, at most 5), levels = the fewest
 * + 1, and every pooled axis rounded down to a multiple of 2^(levels-1). */
static void fit_levels(hg_seg_plan *p)
{
    int fewest = 5;
    for (int a = 0; a < 3; a++) {
        p->pool[a] = 0;
        if (a < 3 - p->dims)
            continue;
        while (p->pool[a] < 5 && p->patch[a] >> (p->pool[a] + 1) >= 4)
            p->pool[a]++;
        if (p->pool[a] < fewest)
            fewest = p->pool[a];
    }
    p->levels = fewest + 1;
    int64_t m = 1ll << fewest;
    for (int a = 3 - p->dims; a < 3; a++) {
        p->pool[a] = fewest;
        p->patch[a] = p->patch[a] / m * m;
        if (p->patch[a] < m)
            p->patch[a] = m;
    }
}

static void set_features(hg_seg_plan *p, int base, int max_features)
{
    for (int l = 0; l < HG_SEG_MAX_LEVELS; l++) {
        int64_t f = (int64_t)base << l;
        p->features[l] = l < p->levels ? (int32_t)(f < max_features ? f : max_features) : 0;
    }
}

static void estimate(hg_seg_plan *p, double gflops_total)
{
    p->memory_mb = hg_unet_train_bytes(p->dims, p->channels, p->classes, p->levels, p->features,
                                       p->patch, p->batch, p->threads) / (1024.0 * 1024.0);
    p->step_gflop = hg_unet_train_flops(p->dims, p->channels, p->classes, p->levels,
                                        p->features, p->patch, p->batch) / 1e9;
    p->step_seconds = p->step_gflop / gflops_total;
}

static double patch_voxels(const hg_seg_plan *p)
{
    return (double)p->patch[0] * (double)p->patch[1] * (double)p->patch[2];
}

/* The initial patch: the median shape, its volume capped with the aspect kept. */
static void initial_patch(hg_seg_plan *p)
{
    double cap = p->dims == 3 ? 128.0 * 128 * 128 : 512.0 * 512;
    for (int a = 0; a < 3; a++)
        p->patch[a] = a < 3 - p->dims ? 1 : p->median_shape[a];
    double v = patch_voxels(p);
    if (v > cap) {
        double f = pow(cap / v, 1.0 / p->dims);
        for (int a = 3 - p->dims; a < 3; a++)
            p->patch[a] = (int64_t)fmax(8, floor((double)p->patch[a] * f));
    }
    for (int a = 3 - p->dims; a < 3; a++)
        if (p->patch[a] < 8)
            p->patch[a] = 8; /* tiny images are padded up to one pooling step */
}

/* Shrinks the patch axis largest relative to the median shape by one multiple, keeping every
 * axis >= 8 voxels and > min_ratio of the median shape; false when none can shrink. */
static bool shrink_patch(hg_seg_plan *p, double min_ratio)
{
    int64_t m = 1ll << (p->levels - 1);
    int best = -1;
    double ratio = 0;
    for (int a = 3 - p->dims; a < 3; a++) {
        int64_t step = m > 4 ? m : 4;
        double med = (double)(p->median_shape[a] > 0 ? p->median_shape[a] : 1);
        double r = (double)p->patch[a] / med;
        if (p->patch[a] - step < 8 || (double)(p->patch[a] - step) / med < min_ratio)
            continue;
        if (r > ratio)
            ratio = r, best = a;
    }
    if (best < 0)
        return false;
    p->patch[best] -= m > 4 ? m : 4;
    fit_levels(p);
    return true;
}

hg_status hg_seg_plan_make(const hg_seg_fingerprint *fp, const hg_seg_plan_opts *o_in,
                           hg_seg_plan *p)
{
    hg_seg_plan_opts o = o_in ? *o_in : (hg_seg_plan_opts){0};
    if (!fp || !p || fp->cases < 1 || fp->channels < 1 || fp->channels > HG_SEG_MAX_CHANNELS ||
        fp->classes < 2)
        return hg_error(HG_ERR_INVALID, "plan: the fingerprint has no cases, channels or classes");
    if (o.memory_mb <= 0) o.memory_mb = 2048;
    if (o.threads <= 0) o.threads = hg_get_threads();
    if (o.step_seconds <= 0) o.step_seconds = 2;
    if (o.gflops_per_thread <= 0) o.gflops_per_thread = 8;
    if (o.base_features <= 0) o.base_features = 32;
    if (o.max_features <= 0) o.max_features = 320;
    if (o.min_batch <= 0) o.min_batch = 2;
    if (o.dims != 0 && o.dims != 2 && o.dims != 3)
        return hg_error(HG_ERR_INVALID, "plan: dims %d, expected 2 or 3", (int)o.dims);
    if (o.dims == 3 && fp->ndim == 2)
        return hg_error(HG_ERR_INVALID, "plan: a 3-D plan was asked for, the data set is 2-D");
    memset(p, 0, sizeof *p);
    p->dims = o.dims ? o.dims : fp->ndim;
    p->channels = fp->channels, p->classes = fp->classes, p->threads = o.threads;
    for (int a = 0; a < 3; a++) {
        p->target_spacing[a] = fp->median_spacing[a];
        p->median_shape[a] = fp->median_shape[a];
    }
    bool ct = strcmp(fp->modality, "CT") == 0 || strcmp(fp->modality, "ct") == 0;
    snprintf(p->normalization, sizeof p->normalization, "%s", ct ? "ct" : "zscore");
    for (int c = 0; c < fp->channels; c++) {
        p->clip_lo[c] = fp->fg_p005[c], p->clip_hi[c] = fp->fg_p995[c];
        p->mean[c] = fp->fg_mean[c], p->std[c] = fp->fg_std[c];
        if (ct && !(isfinite(p->mean[c]) && p->std[c] > 0))
            return hg_error(HG_ERR_INVALID, "plan: CT normalization needs foreground "
                            "intensities; channel %d has no foreground voxels with spread", c);
    }
    initial_patch(p);
    fit_levels(p);
    int base = o.base_features;
    set_features(p, base, o.max_features);
    p->batch = o.min_batch;
    double gf = o.threads * o.gflops_per_thread * 1e9 / 1e9;
    for (estimate(p, gf); p->memory_mb > o.memory_mb || p->step_seconds > o.step_seconds;
         estimate(p, gf)) {
        /* context first: the patch keeps half the median shape while the features halve
         * down to 8; then the patch shrinks to its minimum; then the features down to 4 */
        if (shrink_patch(p, 0.5)) {
            set_features(p, base, o.max_features);
            continue;
        }
        if (base > 8) {
            base /= 2;
            set_features(p, base, o.max_features);
            continue;
        }
        if (shrink_patch(p, 0)) {
            set_features(p, base, o.max_features);
            continue;
        }
        if (base > 4) {
            base /= 2;
            set_features(p, base, o.max_features);
            continue;
        }
        return hg_error(HG_ERR_INVALID, "plan: the smallest plan (patch %lld x %lld x %lld, "
                        "%d base features, batch %d) needs %.1f MB and %.2f s per step; the "
                        "budget is %.1f MB and %.2f s (%d threads at %.1f GFLOP/s)",
                        (long long)p->patch[0], (long long)p->patch[1], (long long)p->patch[2],
                        base, (int)p->batch, p->memory_mb, p->step_seconds, o.memory_mb,
                        o.step_seconds, (int)o.threads, o.gflops_per_thread);
    }
    /* A larger batch while both budgets hold and the batch covers <= 5% of the voxels. */
    double cap = fmax(0.05 * fp->total_voxels, o.min_batch * patch_voxels(p));
    while (p->batch < 64 && (p->batch + 1) * patch_voxels(p) <= cap) {
        p->batch++;
        estimate(p, gf);
        if (p->memory_mb > o.memory_mb || p->step_seconds > o.step_seconds) {
            p->batch--;
            break;
        }
    }
    estimate(p, gf);
    return HG_OK;
}

/* ---- normalization and model config ---------------------------------------------------- */

hg_status hg_seg_plan_normalize(const hg_seg_plan *p, hg_tensor *image)
{
    char b[64];
    int64_t c = image && image->ndim == 4 ? image->shape[0] : 0;
    if (!image || c != p->channels)
        return hg_error(HG_ERR_INVALID, "normalize: image '%s' has shape %s, expected [%d, D, "
                        "H, W] (the plan's channels)", hg_tensor_label(image),
                        image ? hg_shape_str(image, b, sizeof b) : "NULL", (int)p->channels);
    int64_t n = image->numel / c;
    bool ct = strcmp(p->normalization, "ct") == 0;
    for (int64_t ch = 0; ch < c; ch++) {
        float *x = image->data + ch * n;
        double mean = p->mean[ch], sd = p->std[ch];
        if (ct) {
            for (int64_t i = 0; i < n; i++)
                x[i] = fminf(fmaxf(x[i], (float)p->clip_lo[ch]), (float)p->clip_hi[ch]);
        } else { /* per image, all voxels, population std (as segment --normalize zscore) */
            double s = 0, sq = 0;
            for (int64_t i = 0; i < n; i++)
                s += x[i];
            mean = s / (double)n;
            for (int64_t i = 0; i < n; i++)
                sq += (x[i] - mean) * (x[i] - mean);
            sd = sqrt(sq / (double)n);
        }
        if (!(sd > 0))
            return hg_error(HG_ERR_INVALID, "normalize: channel %lld of '%s' is constant",
                            (long long)ch, hg_tensor_label(image));
        float m = (float)mean, inv = (float)(1.0 / sd);
        for (int64_t i = 0; i < n; i++)
            x[i] = (x[i] - m) * inv;
    }
    return HG_OK;
}

static void join_ints(char *buf, size_t size, const int64_t *v, int n)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "," : "", (long long)v[i]);
}

static void join_doubles(char *buf, size_t size, const double *v, int n)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%.17g", i ? "," : "", v[i]);
}

hg_status hg_seg_plan_model_config(const hg_seg_plan *p, hg_metadata *config)
{
    char buf[256];
    int64_t f[HG_SEG_MAX_LEVELS];
    for (int l = 0; l < p->levels; l++)
        f[l] = p->features[l];
    join_ints(buf, sizeof buf, f, p->levels);
    hg_status s = hg_metadata_set(config, "features", buf);
    snprintf(buf, sizeof buf, "%d", (int)p->dims);
    if (!s) s = hg_metadata_set(config, "dims", buf);
    snprintf(buf, sizeof buf, "%d", (int)p->channels);
    if (!s) s = hg_metadata_set(config, "in_channels", buf);
    snprintf(buf, sizeof buf, "%d", (int)p->classes);
    if (!s) s = hg_metadata_set(config, "classes", buf);
    return s;
}

/* ---- metadata -------------------------------------------------------------------------- */

hg_status hg_seg_plan_to_metadata(const hg_seg_plan *p, hg_metadata *m)
{
    char buf[1024];
    int nc = p->channels;
    hg_status s = HG_OK;
#define SETD(key, v, n) if (!s) { join_doubles(buf, sizeof buf, v, n); s = hg_metadata_set(m, key, buf); }
#define SETI(key, v, n) if (!s) { join_ints(buf, sizeof buf, v, n); s = hg_metadata_set(m, key, buf); }
    int64_t ints[3] = {p->dims, p->channels, p->classes};
    SETI("plan.dims_channels_classes", ints, 3)
    SETD("plan.target_spacing", p->target_spacing, 3)
    SETI("plan.patch", p->patch, 3)
    SETI("plan.median_shape", p->median_shape, 3)
    SETD("plan.clip_lo", p->clip_lo, nc)
    SETD("plan.clip_hi", p->clip_hi, nc)
    SETD("plan.mean", p->mean, nc)
    SETD("plan.std", p->std, nc)
    int64_t lb[2] = {p->levels, p->batch};
    SETI("plan.levels_batch", lb, 2)
#undef SETD
#undef SETI
    if (!s)
        s = hg_metadata_set(m, "plan.normalization", p->normalization);
    return s;
}

/* Parses exactly n comma-separated numbers of key into v. */
static hg_status get_doubles(const hg_metadata *m, const char *key, double *v, int n)
{
    const char *s = hg_metadata_get(m, key);
    for (int i = 0; s && i < n; i++) {
        char *end;
        v[i] = strtod(s, &end);
        if (end == s || (i < n - 1 && *end != ',') || (i == n - 1 && *end))
            break;
        if (i == n - 1)
            return HG_OK;
        s = end + 1;
    }
    return hg_error(HG_ERR_FORMAT, "model plan: '%s' is %s, expected %d comma-separated "
                    "numbers", key, hg_metadata_get(m, key) ? hg_metadata_get(m, key)
                                                            : "missing", n);
}

hg_status hg_seg_plan_from_metadata(const hg_metadata *m, hg_seg_plan *p, bool *found)
{
    *found = hg_metadata_get(m, "plan.normalization") != NULL;
    if (!*found)
        return HG_OK;
    hg_seg_plan q;
    memset(&q, 0, sizeof q);
    double v[3] = {0, 0, 0}, lb[2] = {0, 0};
    hg_status s = get_doubles(m, "plan.dims_channels_classes", v, 3);
    if (!s && !(v[0] >= 2 && v[0] <= 3 && v[1] >= 1 && v[1] <= HG_SEG_MAX_CHANNELS && v[2] >= 1))
        s = hg_error(HG_ERR_FORMAT, "model plan: dims %g, channels %g, classes %g out of range",
                     v[0], v[1], v[2]);
    if (!s) {
        q.dims = (int32_t)v[0], q.channels = (int32_t)v[1], q.classes = (int32_t)v[2];
        s = get_doubles(m, "plan.target_spacing", q.target_spacing, 3);
    }
    if (!s) s = get_doubles(m, "plan.patch", v, 3);
    for (int a = 0; !s && a < 3; a++) {
        if (!(v[a] >= 1 && v[a] <= 4096 && (v[a] > 0 && q.target_spacing[a] > 0)))
            s = hg_error(HG_ERR_FORMAT, "model plan: patch %g or spacing %g (axis %d) out of "
                         "range", v[a], q.target_spacing[a], a);
        q.patch[a] = (int64_t)v[a];
    }
    if (!s) s = get_doubles(m, "plan.median_shape", v, 3);
    for (int a = 0; !s && a < 3; a++)
        q.median_shape[a] = (int64_t)v[a];
    if (!s) s = get_doubles(m, "plan.clip_lo", q.clip_lo, q.channels);
    if (!s) s = get_doubles(m, "plan.clip_hi", q.clip_hi, q.channels);
    if (!s) s = get_doubles(m, "plan.mean", q.mean, q.channels);
    if (!s) s = get_doubles(m, "plan.std", q.std, q.channels);
    if (!s) s = get_doubles(m, "plan.levels_batch", lb, 2);
    if (!s) {
        q.levels = (int32_t)lb[0], q.batch = (int32_t)lb[1];
        const char *norm = hg_metadata_get(m, "plan.normalization");
        if (strcmp(norm, "zscore") != 0 && strcmp(norm, "ct") != 0)
            s = hg_error(HG_ERR_FORMAT, "model plan: normalization '%s', expected zscore or ct",
                         norm);
        snprintf(q.normalization, sizeof q.normalization, "%s", norm);
    }
    if (!s)
        *p = q;
    return s;
}

/* ---- plan.json ------------------------------------------------------------------------- */

static cJSON *num_array(const double *v, int n)
{
    return cJSON_CreateDoubleArray(v, n);
}

static cJSON *int_array(const int64_t *v, int n)
{
    double d[HG_SEG_MAX_CLASSES];
    for (int i = 0; i < n; i++)
        d[i] = (double)v[i];
    return cJSON_CreateDoubleArray(d, n);
}

static cJSON *fingerprint_json(const hg_seg_fingerprint *fp)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "cases", fp->cases);
    cJSON_AddNumberToObject(j, "channels", fp->channels);
    cJSON_AddNumberToObject(j, "classes", fp->classes);
    cJSON_AddNumberToObject(j, "ndim", fp->ndim);
    cJSON_AddStringToObject(j, "modality", fp->modality);
    cJSON_AddItemToObject(j, "median_spacing", num_array(fp->median_spacing, 3));
    cJSON_AddItemToObject(j, "min_spacing", num_array(fp->min_spacing, 3));
    cJSON_AddItemToObject(j, "max_spacing", num_array(fp->max_spacing, 3));
    cJSON_AddItemToObject(j, "median_shape", int_array(fp->median_shape, 3));
    cJSON_AddItemToObject(j, "min_shape", int_array(fp->min_shape, 3));
    cJSON_AddItemToObject(j, "max_shape", int_array(fp->max_shape, 3));
    int c = fp->channels;
    cJSON_AddItemToObject(j, "foreground_mean", num_array(fp->fg_mean, c));
    cJSON_AddItemToObject(j, "foreground_std", num_array(fp->fg_std, c));
    cJSON_AddItemToObject(j, "foreground_p00_5", num_array(fp->fg_p005, c));
    cJSON_AddItemToObject(j, "foreground_median", num_array(fp->fg_p50, c));
    cJSON_AddItemToObject(j, "foreground_p99_5", num_array(fp->fg_p995, c));
    cJSON_AddItemToObject(j, "foreground_min", num_array(fp->fg_min, c));
    cJSON_AddItemToObject(j, "foreground_max", num_array(fp->fg_max, c));
    cJSON_AddItemToObject(j, "class_fraction", num_array(fp->class_fraction, fp->classes));
    cJSON_AddItemToObject(j, "class_cases", num_array(fp->class_cases, fp->classes));
    cJSON_AddNumberToObject(j, "total_voxels", fp->total_voxels);
    return j;
}

static cJSON *plan_json(const hg_seg_plan *p)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "axis_order", "D,H,W (NIfTI z,y,x)");
    cJSON_AddNumberToObject(j, "dims", p->dims);
    cJSON_AddNumberToObject(j, "channels", p->channels);
    cJSON_AddNumberToObject(j, "classes", p->classes);
    cJSON_AddItemToObject(j, "target_spacing", num_array(p->target_spacing, 3));
    cJSON_AddItemToObject(j, "median_shape", int_array(p->median_shape, 3));
    cJSON_AddStringToObject(j, "normalization", p->normalization);
    int c = p->channels;
    cJSON_AddItemToObject(j, "clip_lo", num_array(p->clip_lo, c));
    cJSON_AddItemToObject(j, "clip_hi", num_array(p->clip_hi, c));
    cJSON_AddItemToObject(j, "mean", num_array(p->mean, c));
    cJSON_AddItemToObject(j, "std", num_array(p->std, c));
    cJSON_AddItemToObject(j, "patch", int_array(p->patch, 3));
    cJSON_AddNumberToObject(j, "levels", p->levels);
    int64_t pool[3] = {p->pool[0], p->pool[1], p->pool[2]}, f[HG_SEG_MAX_LEVELS];
    for (int l = 0; l < p->levels; l++)
        f[l] = p->features[l];
    cJSON_AddItemToObject(j, "pool_per_axis", int_array(pool, 3));
    cJSON_AddItemToObject(j, "features", int_array(f, p->levels));
    cJSON_AddNumberToObject(j, "batch", p->batch);
    cJSON_AddNumberToObject(j, "memory_mb", p->memory_mb);
    cJSON_AddNumberToObject(j, "step_gflop", p->step_gflop);
    cJSON_AddNumberToObject(j, "step_seconds", p->step_seconds);
    return j;
}

hg_status hg_seg_plan_write(const char *path, const hg_seg_fingerprint *fp,
                            const hg_seg_plan *p)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return hg_error(HG_ERR_NOMEM, "plan %s: out of memory", path);
    if (fp)
        cJSON_AddItemToObject(root, "fingerprint", fingerprint_json(fp));
    cJSON_AddItemToObject(root, "plan", plan_json(p));
    hg_status s = hg_sidecar_write(path, root);
    cJSON_Delete(root);
    return s;
}

/* n numbers of array `key` of obj into v. */
static hg_status read_array(const char *path, const cJSON *obj, const char *key, double *v, int n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key), *e;
    int i = 0;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsNumber(e) || i >= n)
            break;
        v[i++] = e->valuedouble;
    }
    if (!cJSON_IsArray(a) || i != n || cJSON_GetArraySize(a) != n)
        return hg_error(HG_ERR_FORMAT, "%s: plan.%s must be an array of %d numbers", path, key,
                        n);
    return HG_OK;
}

static hg_status read_int(const char *path, const cJSON *obj, const char *key, int lo, int hi,
                          int32_t *out)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(e) || e->valuedouble < lo || e->valuedouble > hi ||
        e->valuedouble != floor(e->valuedouble))
        return hg_error(HG_ERR_FORMAT, "%s: plan.%s must be an integer in [%d, %d]", path, key,
                        lo, hi);
    *out = (int32_t)e->valuedouble;
    return HG_OK;
}

hg_status hg_seg_plan_read(const char *path, hg_seg_plan *p)
{
    cJSON *root;
    hg_status s = hg_sidecar_read(path, &root);
    if (s)
        return s;
    if (!root)
        return hg_error(HG_ERR_IO, "plan %s: no such file", path);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "plan");
    hg_seg_plan q;
    memset(&q, 0, sizeof q);
    if (!cJSON_IsObject(j))
        s = hg_error(HG_ERR_FORMAT, "%s: no \"plan\" object", path);
    if (!s) s = read_int(path, j, "dims", 2, 3, &q.dims);
    if (!s) s = read_int(path, j, "channels", 1, HG_SEG_MAX_CHANNELS, &q.channels);
    if (!s) s = read_int(path, j, "classes", 2, HG_SEG_MAX_CLASSES, &q.classes);
    if (!s) s = read_int(path, j, "levels", 1, HG_SEG_MAX_LEVELS, &q.levels);
    if (!s) s = read_int(path, j, "batch", 1, 65536, &q.batch);
    if (!s) s = read_array(path, j, "target_spacing", q.target_spacing, 3);
    double v[HG_SEG_MAX_LEVELS];
    if (!s) s = read_array(path, j, "patch", v, 3);
    for (int a = 0; !s && a < 3; a++) {
        q.patch[a] = (int64_t)v[a];
        if (!(v[a] >= 1 && v[a] <= 4096) || !(q.target_spacing[a] > 0))
            s = hg_error(HG_ERR_FORMAT, "%s: plan patch %g / spacing %g (axis %d) out of range",
                         path, v[a], q.target_spacing[a], a);
        else if (a >= 3 - q.dims && q.patch[a] % (1ll << (q.levels - 1)) != 0)
            s = hg_error(HG_ERR_FORMAT, "%s: plan patch %lld (axis %d) is not divisible by "
                         "2^(levels-1) = %lld", path, (long long)q.patch[a], a,
                         1ll << (q.levels - 1));
    }
    if (!s) s = read_array(path, j, "median_shape", v, 3);
    for (int a = 0; !s && a < 3; a++)
        q.median_shape[a] = (int64_t)v[a];
    if (!s) s = read_array(path, j, "features", v, q.levels);
    for (int l = 0; !s && l < q.levels; l++) {
        q.features[l] = (int32_t)v[l];
        if (!(v[l] >= 1 && v[l] <= 4096))
            s = hg_error(HG_ERR_FORMAT, "%s: plan features[%d] = %g out of range", path, l, v[l]);
    }
    if (!s) s = read_array(path, j, "clip_lo", q.clip_lo, q.channels);
    if (!s) s = read_array(path, j, "clip_hi", q.clip_hi, q.channels);
    if (!s) s = read_array(path, j, "mean", q.mean, q.channels);
    if (!s) s = read_array(path, j, "std", q.std, q.channels);
    const cJSON *norm = j ? cJSON_GetObjectItemCaseSensitive(j, "normalization") : NULL;
    if (!s && (!cJSON_IsString(norm) || (strcmp(norm->valuestring, "zscore") != 0 &&
                                         strcmp(norm->valuestring, "ct") != 0)))
        s = hg_error(HG_ERR_FORMAT, "%s: plan.normalization must be \"zscore\" or \"ct\"", path);
    if (!s) {
        snprintf(q.normalization, sizeof q.normalization, "%s", norm->valuestring);
        for (int a = 0; a < 3; a++)
            q.pool[a] = a >= 3 - q.dims ? q.levels - 1 : 0;
        *p = q;
    }
    cJSON_Delete(root);
    return s;
}
