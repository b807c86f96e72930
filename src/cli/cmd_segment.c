/* hinge segment: a trained U-Net ("unet" model file) on a NIfTI image or a DICOM series, by
 * sliding window, to a label map (NIfTI, or DICOM SEG for a DICOM input). */
#include "cli.h"
#include "cli_dist.h"

#include "hinge/dicom.h"
#include "hinge/image.h"
#include "hinge/nn.h"
#include "hinge/seg_data.h"
#include "hinge/seg_metrics.h"
#include "hinge/seg_plan.h"
#include "hinge/segment.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hinge segment --model M [options] <in.nii[.gz] | dicom_dir> -o <out>\n"
            "       hinge segment --model M [options] --list studies.txt -o outdir\n\n"
            "Segments an image with a trained U-Net (a \"unet\" model file, 2-D or 3-D). The\n"
            "image's NIfTI t axis holds the channels; a 2-D model segments a volume slice by\n"
            "slice. Inference runs on overlapping windows blended with Gaussian weights, so\n"
            "memory is one window's activations plus the output.\n\n"
            "options:\n"
            "  --model M            the model: a path, or NAME for models/NAME.safetensors in\n"
            "                       the source tree\n"
            "  -o F                 the label map: .nii/.nii.gz (input geometry, intent label),\n"
            "                       or .dcm (DICOM SEG; the input must be DICOM)\n"
            "  --window N[,N,N]     window size in voxels, tensor order (default: the image,\n"
            "                       at most 256 per axis in 2-D, 128 in 3-D); must be divisible\n"
            "                       by 2^(levels-1) of the model\n"
            "  --overlap F          window overlap in [0, 1) (default 0.5)\n"
            "  --normalize zscore|none   per-channel z-score of the image (default zscore)\n"
            "  --tta                test-time augmentation: average the softmax over all flips\n"
            "  --largest-component  keep only the largest connected component of each class\n"
            "  --connectivity N     for --largest-component: 4/8 (2-D), 6/26 (3-D); default\n"
            "                       face neighbours (4 or 6)\n"
            "  --overlay F.png      also write a figure: the input's axial, coronal and\n"
            "                       sagittal mid-planes (a 2-D input: the image) in gray with\n"
            "                       each class in its own colour, translucent; square pixels\n"
            "                       of the finest spacing, superior/anterior up (RAS storage)\n"
            "  --list FILE          many studies (one input per line): -o is a folder, outputs\n"
            "                       are <name>.nii.gz; under mpirun -np N the ranks share them\n"
            "  --threads N          worker threads (default: all cores)\n");
}

typedef struct seg_opts {
    const char *model_arg, *out, *overlay;
    int64_t window[3];
    int64_t fixed_window; /* an ONNX model's fixed input size (0: any) */
    int nwindow;
    double overlap;
    bool zscore, tta, largest;
    int64_t connectivity;
    /* the loaded model and its configuration */
    hg_model *m;
    int64_t dims, in_channels, classes, div;
    /* a model trained by `hinge train --plan` carries its spacing and normalization */
    bool has_plan;
    hg_seg_plan plan;
} seg_opts;

