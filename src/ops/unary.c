/* Elementwise unary ops without parameters other than a scalar: neg, exp, log, sqrt, square,
 * add_scalar and copy. Like binary.c they share one forward and one backward loop, differing
 * only in the value and local derivative; neg and copy also accept complex tensors (they act
 * on the re and im floats alike). log and sqrt of negative inputs give NaN, as in PyTorch. */
#include "ops/actloss_internal.h"

typedef enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_SQUARE, U_ADD_SCALAR, U_COPY } unary_kind;

static const char *const unary_names[] = {"neg",    "exp",        "log", "sqrt",
                                          "square", "add_scalar", "copy"};

typedef struct {
    unary_kind kind;
} unary_state;

static hg_status unary_backward(hg_ctx *ctx, hg_node *n)
{
    unary_kind k = ((const unary_state *)n->state)->kind;
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    const float *x = n->in[0]->data, *y = n->out->data, *g = n->out->grad;
    int64_t nf = hg_tensor_nfloats(n->out);
#pragma omp parallel for schedule(static) if (nf > HG__PAR_MIN)
    for (int64_t i = 0; i < nf; i++) {
        float d;
        switch (k) {
        case U_NEG: d = -g[i]; break;
        case U_EXP: d = g[i] * y[i]; break;
        case U_LOG: d = g[i] / x[i]; break;
        case U_SQRT: d = g[i] * 0.5f / y[i]; break; /* inf at 0, as PyTorch */
        case U_SQUARE: d = 2.0f * x[i] * g[i]; break;
        default: d = g[i]; break; /* add_scalar, copy */
        }
        gx[i] += d;
    }
    return HG_OK;
}

static hg_tensor *unary(hg_ctx *ctx, hg_tensor *x, unary_kind k, float s)
{
    const char *op = unary_names[k];
    if (!x) {
        if (hg_error_status() == HG_OK)
            hg_error(HG_ERR_INVALID, "%s: input is NULL", op);
        return NULL;
    }
    if (k != U_NEG && k != U_COPY && !hg_require_real(op, x))
        return NULL;
    if (k == U_ADD_SCALAR && !isfinite(s)) {
        hg_error(HG_ERR_INVALID, "add_scalar to %s: scalar must be finite, got %g",
                 hg_tensor_label(x), (double)s);
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, x->dtype, x->ndim, x->shape);
    if (!out)
        return NULL;
    const float *xd = x->data;
    float *y = out->data;
    int64_t nf = hg_tensor_nfloats(x);
    if (k == U_COPY) {
        memcpy(y, xd, (size_t)nf * sizeof(float));
    } else {
#pragma omp parallel for schedule(static) if (nf > HG__PAR_MIN)
        for (int64_t i = 0; i < nf; i++) {
            float v = xd[i];
            switch (k) {
            case U_NEG: v = -v; break;
            case U_EXP: v = expf(v); break;
            case U_LOG: v = logf(v); break;
            case U_SQRT: v = sqrtf(v); break;
            case U_SQUARE: v = v * v; break;
            default: v = v + s; break;
            }
            y[i] = v;
        }
    }
    hg_node *node;
    if (hg__record(ctx, op, unary_backward, out, 1, &x, sizeof(unary_state), &node) != HG_OK)
        return NULL;
    if (node)
        ((unary_state *)node->state)->kind = k;
    return out;
}

hg_tensor *hg_neg(hg_ctx *ctx, hg_tensor *x) { return unary(ctx, x, U_NEG, 0.0f); }
hg_tensor *hg_exp(hg_ctx *ctx, hg_tensor *x) { return unary(ctx, x, U_EXP, 0.0f); }
hg_tensor *hg_log(hg_ctx *ctx, hg_tensor *x) { return unary(ctx, x, U_LOG, 0.0f); }
hg_tensor *hg_sqrt(hg_ctx *ctx, hg_tensor *x) { return unary(ctx, x, U_SQRT, 0.0f); }
hg_tensor *hg_square(hg_ctx *ctx, hg_tensor *x) { return unary(ctx, x, U_SQUARE, 0.0f); }
hg_tensor *hg_add_scalar(hg_ctx *ctx, hg_tensor *x, float s) { return unary(ctx, x, U_ADD_SCALAR, s); }
hg_tensor *hg_copy(hg_ctx *ctx, hg_tensor *x) { return unary(ctx, x, U_COPY, 0.0f); }
