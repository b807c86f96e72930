/* The tape: recording op nodes and walking them backwards. */
#include "autodiff/profile_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

hg_node *hg_tape_record(hg_ctx *ctx, const char *op, hg_backward_fn backward, hg_tensor *out,
                        int n_in, hg_tensor *const *in)
{
    if (ctx && ctx->profile)
        hg__profile_forward(ctx->profile, op, out);
    if (!ctx || !out || !ctx->record_grad)
        return NULL;
    bool any = false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad)
            any = true;
    if (!any)
        return NULL;
    if (n_in > HG_MAX_INPUTS) {
        hg_error(HG_ERR_INVALID, "%s: %d inputs, at most %d can be recorded", op, n_in,
                 HG_MAX_INPUTS);
        return NULL;
    }
    if (ctx->tape_len == ctx->tape_cap) {
        int64_t cap = ctx->tape_cap ? 2 * ctx->tape_cap : 256;
        hg_node **tape = realloc(ctx->tape, (size_t)cap * sizeof *tape);
        if (!tape) {
            hg_error(HG_ERR_NOMEM, "out of memory growing the tape");
            return NULL;
        }
        ctx->tape = tape;
        ctx->tape_cap = cap;
    }
    hg_node *node = hg_ctx_calloc(ctx, sizeof *node);
    if (!node)
        return NULL;
    node->op = op;
    node->backward = backward;
    node->out = out;
    node->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        node->in[i] = in[i];
    out->requires_grad = true;
    out->node = node;
    ctx->tape[ctx->tape_len++] = node;
    return node;
}

void *hg_node_state(hg_ctx *ctx, hg_node *node, size_t bytes)
{
    (void)node;
    return hg_ctx_calloc(ctx, bytes);
}

float *hg_grad(hg_ctx *ctx, hg_tensor *t)
{
    if (t->grad)
        return t->grad;
    size_t bytes = (size_t)hg_tensor_nfloats(t) * sizeof(float);
    if (t->ctx) {
        t->grad = hg_ctx_alloc_data(t->ctx, bytes, true); /* may reuse released memory */
    } else {
        (void)ctx;
        t->grad = hg_calloc(1, bytes);
        if (t->grad)
            t->flags |= HG_TENSOR_HEAP_GRAD;
    }
    return t->grad;
}

int64_t hg_tape_length(const hg_ctx *ctx) { return ctx->tape_len; }

hg_node *hg_tape_node(const hg_ctx *ctx, int64_t i)
{
    return i >= 0 && i < ctx->tape_len ? ctx->tape[i] : NULL;
}

void hg_tape_set_grad_ready_hook(hg_ctx *ctx, hg_grad_ready_fn fn, void *user)
{
    ctx->grad_ready = fn;
    ctx->grad_ready_user = fn ? user : NULL;
}

static bool is_leaf(const hg_tensor *t) { return t && t->requires_grad && !t->node; }

/* The pre-pass of the grad-ready hook: bit k of final[i] says that input k of node i is a
 * leaf whose gradient is complete once node i's backward has run. Backward visits nodes in
 * reverse, so that node is the leaf's first use in recording order. The tensors' flag bit
 * marks leaves already seen and is cleared again before returning. */
static uint8_t *final_uses(hg_ctx *ctx)
{
    uint8_t *final = hg_ctx_calloc(ctx, (size_t)ctx->tape_len);
    if (!final)
        return NULL;
    for (int64_t i = 0; i < ctx->tape_len; i++) {
        hg_node *n = ctx->tape[i];
        for (int k = 0; k < n->n_in; k++)
            if (is_leaf(n->in[k]) && !(n->in[k]->flags & HG_TENSOR_LEAF_SEEN)) {
                n->in[k]->flags |= HG_TENSOR_LEAF_SEEN;
                final[i] |= (uint8_t)(1u << k);
            }
    }
    for (int64_t i = 0; i < ctx->tape_len; i++)
        for (int k = 0; k < ctx->tape[i]->n_in; k++)
            if (final[i] & (1u << k))
                ctx->tape[i]->in[k]->flags &= ~HG_TENSOR_LEAF_SEEN;
    return final;
}

void hg_tape_set_release(hg_ctx *ctx, bool on) { ctx->release_in_backward = on; }

/* After the backward of the op that produced t, nothing reads t or its gradient any more:
 * every consumer of t was recorded later and has already run. */
static void release_intermediate(hg_ctx *ctx, hg_tensor *t)
{
    if (t->ctx != ctx)
        return;
    size_t bytes = (size_t)hg_tensor_nfloats(t) * sizeof(float);
    if (t->grad && hg_ctx_free_data(ctx, t->grad, bytes))
        t->grad = NULL;
    if (!(t->flags & HG_TENSOR_VIEW) && t->data && hg_ctx_free_data(ctx, t->data, bytes))
        t->data = NULL;
}

static hg_status walk_back(hg_ctx *ctx)
{
    uint8_t *final = NULL;
    if (ctx->grad_ready && ctx->tape_len > 0 && !(final = final_uses(ctx)))
        return hg_error_context(hg_error_status(), "backward: grad-ready pre-pass");
    for (int64_t i = ctx->tape_len - 1; i >= 0; i--) {
        hg_node *n = ctx->tape[i];
        if (n->out->grad) { /* else no gradient reached this node */
            if (ctx->profile)
                hg__profile_backward_begin(ctx->profile);
            hg_status s = n->backward(ctx, n);
            if (ctx->profile)
                hg__profile_backward(ctx->profile, n);
            if (s != HG_OK)
                return hg_error_context(s, "backward of %s", n->op);
        }
        for (int k = 0; final && final[i] && k < n->n_in; k++) {
            if (!(final[i] & (1u << k)))
                continue;
            hg_status s = ctx->grad_ready(ctx->grad_ready_user, n->in[k]);
            if (s != HG_OK)
                return hg_error_context(s, "backward: gradient-ready hook of %s",
                                        hg_tensor_label(n->in[k]));
        }
        if (ctx->release_in_backward)
            release_intermediate(ctx, n->out);
    }
    return HG_OK;
}

hg_status hg_backward(hg_ctx *ctx, hg_tensor *loss)
{
    if (!loss)
        return hg_error_status() != HG_OK ? hg_error_status()
                                          : hg_error(HG_ERR_INVALID, "backward: NULL loss");
    if (loss->numel != 1 || loss->dtype != HG_F32) {
        char s[64];
        return hg_error(HG_ERR_INVALID, "backward: %s must be a real scalar, got shape %s",
                        hg_tensor_label(loss), hg_shape_str(loss, s, sizeof s));
    }
    if (!isfinite(loss->data[0]))
        return hg_error(HG_ERR_NUMERIC, "backward: %s is %g", hg_tensor_label(loss),
                        (double)loss->data[0]);
    if (!loss->requires_grad)
        return hg_error(HG_ERR_STATE, "backward: %s does not depend on any trainable tensor",
                        hg_tensor_label(loss));
    float one = 1.0f;
    return hg_backward_seed(ctx, loss, &one);
}

hg_status hg_backward_seed(hg_ctx *ctx, hg_tensor *out, const float *seed)
{
    if (!out || !out->requires_grad)
        return hg_error(HG_ERR_STATE, "backward: output is not recorded on the tape");
    float *g = hg_grad(ctx, out);
    if (!g)
        return hg_error_status();
    int64_t n = hg_tensor_nfloats(out);
    for (int64_t i = 0; i < n; i++)
        g[i] += seed[i];
    return walk_back(ctx);
}
