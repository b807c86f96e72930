/* Patch sampling with a foreground ratio (nnU-Net style oversampling of labelled regions):
 * "any" centres oversampled patches on a uniformly chosen foreground voxel, "classes" first
 * picks a foreground class uniformly among those present (so small structures are seen as
 * often as large ones), then one of its voxels from a per-case index built once. */
#include "hinge/seg_data.h"

#include "seg_data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the per-case class index -------------------------------------------------------- */

hg_status hg_patch_index_build(const hg_tensor *label, hg_patch_index *ix)
{
    memset(ix, 0, sizeof *ix);
    if (!label || label->dtype != HG_F32)
        return hg_error(HG_ERR_INVALID, "patch index: expected a real label map, got '%s'",
                        label ? hg_tensor_label(label) : "NULL");
    /* pass 1: validate and find the classes */
    int64_t top = 0;
    for (int64_t i = 0; i < label->numel; i++) {
        float l = label->data[i];
        if (!(l >= 0 && l < HG_PATCH_MAX_CLASSES) || l != floorf(l))
            return hg_error(HG_ERR_INVALID, "patch index: label map '%s' has value %g at voxel "
                            "%lld, expected an integer in 0..%d", hg_tensor_label(label),
                            (double)l, (long long)i, HG_PATCH_MAX_CLASSES - 1);
        if ((int64_t)l > top)
            top = (int64_t)l;
    }
    int32_t k = (int32_t)top + 1;
    ix->start = calloc((size_t)k + 1, sizeof *ix->start);
    if (!ix->start)
        return hg_error(HG_ERR_NOMEM, "patch index: out of memory for %d classes", (int)k);
    ix->classes = k;
    /* pass 2: counts -> start offsets (background is not stored: start[0] = start[1] = 0) */
    for (int64_t i = 0; i < label->numel; i++)
        if (label->data[i] > 0)
            ix->start[(int64_t)label->data[i] + 1]++;
    for (int32_t c = 1; c <= k; c++)
        ix->start[c] += ix->start[c - 1];
    int64_t total = ix->start[k];
    ix->voxels = malloc((size_t)(total > 0 ? total : 1) * sizeof *ix->voxels);
    int64_t *fill = calloc((size_t)k, sizeof *fill);
    if (!ix->voxels || !fill) {
        free(fill);
        hg_patch_index_free(ix);
        return hg_error(HG_ERR_NOMEM, "patch index: out of memory for %lld foreground voxels",
                        (long long)total);
    }
    /* pass 3: voxel indices, class by class, raster order within a class */
    for (int64_t i = 0; i < label->numel; i++)
        if (label->data[i] > 0) {
            int64_t c = (int64_t)label->data[i];
            ix->voxels[ix->start[c] + fill[c]++] = i;
        }
    free(fill);
    return HG_OK;
}

void hg_patch_index_free(hg_patch_index *ix)
{
    if (!ix)
        return;
    free(ix->start);
    free(ix->voxels);
    memset(ix, 0, sizeof *ix);
}

/* A foreground voxel of the index: uniform over all of them ("any"), or over the voxels of a
 * class drawn uniformly among the classes present ("classes"); -1 when there is none. */
static int64_t index_pick(const hg_patch_index *ix, hg_fg_sampling mode, hg_rng *rng)
{
    if (!ix->classes || ix->start[ix->classes] == 0)
        return -1;
    if (mode == HG_FG_ANY)
        return ix->voxels[hg_rng_below(rng, (uint64_t)ix->start[ix->classes])];
    int32_t present = 0;
    for (int32_t c = 1; c < ix->classes; c++)
        present += ix->start[c + 1] > ix->start[c];
    int64_t pick = (int64_t)hg_rng_below(rng, (uint64_t)present);
    for (int32_t c = 1; c < ix->classes; c++)
        if (ix->start[c + 1] > ix->start[c] && pick-- == 0) {
            int64_t n = ix->start[c + 1] - ix->start[c];
            return ix->voxels[ix->start[c] + (int64_t)hg_rng_below(rng, (uint64_t)n)];
        }
    return -1; /* not reached */
}

/* ---- cropping -------------------------------------------------------------------------- */

/* Shapes of a sampling call, checked once. */
typedef struct {
    hg_vol v, pv;
    int64_t want[3], dims[3];
} patch_geom;

static hg_status check_geom(const hg_tensor *image, const hg_tensor *label, int ndim,
                            const int64_t *patch, float fg_ratio, hg_tensor *out_image,
                            hg_tensor *out_label, patch_geom *g)
{
    hg_status s = hg_vol_of("patch", image, label, ndim, &g->v);
    if (!s)
        s = hg_vol_of("patch", out_image, out_label, ndim, &g->pv);
    if (s)
        return s;
    if (!label || !out_label || !patch || !(fg_ratio >= 0 && fg_ratio <= 1))
        return hg_error(HG_ERR_INVALID, "patch: labels, patch size and fg_ratio in [0, 1] "
                        "(got %g) are required", (double)fg_ratio);
    int64_t got[3] = {g->pv.d, g->pv.h, g->pv.w};
    g->dims[0] = g->v.d, g->dims[1] = g->v.h, g->dims[2] = g->v.w;
    for (int a = 0; a < 3; a++)
        g->want[a] = 1;
    for (int a = 0; a < ndim; a++)
        g->want[3 - ndim + a] = patch[a];
    for (int a = 0; a < 3; a++)
        if (g->want[a] != got[a] || g->pv.c != g->v.c)
            return hg_error(HG_ERR_INVALID, "patch: output '%s' has %lld channels and size "
                            "%lld x %lld x %lld, expected %lld channels and %lld x %lld x %lld",
                            hg_tensor_label(out_image), (long long)g->pv.c, (long long)got[0],
                            (long long)got[1], (long long)got[2], (long long)g->v.c,
                            (long long)g->want[0], (long long)g->want[1], (long long)g->want[2]);
    return HG_OK;
}

