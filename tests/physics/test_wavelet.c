/* Wavelet operator: hand-computed Haar values, PyWavelets fixtures (periodization),
 * orthonormality (||W x|| = ||x||, W^H W = W W^H = I), adjoint, complex = re/im, errors. */
#include "test_util.h"

#include <string.h>

static double nrm(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s);
}

static void check_haar_4x4(void)
{
    float x[16], y[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    /* 1 level: per 2x2 block [[a, b], [c, d]]: LL (a+b+c+d)/2 top-left; (a-b+c-d)/2 top-right
     * (detail along the last axis); (a+b-c-d)/2 bottom-left; (a-b-c+d)/2 bottom-right. */
    const float one[16] = {7, 11, -1, -1, 23, 27, -1, -1, -4, -4, 0, 0, -4, -4, 0, 0};
    /* 2 levels: the LL block [[7, 11], [23, 27]] once more. */
    const float two[16] = {34, -4, -1, -1, -16, 0, -1, -1, -4, -4, 0, 0, -4, -4, 0, 0};
    for (int levels = 1; levels <= 2; levels++) {
        hg_linop *w = hg_linop_wavelet(HG_F32, 2, (int64_t[]){4, 4}, 2, levels, 2);
        REQUIRE(w);
        CHECK_OK(hg_linop_forward(w, x, y));
        const float *want = levels == 1 ? one : two;
        for (int i = 0; i < 16; i++)
            CHECK_NEAR(y[i], want[i], 1e-5);
        hg_linop_free(w);
    }
}

static void check_fixtures(void)
{
    hg_params p;
    hg_params_init(&p);
    hg_test_load_fixture("wavelet/pywt.safetensors", &p);
    struct {
        const char *name;
        int dims, levels, taps;
    } cases[] = {{"haar2d", 2, 2, 2}, {"db2_2d", 2, 3, 4}, {"db2_3d", 3, 2, 4}, {"db2_stack", 2, 2, 4}};
    char key[64];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        snprintf(key, sizeof key, "%s.x", cases[c].name);
        hg_tensor *x = hg_test_get(&p, key);
        snprintf(key, sizeof key, "%s.w", cases[c].name);
        hg_tensor *ref = hg_test_get(&p, key);
        hg_linop *w = hg_linop_wavelet(HG_F32, x->ndim, x->shape, cases[c].dims, cases[c].levels,
                                       cases[c].taps);
        REQUIRE(w);
        float *y = malloc(sizeof(float) * x->numel);
        CHECK_OK(hg_linop_forward(w, x->data, y));
        double err = hg_test_rel_err(y, ref->data, x->numel);
        CHECK_MSG(err < 1e-5, "%s: max rel err vs pywt %g", cases[c].name, err);
        printf("wavelet %-10s vs pywt: max rel err %.2e\n", cases[c].name, err);
        free(y);
        hg_linop_free(w);
    }
    hg_params_free(&p);
}

/* ||Wx|| = ||x||, W^H W x = x, W W^H y = y, adjoint test; complex = real on re and im. */
static void check_orthonormal(hg_dtype dt, int ndim, const int64_t *shape, int dims, int levels,
                              int taps)
{
    hg_linop *w = hg_linop_wavelet(dt, ndim, shape, dims, levels, taps);
    REQUIRE(w);
    int64_t n = hg_linop_in_floats(w);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    float *z = malloc(sizeof(float) * n);
    hg_rng r = hg_rng_new(11);
    hg_rng_fill_normal(&r, x, n, 0, 1);
    CHECK_OK(hg_linop_forward(w, x, y));
    double rel = fabs(nrm(y, n) - nrm(x, n)) / nrm(x, n);
    CHECK_MSG(rel < 1e-6, "%s: | ||Wx|| - ||x|| | / ||x|| = %g", w->name, rel);
    CHECK_OK(hg_linop_adjoint(w, y, z));
    double rec = hg_test_rel_err(z, x, n);
    CHECK_MSG(rec < 1e-5, "%s: W^H W x != x, rel err %g", w->name, rec);
    CHECK_OK(hg_linop_adjoint(w, x, y));
    CHECK_OK(hg_linop_forward(w, y, z));
    rec = fmax(rec, hg_test_rel_err(z, x, n));
    CHECK_MSG(rec < 1e-5, "%s: W W^H x != x, rel err %g", w->name, rec);
    double adj;
    CHECK_OK(hg_linop_adjoint_error(w, 5, &adj));
    CHECK_MSG(adj < 1e-5, "%s: adjoint error %g", w->name, adj);
    if (dt == HG_C64) { /* re and im transform independently */
        hg_linop *wr = hg_linop_wavelet(HG_F32, ndim, shape, dims, levels, taps);
        REQUIRE(wr);
        int64_t m = n / 2;
        float *re = malloc(sizeof(float) * m), *out = malloc(sizeof(float) * m);
        CHECK_OK(hg_linop_forward(w, x, y));
        double worst = 0;
        for (int part = 0; part < 2; part++) {
            for (int64_t i = 0; i < m; i++)
                re[i] = x[2 * i + part];
            CHECK_OK(hg_linop_forward(wr, re, out));
            for (int64_t i = 0; i < m; i++)
                worst = fmax(worst, fabs(out[i] - y[2 * i + part]));
        }
        CHECK_MSG(worst < 1e-6, "%s: complex differs from real per part by %g", w->name, worst);
        free(re), free(out);
        hg_linop_free(wr);
    }
    printf("%-16s %s ndim %d dims %d: norm %.1e, reconstruction %.1e, adjoint %.1e\n", w->name,
           dt == HG_C64 ? "complex" : "real", ndim, dims, rel, rec, adj);
    free(x), free(y), free(z);
    hg_linop_free(w);
}

int main(void)
{
    check_haar_4x4();
    check_fixtures();
    for (int taps = 2; taps <= 4; taps += 2) {
        for (int dt = 0; dt < 2; dt++) {
            hg_dtype t = dt ? HG_C64 : HG_F32;
            check_orthonormal(t, 1, (int64_t[]){64}, 1, 4, taps);
            check_orthonormal(t, 2, (int64_t[]){32, 16}, 2, 3, taps);
            check_orthonormal(t, 3, (int64_t[]){8, 16, 8}, 3, 3, taps); /* coarsest block 1x2x1 */
            check_orthonormal(t, 4, (int64_t[]){2, 3, 16, 8}, 2, 2, taps);
            check_orthonormal(t, 4, (int64_t[]){3, 8, 8, 8}, 3, 1, taps);
        }
    }
    CHECK_NULL_WITH(hg_linop_wavelet(HG_F32, 2, (int64_t[]){12, 16}, 2, 3, 4),
                    "axis 0 has size 12, expected a multiple of 2^3 = 8");
    CHECK_NULL_WITH(hg_linop_wavelet(HG_F32, 2, (int64_t[]){16, 16}, 2, 1, 3),
                    "taps must be 2 (Haar) or 4 (db2), got 3");
    CHECK_NULL_WITH(hg_linop_wavelet(HG_F32, 2, (int64_t[]){16, 16}, 3, 1, 2),
                    "at most the item's 2 dimensions, got 3");
    CHECK_NULL_WITH(hg_linop_wavelet(HG_F32, 2, (int64_t[]){16, 16}, 2, 0, 2),
                    "levels must be 1 to 30, got 0");
    return hg_test_finish("test_wavelet");
}
