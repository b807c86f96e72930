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

/* The U-Nets' pooling: along every axis either a 2-wide window with stride 2 or (the unused
 * leading axis of a 2-D input) width 1, no padding, every window inside the input. */
static bool is_pool2(const hg_pool_geom *g)
{
    for (int i = 0; i < 3; i++) {
        bool unit = g->k[i] == 1 && g->s[i] == 1;
        bool two = g->k[i] == 2 && g->s[i] == 2;
        if (g->p[i] != 0 || !(unit || two) || g->out[i] * g->k[i] > g->x.in[i])
            return false;
    }
    return true;
}

/* Whether any of n values is a NaN (vectorizes: no early exit). */
static bool any_nan(const float *v, int64_t n)
{
    int nan = 0;
    for (int64_t i = 0; i < n; i++)
        nan |= v[i] != v[i];
    return nan;
}

/* One plane of is_pool2 pooling without the general window bookkeeping. Same choice as
 * window_max: the first maximum in window order, the first NaN winning (value NaN). A row
 * of windows without NaN (checked first, vectorized) takes branch-free selects on a plain
 * `>`; the general code's data-dependent branches mispredicted on every other element
 * (~22 ns per output of a 2x2 pool). Rows holding a NaN take window_max. */
static void pool2_plane(const hg_pool_geom *g, const float *xp, float *yp, int64_t *ap)
{
    const int64_t kd = g->k[0], kh = g->k[1], kw = g->k[2];
    const int64_t *in = g->x.in;
    int64_t o = 0;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++, o += g->out[2]) {
            int64_t row0 = (od * kd * in[1] + oh * kh) * in[2];
            bool nan = false;
            for (int64_t d = 0; d < kd; d++)
                for (int64_t h = 0; h < kh; h++)
                    nan |= any_nan(xp + row0 + (d * in[1] + h) * in[2], g->out[2] * kw);
            for (int64_t ow = 0; ow < g->out[2]; ow++) {
                int64_t first = row0 + ow * kw, at = first;
                if (nan) {
                    int64_t lo[3] = {od * kd, oh * kh, ow * kw};
                    int64_t hi[3] = {lo[0] + kd, lo[1] + kh, lo[2] + kw};
                    yp[o + ow] = window_max(xp, in, lo, hi, ap ? &at : NULL);
                } else {
                    float best = xp[first];
                    for (int64_t d = 0; d < kd; d++)
                        for (int64_t h = 0; h < kh; h++)
                            for (int64_t w = 0; w < kw; w++) {
                                int64_t idx = first + (d * in[1] + h) * in[2] + w;
                                float v = xp[idx];
                                bool take = v > best;
                                at = take ? idx : at;
                                best = take ? v : best;
                            }
                    yp[o + ow] = best;
                }
                if (ap)
                    ap[o + ow] = at;
            }
        }
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
    const bool pool2 = is_pool2(&g);
#pragma omp parallel for schedule(static) if (planes * op > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = xd + pl * ip;
        float *yp = y + pl * op;
        int64_t *ap = argmax ? argmax + pl * op : NULL;
        if (pool2) {
            pool2_plane(&g, xp, yp, ap);
            continue;
        }
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
