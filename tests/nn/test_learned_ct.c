/* Learned CT reconstruction (lpd, lgd, fbpconvnet) and the reconstruction training task:
 * training reduces the loss, finite-difference gradients through the whole unrolled network,
 * geometry carried by the model file and checked against the data, bad files and configs. */
#include "hinge/learned.h"
#include "test_util.h"

#include <string.h>

static hg_model *make(const char *arch, int size, int angles, int det, const char *extra_key,
                      const char *extra_value, uint64_t seed)
{
    hg_metadata c;
    hg_metadata_init(&c);
    char b[32];
    snprintf(b, sizeof b, "%d", size), hg_metadata_set(&c, "size", b);
    snprintf(b, sizeof b, "%d", angles), hg_metadata_set(&c, "angles", b);
    snprintf(b, sizeof b, "%d", det), hg_metadata_set(&c, "detectors", b);
    if (extra_key)
        hg_metadata_set(&c, extra_key, extra_value);
    hg_model *m = hg_model_create(arch, &c, seed);
    hg_metadata_free(&c);
    return m;
}

/* 32x32, 16 angles, 5 iterations of width-16 blocks; geometry NULL: parallel beam. */
static hg_model *make2(const char *arch, const char *geometry)
{
    hg_metadata c;
    hg_metadata_init(&c);
    if (geometry)
        hg_metadata_set(&c, "geometry", geometry);
    hg_metadata_set(&c, "size", "32");
    hg_metadata_set(&c, "angles", "16");
    hg_metadata_set(&c, "detectors", "47");
    hg_metadata_set(&c, "iterations", "5");
    hg_metadata_set(&c, "width", "16");
    hg_model *m = hg_model_create(arch, &c, 1);
    hg_metadata_free(&c);
    return m;
}


/* Trains `steps` steps at 32x32, 16 angles, batch 4 and checks that the validation error
 * (16 held-out phantoms; batch losses are too noisy with fresh phantoms every step) falls
 * well below its start: a PSNR gain of at least min_gain dB (3 dB = MSE halved). */
static void check_learns(const char *arch, bool small, int steps, double lr, double min_gain,
                         const char *geometry)
{
    /* Narrower, shallower unrolled nets keep the test fast; full size is timed in benchmarks. */
    hg_model *m = small ? make2(arch, geometry)
                        : make(arch, 32, 16, 47, geometry ? "geometry" : NULL, geometry, 1);
    REQUIRE(m);
    hg_recon_task t = {.batch = 4, .protocol = {.rel_noise = 0.05f}, .val_count = 16, .val_seed = 99};
    CHECK_OK(hg_recon_task_init(&t, m));
    double before = 0;
    CHECK_OK(hg_recon_evaluate(m, t.val_sinos, t.val_images, &before, NULL));
    hg_task task = hg_recon_task_make(&t);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = steps, o.lr = lr, o.beta2 = 0.99, o.clip = 1.0, o.seed = 3;
    hg_test_loss_log l = {0};
    o.on_event = hg_test_log_loss, o.user = &l;
    hg_train_result r;
    CHECK_OK(hg_train(m, &task, &o, &r));
    double last = hg_test_loss_log_last_mean(&l);
    printf("%s (%s): batch loss %.5f -> %.5f (last 5 mean) in %d steps, %.1f ms/step, val PSNR "
           "%.2f -> %.2f dB\n",
           arch, geometry ? geometry : "parallel", l.first, last, steps,
           1e3 * r.seconds / steps, before, r.metric);
    CHECK_MSG(r.metric > before + min_gain, "%s: validation PSNR %.2f -> %.2f dB, expected a "
              "gain of at least %.1f dB", arch, before, r.metric, min_gain);
    hg_recon_task_free(&t);
    hg_model_free(m);
}

/* ---- gradient check through the unrolled network -------------------------------------- */

static hg_tensor *net_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    (void)in; /* the inputs are the model's own parameters and in[0] the sinogram */
    return hg_model_forward(user, ctx, in[0]);
}

/* Two checks. (1) With every PReLU slope set to 1 the network is affine in each single
 * parameter tensor (no weight sharing) and in the data, so central differences are exact for
 * any step: a large step (0.1) removes float32 rounding and the tolerance is tight. This
 * proves the wiring: operator and adjoint, slices, concatenations, residual updates.
 * (2) With random slopes the PReLU kinks make central differences wrong by O(eps) wherever a
 * pre-activation crosses zero, so a small step and a loose tolerance check the nonlinear
 * paths. */
