/* MoDL and VarNet (multi-coil MRI): gradients through the unrolled networks (CG data
 * consistency, learned maps, cascades) against central differences; a few dozen training
 * steps on synthetic 32x32 images lower the loss well below its start; the acquisition in
 * the model file is checked against the data (coils, size, ACS width, acceleration, fixed
 * mask), unknown config keys and corrupt files are refused with clear messages. */
#include "hinge/mri_learned.h"
#include "test_util.h"

#include <string.h>
#include <unistd.h>

/* S random-ellipse images [S, n, n], |values| normalized to max 1 (synthetic stand-ins for
 * T1 slices, so that the test runs without Colin27). */
static hg_tensor *ellipse_images(int64_t s, int64_t n, uint64_t seed)
{
    hg_tensor *t = hg_new(NULL, s, n, n);
    float angle = 0;
    hg_ct_geometry g = hg_ct_parallel((int32_t)n, (int32_t)n, 1, 1, &angle, (int32_t)n, 1);
    hg_rng rng = hg_rng_new(seed);
    for (int64_t i = 0; i < s; i++) {
        hg_ct_phantom *p = hg_ct_phantom_random_ellipses(&rng, 12, true, 0.5f * (float)n);
        REQUIRE(p && hg_ct_phantom_rasterize(p, &g, 2, t->data + i * n * n) == HG_OK);
        hg_ct_phantom_free(p);
        float mx = 0;
        for (int64_t j = 0; j < n * n; j++)
            mx = fmaxf(mx, fabsf(t->data[i * n * n + j]));
        for (int64_t j = 0; j < n * n; j++)
            t->data[i * n * n + j] = mx > 0 ? fabsf(t->data[i * n * n + j]) / mx : 0;
    }
    return t;
}

static hg_model *make(const char *arch, const char *const *kv)
{
    hg_metadata c;
    hg_metadata_init(&c);
    for (int i = 0; kv[i]; i += 2)
        hg_metadata_set(&c, kv[i], kv[i + 1]);
    hg_model *m = hg_model_create(arch, &c, 1);
    hg_metadata_free(&c);
    return m;
}

static const char *const tiny_modl[] = {"size", "16", "coils", "2", "iterations", "2",
                                        "cg_iters", "30", "width", "4", "layers", "3",
                                        "center_fraction", "0.25", NULL};
static const char *const tiny_varnet[] = {"size", "16", "coils", "2", "cascades", "2",
                                          "features", "4,8", "sens_features", "4,8",
                                          "center_fraction", "0.25", "norm", "none", NULL};

/* k-space [count, coils, n, n] of images with masks of the model's geometry. */
static hg_tensor *acquire(const hg_model *m, const hg_tensor *images, double noise, uint64_t seed)
{
    hg_mri_task t = {.train_images = images, .val_images = images, .noise = noise,
                     .val_seed = seed};
    REQUIRE(hg_mri_task_init(&t, m) == HG_OK);
    hg_tensor *k = t.val_kspace;
    t.val_kspace = NULL;
    hg_mri_task_free(&t);
    return k;
}

typedef struct {
    hg_model *m;
    hg_tensor *k;
} fwd_user;

static hg_tensor *model_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    (void)in;
    fwd_user *u = user;
    return hg_model_forward(u->m, ctx, u->k);
}

/* Gradients of <r, |x|> with respect to parameter tensors, with randomized weights (the
 * zero-initialized output layers would hide most paths). Float32 rounding in the unrolled
 * forward pass (CG, FFTs, 2 x 256 outputs summed against a zero-mean r) leaves about 1e-4 of
 * relative noise in the projected loss, so small steps measure noise. As in the LPD test, the
 * weights are chosen so that large steps are exact up to smooth curvature: weights in
 * [0, 0.1] and biases in [2, 3] keep every pre-activation positive (inputs are scaled to
 * |x| <= ~1), so no ReLU kink lies within a step and the network is affine in each weight
 * tensor before the smooth parts (CG solve, map normalization, magnitude) up to the
 * sharing of MoDL's denoiser over iterations. Weights: step 0.05, 3% tolerance; the scalar log_lambda / eta, on which the output depends non-linearly: step 1e-2. */
