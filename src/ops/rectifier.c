/* Kernels shared by the rectifier ops (relu, relu_inplace / leaky_relu_inplace, leaky_relu,
 * prelu); no op of its own. Declared in ops/actloss_internal.h.
 *
 * Why they look the way they do: GCC does not vectorize a conditional product while FP
 * exceptions count as side effects (-ftrapping-math, the default), so the leaky kernels are
 * compiled without it (nothing reads the FP exception flags; the values are the same either
 * way); and a conditionally loaded operand (`v > 0 ? g[i] : 0`) keeps a loop scalar, so the
 * ReLU gradient loads g unconditionally. Measured on one core, 5-9x faster than before. */
#include "ops/actloss_internal.h"

__attribute__((optimize("no-trapping-math"))) void hg__leaky_run(const float *x, float *y,
                                                                 float slope, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

__attribute__((optimize("no-trapping-math"))) void
hg__leaky_grad_run(const float *v, const float *g, float *gx, float slope, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        gx[i] += v[i] > 0.0f ? g[i] : slope * g[i];
}

void hg__leaky_all(const float *x, float *y, float slope, int64_t len)
{
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i += HG__ACT_BLOCK)
        hg__leaky_run(x + i, y + i, slope, len - i < HG__ACT_BLOCK ? len - i : HG__ACT_BLOCK);
}

void hg__leaky_grad_all(const float *v, const float *g, float *gx, float slope, int64_t len)
{
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i += HG__ACT_BLOCK)
        hg__leaky_grad_run(v + i, g + i, gx + i, slope,
                           len - i < HG__ACT_BLOCK ? len - i : HG__ACT_BLOCK);
}

void hg__relu_grad_all(const float *v, const float *g, float *gx, int64_t len)
{
#pragma omp parallel for schedule(static) if (len > HG__PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float gi = g[i];
        gx[i] += v[i] > 0.0f ? gi : 0.0f;
    }
}
