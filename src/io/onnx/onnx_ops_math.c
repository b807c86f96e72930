/* ONNX elementwise and reduction operators: on constants (folding shape arithmetic) and on
 * run-time tensors (hinge ops). */
#include "io/onnx/onnx_internal.h"

#include <math.h>
#include <string.h>

/* Numpy broadcasting of two constants' shapes into out (rank up to OX_MAX_DIMS). */
static hg_status broadcast_dims(ox_run *r, const ox_node *n, const ox_const *a, const ox_const *b,
                                int32_t *ndim, int64_t *dims)
{
    int32_t nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int32_t d = 0; d < nd; d++) {
        int32_t da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t x = da >= 0 ? a->dims[da] : 1, y = db >= 0 ? b->dims[db] : 1;
        if (x != y && x != 1 && y != 1)
            return ox_fail(r, n, HG_ERR_INVALID, "cannot broadcast dimension %d: %lld vs %lld",
                           (int)d, (long long)x, (long long)y);
        dims[d] = x == 1 ? y : x;
    }
    *ndim = nd;
    return HG_OK;
}

/* Flat index into c of the broadcast element whose multi-index is idx (rank nd). */
static int64_t bcast_offset(const ox_const *c, int32_t nd, const int64_t *idx)
{
    int64_t off = 0;
    for (int32_t d = 0; d < c->ndim; d++) {
        int64_t i = idx[d + nd - c->ndim];
        off = off * c->dims[d] + (c->dims[d] == 1 ? 0 : i);
    }
    return off;
}

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW } bin_kind;

static double bin_apply(bin_kind k, double a, double b, bool is_int)
{
    switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return is_int ? (b != 0 ? trunc(a / b) : 0) : a / b;
    default: return pow(a, b);
    }
}

static hg_status const_binary(ox_run *r, const ox_node *n, bin_kind k)
{
    const ox_const *a = ox_in_const(r, n, 0), *b = ox_in_const(r, n, 1);
    if (!a || !b)
        return hg_error_status();
    int32_t nd = 0;
    int64_t dims[OX_MAX_DIMS];
    if (broadcast_dims(r, n, a, b, &nd, dims) != HG_OK)
        return hg_error_status();
    bool is_int = a->is_int && b->is_int;
    ox_const c;
    if (ox_const_new(r, is_int, nd, dims, &c) != HG_OK)
        return hg_error_status();
    int64_t idx[OX_MAX_DIMS] = {0};
    for (int64_t i = 0; i < c.numel; i++) {
        int64_t rem = i;
        for (int32_t d = nd - 1; d >= 0; d--) {
            idx[d] = rem % dims[d];
            rem /= dims[d];
        }
        double v = bin_apply(k, ox_const_at(a, bcast_offset(a, nd, idx)),
                             ox_const_at(b, bcast_offset(b, nd, idx)), is_int);
        if (is_int)
            c.i[i] = ox_sat_int(v);
        else
            c.f[i] = (float)v;
    }
    return ox_set_const(r, n, 0, &c);
}

static hg_status binary(ox_run *r, const ox_node *n, bin_kind k)
{
    if (ox_in_is_const(r, n, 0) && ox_in_is_const(r, n, 1))
        return const_binary(r, n, k);
    hg_tensor *a = ox_in_tensor(r, n, 0), *b = ox_in_tensor(r, n, 1);
    if (!a || !b)
        return hg_error_status();
    hg_tensor *y;
    switch (k) {
    case B_ADD: y = hg_add(r->ctx, a, b); break;
    case B_SUB: y = hg_sub(r->ctx, a, b); break;
    case B_MUL: y = hg_mul(r->ctx, a, b); break;
    default: y = hg_div(r->ctx, a, b); break;
    }
    return ox_set_tensor(r, n, 0, y);
}