static void check_gradients(const char *arch, const char *const *cfg, const char *pa,
                            const char *pb, const char *pc)
{
    hg_model *m = make(arch, cfg);
    REQUIRE(m);
    for (int i = 0; i < m->params.count; i++) {
        hg_tensor *t = m->params.items[i].tensor;
        const char *name = m->params.items[i].name;
        if (strstr(name, "eta") || strstr(name, "lambda"))
            continue;
        bool bias = strstr(name, "bias") != NULL;
        hg_test_fill(t, 50 + (uint64_t)i, bias ? 2.0f : 0.0f, bias ? 3.0f : 0.1f);
    }
    /* Uniform random images: no zero background, where |x| (the output) has its cone. */
    hg_tensor *img = hg_new(NULL, 2, 16, 16);
    hg_test_fill(img, 3, 0.2f, 1.0f);
    fwd_user u = {m, acquire(m, img, 0.01, 4)};
    const char *names[3] = {pa, pb, pc};
    for (int i = 0; i < 3; i++) {
        hg_tensor *in[1] = {hg_params_get(&m->params, names[i])};
        REQUIRE(in[0]);
        hg_gradcheck_opts go = {.eps = i < 2 ? 0.05 : 1e-2, .rtol = 5e-2, .atol = 1e-2,
                                .seed = 21, .max_checks = 16};
        hg_gradcheck_result r;
        CHECK_OK(hg_gradcheck(model_fn, in, 1, &u, &go, &r));
        printf("%s gradcheck (16x16, 2 coils) %s: max abs err %.2e (of the largest gradient), "
               "max rel err %.2e\n", arch, names[i], r.max_abs_err, r.max_rel_err);
    }
    hg_tensor_free(u.k);
    hg_tensor_free(img);
    hg_model_free(m);
}


/* `steps` steps at 32x32, 4 coils, 4x: the mean of the last 5 batch losses must be below
 * `ratio` times the first, and the validation PSNR must rise by min_gain dB. */
static void check_learns(const char *arch, const char *const *cfg, int steps, double lr,
                         double ratio, double min_gain)
{
    hg_model *m = make(arch, cfg);
    REQUIRE(m);
    hg_tensor *train = ellipse_images(16, 32, 5), *val = ellipse_images(4, 32, 6);
    hg_mri_task t = {.train_images = train, .val_images = val, .batch = 2, .noise = 0.005,
                     .val_seed = 7};
    CHECK_OK(hg_mri_task_init(&t, m));
    double before = 0;
    CHECK_OK(hg_mri_evaluate(m, t.val_kspace, val, &before, NULL, NULL));
    hg_task task = hg_mri_task_make(&t);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = steps, o.lr = lr, o.clip = 1.0, o.seed = 3;
    hg_test_loss_log l = {0};
    o.on_event = hg_test_log_loss, o.user = &l;
    hg_train_result r;
    CHECK_OK(hg_train(m, &task, &o, &r));
    double last = hg_test_loss_log_last_mean(&l);
    printf("%s: batch loss %.5f -> %.5f (last 5 mean) in %d steps, %.1f ms/step, val PSNR "
           "%.2f -> %.2f dB\n", arch, l.first, last, steps, 1e3 * r.seconds / steps, before,
           r.metric);
    CHECK_MSG(last < ratio * l.first, "%s: loss %.5f -> %.5f, expected below %.2f x the start",
              arch, l.first, last, ratio);
    CHECK_MSG(r.metric > before + min_gain, "%s: validation PSNR %.2f -> %.2f dB, expected a "
              "gain of at least %.1f dB", arch, before, r.metric, min_gain);
    hg_mri_task_free(&t);
    hg_tensor_free(train), hg_tensor_free(val);
    hg_model_free(m);
}

