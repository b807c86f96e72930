/* ONNX network operators on hinge ops: convolutions, normalizations, pooling, Gemm/MatMul,
 * Resize/Upsample. Attribute values hinge cannot honour are rejected at load (see the checks
 * in onnx_ops_table.c); the run-time checks here cover what depends on shapes. */
#include "io/onnx/onnx_internal.h"

#include <math.h>
#include <string.h>

/* Reads kernel geometry: strides, dilations, pads (begin/end per spatial dim). */
typedef struct conv_geom {
    int32_t ns;
    int64_t strides[3], dilations[3], begin[3], end[3];
} conv_geom;

static hg_status read_geom(ox_run *r, const ox_node *n, int32_t ns, conv_geom *g)
{
    if (ns < 1 || ns > 3)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "%d spatial dimensions (1 to 3 supported)",
                       (int)ns);
    g->ns = ns;
    int64_t pads[6], v[4];
    for (int32_t d = 0; d < 3; d++)
        g->strides[d] = g->dilations[d] = 1, g->begin[d] = g->end[d] = 0;
    int32_t k = ox_attr_ints(n->proto, "strides", v, 3);
    if (k >= 0 && k != ns)
        return ox_fail(r, n, HG_ERR_INVALID, "%d strides for %d spatial dims", (int)k, (int)ns);
    for (int32_t d = 0; d < k; d++)
        g->strides[d] = v[d];
    k = ox_attr_ints(n->proto, "dilations", v, 3);
    if (k >= 0 && k != ns)
        return ox_fail(r, n, HG_ERR_INVALID, "%d dilations for %d spatial dims", (int)k, (int)ns);
    for (int32_t d = 0; d < k; d++)
        g->dilations[d] = v[d];
    k = ox_attr_ints(n->proto, "pads", pads, 6);
    if (k >= 0 && k != 2 * ns)
        return ox_fail(r, n, HG_ERR_INVALID, "%d pads for %d spatial dims", (int)k, (int)ns);
    for (int32_t d = 0; d < k / 2; d++)
        g->begin[d] = pads[d], g->end[d] = pads[d + ns];
    for (int32_t d = 0; d < ns; d++)
        if (g->strides[d] < 1 || g->strides[d] > 1024 || g->dilations[d] < 1 ||
            g->dilations[d] > 1024 || g->begin[d] < 0 || g->end[d] < 0 || g->begin[d] > 4096 ||
            g->end[d] > 4096)
            return ox_fail(r, n, HG_ERR_INVALID, "stride, dilation or pad out of range in "
                           "spatial dim %d", (int)d);
    return HG_OK;
}

/* kernel_shape, when given, must agree with the weight's spatial dims. */
static hg_status check_kernel(ox_run *r, const ox_node *n, const hg_tensor *w, int32_t ns)
{
    int64_t ks[4];
    int32_t k = ox_attr_ints(n->proto, "kernel_shape", ks, 3);
    bool ok = k < 0 || (k == ns && w->ndim == ns + 2);
    for (int32_t d = 0; ok && k >= 0 && d < ns; d++)
        ok = ks[d] == w->shape[2 + d];
    if (ok)
        return HG_OK;
    char sh[96];
    return ox_fail(r, n, HG_ERR_INVALID, "kernel_shape does not match the weight %s",
                   hg_shape_str(w, sh, sizeof sh));
}

static bool symmetric(const conv_geom *g)
{
    for (int32_t d = 0; d < g->ns; d++)
        if (g->begin[d] != g->end[d])
            return false;
    return true;
}

hg_status ox_op_Conv(ox_run *r, const ox_node *n)
{
    hg_tensor *x = ox_in_tensor(r, n, 0), *w = ox_in_tensor(r, n, 1);
    hg_tensor *b = ox_has_in(n, 2) ? ox_in_tensor(r, n, 2) : NULL;
    if (!x || !w || (ox_has_in(n, 2) && !b))
        return hg_error_status();
    conv_geom g;
    if (read_geom(r, n, x->ndim - 2, &g) != HG_OK || check_kernel(r, n, w, x->ndim - 2) != HG_OK)
        return hg_error_status();
    hg_conv_opts o = {.groups = (int32_t)ox_attr_int(n->proto, "group", 1)};
    if (o.groups < 1)
        return ox_fail(r, n, HG_ERR_INVALID, "group %d", (int)o.groups);
    /* Asymmetric padding (e.g. from SAME padding in other frameworks): pad explicitly. */
    bool sym = symmetric(&g);
    if (!sym) {
        int32_t before[3], after[3];
        for (int32_t d = 0; d < g.ns; d++)
            before[d] = (int32_t)g.begin[d], after[d] = (int32_t)g.end[d];
        x = hg_pad(r->ctx, x, before, after, 0.0f);
    }
    for (int32_t d = 0; d < g.ns; d++) {
        o.stride[d] = (int32_t)g.strides[d];
        o.dilation[d] = (int32_t)g.dilations[d];
        o.padding[d] = sym ? (int32_t)g.begin[d] : 0;
    }
    return ox_set_tensor(r, n, 0, hg_conv(r->ctx, x, w, b, &o));
}