static void check_gradients(const char *arch, const char *param_a, const char *param_b,
                            const char *param_c, bool linear)
{
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "size", "8");
    hg_metadata_set(&c, "angles", "4");
    hg_metadata_set(&c, "detectors", "12");
    hg_metadata_set(&c, "iterations", "3");
    hg_metadata_set(&c, "width", "4");
    hg_model *m = hg_model_create(arch, &c, 5);
    hg_metadata_free(&c);
    REQUIRE(m);
    /* The zero initialization makes most gradients zero; randomize every parameter so that
     * every path through the network is exercised. */
    for (int i = 0; i < m->params.count; i++) {
        hg_tensor *t = m->params.items[i].tensor;
        bool slope = strstr(m->params.items[i].name, "prelu") != NULL;
        hg_test_fill(t, 100 + (uint64_t)i, slope && linear ? 1.0f : -0.3f,
                     slope && linear ? 1.0f : 0.3f);
    }
    hg_tensor *y = hg_new(NULL, 2, 1, 4, 12);
    hg_test_fill(y, 7, 0.0f, 4.0f);
    y->requires_grad = true;
    hg_tensor *in[4] = {y, hg_params_get(&m->params, param_a), hg_params_get(&m->params, param_b),
                        hg_params_get(&m->params, param_c)};
    REQUIRE(in[1] && in[2] && in[3]);
    hg_gradcheck_opts go = {.eps = 1e-1, .rtol = 1e-3, .atol = 1e-3, .seed = 11, .max_checks = 96};
    /* Random slopes: besides the kinks, float32 rounding of the network output makes the
     * step-1e-3 estimates move by ~1e-3 of the largest gradient when only the summation order
     * of a convolution changes (measured: im2col+sgemm vs the direct kernels give the same
     * analytic gradient -2.1e-4 at sinogram index 13, numeric -9.4e-4 with one and passing
     * with the other), hence atol 5e-2; the unit-slope check above is the tight one. */
    if (!linear)
        go.eps = 1e-3, go.rtol = 0.1, go.atol = 5e-2;
    hg_gradcheck_result gr;
    CHECK_OK(hg_gradcheck(net_fn, in, 4, m, &go, &gr));
    printf("%s gradcheck (8x8, 4 angles, 3 iterations, %s slopes): max abs err %.2e (of the "
           "largest gradient), max rel err %.2e\n",
           arch, linear ? "unit" : "random", gr.max_abs_err, gr.max_rel_err);
    hg_tensor_free(y);
    hg_model_free(m);
}

static void test_gradcheck(void)
{
    for (int linear = 1; linear >= 0; linear--) {
        check_gradients("lpd", "dual0.conv0.weight", "primal2.conv2.weight", "dual1.prelu0",
                        linear);
        check_gradients("lgd", "iter0.conv0.weight", "iter2.conv1.bias", "iter1.prelu1", linear);
    }
}

/* ---- forward pass against the PyTorch peer (tools/fixtures/make_learned_fixtures.py) --- */

/* LPD and LGD with the peer's random weights on the peer's random data. prefix: the
 * fixture's name prefix of the model's parameters. */
