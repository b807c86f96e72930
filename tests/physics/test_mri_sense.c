/* Cartesian SENSE: adjoint (2-D, 3-D, masked), normal operator = adjoint after forward,
 * fully sampled single-coil data back to the truth, input checks, timing at 256^2 x 8. */
#include "hinge/mri.h"
#include "test_util.h"

#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Random complex maps [coils, *S] (not normalized: the operator must not assume it). */
static hg_tensor *random_maps(int ndim, const int64_t *shape, uint64_t seed)
{
    hg_tensor *s = hg_tensor_new(NULL, HG_C64, ndim, shape);
    hg_test_fill(s, seed, -1, 1);
    return s;
}

static void check_operator(const char *what, hg_linop *a)
{
    REQUIRE(a);
    double err;
    CHECK_OK(hg_linop_adjoint_error(a, 5, &err));
    CHECK_MSG(err < 1e-5, "%s: adjoint error %.3g", what, err);
    /* Normal operator against adjoint(forward(x)). */
    int64_t n = hg_linop_in_floats(a), m = hg_linop_out_floats(a);
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)m * sizeof(float));
    float *n1 = malloc((size_t)n * sizeof(float)), *n2 = malloc((size_t)n * sizeof(float));
    hg_rng r = hg_rng_new(9);
    hg_rng_fill_normal(&r, x, n, 0, 1);
    CHECK_OK(hg_linop_forward(a, x, y));
    CHECK_OK(hg_linop_adjoint(a, y, n1));
    CHECK_OK(hg_linop_normal(a, x, n2));
    double nerr = hg_test_rel_err(n2, n1, n);
    CHECK_MSG(nerr < 1e-5, "%s: normal vs adjoint(forward) rel err %.3g", what, nerr);
    /* In place (y aliasing x) gives the same. */
    memcpy(n1, x, (size_t)n * sizeof(float));
    CHECK_OK(hg_linop_normal(a, n1, n1));
    CHECK(hg_test_rel_err(n1, n2, n) < 1e-6);
    printf("%s: adjoint error %.2e, normal vs A^H A rel err %.2e\n", what, err, nerr);
    free(x), free(y), free(n1), free(n2);
}

static const hg_linop *g_op;
static hg_tensor *apply_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    return hg_linop_apply(ctx, g_op, in[0], *(bool *)user);
}

/* As a differentiable op over a batch: the gradient is the adjoint (and the forward for the
 * adjoint), against finite differences. */
static void gradcheck_sense(void)
{
    int64_t shape[3] = {3, 6, 5};
    hg_tensor *sens = random_maps(3, shape, 21);
    float lines[5] = {1, 0, 1, 1, 0};
    hg_tensor *mask = hg_mri_mask_expand(NULL, 2, shape + 1, lines);
    hg_linop *a = hg_linop_sense(sens, mask);
    REQUIRE(a);
    g_op = a;
    for (int adj = 0; adj < 2; adj++) {
        hg_tensor *x = adj ? hg_new_complex(NULL, 2, 3, 6, 5) : hg_new_complex(NULL, 2, 6, 5);
        hg_test_fill(x, 30 + (uint64_t)adj, -1, 1);
        x->requires_grad = true;
        bool flag = adj;
        CHECK_OK(hg_gradcheck(apply_fn, &x, 1, &flag, NULL, NULL));
        hg_tensor_free(x);
    }
    hg_linop_free(a);
    hg_tensor_free(mask), hg_tensor_free(sens);
}

