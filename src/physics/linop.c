/* Linear operator core: creation, composition, scaling, norm, adjoint test, and the adapter
 * that makes any operator a differentiable op (backward = adjoint). */
#include "hinge/linop.h"

#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hg_linop *hg_linop_new(const char *name, hg_dtype in_dtype, int in_ndim, const int64_t *in_shape,
                       hg_dtype out_dtype, int out_ndim, const int64_t *out_shape)
{
    if (in_ndim < 1 || in_ndim > HG_MAX_DIMS || out_ndim < 1 || out_ndim > HG_MAX_DIMS ||
        hg_shape_numel(in_ndim, in_shape) <= 0 || hg_shape_numel(out_ndim, out_shape) <= 0) {
        hg_error(HG_ERR_INVALID, "linear operator %s: invalid input or output shape", name);
        return NULL;
    }
    hg_linop *op = calloc(1, sizeof *op);
    if (!op) {
        hg_error(HG_ERR_NOMEM, "linear operator %s: out of memory", name);
        return NULL;
    }
    snprintf(op->name, sizeof op->name, "%s", name);
    op->in_dtype = in_dtype;
    op->out_dtype = out_dtype;
    op->in_ndim = in_ndim;
    op->out_ndim = out_ndim;
    memcpy(op->in_shape, in_shape, (size_t)in_ndim * sizeof *in_shape);
    memcpy(op->out_shape, out_shape, (size_t)out_ndim * sizeof *out_shape);
    return op;
}

void hg_linop_free(hg_linop *op)
{
    if (!op)
        return;
    if (op->destroy)
        op->destroy(op);
    free(op);
}

int64_t hg_linop_in_floats(const hg_linop *op)
{
    return hg_shape_numel(op->in_ndim, op->in_shape) * (op->in_dtype == HG_C64 ? 2 : 1);
}

int64_t hg_linop_out_floats(const hg_linop *op)
{
    return hg_shape_numel(op->out_ndim, op->out_shape) * (op->out_dtype == HG_C64 ? 2 : 1);
}

hg_status hg_linop_forward(const hg_linop *op, const float *x, float *y)
{
    return op->forward(op, x, y);
}

hg_status hg_linop_adjoint(const hg_linop *op, const float *y, float *x)
{
    return op->adjoint(op, y, x);
}

hg_status hg_linop_normal(const hg_linop *op, const float *x, float *y)
{
    if (op->normal)
        return op->normal(op, x, y);
    float *tmp = hg_malloc((size_t)hg_linop_out_floats(op) * sizeof(float));
    if (!tmp)
        return HG_ERR_NOMEM;
    hg_status s = op->forward(op, x, tmp);
    if (s == HG_OK)
        s = op->adjoint(op, tmp, y);
    hg_free(tmp);
    return s;
}

/* ---- composition and scaling ----------------------------------------------------------- */

typedef struct {
    const hg_linop *a, *b;
    float *mid; /* output of b */
    float scale;
} chain_data;

static hg_status chain_forward(const hg_linop *op, const float *x, float *y)
{
    chain_data *d = op->data;
    if (!d->b) {
        hg_status s = d->a->forward(d->a, x, y);
        int64_t n = hg_linop_out_floats(op);
        for (int64_t i = 0; s == HG_OK && i < n; i++)
            y[i] *= d->scale;
        return s;
    }
    hg_status s = d->b->forward(d->b, x, d->mid);
    return s != HG_OK ? s : d->a->forward(d->a, d->mid, y);
}

static hg_status chain_adjoint(const hg_linop *op, const float *y, float *x)
{
    chain_data *d = op->data;
    if (!d->b) {
        hg_status s = d->a->adjoint(d->a, y, x);
        int64_t n = hg_linop_in_floats(op);
        for (int64_t i = 0; s == HG_OK && i < n; i++)
            x[i] *= d->scale;
        return s;
    }
    hg_status s = d->a->adjoint(d->a, y, d->mid);
    return s != HG_OK ? s : d->b->adjoint(d->b, d->mid, x);
}

static void chain_destroy(hg_linop *op)
{
    chain_data *d = op->data;
    if (d)
        hg_free(d->mid);
    free(d);
}

