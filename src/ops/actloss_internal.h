/* Helpers shared by the activation, loss, linear-algebra and shape op files (private). */
#ifndef HINGE_OPS_ACTLOSS_INTERNAL_H
#define HINGE_OPS_ACTLOSS_INTERNAL_H

#include "ops/op_util.h"

#include <math.h>

/* Floats per element: 2 for interleaved complex, 1 for real. */
static inline int64_t hg__elem_floats(const hg_tensor *t) { return t->dtype == HG_C64 ? 2 : 1; }

/* Normalizes a possibly negative dimension index into [0, ndim); false (error set) if out of
 * range. The message names the op and the tensor. */
static inline bool hg__norm_dim(const char *op, const hg_tensor *t, int *dim)
{
    int d = *dim < 0 ? *dim + t->ndim : *dim;
    if (d < 0 || d >= t->ndim) {
        hg_error(HG_ERR_INVALID, "%s: dim %d out of range for %s of rank %d (expected %d to %d)",
                 op, *dim, hg_tensor_label(t), t->ndim, -t->ndim, t->ndim - 1);
        return false;
    }
    *dim = d;
    return true;
}

/* Splits a shape around `dim` into outer (before), n (at) and inner (after) element counts. */
static inline void hg__split_dim(const hg_tensor *t, int dim, int64_t *outer, int64_t *n,
                                 int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int i = 0; i < dim; i++)
        o *= t->shape[i];
    for (int i = dim + 1; i < t->ndim; i++)
        in *= t->shape[i];
    *outer = o;
    *n = t->shape[dim];
    *inner = in;
}

/* Scratch memory for one op call: from the context's arena when there is one (freed by its
 * reset), else from the heap (the caller releases it with hg__scratch_free). */
static inline void *hg__scratch(hg_ctx *ctx, size_t bytes)
{
    return ctx ? hg_ctx_alloc(ctx, bytes) : hg_malloc(bytes ? bytes : 1);
}
static inline void hg__scratch_free(hg_ctx *ctx, void *p)
{
    if (!ctx)
        hg_free(p);
}

/* Records the op when the context records and an input requires a gradient, attaching
 * `state_bytes` of zeroed state (node->state). *node is NULL when nothing is recorded.
 * Returns an error only when recording was wanted and failed. */
static inline hg_status hg__record(hg_ctx *ctx, const char *op, hg_backward_fn bw, hg_tensor *out,
                                   int n_in, hg_tensor *const *in, size_t state_bytes,
                                   hg_node **node)
{
    *node = NULL;
    bool wanted = false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad)
            wanted = true;
    if (!ctx || !hg_ctx_grad_enabled(ctx) || !wanted)
        return HG_OK;
    hg_node *n = hg_tape_record(ctx, op, bw, out, n_in, in);
    if (!n)
        return hg_error_status() != HG_OK ? hg_error_status()
                                          : hg_error(HG_ERR_STATE, "%s: recording failed", op);
    if (state_bytes) {
        n->state = hg_node_state(ctx, n, state_bytes);
        if (!n->state)
            return hg_error_status();
    }
    *node = n;
    return HG_OK;
}

/* ---- rectifier kernels (src/ops/rectifier.c) ---------------------------------------------
 * v is the input, or the output of an in-place op (same sign for a slope >= 0). The *_all
 * forms run over len elements in parallel blocks of HG__ACT_BLOCK. */
#define HG__ACT_BLOCK 16384
/* y = x > 0 ? x : slope x (y may be x). */
void hg__leaky_run(const float *x, float *y, float slope, int64_t n);
void hg__leaky_all(const float *x, float *y, float slope, int64_t len);
/* gx += v > 0 ? g : slope g. */
void hg__leaky_grad_run(const float *v, const float *g, float *gx, float slope, int64_t n);
void hg__leaky_grad_all(const float *v, const float *g, float *gx, float slope, int64_t len);
/* gx += v > 0 ? g : 0 (ReLU: not the slope-0 leaky form, whose 0 g is NaN for an infinite g). */
void hg__relu_grad_all(const float *v, const float *g, float *gx, int64_t len);

/* Checks that pred and target of a loss have identical shapes; the message names both. */
static inline bool hg__same_shape(const char *op, const hg_tensor *a, const hg_tensor *b)
{
    if (hg_shape_equal(a, b))
        return true;
    char sa[96], sb[96];
    hg_error(HG_ERR_INVALID, "%s: shapes of %s %s and %s %s differ", op, hg_tensor_label(a),
             hg_shape_str(a, sa, sizeof sa), hg_tensor_label(b), hg_shape_str(b, sb, sizeof sb));
    return false;
}

/* The parallel threshold shared by the pointwise loops: below it threads cost more than they
 * save. */
#define HG__PAR_MIN 32768

/* Output of a pointwise real op on x: checks x (non-NULL, real) and allocates an uninitialized
 * tensor of x's shape. NULL with the error set (the first error kept for a NULL x). */
static inline hg_tensor *hg__pointwise_out(hg_ctx *ctx, const char *op, const hg_tensor *x)
{
    if (!x) {
        if (hg_error_status() == HG_OK)
            hg_error(HG_ERR_INVALID, "%s: input is NULL", op);
        return NULL;
    }
    if (!hg_require_real(op, x))
        return NULL;
    return hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
}

/* Softmax (or log-softmax when log) of one row of n elements at the given stride; stable.
 * Defined in softmax.c, used by log_softmax and the classification losses. */
void hg__softmax_row(const float *x, float *y, int64_t n, int64_t stride, bool want_log);

/* Classification targets (cross_entropy.c): target [N, *S] must match logits [N, C, *S]; every
 * target value must be an integer class in [0, classes) or, when has_ignore, ignore_index.
 * Messages name the op, the tensor, the offending value, its index and the class count. */
hg_status hg__check_class_target(const char *op, const hg_tensor *logits,
                                 const hg_tensor *target);
hg_status hg__check_labels(const char *op, const hg_tensor *target, int64_t classes,
                           bool has_ignore, int32_t ignore_index);

#endif