/* Loads the model and reads its configuration (defaults as documented in nn.h). */
static hg_status load_model(seg_opts *o)
{
    char path[4096];
    hg_cli_model_path(o->model_arg, path, sizeof path);
    hg_metadata extra;
    hg_metadata_init(&extra);
    o->m = hg_model_load(path, &extra);
    if (!o->m) {
        hg_metadata_free(&extra);
        return hg_error_status();
    }
    hg_status ps = hg_seg_plan_from_metadata(&extra, &o->plan, &o->has_plan);
    hg_metadata_free(&extra);
    if (ps != HG_OK)
        return hg_error_context(ps, "%s", path);
    bool onnx = strcmp(o->m->arch->name, "onnx") == 0;
    if (!onnx && strcmp(o->m->arch->name, "unet") != 0)
        return hg_error(HG_ERR_INVALID, "segment: %s is a '%s' model, expected 'unet' or an "
                        "ONNX file", path, o->m->arch->name);
    o->dims = 2, o->in_channels = 1, o->classes = 2;
    int64_t feat[16];
    int levels = 4;
    hg_status s = hg_config_int(&o->m->config, "dims", 2, 3, &o->dims);
    if (s == HG_OK) s = hg_config_int(&o->m->config, "in_channels", 1, 4096, &o->in_channels);
    if (s == HG_OK) s = hg_config_int(&o->m->config, "classes", 1, 65535, &o->classes);
    if (s == HG_OK && !onnx)
        s = hg_config_int_list(&o->m->config, "features", 16, feat, &levels);
    o->div = onnx ? 1 : 1ll << (levels - 1);
    /* An ONNX model exported with a fixed spatial size runs on windows of exactly that size. */
    if (s == HG_OK && onnx && o->nwindow == 0 && hg_config_int(&o->m->config, "size", 1,
                                                               1 << 20, &o->fixed_window) != HG_OK)
        s = hg_error_status();
    if (s == HG_OK && o->has_plan && o->plan.dims != o->dims)
        s = hg_error(HG_ERR_FORMAT, "segment: %s: the plan is %d-D, the model %lld-D", path,
                     (int)o->plan.dims, (long long)o->dims);
    if (s == HG_OK && o->has_plan && o->nwindow == 0) { /* windows of the training patch */
        o->nwindow = (int)o->dims;
        for (int a = 0; a < o->nwindow; a++)
            o->window[a] = o->plan.patch[3 - o->dims + a];
    }
    return s;
}

/* Reorders spatial axes flagged in mask (bit 0 = last axis) of x [C, D, H, W] into y. */
static void flip(const float *x, float *y, int64_t c, const int64_t *d, unsigned mask)
{
    int64_t plane = d[1] * d[2], vol = d[0] * plane;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t z = 0; z < d[0]; z++)
            for (int64_t yy = 0; yy < d[1]; yy++) {
                int64_t zs = mask & 4 ? d[0] - 1 - z : z, ys = mask & 2 ? d[1] - 1 - yy : yy;
                const float *src = x + ch * vol + zs * plane + ys * d[2];
                float *dst = y + ch * vol + z * plane + yy * d[2];
                for (int64_t xx = 0; xx < d[2]; xx++)
                    dst[xx] = src[mask & 1 ? d[2] - 1 - xx : xx];
            }
}

/* acc += w * flip(y) (same layout and mask convention as flip). */
static void flip_add(const float *y, float *acc, int64_t c, const int64_t *d, unsigned mask,
                     float w)
{
    int64_t plane = d[1] * d[2], vol = d[0] * plane;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t z = 0; z < d[0]; z++)
            for (int64_t yy = 0; yy < d[1]; yy++) {
                int64_t zs = mask & 4 ? d[0] - 1 - z : z, ys = mask & 2 ? d[1] - 1 - yy : yy;
                const float *src = y + ch * vol + zs * plane + ys * d[2];
                float *dst = acc + ch * vol + z * plane + yy * d[2];
                for (int64_t xx = 0; xx < d[2]; xx++)
                    dst[xx] += w * src[mask & 1 ? d[2] - 1 - xx : xx];
            }
}

/* Softmax over the K channels of logits [K, V] in place. */
static void softmax_channels(float *p, int64_t k, int64_t v)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < v; i++) {
        float mx = p[i];
        for (int64_t c = 1; c < k; c++)
            mx = fmaxf(mx, p[c * v + i]);
        double sum = 0;
        for (int64_t c = 0; c < k; c++)
            sum += p[c * v + i] = expf(p[c * v + i] - mx);
        for (int64_t c = 0; c < k; c++)
            p[c * v + i] = (float)(p[c * v + i] / sum);
    }
}

