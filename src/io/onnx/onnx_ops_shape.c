/* ONNX shape operators. Each works on constants (so that the shape arithmetic exporters emit
 * folds away) and, where networks need it, on run-time tensors. */
#include "io/onnx/onnx_internal.h"

#include <math.h>
#include <string.h>

/* A constant sharing c's data with another shape (numel unchanged). */
static hg_status const_view(ox_run *r, const ox_node *n, const ox_const *c, int32_t ndim,
                            const int64_t *dims)
{
    if (ndim > OX_MAX_DIMS)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "rank %d", (int)ndim);
    ox_const v = *c;
    v.ndim = ndim;
    memcpy(v.dims, dims, sizeof(int64_t) * (size_t)ndim);
    v.tensor = NULL;
    return ox_set_const(r, n, 0, &v);
}

/* Output of a shape-only op: a view of a constant or a reshaped tensor. */
static hg_status set_reshaped(ox_run *r, const ox_node *n, int32_t ndim, const int64_t *dims)
{
    if (ox_in_is_const(r, n, 0))
        return const_view(r, n, ox_in_const(r, n, 0), ndim, dims);
    return ox_set_tensor(r, n, 0, ox_reshape(r, n, ox_in_tensor(r, n, 0), ndim, dims));
}

static int64_t numel_of(int32_t ndim, const int64_t *dims)
{
    int64_t k = 1;
    for (int32_t d = 0; d < ndim; d++)
        k *= dims[d];
    return k;
}

hg_status ox_op_Identity(ox_run *r, const ox_node *n)
{
    if (ox_in_is_const(r, n, 0))
        return ox_set_const(r, n, 0, ox_in_const(r, n, 0));
    return ox_set_tensor(r, n, 0, ox_in_tensor(r, n, 0));
}

/* Dropout in inference is the identity (the optional mask output is all true). */
hg_status ox_op_Dropout(ox_run *r, const ox_node *n)
{
    if (n->n_out > 1 && n->out[1] >= 0)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "the mask output");
    return ox_op_Identity(r, n);
}

hg_status ox_op_Shape(ox_run *r, const ox_node *n)
{
    int64_t dims[OX_MAX_DIMS];
    int32_t nd = ox_in_shape(r, n, 0, dims);
    int64_t start = ox_attr_int(n->proto, "start", 0), end = ox_attr_int(n->proto, "end", nd);
    start = start < 0 ? start + nd : start, end = end < 0 ? end + nd : end;
    start = start < 0 ? 0 : start > nd ? nd : start, end = end < start ? start : end > nd ? nd : end;
    int64_t len = end - start;
    ox_const c;
    if (ox_const_new(r, true, 1, &len, &c) != HG_OK)
        return hg_error_status();
    for (int64_t i = 0; i < len; i++)
        c.i[i] = dims[start + i];
    return ox_set_const(r, n, 0, &c);
}

/* Constant: value (tensor), value_float(s), value_int(s). */
hg_status ox_op_Constant(ox_run *r, const ox_node *n)
{
    const Onnx__AttributeProto *a = NULL;
    ox_const c;
    if ((a = ox_attr(n->proto, "value")) && a->t) {
        if (ox_tensor_to_const(a->t, NULL, r->ctx, &c) != HG_OK)
            return hg_error_context(hg_error_status(), "onnx: Constant node '%s'", n->name);
        return ox_set_const(r, n, 0, &c);
    }
    bool is_int = (a = ox_attr(n->proto, "value_int")) || (a = ox_attr(n->proto, "value_ints"));
    if (!a && !(a = ox_attr(n->proto, "value_float")) && !(a = ox_attr(n->proto, "value_floats")))
        return ox_fail(r, n, HG_ERR_FORMAT, "no value attribute");
    bool list = a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS ||
                a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    int64_t len = list ? (int64_t)(is_int ? a->n_ints : a->n_floats) : 1;
    if (ox_const_new(r, is_int, list ? 1 : 0, &len, &c) != HG_OK)
        return hg_error_status();
    for (int64_t i = 0; i < len; i++) {
        if (is_int)
            c.i[i] = list ? a->ints[i] : a->i;
        else
            c.f[i] = list ? a->floats[i] : a->f;
    }
    return ox_set_const(r, n, 0, &c);
}

