/* Helpers shared by the pooling / upsampling / normalization / dropout tests. */
#ifndef HINGE_TESTS_POOLNORM_COMMON_H
#define HINGE_TESTS_POOLNORM_COMMON_H

#include "test_util.h"

#include <stdarg.h>
#include <string.h>

#define POOLNORM_FIXTURE "torch/poolnorm.safetensors"

/* The fixture tensor "<fmt...>", or NULL when absent (tables end at the first missing case). */
static inline hg_tensor *fx(const hg_params *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline hg_tensor *fx(const hg_params *p, const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return hg_params_get(p, name);
}

/* Distinct values spaced by `gap`, in random order (no ties: max pooling is differentiable at
 * every point and finite differences smaller than gap/2 do not move the argmax). */
static inline void fill_distinct(hg_tensor *t, uint64_t seed, float gap)
{
    int64_t n = t->numel;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    hg_rng r = hg_rng_new(seed);
    hg_rng_shuffle(&r, idx, n);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = ((float)idx[i] - 0.5f * (float)n) * gap;
    free(idx);
}

/* Compares n floats against a reference: relative error (max |a-b| / max |b|) <= tol.
 * Updates *worst with the error and reports the case on failure. */
static inline void check_close(const char *what, const float *got, const hg_tensor *ref,
                               double tol, double *worst)
{
    hg_test_checks++;
    if (!got) {
        hg_test_failures++;
        fprintf(stderr, "%s: no values (%s)\n", what, hg_error_message());
        return;
    }
    double e = hg_test_rel_err(got, ref->data, ref->numel);
    if (e > *worst)
        *worst = e;
    if (!(e <= tol)) {
        hg_test_failures++;
        fprintf(stderr, "%s: relative error %.3g > %.3g\n", what, e, tol);
    }
}

/* Zeroes (and allocates) the gradient of a heap tensor and marks it as requiring one. */
static inline void want_grad(hg_tensor *t)
{
    if (!t)
        return;
    t->requires_grad = true;
    if (t->grad)
        memset(t->grad, 0, (size_t)hg_tensor_nfloats(t) * sizeof(float));
}

#endif