/* Class scores [K, S] of x [1, C, S] (S = d, D = 1 for 2-D): the model's logits, or with
 * TTA the mean softmax over every flip of the spatial axes. Returns a heap tensor. */
static hg_tensor *predict(const seg_opts *o, const hg_tensor *x, const int64_t *d, hg_ctx *ctx)
{
    int ns = (int)o->dims;
    hg_sliding_window_opts sw = {.overlap = o->overlap};
    for (int a = 0; a < ns; a++) {
        const int64_t size = d[3 - ns + a];
        int64_t w = o->nwindow == 1 ? o->window[0] : o->nwindow ? o->window[a] : o->fixed_window;
        if (!w) { /* the image rounded up to the model's multiple, capped */
            int64_t cap = ns == 2 ? 256 : 128;
            w = (size + o->div - 1) / o->div * o->div;
            if (w > cap)
                w = (cap + o->div - 1) / o->div * o->div;
        }
        if (w % o->div != 0) {
            hg_error(HG_ERR_INVALID, "segment: window %lld (axis %d) is not divisible by %lld, "
                     "the model's downsampling factor", (long long)w, a, (long long)o->div);
            return NULL;
        }
        sw.window[a] = w;
    }
    if (!o->tta)
        return hg_sliding_window(o->m, x, ns, &sw, ctx);
    hg_tensor *flipped = hg_tensor_empty(NULL, HG_F32, x->ndim, x->shape), *acc = NULL;
    unsigned nflip = 1u << ns;
    for (unsigned mask = 0; flipped && mask < nflip; mask++) {
        flip(x->data, flipped->data, x->shape[1], d, mask);
        hg_tensor *y = hg_sliding_window(o->m, flipped, ns, &sw, ctx);
        if (!y) {
            hg_tensor_free(acc), acc = NULL;
            break;
        }
        int64_t k = y->shape[1], v = y->numel / k;
        softmax_channels(y->data, k, v);
        if (!acc && !(acc = hg_tensor_empty(NULL, HG_F32, y->ndim, y->shape))) {
            hg_tensor_free(y);
            break;
        }
        if (mask == 0)
            memset(acc->data, 0, (size_t)acc->numel * sizeof(float));
        /* flips are their own inverse: flip the prediction back while adding */
        flip_add(y->data, acc->data, k, d, mask, 1.0f / (float)nflip);
        hg_tensor_free(y);
    }
    hg_tensor_free(flipped);
    return acc;
}

/* Writes into labels[0..v) the argmax over the K channels of p [K, v]. */
static void argmax_channels(const float *p, int64_t k, int64_t v, float *labels)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < v; i++) {
        int64_t best = 0;
        for (int64_t c = 1; c < k; c++)
            if (p[c * v + i] > p[best * v + i])
                best = c;
        labels[i] = (float)best;
    }
}

static hg_status read_input(const char *path, hg_image *img, bool *dicom)
{
    struct stat st;
    *dicom = (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) || hg_cli_ends_with(path, ".dcm") ||
             hg_cli_ends_with(path, ".DCM");
    return *dicom ? hg_dicom_read(path, NULL, img) : hg_nifti_read(path, img);
}

/* A model with a plan: x [C, D, H, W] (raw values) is resampled to the plan's spacing
 * (in-plane only for a 2-D model) and normalized as in training; the class scores are
 * resampled back to the input grid, where the argmax gives the labels. */