hg_status ox_op_ConstantOfShape(ox_run *r, const ox_node *n)
{
    const ox_const *shape = ox_in_const(r, n, 0);
    if (!shape)
        return hg_error_status();
    if (shape->ndim != 1 || shape->numel > OX_MAX_DIMS)
        return ox_fail(r, n, HG_ERR_INVALID, "the shape must be 1-D with at most %d entries",
                       OX_MAX_DIMS);
    int64_t dims[OX_MAX_DIMS];
    for (int64_t d = 0; d < shape->numel; d++)
        dims[d] = ox_const_int(shape, d);
    ox_const value = {.numel = 1};
    float zero = 0.0f;
    value.f = &zero;
    const Onnx__AttributeProto *a = ox_attr(n->proto, "value");
    if (a && a->t && ox_tensor_to_const(a->t, NULL, r->ctx, &value) != HG_OK)
        return hg_error_context(hg_error_status(), "onnx: ConstantOfShape node '%s'", n->name);
    if (value.numel != 1)
        return ox_fail(r, n, HG_ERR_INVALID, "value must hold one element, got %lld",
                       (long long)value.numel);
    ox_const c;
    if (ox_const_new(r, value.is_int, (int32_t)shape->numel, dims, &c) != HG_OK)
        return hg_error_status();
    for (int64_t i = 0; i < c.numel; i++) {
        if (c.is_int)
            c.i[i] = value.i[0];
        else
            c.f[i] = value.f[0];
    }
    return ox_set_const(r, n, 0, &c);
}

/* Cast: constants convert; a run-time tensor may only become float (it already is). */
hg_status ox_op_Cast(ox_run *r, const ox_node *n)
{
    int64_t to = ox_attr_int(n->proto, "to", 1);
    bool to_float = to == 1 || to == 11 || to == 10;
    if (!ox_in_is_const(r, n, 0)) {
        if (!to_float)
            return ox_fail(r, n, HG_ERR_UNSUPPORTED, "casting a run-time tensor to type %lld "
                           "(only float tensors flow at run time)", (long long)to);
        return ox_set_tensor(r, n, 0, ox_in_tensor(r, n, 0));
    }
    const ox_const *x = ox_in_const(r, n, 0);
    ox_const c;
    if (ox_const_new(r, !to_float, x->ndim, x->dims, &c) != HG_OK)
        return hg_error_status();
    for (int64_t i = 0; i < c.numel; i++) {
        double v = ox_const_at(x, i);
        if (to_float)
            c.f[i] = (float)v;
        else
            c.i[i] = to == 9 ? (v != 0) : ox_sat_int(v);
    }
    return ox_set_const(r, n, 0, &c);
}

/* Reshape: 0 copies the input's dim (unless allowzero), -1 is inferred. */
hg_status ox_op_Reshape(ox_run *r, const ox_node *n)
{
    const ox_const *shape = ox_in_const(r, n, 1);
    if (!shape)
        return hg_error_status();
    int64_t in[OX_MAX_DIMS], out[OX_MAX_DIMS];
    int32_t nd = ox_in_shape(r, n, 0, in);
    if (shape->ndim != 1 || shape->numel > OX_MAX_DIMS)
        return ox_fail(r, n, HG_ERR_INVALID, "the shape must be 1-D with at most %d entries",
                       OX_MAX_DIMS);
    bool allowzero = ox_attr_int(n->proto, "allowzero", 0) != 0;
    int32_t ond = (int32_t)shape->numel, infer = -1;
    int64_t known = 1, total = numel_of(nd, in);
    for (int32_t d = 0; d < ond; d++) {
        int64_t v = ox_const_int(shape, d);
        if (v == 0 && !allowzero) {
            if (d >= nd)
                return ox_fail(r, n, HG_ERR_INVALID, "0 at position %d beyond the input's rank "
                               "%d", (int)d, (int)nd);
            v = in[d];
        }
        if (v == -1) {
            if (infer >= 0)
                return ox_fail(r, n, HG_ERR_INVALID, "more than one -1 in the shape");
            infer = d;
            v = 1;
        } else if (v < 0 || v > (INT64_C(1) << 40)) {
            return ox_fail(r, n, HG_ERR_INVALID, "dimension %lld", (long long)v);
        }
        out[d] = v;
        known *= v;
    }
    if (infer >= 0) {
        if (known == 0 || total % known)
            return ox_fail(r, n, HG_ERR_INVALID, "cannot infer -1: %lld elements into %lld",
                           (long long)total, (long long)known);
        out[infer] = total / known;
        known = total;
    }
    if (known != total)
        return ox_fail(r, n, HG_ERR_INVALID, "%lld elements cannot take a shape of %lld",
                       (long long)total, (long long)known);
    return set_reshaped(r, n, ond, out);
}

