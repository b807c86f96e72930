/* Average pooling, 1-D to 3-D (PyTorch's AvgPool{1,2,3}d without divisor_override), and global
 * average pooling. The divisor follows PyTorch: with count_include_pad the window is counted
 * up to the padded border (but not past it, which matters in ceil mode); without, only the
 * input elements it covers. The backward spreads each output gradient evenly over its window. */
#include "ops/poolnorm_internal.h"

typedef struct {
    int64_t lo[3], hi[3]; /* window clipped to the input */
    float inv;            /* 1 / divisor; 0 for an empty window */
} avg_window;

static inline avg_window window_of(const hg_pool_geom *g, int64_t o)
{
    int64_t oi[3] = {o / (g->out[1] * g->out[2]), (o / g->out[2]) % g->out[1], o % g->out[2]};
    avg_window w;
    int64_t padded = 1, inside = 1;
    for (int i = 0; i < 3; i++) {
        int64_t start = oi[i] * g->s[i] - g->p[i], end = start + g->k[i];
        int64_t pend = end < g->x.in[i] + g->p[i] ? end : g->x.in[i] + g->p[i];
        padded *= pend - start;
        w.lo[i] = start < 0 ? 0 : start;
        w.hi[i] = end > g->x.in[i] ? g->x.in[i] : end;
        inside *= w.hi[i] > w.lo[i] ? w.hi[i] - w.lo[i] : 0;
    }
    int64_t div = g->count_include_pad ? padded : inside;
    w.inv = inside > 0 && div > 0 ? 1.0f / (float)div : 0.0f;
    return w;
}

typedef struct {
    hg_pool_geom g;
} avg_pool_state;

static hg_status avg_pool_backward(hg_ctx *ctx, hg_node *n)
{
    const hg_pool_geom *g = &((const avg_pool_state *)n->state)->g;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *gy = n->out->grad;
    int64_t planes = g->x.n * g->x.c, ip = g->x.plane, op = g->oplane;
    const int64_t *in = g->x.in;
#pragma omp parallel for schedule(static) if (planes * op > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *gxp = gx + pl * ip;
        for (int64_t o = 0; o < op; o++) {
            avg_window w = window_of(g, o);
            float v = gy[pl * op + o] * w.inv;
            for (int64_t d = w.lo[0]; d < w.hi[0]; d++)
                for (int64_t h = w.lo[1]; h < w.hi[1]; h++) {
                    float *row = gxp + (d * in[1] + h) * in[2];
                    for (int64_t c = w.lo[2]; c < w.hi[2]; c++)
                        row[c] += v;
                }
        }
    }
    return HG_OK;
}

hg_tensor *hg_avg_pool(hg_ctx *ctx, hg_tensor *x, const hg_pool_opts *opts)
{
    HG_PROPAGATE_NULL(x);
    hg_pool_geom g;
    if (hg_pool_geometry("avg_pool", x, opts, &g) != HG_OK)
        return NULL;
    int64_t shape[HG_MAX_DIMS];
    hg_pool_out_shape(&g, shape);
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, shape);
    if (!out)
        return NULL;
    int64_t planes = g.x.n * g.x.c, ip = g.x.plane, op = g.oplane;
    const int64_t *in = g.x.in;
    const float *xd = x->data;
    float *y = out->data;
#pragma omp parallel for schedule(static) if (planes * op > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = xd + pl * ip;
        for (int64_t o = 0; o < op; o++) {
            avg_window w = window_of(&g, o);
            float acc = 0.0f;
            for (int64_t d = w.lo[0]; d < w.hi[0]; d++)
                for (int64_t h = w.lo[1]; h < w.hi[1]; h++) {
                    const float *row = xp + (d * in[1] + h) * in[2];
                    for (int64_t c = w.lo[2]; c < w.hi[2]; c++)
                        acc += row[c];
                }
            y[pl * op + o] = acc * w.inv;
        }
    }
    hg_node *node = hg_tape_record(ctx, "avg_pool", avg_pool_backward, out, 1, &x);
    if (node) {
        avg_pool_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        st->g = g;
        node->state = st;
    }
    return out;
}

/* ---- global average pooling: [N, C, *S] -> [N, C, 1, ...] ------------------------------- */

static hg_status global_avg_pool_backward(hg_ctx *ctx, hg_node *n)
{
    hg_tensor *x = n->in[0];
    float *gx = hg_grad(ctx, x);
    if (!gx)
        return hg_error_status();
    int64_t planes = n->out->numel, ip = x->numel / (planes ? planes : 1);
    const float *gy = n->out->grad;
    float inv = 1.0f / (float)ip;
#pragma omp parallel for schedule(static) if (x->numel > 65536)
    for (int64_t pl = 0; pl < planes; pl++) {
        float v = gy[pl] * inv;
        for (int64_t i = 0; i < ip; i++)
            gx[pl * ip + i] += v;
    }
    return HG_OK;
}

hg_tensor *hg_global_avg_pool(hg_ctx *ctx, hg_tensor *x)
{
    HG_PROPAGATE_NULL(x);
    hg_planes p;
    if (hg_planes_of("global_avg_pool", x, &p) != HG_OK)
        return NULL;
    if (p.plane == 0) {
        char sh[96];
        hg_error(HG_ERR_INVALID, "global_avg_pool of %s %s: empty spatial extent",
                 hg_tensor_label(x), hg_shape_str(x, sh, sizeof sh));
        return NULL;
    }
    int64_t shape[HG_MAX_DIMS] = {p.n, p.c, 1, 1, 1};
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, shape);
    if (!out)
        return NULL;
    int64_t planes = p.n * p.c, ip = p.plane;
    const float *xd = x->data;
    float *y = out->data;
    /* Accumulate in double: planes of 10^6 voxels lose digits in float. */
#pragma omp parallel for schedule(static) if (x->numel > 65536)
    for (int64_t pl = 0; pl < planes; pl++) {
        double acc = 0.0;
        for (int64_t i = 0; i < ip; i++)
            acc += xd[pl * ip + i];
        y[pl] = (float)(acc / (double)ip);
    }
    hg_tape_record(ctx, "global_avg_pool", global_avg_pool_backward, out, 1, &x);
    return out;
}