static hg_status segment_planned(const seg_opts *o, const hg_tensor *x, const double sp[3],
                                 hg_ctx *ctx, hg_tensor *labels)
{
    const hg_seg_plan *p = &o->plan;
    const int64_t *d = x->shape + 1;
    int64_t out[3];
    for (int a = 0; a < 3; a++)
        out[a] = p->dims == 2 && a == 0 ? d[0] : hg_resample_size(d[a], sp[a],
                                                                 p->target_spacing[a]);
    hg_tensor *xr = hg_resample(x, out, HG_INTERP_LINEAR), *scores = NULL, *full = NULL;
    hg_status s = xr ? hg_seg_plan_normalize(p, xr) : hg_error_status();
    int64_t c = x->shape[0], k = o->classes, plane = out[1] * out[2];
    int64_t passes = p->dims == 3 ? 1 : out[0], per = out[0] * plane / passes;
    if (s == HG_OK &&
        !(scores = hg_tensor_empty(NULL, HG_F32, 4, (int64_t[]){k, out[0], out[1], out[2]})))
        s = hg_error_status();
    int64_t dd[3] = {p->dims == 3 ? out[0] : 1, out[1], out[2]};
    for (int64_t z = 0; z < passes && s == HG_OK; z++) {
        int64_t xs[5] = {1, c, dd[0], dd[1], dd[2]};
        if (p->dims == 2)
            xs[2] = dd[1], xs[3] = dd[2];
        hg_tensor *xi = hg_tensor_empty(NULL, HG_F32, (int)(2 + p->dims), xs), *y = NULL;
        for (int64_t ch = 0; xi && ch < c; ch++)
            memcpy(xi->data + ch * per, xr->data + ch * out[0] * plane + z * per,
                   (size_t)per * sizeof(float));
        y = xi ? predict(o, xi, dd, ctx) : NULL;
        hg_tensor_free(xi);
        if (!y || y->numel != k * per)
            s = y ? hg_error(HG_ERR_INVALID, "segment: model output has %lld values, expected "
                             "%lld classes x %lld voxels", (long long)y->numel, (long long)k,
                             (long long)per) : hg_error_status();
        for (int64_t ch = 0; s == HG_OK && ch < k; ch++)
            memcpy(scores->data + ch * out[0] * plane + z * per, y->data + ch * per,
                   (size_t)per * sizeof(float));
        hg_tensor_free(y);
    }
    if (s == HG_OK && !(full = hg_resample(scores, d, HG_INTERP_LINEAR)))
        s = hg_error_status();
    if (s == HG_OK)
        argmax_channels(full->data, k, labels->numel, labels->data);
    hg_tensor_free(full);
    hg_tensor_free(scores);
    hg_tensor_free(xr);
    return s;
}