hg_status ox_op_Flatten(ox_run *r, const ox_node *n)
{
    int64_t in[OX_MAX_DIMS];
    int32_t nd = ox_in_shape(r, n, 0, in), axis;
    int64_t a = ox_attr_int(n->proto, "axis", 1);
    if (a == nd) {
        axis = nd;
    } else if (ox_axis(r, n, a, nd, &axis) != HG_OK) {
        return hg_error_status();
    }
    int64_t out[2] = {numel_of(axis, in), numel_of(nd - axis, in + axis)};
    return set_reshaped(r, n, 2, out);
}

/* Axes from the attribute (opset < 13) or the optional constant input 1. */
static int32_t read_axes(ox_run *r, const ox_node *n, int64_t *axes)
{
    if (r->opset < 13)
        return ox_attr_ints(n->proto, "axes", axes, OX_MAX_DIMS);
    if (!ox_has_in(n, 1))
        return -1;
    const ox_const *c = ox_in_const(r, n, 1);
    if (!c)
        return -2;
    if (c->numel > OX_MAX_DIMS) {
        ox_fail(r, n, HG_ERR_INVALID, "%lld axes", (long long)c->numel);
        return -2;
    }
    for (int64_t i = 0; i < c->numel; i++)
        axes[i] = ox_const_int(c, i);
    return (int32_t)c->numel;
}

hg_status ox_op_Squeeze(ox_run *r, const ox_node *n)
{
    int64_t in[OX_MAX_DIMS], out[OX_MAX_DIMS], axes[OX_MAX_DIMS + 1];
    int32_t nd = ox_in_shape(r, n, 0, in), na = read_axes(r, n, axes);
    if (na < -1 || na > OX_MAX_DIMS)
        return na < -1 ? hg_error_status() : ox_fail(r, n, HG_ERR_INVALID, "too many axes");
    bool drop[OX_MAX_DIMS] = {false};
    for (int32_t d = 0; d < nd && na < 0; d++)
        drop[d] = in[d] == 1;
    for (int32_t k = 0; k < na; k++) {
        int32_t a;
        if (ox_axis(r, n, axes[k], nd, &a) != HG_OK)
            return hg_error_status();
        if (in[a] != 1)
            return ox_fail(r, n, HG_ERR_INVALID, "axis %d has size %lld, not 1", (int)a,
                           (long long)in[a]);
        drop[a] = true;
    }
    int32_t ond = 0;
    for (int32_t d = 0; d < nd; d++)
        if (!drop[d])
            out[ond++] = in[d];
    return set_reshaped(r, n, ond, out);
}

hg_status ox_op_Unsqueeze(ox_run *r, const ox_node *n)
{
    int64_t in[OX_MAX_DIMS], out[OX_MAX_DIMS], axes[OX_MAX_DIMS + 1];
    int32_t nd = ox_in_shape(r, n, 0, in), na = read_axes(r, n, axes);
    if (na < 0 || na > OX_MAX_DIMS || nd + na > OX_MAX_DIMS)
        return na < -1 ? hg_error_status() : ox_fail(r, n, HG_ERR_INVALID, "axes missing or "
                                                     "the result exceeds %d dims", OX_MAX_DIMS);
    int32_t ond = nd + na;
    bool ins[OX_MAX_DIMS] = {false};
    for (int32_t k = 0; k < na; k++) {
        int32_t a;
        if (ox_axis(r, n, axes[k], ond, &a) != HG_OK)
            return hg_error_status();
        if (ins[a])
            return ox_fail(r, n, HG_ERR_INVALID, "axis %d repeated", (int)a);
        ins[a] = true;
    }
    for (int32_t d = 0, s = 0; d < ond; d++)
        out[d] = ins[d] ? 1 : in[s++];
    return set_reshaped(r, n, ond, out);
}