int main(void)
{
    gradcheck_sense();
    /* 2-D, odd and even sizes, fully sampled and with a line mask. */
    int64_t s2[3] = {4, 12, 9};
    hg_tensor *sens2 = random_maps(3, s2, 1);
    hg_linop *a = hg_linop_sense(sens2, NULL);
    check_operator("sense2d full", a);
    hg_linop_free(a);
    float lines[9];
    hg_rng rng = hg_rng_new(4);
    CHECK_OK(hg_mri_mask_lines(HG_MASK_RANDOM, 9, 0.25, 3, -1, &rng, lines, NULL));
    hg_tensor *mask2 = hg_mri_mask_expand(NULL, 2, s2 + 1, lines);
    REQUIRE(mask2);
    a = hg_linop_sense(sens2, mask2);
    check_operator("sense2d masked", a);
    /* Unsampled lines are zero in k-space. */
    {
        int64_t m = hg_linop_out_floats(a);
        float *x = calloc((size_t)hg_linop_in_floats(a), sizeof(float)), *y = malloc(m * 4);
        hg_test_fill(&(hg_tensor){.dtype = HG_C64, .numel = 12 * 9, .data = x}, 3, -1, 1);
        CHECK_OK(hg_linop_forward(a, x, y));
        int bad = 0;
        for (int64_t i = 0; i < m / 2; i++)
            bad += lines[i % 9] == 0.0f && (y[2 * i] != 0.0f || y[2 * i + 1] != 0.0f);
        CHECK(bad == 0);
        free(x), free(y);
    }
    hg_linop_free(a);

    /* 3-D with a Poisson-disc mask over the last two dimensions broadcast along the first. */
    int64_t s3[4] = {3, 6, 8, 10};
    hg_tensor *sens3 = random_maps(4, s3, 2);
    float pd[80];
    CHECK_OK(hg_mri_mask_poisson(8, 10, 2, 2, 2, false, 0.2, 3, pd, NULL));
    hg_tensor *mask3 = hg_tensor_new(NULL, HG_F32, 3, s3 + 1);
    for (int64_t i = 0; i < mask3->numel; i++)
        mask3->data[i] = pd[i % 80];
    a = hg_linop_sense(sens3, mask3);
    REQUIRE(a && strcmp(a->name, "sense3d") == 0);
    check_operator("sense3d masked", a);
    hg_linop_free(a);
    /* A mask varying along every dimension: the normal operator transforms all three. */
    hg_tensor *mask3r = hg_tensor_new(NULL, HG_F32, 3, s3 + 1);
    hg_rng mr = hg_rng_new(12);
    for (int64_t i = 0; i < mask3r->numel; i++)
        mask3r->data[i] = hg_rng_uniform(&mr) < 0.4 ? 1.0f : 0.0f;
    a = hg_linop_sense(sens3, mask3r);
    check_operator("sense3d random 3-D mask", a);
    hg_linop_free(a);
    hg_tensor_free(mask3r);
    /* 2-D Poisson disc: both dimensions vary. */
    float pd2[12 * 9];
    CHECK_OK(hg_mri_mask_poisson(12, 9, 2, 2, 2, false, 0.3, 5, pd2, NULL));
    hg_tensor *mask2p = hg_tensor_new(NULL, HG_F32, 2, s2 + 1);
    memcpy(mask2p->data, pd2, sizeof pd2);
    a = hg_linop_sense(sens2, mask2p);
    check_operator("sense2d poisson", a);
    hg_linop_free(a);
    hg_tensor_free(mask2p);

    /* Single coil, s = 1, fully sampled: the adjoint recovers the image to float precision. */
    {
        int64_t s1[3] = {1, 32, 24};
        hg_tensor *ones = hg_tensor_new(NULL, HG_C64, 3, s1);
        for (int64_t i = 0; i < ones->numel; i++)
            ones->data[2 * i] = 1.0f;
        a = hg_linop_sense(ones, NULL);
        REQUIRE(a);
        hg_tensor *x = hg_new_complex(NULL, 32, 24);
        hg_test_fill(x, 8, -1, 1);
        float *y = malloc(32 * 24 * 8), *xr = malloc(32 * 24 * 8);
        CHECK_OK(hg_linop_forward(a, x->data, y));
        CHECK_OK(hg_linop_adjoint(a, y, xr));
        double err = hg_test_rel_err(xr, x->data, 2 * 32 * 24);
        CHECK_MSG(err < 1e-6, "single-coil recon rel err %.3g", err);
        printf("single coil fully sampled: adjoint recon max rel err %.2e\n", err);
        /* With normalized simulated maps (sum |s_c|^2 = 1), A^H A = I as well. */
        hg_tensor *sim = hg_mri_coils_sim(NULL, 2, (int64_t[]){32, 24}, 6, NULL);
        hg_linop *b = hg_linop_sense(sim, NULL);
        REQUIRE(b);
        CHECK_OK(hg_linop_normal(b, x->data, xr));
        err = hg_test_rel_err(xr, x->data, 2 * 32 * 24);
        CHECK_MSG(err < 1e-5, "6-coil normalized maps: A^H A x vs x rel err %.3g", err);
        hg_linop_free(b);
        hg_tensor_free(sim);
        free(y), free(xr);
        hg_tensor_free(x);
        hg_tensor_free(ones);
        hg_linop_free(a);
    }

    /* Input checks name both sides. */
    hg_tensor *bad_mask = hg_new(NULL, 12, 8);
    bad_mask->name = "mask";
    sens2->name = "sens";
    CHECK_NULL_WITH(hg_linop_sense(sens2, bad_mask),
                    "mask mask is real [12, 8], expected real [12, 9] (the image shape of sens "
                    "[4, 12, 9])");
    hg_tensor *real_maps = hg_new(NULL, 4, 12, 9);
    CHECK_NULL_WITH(hg_linop_sense(real_maps, NULL), "expected complex maps");
    CHECK_NULL_WITH(hg_linop_sense(NULL, NULL), "NULL sensitivity maps");
    hg_tensor_free(real_maps);
    hg_tensor_free(bad_mask);

    /* Timing: normal operator at 256^2, 8 coils, 0.25 of the lines. */
    {
        int64_t st[3] = {8, 256, 256};
        hg_tensor *sens = hg_mri_coils_sim(NULL, 2, st + 1, 8, NULL);
        float ln[256];
        hg_rng r = hg_rng_new(1);
        CHECK_OK(hg_mri_mask_lines(HG_MASK_EQUISPACED, 256, 0.08, 4, -1, &r, ln, NULL));
        hg_tensor *mask = hg_mri_mask_expand(NULL, 2, st + 1, ln);
        a = hg_linop_sense(sens, mask);
        REQUIRE(a);
        hg_tensor *x = hg_new_complex(NULL, 256, 256), *y = hg_new_complex(NULL, 256, 256);
        hg_test_fill(x, 2, -1, 1);
        float *k = malloc(8 * 256 * 256 * 8);
        CHECK_OK(hg_linop_normal(a, x->data, y->data)); /* warm up */
        /* Best of 15 (the machine is shared: the minimum is the least disturbed run). */
        double tn = 1e9, tfa = 1e9, tf = 1e9;
        for (int i = 0; i < 15; i++) {
            double t0 = now();
            hg_linop_normal(a, x->data, y->data);
            double t1 = now();
            hg_linop_forward(a, x->data, k);
            double t2 = now();
            hg_linop_adjoint(a, k, y->data);
            double t3 = now();
            tn = fmin(tn, t1 - t0), tf = fmin(tf, t2 - t1), tfa = fmin(tfa, t3 - t1);
        }
        printf("sense 256x256, 8 coils, 4x lines, %d threads: normal %.2f ms, forward %.2f ms, "
               "forward+adjoint %.2f ms\n",
               hg_get_threads(), 1e3 * tn, 1e3 * tf, 1e3 * tfa);
        /* The full-mask path: fully sampled maps (no FFT in the normal operator). */
        hg_linop *full = hg_linop_sense(sens, NULL);
        REQUIRE(full);
        double tfull = 1e9;
        for (int i = 0; i < 15; i++) {
            double t0 = now();
            hg_linop_normal(full, x->data, y->data);
            tfull = fmin(tfull, now() - t0);
        }
        printf("sense normal fully sampled: %.2f ms\n", 1e3 * tfull);
        hg_linop_free(full);
        free(k);
        hg_tensor_free(x), hg_tensor_free(y), hg_tensor_free(mask), hg_tensor_free(sens);
        hg_linop_free(a);
    }
    hg_tensor_free(sens2), hg_tensor_free(mask2), hg_tensor_free(sens3), hg_tensor_free(mask3);
    return hg_test_finish("test_mri_sense");
}