/* Crops the patch centred on voxel fg (clamped inside the image), or placed uniformly when
 * fg < 0; a patch larger than the image is centred and padded (image 0, label 0). */
static void crop(const patch_geom *g, const hg_tensor *image, const hg_tensor *label,
                 int64_t fg, hg_rng *rng, hg_tensor *out_image, hg_tensor *out_label)
{
    const hg_vol *v = &g->v, *pv = &g->pv;
    int64_t corner[3] = {0, 0, 0}; /* may be negative or overhang: padding */
    int64_t at[3] = {fg / (v->h * v->w), (fg / v->w) % v->h, fg % v->w};
    for (int a = 0; a < 3; a++) {
        int64_t lo = 0, hi = g->dims[a] - g->want[a]; /* inside placements */
        if (hi < 0) {
            corner[a] = hi / 2;
            continue;
        }
        if (fg >= 0) {
            int64_t c = at[a] - g->want[a] / 2;
            corner[a] = c < lo ? lo : c > hi ? hi : c;
        } else {
            corner[a] = (int64_t)hg_rng_below(rng, (uint64_t)(hi + 1));
        }
    }
    for (int64_t c = 0; c < v->c; c++)
        for (int64_t z = 0; z < pv->d; z++)
            for (int64_t y = 0; y < pv->h; y++)
                for (int64_t x = 0; x < pv->w; x++) {
                    int64_t sz = z + corner[0], sy = y + corner[1], sx = x + corner[2];
                    int64_t o = ((c * pv->d + z) * pv->h + y) * pv->w + x;
                    bool in = sz >= 0 && sz < v->d && sy >= 0 && sy < v->h && sx >= 0 &&
                              sx < v->w;
                    int64_t i = (sz * v->h + sy) * v->w + sx;
                    out_image->data[o] = in ? image->data[c * v->n + i] : 0.0f;
                    if (c == 0)
                        out_label->data[o] = in ? label->data[i] : 0.0f;
                }
}

hg_status hg_patch_sample(const hg_tensor *image, const hg_tensor *label, int ndim,
                          const int64_t *patch, float fg_ratio, hg_rng rng, hg_tensor *out_image,
                          hg_tensor *out_label)
{
    patch_geom g;
    hg_status s = check_geom(image, label, ndim, patch, fg_ratio, out_image, out_label, &g);
    if (s)
        return s;
    /* "any" without an index: the pick-th foreground voxel in raster order (one scan; the
     * labels of the shapes task change every sample, so an index would not be reused) */
    int64_t fg = -1;
    if (hg_rng_uniform(&rng) < fg_ratio) {
        int64_t count = 0;
        for (int64_t i = 0; i < g.v.n; i++)
            count += label->data[i] > 0;
        if (count) {
            int64_t pick = (int64_t)hg_rng_below(&rng, (uint64_t)count);
            for (int64_t i = 0; i < g.v.n && fg < 0; i++)
                if (label->data[i] > 0 && pick-- == 0)
                    fg = i;
        }
    }
    crop(&g, image, label, fg, &rng, out_image, out_label);
    return HG_OK;
}

hg_status hg_patch_sample_indexed(const hg_tensor *image, const hg_tensor *label,
                                  const hg_patch_index *index, int ndim, const int64_t *patch,
                                  float fg_ratio, hg_fg_sampling mode, hg_rng rng,
                                  hg_tensor *out_image, hg_tensor *out_label)
{
    patch_geom g;
    hg_status s = check_geom(image, label, ndim, patch, fg_ratio, out_image, out_label, &g);
    if (s)
        return s;
    if (!index || (index->classes > 0 && index->start[index->classes] > 0 &&
                   index->voxels[index->start[index->classes] - 1] >= g.v.n))
        return hg_error(HG_ERR_INVALID, "patch: the class index of '%s' is missing or was "
                        "built for another label map", hg_tensor_label(label));
    if (mode != HG_FG_CLASSES && mode != HG_FG_ANY)
        return hg_error(HG_ERR_INVALID, "patch: foreground sampling mode %d, expected "
                        "HG_FG_CLASSES or HG_FG_ANY", (int)mode);
    int64_t fg = hg_rng_uniform(&rng) < fg_ratio ? index_pick(index, mode, &rng) : -1;
    crop(&g, image, label, fg, &rng, out_image, out_label);
    return HG_OK;
}