/* The label map of the image: [C, Z, Y, X] (t = channels) -> argmax labels [Z, Y, X]. */
static hg_status segment_image(const seg_opts *o, const hg_image *img, hg_tensor *labels)
{
    const hg_tensor *t = img->data;
    if (t->dtype != HG_F32)
        return hg_error(HG_ERR_UNSUPPORTED, "segment: the image holds complex data");
    int64_t shp[4] = {1, 1, 1, 1};
    for (int i = 0; i < t->ndim; i++) {
        if (i < t->ndim - 4 && t->shape[i] != 1)
            return hg_error(HG_ERR_UNSUPPORTED, "segment: a %d-D image is not supported",
                            (int)t->ndim);
        if (i >= t->ndim - 4)
            shp[4 - t->ndim + i] = t->shape[i];
    }
    int64_t c = shp[0], d[3] = {shp[1], shp[2], shp[3]}, vol = d[0] * d[1] * d[2];
    if (c != o->in_channels)
        return hg_error(HG_ERR_INVALID, "segment: the model expects %lld input channel%s, the "
                        "image has %lld (NIfTI t axis)", (long long)o->in_channels,
                        o->in_channels == 1 ? "" : "s", (long long)c);
    if (o->dims == 3 && d[0] < 2)
        return hg_error(HG_ERR_INVALID, "segment: the model is 3-D, the image is 2-D (%lld x "
                        "%lld)", (long long)d[2], (long long)d[1]);
    hg_tensor *x = hg_tensor_empty(NULL, HG_F32, 2, (const int64_t[]){c, vol});
    if (!x)
        return hg_error_status();
    memcpy(x->data, t->data, (size_t)x->numel * sizeof(float));
    hg_status s = HG_OK;
    for (int64_t ch = 0; ch < c && o->zscore && !o->has_plan && s == HG_OK; ch++) {
        hg_tensor *one = hg_tensor_empty(NULL, HG_F32, 1, &vol);
        if (!one)
            s = hg_error_status();
        else {
            memcpy(one->data, x->data + ch * vol, (size_t)vol * sizeof(float));
            if ((s = hg_harmonize_zscore(one, NULL)) == HG_OK)
                memcpy(x->data + ch * vol, one->data, (size_t)vol * sizeof(float));
            hg_tensor_free(one);
        }
    }
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx && s == HG_OK)
        s = hg_error(HG_ERR_NOMEM, "segment: no memory for a context");
    if (ctx) {
        hg_ctx_set_grad(ctx, false);
        hg_ctx_set_training(ctx, false);
    }
    if (s == HG_OK && o->has_plan) {
        double sp[3] = {img->spacing[2], img->spacing[1], img->spacing[0]};
        for (int a = 0; a < 3; a++)
            sp[a] = sp[a] > 0 && isfinite(sp[a]) ? sp[a] : 1.0;
        hg_tensor xv = *x;
        xv.ndim = 4, xv.shape[0] = c;
        memcpy(xv.shape + 1, d, sizeof d);
        s = segment_planned(o, &xv, sp, ctx, labels);
    }
    /* 3-D: one pass over the volume; 2-D: each slice z is an image [1, C, Y, X] */
    int64_t passes = o->has_plan ? 0 : o->dims == 3 ? 1 : d[0], plane = vol / d[0];
    if (o->dims == 3)
        plane = vol;
    int64_t dd[3] = {o->dims == 3 ? d[0] : 1, d[1], d[2]};
    for (int64_t z = 0; z < passes && s == HG_OK; z++) {
        int64_t xs[5] = {1, c, dd[0], dd[1], dd[2]};
        if (o->dims == 2)
            xs[2] = dd[1], xs[3] = dd[2];
        hg_tensor *xi = hg_tensor_empty(NULL, HG_F32, (int)(2 + o->dims), xs);
        if (!xi) {
            s = hg_error_status();
            break;
        }
        for (int64_t ch = 0; ch < c; ch++)
            memcpy(xi->data + ch * plane, x->data + ch * vol + z * plane,
                   (size_t)plane * sizeof(float));
        hg_tensor *y = predict(o, xi, dd, ctx);
        hg_tensor_free(xi);
        if (!y) {
            s = hg_error_status();
            break;
        }
        if (y->shape[1] != o->classes || y->numel != o->classes * plane)
            s = hg_error(HG_ERR_INVALID, "segment: model output has %lld values, expected %lld "
                         "classes x %lld voxels", (long long)y->numel, (long long)o->classes,
                         (long long)plane);
        else
            argmax_channels(y->data, o->classes, plane, labels->data + z * plane);
        hg_tensor_free(y);
    }
    hg_ctx_free(ctx);
    hg_tensor_free(x);
    if (s == HG_OK && o->largest) {
        int ns = d[0] > 1 ? 3 : 2;
        int conn = o->connectivity ? (int)o->connectivity : ns == 3 ? 6 : 4;
        s = hg_keep_largest_component(labels, ns, conn, NULL);
    }
    return s;
}

/* ---- --overlay: mid-planes with the label map ------------------------------------------ */

/* Largest pixel count of an overlay panel side: keeps very anisotropic inputs drawable. */
#define OVERLAY_MAX_SIDE 1024

/* The mid-plane across `axis` (0 axial, 1 coronal, 2 sagittal) of vol [D, H, W] with spacing
 * sp (tensor order) as a heap [h, w] tensor of square pixels of px mm (nearest voxel), rows
 * from the highest index down so that superior (z) or anterior (y) is up in RAS storage. */