hg_status ox_op_Transpose(ox_run *r, const ox_node *n)
{
    int64_t in[OX_MAX_DIMS], p[OX_MAX_DIMS + 1], out[OX_MAX_DIMS];
    int32_t nd = ox_in_shape(r, n, 0, in);
    int32_t np = ox_attr_ints(n->proto, "perm", p, OX_MAX_DIMS);
    int32_t perm[OX_MAX_DIMS];
    bool seen[OX_MAX_DIMS] = {false};
    if (np >= 0 && np != nd)
        return ox_fail(r, n, HG_ERR_INVALID, "perm has %d entries for rank %d", (int)np, (int)nd);
    for (int32_t d = 0; d < nd; d++) {
        int64_t v = np < 0 ? nd - 1 - d : p[d];
        if (v < 0 || v >= nd || seen[v])
            return ox_fail(r, n, HG_ERR_INVALID, "perm entry %lld", (long long)v);
        seen[v] = true;
        perm[d] = (int32_t)v;
        out[d] = in[v];
    }
    if (!ox_in_is_const(r, n, 0))
        return ox_set_tensor(r, n, 0, hg_permute(r->ctx, ox_in_tensor(r, n, 0), perm));
    const ox_const *x = ox_in_const(r, n, 0);
    ox_const c;
    if (ox_const_new(r, x->is_int, nd, out, &c) != HG_OK)
        return hg_error_status();
    int64_t stride[OX_MAX_DIMS];
    for (int32_t d = nd - 1, m = 1; d >= 0; d--)
        stride[d] = m, m *= (int32_t)in[d];
    for (int64_t i = 0; i < c.numel; i++) {
        int64_t rem = i, src = 0;
        for (int32_t d = nd - 1; d >= 0; d--) {
            src += (rem % out[d]) * stride[perm[d]];
            rem /= out[d];
        }
        if (c.is_int)
            c.i[i] = x->i[src];
        else
            c.f[i] = x->f[src];
    }
    return ox_set_const(r, n, 0, &c);
}

/* Concat: constants (shape vectors) concatenate on the host; tensors through hg_concat. */
hg_status ox_op_Concat(ox_run *r, const ox_node *n)
{
    if (n->n_in < 1 || n->n_in > 64)
        return ox_fail(r, n, HG_ERR_INVALID, "%d inputs", (int)n->n_in);
    bool all_const = true;
    for (int32_t k = 0; k < n->n_in; k++)
        all_const = all_const && ox_in_is_const(r, n, k);
    int64_t d0[OX_MAX_DIMS];
    int32_t nd = ox_in_shape(r, n, 0, d0), axis;
    if (ox_axis(r, n, ox_attr_int(n->proto, "axis", 0), nd ? nd : 1, &axis) != HG_OK)
        return hg_error_status();
    if (!all_const) {
        hg_tensor *xs[64];
        for (int32_t k = 0; k < n->n_in; k++)
            if (!(xs[k] = ox_in_tensor(r, n, k)))
                return hg_error_status();
        return ox_set_tensor(r, n, 0, hg_concat(r->ctx, xs, n->n_in, axis));
    }
    int64_t out[OX_MAX_DIMS];
    memcpy(out, d0, sizeof out);
    out[axis] = 0;
    bool is_int = true;
    for (int32_t k = 0; k < n->n_in; k++) {
        const ox_const *c = ox_in_const(r, n, k);
        bool ok = c->ndim == nd;
        for (int32_t d = 0; ok && d < nd; d++)
            ok = d == axis || c->dims[d] == d0[d];
        if (!ok)
            return ox_fail(r, n, HG_ERR_INVALID, "input %d does not match input 0's shape",
                           (int)k);
        out[axis] += c->dims[axis];
        is_int = is_int && c->is_int;
    }
    ox_const c;
    if (ox_const_new(r, is_int, nd, out, &c) != HG_OK)
        return hg_error_status();
    int64_t outer = numel_of(axis, d0), inner = numel_of(nd - axis - 1, d0 + axis + 1), off = 0;
    for (int32_t k = 0; k < n->n_in; k++) {
        const ox_const *x = ox_in_const(r, n, k);
        int64_t blk = x->dims[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < blk; i++) {
                int64_t at = o * out[axis] * inner + off + i;
                if (is_int)
                    c.i[at] = x->i[o * blk + i];
                else
                    c.f[at] = (float)ox_const_at(x, o * blk + i);
            }
        off += blk;
    }
    return ox_set_const(r, n, 0, &c);
}

