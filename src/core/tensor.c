/* Tensor creation, shapes and shape checks. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t hg_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / 4 / shape[i])
            return -1; /* keep 2*numel*sizeof(float) representable */
        n *= shape[i];
    }
    return n;
}

static hg_tensor *tensor_alloc(hg_ctx *ctx, hg_dtype dtype, int ndim, const int64_t *shape,
                               bool zero)
{
    if (ndim < 1 || ndim > HG_MAX_DIMS) {
        hg_error(HG_ERR_INVALID, "tensor rank: expected 1 to %d dimensions, got %d", HG_MAX_DIMS,
                 ndim);
        return NULL;
    }
    if (dtype != HG_F32 && dtype != HG_C64) {
        hg_error(HG_ERR_INVALID, "tensor dtype: expected f32 or c64, got %d", (int)dtype);
        return NULL;
    }
    int64_t numel = hg_shape_numel(ndim, shape);
    if (numel < 0) {
        hg_error(HG_ERR_INVALID, "tensor shape: negative or overflowing dimensions");
        return NULL;
    }
    size_t nbytes = (size_t)numel * sizeof(float) * (dtype == HG_C64 ? 2 : 1);
    hg_tensor *t;
    if (ctx) {
        t = hg_ctx_calloc(ctx, sizeof *t);
        if (!t)
            return NULL;
        t->data = hg_ctx_alloc_data(ctx, nbytes, zero);
        if (!t->data)
            return NULL;
    } else {
        t = calloc(1, sizeof *t);
        if (!t) {
            hg_error(HG_ERR_NOMEM, "out of memory allocating a tensor");
            return NULL;
        }
        t->data = zero ? hg_calloc(1, nbytes) : hg_malloc(nbytes);
        if (!t->data) {
            free(t);
            return NULL;
        }
    }
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    t->ctx = ctx;
    return t;
}

hg_tensor *hg_tensor_new(hg_ctx *ctx, hg_dtype dtype, int ndim, const int64_t *shape)
{
    return tensor_alloc(ctx, dtype, ndim, shape, true);
}

hg_tensor *hg_tensor_empty(hg_ctx *ctx, hg_dtype dtype, int ndim, const int64_t *shape)
{
    return tensor_alloc(ctx, dtype, ndim, shape, false);
}

hg_tensor *hg_tensor_like(hg_ctx *ctx, const hg_tensor *t)
{
    if (!t)
        return NULL;
    return tensor_alloc(ctx, t->dtype, t->ndim, t->shape, true);
}

hg_tensor *hg_tensor_clone(hg_ctx *ctx, const hg_tensor *t)
{
    if (!t)
        return NULL;
    hg_tensor *c = tensor_alloc(ctx, t->dtype, t->ndim, t->shape, false);
    if (c) {
        memcpy(c->data, t->data, (size_t)hg_tensor_nfloats(t) * sizeof(float));
        c->name = t->name;
    }
    return c;
}

void hg_tensor_free(hg_tensor *t)
{
    if (!t || t->ctx)
        return;
    if (!(t->flags & HG_TENSOR_VIEW))
        hg_free(t->data);
    hg_free(t->grad);
    free(t);
}

void hg_tensor_set_name(hg_tensor *t, const char *name)
{
    if (t)
        t->name = name;
}

const char *hg_tensor_label(const hg_tensor *t) { return t && t->name ? t->name : "tensor"; }

char *hg_shape_str(const hg_tensor *t, char *buf, size_t size)
{
    size_t at = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    at += (size_t)snprintf(buf + at, size - at, "[");
    for (int i = 0; t && i < t->ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

bool hg_shape_equal(const hg_tensor *a, const hg_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

hg_status hg_check_shape(const hg_tensor *t, int ndim, const int64_t *shape)
{
    char expected[128], actual[128];
    size_t at = 0;
    bool ok = t && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (shape[i] >= 0 && shape[i] != t->shape[i])
            ok = false;
    if (ok)
        return HG_OK;
    at += (size_t)snprintf(expected, sizeof expected, "[");
    for (int i = 0; i < ndim && at < sizeof expected; i++) {
        if (shape[i] >= 0)
            at += (size_t)snprintf(expected + at, sizeof expected - at, i ? ", %lld" : "%lld",
                                   (long long)shape[i]);
        else
            at += (size_t)snprintf(expected + at, sizeof expected - at, i ? ", *" : "*");
    }
    if (at < sizeof expected)
        snprintf(expected + at, sizeof expected - at, "]");
    return hg_error(HG_ERR_INVALID, "%s shape: expected %s, got %s", hg_tensor_label(t), expected,
                    t ? hg_shape_str(t, actual, sizeof actual) : "NULL");
}

hg_status hg_tensor_fill(hg_tensor *t, float value)
{
    if (!t)
        return hg_error(HG_ERR_INVALID, "fill: NULL tensor");
    int64_t n = hg_tensor_nfloats(t);
    if (t->dtype == HG_C64) {
        for (int64_t i = 0; i < n; i += 2) {
            t->data[i] = value;
            t->data[i + 1] = 0.0f;
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            t->data[i] = value;
    }
    return HG_OK;
}
