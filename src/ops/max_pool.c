/* Max pooling, 1-D to 3-D (PyTorch's MaxPool{1,2,3}d, dilation 1). Padding acts as -inf.
 * The forward keeps, per output, the flat in-plane index of the first maximum (NaN wins, as
 * in PyTorch) when a gradient will be needed; the backward routes each output gradient there. */
#include "ops/poolnorm_internal.h"

#include <math.h>

typedef struct {
    hg_pool_geom g;
    int64_t *argmax; /* [N*C*oplane], index inside the input plane */
} max_pool_state;

static hg_status max_pool_backward(hg_ctx *ctx, hg_node *n)
{
    const max_pool_state *st = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *gy = n->out->grad;
    int64_t planes = st->g.x.n * st->g.x.c, ip = st->g.x.plane, op = st->g.oplane;
    /* Windows overlap within a plane, so planes are the unit of parallel work. */
#pragma omp parallel for schedule(static) if (planes * op > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *gxp = gx + pl * ip;
        const float *gyp = gy + pl * op;
        const int64_t *am = st->argmax + pl * op;
        for (int64_t o = 0; o < op; o++)
            gxp[am[o]] += gyp[o];
    }
    return HG_OK;
}

/* Max over one input plane's window [lo, hi) per axis. A NaN wins over numbers, as in
 * PyTorch (val > max || isnan(val)). The value pass is a plain max (vectorizable, no
 * index bookkeeping); when `where` is wanted, a second pass over the (small, cached) window
 * finds the flat index of the first element equal to the max (or the first NaN), PyTorch's
 * choice among ties. */
static inline float window_max(const float *xp, const int64_t *in, const int64_t *lo,
                               const int64_t *hi, int64_t *where)
{
    float best = -INFINITY;
    bool nan = false;
    for (int64_t d = lo[0]; d < hi[0]; d++)
        for (int64_t h = lo[1]; h < hi[1]; h++) {
            const float *row = xp + (d * in[1] + h) * in[2];
            for (int64_t w = lo[2]; w < hi[2]; w++) {
                float v = row[w];
                best = v > best ? v : best;
                nan |= v != v;
            }
        }
    if (nan)
        best = NAN;
    if (!where)
        return best;
    /* Backwards with a branch-free select, so the last hit is the first in window order. */
    int64_t at = (lo[0] * in[1] + lo[1]) * in[2] + lo[2]; /* all -inf: the first element */
    for (int64_t d = hi[0] - 1; d >= lo[0]; d--)
        for (int64_t h = hi[1] - 1; h >= lo[1]; h--) {
            int64_t base = (d * in[1] + h) * in[2];
            for (int64_t w = hi[2] - 1; w >= lo[2]; w--) {
                float v = xp[base + w];
                bool hit = (v == best) | (nan & (v != v));
                at = hit ? base + w : at;
            }
        }
    *where = at;
    return best;
}

hg_tensor *hg_max_pool(hg_ctx *ctx, hg_tensor *x, const hg_pool_opts *opts)
{
    HG_PROPAGATE_NULL(x);
    hg_pool_geom g;
    if (hg_pool_geometry("max_pool", x, opts, &g) != HG_OK)
        return NULL;
    int64_t shape[HG_MAX_DIMS];
    hg_pool_out_shape(&g, shape);
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, shape);
    if (!out)
        return NULL;
    bool keep = ctx && hg_ctx_grad_enabled(ctx) && x->requires_grad;
    int64_t planes = g.x.n * g.x.c, ip = g.x.plane, op = g.oplane;
    int64_t *argmax = keep ? hg_ctx_alloc(ctx, (size_t)(planes * op) * sizeof *argmax) : NULL;
    if (keep && !argmax)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
#pragma omp parallel for schedule(static) if (planes * op > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = xd + pl * ip;
        float *yp = y + pl * op;
        int64_t *ap = argmax ? argmax + pl * op : NULL;
        int64_t lo[3], hi[3], o = 0;
        for (int64_t od = 0; od < g.out[0]; od++) {
            hg_pool_window(&g, 0, od, &lo[0], &hi[0]);
            for (int64_t oh = 0; oh < g.out[1]; oh++) {
                hg_pool_window(&g, 1, oh, &lo[1], &hi[1]);
                for (int64_t ow = 0; ow < g.out[2]; ow++, o++) {
                    hg_pool_window(&g, 2, ow, &lo[2], &hi[2]);
                    yp[o] = window_max(xp, g.x.in, lo, hi, ap ? ap + o : NULL);
                }
            }
        }
    }
    hg_node *node = hg_tape_record(ctx, "max_pool", max_pool_backward, out, 1, &x);
    if (node) {
        max_pool_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        st->g = g;
        st->argmax = argmax;
        node->state = st;
    }
    return out;
}