hg_status ox_op_Split(ox_run *r, const ox_node *n)
{
    hg_tensor *x = ox_in_tensor(r, n, 0);
    if (!x)
        return hg_error_status();
    int32_t axis;
    if (ox_axis(r, n, ox_attr_int(n->proto, "axis", 0), x->ndim, &axis) != HG_OK)
        return hg_error_status();
    int32_t parts = n->n_out;
    int64_t sizes[64];
    if (parts < 1 || parts > 64)
        return ox_fail(r, n, HG_ERR_INVALID, "%d outputs", (int)parts);
    int32_t ns = -1;
    if (r->opset < 13) {
        ns = ox_attr_ints(n->proto, "split", sizes, 64);
    } else if (ox_has_in(n, 1)) {
        const ox_const *c = ox_in_const(r, n, 1);
        if (!c)
            return hg_error_status();
        ns = (int32_t)(c->numel > 64 ? 65 : c->numel);
        for (int32_t k = 0; k < ns && k < 64; k++)
            sizes[k] = ox_const_int(c, k);
    }
    if (ns < 0) {
        if (x->shape[axis] % parts)
            return ox_fail(r, n, HG_ERR_INVALID, "dim %lld does not split into %d equal parts",
                           (long long)x->shape[axis], (int)parts);
        for (int32_t k = 0; k < parts; k++)
            sizes[k] = x->shape[axis] / parts;
    } else if (ns != parts) {
        return ox_fail(r, n, HG_ERR_INVALID, "%d split sizes for %d outputs", (int)ns, (int)parts);
    }
    hg_tensor *outs[64];
    if (hg_split(r->ctx, x, axis, parts, sizes, outs) != HG_OK)
        return hg_error_context(hg_error_status(), "onnx: Split node '%s'", n->name);
    for (int32_t k = 0; k < parts; k++)
        if (ox_set_tensor(r, n, k, outs[k]) != HG_OK)
            return hg_error_status();
    return HG_OK;
}

