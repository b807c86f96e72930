/* Finite-difference check of an op's (or a network's) vector-Jacobian product. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* L(x) = <r, f(x)>, accumulated in double. */
static double projected_output(hg_gradcheck_fn fn, hg_tensor **inputs, void *user,
                               const float *r, int64_t nr, hg_ctx *ctx, hg_status *status)
{
    hg_ctx_reset(ctx);
    hg_ctx_set_grad(ctx, false);
    hg_tensor *out = fn(ctx, inputs, user);
    if (!out) {
        *status = hg_error_status() ? hg_error_status() : HG_ERR_INVALID;
        return 0.0;
    }
    if (hg_tensor_nfloats(out) != nr) {
        *status = hg_error(HG_ERR_STATE, "gradcheck: output size changed between calls");
        return 0.0;
    }
    double acc = 0.0;
    for (int64_t i = 0; i < nr; i++)
        acc += (double)r[i] * (double)out->data[i];
    return acc;
}

hg_status hg_gradcheck(hg_gradcheck_fn fn, hg_tensor **inputs, int n_inputs, void *user,
                       const hg_gradcheck_opts *opts, hg_gradcheck_result *result)
{
    hg_gradcheck_opts o = {1e-2, 2e-2, 1e-3, 1234, 4096};
    if (opts) {
        if (opts->eps > 0) o.eps = opts->eps;
        if (opts->rtol > 0) o.rtol = opts->rtol;
        if (opts->atol > 0) o.atol = opts->atol;
        if (opts->seed) o.seed = opts->seed;
        if (opts->max_checks > 0) o.max_checks = opts->max_checks;
    }
    hg_gradcheck_result res;
    memset(&res, 0, sizeof res);
    res.worst_input = -1;
    hg_status status = HG_OK;
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();

    /* Analytic: one backward pass seeded with a random projection r. */
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i]->grad)
            memset(inputs[i]->grad, 0, (size_t)hg_tensor_nfloats(inputs[i]) * sizeof(float));
    hg_ctx_set_grad(ctx, true);
    hg_tensor *out = fn(ctx, inputs, user);
    if (!out) {
        hg_ctx_free(ctx);
        return hg_error_status() ? hg_error_status() : HG_ERR_INVALID;
    }
    int64_t nr = hg_tensor_nfloats(out);
    float *r = hg_malloc((size_t)nr * sizeof(float));
    if (!r) {
        hg_ctx_free(ctx);
        return HG_ERR_NOMEM;
    }
    hg_rng rng = hg_rng_new(o.seed);
    hg_rng_fill_uniform(&rng, r, nr, -1.0f, 1.0f);
    status = hg_backward_seed(ctx, out, r);

    for (int i = 0; status == HG_OK && i < n_inputs; i++) {
        hg_tensor *x = inputs[i];
        if (!x->requires_grad)
            continue;
        int64_t n = hg_tensor_nfloats(x);
        double *analytic = malloc((size_t)n * sizeof(double));
        double *numeric = malloc((size_t)n * sizeof(double));
        if (!analytic || !numeric) {
            free(analytic), free(numeric);
            status = hg_error(HG_ERR_NOMEM, "gradcheck: out of memory");
            break;
        }
        for (int64_t j = 0; j < n; j++)
            analytic[j] = x->grad ? (double)x->grad[j] : 0.0;
        /* Check every coordinate up to max_checks, else an evenly strided subset. */
        int64_t step = n > o.max_checks ? (n + o.max_checks - 1) / o.max_checks : 1;
        double scale = 0.0;
        for (int64_t j = 0; j < n && status == HG_OK; j += step) {
            float saved = x->data[j];
            double h = o.eps * fmax(1.0, fabs((double)saved));
            x->data[j] = (float)(saved + h);
            double hp = (double)x->data[j] - saved; /* the step actually taken in float */
            double lp = projected_output(fn, inputs, user, r, nr, ctx, &status);
            x->data[j] = (float)(saved - h);
            double hm = saved - (double)x->data[j];
            double lm = projected_output(fn, inputs, user, r, nr, ctx, &status);
            x->data[j] = saved;
            numeric[j] = (lp - lm) / (hp + hm);
            if (fabs(numeric[j]) > scale)
                scale = fabs(numeric[j]);
        }
        for (int64_t j = 0; j < n && status == HG_OK; j += step) {
            double err = fabs(analytic[j] - numeric[j]);
            double rel = err / fmax(fabs(numeric[j]), 1e-12);
            if (err > res.max_abs_err) {
                res.max_abs_err = err;
                res.worst_input = i;
                res.worst_index = j;
                res.analytic = analytic[j];
                res.numeric = numeric[j];
            }
            if (err > o.atol * fmax(scale, 1e-6) && rel > res.max_rel_err)
                res.max_rel_err = rel;
            if (err > o.atol * fmax(scale, 1e-6) + o.rtol * fabs(numeric[j]))
                status = hg_error(HG_ERR_NUMERIC,
                                  "gradcheck: input %d (%s) index %lld: analytic %.6g, numeric "
                                  "%.6g (|diff| %.3g)",
                                  i, hg_tensor_label(x), (long long)j, analytic[j], numeric[j],
                                  err);
        }
        free(analytic);
        free(numeric);
    }
    hg_free(r);
    hg_ctx_free(ctx);
    if (result)
        *result = res;
    return status;
}