hg_status ox_op_Add(ox_run *r, const ox_node *n) { return binary(r, n, B_ADD); }
hg_status ox_op_Sub(ox_run *r, const ox_node *n) { return binary(r, n, B_SUB); }
hg_status ox_op_Mul(ox_run *r, const ox_node *n) { return binary(r, n, B_MUL); }
hg_status ox_op_Div(ox_run *r, const ox_node *n) { return binary(r, n, B_DIV); }

/* Pow: a run-time base with a constant scalar exponent (what exporters write for x**p). */
hg_status ox_op_Pow(ox_run *r, const ox_node *n)
{
    if (ox_in_is_const(r, n, 0) && ox_in_is_const(r, n, 1))
        return const_binary(r, n, B_POW);
    const ox_const *e = ox_in_const(r, n, 1);
    if (!e)
        return hg_error_status();
    if (e->numel != 1)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "the exponent must be a single value, got %lld",
                       (long long)e->numel);
    return ox_set_tensor(r, n, 0,
                         hg_pow_scalar(r->ctx, ox_in_tensor(r, n, 0), (float)ox_const_at(e, 0)));
}

hg_status ox_op_Sqrt(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_sqrt(r->ctx, ox_in_tensor(r, n, 0)));
}

hg_status ox_op_Abs(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_abs(r->ctx, ox_in_tensor(r, n, 0)));
}

hg_status ox_op_Neg(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_neg(r->ctx, ox_in_tensor(r, n, 0)));
}

hg_status ox_op_Exp(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_exp(r->ctx, ox_in_tensor(r, n, 0)));
}

hg_status ox_op_Log(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_log(r->ctx, ox_in_tensor(r, n, 0)));
}

/* Clip: min/max attributes (opset < 11) or optional constant inputs 1 and 2. */
hg_status ox_op_Clip(ox_run *r, const ox_node *n)
{
    float lo = -INFINITY, hi = INFINITY;
    if (r->opset < 11) {
        lo = ox_attr_float(n->proto, "min", lo);
        hi = ox_attr_float(n->proto, "max", hi);
    } else {
        for (int32_t k = 1; k <= 2; k++) {
            if (!ox_has_in(n, k))
                continue;
            const ox_const *c = ox_in_const(r, n, k);
            if (!c)
                return hg_error_status();
            if (c->numel != 1)
                return ox_fail(r, n, HG_ERR_INVALID, "input %d must hold one value, got %lld",
                               (int)k, (long long)c->numel);
            *(k == 1 ? &lo : &hi) = (float)ox_const_at(c, 0);
        }
    }
    return ox_set_tensor(r, n, 0, hg_clamp(r->ctx, ox_in_tensor(r, n, 0), lo, hi));
}

/* ReduceMean over the listed axes (all when absent), keepdims default 1. */
hg_status ox_op_ReduceMean(ox_run *r, const ox_node *n)
{
    hg_tensor *x = ox_in_tensor(r, n, 0);
    if (!x)
        return hg_error_status();
    int64_t axes[OX_MAX_DIMS];
    int32_t na = ox_attr_ints(n->proto, "axes", axes, OX_MAX_DIMS);
    bool keep = ox_attr_int(n->proto, "keepdims", 1) != 0;
    bool reduce[HG_MAX_DIMS] = {false};
    if (na < 0) {
        for (int32_t d = 0; d < x->ndim; d++)
            reduce[d] = true;
    } else {
        if (na > x->ndim)
            return ox_fail(r, n, HG_ERR_INVALID, "%d axes for rank %d", (int)na, (int)x->ndim);
        for (int32_t k = 0; k < na; k++) {
            int32_t a;
            if (ox_axis(r, n, axes[k], x->ndim, &a) != HG_OK)
                return hg_error_status();
            reduce[a] = true;
        }
    }
    int64_t out_dims[HG_MAX_DIMS];
    int32_t out_nd = 0;
    for (int32_t d = 0; d < x->ndim; d++)
        if (!reduce[d] || keep)
            out_dims[out_nd++] = reduce[d] ? 1 : x->shape[d];
    hg_tensor *y = x;
    for (int32_t d = x->ndim - 1; d >= 0 && y; d--)
        if (reduce[d])
            y = hg_mean_dim(r->ctx, y, d, true);
    return ox_set_tensor(r, n, 0, ox_reshape(r, n, y, out_nd, out_dims));
}

