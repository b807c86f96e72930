/* ONNX values: attribute access, TensorProto -> constant (inline or external data, sizes
 * validated), and the per-run slots that hold constants or run-time tensors. */
#include "io/onnx/onnx_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- attributes ---------------------------------------------------------------------- */

const Onnx__AttributeProto *ox_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t ox_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    return a && a->has_i ? a->i : def;
}

float ox_attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    return a && a->has_f ? a->f : def;
}

int32_t ox_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int32_t max)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    if (!a)
        return -1;
    int32_t k = a->n_ints < (size_t)max ? (int32_t)a->n_ints : max;
    for (int32_t i = 0; i < k; i++)
        out[i] = a->ints[i];
    return a->n_ints > (size_t)max ? max + 1 : k; /* > max signals "too many" */
}

const char *ox_attr_string(const Onnx__NodeProto *n, const char *name, const char *def,
                           char *buf, size_t size)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    if (!a || !a->has_s)
        return def;
    size_t k = a->s.len < size - 1 ? a->s.len : size - 1;
    memcpy(buf, a->s.data, k);
    buf[k] = '\0';
    return buf;
}

/* ---- TensorProto -> constant --------------------------------------------------------- */

enum { T_FLOAT = 1, T_UINT8 = 2, T_INT8 = 3, T_INT16 = 5, T_INT32 = 6, T_INT64 = 7, T_BOOL = 9,
       T_DOUBLE = 11 };

static int elem_size(int32_t dt)
{
    switch (dt) {
    case T_FLOAT: case T_INT32: return 4;
    case T_UINT8: case T_INT8: case T_BOOL: return 1;
    case T_INT16: return 2;
    case T_INT64: case T_DOUBLE: return 8;
    default: return 0;
    }
}

/* Reads the external data of t (location relative to base_dir, offset, length) into a
 * malloc'd buffer of exactly `bytes` bytes. */
static hg_status read_external(const Onnx__TensorProto *t, const char *label, const char *base_dir,
                               size_t bytes, unsigned char **out)
{
    const char *loc = NULL;
    long long offset = 0, length = -1;
    for (size_t k = 0; k < t->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = t->external_data[k];
        if (!e->key || !e->value)
            continue;
        char *end = NULL;
        if (strcmp(e->key, "location") == 0)
            loc = e->value;
        else if (strcmp(e->key, "offset") == 0 || strcmp(e->key, "length") == 0) {
            errno = 0;
            long long v = strtoll(e->value, &end, 10);
            if (errno || end == e->value || *end || v < 0)
                return hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': external data %s '%s' is not "
                                "a non-negative integer", label, e->key, e->value);
            if (e->key[0] == 'o')
                offset = v;
            else
                length = v;
        }
    }
    if (!loc || !*loc)
        return hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': external data without a location",
                        label);
    if (!base_dir)
        return hg_error(HG_ERR_UNSUPPORTED, "onnx: tensor '%s': external data '%s' needs the "
                        "model's directory (loaded from memory)", label, loc);
    /* The file must lie beside the model: no absolute paths, no way up. */
    if (loc[0] == '/' || strstr(loc, "..") != NULL)
        return hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': external data location '%s' must be "
                        "a relative path inside the model's directory", label, loc);
    if (length >= 0 && (size_t)length != bytes)
        return hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': external data length %lld does not "
                        "match its shape: expected %zu bytes", label, length, bytes);
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/%s", base_dir, loc);
    if (w < 0 || (size_t)w >= sizeof path)
        return hg_error(HG_ERR_INVALID, "onnx: tensor '%s': external data path too long", label);
    FILE *f = fopen(path, "rb");
    if (!f)
        return hg_error(HG_ERR_IO, "onnx: tensor '%s': cannot open external data '%s': %s",
                        label, path, strerror(errno));
    hg_status s = HG_OK;
    long long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || offset > size || (long long)bytes > size - offset)
        s = hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': external data '%s' holds %lld bytes, "
                     "expected %zu from offset %lld", label, path, size, bytes, offset);
    unsigned char *buf = NULL;
    if (s == HG_OK && !(buf = malloc(bytes ? bytes : 1)))
        s = hg_error(HG_ERR_NOMEM, "onnx: tensor '%s': %zu bytes", label, bytes);
    if (s == HG_OK && (fseek(f, (long)offset, SEEK_SET) != 0 || fread(buf, 1, bytes, f) != bytes))
        s = hg_error(HG_ERR_IO, "onnx: tensor '%s': reading external data '%s' failed", label,
                     path);
    fclose(f);
    if (s != HG_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return HG_OK;
}