static void check_peer(const char *arch, const char *prefix, const char *out_name)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_metadata meta;
    hg_metadata_init(&meta);
    REQUIRE(hg_safetensors_load(hg_test_fixture("learned/lpd_peer.safetensors"), &fx, &meta) ==
            HG_OK);
    const char *scale = hg_metadata_get(&meta, "op_scale");
    REQUIRE(scale);
    hg_model *own = make(arch, 8, 4, 12, "iterations", "3", 0);
    REQUIRE(own);
    /* hinge's power iteration against the peer's SVD. */
    CHECK_NEAR(atof(hg_metadata_get(&own->config, "op_scale")) / atof(scale), 1.0, 1e-4);
    hg_model_free(own);
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "size", "8");
    hg_metadata_set(&c, "angles", "4");
    hg_metadata_set(&c, "detectors", "12");
    hg_metadata_set(&c, "iterations", "3");
    hg_metadata_set(&c, "width", "4");
    hg_metadata_set(&c, "op_scale", scale);
    hg_model *m = hg_model_create(arch, &c, 0);
    hg_metadata_free(&c);
    REQUIRE(m);
    for (int i = 0; i < m->params.count; i++) {
        hg_tensor *t = m->params.items[i].tensor;
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, m->params.items[i].name);
        hg_tensor *w = hg_test_get(&fx, name);
        REQUIRE(w->numel == t->numel);
        memcpy(t->data, w->data, (size_t)t->numel * sizeof(float));
    }
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_tensor *y = hg_test_get(&fx, "y"), *want = hg_test_get(&fx, out_name);
    hg_tensor *out = hg_model_forward(m, ctx, y);
    REQUIRE(out && out->numel == want->numel);
    double err = hg_test_rel_err(out->data, want->data, out->numel);
    printf("%s vs PyTorch (8x8, 4 angles, 3 iterations, random weights): max rel err %.2e\n",
           arch, err);
    CHECK(err < 1e-4);
    hg_ctx_free(ctx);
    hg_model_free(m);
    hg_metadata_free(&meta);
    hg_params_free(&fx);
}

static void test_peer(void)
{
    check_peer("lpd", "", "out");
    check_peer("lgd", "lgd.", "lgd_out");
}

/* ---- geometry in the model, checked against the data ------------------------------------ */

/* op_scale is 1/||A||: check against an independent power iteration. */
static void check_op_scale(const hg_model *m, const hg_ct_geometry *g)
{
    hg_linop *a = hg_ct_projector(g);
    double norm = 0, scale = atof(hg_metadata_get(&m->config, "op_scale"));
    CHECK_OK(hg_linop_norm(a, 200, 77, &norm));
    CHECK_NEAR(scale * norm, 1.0, 1e-3);
    hg_linop_free(a);
}

static void test_geometry(void)
{
    hg_model *m = make("lpd", 16, 30, 23, "iterations", "2", 1);
    REQUIRE(m);
    hg_ct_geometry g;
    float *angles;
    CHECK_OK(hg_learned_geometry(m, &g, &angles));
    CHECK(g.n_angles == 30 && g.n_det == 23 && g.nx == 16 && g.kind == HG_CT_PARALLEL);
    check_op_scale(m, &g);
    CHECK_OK(hg_learned_check_geometry(m, &g));

    float a60[60];
    hg_ct_angles_uniform(a60, 60, 0, 3.14159265358979);
    hg_ct_geometry g60 = hg_ct_parallel(16, 16, 1, 60, a60, 23, 1);
    CHECK_FAILS(hg_learned_check_geometry(m, &g60), HG_ERR_INVALID,
                "the model's geometry has 30 angles, the data's 60");
    hg_ct_geometry gd = g;
    gd.n_det = 31;
    CHECK_FAILS(hg_learned_check_geometry(m, &gd), HG_ERR_INVALID, "23 detectors, the data's 31");
    gd = g, gd.dx = gd.dy = 0.5f;
    CHECK_FAILS(hg_learned_check_geometry(m, &gd), HG_ERR_INVALID, "pixel spacing is 1");
    float shifted[30];
    memcpy(shifted, angles, sizeof shifted);
    shifted[3] += 0.01f;
    gd = g, gd.angles = shifted;
    CHECK_FAILS(hg_learned_check_geometry(m, &gd), HG_ERR_INVALID, "view 3");
    gd = hg_ct_fan(HG_CT_FAN_FLAT, 16, 16, 1, 30, angles, 23, 1, 100, 200);
    CHECK_FAILS(hg_learned_check_geometry(m, &gd), HG_ERR_INVALID, "is parallel, the data's fan");

    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *y60 = hg_new(ctx, 1, 1, 60, 23);
    CHECK_NULL_WITH(hg_model_forward(m, ctx, y60), "geometry has 30 angles, the sinogram");
    hg_tensor *yd = hg_new(ctx, 1, 1, 30, 40);
    CHECK_NULL_WITH(hg_model_forward(m, ctx, yd), "has 23 detectors");
    hg_tensor *y3 = hg_new(ctx, 30, 23);
    CHECK_NULL_WITH(hg_model_forward(m, ctx, y3), "expected a real sinogram batch [N, 1, 30, 23]");
    hg_ctx_free(ctx);

    free(angles);
    hg_model *cnn = hg_model_create("cnn", NULL, 0);
    float *none = NULL;
    CHECK_FAILS(hg_learned_geometry(cnn, &g60, &none), HG_ERR_INVALID, "no CT geometry");
    CHECK(none == NULL);
    hg_model_free(cnn);
    hg_model_free(m);
}

