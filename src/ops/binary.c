/* add, sub, mul, div with broadcasting. The four share one forward and one backward: they
 * differ only in the local derivatives, and one loop keeps broadcasting correct in one place. */
#include "ops/op_util.h"

typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV } binary_kind;

static const char *const binary_names[] = {"add", "sub", "mul", "div"};

typedef struct {
    binary_kind kind;
    hg_broadcast bc;
} binary_state;

static inline float apply(binary_kind k, float a, float b)
{
    switch (k) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    default: return a / b;
    }
}

static hg_status binary_backward(hg_ctx *ctx, hg_node *n)
{
    const binary_state *st = n->state;
    hg_tensor *a = n->in[0], *b = n->in[1];
    const float *g = n->out->grad;
    float *ga = hg_needs_grad(n, 0) ? hg_grad(ctx, a) : NULL;
    float *gb = hg_needs_grad(n, 1) ? hg_grad(ctx, b) : NULL;
    if ((hg_needs_grad(n, 0) && !ga) || (hg_needs_grad(n, 1) && !gb))
        return hg_error_status();
    const float *xa = a->data, *xb = b->data;
    binary_kind k = st->kind;
    int64_t nf = hg_tensor_nfloats(n->out);
    if (st->bc.same) {
#pragma omp parallel for schedule(static) if (nf > 65536)
        for (int64_t i = 0; i < nf; i++) {
            float da, db;
            switch (k) {
            case OP_ADD: da = 1.0f, db = 1.0f; break;
            case OP_SUB: da = 1.0f, db = -1.0f; break;
            case OP_MUL: da = xb[i], db = xa[i]; break;
            default: da = 1.0f / xb[i], db = -xa[i] / (xb[i] * xb[i]); break;
            }
            if (ga) ga[i] += g[i] * da;
            if (gb) gb[i] += g[i] * db;
        }
        return HG_OK;
    }
    for (int64_t i = 0; i < st->bc.numel; i++) {
        int64_t ia, ib;
        hg_broadcast_offsets(&st->bc, i, &ia, &ib);
        float da, db;
        switch (k) {
        case OP_ADD: da = 1.0f, db = 1.0f; break;
        case OP_SUB: da = 1.0f, db = -1.0f; break;
        case OP_MUL: da = xb[ib], db = xa[ia]; break;
        default: da = 1.0f / xb[ib], db = -xa[ia] / (xb[ib] * xb[ib]); break;
        }
        if (ga) ga[ia] += g[i] * da;
        if (gb) gb[ib] += g[i] * db;
    }
    return HG_OK;
}

static hg_tensor *binary(hg_ctx *ctx, hg_tensor *a, hg_tensor *b, binary_kind k)
{
    const char *op = binary_names[k];
    if (!a || !b) {
        if (hg_error_status() == HG_OK)
            hg_error(HG_ERR_INVALID, "%s: NULL input", op);
        return NULL;
    }
    hg_broadcast bc;
    if (hg_broadcast_shapes(op, a, b, &bc) != HG_OK)
        return NULL;
    bool complex_ok = a->dtype == HG_C64 && b->dtype == HG_C64 && bc.same &&
                      (k == OP_ADD || k == OP_SUB);
    if (!complex_ok && (!hg_require_real(op, a) || !hg_require_real(op, b)))
        return NULL;
    hg_tensor *out = hg_tensor_empty(ctx, a->dtype, bc.ndim, bc.shape);
    if (!out)
        return NULL;
    float *y = out->data;
    const float *xa = a->data, *xb = b->data;
    if (bc.same) {
        int64_t nf = hg_tensor_nfloats(out);
#pragma omp parallel for schedule(static) if (nf > 65536)
        for (int64_t i = 0; i < nf; i++)
            y[i] = apply(k, xa[i], xb[i]);
    } else {
#pragma omp parallel for schedule(static) if (bc.numel > 65536)
        for (int64_t i = 0; i < bc.numel; i++) {
            int64_t ia, ib;
            hg_broadcast_offsets(&bc, i, &ia, &ib);
            y[i] = apply(k, xa[ia], xb[ib]);
        }
    }
    hg_tensor *in[2] = {a, b};
    hg_node *node = hg_tape_record(ctx, op, binary_backward, out, 2, in);
    if (node) {
        binary_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        st->kind = k;
        st->bc = bc;
        node->state = st;
    }
    return out;
}

hg_tensor *hg_add(hg_ctx *ctx, hg_tensor *a, hg_tensor *b) { return binary(ctx, a, b, OP_ADD); }
hg_tensor *hg_sub(hg_ctx *ctx, hg_tensor *a, hg_tensor *b) { return binary(ctx, a, b, OP_SUB); }
hg_tensor *hg_mul(hg_ctx *ctx, hg_tensor *a, hg_tensor *b) { return binary(ctx, a, b, OP_MUL); }
hg_tensor *hg_div(hg_ctx *ctx, hg_tensor *a, hg_tensor *b) { return binary(ctx, a, b, OP_DIV); }
