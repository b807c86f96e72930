/* Average pooling, 1-D to 3-D (PyTorch's AvgPool{1,2,3}d without divisor_override), and global
 * average pooling. The divisor follows PyTorch: with count_include_pad the window is counted
 * up to the padded border (but not past it, which matters in ceil mode); without, only the
 * input elements it covers. The backward spreads each output gradient evenly over its window. */
#include "ops/poolnorm_internal.h"

/* Window of output index o along axis i: clipped to the input in [*lo, *hi); *padded is its
 * length up to the padded border (what count_include_pad divides by). */
static inline void axis_window(const hg_pool_geom *g, int i, int64_t o, int64_t *lo, int64_t *hi,
                               int64_t *padded)
{
    int64_t start = o * g->s[i] - g->p[i], end = start + g->k[i];
    int64_t limit = g->x.in[i] + g->p[i];
    *padded = (end < limit ? end : limit) - start;
    *lo = start < 0 ? 0 : start;
    *hi = end < g->x.in[i] ? end : g->x.in[i];
}

/* Visits every output of one plane with its clipped window and 1/divisor; BODY sees lo, hi
 * (per axis), inv and the flat output index o. Windows are never empty (padding <= k/2). */
#define FOR_EACH_WINDOW(g, BODY)                                                               \
    do {                                                                                       \
        int64_t lo[3], hi[3], pd[3], o = 0;                                                    \
        for (int64_t od = 0; od < (g)->out[0]; od++) {                                         \
            axis_window((g), 0, od, &lo[0], &hi[0], &pd[0]);                                   \
            for (int64_t oh = 0; oh < (g)->out[1]; oh++) {                                     \
                axis_window((g), 1, oh, &lo[1], &hi[1], &pd[1]);                               \
                for (int64_t ow = 0; ow < (g)->out[2]; ow++, o++) {                            \
                    axis_window((g), 2, ow, &lo[2], &hi[2], &pd[2]);                           \
                    int64_t div = (g)->count_include_pad                                       \
                                      ? pd[0] * pd[1] * pd[2]                                  \
                                      : (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);   \
                    float inv = 1.0f / (float)div;                                             \
                    BODY                                                                       \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    } while (0)

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
        const float *gyp = gy + pl * op;
        FOR_EACH_WINDOW(g, {
            float v = gyp[o] * inv;
            for (int64_t d = lo[0]; d < hi[0]; d++)
                for (int64_t h = lo[1]; h < hi[1]; h++) {
                    float *row = gxp + (d * in[1] + h) * in[2];
                    for (int64_t c = lo[2]; c < hi[2]; c++)
                        row[c] += v;
                }
        });
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
        float *yp = y + pl * op;
        FOR_EACH_WINDOW(&g, {
            float acc = 0.0f;
            for (int64_t d = lo[0]; d < hi[0]; d++)
                for (int64_t h = lo[1]; h < hi[1]; h++) {
                    const float *row = xp + (d * in[1] + h) * in[2];
                    for (int64_t c = lo[2]; c < hi[2]; c++)
                        acc += row[c];
                }
            yp[o] = acc * inv;
        });
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
