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

/* One window: max over [lo, hi) per dimension, clipped to the input. */
static inline float window_max(const float *xp, const int64_t *in, const int64_t *lo,
                               const int64_t *hi, int64_t *where)
{
    float best = -INFINITY;
    int64_t at = (lo[0] * in[1] + lo[1]) * in[2] + lo[2];
    for (int64_t d = lo[0]; d < hi[0]; d++)
        for (int64_t h = lo[1]; h < hi[1]; h++) {
            const float *row = xp + (d * in[1] + h) * in[2];
            for (int64_t w = lo[2]; w < hi[2]; w++) {
                float v = row[w];
                if (v > best || isnan(v)) {
                    best = v;
                    at = (d * in[1] + h) * in[2] + w;
                    if (isnan(v))
                        return *where = at, v;
                }
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
        for (int64_t o = 0; o < op; o++) {
            int64_t oi[3] = {o / (g.out[1] * g.out[2]), (o / g.out[2]) % g.out[1], o % g.out[2]};
            int64_t lo[3], hi[3];
            for (int i = 0; i < 3; i++) {
                int64_t start = oi[i] * g.s[i] - g.p[i], end = start + g.k[i];
                lo[i] = start < 0 ? 0 : start;
                hi[i] = end > g.x.in[i] ? g.x.in[i] : end;
            }
            int64_t where;
            y[pl * op + o] = window_max(xp, g.x.in, lo, hi, &where);
            if (argmax)
                argmax[pl * op + o] = where;
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