/* A fan-beam model: the config's defaults are hinge simulate's (sod 2 and sdd 4 image
 * widths, pitch magnified, 360 degrees), the operator is scaled by its own norm, and data
 * from another fan or from parallel beam are refused naming the difference. */
static void test_geometry_fan(void)
{
    hg_model *m = make("lpd", 16, 30, 23, "geometry", "fan-arc", 1);
    REQUIRE(m);
    hg_ct_geometry g;
    float *angles;
    CHECK_OK(hg_learned_geometry(m, &g, &angles));
    CHECK(g.kind == HG_CT_FAN_ARC && g.n_angles == 30 && g.n_det == 23);
    CHECK_NEAR(g.sod, 32, 1e-6);
    CHECK_NEAR(g.sdd, 64, 1e-6);
    CHECK_NEAR(g.du, 2, 1e-6);
    CHECK_NEAR(angles[29], 2 * 3.14159265358979 * 29 / 30, 1e-5);
    check_op_scale(m, &g);
    CHECK_OK(hg_learned_check_geometry(m, &g));
    hg_ct_geometry gd = g;
    gd.sod = 40;
    CHECK_FAILS(hg_learned_check_geometry(m, &gd), HG_ERR_INVALID,
                "distances are 32 / 64, the data's 40 / 64");
    gd = g, gd.kind = HG_CT_FAN_FLAT;
    CHECK_FAILS(hg_learned_check_geometry(m, &gd), HG_ERR_INVALID,
                "is fan-arc, the data's fan-flat");
    gd = hg_ct_parallel(16, 16, 1, 30, angles, 23, 2);
    CHECK_FAILS(hg_learned_check_geometry(m, &gd), HG_ERR_INVALID,
                "is fan-arc, the data's parallel");
    free(angles);
    hg_model_free(m);
    CHECK_NULL_WITH(make("lpd", 16, 30, 23, "geometry", "cone", 1), "learned CT models are 2-D");
    CHECK_NULL_WITH(make("lpd", 16, 30, 23, "range", "400", 1), "expected (0, 360] degrees");
}

/* ---- model files ------------------------------------------------------------------------ */