static hg_tensor *mid_plane(const float *vol, const int64_t d[3], const double sp[3], int axis,
                            double px)
{
    int ra = axis == 0 ? 1 : 0, ca = axis == 2 ? 1 : 2; /* row and column axes */
    int64_t h = llround(d[ra] * sp[ra] / px), w = llround(d[ca] * sp[ca] / px);
    h = h < 1 ? 1 : h, w = w < 1 ? 1 : w;
    hg_tensor *t = hg_tensor_empty(NULL, HG_F32, 2, (const int64_t[]){h, w});
    if (!t)
        return NULL;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            int64_t i[3], ir = (int64_t)((r + 0.5) * (double)d[ra] / (double)h);
            i[axis] = d[axis] / 2;
            i[ra] = d[ra] - 1 - (ir < d[ra] ? ir : d[ra] - 1);
            i[ca] = (int64_t)((c + 0.5) * (double)d[ca] / (double)w);
            i[ca] = i[ca] < d[ca] ? i[ca] : d[ca] - 1;
            t->data[r * w + c] = vol[(i[0] * d[1] + i[1]) * d[2] + i[2]];
        }
    return t;
}

/* t [h, w] centred vertically in a new heap [height, w] tensor filled with `fill`. */
static hg_tensor *pad_rows(const hg_tensor *t, int64_t height, float fill)
{
    int64_t h = t->shape[0], w = t->shape[1], top = (height - h) / 2;
    hg_tensor *o = hg_tensor_empty(NULL, HG_F32, 2, (const int64_t[]){height, w});
    if (!o)
        return NULL;
    hg_tensor_fill(o, fill);
    memcpy(o->data + top * w, t->data, (size_t)(h * w) * sizeof(float));
    return o;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The display window of the panels: their 0.5 and 99.5 percentiles (bright outliers of MR
 * would otherwise leave the anatomy dark). */
static hg_status panel_window(hg_tensor *const *img, int n, hg_window *win, float *lo_out)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += img[i]->numel;
    float *v = malloc((size_t)total * sizeof *v);
    if (!v)
        return hg_error(HG_ERR_NOMEM, "segment --overlay: out of memory");
    for (int i = 0, k = 0; i < n; k += (int)img[i]->numel, i++)
        memcpy(v + k, img[i]->data, (size_t)img[i]->numel * sizeof *v);
    qsort(v, (size_t)total, sizeof *v, cmp_float);
    float lo = v[(int64_t)(0.005 * (double)(total - 1))];
    float hi = v[(int64_t)(0.995 * (double)(total - 1))];
    free(v);
    *win = (hg_window){0.5f * (lo + hi), hi > lo ? hi - lo : 1.0f};
    *lo_out = lo;
    return HG_OK;
}