hg_status ox_op_ConvTranspose(ox_run *r, const ox_node *n)
{
    hg_tensor *x = ox_in_tensor(r, n, 0), *w = ox_in_tensor(r, n, 1);
    hg_tensor *b = ox_has_in(n, 2) ? ox_in_tensor(r, n, 2) : NULL;
    if (!x || !w || (ox_has_in(n, 2) && !b))
        return hg_error_status();
    conv_geom g;
    if (read_geom(r, n, x->ndim - 2, &g) != HG_OK || check_kernel(r, n, w, x->ndim - 2) != HG_OK)
        return hg_error_status();
    if (!symmetric(&g))
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "asymmetric pads");
    hg_conv_opts o = {.groups = (int32_t)ox_attr_int(n->proto, "group", 1)};
    if (o.groups < 1)
        return ox_fail(r, n, HG_ERR_INVALID, "group %d", (int)o.groups);
    int64_t op[3] = {0, 0, 0};
    int32_t k = ox_attr_ints(n->proto, "output_padding", op, 3);
    if (k >= 0 && k != g.ns)
        return ox_fail(r, n, HG_ERR_INVALID, "%d output_padding values for %d spatial dims",
                       (int)k, (int)g.ns);
    for (int32_t d = 0; d < g.ns; d++) {
        if (op[d] < 0 || op[d] >= g.strides[d])
            return ox_fail(r, n, HG_ERR_INVALID, "output_padding %lld not below stride %lld",
                           (long long)op[d], (long long)g.strides[d]);
        o.stride[d] = (int32_t)g.strides[d];
        o.dilation[d] = (int32_t)g.dilations[d];
        o.padding[d] = (int32_t)g.begin[d];
        o.output_padding[d] = (int32_t)op[d];
    }
    return ox_set_tensor(r, n, 0, hg_conv_transpose(r->ctx, x, w, b, &o));
}

/* 1-D per-channel parameter view of input k (exporters may store [C] or [C, 1, 1]). */
static hg_tensor *channel_param(ox_run *r, const ox_node *n, int32_t k)
{
    hg_tensor *t = ox_in_tensor(r, n, k);
    if (!t)
        return NULL;
    int64_t len = t->numel;
    return ox_reshape(r, n, t, 1, &len);
}

hg_status ox_op_BatchNormalization(ox_run *r, const ox_node *n)
{
    if (ox_attr_int(n->proto, "training_mode", 0) != 0)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "training_mode 1 (inference only)");
    hg_tensor *x = ox_in_tensor(r, n, 0);
    hg_tensor *scale = channel_param(r, n, 1), *bias = channel_param(r, n, 2);
    hg_tensor *mean = channel_param(r, n, 3), *var = channel_param(r, n, 4);
    if (!x || !scale || !bias || !mean || !var)
        return hg_error_status();
    float eps = ox_attr_float(n->proto, "epsilon", 1e-5f);
    bool was = hg_ctx_training(r->ctx);
    hg_ctx_set_training(r->ctx, false); /* inference: running statistics, never updated */
    hg_tensor *y = hg_batch_norm(r->ctx, x, scale, bias, mean, var, 0.0f, eps);
    hg_ctx_set_training(r->ctx, was);
    return ox_set_tensor(r, n, 0, y);
}

hg_status ox_op_InstanceNormalization(ox_run *r, const ox_node *n)
{
    hg_tensor *x = ox_in_tensor(r, n, 0);
    hg_tensor *scale = channel_param(r, n, 1), *bias = channel_param(r, n, 2);
    if (!x || !scale || !bias)
        return hg_error_status();
    float eps = ox_attr_float(n->proto, "epsilon", 1e-5f);
    return ox_set_tensor(r, n, 0, hg_instance_norm(r->ctx, x, scale, bias, eps));
}

