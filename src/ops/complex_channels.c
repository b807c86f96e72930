/* complex_to_channels / channels_to_complex: C64 [N, C, *S] <-> F32 [N, 2C, *S], channel 2c
 * holding the real and 2c+1 the imaginary part of complex channel c. Each is the other's
 * inverse, and both are permutations of floats, so each backward pass is the other's forward
 * map applied to the gradient. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t n, c, s; /* batch, complex channels, spatial elements */
} cc_state;

/* Interleaved complex [n, c, s] (re, im pairs) -> planar real [n, c, 2, s]; or the reverse.
 * When add, accumulates into dst. */
static void cc_map(const cc_state *v, const float *src, float *dst, bool to_planar, bool add)
{
#pragma omp parallel for collapse(2) schedule(static) if (v->n * v->c * v->s > HG__PAR_MIN)
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t ch = 0; ch < v->c; ch++) {
            int64_t base = (b * v->c + ch) * 2 * v->s; /* same float offset in both layouts */
            const float *s = src + base;
            float *d = dst + base;
            for (int64_t i = 0; i < v->s; i++)
                for (int p = 0; p < 2; p++) {
                    int64_t inter = 2 * i + p, planar = p * v->s + i;
                    int64_t from = to_planar ? inter : planar, to = to_planar ? planar : inter;
                    d[to] = add ? d[to] + s[from] : s[from];
                }
        }
}

static hg_status to_channels_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    cc_map(n->state, n->out->grad, gx, false, true);
    return HG_OK;
}

static hg_status to_complex_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    cc_map(n->state, n->out->grad, gx, true, true);
    return HG_OK;
}

static void cc_view(const hg_tensor *x, int64_t channels, cc_state *v)
{
    v->n = x->shape[0];
    v->c = channels;
    v->s = 1;
    for (int d = 2; d < x->ndim; d++)
        v->s *= x->shape[d];
}

hg_tensor *hg_complex_to_channels(hg_ctx *ctx, hg_tensor *x)
{
    HG_PROPAGATE_NULL(x);
    if (!hg_require_rank("complex_to_channels", x, 2, HG_MAX_DIMS))
        return NULL;
    if (x->dtype != HG_C64) {
        hg_error(HG_ERR_INVALID, "complex_to_channels: %s must be complex (c64), got real",
                 hg_tensor_label(x));
        return NULL;
    }
    int64_t shape[HG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[1] *= 2;
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, shape);
    if (!out)
        return NULL;
    cc_state v;
    cc_view(x, x->shape[1], &v);
    cc_map(&v, x->data, out->data, true, false);
    hg_node *node;
    if (hg__record(ctx, "complex_to_channels", to_channels_backward, out, 1, &x, sizeof v,
                   &node) != HG_OK)
        return NULL;
    if (node)
        *(cc_state *)node->state = v;
    return out;
}

hg_tensor *hg_channels_to_complex(hg_ctx *ctx, hg_tensor *x)
{
    HG_PROPAGATE_NULL(x);
    if (!hg_require_rank("channels_to_complex", x, 2, HG_MAX_DIMS) ||
        !hg_require_real("channels_to_complex", x))
        return NULL;
    if (x->shape[1] % 2 != 0) {
        char s[96];
        hg_error(HG_ERR_INVALID,
                 "channels_to_complex: %s %s: expected an even number of channels, got %lld",
                 hg_tensor_label(x), hg_shape_str(x, s, sizeof s), (long long)x->shape[1]);
        return NULL;
    }
    int64_t shape[HG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[1] /= 2;
    hg_tensor *out = hg_tensor_empty(ctx, HG_C64, x->ndim, shape);
    if (!out)
        return NULL;
    cc_state v;
    cc_view(x, shape[1], &v);
    cc_map(&v, x->data, out->data, false, false);
    hg_node *node;
    if (hg__record(ctx, "channels_to_complex", to_complex_backward, out, 1, &x, sizeof v,
                   &node) != HG_OK)
        return NULL;
    if (node)
        *(cc_state *)node->state = v;
    return out;
}