/* Element k of a little-endian raw buffer of type dt, as double. */
static double raw_at(const unsigned char *p, int32_t dt, int64_t k)
{
    switch (dt) {
    case T_FLOAT: { float v; memcpy(&v, p + 4 * k, 4); return v; }
    case T_DOUBLE: { double v; memcpy(&v, p + 8 * k, 8); return v; }
    case T_INT32: { int32_t v; memcpy(&v, p + 4 * k, 4); return v; }
    case T_INT64: { int64_t v; memcpy(&v, p + 8 * k, 8); return (double)v; }
    case T_INT16: { int16_t v; memcpy(&v, p + 2 * k, 2); return v; }
    case T_INT8: return (int8_t)p[k];
    default: return p[k]; /* uint8, bool */
    }
}

static int64_t raw_int64(const unsigned char *p, int32_t dt, int64_t k)
{
    if (dt == T_INT64) {
        int64_t v;
        memcpy(&v, p + 8 * k, 8);
        return v;
    }
    return (int64_t)raw_at(p, dt, k);
}

hg_status ox_tensor_to_const(const Onnx__TensorProto *t, const char *base_dir, hg_ctx *arena,
                             ox_const *out)
{
    const char *label = t->name && *t->name ? t->name : "(unnamed)";
    memset(out, 0, sizeof *out);
    int32_t dt = t->data_type;
    int es = elem_size(dt);
    if (!es)
        return hg_error(HG_ERR_UNSUPPORTED, "onnx: tensor '%s': data type %d is not supported "
                        "(float, double, int8/16/32/64, uint8, bool are)", label, (int)dt);
    if (t->n_dims > OX_MAX_DIMS)
        return hg_error(HG_ERR_UNSUPPORTED, "onnx: tensor '%s': %zu dimensions, at most %d "
                        "supported", label, t->n_dims, OX_MAX_DIMS);
    int64_t numel = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || (t->dims[d] > 0 && numel > (INT64_C(1) << 40) / t->dims[d]))
            return hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': invalid dimension %lld", label,
                            (long long)t->dims[d]);
        numel *= t->dims[d];
        out->dims[d] = t->dims[d];
    }
    out->ndim = (int32_t)t->n_dims;
    out->numel = numel;
    out->is_int = !(dt == T_FLOAT || dt == T_DOUBLE);
    size_t bytes = (size_t)numel * (size_t)es;

    const unsigned char *raw = NULL;
    unsigned char *ext = NULL;
    size_t have;
    const char *field;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (read_external(t, label, base_dir, bytes, &ext) != HG_OK)
            return hg_error_status();
        raw = ext, have = bytes, field = "external data";
    } else if (t->has_raw_data) {
        raw = t->raw_data.data, have = t->raw_data.len / (size_t)es, field = "raw_data";
        if (t->raw_data.len % (size_t)es)
            have = (size_t)-1;
        else
            bytes = (size_t)numel; /* compare in elements below */
    } else if (dt == T_FLOAT) {
        have = t->n_float_data, field = "float_data";
    } else if (dt == T_DOUBLE) {
        have = t->n_double_data, field = "double_data";
    } else if (dt == T_INT64) {
        have = t->n_int64_data, field = "int64_data";
    } else {
        have = t->n_int32_data, field = "int32_data";
    }
    if (!ext && have != (size_t)numel) {
        if (have == (size_t)-1)
            return hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': raw_data of %zu bytes is not a "
                            "multiple of the element size %d", label, t->raw_data.len, es);
        return hg_error(HG_ERR_FORMAT, "onnx: tensor '%s': %s holds %zu elements, its shape "
                        "needs %lld", label, field, have, (long long)numel);
    }
    (void)bytes;
    size_t alloc = (size_t)(numel ? numel : 1) * (out->is_int ? 8 : 4);
    void *mem = hg_ctx_alloc(arena, alloc);
    if (!mem) {
        free(ext);
        return hg_error_status();
    }
    if (out->is_int) {
        out->i = mem;
        for (int64_t k = 0; k < numel; k++)
            out->i[k] = raw ? raw_int64(raw, dt, k)
                            : dt == T_INT64 ? t->int64_data[k] : (int64_t)t->int32_data[k];
    } else {
        out->f = mem;
        if (raw && dt == T_FLOAT)
            memcpy(out->f, raw, (size_t)numel * 4);
        else
            for (int64_t k = 0; k < numel; k++)
                out->f[k] = raw ? (float)raw_at(raw, dt, k)
                                : dt == T_FLOAT ? t->float_data[k] : (float)t->double_data[k];
    }
    free(ext);
    return HG_OK;
}