/* Slice with unit steps: starts/ends clamp to the dim as in ONNX (INT64_MAX means "to the end"). */
hg_status ox_op_Slice(ox_run *r, const ox_node *n)
{
    int64_t starts[OX_MAX_DIMS + 1], ends[OX_MAX_DIMS + 1], axes[OX_MAX_DIMS + 1],
        steps[OX_MAX_DIMS + 1];
    int32_t ns, ne, na = -1, nst = -1;
    if (r->opset < 10) {
        ns = ox_attr_ints(n->proto, "starts", starts, OX_MAX_DIMS);
        ne = ox_attr_ints(n->proto, "ends", ends, OX_MAX_DIMS);
        na = ox_attr_ints(n->proto, "axes", axes, OX_MAX_DIMS);
    } else {
        int64_t *dst[4] = {starts, ends, axes, steps};
        int32_t cnt[4] = {-1, -1, -1, -1};
        for (int32_t k = 1; k <= 4; k++) {
            if (!ox_has_in(n, k))
                continue;
            const ox_const *c = ox_in_const(r, n, k);
            if (!c)
                return hg_error_status();
            if (c->numel > OX_MAX_DIMS)
                return ox_fail(r, n, HG_ERR_INVALID, "input %d has %lld entries", (int)k,
                               (long long)c->numel);
            cnt[k - 1] = (int32_t)c->numel;
            for (int64_t i = 0; i < c->numel; i++)
                dst[k - 1][i] = ox_const_int(c, i);
        }
        ns = cnt[0], ne = cnt[1], na = cnt[2], nst = cnt[3];
    }
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns) ||
        ns > OX_MAX_DIMS)
        return ox_fail(r, n, HG_ERR_INVALID, "starts, ends, axes and steps must have equal "
                       "lengths");
    int64_t in[OX_MAX_DIMS];
    int32_t nd = ox_in_shape(r, n, 0, in);
    int64_t lo[OX_MAX_DIMS], hi[OX_MAX_DIMS], step[OX_MAX_DIMS], out[OX_MAX_DIMS];
    bool unit = true;
    for (int32_t d = 0; d < nd; d++)
        lo[d] = 0, hi[d] = in[d], step[d] = 1, out[d] = in[d];
    for (int32_t k = 0; k < ns; k++) {
        int32_t a;
        if (ox_axis(r, n, na >= 0 ? axes[k] : k, nd, &a) != HG_OK)
            return hg_error_status();
        int64_t st = nst >= 0 ? steps[k] : 1, s = starts[k], e = ends[k], dim = in[a];
        if (st == 0 || st < -(INT64_C(1) << 40))
            return ox_fail(r, n, HG_ERR_INVALID, "step %lld", (long long)st);
        s = s < 0 ? s + dim : s, e = e < 0 ? e + dim : e;
        if (st > 0) { /* clamp to [0, dim] */
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < s ? s : e > dim ? dim : e;
            out[a] = (e - s + st - 1) / st;
        } else {      /* clamp to [-1, dim - 1], walking down */
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > s ? s : e;
            out[a] = (s - e + (-st) - 1) / (-st);
        }
        lo[a] = s, hi[a] = e, step[a] = st;
        unit = unit && st == 1;
    }
    if (ox_in_is_const(r, n, 0)) {
        const ox_const *x = ox_in_const(r, n, 0);
        ox_const c;
        if (ox_const_new(r, x->is_int, nd, out, &c) != HG_OK)
            return hg_error_status();
        for (int64_t i = 0; i < c.numel; i++) {
            int64_t rem = i, src = 0, mul = 1;
            for (int32_t d = nd - 1; d >= 0; d--) {
                src += (lo[d] + (rem % out[d]) * step[d]) * mul;
                rem /= out[d];
                mul *= in[d];
            }
            if (c.is_int)
                c.i[i] = x->i[src];
            else
                c.f[i] = x->f[src];
        }
        return ox_set_const(r, n, 0, &c);
    }
    if (!unit)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "steps other than 1 on a run-time tensor");
    hg_tensor *y = ox_in_tensor(r, n, 0);
    for (int32_t d = 0; d < nd && y; d++)
        if (lo[d] != 0 || hi[d] != in[d])
            y = hg_slice(r->ctx, y, d, lo[d], hi[d]);
    return ox_set_tensor(r, n, 0, y);
}

/* Gather along axis with constant indices: on constants (shape lookups) or, for run-time data,
 * as slices concatenated and reshaped to data[:axis] + indices + data[axis+1:]. */
