/* Connected components of binary masks (6/26-connectivity in 3-D, 4/8 in 2-D) and the
 * largest-component filter of label maps used to clean segmentations. */
#include "hinge/seg_metrics.h"

#include <stdlib.h>
#include <string.h>

/* The neighbour offsets of the connectivity: face neighbours only (full = false) or every
 * voxel of the 3^ndim block. Returns their count. */
static int neighbour_offsets(int ndim, bool full, int off[26][3])
{
    int n = 0;
    for (int dz = ndim == 3 ? -1 : 0; dz <= (ndim == 3 ? 1 : 0); dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int nz = (dz != 0) + (dy != 0) + (dx != 0);
                if (nz == 0 || (!full && nz > 1))
                    continue;
                off[n][0] = dz, off[n][1] = dy, off[n][2] = dx;
                n++;
            }
    return n;
}

hg_status hg_connected_components(const uint8_t *mask, int ndim, const int64_t *dims,
                                  int connectivity, int32_t *labels, int32_t *count)
{
    if (!mask || !dims || !labels || !count)
        return hg_error(HG_ERR_INVALID, "connected components: NULL argument");
    if (ndim != 2 && ndim != 3)
        return hg_error(HG_ERR_INVALID, "connected components: ndim must be 2 or 3, got %d", ndim);
    bool full;
    if (ndim == 3 && (connectivity == 6 || connectivity == 26))
        full = connectivity == 26;
    else if (ndim == 2 && (connectivity == 4 || connectivity == 8))
        full = connectivity == 8;
    else
        return hg_error(HG_ERR_INVALID, "connected components: connectivity %d is not one of %s",
                        connectivity, ndim == 3 ? "6, 26" : "4, 8");
    int64_t d[3] = {1, 1, 1};
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1)
            return hg_error(HG_ERR_INVALID, "connected components: dimension %d is %lld", i,
                            (long long)dims[i]);
        d[3 - ndim + i] = dims[i];
    }
    int64_t n = d[0] * d[1] * d[2];
    int off[26][3];
    int noff = neighbour_offsets(ndim, full, off);
    int64_t *queue = malloc((size_t)n * sizeof *queue);
    if (!queue)
        return hg_error(HG_ERR_NOMEM, "connected components: no memory for %lld voxels",
                        (long long)n);
    memset(labels, 0, (size_t)n * sizeof *labels);
    int32_t next = 0;
    for (int64_t seed = 0; seed < n; seed++) {
        if (!mask[seed] || labels[seed])
            continue;
        /* breadth-first flood fill from the first unlabelled voxel, in raster order */
        labels[seed] = ++next;
        int64_t head = 0, tail = 0;
        queue[tail++] = seed;
        while (head < tail) {
            int64_t v = queue[head++];
            int64_t z = v / (d[1] * d[2]), y = v / d[2] % d[1], x = v % d[2];
            for (int k = 0; k < noff; k++) {
                int64_t zz = z + off[k][0], yy = y + off[k][1], xx = x + off[k][2];
                if (zz < 0 || zz >= d[0] || yy < 0 || yy >= d[1] || xx < 0 || xx >= d[2])
                    continue;
                int64_t w = (zz * d[1] + yy) * d[2] + xx;
                if (mask[w] && !labels[w]) {
                    labels[w] = next;
                    queue[tail++] = w;
                }
            }
        }
    }
    free(queue);
    *count = next;
    return HG_OK;
}

hg_status hg_keep_largest_component(hg_tensor *labels, int ndim_spatial, int connectivity,
                                    int64_t *removed)
{
    if (!labels || labels->dtype != HG_F32)
        return hg_error(HG_ERR_INVALID, "largest component: expected a float label map");
    if (ndim_spatial != 2 && ndim_spatial != 3)
        return hg_error(HG_ERR_INVALID, "largest component: ndim_spatial must be 2 or 3, got %d",
                        ndim_spatial);
    if (labels->ndim < ndim_spatial)
        return hg_error(HG_ERR_INVALID, "largest component: %s has %d dimensions, fewer than %d",
                        hg_tensor_label(labels), (int)labels->ndim, ndim_spatial);
    for (int i = 0; i < labels->ndim - ndim_spatial; i++)
        if (labels->shape[i] != 1)
            return hg_error(HG_ERR_INVALID, "largest component: leading axis %d of %s has size "
                            "%lld, expected 1", i, hg_tensor_label(labels),
                            (long long)labels->shape[i]);
    const int64_t *dims = labels->shape + labels->ndim - ndim_spatial;
    int64_t n = labels->numel;
    if (n <= 0)
        return HG_OK; /* nothing to clean */
    int32_t maxlab = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = labels->data[i];
        if (!(v >= 0 && v <= 65535) || v != (float)(int32_t)v)
            return hg_error(HG_ERR_INVALID, "largest component: %s holds %g at voxel %lld, not "
                            "a label in [0, 65535]", hg_tensor_label(labels), (double)v,
                            (long long)i);
        if ((int32_t)v > maxlab)
            maxlab = (int32_t)v;
    }
    uint8_t *mask = malloc((size_t)n);
    int32_t *comp = malloc((size_t)n * sizeof *comp);
    int64_t *size = NULL;
    hg_status s = mask && comp ? HG_OK : hg_error(HG_ERR_NOMEM, "largest component: no memory");
    int64_t total = 0;
    for (int32_t c = 1; c <= maxlab && s == HG_OK; c++) {
        int64_t present = 0;
        for (int64_t i = 0; i < n; i++)
            present += mask[i] = labels->data[i] == (float)c;
        if (!present)
            continue;
        int32_t count;
        if ((s = hg_connected_components(mask, ndim_spatial, dims, connectivity, comp, &count)))
            break;
        if (count < 2)
            continue;
        free(size);
        size = calloc((size_t)count + 1, sizeof *size);
        if (!size) {
            s = hg_error(HG_ERR_NOMEM, "largest component: no memory");
            break;
        }
        for (int64_t i = 0; i < n; i++)
            size[comp[i]]++;
        int32_t best = 1; /* ties: the first in raster order */
        for (int32_t k = 2; k <= count; k++)
            if (size[k] > size[best])
                best = k;
        for (int64_t i = 0; i < n; i++)
            if (comp[i] && comp[i] != best) {
                labels->data[i] = 0;
                total++;
            }
    }
    free(size);
    free(comp);
    free(mask);
    if (removed)
        *removed = s == HG_OK ? total : 0;
    return s;
}
