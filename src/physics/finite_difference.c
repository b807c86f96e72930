/* Finite-difference gradient: forward differences with Neumann boundary over the last `dims`
 * dimensions of a real or complex item, [*shape] -> [dims, *shape]. Component d holds the
 * differences along axis ndim - dims + d; the last sample along that axis has difference 0.
 *
 * The adjoint is the negative divergence, (D^T g)[k] = g[k-1] (k > 0) - g[k] (k < n-1).
 * ||D||^2 = sum over axes of 2 + 2 cos(pi / n_axis) (the largest eigenvalue of the path-graph
 * Laplacian on each axis; the Laplacians of different axes add), see hg_linop_gradient_norm. */
#include "hinge/solvers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int dims;
    int c; /* floats per element: 1 real, 2 complex */
    /* For component d: the item viewed as [outer, len, inner] along its axis (inner in floats). */
    int64_t outer[3], len[3], inner[3];
    int64_t nfloats; /* floats in one input item */
} grad_data;

static hg_status grad_forward(const hg_linop *op, const float *x, float *g)
{
    const grad_data *d = op->data;
    for (int k = 0; k < d->dims; k++) {
        float *out = g + (int64_t)k * d->nfloats;
        int64_t outer = d->outer[k], len = d->len[k], inner = d->inner[k];
#pragma omp parallel for collapse(2) schedule(static) if (d->nfloats > 32768)
        for (int64_t o = 0; o < outer; o++) {
            for (int64_t i = 0; i < len; i++) {
                const float *src = x + (o * len + i) * inner;
                float *dst = out + (o * len + i) * inner;
                if (i + 1 < len) {
                    for (int64_t e = 0; e < inner; e++)
                        dst[e] = src[inner + e] - src[e];
                } else {
                    for (int64_t e = 0; e < inner; e++)
                        dst[e] = 0.0f;
                }
            }
        }
    }
    return HG_OK;
}

static hg_status grad_adjoint(const hg_linop *op, const float *g, float *x)
{
    const grad_data *d = op->data;
    for (int k = 0; k < d->dims; k++) {
        const float *in = g + (int64_t)k * d->nfloats;
        int64_t outer = d->outer[k], len = d->len[k], inner = d->inner[k];
        bool first = k == 0;
#pragma omp parallel for collapse(2) schedule(static) if (d->nfloats > 32768)
        for (int64_t o = 0; o < outer; o++) {
            for (int64_t i = 0; i < len; i++) {
                const float *cur = in + (o * len + i) * inner;
                const float *prev = cur - inner;
                float *dst = x + (o * len + i) * inner;
                bool has_prev = i > 0, has_cur = i + 1 < len;
                for (int64_t e = 0; e < inner; e++) {
                    float v = (has_prev ? prev[e] : 0.0f) - (has_cur ? cur[e] : 0.0f);
                    dst[e] = first ? v : dst[e] + v;
                }
            }
        }
    }
    return HG_OK;
}

static void grad_destroy(hg_linop *op) { free(op->data); }

hg_linop *hg_linop_gradient(hg_dtype dtype, int ndim, const int64_t *shape, int dims)
{
    if (!shape || ndim < 1 || ndim + 1 > HG_MAX_DIMS) {
        hg_error(HG_ERR_INVALID, "gradient: item must have 1 to %d dimensions (the output adds one), got %d",
                 HG_MAX_DIMS - 1, ndim);
        return NULL;
    }
    if (dims < 1 || dims > 3 || dims > ndim) {
        hg_error(HG_ERR_INVALID, "gradient: dims must be 1, 2 or 3 and at most the item's %d dimensions, got %d",
                 ndim, dims);
        return NULL;
    }
    if (dtype != HG_F32 && dtype != HG_C64) {
        hg_error(HG_ERR_INVALID, "gradient: unknown dtype %d", (int)dtype);
        return NULL;
    }
    int64_t out_shape[HG_MAX_DIMS];
    out_shape[0] = dims;
    for (int i = 0; i < ndim; i++)
        out_shape[i + 1] = shape[i];
    hg_linop *op = hg_linop_new("gradient", dtype, ndim, shape, dtype, ndim + 1, out_shape);
    if (!op)
        return NULL;
    grad_data *d = calloc(1, sizeof *d);
    if (!d) {
        hg_linop_free(op);
        hg_error(HG_ERR_NOMEM, "gradient: out of memory");
        return NULL;
    }
    d->dims = dims;
    d->c = dtype == HG_C64 ? 2 : 1;
    d->nfloats = hg_linop_in_floats(op);
    for (int k = 0; k < dims; k++) {
        int axis = ndim - dims + k;
        int64_t outer = 1, inner = d->c;
        for (int i = 0; i < axis; i++)
            outer *= shape[i];
        for (int i = axis + 1; i < ndim; i++)
            inner *= shape[i];
        d->outer[k] = outer, d->len[k] = shape[axis], d->inner[k] = inner;
    }
    op->data = d;
    op->destroy = grad_destroy;
    op->forward = grad_forward;
    op->adjoint = grad_adjoint;
    return op;
}

double hg_linop_gradient_norm(int ndim, const int64_t *shape, int dims)
{
    double s = 0.0;
    for (int i = ndim - dims; i < ndim; i++)
        s += 2.0 + 2.0 * cos(3.14159265358979323846 / (double)shape[i]);
    return sqrt(s);
}