/* Writes the --overlay figure of channel 0 of img [.., Z, Y, X] and labels [Z, Y, X]. */
static hg_status write_overlay(const char *path, const hg_image *img, const hg_tensor *labels)
{
    const hg_tensor *t = img->data;
    int64_t d[3] = {1, 1, 1};
    for (int a = 0; a < 3 && a < labels->ndim; a++)
        d[3 - 1 - a] = labels->shape[labels->ndim - 1 - a];
    double sp[3] = {img->spacing[2], img->spacing[1], img->spacing[0]}, px = INFINITY;
    int axes[3] = {0, 1, 2}, n = d[0] > 1 ? 3 : 1;
    for (int a = 0; a < 3; a++) {
        sp[a] = sp[a] > 0 && isfinite(sp[a]) ? sp[a] : 1.0;
        if (d[a] > 1)
            px = fmin(px, sp[a]);
    }
    px = isfinite(px) ? px : 1.0; /* a single pixel */
    for (int a = 0; a < 3; a++) /* at most OVERLAY_MAX_SIDE pixels per side */
        px = fmax(px, d[a] * sp[a] / OVERLAY_MAX_SIDE);
    hg_tensor *im[3] = {NULL}, *lb[3] = {NULL}, *pim[3] = {NULL}, *plb[3] = {NULL};
    hg_tensor *fig = NULL, *figl = NULL;
    hg_status s = HG_OK;
    int64_t height = 0;
    for (int i = 0; i < n && s == HG_OK; i++) {
        im[i] = mid_plane(t->data, d, sp, axes[i], px); /* channel 0: the first volume */
        lb[i] = im[i] ? mid_plane(labels->data, d, sp, axes[i], px) : NULL;
        if (!lb[i])
            s = hg_error_status();
        else if (im[i]->shape[0] > height)
            height = im[i]->shape[0];
    }
    hg_window win;
    float lo = 0;
    if (s == HG_OK)
        s = panel_window(im, n, &win, &lo);
    for (int i = 0; i < n && s == HG_OK; i++)
        if (!(pim[i] = pad_rows(im[i], height, lo)) || !(plb[i] = pad_rows(lb[i], height, 0)))
            s = hg_error_status();
    if (s == HG_OK && (!(fig = hg_montage((const hg_tensor *const *)pim, n, 4, lo)) ||
                       !(figl = hg_montage((const hg_tensor *const *)plb, n, 4, 0))))
        s = hg_error_status();
    if (s == HG_OK)
        s = hg_png_write_image(path, fig, &win, figl, 0.5f);
    for (int i = 0; i < 3; i++) {
        hg_tensor_free(im[i]), hg_tensor_free(lb[i]);
        hg_tensor_free(pim[i]), hg_tensor_free(plb[i]);
    }
    hg_tensor_free(fig);
    hg_tensor_free(figl);
    return s == HG_OK ? s : hg_error_context(s, "segment --overlay %s", path);
}

/* Reads, segments and writes one study. */
static hg_status segment_one(const seg_opts *o, const char *in, const char *out)
{
    bool to_dicom = hg_cli_ends_with(out, ".dcm") || hg_cli_ends_with(out, ".DCM");
    if (!to_dicom && !hg_cli_ends_with(out, ".nii") && !hg_cli_ends_with(out, ".nii.gz"))
        return hg_error(HG_ERR_INVALID, "segment: output %s is neither .nii[.gz] nor .dcm", out);
    hg_image img, seg;
    hg_image_init(&img);
    hg_image_init(&seg);
    bool dicom;
    hg_status s = read_input(in, &img, &dicom);
    if (s == HG_OK && to_dicom && !dicom)
        s = hg_error(HG_ERR_INVALID, "segment: DICOM SEG output (%s) needs a DICOM input; %s "
                     "is NIfTI", out, in);
    if (s == HG_OK) {
        /* the label map has the image's shape without the channel (t) axis */
        const hg_tensor *t = img.data;
        int nd = t->ndim > 3 ? 3 : t->ndim;
        seg.data = hg_tensor_empty(NULL, HG_F32, nd, t->shape + t->ndim - nd);
        s = seg.data ? segment_image(o, &img, seg.data) : hg_error_status();
    }
    if (s == HG_OK && to_dicom) {
        hg_dicom_seg_opts so = {.series_description = "hinge segment"};
        s = hg_dicom_write_seg(out, seg.data, &img, &so);
    } else if (s == HG_OK) {
        memcpy(seg.spacing, img.spacing, sizeof seg.spacing);
        memcpy(seg.qform, img.qform, sizeof seg.qform);
        memcpy(seg.sform, img.sform, sizeof seg.sform);
        seg.qform_code = img.qform_code, seg.sform_code = img.sform_code;
        seg.xyz_units = img.xyz_units;
        seg.intent_code = 1002; /* NIfTI label map */
        snprintf(seg.intent_name, sizeof seg.intent_name, "segmentation");
        hg_nifti_write_opts wo = {.datatype = o->classes > 255 ? HG_DT_INT16 : HG_DT_UINT8};
        s = hg_nifti_write(out, &seg, &wo);
    }
    if (s == HG_OK && o->overlay)
        s = write_overlay(o->overlay, &img, seg.data);
    hg_image_free(&seg);
    hg_image_free(&img);
    return s;
}