static void test_files(void)
{
    hg_model *m = make("lgd", 16, 10, 23, "iterations", "2", 3);
    REQUIRE(m);
    for (int i = 0; i < m->params.count; i++)
        hg_test_fill(m->params.items[i].tensor, 200 + (uint64_t)i, -0.2f, 0.2f);
    const char *path = hg_test_tmp("lgd.safetensors");
    CHECK_OK(hg_model_save(m, path, NULL));
    hg_model *back = hg_model_load(path, NULL);
    REQUIRE(back);
    CHECK(strcmp(hg_metadata_get(&back->config, "op_scale"),
                 hg_metadata_get(&m->config, "op_scale")) == 0);
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_tensor *y = hg_new(ctx, 2, 1, 10, 23);
    hg_test_fill(y, 5, 0, 3);
    hg_tensor *o1 = hg_model_forward(m, ctx, y), *o2 = hg_model_forward(back, ctx, y);
    REQUIRE(o1 && o2);
    CHECK(memcmp(o1->data, o2->data, (size_t)o1->numel * sizeof(float)) == 0);
    float mx = 0;
    for (int64_t i = 0; i < o1->numel; i++)
        mx = fmaxf(mx, fabsf(o1->data[i]));
    CHECK(mx > 0); /* the comparison above is not between two zero images */
    hg_ctx_free(ctx);
    hg_model_free(back);

    /* Corrupt: a truncated file, and a header whose JSON is damaged. */
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    REQUIRE(fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    const char *cut = hg_test_tmp("lgd_cut.safetensors");
    f = fopen(cut, "wb");
    fwrite(buf, 1, (size_t)size / 2, f);
    fclose(f);
    CHECK_NULL_WITH(hg_model_load(cut, NULL), "lgd_cut.safetensors");
    buf[12] = '}';
    const char *bad = hg_test_tmp("lgd_bad.safetensors");
    f = fopen(bad, "wb");
    fwrite(buf, 1, (size_t)size, f);
    fclose(f);
    CHECK_NULL_WITH(hg_model_load(bad, NULL), "lgd_bad.safetensors");
    free(buf);

    /* A file whose stored geometry is inconsistent with its weights' count is refused. */
    hg_metadata extra;
    hg_metadata_init(&extra);
    hg_metadata_set(&m->config, "iterations", "3");
    const char *wrong = hg_test_tmp("lgd_wrong.safetensors");
    CHECK_OK(hg_model_save(m, wrong, NULL));
    CHECK_NULL_WITH(hg_model_load(wrong, NULL), "iter2");
    hg_metadata_set(&m->config, "iterations", "2");
    hg_metadata_set(&m->config, "op_scale", "-1");
    CHECK_OK(hg_model_save(m, wrong, NULL));
    CHECK_NULL_WITH(hg_model_load(wrong, NULL), "config 'op_scale'");
    hg_metadata_free(&extra);
    hg_model_free(m);
}

static void test_config(void)
{
    CHECK_NULL_WITH(make("lpd", 16, 10, 23, "bogus", "1", 0), "unknown config key 'bogus'");
    CHECK_NULL_WITH(make("lgd", 16, 10, 23, "primal_channels", "5", 0),
                    "unknown config key 'primal_channels'");
    CHECK_NULL_WITH(make("fbpconvnet", 16, 10, 23, "iterations", "5", 0),
                    "unknown config key 'iterations'");
    CHECK_NULL_WITH(make("lpd", 16, 0, 23, NULL, NULL, 0), "config 'angles'");
    CHECK_NULL_WITH(make("lpd", 16, 10, 23, "pixel", "-2", 0), "must be positive");
    CHECK_NULL_WITH(make("fbpconvnet", 18, 10, 27, NULL, NULL, 0), "not divisible by 2^2");
}

/* The task's data depend only on (seed, step): two runs of 2 steps + resume equal 4 steps. */
static void test_resume(void)
{
    hg_model *a = make("lgd", 16, 8, 23, "iterations", "2", 4);
    hg_model *b = make("lgd", 16, 8, 23, "iterations", "2", 4);
    REQUIRE(a && b);
    hg_recon_task t = {.batch = 2, .protocol = {.rel_noise = 0.05f}};
    CHECK_OK(hg_recon_task_init(&t, a));
    hg_task task = hg_recon_task_make(&t);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 4, o.seed = 9;
    CHECK_OK(hg_train(a, &task, &o, NULL));
    o.steps = 2, o.checkpoint = hg_test_tmp("lgd.ckpt");
    CHECK_OK(hg_train(b, &task, &o, NULL));
    o.steps = 4, o.resume = true;
    CHECK_OK(hg_train(b, &task, &o, NULL));
    for (int i = 0; i < a->params.count; i++) {
        hg_tensor *x = a->params.items[i].tensor, *y = b->params.items[i].tensor;
        CHECK_MSG(memcmp(x->data, y->data, (size_t)x->numel * sizeof(float)) == 0,
                  "%s differs after resume", a->params.items[i].name);
    }
    hg_recon_task_free(&t);
    hg_model_free(a);
    hg_model_free(b);
}

int main(void)
{
    test_config();
    test_geometry();
    test_geometry_fan();
    test_files();
    test_peer();
    test_gradcheck();
    test_resume();
    /* zero-initialized updates start slowly; the gain depends on rounding (2.9-4.0 dB across
     * the conv paths), so the bar is 2.5 dB */
    check_learns("lpd", true, 100, 2e-3, 2.5, NULL);
    check_learns("lgd", true, 40, 1e-3, 3.0, NULL);
    check_learns("fbpconvnet", false, 30, 1e-3, 1.0, NULL); /* starts from FBP, not from zero */
    /* fan beam: the same networks with the fan operators (and fan FBP) inside */
    check_learns("lgd", true, 40, 1e-3, 3.0, "fan-flat");
    check_learns("fbpconvnet", false, 30, 1e-3, 1.0, "fan-arc");
    return hg_test_finish("test_learned_ct");
}
