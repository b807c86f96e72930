/* Private vector kernels and option handling shared by the solvers (src/solvers/).
 *
 * Vectors are float arrays of one operator item (complex interleaved); inner products use the
 * real part Re<a, b>, which is the ordinary dot product over the floats. Reductions accumulate
 * in double over fixed blocks and combine the block sums in order, so a solver gives the same
 * iterates for any thread count. */
#ifndef HINGE_SOLVERS_VEC_H
#define HINGE_SOLVERS_VEC_H

#include "hinge/solvers.h"

double hg_vec_dot(const float *a, const float *b, int64_t n);
double hg_vec_nrm2(const float *a, int64_t n);
/* ||a - b||_2 without a temporary. */
double hg_vec_dist(const float *a, const float *b, int64_t n);
void hg_vec_copy(float *dst, const float *src, int64_t n);
void hg_vec_zero(float *x, int64_t n);
/* y += a x */
void hg_vec_axpy(float *y, double a, const float *x, int64_t n);
/* y = x + a y */
void hg_vec_xpay(float *y, double a, const float *x, int64_t n);
/* out = a - b */
void hg_vec_sub(float *out, const float *a, const float *b, int64_t n);
void hg_vec_scale(float *x, double a, int64_t n);
void hg_vec_clamp_nonneg(float *x, int64_t n);
/* Fixed blocks for deterministic reductions written elsewhere: a vector of n floats splits
 * into (n + len - 1) / len <= HG_VEC_MAX_BLOCKS blocks of len = hg_vec_block_len(n) floats;
 * reduce each block serially, then add the block results in order. */
#define HG_VEC_MAX_BLOCKS 256
int64_t hg_vec_block_len(int64_t n);

/* Options after defaults and validation. */
typedef struct hg_solver_cfg {
    int32_t max_iter;
    double tol;
    bool nonneg;
    int (*callback)(int32_t iter, double residual, void *user);
    void *user;
} hg_solver_cfg;

/* Validates `opts` (NULL: defaults) for solver `who`; sets the error message on failure. */
hg_status hg_solver_cfg_init(hg_solver_cfg *cfg, const hg_solver_opts *opts, const char *who);
/* Checks that the operator, y and x are not NULL; names `who` and the operator. */
hg_status hg_solver_check_args(const char *who, const hg_linop *a, const void *y, const void *x);
/* Fills info (if not NULL). */
void hg_solver_info_set(hg_solver_info *info, int32_t iterations, double residual,
                        double objective);
/* Allocates `count` work vectors with the given float counts in one block (one malloc per
 * solver call); returns the block to pass to hg_free, or NULL with the error set. */
float *hg_solver_work(const char *who, int count, const int64_t *sizes, float **vecs);

/* Operator norm ||A|| for step sizes: power iteration (HG_SOLVER_NORM_ITERS iterations, fixed
 * seed) enlarged by HG_SOLVER_NORM_MARGIN, because the Rayleigh quotient approaches the
 * largest singular value from below and a step size computed from an underestimate can
 * diverge. */
/* "real [64, 64]" into buf; returns buf. */
char *hg_solver_shape_str(hg_dtype dtype, int ndim, const int64_t *shape, char *buf, size_t size);
/* Whether two (dtype, shape) pairs describe the same vector space. */
bool hg_solver_same_space(hg_dtype da, int nda, const int64_t *sa, hg_dtype db, int ndb,
                          const int64_t *sb);

#define HG_SOLVER_NORM_ITERS 30
#define HG_SOLVER_NORM_MARGIN 1.01
hg_status hg_solver_norm(const char *who, const hg_linop *a, double *norm);

#endif