static const char *const small_modl[] = {"size", "32", "coils", "4", "iterations", "3",
                                         "cg_iters", "6", "width", "8", "layers", "4", NULL};
static const char *const small_varnet[] = {"size", "32", "coils", "4", "cascades", "2",
                                           "features", "8,16", "sens_features", "4,8", NULL};

/* ---- the acquisition in the model ------------------------------------------------------ */

static void test_geometry(void)
{
    hg_model *m = make("modl", small_modl); /* 32x32, 4 coils, random 4x, centre 0.08 */
    REQUIRE(m);
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_tensor *img32 = ellipse_images(1, 32, 9);
    /* Other coil count: a model of 2 coils makes the data. */
    const char *const two[] = {"size", "32", "coils", "2", NULL};
    hg_model *m2 = make("modl", two);
    hg_tensor *k2 = acquire(m2, img32, 0, 1);
    hg_tensor_set_name(k2, "kspace");
    CHECK_NULL_WITH(hg_model_forward(m, ctx, k2), "trained for 4 coils, the k-space kspace has 2");
    /* Other size. */
    hg_tensor *img16 = ellipse_images(1, 16, 9);
    const char *const small[] = {"size", "16", "coils", "4", "center_fraction", "0.25", NULL};
    hg_model *m16 = make("modl", small);
    hg_tensor *k16 = acquire(m16, img16, 0, 1);
    CHECK_NULL_WITH(hg_model_forward(m, ctx, k16), "reconstructs 32x32 images, the k-space");
    /* 8x with 4% centre lines: too few ACS lines (1 of the 3 needed) and too few lines. */
    const char *const eight[] = {"size", "32", "coils", "4", "acceleration", "8",
                                 "center_fraction", "0.04", NULL};
    hg_model *m8 = make("modl", eight);
    hg_tensor *k8 = acquire(m8, img32, 0, 1);
    CHECK_NULL_WITH(hg_model_forward(m, ctx, k8), "needs 3 fully sampled centre lines");
    /* 1.25x data (ACS wide enough) to the 4x model, whose random masks keep 0 to 16 of 32
     * lines (3 standard deviations): the line count names both accelerations. */
    const char *const twox[] = {"size", "32", "coils", "4", "acceleration", "1.25", NULL};
    hg_model *mx2 = make("modl", twox);
    hg_tensor *kx2 = acquire(mx2, img32, 0, 1);
    CHECK_NULL_WITH(hg_model_forward(m, ctx, kx2), "trained at acceleration 4");
    /* A sidecar's acquisition. */
    CHECK_FAILS(hg_mri_check_acquisition(m, 4, "random", 8, 0.04), HG_ERR_INVALID,
                "trained at acceleration 4, the data is at 8");
    CHECK_FAILS(hg_mri_check_acquisition(m, 4, "equispaced", 4, 0.08), HG_ERR_INVALID,
                "random masks, the data has a equispaced");
    CHECK_FAILS(hg_mri_check_acquisition(m, 8, NULL, 0, 0), HG_ERR_INVALID, "4 coils");
    CHECK_OK(hg_mri_check_acquisition(m, 4, "random", 4, 0.08));
    /* A 2-D (non-line) mask: zero one sample of a sampled column. */
    hg_tensor *k4 = acquire(m, img32, 0, 1);
    hg_tensor *ok = hg_model_forward(m, ctx, k4);
    CHECK(ok != NULL);
    for (int c = 0; c < 4; c++)
        k4->data[2 * (c * 32 * 32 + 5 * 32 + 16)] = k4->data[2 * (c * 32 * 32 + 5 * 32 + 16) + 1] = 0;
    CHECK_NULL_WITH(hg_model_forward(m, ctx, k4), "line masks");
    /* A fixed-mask model refuses another draw. */
    const char *const fixed[] = {"size", "32", "coils", "4", "mask_seeds", "fixed:11", NULL};
    hg_model *mf = make("modl", fixed);
    hg_tensor *kf = acquire(mf, img32, 0, 99);
    CHECK(hg_model_forward(mf, ctx, kf) != NULL); /* its own mask, whatever the noise seed */
    hg_tensor *kr = acquire(m, img32, 0, 5);
    CHECK_NULL_WITH(hg_model_forward(mf, ctx, kr), "one fixed mask (seed 11)");
    /* Config errors: unknown key, bad values. */
    const char *const unk[] = {"size", "32", "colis", "4", NULL};
    CHECK_NULL_WITH(make("varnet", unk), "unknown config key 'colis'");
    const char *const badmask[] = {"mask", "poisson", NULL};
    CHECK_NULL_WITH(make("modl", badmask), "expected random or equispaced, got 'poisson'");
    const char *const badsize[] = {"size", "30", "features", "8,16,32", NULL};
    CHECK_NULL_WITH(make("varnet", badsize), "divisible by 4");
    hg_tensor_free(k2), hg_tensor_free(k16), hg_tensor_free(k8), hg_tensor_free(kx2);
    hg_tensor_free(k4), hg_tensor_free(kf), hg_tensor_free(kr);
    hg_tensor_free(img32), hg_tensor_free(img16);
    hg_model_free(m2), hg_model_free(m16), hg_model_free(m8), hg_model_free(mx2);
    hg_model_free(mf);
    hg_ctx_free(ctx);
    hg_model_free(m);
}

