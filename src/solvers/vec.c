/* Vector kernels and option handling for the solvers (see vec.h). */
#include "solvers/vec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Reductions split the vector into at most VEC_MAX_BLOCKS fixed blocks of at least
 * VEC_MIN_BLOCK floats: the split depends only on n, never on the thread count, so the sum is
 * reproducible. The partial sums live on the stack (no allocation per call). */
#define VEC_MAX_BLOCKS HG_VEC_MAX_BLOCKS
#define VEC_MIN_BLOCK 8192
/* Below this many floats the element-wise kernels stay single-threaded. */
#define VEC_PAR_MIN 32768

int64_t hg_vec_block_len(int64_t n)
{
    int64_t len = (n + VEC_MAX_BLOCKS - 1) / VEC_MAX_BLOCKS;
    return len < VEC_MIN_BLOCK ? VEC_MIN_BLOCK : len;
}

double hg_vec_dot(const float *a, const float *b, int64_t n)
{
    double part[VEC_MAX_BLOCKS];
    int64_t len = hg_vec_block_len(n), nb = (n + len - 1) / len;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t blk = 0; blk < nb; blk++) {
        int64_t lo = blk * len, hi = lo + len < n ? lo + len : n;
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++)
            s += (double)a[i] * (double)b[i];
        part[blk] = s;
    }
    double s = 0.0;
    for (int64_t blk = 0; blk < nb; blk++)
        s += part[blk];
    return s;
}

double hg_vec_nrm2(const float *a, int64_t n) { return sqrt(hg_vec_dot(a, a, n)); }

double hg_vec_dist(const float *a, const float *b, int64_t n)
{
    double part[VEC_MAX_BLOCKS];
    int64_t len = hg_vec_block_len(n), nb = (n + len - 1) / len;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t blk = 0; blk < nb; blk++) {
        int64_t lo = blk * len, hi = lo + len < n ? lo + len : n;
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++) {
            double d = (double)a[i] - (double)b[i];
            s += d * d;
        }
        part[blk] = s;
    }
    double s = 0.0;
    for (int64_t blk = 0; blk < nb; blk++)
        s += part[blk];
    return sqrt(s);
}

void hg_vec_copy(float *dst, const float *src, int64_t n)
{
    if (dst != src)
        memcpy(dst, src, (size_t)n * sizeof(float));
}

void hg_vec_zero(float *x, int64_t n) { memset(x, 0, (size_t)n * sizeof(float)); }

void hg_vec_axpy(float *y, double a, const float *x, int64_t n)
{
    float af = (float)a;
#pragma omp parallel for schedule(static) if (n > VEC_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] += af * x[i];
}

void hg_vec_xpay(float *y, double a, const float *x, int64_t n)
{
    float af = (float)a;
#pragma omp parallel for schedule(static) if (n > VEC_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] + af * y[i];
}

void hg_vec_sub(float *out, const float *a, const float *b, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > VEC_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] - b[i];
}

void hg_vec_scale(float *x, double a, int64_t n)
{
    float af = (float)a;
#pragma omp parallel for schedule(static) if (n > VEC_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        x[i] *= af;
}

void hg_vec_clamp_nonneg(float *x, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > VEC_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* ---- options, arguments, work memory ---------------------------------------------------- */

hg_status hg_solver_cfg_init(hg_solver_cfg *cfg, const hg_solver_opts *opts, const char *who)
{
    hg_solver_opts def = {0};
    if (!opts)
        opts = &def;
    if (opts->max_iter < 0)
        return hg_error(HG_ERR_INVALID, "%s: max_iter must be positive (0 for the default 30), got %d",
                        who, (int)opts->max_iter);
    if (!(opts->tol >= 0.0) || isinf(opts->tol))
        return hg_error(HG_ERR_INVALID, "%s: tol must be finite and >= 0, got %g", who,
                        opts->tol);
    cfg->max_iter = opts->max_iter ? opts->max_iter : 30;
    cfg->tol = opts->tol;
    cfg->nonneg = opts->nonneg;
    cfg->callback = opts->callback;
    cfg->user = opts->user;
    return HG_OK;
}

hg_status hg_solver_check_args(const char *who, const hg_linop *a, const void *y, const void *x)
{
    if (!a)
        return hg_error(HG_ERR_INVALID, "%s: operator is NULL", who);
    if (!y)
        return hg_error(HG_ERR_INVALID, "%s: right-hand side (%s output) is NULL", who, a->name);
    if (!x)
        return hg_error(HG_ERR_INVALID, "%s: x (%s input) is NULL", who, a->name);
    return HG_OK;
}

void hg_solver_info_set(hg_solver_info *info, int32_t iterations, double residual,
                        double objective)
{
    if (!info)
        return;
    info->iterations = iterations;
    info->residual = residual;
    info->objective = objective;
}

float *hg_solver_work(const char *who, int count, const int64_t *sizes, float **vecs)
{
    /* Each vector starts on a 64-byte boundary (16 floats) for vectorized loops. */
    int64_t total = 0;
    for (int i = 0; i < count; i++)
        total += (sizes[i] + 15) / 16 * 16;
    float *block = hg_malloc((size_t)total * sizeof(float));
    if (!block) {
        hg_error_context(HG_ERR_NOMEM, "%s: work vectors (%lld floats)", who, (long long)total);
        return NULL;
    }
    int64_t at = 0;
    for (int i = 0; i < count; i++) {
        vecs[i] = block + at;
        at += (sizes[i] + 15) / 16 * 16;
    }
    return block;
}

hg_status hg_solver_norm(const char *who, const hg_linop *a, double *norm)
{
    double n = 0.0;
    hg_status s = hg_linop_norm(a, HG_SOLVER_NORM_ITERS, 0, &n);
    if (s != HG_OK)
        return hg_error_context(s, "%s: norm of %s", who, a->name);
    if (!(n > 0.0) || !isfinite(n))
        return hg_error(HG_ERR_NUMERIC, "%s: operator %s has norm %g; expected a finite positive norm",
                        who, a->name, n);
    *norm = n * HG_SOLVER_NORM_MARGIN;
    return HG_OK;
}

char *hg_solver_shape_str(hg_dtype dtype, int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "%s [", dtype == HG_C64 ? "complex" : "real");
    for (int i = 0; i < ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

bool hg_solver_same_space(hg_dtype da, int nda, const int64_t *sa, hg_dtype db, int ndb,
                          const int64_t *sb)
{
    if (da != db || nda != ndb)
        return false;
    for (int i = 0; i < nda; i++)
        if (sa[i] != sb[i])
            return false;
    return true;
}
