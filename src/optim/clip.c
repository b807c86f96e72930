/* Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_) and NaN/Inf detection.
 *
 * The norm is accumulated in double over fixed chunks whose size depends only on the tensor
 * size, and the chunk sums are added in order, so the result does not depend on the number
 * of threads (an exact resume may run with another thread count). */
#include "optim/optim_internal.h"

#include <math.h>

#define CLIP_CHUNKS 256

typedef enum { NORM_P, NORM_INF, NORM_1, NORM_2 } norm_kind;

/* Eight interleaved double accumulators, summed in a fixed order: the lanes are independent,
 * so the loop vectorizes, and the result still depends only on the data. */
#define LANES 8
static double sum_sq(const float *g, int64_t lo, int64_t hi, bool squares)
{
    double acc[LANES] = {0};
    int64_t i = lo;
    for (; i + LANES <= hi; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double a = (double)g[i + j];
            acc[j] += squares ? a * a : fabs(a);
        }
    for (int j = 0; i < hi; i++, j++) {
        double a = (double)g[i];
        acc[j] += squares ? a * a : fabs(a);
    }
    double total = 0.0;
    for (int j = 0; j < LANES; j++)
        total += acc[j];
    return total;
}

static double chunk_reduce(const float *g, int64_t lo, int64_t hi, norm_kind k, double p)
{
    if (k == NORM_2 || k == NORM_1)
        return sum_sq(g, lo, hi, k == NORM_2);
    double acc = 0.0;
    for (int64_t i = lo; i < hi; i++) {
        double a = fabs((double)g[i]);
        if (k == NORM_INF)
            acc = a > acc || isnan(a) ? a : acc;
        else
            acc += pow(a, p);
    }
    return acc;
}

/* sum (or max for inf) over the tensor of |g|^p, deterministic across thread counts. */
static double tensor_reduce(const float *g, int64_t n, norm_kind k, double p)
{
    double part[CLIP_CHUNKS];
    int64_t chunk = (n + CLIP_CHUNKS - 1) / CLIP_CHUNKS;
    if (chunk < 4096)
        chunk = 4096;
    int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t lo = c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        part[c] = chunk_reduce(g, lo, hi, k, p);
    }
    double acc = 0.0;
    for (int64_t c = 0; c < nchunks; c++)
        acc = k == NORM_INF ? (part[c] > acc || isnan(part[c]) ? part[c] : acc) : acc + part[c];
    return acc;
}

static hg_status report_nonfinite(const char *name, const hg_tensor *t)
{
    int64_t n = hg_tensor_nfloats(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(t->grad[i]))
            return hg_error(HG_ERR_NUMERIC, "gradient of '%s' is %s at index %lld",
                            name, isnan(t->grad[i]) ? "NaN" : "Inf", (long long)i);
    return HG_OK;
}

hg_status hg_grads_check_finite(const hg_params *params)
{
    if (!params)
        return hg_error(HG_ERR_INVALID, "check finite: NULL parameter list");
    for (int i = 0; i < params->count; i++) {
        const hg_tensor *t = params->items[i].tensor;
        if (t->requires_grad && t->grad &&
            report_nonfinite(params->items[i].name, t) != HG_OK)
            return HG_ERR_NUMERIC;
    }
    return HG_OK;
}

hg_status hg_clip_grad_norm(hg_params *params, double max_norm, double norm_type,
                            double *total_norm)
{
    if (!params)
        return hg_error(HG_ERR_INVALID, "clip_grad_norm: NULL parameter list");
    if (!(max_norm >= 0.0) || isinf(max_norm))
        return hg_error(HG_ERR_INVALID, "clip_grad_norm: max_norm must be finite and >= 0, "
                        "got %g", max_norm);
    if (!(norm_type >= 1.0))
        return hg_error(HG_ERR_INVALID, "clip_grad_norm: norm_type must be >= 1 or INFINITY, "
                        "got %g", norm_type);
    norm_kind k = isinf(norm_type) ? NORM_INF
                  : norm_type == 1.0 ? NORM_1
                  : norm_type == 2.0 ? NORM_2
                                     : NORM_P;
    double acc = 0.0;
    for (int i = 0; i < params->count; i++) {
        hg_tensor *t = params->items[i].tensor;
        if (!t->requires_grad || !t->grad)
            continue;
        double r = tensor_reduce(t->grad, hg_tensor_nfloats(t), k, norm_type);
        if (!isfinite(r)) {
            /* Report which parameter broke; a finite tensor can overflow only for huge p. */
            if (report_nonfinite(params->items[i].name, t) != HG_OK)
                return hg_error_context(HG_ERR_NUMERIC, "clip_grad_norm");
            return hg_error(HG_ERR_NUMERIC, "clip_grad_norm: the %g-norm of the gradient of "
                            "'%s' overflows", norm_type, params->items[i].name);
        }
        acc = k == NORM_INF ? (r > acc ? r : acc) : acc + r;
    }
    double norm = k == NORM_INF || k == NORM_1 ? acc
                  : k == NORM_2              ? sqrt(acc)
                                             : pow(acc, 1.0 / norm_type);
    if (total_norm)
        *total_norm = norm;
    /* PyTorch's arithmetic, in float32: coef = reciprocal(norm + 1e-6) * max_norm, clamped
     * to 1 (a factor of exactly 1 leaves the gradients unchanged, so it is skipped). */
    float coef = (1.0f / ((float)norm + 1e-6f)) * (float)max_norm;
    if (!(coef < 1.0f))
        return HG_OK;
    for (int i = 0; i < params->count; i++) {
        hg_tensor *t = params->items[i].tensor;
        if (!t->requires_grad || !t->grad)
            continue;
        float *g = t->grad;
        int64_t n = hg_tensor_nfloats(t);
#pragma omp parallel for schedule(static) if (n > HG_OPTIM_PAR_MIN)
        for (int64_t j = 0; j < n; j++)
            g[j] *= coef;
    }
    return HG_OK;
}