/* ---- constants and slots ------------------------------------------------------------- */

hg_status ox_const_new(ox_run *r, bool is_int, int32_t ndim, const int64_t *dims, ox_const *out)
{
    memset(out, 0, sizeof *out);
    if (ndim < 0 || ndim > OX_MAX_DIMS)
        return hg_error(HG_ERR_UNSUPPORTED, "onnx: constant of rank %d", (int)ndim);
    int64_t numel = 1;
    for (int32_t d = 0; d < ndim; d++) {
        if (dims[d] < 0 || (dims[d] > 0 && numel > (INT64_C(1) << 34) / dims[d]))
            return hg_error(HG_ERR_INVALID, "onnx: constant dimension %lld out of range",
                            (long long)dims[d]);
        numel *= dims[d];
        out->dims[d] = dims[d];
    }
    out->ndim = ndim, out->numel = numel, out->is_int = is_int;
    void *mem = hg_ctx_calloc(r->ctx, (size_t)(numel ? numel : 1) * (is_int ? 8 : 4));
    if (!mem)
        return hg_error_status();
    if (is_int)
        out->i = mem;
    else
        out->f = mem;
    return HG_OK;
}

int64_t ox_sat_int(double v)
{
    if (!(v == v))
        return 0;
    if (v >= 9.2233720368547758e18)
        return INT64_MAX;
    if (v <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)v;
}

int64_t ox_const_int(const ox_const *c, int64_t k)
{
    return c->is_int ? c->i[k] : ox_sat_int((double)c->f[k]);
}

double ox_const_at(const ox_const *c, int64_t k)
{
    return c->is_int ? (double)c->i[k] : (double)c->f[k];
}

hg_status ox_fail(ox_run *r, const ox_node *n, hg_status s, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hg_error(s, "onnx: %s node '%s' (opset %d): %s", n->op, n->name, (int)r->opset, msg);
}

bool ox_has_in(const ox_node *n, int32_t k) { return k < n->n_in && n->in[k] >= 0; }

bool ox_in_is_const(ox_run *r, const ox_node *n, int32_t k)
{
    return ox_has_in(n, k) && r->slots[n->in[k]].is_const;
}

const ox_const *ox_in_const(ox_run *r, const ox_node *n, int32_t k)
{
    if (!ox_has_in(n, k)) {
        ox_fail(r, n, HG_ERR_INVALID, "input %d is missing", (int)k);
        return NULL;
    }
    ox_slot *s = &r->slots[n->in[k]];
    if (!s->is_const) {
        ox_fail(r, n, HG_ERR_UNSUPPORTED, "input %d ('%s') must be a constant (it is computed "
                "at run time)", (int)k, r->m->value_names[n->in[k]]);
        return NULL;
    }
    return &s->c;
}