/* Save / load: same output, acquisition kept; a corrupt file is refused. */
static void test_file(void)
{
    hg_model *m = make("varnet", small_varnet);
    REQUIRE(m);
    for (int i = 0; i < m->params.count; i++)
        if (!strstr(m->params.items[i].name, "norm"))
            hg_test_fill(m->params.items[i].tensor, 70 + (uint64_t)i, -0.2f, 0.2f);
    const char *path = hg_test_tmp("varnet.safetensors");
    CHECK_OK(hg_model_save(m, path, NULL));
    hg_model *l = hg_model_load(path, NULL);
    REQUIRE(l);
    CHECK(strcmp(hg_metadata_get(&l->config, "acceleration"), "4") == 0);
    CHECK(strcmp(hg_metadata_get(&l->config, "mask_seeds"), "fresh") == 0);
    hg_tensor *img = ellipse_images(1, 32, 9);
    hg_tensor *k = acquire(m, img, 0.01, 2);
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_tensor *a = hg_model_forward(m, ctx, k), *b = hg_model_forward(l, ctx, k);
    REQUIRE(a && b);
    CHECK(memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)) == 0);
    /* A truncated file and a corrupt header are refused, naming the file. */
    CHECK(truncate(path, 5000) == 0);
    CHECK_NULL_WITH(hg_model_load(path, NULL), "varnet.safetensors");
    CHECK_OK(hg_model_save(m, path, NULL));
    FILE *f = fopen(path, "r+b");
    REQUIRE(f);
    fseek(f, 12, SEEK_SET);
    fputs("#garbage#", f);
    fclose(f);
    CHECK_NULL_WITH(hg_model_load(path, NULL), "varnet.safetensors");
    hg_ctx_free(ctx);
    hg_tensor_free(k), hg_tensor_free(img);
    hg_model_free(l), hg_model_free(m);
}

int main(void)
{
    check_gradients("modl", tiny_modl, "denoiser.conv0.weight", "denoiser.conv2.weight",
                    "log_lambda");
    check_gradients("varnet", tiny_varnet, "sens.enc0.conv0.weight", "cascade0.dec0.conv1.weight",
                    "cascade1.eta");
    test_geometry();
    test_file();
    check_learns("modl", small_modl, 30, 3e-3, 0.7, 1.5);
    check_learns("varnet", small_varnet, 30, 3e-3, 0.7, 1.5);
    return hg_test_finish("test_mri_nets");
}
