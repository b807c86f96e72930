/* pow_scalar and clamp: values against libm/definition, gradients against finite
 * differences, error paths. */
#include "test_util.h"

#include <math.h>

static float g_p, g_lo, g_hi;

static hg_tensor *run_pow(hg_ctx *ctx, hg_tensor **in, void *user)
{
    (void)user;
    return hg_pow_scalar(ctx, in[0], g_p);
}

static hg_tensor *run_clamp(hg_ctx *ctx, hg_tensor **in, void *user)
{
    (void)user;
    return hg_clamp(ctx, in[0], g_lo, g_hi);
}

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    /* values: positive bases for fractional powers, any sign for integer ones */
    const float powers[] = {2.0f, 3.0f, 0.5f, 1.5f, -1.0f, 0.0f, 1.0f};
    for (size_t k = 0; k < sizeof powers / sizeof powers[0]; k++) {
        g_p = powers[k];
        bool integer = floorf(g_p) == g_p;
        hg_tensor *x = hg_new(NULL, 3, 7);
        hg_test_fill(x, 11 + k, integer && g_p > 0 ? -2.0f : 0.3f, 2.0f);
        hg_tensor *y = hg_pow_scalar(ctx, x, g_p);
        CHECK(y != NULL);
        double err = 0;
        for (int64_t i = 0; y && i < x->numel; i++)
            err = fmax(err, fabs(y->data[i] - pow(x->data[i], g_p)) / fmax(1.0, fabs(pow(x->data[i], g_p))));
        CHECK_MSG(err < 1e-6, "pow %g: error %g", (double)g_p, err);
        x->requires_grad = true;
        hg_gradcheck_result r;
        hg_status s = hg_gradcheck(run_pow, &x, 1, NULL, NULL, &r);
        CHECK_MSG(s == HG_OK, "pow %g gradcheck: %s", (double)g_p, hg_error_message());
        hg_tensor_free(x);
    }
    /* derivative of 0^0.5 is undefined: no Inf/NaN may flow back */
    hg_ctx_set_grad(ctx, true);
    hg_tensor *z = hg_new(NULL, 2);
    z->requires_grad = true;
    hg_tensor *pz = hg_pow_scalar(ctx, z, 0.5f);
    CHECK_OK(hg_backward(ctx, hg_sum(ctx, pz)));
    CHECK(z->grad && isfinite(z->grad[0]) && z->grad[0] == 0.0f);
    hg_tensor_free(z);

    /* clamp: values exactly, gradient away from the kinks (the fill avoids lo/hi) */
    const float bounds[][2] = {{-0.5f, 0.5f}, {0.0f, 6.0f}, {-INFINITY, 0.25f}, {-0.2f, INFINITY}};
    for (size_t k = 0; k < 4; k++) {
        g_lo = bounds[k][0], g_hi = bounds[k][1];
        hg_tensor *x = hg_new(NULL, 4, 9);
        hg_test_fill(x, 40 + k, -1.0f, 1.0f);
        hg_tensor *y = hg_clamp(ctx, x, g_lo, g_hi);
        int bad = 0;
        for (int64_t i = 0; y && i < x->numel; i++)
            bad += y->data[i] != fminf(fmaxf(x->data[i], g_lo), g_hi);
        CHECK(y && bad == 0);
        /* keep the coordinates away from the kinks so finite differences are smooth */
        for (int64_t i = 0; i < x->numel; i++)
            if (fabsf(x->data[i] - g_lo) < 0.05f || fabsf(x->data[i] - g_hi) < 0.05f)
                x->data[i] += 0.1f;
        x->requires_grad = true;
        CHECK_OK(hg_gradcheck(run_clamp, &x, 1, NULL, NULL, NULL));
        hg_tensor_free(x);
    }
    hg_tensor *w = hg_new(ctx, 3);
    hg_tensor_set_name(w, "w");
    CHECK_NULL_WITH(hg_clamp(ctx, w, 1.0f, -1.0f), "clamp: w: expected lo <= hi, got lo 1, hi -1");
    CHECK_NULL_WITH(hg_clamp(ctx, NULL, 0.0f, 1.0f), "NULL");
    CHECK_NULL_WITH(hg_pow_scalar(ctx, hg_new_complex(ctx, 2), 2.0f), "must be real");
    hg_ctx_free(ctx);
    return hg_test_finish("pow_clamp");
}
