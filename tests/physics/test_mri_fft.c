/* Centred orthonormal FFT: values against numpy (fixture) and BART, unitarity, adjoint. */
#include "hinge/cfl.h"
#include "hinge/mri.h"
#include "test_util.h"

#include <string.h>

static double norm2(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s);
}

/* Forward against numpy, adjoint = inverse, ||F x|| = ||x||, adjoint test. */
static void check_case(const hg_params *fx, const char *name, int dims)
{
    char key[64];
    snprintf(key, sizeof key, "%s.x", name);
    hg_tensor *x = hg_test_get(fx, key);
    snprintf(key, sizeof key, "%s.y", name);
    hg_tensor *y = hg_test_get(fx, key);
    int nd = x->ndim - 1; /* trailing (re, im) */
    hg_linop *f = hg_linop_fft(nd, x->shape, dims);
    REQUIRE(f);
    int64_t n = hg_linop_in_floats(f);
    float *out = malloc((size_t)n * sizeof(float)), *back = malloc((size_t)n * sizeof(float));
    CHECK_OK(hg_linop_forward(f, x->data, out));
    double err = hg_test_rel_err(out, y->data, n);
    CHECK_MSG(err < 2e-6, "%s: forward vs numpy rel err %.3g", name, err);
    CHECK_OK(hg_linop_adjoint(f, out, back));
    err = hg_test_rel_err(back, x->data, n);
    CHECK_MSG(err < 2e-6, "%s: inverse(forward(x)) vs x rel err %.3g", name, err);
    CHECK_NEAR(norm2(out, n) / norm2(x->data, n), 1.0, 1e-6);
    double adj;
    CHECK_OK(hg_linop_adjoint_error(f, 11, &adj));
    CHECK_MSG(adj < 1e-6, "%s: adjoint error %.3g", name, adj);
    printf("fft %s: adjoint error %.2e, forward max rel err vs numpy %.2e\n", name, adj,
           hg_test_rel_err(out, y->data, n));
    free(out), free(back);
    hg_linop_free(f);
}

int main(void)
{
    hg_params fx;
    hg_test_load_fixture("mri/fft.safetensors", &fx);
    check_case(&fx, "c2_odd", 2);
    check_case(&fx, "c2_even", 2);
    check_case(&fx, "c3", 3);
    check_case(&fx, "c3_even", 3);
    hg_params_free(&fx);

    /* BART: cimg = bart fft -u -i 3 ksp (unitary centred inverse over x, y). */
    hg_tensor *ksp = hg_cfl_read(hg_test_fixture("mri/bart_ksp"), NULL);
    hg_tensor *cimg = hg_cfl_read(hg_test_fixture("mri/bart_cimg"), NULL);
    REQUIRE(ksp && cimg);
    hg_linop *f = hg_linop_fft(ksp->ndim, ksp->shape, 2);
    REQUIRE(f);
    float *img = malloc((size_t)hg_tensor_nfloats(ksp) * sizeof(float));
    CHECK_OK(hg_linop_adjoint(f, ksp->data, img));
    double err = hg_test_rel_err(img, cimg->data, hg_tensor_nfloats(ksp));
    CHECK_MSG(err < 1e-5, "inverse FFT vs bart fft -u -i: rel err %.3g", err);
    printf("fft vs bart fft -u -i 3 (64x64, 8 coils): max rel err %.2e\n", err);
    /* Not vacuous: the images differ from the k-space they came from. */
    CHECK(hg_test_rel_err(ksp->data, cimg->data, hg_tensor_nfloats(ksp)) > 0.1);
    free(img);
    hg_linop_free(f);
    hg_tensor_free(ksp), hg_tensor_free(cimg);

    /* As a differentiable op: backward is the adjoint (inverse). */
    hg_ctx *ctx = hg_ctx_new();
    hg_linop *g = hg_linop_fft(2, (int64_t[]){6, 5}, 2);
    REQUIRE(g);
    hg_tensor *x = hg_new_complex(ctx, 3, 6, 5);
    hg_test_fill(x, 3, -1, 1);
    hg_tensor *y = hg_linop_apply(ctx, g, x, false);
    REQUIRE(y && y->ndim == 3 && y->shape[0] == 3);
    hg_tensor *xb = hg_linop_apply(ctx, g, y, true);
    REQUIRE(xb);
    CHECK(hg_test_rel_err(xb->data, x->data, hg_tensor_nfloats(x)) < 2e-6);
    hg_linop_free(g);
    hg_ctx_free(ctx);

    /* Errors name what is wrong. */
    CHECK_NULL_WITH(hg_linop_fft(2, (int64_t[]){4, 4}, 4), "fft: transform over 4 dimensions");
    CHECK_NULL_WITH(hg_linop_fft(3, (int64_t[]){2, 4, 4}, 1), "expected 2 or 3");
    CHECK_NULL_WITH(hg_linop_fft(2, (int64_t[]){0, 4}, 2), "invalid shape [0, 4]");
    return hg_test_finish("test_mri_fft");
}