static hg_status pool(ox_run *r, const ox_node *n, bool max)
{
    hg_tensor *x = ox_in_tensor(r, n, 0);
    if (!x)
        return hg_error_status();
    if (n->n_out > 1 && n->out[1] >= 0)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "the Indices output");
    conv_geom g;
    if (read_geom(r, n, x->ndim - 2, &g) != HG_OK)
        return hg_error_status();
    int64_t ks[4];
    int32_t nk = ox_attr_ints(n->proto, "kernel_shape", ks, 3);
    if (nk != g.ns)
        return ox_fail(r, n, HG_ERR_INVALID, "kernel_shape has %d values for %d spatial dims",
                       (int)nk, (int)g.ns);
    for (int32_t d = 0; d < g.ns; d++)
        if (g.dilations[d] != 1)
            return ox_fail(r, n, HG_ERR_UNSUPPORTED, "dilation %lld", (long long)g.dilations[d]);
    if (!symmetric(&g))
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "asymmetric pads");
    hg_pool_opts o = {.ceil_mode = ox_attr_int(n->proto, "ceil_mode", 0) != 0,
                      .count_include_pad = ox_attr_int(n->proto, "count_include_pad", 0) != 0};
    for (int32_t d = 0; d < g.ns; d++) {
        if (ks[d] < 1 || ks[d] > 4096)
            return ox_fail(r, n, HG_ERR_INVALID, "kernel size %lld", (long long)ks[d]);
        o.kernel[d] = (int32_t)ks[d];
        o.stride[d] = (int32_t)g.strides[d];
        o.padding[d] = (int32_t)g.begin[d];
    }
    hg_tensor *y = max ? hg_max_pool(r->ctx, x, &o) : hg_avg_pool(r->ctx, x, &o);
    return ox_set_tensor(r, n, 0, y);
}

hg_status ox_op_MaxPool(ox_run *r, const ox_node *n) { return pool(r, n, true); }
hg_status ox_op_AveragePool(ox_run *r, const ox_node *n) { return pool(r, n, false); }

hg_status ox_op_GlobalAveragePool(ox_run *r, const ox_node *n)
{
    return ox_set_tensor(r, n, 0, hg_global_avg_pool(r->ctx, ox_in_tensor(r, n, 0)));
}

/* Gemm: alpha op(A) op(B) + beta C, A and B 2-D, C broadcast. */
hg_status ox_op_Gemm(ox_run *r, const ox_node *n)
{
    hg_tensor *a = ox_in_tensor(r, n, 0), *b = ox_in_tensor(r, n, 1);
    if (!a || !b)
        return hg_error_status();
    float alpha = ox_attr_float(n->proto, "alpha", 1.0f), beta = ox_attr_float(n->proto, "beta", 1.0f);
    bool ta = ox_attr_int(n->proto, "transA", 0) != 0, tb = ox_attr_int(n->proto, "transB", 0) != 0;
    hg_tensor *y = hg_matmul(r->ctx, a, b, ta, tb);
    if (y && alpha != 1.0f)
        y = hg_scale(r->ctx, y, alpha);
    if (y && ox_has_in(n, 2) && beta != 0.0f) {
        hg_tensor *c = ox_in_tensor(r, n, 2);
        if (c && beta != 1.0f)
            c = hg_scale(r->ctx, c, beta);
        y = hg_add(r->ctx, y, c);
    }
    return ox_set_tensor(r, n, 0, y);
}

/* MatMul (numpy semantics) for the forms networks use: 2-D x 2-D, N-D x 2-D (a linear layer
 * on the last axis), and N-D x N-D with equal batch dims. */
