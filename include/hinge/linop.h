/* Linear operators: the one mechanism under all physics (DESIGN.md).
 *
 * A linear operator maps one item of shape in_shape to one item of shape out_shape (e.g. an
 * image [H, W] to a sinogram [angles, detectors], or a complex image [H, W] to multi-coil
 * k-space [coils, H, W]). It has an exact adjoint, optionally a cheaper normal operator, and
 * composes and scales. hg_linop_apply turns it into a differentiable op over a batch
 * [leading dims..., *in_shape] whose backward pass is the adjoint; classical solvers
 * (include/hinge/solvers.h) take it directly.
 *
 * Operators may keep scratch buffers allocated at creation: calls on one operator are not
 * thread-safe, and operators parallelize internally with OpenMP.
 */
#ifndef HINGE_LINOP_H
#define HINGE_LINOP_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_linop hg_linop;

/* y = A x and x = A^H y over one item; the output buffer is overwritten. */
typedef hg_status (*hg_linop_fn)(const hg_linop *op, const float *in, float *out);

struct hg_linop {
    char name[64];
    hg_dtype in_dtype, out_dtype;
    int32_t in_ndim, out_ndim;
    int64_t in_shape[HG_MAX_DIMS];
    int64_t out_shape[HG_MAX_DIMS];
    hg_linop_fn forward;
    hg_linop_fn adjoint;
    hg_linop_fn normal;            /* A^H A, optional (NULL: adjoint after forward) */
    void (*destroy)(hg_linop *op); /* frees data; NULL if nothing to free */
    void *data;                    /* operator-specific */
};

/* Allocates an operator with the given shapes; the caller fills forward/adjoint/data. */
hg_linop *hg_linop_new(const char *name, hg_dtype in_dtype, int in_ndim, const int64_t *in_shape,
                       hg_dtype out_dtype, int out_ndim, const int64_t *out_shape);
void hg_linop_free(hg_linop *op); /* NULL-safe; calls destroy */

/* Floats in one input / output item (complex counts twice). */
int64_t hg_linop_in_floats(const hg_linop *op);
int64_t hg_linop_out_floats(const hg_linop *op);

hg_status hg_linop_forward(const hg_linop *op, const float *x, float *y);
hg_status hg_linop_adjoint(const hg_linop *op, const float *y, float *x);
hg_status hg_linop_normal(const hg_linop *op, const float *x, float *y);

/* A∘B (B applied first). Borrows A and B: they must outlive the composition. */
hg_linop *hg_linop_compose(const hg_linop *a, const hg_linop *b);
/* s·A. Borrows A. */
hg_linop *hg_linop_scale(const hg_linop *a, float s);

/* Largest singular value ||A||_2 by power iteration on A^H A (seeded). */
hg_status hg_linop_norm(const hg_linop *op, int iterations, uint64_t seed, double *norm);

/* Adjoint test on random inputs: returns |<Ax,y> - <x,A^H y>| / (||Ax|| ||y||). */
hg_status hg_linop_adjoint_error(const hg_linop *op, uint64_t seed, double *rel_err);

/* The operator as a differentiable op: x [lead..., *in_shape] -> [lead..., *out_shape];
 * backward applies the adjoint. `adjoint` true applies A^H instead (backward: A). */
hg_tensor *hg_linop_apply(hg_ctx *ctx, const hg_linop *op, hg_tensor *x, bool adjoint);

#ifdef __cplusplus
}
#endif
#endif
