/* Classical iterative reconstruction on linear operators (include/hinge/linop.h).
 * Vectors are one operator item (complex as interleaved floats; the real inner product
 * Re<a,b> makes every method valid for complex operators too). x holds the initial guess on
 * entry and the solution on return; it is updated in place, so a callback may read the
 * current iterate from it. Each call allocates its work vectors once (none per iteration);
 * reductions are deterministic for any thread count. Errors: HG_ERR_INVALID for bad
 * arguments (max_iter < 0, tol < 0, lambda < 0, mismatched spaces), HG_ERR_NUMERIC for
 * breakdown or non-finite iterates (x then holds the last iterate, possibly not finite). */
#ifndef HINGE_SOLVERS_H
#define HINGE_SOLVERS_H

#include "hinge/linop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_solver_opts {
    int32_t max_iter;   /* default 30 when 0 */
    double tol;         /* stop when the solver's residual falls below (0: run max_iter) */
    bool nonneg;        /* project onto x >= 0 (SIRT, PDHG, FISTA with W = NULL; real x) */
    /* Called after every iteration; a non-zero return stops the solver early. */
    int (*callback)(int32_t iter, double residual, void *user);
    void *user;
} hg_solver_opts;

typedef struct hg_solver_info {
    int32_t iterations;
    double residual;   /* the residual the solver stops on (see each solver) at the end */
    double objective;  /* where defined, else NAN */
} hg_solver_info;

/* Conjugate gradient on (M + lambda I) x = b for a self-adjoint positive (semi)definite M
 * given as a square operator (its forward is used; e.g. the normal operator of SENSE).
 * residual: ||b - (M + lambda) x|| / ||b||; objective: 1/2 <x, (M + lambda) x> - <b, x>. */
hg_status hg_cg(const hg_linop *m, const float *b, float *x, double lambda,
                const hg_solver_opts *opts, hg_solver_info *info);
/* CGLS: min ||A x - y||^2 + lambda ||x||^2. residual: ||A^H (y - A x) - lambda x|| /
 * ||A^H y|| (normal equations); objective: ||A x - y||^2 + lambda ||x||^2. */
hg_status hg_cgls(const hg_linop *a, const float *y, float *x, double lambda,
                  const hg_solver_opts *opts, hg_solver_info *info);
/* SIRT: x += C A^T R (y - A x), with R, C the inverse row and column sums of A (real,
 * A >= 0; zero sums get weight 0). residual: ||y - A x|| / ||y||; objective:
 * 1/2 ||y - A x||_R^2, which decreases monotonically. */
hg_status hg_sirt(const hg_linop *a, const float *y, float *x, const hg_solver_opts *opts,
                  hg_solver_info *info);
/* Chambolle-Pock PDHG for min 1/2 ||A x - y||^2 + lambda TV(x) (isotropic TV over the item's
 * last min(ndim, 3) dimensions; ndim <= 4), optionally x >= 0 (real x). K = [A; mu D] with
 * mu = ||A|| / ||D||; steps from a power-iteration norm with sigma tau ||K||^2 < 1 and an
 * adaptive sigma / tau balance (src/solvers/pdhg_tv.c). residual: the larger relative change
 * of the primal and dual iterates; objective: the primal objective. */
hg_status hg_pdhg_tv(const hg_linop *a, const float *y, float *x, double lambda,
                     const hg_solver_opts *opts, hg_solver_info *info);
/* FISTA for min 1/2 ||A x - y||^2 + lambda ||W x||_1 with W square and orthonormal (e.g. a
 * wavelet transform; W^H W = W W^H = I), so the prox is soft-thresholding in the W domain
 * (on magnitudes for complex coefficients). W = NULL is the identity; nonneg needs W = NULL
 * (HG_ERR_UNSUPPORTED otherwise). residual: ||x_k - x_{k-1}|| / ||x_k||; objective: the
 * cost above. */
hg_status hg_fista_l1(const hg_linop *a, const hg_linop *w, const float *y, float *x,
                      double lambda, const hg_solver_opts *opts, hg_solver_info *info);

/* Building blocks as operators. */
/* Forward differences with Neumann boundary over the last `dims` (1 to 3) dimensions of a
 * real or complex item: [*shape] -> [dims, *shape] (ndim <= 4); component d differentiates
 * along axis ndim - dims + d and is 0 at the last sample of that axis. */
hg_linop *hg_linop_gradient(hg_dtype dtype, int ndim, const int64_t *shape, int dims);
/* Its exact operator norm: sqrt(sum over the differentiated axes of 2 + 2 cos(pi / n)). */
double hg_linop_gradient_norm(int ndim, const int64_t *shape, int dims);
/* Orthonormal multi-level 1-D/2-D/3-D Daubechies wavelet transform (levels, taps 2 = Haar,
 * 4 = db2) with periodic extension over the last `dims` dimensions (sizes divisible by
 * 2^levels), real or complex; square (output shape = input shape) in the Mallat layout of
 * PyWavelets' coeffs_to_array(wavedecn(x, mode="periodization")); adjoint = inverse. */
hg_linop *hg_linop_wavelet(hg_dtype dtype, int ndim, const int64_t *shape, int dims, int levels,
                           int taps);

#ifdef __cplusplus
}
#endif
#endif