hg_linop *hg_linop_compose(const hg_linop *a, const hg_linop *b)
{
    if (!a || !b)
        return NULL;
    char name[64];
    snprintf(name, sizeof name, "%.30s*%.30s", a->name, b->name);
    bool match = a->in_dtype == b->out_dtype && a->in_ndim == b->out_ndim;
    for (int i = 0; match && i < a->in_ndim; i++)
        match = a->in_shape[i] == b->out_shape[i];
    if (!match) {
        hg_error(HG_ERR_INVALID,
                 "compose %s after %s: %s takes %lld values (%s), %s gives %lld (%s)", a->name,
                 b->name, a->name, (long long)hg_linop_in_floats(a),
                 a->in_dtype == HG_C64 ? "complex" : "real", b->name,
                 (long long)hg_linop_out_floats(b), b->out_dtype == HG_C64 ? "complex" : "real");
        return NULL;
    }
    hg_linop *op = hg_linop_new(name, b->in_dtype, b->in_ndim, b->in_shape, a->out_dtype,
                                a->out_ndim, a->out_shape);
    chain_data *d = op ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        hg_linop_free(op);
        hg_error(HG_ERR_NOMEM, "compose %s: out of memory", name);
        return NULL;
    }
    op->data = d;
    op->destroy = chain_destroy;
    d->a = a;
    d->b = b;
    d->scale = 1.0f;
    d->mid = hg_malloc((size_t)hg_linop_out_floats(b) * sizeof(float));
    if (!d->mid) {
        hg_linop_free(op);
        return NULL;
    }
    op->forward = chain_forward;
    op->adjoint = chain_adjoint;
    return op;
}

hg_linop *hg_linop_scale(const hg_linop *a, float s)
{
    if (!a)
        return NULL;
    char name[64];
    snprintf(name, sizeof name, "%g*%.50s", (double)s, a->name);
    hg_linop *op = hg_linop_new(name, a->in_dtype, a->in_ndim, a->in_shape, a->out_dtype,
                                a->out_ndim, a->out_shape);
    chain_data *d = op ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        hg_linop_free(op);
        hg_error(HG_ERR_NOMEM, "scale %s: out of memory", name);
        return NULL;
    }
    d->a = a;
    d->scale = s;
    op->data = d;
    op->destroy = chain_destroy;
    op->forward = chain_forward;
    op->adjoint = chain_adjoint;
    return op;
}

/* ---- norm and adjoint test ------------------------------------------------------------- */

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

hg_status hg_linop_norm(const hg_linop *op, int iterations, uint64_t seed, double *norm)
{
    int64_t n = hg_linop_in_floats(op);
    float *x = hg_malloc((size_t)n * sizeof(float)), *y = hg_malloc((size_t)n * sizeof(float));
    if (!x || !y) {
        hg_free(x), hg_free(y);
        return HG_ERR_NOMEM;
    }
    hg_rng rng = hg_rng_new(seed);
    hg_rng_fill_normal(&rng, x, n, 0, 1);
    double lambda = 0.0;
    hg_status s = HG_OK;
    for (int it = 0; it < iterations && s == HG_OK; it++) {
        double nx = sqrt(dot(x, x, n));
        if (nx == 0.0)
            break;
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(x[i] / nx);
        s = hg_linop_normal(op, x, y);
        lambda = dot(x, y, n); /* Rayleigh quotient of A^H A */
        float *t = x;
        x = y;
        y = t;
    }
    hg_free(x), hg_free(y);
    if (s == HG_OK)
        *norm = sqrt(fmax(lambda, 0.0));
    return s;
}

hg_status hg_linop_adjoint_error(const hg_linop *op, uint64_t seed, double *rel_err)
{
    int64_t n = hg_linop_in_floats(op), m = hg_linop_out_floats(op);
    float *x = hg_malloc((size_t)n * sizeof(float)), *ahy = hg_malloc((size_t)n * sizeof(float));
    float *y = hg_malloc((size_t)m * sizeof(float)), *ax = hg_malloc((size_t)m * sizeof(float));
    hg_status s = HG_OK;
    if (!x || !ahy || !y || !ax)
        s = HG_ERR_NOMEM;
    if (s == HG_OK) {
        hg_rng rng = hg_rng_new(seed);
        hg_rng_fill_normal(&rng, x, n, 0, 1);
        hg_rng_fill_normal(&rng, y, m, 0, 1);
        s = op->forward(op, x, ax);
        if (s == HG_OK)
            s = op->adjoint(op, y, ahy);
    }
    if (s == HG_OK) {
        double lhs = dot(ax, y, m), rhs = dot(x, ahy, n);
        double scale = sqrt(dot(ax, ax, m)) * sqrt(dot(y, y, m));
        *rel_err = scale > 0 ? fabs(lhs - rhs) / scale : fabs(lhs - rhs);
    }
    hg_free(x), hg_free(ahy), hg_free(y), hg_free(ax);
    return s;
}