/* ---- activations ------------------------------------------------------------------------ */

hg_status ox_op_Relu(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_relu(r->ctx, ox_in_tensor(r, n, 0)));
}

hg_status ox_op_LeakyRelu(ox_run *r, const ox_node *n)
{
    float alpha = ox_attr_float(n->proto, "alpha", 0.01f);
    return ox_set_tensor(r, n, 0, hg_leaky_relu(r->ctx, ox_in_tensor(r, n, 0), alpha));
}

/* PRelu: the slope is exported as [C, 1, ...] (per channel) or [1]; hinge wants [C] or [1]. */
hg_status ox_op_PRelu(ox_run *r, const ox_node *n)
{
    hg_tensor *x = ox_in_tensor(r, n, 0), *w = ox_in_tensor(r, n, 1);
    if (!x || !w)
        return hg_error_status();
    int64_t c = x->ndim >= 2 ? x->shape[1] : 1;
    bool per_channel = w->numel == c && w->numel > 1;
    for (int32_t d = 0; d < w->ndim && per_channel; d++)
        per_channel = w->shape[d] == 1 || (w->shape[d] == c && w->ndim - d == x->ndim - 1);
    if (w->numel != 1 && !per_channel)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "slope of %lld values: only one shared value "
                       "or one per channel (%lld) is supported", (long long)w->numel,
                       (long long)c);
    int64_t len = w->numel;
    hg_tensor *w1 = ox_reshape(r, n, w, 1, &len);
    return ox_set_tensor(r, n, 0, hg_prelu(r->ctx, x, w1));
}

hg_status ox_op_Elu(ox_run *r, const ox_node *n)
{
    float alpha = ox_attr_float(n->proto, "alpha", 1.0f);
    return ox_set_tensor(r, n, 0, hg_elu(r->ctx, ox_in_tensor(r, n, 0), alpha));
}

hg_status ox_op_Sigmoid(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_sigmoid(r->ctx, ox_in_tensor(r, n, 0)));
}

hg_status ox_op_Tanh(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_tanh(r->ctx, ox_in_tensor(r, n, 0)));
}

/* Softmax/LogSoftmax: from opset 13 along one axis (default -1); before, over the flattened
 * trailing dims from axis on (default 1), which equals the 1-axis form when axis is last. */
static hg_status softmax_like(ox_run *r, const ox_node *n, bool log)
{
    hg_tensor *x = ox_in_tensor(r, n, 0);
    if (!x)
        return hg_error_status();
    int32_t axis;
    if (ox_axis(r, n, ox_attr_int(n->proto, "axis", r->opset >= 13 ? -1 : 1), x->ndim, &axis))
        return hg_error_status();
    if (r->opset >= 13 || axis == x->ndim - 1) {
        hg_tensor *y = log ? hg_log_softmax(r->ctx, x, axis) : hg_softmax(r->ctx, x, axis);
        return ox_set_tensor(r, n, 0, y);
    }
    int64_t flat[2] = {1, 1};
    for (int32_t d = 0; d < x->ndim; d++)
        flat[d >= axis] *= x->shape[d];
    hg_tensor *x2 = hg_reshape(r->ctx, x, 2, flat);
    hg_tensor *y = log ? hg_log_softmax(r->ctx, x2, 1) : hg_softmax(r->ctx, x2, 1);
    return ox_set_tensor(r, n, 0, ox_reshape(r, n, y, x->ndim, x->shape));
}

hg_status ox_op_Softmax(ox_run *r, const ox_node *n) { return softmax_like(r, n, false); }
hg_status ox_op_LogSoftmax(ox_run *r, const ox_node *n) { return softmax_like(r, n, true); }