hg_status ox_op_MatMul(ox_run *r, const ox_node *n)
{
    hg_tensor *a = ox_in_tensor(r, n, 0), *b = ox_in_tensor(r, n, 1);
    if (!a || !b)
        return hg_error_status();
    if (a->ndim < 2 || b->ndim < 2)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "1-D operands");
    int64_t out[HG_MAX_DIMS];
    int32_t nd = a->ndim;
    if (b->ndim == 2) {
        int64_t rows = a->numel / a->shape[a->ndim - 1];
        int64_t a2[2] = {rows, a->shape[a->ndim - 1]};
        hg_tensor *y = hg_matmul(r->ctx, hg_reshape(r->ctx, a, 2, a2), b, false, false);
        memcpy(out, a->shape, sizeof out);
        out[nd - 1] = b->shape[1];
        return ox_set_tensor(r, n, 0, ox_reshape(r, n, y, nd, out));
    }
    bool same = a->ndim == b->ndim;
    for (int32_t d = 0; same && d < a->ndim - 2; d++)
        same = a->shape[d] == b->shape[d];
    if (!same)
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "broadcast batch dimensions");
    int64_t batch = 1;
    for (int32_t d = 0; d < nd - 2; d++)
        batch *= a->shape[d];
    int64_t a3[3] = {batch, a->shape[nd - 2], a->shape[nd - 1]};
    int64_t b3[3] = {batch, b->shape[nd - 2], b->shape[nd - 1]};
    hg_tensor *y = hg_matmul(r->ctx, hg_reshape(r->ctx, a, 3, a3), hg_reshape(r->ctx, b, 3, b3),
                             false, false);
    memcpy(out, a->shape, sizeof out);
    out[nd - 1] = b->shape[nd - 1];
    return ox_set_tensor(r, n, 0, ox_reshape(r, n, y, nd, out));
}

/* Resize/Upsample to sizes (or floor(in * scale)); N and C must keep their size. */
static hg_status resize(ox_run *r, const ox_node *n, int32_t scales_in, int32_t sizes_in,
                        bool linear, bool align_corners)
{
    hg_tensor *x = ox_in_tensor(r, n, 0);
    if (!x)
        return hg_error_status();
    int64_t out[HG_MAX_DIMS];
    const ox_const *sz = sizes_in >= 0 && ox_has_in(n, sizes_in) ? ox_in_const(r, n, sizes_in)
                                                                   : NULL;
    if (sz && sz->numel == 0)
        sz = NULL;
    if (sz) {
        if (sz->numel != x->ndim)
            return ox_fail(r, n, HG_ERR_INVALID, "%lld sizes for rank %d",
                           (long long)sz->numel, (int)x->ndim);
        for (int32_t d = 0; d < x->ndim; d++)
            out[d] = ox_const_int(sz, d);
    } else {
        const ox_const *sc = ox_in_const(r, n, scales_in);
        if (!sc)
            return hg_error_status();
        if (sc->numel != x->ndim)
            return ox_fail(r, n, HG_ERR_INVALID, "%lld scales for rank %d",
                           (long long)sc->numel, (int)x->ndim);
        for (int32_t d = 0; d < x->ndim; d++) {
            double s = ox_const_at(sc, d);
            if (!(s > 0 && s < 1e4))
                return ox_fail(r, n, HG_ERR_INVALID, "scale %g", s);
            out[d] = (int64_t)floor((double)x->shape[d] * s);
        }
    }
    if (out[0] != x->shape[0] || out[1] != x->shape[1])
        return ox_fail(r, n, HG_ERR_UNSUPPORTED, "resizing the batch or channel dimension");
    for (int32_t d = 2; d < x->ndim; d++)
        if (out[d] < 1 || out[d] > (int64_t)1 << 20)
            return ox_fail(r, n, HG_ERR_INVALID, "output size %lld", (long long)out[d]);
    return ox_set_tensor(r, n, 0,
                         hg_upsample(r->ctx, x, out + 2,
                                     linear ? HG_UPSAMPLE_LINEAR : HG_UPSAMPLE_NEAREST,
                                     align_corners));
}

hg_status ox_op_Resize(ox_run *r, const ox_node *n)
{
    char mode[32], ctm[32];
    ox_attr_string(n->proto, "mode", "nearest", mode, sizeof mode);
    ox_attr_string(n->proto, "coordinate_transformation_mode", "half_pixel", ctm, sizeof ctm);
    bool linear = strcmp(mode, "linear") == 0;
    bool ac = strcmp(ctm, "align_corners") == 0;
    /* opset 10: X, scales; 11+: X, roi, scales, sizes */
    return r->opset < 11 ? resize(r, n, 1, -1, linear, ac) : resize(r, n, 2, 3, linear, ac);
}

hg_status ox_op_Upsample(ox_run *r, const ox_node *n)
{
    return resize(r, n, 1, -1, false, false);
}