/* ---- the operator as a differentiable op ----------------------------------------------- */

typedef struct {
    const hg_linop *op;
    bool adjoint;
} apply_state;

static hg_status apply_items(const hg_linop *op, bool adjoint, const float *in, float *out,
                             int64_t items)
{
    int64_t nin = adjoint ? hg_linop_out_floats(op) : hg_linop_in_floats(op);
    int64_t nout = adjoint ? hg_linop_in_floats(op) : hg_linop_out_floats(op);
    for (int64_t b = 0; b < items; b++) {
        hg_status s = adjoint ? op->adjoint(op, in + b * nin, out + b * nout)
                              : op->forward(op, in + b * nin, out + b * nout);
        if (s != HG_OK)
            return s;
    }
    return HG_OK;
}

static hg_status apply_backward(hg_ctx *ctx, hg_node *n)
{
    const apply_state *st = n->state;
    hg_tensor *x = n->in[0];
    float *gx = hg_grad(ctx, x);
    float *tmp = hg_ctx_alloc(ctx, (size_t)hg_tensor_nfloats(x) * sizeof(float));
    if (!gx || !tmp)
        return hg_error_status();
    int64_t items = x->numel / hg_shape_numel(st->adjoint ? st->op->out_ndim : st->op->in_ndim,
                                              st->adjoint ? st->op->out_shape : st->op->in_shape);
    hg_status s = apply_items(st->op, !st->adjoint, n->out->grad, tmp, items);
    if (s != HG_OK)
        return s;
    int64_t nf = hg_tensor_nfloats(x);
    for (int64_t i = 0; i < nf; i++)
        gx[i] += tmp[i];
    return HG_OK;
}

hg_tensor *hg_linop_apply(hg_ctx *ctx, const hg_linop *op, hg_tensor *x, bool adjoint)
{
    if (!x || !op) {
        if (hg_error_status() == HG_OK)
            hg_error(HG_ERR_INVALID, "linop apply: NULL input");
        return NULL;
    }
    int item_nd = adjoint ? op->out_ndim : op->in_ndim;
    const int64_t *item_shape = adjoint ? op->out_shape : op->in_shape;
    hg_dtype in_dtype = adjoint ? op->out_dtype : op->in_dtype;
    int res_nd = adjoint ? op->in_ndim : op->out_ndim;
    const int64_t *res_shape = adjoint ? op->in_shape : op->out_shape;
    int lead = x->ndim - item_nd;
    bool ok = lead >= 0 && x->dtype == in_dtype;
    for (int i = 0; ok && i < item_nd; i++)
        ok = x->shape[lead + i] == item_shape[i];
    if (!ok) {
        char got[96], want[96] = "[..., ";
        size_t at = strlen(want);
        for (int i = 0; i < item_nd; i++)
            at += (size_t)snprintf(want + at, sizeof want - at, i ? ", %lld" : "%lld",
                                   (long long)item_shape[i]);
        snprintf(want + at, sizeof want - at, "]");
        hg_error(HG_ERR_INVALID, "%s%s: %s: expected %s shape %s, got %s %s", op->name,
                 adjoint ? " (adjoint)" : "", hg_tensor_label(x),
                 in_dtype == HG_C64 ? "complex" : "real", want,
                 x->dtype == HG_C64 ? "complex" : "real", hg_shape_str(x, got, sizeof got));
        return NULL;
    }
    if (lead + res_nd > HG_MAX_DIMS) {
        hg_error(HG_ERR_INVALID, "%s: result would have %d dimensions, at most %d", op->name,
                 lead + res_nd, HG_MAX_DIMS);
        return NULL;
    }
    int64_t shape[HG_MAX_DIMS];
    int64_t items = 1;
    for (int i = 0; i < lead; i++) {
        shape[i] = x->shape[i];
        items *= x->shape[i];
    }
    for (int i = 0; i < res_nd; i++)
        shape[lead + i] = res_shape[i];
    if (lead == 0) { /* a single unbatched item */
        items = 1;
    }
    hg_tensor *out = hg_tensor_empty(ctx, adjoint ? op->in_dtype : op->out_dtype, lead + res_nd,
                                     shape);
    if (!out)
        return NULL;
    if (apply_items(op, adjoint, x->data, out->data, items) != HG_OK)
        return NULL;
    hg_node *node = hg_tape_record(ctx, op->name, apply_backward, out, 1, &x);
    if (node) {
        apply_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        st->op = op;
        st->adjoint = adjoint;
        node->state = st;
    }
    return out;
}
