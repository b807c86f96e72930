/* Classical iterative reconstruction on linear operators (include/hinge/linop.h).
 * Vectors are one operator item (complex as interleaved floats; the real inner product
 * Re<a,b> makes every method valid for complex operators too). x holds the initial guess on
 * entry and the solution on return. */
#ifndef HINGE_SOLVERS_H
#define HINGE_SOLVERS_H

#include "hinge/linop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_solver_opts {
    int32_t max_iter;   /* default 30 when 0 */
    double tol;         /* stop when the relative residual falls below (0: run max_iter) */
    bool nonneg;        /* project onto x >= 0 (SIRT, PDHG, FISTA) */
    /* Called after every iteration; a non-zero return stops the solver early. */
    int (*callback)(int32_t iter, double residual, void *user);
    void *user;
} hg_solver_opts;

typedef struct hg_solver_info {
    int32_t iterations;
    double residual;   /* relative residual (or objective decrease) at the end */
    double objective;  /* where defined, else NAN */
} hg_solver_info;

/* Conjugate gradient on (M + lambda I) x = b for a self-adjoint positive (semi)definite M
 * given as a square operator (its forward is used; e.g. the normal operator of SENSE). */
hg_status hg_cg(const hg_linop *m, const float *b, float *x, double lambda,
                const hg_solver_opts *opts, hg_solver_info *info);
/* CGLS: min ||A x - y||^2 + lambda ||x||^2. */
hg_status hg_cgls(const hg_linop *a, const float *y, float *x, double lambda,
                  const hg_solver_opts *opts, hg_solver_info *info);
/* SIRT: x += C A^T R (y - A x), with R, C the inverse row and column sums of A (A >= 0). */
hg_status hg_sirt(const hg_linop *a, const float *y, float *x, const hg_solver_opts *opts,
                  hg_solver_info *info);
/* Chambolle-Pock PDHG for min 1/2 ||A x - y||^2 + lambda TV(x) (isotropic TV over the item's
 * last 2 or 3 dimensions), optionally x >= 0. Step sizes from a power-iteration norm. */
hg_status hg_pdhg_tv(const hg_linop *a, const float *y, float *x, double lambda,
                     const hg_solver_opts *opts, hg_solver_info *info);
/* FISTA for min 1/2 ||A x - y||^2 + lambda ||W x||_1 with W orthonormal (e.g. a wavelet
 * transform; W^H W = I), so the prox is soft-thresholding in the W domain. */
hg_status hg_fista_l1(const hg_linop *a, const hg_linop *w, const float *y, float *x,
                      double lambda, const hg_solver_opts *opts, hg_solver_info *info);

/* Building blocks as operators. */
/* Forward differences with Neumann boundary over the last `dims` (1 to 3) dimensions of a
 * real or complex item: [*shape] -> [dims, *shape] (ndim <= 4); component d differentiates
 * along axis ndim - dims + d and is 0 at the last sample of that axis. */
hg_linop *hg_linop_gradient(hg_dtype dtype, int ndim, const int64_t *shape, int dims);
/* Its exact operator norm: sqrt(sum over the differentiated axes of 2 + 2 cos(pi / n)). */
double hg_linop_gradient_norm(int ndim, const int64_t *shape, int dims);
/* Orthonormal multi-level 2-D/3-D Daubechies wavelet transform (levels, taps 2 = Haar, 4 =
 * db2) with periodic extension over the last `dims` dimensions; sizes divisible by 2^levels. */
hg_linop *hg_linop_wavelet(hg_dtype dtype, int ndim, const int64_t *shape, int dims, int levels,
                           int taps);

#ifdef __cplusplus
}
#endif
#endif
