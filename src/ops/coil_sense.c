/* coil_expand / coil_reduce: the coil-sensitivity operator E (x -> s_c x) and its adjoint
 * R = E^H (k -> sum_c conj(s_c) k_c) with the maps as a second, differentiable input (VarNet
 * learns its maps). With the real inner product Re<a, b> on complex data:
 *   expand  y_c = s_c x:            dx = sum_c conj(s_c) g_c,  ds_c = g_c conj(x)
 *   reduce  y = sum_c conj(s_c) k_c: dk_c = s_c g,             ds_c = conj(g) k_c
 * Coil sums run in a fixed order, so results do not depend on the thread count. */
#include "ops/mri_ops_internal.h"

typedef struct {
    int64_t n, c, s; /* batch, coils, spatial elements */
} coil_state;

/* out[b, c] = s[b, c] * x[b] (complex), or accumulate when add. */
static void expand_raw(const coil_state *v, const float *x, const float *s, float *out, bool add)
{
#pragma omp parallel for collapse(2) schedule(static) if (v->n * v->c * v->s > HG__PAR_MIN)
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t c = 0; c < v->c; c++) {
            const float *xb = x + 2 * b * v->s, *sb = s + 2 * (b * v->c + c) * v->s;
            float *ob = out + 2 * (b * v->c + c) * v->s;
            for (int64_t i = 0; i < v->s; i++) {
                float xr = xb[2 * i], xi = xb[2 * i + 1], sr = sb[2 * i], si = sb[2 * i + 1];
                float re = sr * xr - si * xi, im = sr * xi + si * xr;
                ob[2 * i] = add ? ob[2 * i] + re : re;
                ob[2 * i + 1] = add ? ob[2 * i + 1] + im : im;
            }
        }
}

/* out[b] (+)= sum_c conj(s[b, c]) k[b, c]. */
static void reduce_raw(const coil_state *v, const float *k, const float *s, float *out, bool add)
{
#pragma omp parallel for collapse(2) schedule(static) if (v->n * v->c * v->s > HG__PAR_MIN)
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t i = 0; i < v->s; i++) {
            float re = 0, im = 0;
            for (int64_t c = 0; c < v->c; c++) {
                int64_t at = 2 * ((b * v->c + c) * v->s + i);
                float kr = k[at], ki = k[at + 1], sr = s[at], si = s[at + 1];
                re += sr * kr + si * ki;
                im += sr * ki - si * kr;
            }
            float *o = out + 2 * (b * v->s + i);
            o[0] = add ? o[0] + re : re;
            o[1] = add ? o[1] + im : im;
        }
}

/* ds[b, c] += a[b, c] conj(bb[b]), bb broadcast over coils: expand's g_c conj(x) and
 * reduce's conj(g) k_c are both this product. */
static void sens_grad(const coil_state *v, const float *a, const float *bb, float *ds)
{
#pragma omp parallel for collapse(2) schedule(static) if (v->n * v->c * v->s > HG__PAR_MIN)
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t c = 0; c < v->c; c++) {
            const float *ab = a + 2 * (b * v->c + c) * v->s, *xb = bb + 2 * b * v->s;
            float *d = ds + 2 * (b * v->c + c) * v->s;
            for (int64_t i = 0; i < v->s; i++) {
                float ar = ab[2 * i], ai = ab[2 * i + 1], xr = xb[2 * i], xi = xb[2 * i + 1];
                d[2 * i] += ar * xr + ai * xi;
                d[2 * i + 1] += ai * xr - ar * xi;
            }
        }
}

static hg_status expand_backward(hg_ctx *ctx, hg_node *n)
{
    const coil_state *v = n->state;
    if (hg_needs_grad(n, 0)) {
        float *gx = hg_grad(ctx, n->in[0]);
        if (!gx)
            return hg_error_status();
        reduce_raw(v, n->out->grad, n->in[1]->data, gx, true);
    }
    if (hg_needs_grad(n, 1)) {
        float *gs = hg_grad(ctx, n->in[1]);
        if (!gs)
            return hg_error_status();
        sens_grad(v, n->out->grad, n->in[0]->data, gs);
    }
    return HG_OK;
}

static hg_status reduce_backward(hg_ctx *ctx, hg_node *n)
{
    const coil_state *v = n->state;
    if (hg_needs_grad(n, 0)) {
        float *gk = hg_grad(ctx, n->in[0]);
        if (!gk)
            return hg_error_status();
        expand_raw(v, n->out->grad, n->in[1]->data, gk, true);
    }
    if (hg_needs_grad(n, 1)) {
        float *gs = hg_grad(ctx, n->in[1]);
        if (!gs)
            return hg_error_status();
        /* conj(g) k_c = k_c conj(g): expand's g_c conj(x) with (k, g) in place of (g, x). */
        sens_grad(v, n->in[0]->data, n->out->grad, gs);
    }
    return HG_OK;
}

static hg_tensor *coil_op(hg_ctx *ctx, const char *op, hg_tensor *a, hg_tensor *sens, bool expand)
{
    HG_PROPAGATE_NULL(a, sens);
    if (!hg__mri_check(op, sens, HG_C64, -1, -1, NULL) ||
        !hg__mri_check(op, a, HG_C64, sens->shape[0], expand ? 1 : sens->shape[1], sens))
        return NULL;
    coil_state v = {sens->shape[0], sens->shape[1], hg__mri_spatial(sens)};
    int64_t shape[HG_MAX_DIMS];
    memcpy(shape, sens->shape, sizeof shape);
    if (!expand)
        shape[1] = 1;
    hg_tensor *out = hg_tensor_empty(ctx, HG_C64, sens->ndim, shape);
    if (!out)
        return NULL;
    if (expand)
        expand_raw(&v, a->data, sens->data, out->data, false);
    else
        reduce_raw(&v, a->data, sens->data, out->data, false);
    hg_tensor *in[2] = {a, sens};
    hg_node *node;
    if (hg__record(ctx, op, expand ? expand_backward : reduce_backward, out, 2, in, sizeof v,
                   &node) != HG_OK)
        return NULL;
    if (node)
        *(coil_state *)node->state = v;
    return out;
}

hg_tensor *hg_coil_expand(hg_ctx *ctx, hg_tensor *x, hg_tensor *sens)
{
    return coil_op(ctx, "coil_expand", x, sens, true);
}

hg_tensor *hg_coil_reduce(hg_ctx *ctx, hg_tensor *k, hg_tensor *sens)
{
    return coil_op(ctx, "coil_reduce", k, sens, false);
}
