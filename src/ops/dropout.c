/* Inverted dropout: in training mode each element is kept with probability 1 - p and scaled by
 * 1/(1 - p), so eval mode (and p == 0) is the identity, returned as a zero-copy view.
 *
 * The mask is a pure function of (rng seed, rng counter at the call, element index): element i
 * uses 32-bit word i % 4 of the Philox block at counter base + i/4, and is kept when that word
 * is >= p * 2^32. Any thread count therefore draws the same mask, and the backward recomputes
 * it instead of storing it. The call advances rng->counter by ceil(numel / 4). */
#include "ops/poolnorm_internal.h"

#include <math.h>

typedef struct {
    uint64_t seed, base;
    uint32_t threshold;
    float scale;
} dropout_state;

/* y[i] = keep(i) ? x[i] * scale : 0, over blocks of 4 elements; add accumulates instead. */
static void apply_mask(const dropout_state *st, const float *x, float *y, int64_t n, bool add)
{
    int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t j = 0; j < blocks; j++) {
        uint32_t w[4];
        hg_philox4x32(st->seed, st->base + (uint64_t)j, w);
        int64_t end = 4 * j + 4 < n ? 4 * j + 4 : n;
        for (int64_t i = 4 * j; i < end; i++) {
            float v = w[i - 4 * j] >= st->threshold ? x[i] * st->scale : 0.0f;
            y[i] = add ? y[i] + v : v;
        }
    }
}

static hg_status dropout_backward(hg_ctx *ctx, hg_node *node)
{
    float *gx = hg_grad(ctx, node->in[0]);
    if (!gx)
        return hg_error_status();
    apply_mask(node->state, node->out->grad, gx, node->out->numel, true);
    return HG_OK;
}

static hg_status identity_backward(hg_ctx *ctx, hg_node *node)
{
    float *gx = hg_grad(ctx, node->in[0]);
    if (!gx)
        return hg_error_status();
    hg_accumulate(gx, node->out->grad, hg_tensor_nfloats(node->out));
    return HG_OK;
}

/* The identity as a view sharing x's data (the output of dropout in eval mode). */
static hg_tensor *identity_view(hg_ctx *ctx, hg_tensor *x)
{
    hg_tensor *out = hg_ctx_calloc(ctx, sizeof *out);
    if (!out)
        return NULL;
    *out = (hg_tensor){.dtype = x->dtype, .ndim = x->ndim, .numel = x->numel, .data = x->data,
                       .ctx = ctx, .name = x->name, .flags = HG_TENSOR_VIEW};
    memcpy(out->shape, x->shape, sizeof out->shape);
    hg_tape_record(ctx, "dropout", identity_backward, out, 1, &x);
    return out;
}

hg_tensor *hg_dropout(hg_ctx *ctx, hg_tensor *x, float p, struct hg_rng *rng)
{
    HG_PROPAGATE_NULL(x);
    if (!(p >= 0.0f && p < 1.0f)) {
        hg_error(HG_ERR_INVALID, "dropout of %s: p must be in [0, 1), got %g", hg_tensor_label(x),
                 (double)p);
        return NULL;
    }
    if (!ctx) {
        hg_error(HG_ERR_INVALID, "dropout of %s: NULL context", hg_tensor_label(x));
        return NULL;
    }
    if (!hg_ctx_training(ctx) || p == 0.0f)
        return identity_view(ctx, x);
    if (!hg_require_real("dropout", x))
        return NULL;
    if (!rng) {
        hg_error(HG_ERR_INVALID, "dropout of %s: rng is NULL in training mode", hg_tensor_label(x));
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    if (!out)
        return NULL;
    dropout_state s = {rng->seed, rng->counter, (uint32_t)((double)p * 4294967296.0),
                       (float)(1.0 / (1.0 - (double)p))};
    rng->counter += (uint64_t)((x->numel + 3) / 4);
    apply_mask(&s, x->data, out->data, x->numel, false);
    hg_node *node = hg_tape_record(ctx, "dropout", dropout_backward, out, 1, &x);
    if (node) {
        dropout_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        *st = s;
        node->state = st;
    }
    return out;
}
