/* Resampling of the spatial dims to a given size, PyTorch's F.interpolate(size=...):
 * - NEAREST ('nearest'): source index floor(dst * in/out) (in/out computed in float), clamped
 *   to in-1; align_corners has no effect, as in PyTorch.
 * - LINEAR ('linear'/'bilinear'/'trilinear', separable): with align_corners the corner samples
 *   coincide (src = dst * (in-1)/(out-1)); without, pixel centres are aligned
 *   (src = (dst + 0.5) * in/out - 0.5, clamped at 0). A dimension whose size does not change
 *   is copied, as PyTorch does.
 * Both modes become per-dimension tables of (up to) two taps with weights, computed once per
 * call; the forward gathers through them and the backward scatters back with the same
 * weights. Each (n, c) plane is independent, so planes are the parallel unit. */
#include "ops/poolnorm_internal.h"

#include <math.h>

typedef struct {
    int64_t *i0, *i1; /* source indices per output index */
    float *w0, *w1;   /* their weights */
    int32_t taps;     /* 1 when only i0/w0 matter (nearest, or an unchanged size) */
} axis_table;

typedef struct {
    hg_planes x;
    int64_t out[3];
    int64_t oplane;
    axis_table ax[3];
} upsample_state;

static void nearest_table(axis_table *t, int64_t in, int64_t out)
{
    float scale = (float)in / (float)out;
    for (int64_t o = 0; o < out; o++) {
        int64_t src;
        if (out == in)
            src = o;
        else if (out == 2 * in)
            src = o >> 1;
        else {
            src = (int64_t)floorf((float)o * scale);
            src = src < in - 1 ? src : in - 1;
        }
        t->i0[o] = t->i1[o] = src;
        t->w0[o] = 1.0f, t->w1[o] = 0.0f;
    }
    t->taps = 1;
}

static void linear_table(axis_table *t, int64_t in, int64_t out, bool align_corners)
{
    if (in == out) {
        for (int64_t o = 0; o < out; o++)
            t->i0[o] = t->i1[o] = o, t->w0[o] = 1.0f, t->w1[o] = 0.0f;
        t->taps = 1;
        return;
    }
    float scale = align_corners ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f)
                                : (float)in / (float)out;
    for (int64_t o = 0; o < out; o++) {
        float src = align_corners ? scale * (float)o : scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0.0f)
            src = 0.0f;
        int64_t i0 = (int64_t)src;
        float l1 = src - (float)i0;
        l1 = l1 < 0.0f ? 0.0f : (l1 > 1.0f ? 1.0f : l1);
        t->i0[o] = i0;
        t->i1[o] = i0 + (i0 < in - 1 ? 1 : 0);
        t->w0[o] = 1.0f - l1;
        t->w1[o] = l1;
    }
    t->taps = 2;
}

/* The (up to 4) input rows that output row (od, oh) of a plane draws from, with their weights
 * (products of the depth and height tap weights). Returns their number. */
static inline int source_rows(const axis_table *a, const int64_t *in, int64_t od, int64_t oh,
                              int64_t *offset, float *weight)
{
    int nr = 0;
    for (int td = 0; td < a[0].taps; td++) {
        int64_t sd = td ? a[0].i1[od] : a[0].i0[od];
        float wd = td ? a[0].w1[od] : a[0].w0[od];
        for (int th = 0; th < a[1].taps; th++, nr++) {
            int64_t sh = th ? a[1].i1[oh] : a[1].i0[oh];
            offset[nr] = (sd * in[1] + sh) * in[2];
            weight[nr] = wd * (th ? a[1].w1[oh] : a[1].w0[oh]);
        }
    }
    return nr;
}

static hg_status upsample_backward(hg_ctx *ctx, hg_node *n)
{
    const upsample_state *st = n->state;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *gy = n->out->grad;
    const axis_table *a = st->ax;
    const int64_t *in = st->x.in, *out = st->out;
    int64_t planes = st->x.n * st->x.c, ip = st->x.plane, op = st->oplane;
#pragma omp parallel for schedule(static) if (planes * op > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *gxp = gx + pl * ip;
        const float *gyp = gy + pl * op;
        for (int64_t od = 0; od < out[0]; od++)
            for (int64_t oh = 0; oh < out[1]; oh++) {
                int64_t off[4];
                float rw[4];
                int nr = source_rows(a, in, od, oh, off, rw);
                const float *grow = gyp + (od * out[1] + oh) * out[2];
                for (int r = 0; r < nr; r++) {
                    float *row = gxp + off[r];
                    if (a[2].taps == 1)
                        for (int64_t ow = 0; ow < out[2]; ow++)
                            row[a[2].i0[ow]] += rw[r] * grow[ow];
                    else
                        for (int64_t ow = 0; ow < out[2]; ow++) {
                            float g = rw[r] * grow[ow];
                            row[a[2].i0[ow]] += a[2].w0[ow] * g;
                            row[a[2].i1[ow]] += a[2].w1[ow] * g;
                        }
                }
            }
    }
    return HG_OK;
}