static hg_status segment_study(void *user, const char *input, const char *output)
{
    return segment_one(user, input, output);
}

static bool parse_window(const char *s, seg_opts *o)
{
    o->nwindow = 0;
    const char *p = s;
    while (*p && o->nwindow < 3) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || v > 65536 || (*end && *end != ','))
            return false;
        o->window[o->nwindow++] = v;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return false;
    }
    return !*p;
}

static int run_segment(int argc, char **argv)
{
    seg_opts o = {.overlap = 0.5, .zscore = true};
    const char *list = NULL;
    int64_t threads = 0;
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},          {"output", required_argument, 0, 'o'},
        {"model", required_argument, 0, 'M'},   {"window", required_argument, 0, 'w'},
        {"overlap", required_argument, 0, 'v'}, {"normalize", required_argument, 0, 'n'},
        {"tta", no_argument, 0, 'T'},           {"largest-component", no_argument, 0, 'l'},
        {"connectivity", required_argument, 0, 'c'},
        {"list", required_argument, 0, 'L'},    {"threads", required_argument, 0, 't'},
        {"overlay", required_argument, 0, 'P'}, {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'o': o.out = optarg; break;
        case 'M': o.model_arg = optarg; break;
        case 'w': ok = parse_window(optarg, &o); break;
        case 'v': ok = hg_cli_parse_float(optarg, &o.overlap) && o.overlap >= 0 && o.overlap < 1; break;
        case 'n':
            ok = !strcmp(optarg, "zscore") || !strcmp(optarg, "none");
            o.zscore = !strcmp(optarg, "zscore");
            break;
        case 'T': o.tta = true; break;
        case 'l': o.largest = true; break;
        case 'c': ok = hg_cli_parse_int(optarg, 4, 26, &o.connectivity) &&
                       (o.connectivity == 4 || o.connectivity == 8 || o.connectivity == 6 ||
                        o.connectivity == 26);
            break;
        case 'L': list = optarg; break;
        case 'P': o.overlay = optarg; break;
        case 't': ok = hg_cli_parse_int(optarg, 0, 4096, &threads); break;
        default: return hg_cli_usage_error("segment", "invalid option");
        }
        if (!ok)
            return hg_cli_usage_error("segment", "invalid value '%s'", optarg);
    }
    if (optind != argc - (list ? 0 : 1))
        return hg_cli_usage_error("segment", list ? "--list takes the inputs from the list, "
                                  "not the command line" : "expected one input image");
    if (!o.model_arg)
        return hg_cli_usage_error("segment", "missing --model");
    if (list && o.overlay)
        return hg_cli_usage_error("segment", "--overlay draws one study; not with --list");
    if (!o.out)
        return hg_cli_usage_error("segment", "missing -o output path");
    hg_set_threads((int)threads);
    if (load_model(&o) != HG_OK) {
        hg_model_free(o.m);
        return hg_cli_fail("segment");
    }
    if (o.nwindow > 1 && o.nwindow != o.dims) {
        hg_model_free(o.m);
        return hg_cli_usage_error("segment", "--window has %d sizes, the model is %lld-D",
                                  o.nwindow, (long long)o.dims);
    }
    int rc;
    if (list)
        rc = hg_cli_run_list("segment", list, o.out, ".nii.gz", segment_study, &o);
    else
        rc = segment_one(&o, argv[optind], o.out) == HG_OK ? HG_EXIT_OK : hg_cli_fail("segment");
    hg_model_free(o.m);
    return rc;
}

const hg_cli_command hg_cmd_segment = {"segment", "segment an image with a trained U-Net "
                                       "(sliding window, TTA, DICOM SEG output)", run_segment};