hg_tensor *ox_in_tensor(ox_run *r, const ox_node *n, int32_t k)
{
    if (!ox_has_in(n, k)) {
        ox_fail(r, n, HG_ERR_INVALID, "input %d is missing", (int)k);
        return NULL;
    }
    ox_slot *s = &r->slots[n->in[k]];
    if (!s->is_const)
        return s->t;
    const ox_const *c = &s->c;
    if (c->tensor)
        return c->tensor;
    if (c->ndim > HG_MAX_DIMS) {
        ox_fail(r, n, HG_ERR_UNSUPPORTED, "input %d has %d dimensions, at most %d supported",
                (int)k, (int)c->ndim, HG_MAX_DIMS);
        return NULL;
    }
    int64_t one = 1;
    hg_tensor *t = hg_tensor_empty(r->ctx, HG_F32, c->ndim ? c->ndim : 1, c->ndim ? c->dims : &one);
    if (!t)
        return NULL;
    for (int64_t i = 0; i < c->numel; i++)
        t->data[i] = (float)ox_const_at(c, i);
    hg_tensor_set_name(t, r->m->value_names[n->in[k]]);
    return t;
}

int32_t ox_in_shape(ox_run *r, const ox_node *n, int32_t k, int64_t *dims)
{
    ox_slot *s = &r->slots[n->in[k]];
    if (s->is_const) {
        memcpy(dims, s->c.dims, sizeof s->c.dims);
        return s->c.ndim;
    }
    for (int d = 0; d < s->t->ndim; d++)
        dims[d] = s->t->shape[d];
    return s->t->ndim;
}

hg_status ox_set_tensor(ox_run *r, const ox_node *n, int32_t k, hg_tensor *t)
{
    if (!t)
        return hg_error_status() != HG_OK ? hg_error_context(hg_error_status(),
                                                             "onnx: %s node '%s'", n->op, n->name)
                                          : ox_fail(r, n, HG_ERR_INVALID, "no output");
    if (k >= n->n_out || n->out[k] < 0)
        return HG_OK;
    ox_slot *s = &r->slots[n->out[k]];
    s->set = true, s->is_const = false, s->t = t;
    if (!t->name)
        hg_tensor_set_name(t, r->m->value_names[n->out[k]]);
    return HG_OK;
}

hg_status ox_set_const(ox_run *r, const ox_node *n, int32_t k, const ox_const *c)
{
    if (k >= n->n_out || n->out[k] < 0)
        return HG_OK;
    ox_slot *s = &r->slots[n->out[k]];
    s->set = true, s->is_const = true, s->c = *c, s->t = NULL;
    s->c.tensor = NULL;
    return HG_OK;
}

hg_status ox_axis(ox_run *r, const ox_node *n, int64_t axis, int32_t rank, int32_t *out)
{
    if (axis < -rank || axis >= rank)
        return ox_fail(r, n, HG_ERR_INVALID, "axis %lld out of range for rank %d",
                       (long long)axis, (int)rank);
    *out = (int32_t)(axis < 0 ? axis + rank : axis);
    return HG_OK;
}

hg_tensor *ox_reshape(ox_run *r, const ox_node *n, hg_tensor *x, int32_t ndim, const int64_t *dims)
{
    if (!x)
        return NULL;
    if (ndim > HG_MAX_DIMS) {
        ox_fail(r, n, HG_ERR_UNSUPPORTED, "a result of %d dimensions (at most %d supported)",
                (int)ndim, HG_MAX_DIMS);
        return NULL;
    }
    int64_t one = 1;
    if (ndim == x->ndim && memcmp(dims, x->shape, sizeof(int64_t) * (size_t)ndim) == 0)
        return x;
    return hg_reshape(r->ctx, x, ndim ? ndim : 1, ndim ? dims : &one);
}