hg_status ox_op_Gather(ox_run *r, const ox_node *n)
{
    const ox_const *idx = ox_in_const(r, n, 1);
    if (!idx)
        return hg_error_status();
    int64_t in[OX_MAX_DIMS], out[OX_MAX_DIMS];
    int32_t nd = ox_in_shape(r, n, 0, in), axis;
    if (ox_axis(r, n, ox_attr_int(n->proto, "axis", 0), nd, &axis) != HG_OK)
        return hg_error_status();
    int32_t ond = nd - 1 + idx->ndim;
    if (ond > OX_MAX_DIMS || idx->numel > 4096)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "a result of rank %d or %lld indices",
                       (int)ond, (long long)idx->numel);
    int32_t o = 0;
    for (int32_t d = 0; d < axis; d++)
        out[o++] = in[d];
    for (int32_t d = 0; d < idx->ndim; d++)
        out[o++] = idx->dims[d];
    for (int32_t d = axis + 1; d < nd; d++)
        out[o++] = in[d];
    int64_t ids[4096];
    for (int64_t k = 0; k < idx->numel; k++) {
        int64_t v = ox_const_int(idx, k);
        if (v < -in[axis] || v >= in[axis])
            return ox_fail(r, n, HG_ERR_INVALID, "index %lld out of range for dim %lld",
                           (long long)v, (long long)in[axis]);
        ids[k] = v < 0 ? v + in[axis] : v;
    }
    int64_t outer = numel_of(axis, in), inner = numel_of(nd - axis - 1, in + axis + 1);
    if (ox_in_is_const(r, n, 0)) {
        const ox_const *x = ox_in_const(r, n, 0);
        ox_const c;
        if (ox_const_new(r, x->is_int, ond, out, &c) != HG_OK)
            return hg_error_status();
        int64_t at = 0;
        for (int64_t b = 0; b < outer; b++)
            for (int64_t k = 0; k < idx->numel; k++)
                for (int64_t i = 0; i < inner; i++, at++) {
                    int64_t src = (b * in[axis] + ids[k]) * inner + i;
                    if (c.is_int)
                        c.i[at] = x->i[src];
                    else
                        c.f[at] = x->f[src];
                }
        return ox_set_const(r, n, 0, &c);
    }
    hg_tensor *x = ox_in_tensor(r, n, 0);
    if (!x)
        return hg_error_status();
    if (idx->numel == 0)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "empty indices on a run-time tensor");
    hg_tensor *parts[64];
    if (idx->numel > 64)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "%lld indices on a run-time tensor (at most "
                       "64)", (long long)idx->numel);
    for (int64_t k = 0; k < idx->numel; k++)
        if (!(parts[k] = hg_slice(r->ctx, x, axis, ids[k], ids[k] + 1)))
            return ox_set_tensor(r, n, 0, NULL);
    hg_tensor *y = idx->numel == 1 ? parts[0] : hg_concat(r->ctx, parts, (int)idx->numel, axis);
    return ox_set_tensor(r, n, 0, ox_reshape(r, n, y, ond, out));
}

/* Pad (constant mode) of the spatial dims: pads [b_0 .. b_n-1, e_0 .. e_n-1]. */
hg_status ox_op_Pad(ox_run *r, const ox_node *n)
{
    hg_tensor *x = ox_in_tensor(r, n, 0);
    if (!x)
        return hg_error_status();
    int64_t pads[2 * OX_MAX_DIMS + 1];
    int32_t np;
    float value = 0.0f;
    if (r->opset < 11) {
        np = ox_attr_ints(n->proto, "pads", pads, 2 * OX_MAX_DIMS);
        value = ox_attr_float(n->proto, "value", 0.0f);
    } else {
        const ox_const *c = ox_in_const(r, n, 1);
        if (!c)
            return hg_error_status();
        np = (int32_t)(c->numel > 2 * OX_MAX_DIMS ? 2 * OX_MAX_DIMS + 1 : c->numel);
        for (int32_t k = 0; k < np && k < 2 * OX_MAX_DIMS; k++)
            pads[k] = ox_const_int(c, k);
        if (ox_has_in(n, 2)) {
            const ox_const *v = ox_in_const(r, n, 2);
            if (!v)
                return hg_error_status();
            value = v->numel ? (float)ox_const_at(v, 0) : 0.0f;
        }
        if (ox_has_in(n, 3))
            return ox_fail(r, n, HG_ERR_UNSUPPORTED, "the axes input");
    }
    int32_t nd = x->ndim;
    if (np != 2 * nd)
        return ox_fail(r, n, HG_ERR_INVALID, "%d pads for rank %d", (int)np, (int)nd);
    if (pads[0] || pads[1] || pads[nd] || pads[nd + 1])
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "padding the batch or channel dimension");
    int32_t before[3], after[3];
    for (int32_t d = 2; d < nd; d++) {
        if (pads[d] < 0 || pads[d + nd] < 0 || pads[d] > 4096 || pads[d + nd] > 4096)
            return ox_fail(r, n, HG_ERR_UNSUPPORTED, "negative or huge pads (cropping)");
        before[d - 2] = (int32_t)pads[d], after[d - 2] = (int32_t)pads[d + nd];
    }
    return ox_set_tensor(r, n, 0, hg_pad(r->ctx, x, before, after, value));
}
