/* Optimizers, schedules, clipping and init constants against PyTorch 1.13
 * (tests/fixtures/torch/optim.safetensors from tools/fixtures/make_optim_fixtures.py). */
#include "hinge/optim.h"
#include "test_util.h"

#include <stdarg.h>
#include <string.h>

#define STEPS 5
static const char *const names[3] = {"w", "b", "c"};
static double worst_param_err, worst_sched_err, worst_clip_err;

static hg_tensor *fx(const hg_params *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hg_tensor *fx(const hg_params *f, const char *fmt, ...)
{
    char key[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    return hg_test_get(f, key);
}

/* A model with the fixture's parameters, plus a buffer that has a gradient but must not move. */
static void make_model(const hg_params *f, hg_params *p)
{
    hg_params_init(p);
    for (int k = 0; k < 3; k++) {
        hg_tensor *ref = fx(f, "init.%s", names[k]);
        hg_tensor *t = hg_params_add(p, names[k], true, ref->ndim, ref->shape);
        REQUIRE(t && hg_grad(NULL, t));
        memcpy(t->data, ref->data, (size_t)t->numel * sizeof(float));
    }
    hg_tensor *buf = hg_params_add(p, "running_mean", false, HG_SHAPE(4));
    REQUIRE(buf && hg_grad(NULL, buf));
    hg_tensor_fill(buf, 3.0f);
    for (int i = 0; i < 4; i++)
        buf->grad[i] = 1.0f;
}

static void run_case_wd(const hg_params *f, const char *name,
                        hg_optim *(*make)(hg_params *, const void *), const void *opts,
                        const char *const *states, int n_states, double b_decay)
{
    hg_params p;
    make_model(f, &p);
    hg_optim *opt = make(&p, opts);
    REQUIRE(opt);
    if (b_decay >= 0) {
        CHECK_OK(hg_optim_set_param_weight_decay(opt, "b", b_decay));
        CHECK(hg_optim_param_weight_decay(opt, "b") == b_decay);
    }
    /* the inputs of the fixture script (stored there as float32; here exact as in Python) */
    static const double lrs[STEPS] = {0.1, 0.05, 0.02, 0.08, 0.03};
    for (int t = 0; t < STEPS; t++) {
        CHECK(hg_test_get(f, "lrs")->data[t] == (float)lrs[t]);
        CHECK_OK(hg_optim_set_lr(opt, lrs[t]));
        float *saved_c = NULL;
        for (int k = 0; k < 3; k++) {
            hg_tensor *x = hg_params_get(&p, names[k]);
            memcpy(x->grad, fx(f, "grad.%d.%s", t, names[k])->data, (size_t)x->numel * 4);
        }
        if (t == 2) { /* the fixture sets c.grad = None at step 2 */
            hg_tensor *c = hg_params_get(&p, "c");
            saved_c = c->grad;
            c->grad = NULL;
        }
        CHECK_OK(hg_optim_step(opt));
        if (saved_c)
            hg_params_get(&p, "c")->grad = saved_c;
        for (int k = 0; k < 3; k++) {
            hg_tensor *x = hg_params_get(&p, names[k]);
            double e = hg_test_rel_err(x->data, fx(f, "%s.%d.%s", name, t, names[k])->data,
                                       x->numel);
            worst_param_err = e > worst_param_err ? e : worst_param_err;
            CHECK_MSG(e <= 1e-6, "%s step %d param %s: rel err %.3g", name, t, names[k], e);
        }
    }
    for (int s = 0; s < n_states; s++)
        for (int k = 0; k < 3; k++) {
            hg_tensor *st = hg_optim_state(opt, states[s], names[k]);
            REQUIRE(st);
            double e = hg_test_rel_err(st->data, fx(f, "%s.state.%s.%s", name, states[s], names[k])->data,
                                       st->numel);
            CHECK_MSG(e <= 1e-6, "%s state %s.%s: rel err %.3g", name, states[s], names[k], e);
        }
    char key[128];
    snprintf(key, sizeof key, "%s.state.step.c", name);
    hg_tensor *steps_c = hg_params_get(f, key); /* Adam keeps 'step'; SGD does not */
    if (steps_c)
        CHECK(hg_optim_param_steps(opt, "c") == (int64_t)steps_c->data[0]);
    CHECK(hg_optim_param_steps(opt, "w") == STEPS);
    CHECK(hg_optim_param_steps(opt, "running_mean") == -1);
    hg_tensor *buf = hg_params_get(&p, "running_mean");
    CHECK(buf->data[0] == 3.0f && buf->data[3] == 3.0f);
    hg_optim_free(opt);
    hg_params_free(&p);
}

static void run_case(const hg_params *f, const char *name,
                     hg_optim *(*make)(hg_params *, const void *), const void *opts,
                     const char *const *states, int n_states)
{
    run_case_wd(f, name, make, opts, states, n_states, -1);
}

static hg_optim *mk_sgd(hg_params *p, const void *o) { return hg_optim_sgd(p, o); }
static hg_optim *mk_adam(hg_params *p, const void *o) { return hg_optim_adam(p, o); }
static hg_optim *mk_adamw(hg_params *p, const void *o) { return hg_optim_adamw(p, o); }

static void test_optimizers(const hg_params *f)
{
    static const char *const mom[] = {"momentum_buffer"};
    static const char *const adam2[] = {"exp_avg", "exp_avg_sq"};
    static const char *const adam3[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    hg_sgd_opts s = {.lr = 0.1};
    run_case(f, "sgd", mk_sgd, &s, NULL, 0);
    s = (hg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01};
    run_case(f, "sgd_mom", mk_sgd, &s, mom, 1);
    s = (hg_sgd_opts){.lr = 0.1, .momentum = 0.8, .nesterov = true, .weight_decay = 1e-3};
    run_case(f, "sgd_nesterov", mk_sgd, &s, mom, 1);
    hg_adam_opts a = hg_adam_defaults();
    a.lr = 0.1;
    run_case(f, "adam", mk_adam, &a, adam2, 2);
    a = (hg_adam_opts){.lr = 0.1, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1,
                       .amsgrad = true};
    run_case(f, "adam_wd_ams", mk_adam, &a, adam3, 3);
    a = hg_adamw_defaults();
    a.lr = 0.1;
    a.weight_decay = 0.05;
    run_case(f, "adamw", mk_adamw, &a, adam2, 2);
    a = (hg_adam_opts){.lr = 0.1, .beta1 = 0.85, .beta2 = 0.995, .eps = 1e-7, .weight_decay = 0.2,
                       .amsgrad = true};
    run_case(f, "adamw_ams", mk_adamw, &a, adam3, 3);
    /* parameter groups: 'b' with its own weight decay */
    s = (hg_sgd_opts){.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};
    run_case_wd(f, "sgd_groups", mk_sgd, &s, mom, 1, 0.2);
    a = hg_adam_defaults();
    a.lr = 0.1;
    a.weight_decay = 0.1;
    run_case_wd(f, "adam_groups", mk_adam, &a, adam2, 2, 0.0);
    a = hg_adamw_defaults();
    a.lr = 0.1;
    a.weight_decay = 0.05;
    run_case_wd(f, "adamw_groups", mk_adamw, &a, adam2, 2, 0.0);
}

static void check_schedule(const hg_params *f, const char *name, const hg_schedule *s)
{
    const hg_tensor *ref = fx(f, "sched.%s", name);
    CHECK_OK(hg_schedule_check(s));
    for (int64_t t = 0; t < ref->numel; t++) {
        double lr = hg_schedule_lr(s, t), want = ref->data[t];
        double e = fabs(lr - want) / (fabs(want) > 1e-12 ? fabs(want) : 1.0);
        worst_sched_err = e > worst_sched_err ? e : worst_sched_err;
        CHECK_MSG(e <= 1e-6, "schedule %s step %lld: %.9g vs torch %.9g", name, (long long)t, lr,
                  want);
    }
}

static void test_schedules(const hg_params *f)
{
    hg_schedule s = {.kind = HG_SCHED_STEP, .base_lr = 0.1, .step_size = 3, .gamma = 0.5};
    check_schedule(f, "step", &s);
    s = (hg_schedule){.kind = HG_SCHED_COSINE, .base_lr = 0.1, .decay_steps = 10, .final_lr = 0.001};
    check_schedule(f, "cosine", &s);
    s = (hg_schedule){.kind = HG_SCHED_COSINE, .base_lr = 0.1, .decay_steps = 12};
    check_schedule(f, "cosine0", &s);
    CHECK(hg_schedule_lr(&s, 1000) == 0.0); /* stays at final_lr after the decay */
    s = (hg_schedule){.kind = HG_SCHED_POLY, .base_lr = 0.1, .decay_steps = 15};
    check_schedule(f, "poly", &s);
    s = (hg_schedule){.kind = HG_SCHED_COSINE, .base_lr = 0.1, .decay_steps = 15, .final_lr = 1e-4,
                      .warmup_steps = 5, .warmup_start_factor = 0.1};
    check_schedule(f, "warm_cosine", &s);
    s = (hg_schedule){.kind = HG_SCHED_STEP, .base_lr = 0.1, .step_size = 5, .gamma = 0.3,
                      .warmup_steps = 4, .warmup_start_factor = 0.25};
    check_schedule(f, "warm_step", &s);
    s = (hg_schedule){.kind = HG_SCHED_POLY, .base_lr = 0.1, .decay_steps = 12, .exponent = 0.9,
                      .warmup_steps = 3, .warmup_start_factor = 0.01};
    check_schedule(f, "warm_poly", &s);
    /* invalid schedules */
    s = (hg_schedule){.kind = HG_SCHED_STEP, .base_lr = 0.1, .gamma = 0.5};
    CHECK_FAILS(hg_schedule_check(&s), HG_ERR_INVALID, "step_size must be >= 1, got 0");
    CHECK(isnan(hg_schedule_lr(&s, 0)));
    s = (hg_schedule){.kind = HG_SCHED_COSINE, .base_lr = 0.1};
    CHECK_FAILS(hg_schedule_check(&s), HG_ERR_INVALID, "cosine schedule: decay_steps must be >= 1");
    s = (hg_schedule){.kind = HG_SCHED_CONSTANT, .base_lr = -1};
    CHECK_FAILS(hg_schedule_check(&s), HG_ERR_INVALID, "base_lr must be finite and >= 0, got -1");
    s = (hg_schedule){.kind = HG_SCHED_CONSTANT, .base_lr = 1, .warmup_steps = 2,
                      .warmup_start_factor = 1.5};
    CHECK_FAILS(hg_schedule_check(&s), HG_ERR_INVALID, "warmup_start_factor must be in (0, 1]");
    s = (hg_schedule){.kind = HG_SCHED_CONSTANT, .base_lr = 1};
    CHECK(isnan(hg_schedule_lr(&s, -1)));
}

static void test_clipping(const hg_params *f)
{
    struct { const char *name; double max_norm, type; } cases[] = {
        {"clip2", 1.0, 2.0}, {"clip_small", 100.0, 2.0}, {"clipinf", 0.5, INFINITY}, {"clip1", 2.0, 1.0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hg_params p;
        make_model(f, &p);
        for (int k = 0; k < 3; k++) {
            hg_tensor *x = hg_params_get(&p, names[k]);
            memcpy(x->grad, fx(f, "grad.0.%s", names[k])->data, (size_t)x->numel * 4);
        }
        double norm = -1;
        CHECK_OK(hg_clip_grad_norm(&p, cases[c].max_norm, cases[c].type, &norm));
        double want = fx(f, "%s.norm", cases[c].name)->data[0];
        double e = fabs(norm - want) / want;
        worst_clip_err = e > worst_clip_err ? e : worst_clip_err;
        CHECK_MSG(e <= 1e-6, "%s: norm %.9g vs torch %.9g", cases[c].name, norm, want);
        for (int k = 0; k < 3; k++) {
            hg_tensor *x = hg_params_get(&p, names[k]);
            e = hg_test_rel_err(x->grad, fx(f, "%s.%s", cases[c].name, names[k])->data, x->numel);
            worst_clip_err = e > worst_clip_err ? e : worst_clip_err;
            CHECK_MSG(e <= 1e-6, "%s grad %s: rel err %.3g", cases[c].name, names[k], e);
        }
        /* the buffer's gradient is not part of the norm and is not scaled */
        CHECK(hg_params_get(&p, "running_mean")->grad[0] == 1.0f);
        hg_params_free(&p);
    }
    /* The norm does not depend on the thread count (fixed chunks, summed in order). */
    hg_params big;
    hg_params_init(&big);
    hg_tensor *x = hg_params_add(&big, "big", true, HG_SHAPE(1 << 20));
    REQUIRE(x && hg_grad(NULL, x));
    hg_test_fill(x, 5, -1, 1);
    memcpy(x->grad, x->data, (size_t)x->numel * sizeof(float));
    double n1 = 0, n2 = 0;
    hg_set_threads(1);
    CHECK_OK(hg_clip_grad_norm(&big, 1e9, 2.0, &n1));
    memcpy(x->grad, x->data, (size_t)x->numel * sizeof(float));
    hg_set_threads(2);
    CHECK_OK(hg_clip_grad_norm(&big, 1e9, 2.0, &n2));
    CHECK(n1 == n2 && n1 > 0);
    hg_params_free(&big);

    /* NaN / Inf: named, and no gradient modified */
    hg_params p;
    make_model(f, &p);
    hg_tensor *b = hg_params_get(&p, "b"), *w = hg_params_get(&p, "w");
    for (int i = 0; i < w->numel; i++)
        w->grad[i] = 100.0f;
    b->grad[3] = NAN;
    double norm = 7;
    CHECK_FAILS(hg_clip_grad_norm(&p, 1.0, 2.0, &norm), HG_ERR_NUMERIC,
                "gradient of 'b' is NaN at index 3");
    CHECK(w->grad[0] == 100.0f && norm == 7);
    CHECK_FAILS(hg_grads_check_finite(&p), HG_ERR_NUMERIC, "gradient of 'b' is NaN at index 3");
    b->grad[3] = -INFINITY;
    CHECK_FAILS(hg_grads_check_finite(&p), HG_ERR_NUMERIC, "gradient of 'b' is Inf at index 3");
    CHECK_FAILS(hg_clip_grad_norm(&p, 1.0, INFINITY, NULL), HG_ERR_NUMERIC, "'b' is Inf");
    b->grad[3] = 0.0f;
    CHECK_OK(hg_grads_check_finite(&p));
    CHECK_FAILS(hg_clip_grad_norm(&p, -1.0, 2.0, NULL), HG_ERR_INVALID, "max_norm must be");
    CHECK_FAILS(hg_clip_grad_norm(&p, 1.0, 0.5, NULL), HG_ERR_INVALID, "norm_type must be >= 1");
    hg_params_free(&p);
}

static void test_init_constants(const hg_params *f)
{
    struct { const char *name; hg_nonlinearity nl; double param; } g[] = {
        {"linear", HG_NONLIN_LINEAR, 0}, {"relu", HG_NONLIN_RELU, 0},
        {"leaky_relu_0.2", HG_NONLIN_LEAKY_RELU, 0.2}, {"leaky_relu_default", HG_NONLIN_LEAKY_RELU, -1},
        {"tanh", HG_NONLIN_TANH, 0}, {"sigmoid", HG_NONLIN_SIGMOID, 0}, {"selu", HG_NONLIN_SELU, 0}};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        CHECK_NEAR(hg_init_gain(g[i].nl, g[i].param), fx(f, "init.gain.%s", g[i].name)->data[0],
                   1e-6);
    struct { const char *name; int nd; int64_t shape[5]; } s[] = {
        {"conv2d", 4, {256, 128, 3, 3}}, {"linear", 2, {500, 600}}, {"conv3d", 5, {32, 32, 3, 3, 3}}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        hg_tensor *t = hg_tensor_new(NULL, HG_F32, s[i].nd, s[i].shape);
        int64_t fi, fo;
        CHECK_OK(hg_init_fans(t, &fi, &fo));
        const float *want = fx(f, "init.fans.%s", s[i].name)->data;
        CHECK(fi == (int64_t)want[0] && fo == (int64_t)want[1]);
        hg_tensor_free(t);
    }
}

static void test_bad_hyperparameters(void)
{
    hg_params p;
    hg_params_init(&p);
    hg_params_add(&p, "w", true, HG_SHAPE(3));
    hg_sgd_opts s = {.lr = -0.1};
    CHECK_NULL_WITH(hg_optim_sgd(&p, &s), "sgd: lr must be finite and >= 0, got -0.1");
    s = (hg_sgd_opts){.lr = 0.1, .nesterov = true};
    CHECK_NULL_WITH(hg_optim_sgd(&p, &s), "nesterov needs momentum > 0 and dampening 0");
    s = (hg_sgd_opts){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true};
    CHECK_NULL_WITH(hg_optim_sgd(&p, &s), "dampening 0.1");
    hg_adam_opts a = hg_adam_defaults();
    a.beta2 = 1.0;
    CHECK_NULL_WITH(hg_optim_adam(&p, &a), "adam: beta2 must be in [0, 1), got 1");
    a = hg_adamw_defaults();
    a.eps = -1e-8;
    CHECK_NULL_WITH(hg_optim_adamw(&p, &a), "adamw: eps must be in [0, inf), got -1e-08");
    hg_optim *o = hg_optim_adam(&p, NULL);
    REQUIRE(o);
    CHECK(hg_optim_lr(o) == 1e-3 && strcmp(hg_optim_name(o), "adam") == 0);
    CHECK_FAILS(hg_optim_set_lr(o, NAN), HG_ERR_INVALID, "adam: learning rate must be finite");
    CHECK_NULL_WITH(hg_optim_state(o, "momentum_buffer", "w"), "adam: no state 'momentum_buffer'");
    CHECK_NULL_WITH(hg_optim_state(o, "exp_avg", "nope"), "'nope' is not a trainable parameter");
    CHECK_NULL_WITH(hg_optim_state(o, "max_exp_avg_sq", "w"), "no state 'max_exp_avg_sq'");
    CHECK_FAILS(hg_optim_set_param_weight_decay(o, "x", 0.0), HG_ERR_INVALID,
                "adam: 'x' is not a trainable parameter");
    CHECK_FAILS(hg_optim_set_param_weight_decay(o, "w", -1.0), HG_ERR_INVALID,
                "weight_decay of 'w' must be finite and >= 0, got -1");
    /* a step without gradients changes nothing */
    hg_params_get(&p, "w")->data[0] = 1.0f;
    CHECK_OK(hg_optim_step(o));
    CHECK(hg_params_get(&p, "w")->data[0] == 1.0f && hg_optim_param_steps(o, "w") == 0);
    hg_optim_free(o);
    hg_params_free(&p);
}

int main(void)
{
    hg_params f;
    hg_test_load_fixture("torch/optim.safetensors", &f);
    test_optimizers(&f);
    test_schedules(&f);
    test_clipping(&f);
    test_init_constants(&f);
    test_bad_hyperparameters();
    printf("max rel err vs torch: params %.3g, schedules %.3g, clipping %.3g\n", worst_param_err,
           worst_sched_err, worst_clip_err);
    hg_params_free(&f);
    return hg_test_finish("test_optim_torch");
}