hg_tensor *hg_upsample(hg_ctx *ctx, hg_tensor *x, const int64_t *out_size, hg_upsample_mode mode,
                       bool align_corners)
{
    HG_PROPAGATE_NULL(x);
    upsample_state s;
    memset(&s, 0, sizeof s);
    if (!hg_require_ctx("upsample", ctx) || hg_planes_of("upsample", x, &s.x) != HG_OK)
        return NULL;
    if (mode != HG_UPSAMPLE_NEAREST && mode != HG_UPSAMPLE_LINEAR) {
        hg_error(HG_ERR_INVALID, "upsample of %s: unknown mode %d (expected nearest 0 or linear 1)",
                 hg_tensor_label(x), (int)mode);
        return NULL;
    }
    if (!out_size) {
        hg_error(HG_ERR_INVALID, "upsample of %s: out_size is NULL", hg_tensor_label(x));
        return NULL;
    }
    int sd = s.x.sd;
    int64_t shape[HG_MAX_DIMS] = {s.x.n, s.x.c};
    s.oplane = 1;
    for (int i = 0; i < 3; i++) {
        int d = i - (3 - sd);
        s.out[i] = d >= 0 ? out_size[d] : 1;
        if (s.out[i] < 1 || (d >= 0 && s.x.in[i] < 1)) {
            char sh[96];
            hg_error(HG_ERR_INVALID,
                     "upsample of %s %s: spatial dimension %d: output size must be >= 1 and the "
                     "input non-empty, got %lld from %lld",
                     hg_tensor_label(x), hg_shape_str(x, sh, sizeof sh), d, (long long)s.out[i],
                     (long long)s.x.in[i]);
            return NULL;
        }
        if (d >= 0)
            shape[2 + d] = s.out[i];
        s.oplane *= s.out[i];
    }
    for (int i = 0; i < 3; i++) {
        axis_table *t = &s.ax[i];
        size_t o = (size_t)s.out[i];
        t->i0 = hg_ctx_alloc(ctx, o * sizeof *t->i0);
        t->i1 = hg_ctx_alloc(ctx, o * sizeof *t->i1);
        t->w0 = hg_ctx_alloc(ctx, o * sizeof *t->w0);
        t->w1 = hg_ctx_alloc(ctx, o * sizeof *t->w1);
        if (!t->i0 || !t->i1 || !t->w0 || !t->w1)
            return NULL;
        if (mode == HG_UPSAMPLE_NEAREST)
            nearest_table(t, s.x.in[i], s.out[i]);
        else
            linear_table(t, s.x.in[i], s.out[i], align_corners);
    }
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, shape);
    if (!out)
        return NULL;
    const axis_table *a = s.ax;
    const int64_t *in = s.x.in, *os = s.out;
    int64_t planes = s.x.n * s.x.c, ip = s.x.plane, op = s.oplane;
    const float *xd = x->data;
    float *y = out->data;
#pragma omp parallel for schedule(static) if (planes * op > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = xd + pl * ip;
        float *yp = y + pl * op;
        for (int64_t od = 0; od < os[0]; od++)
            for (int64_t oh = 0; oh < os[1]; oh++) {
                int64_t off[4];
                float rw[4];
                int nr = source_rows(a, in, od, oh, off, rw);
                float *yrow = yp + (od * os[1] + oh) * os[2];
                if (a[2].taps == 1 && nr == 1) { /* nearest, or a copied axis */
                    const float *row = xp + off[0];
                    for (int64_t ow = 0; ow < os[2]; ow++)
                        yrow[ow] = rw[0] * row[a[2].i0[ow]];
                    continue;
                }
                for (int64_t ow = 0; ow < os[2]; ow++) {
                    int64_t i0 = a[2].i0[ow], i1 = a[2].i1[ow];
                    float w0 = a[2].w0[ow], w1 = a[2].w1[ow], acc = 0.0f;
                    for (int r = 0; r < nr; r++) {
                        const float *row = xp + off[r];
                        acc += rw[r] * (w0 * row[i0] + w1 * row[i1]);
                    }
                    yrow[ow] = acc;
                }
            }
    }
    hg_node *node = hg_tape_record(ctx, "upsample", upsample_backward, out, 1, &x);
    if (node) {
        upsample_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        *st = s;
        node->state = st;
    }
    return out;
}
