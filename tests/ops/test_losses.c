/* Losses: values and gradients against PyTorch (SSIM also against scikit-image), finite
 * differences, edge cases (absent classes, all pixels ignored, identical images), errors and
 * timings. */
#include "actloss_fixture.h"
#include "gradcheck_table.h"

#include <time.h>

static hg_tensor *f_mse(hg_ctx *c, hg_tensor **x) { return hg_mse_loss(c, x[0], x[1]); }
static hg_tensor *f_l1(hg_ctx *c, hg_tensor **x) { return hg_l1_loss(c, x[0], x[1]); }
static hg_tensor *f_huber05(hg_ctx *c, hg_tensor **x) { return hg_huber_loss(c, x[0], x[1], 0.5f); }
static hg_tensor *f_huber2(hg_ctx *c, hg_tensor **x) { return hg_huber_loss(c, x[0], x[1], 2.0f); }
static hg_tensor *f_ce(hg_ctx *c, hg_tensor **x) { return hg_cross_entropy(c, x[0], x[1], NULL, -100); }
static hg_tensor *f_ce_w(hg_ctx *c, hg_tensor **x) { return hg_cross_entropy(c, x[0], x[1], x[2], 255); }
static hg_tensor *f_bce(hg_ctx *c, hg_tensor **x) { return hg_bce_with_logits(c, x[0], x[1], NULL); }
static hg_tensor *f_bce_pw(hg_ctx *c, hg_tensor **x) { return hg_bce_with_logits(c, x[0], x[1], x[2]); }
static hg_tensor *f_dice_bg(hg_ctx *c, hg_tensor **x) { return hg_soft_dice_loss(c, x[0], x[1], 1.0f, true); }
static hg_tensor *f_dice_nobg(hg_ctx *c, hg_tensor **x) { return hg_soft_dice_loss(c, x[0], x[1], 1e-5f, false); }
static hg_tensor *f_dice_05(hg_ctx *c, hg_tensor **x) { return hg_soft_dice_loss(c, x[0], x[1], 0.5f, true); }
static hg_tensor *f_ssim(hg_ctx *c, hg_tensor **x) { return hg_ssim_loss(c, x[0], x[1], 1.0f); }
static hg_tensor *f_ssim_hu(hg_ctx *c, hg_tensor **x) { return hg_ssim_loss(c, x[0], x[1], 2000.0f); }

static void fixtures(void)
{
    hg_params p;
    hg_test_load_fixture(FX_FILE, &p);
    const double tol = 1e-4; /* every loss is a reduction */
    const fx_case cases[] = {
        {"mse", 2, f_mse, 3, 0, tol},
        {"l1", 2, f_l1, 3, 0, tol},
        {"huber_05", 2, f_huber05, 3, 0, tol},
        {"huber_2", 2, f_huber2, 3, 0, tol},
        {"ce_2d", 2, f_ce, 1, 0, tol},
        {"ce_4d_weighted_ignore", 3, f_ce_w, 1, 0, tol},
        {"ce_large_logits", 2, f_ce, 1, 0, tol},
        {"bce", 2, f_bce, 3, 0, tol},
        {"bce_pos_weight", 3, f_bce_pw, 7, 0, tol},
        {"bce_pos_weight_4d", 3, f_bce_pw, 7, 0, tol},
        {"dice_bg", 2, f_dice_bg, 1, 0, tol},
        {"dice_nobg", 2, f_dice_nobg, 1, 0, tol},
        {"dice_3d", 2, f_dice_05, 1, 0, tol},
        {"ssim", 2, f_ssim, 3, 0, tol},
        {"ssim_hu", 2, f_ssim_hu, 3, 0, tol},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        fx_run(&p, &cases[i]);
    printf("vs PyTorch: worst loss error %.3g, worst gradient error %.3g\n", fx_worst_out,
           fx_worst_grad);
    /* SSIM against scikit-image's structural_similarity (mean over the images). */
    const char *ssim_cases[][2] = {{"ssim", "1"}, {"ssim_hu", "2000"}};
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.in0", ssim_cases[i][0]);
        hg_tensor *x = hg_test_get(&p, key);
        snprintf(key, sizeof key, "%s.in1", ssim_cases[i][0]);
        hg_tensor *y = hg_test_get(&p, key);
        snprintf(key, sizeof key, "%s.skimage", ssim_cases[i][0]);
        double ref = hg_test_get(&p, key)->data[0];
        hg_ctx *ctx = hg_ctx_new();
        hg_tensor *l = hg_ssim_loss(ctx, x, y, (float)atof(ssim_cases[i][1]));
        REQUIRE(l);
        double err = fabs((1.0 - l->data[0]) - ref);
        printf("SSIM %s: hinge %.8f, skimage %.8f, |diff| %.2g\n", ssim_cases[i][0],
               1.0 - l->data[0], ref, err);
        CHECK_MSG(err < 1e-5, "SSIM %s vs skimage: %.3g", ssim_cases[i][0], err);
        hg_ctx_free(ctx);
    }
    hg_params_free(&p);
}

/* ---- finite differences ---- */
#define GC_WRAP(name, expr)                                                                    \
    static hg_tensor *name(hg_ctx *c, hg_tensor **x, void *u)                                  \
    {                                                                                          \
        (void)u;                                                                               \
        return expr;                                                                           \
    }
GC_WRAP(g_mse, hg_mse_loss(c, x[0], x[1]))
GC_WRAP(g_l1, hg_l1_loss(c, x[0], x[1]))
GC_WRAP(g_huber, hg_huber_loss(c, x[0], x[1], 0.7f))
GC_WRAP(g_bce, hg_bce_with_logits(c, x[0], x[1], NULL))
GC_WRAP(g_bce_pw, hg_bce_with_logits(c, x[0], x[1], x[2]))
GC_WRAP(g_ssim, hg_ssim_loss(c, x[0], x[1], *(const float *)u))

/* Class targets are not differentiable inputs: they come through user data. */
typedef struct {
    hg_tensor *target, *weights;
    int32_t ignore;
    float smooth;
    bool background;
} class_args;

static hg_tensor *g_ce(hg_ctx *c, hg_tensor **x, void *u)
{
    const class_args *a = u;
    return hg_cross_entropy(c, x[0], a->target, a->weights, a->ignore);
}
static hg_tensor *g_dice(hg_ctx *c, hg_tensor **x, void *u)
{
    const class_args *a = u;
    return hg_soft_dice_loss(c, x[0], a->target, a->smooth, a->background);
}

static hg_tensor *labels(int ndim, const int64_t *shape, int classes, uint64_t seed)
{
    hg_tensor *t = hg_tensor_new(NULL, HG_F32, ndim, shape);
    hg_rng r = hg_rng_new(seed);
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = (float)hg_rng_below(&r, (uint64_t)classes);
    return t;
}

static void gradchecks(void)
{
    gc_input p = GC_IN(3, -2, 2, 2, 3, 4), t = GC_IN(3, -2, 2, 2, 3, 4);
    gc_input soft = GC_IN(3, 0, 1, 2, 3, 4), pw = GC_IN(1, 0.5f, 3, 3);
    gc_input wide = GC_IN(3, -30, 30, 2, 3, 4);
    const gc_case simple[] = {
        {"mse", g_mse, 2, {p, t}, NULL},
        {"l1", g_l1, 2, {p, t}, NULL},
        {"huber", g_huber, 2, {p, t}, NULL},
        {"bce", g_bce, 2, {p, soft}, NULL},
        {"bce pos_weight", g_bce_pw, 3, {p, soft, pw}, NULL},
        {"bce saturated logits", g_bce_pw, 3, {wide, soft, pw}, NULL},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        gc_run(&simple[i], 400 + i);

    const int64_t ts[3] = {2, 3, 4}, ts2[1] = {5};
    class_args ce = {labels(3, ts, 4, 7), NULL, -100, 0, true};
    ce.target->data[2] = ce.target->data[9] = 255.0f;
    ce.ignore = 255;
    hg_tensor *w = hg_new(NULL, 4);
    w->data[0] = 0.3f, w->data[1] = 1.0f, w->data[2] = 2.5f, w->data[3] = 0.7f;
    ce.weights = w;
    class_args ce2 = {labels(1, ts2, 3, 8), NULL, -100, 0, true};
    class_args dice = {labels(3, ts, 4, 9), NULL, 0, 1.0f, true};
    class_args dice_nb = {labels(3, ts, 3, 10), NULL, 0, 1e-3f, false};
    gc_input l4 = GC_IN(4, -3, 3, 2, 4, 3, 4), l2 = GC_IN(2, -3, 3, 5, 3);
    gc_input l4c3 = GC_IN(4, -3, 3, 2, 3, 3, 4);
    const gc_case classes[] = {
        {"cross_entropy weighted ignore [N,C,H,W]", g_ce, 1, {l4}, &ce},
        {"cross_entropy [N,C]", g_ce, 1, {l2}, &ce2},
        {"soft_dice", g_dice, 1, {l4}, &dice},
        {"soft_dice no background", g_dice, 1, {l4c3}, &dice_nb},
    };
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        gc_run(&classes[i], 410 + i);
    hg_tensor_free(ce.target), hg_tensor_free(w), hg_tensor_free(ce2.target);
    hg_tensor_free(dice.target), hg_tensor_free(dice_nb.target);

    static const float r1 = 1.0f, r0 = 0.0f;
    gc_input a = GC_IN(4, 0, 1, 2, 1, 13, 12), b = GC_IN(4, 0, 1, 2, 1, 13, 12);
    hg_gradcheck_opts o = {.max_checks = 200};
    for (int k = 0; k < 2; k++) {
        gc_case s = {k ? "ssim per-image range" : "ssim", g_ssim, 2, {a, b}, k ? &r0 : &r1};
        hg_tensor *in[2] = {hg_tensor_new(NULL, HG_F32, 4, a.shape),
                            hg_tensor_new(NULL, HG_F32, 4, b.shape)};
        hg_test_fill(in[0], 430 + k, 0, 1);
        hg_test_fill(in[1], 440 + k, 0, 1);
        /* With the per-image range (max - min of the target, a constant by definition) only
         * pred is checked: finite differences on the target would move the range. */
        in[0]->requires_grad = true;
        in[1]->requires_grad = k == 0;
        CHECK_MSG(hg_gradcheck(s.fn, in, 2, (void *)s.user, &o, NULL) == HG_OK, "gradcheck %s: %s",
                  s.name, hg_error_message());
        hg_tensor_free(in[0]), hg_tensor_free(in[1]);
    }
}

/* ---- edge cases ---- */
static void edges(void)
{
    hg_ctx *ctx = hg_ctx_new();
    /* Every pixel ignored: loss 0 and no gradient (PyTorch gives NaN). */
    hg_tensor *x = hg_new(NULL, 2, 3, 2);
    hg_test_fill(x, 3, -1, 1);
    x->requires_grad = true;
    hg_tensor *t = hg_new(ctx, 2, 2);
    hg_tensor_fill(t, -1.0f);
    hg_tensor *l = hg_cross_entropy(ctx, x, t, NULL, -1);
    REQUIRE(l);
    CHECK(l->data[0] == 0.0f);
    CHECK_OK(hg_backward(ctx, l));
    bool zero = true; /* no gradient buffer at all also means zero */
    for (int i = 0; x->grad && i < 12; i++)
        zero = zero && x->grad[i] == 0.0f;
    CHECK(zero);
    hg_ctx_reset(ctx); /* forget the tape before its heap input goes */
    hg_tensor_free(x);
    /* A class absent from target and (almost) from the prediction scores about 1. */
    hg_tensor *lg = hg_new(ctx, 1, 3, 4);
    for (int i = 0; i < 4; i++) {
        lg->data[i] = 5, lg->data[4 + i] = -5, lg->data[8 + i] = -40; /* class 2 ~ never */
    }
    hg_tensor *tg = hg_new(ctx, 1, 4); /* all class 0 */
    hg_tensor *d = hg_soft_dice_loss(ctx, lg, tg, 1.0f, true);
    REQUIRE(d);
    /* class 0: (2*4p0 + 1) / (4p0 + 4 + 1); class 1: 1 / (4p1 + 1); class 2: ~1. */
    double p0 = 1.0 / (1.0 + exp(-10.0) + exp(-45.0)), p1 = exp(-10.0) * p0;
    double ref = 1.0 - ((8 * p0 + 1) / (4 * p0 + 5) + 1.0 / (4 * p1 + 1) + 1.0) / 3.0;
    CHECK_NEAR(d->data[0], ref, 1e-6);
    /* SSIM of an image with itself is 1 (loss 0) and its gradient vanishes. */
    hg_tensor *im = hg_new(NULL, 1, 1, 16, 16);
    hg_test_fill(im, 4, 0, 1);
    im->requires_grad = true;
    hg_tensor *s = hg_ssim_loss(ctx, im, im, 1.0f);
    REQUIRE(s);
    CHECK_NEAR(s->data[0], 0.0, 1e-6);
    CHECK_OK(hg_backward(ctx, s));
    double gmax = 0;
    for (int i = 0; i < 256; i++)
        gmax = fmax(gmax, fabs(im->grad[i]));
    CHECK_MSG(gmax < 1e-6, "SSIM(x, x) gradient %g", gmax);
    hg_tensor_free(im);
    hg_ctx_free(ctx);
}

static void errors(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *logits = hg_new(ctx, 2, 4, 3), *t = hg_new(ctx, 2, 3);
    logits->name = "logits", t->name = "labels";
    t->data[4] = 7.0f;
    CHECK_NULL_WITH(hg_cross_entropy(ctx, logits, t, NULL, -100),
                    "cross_entropy: target labels value 7 at index 4 is not a class index in "
                    "[0, 4) (4 classes) nor ignore_index -100");
    t->data[4] = 1.5f;
    CHECK_NULL_WITH(hg_cross_entropy(ctx, logits, t, NULL, -100), "value 1.5 at index 4");
    t->data[4] = -100.0f;
    CHECK(hg_cross_entropy(ctx, logits, t, NULL, -100) != NULL);
    CHECK_NULL_WITH(hg_soft_dice_loss(ctx, logits, t, 1.0f, true),
                    "soft_dice_loss: target labels value -100 at index 4 is not a class index "
                    "in [0, 4) (4 classes)");
    t->data[4] = 0.0f;
    hg_tensor *t_bad = hg_new(ctx, 2, 4);
    t_bad->name = "labels";
    CHECK_NULL_WITH(hg_cross_entropy(ctx, logits, t_bad, NULL, -100),
                    "cross_entropy: target labels shape [2, 4] does not match logits logits "
                    "[2, 4, 3]: expected [N, *S] for logits [N, C, *S]");
    hg_tensor *w = hg_new(ctx, 3);
    w->name = "weights";
    CHECK_NULL_WITH(hg_cross_entropy(ctx, logits, t, w, -100),
                    "cross_entropy: class weights: weights shape: expected [4], got [3]");
    CHECK_NULL_WITH(hg_soft_dice_loss(ctx, hg_new(ctx, 2, 1, 3), t, 1.0f, false),
                    "soft_dice_loss: logits tensor: expected at least 2 classes without background, "
                    "got 1");
    hg_tensor *pred = hg_new(ctx, 2, 3), *target = hg_new(ctx, 3, 2);
    pred->name = "pred", target->name = "target";
    CHECK_NULL_WITH(hg_mse_loss(ctx, pred, target),
                    "mse_loss: shapes of pred [2, 3] and target [3, 2] differ");
    CHECK_NULL_WITH(hg_l1_loss(ctx, pred, target), "l1_loss: shapes of pred");
    CHECK_NULL_WITH(hg_huber_loss(ctx, pred, pred, 0.0f), "huber_loss: delta must be positive");
    CHECK_NULL_WITH(hg_bce_with_logits(ctx, pred, target, NULL), "bce_with_logits: shapes");
    hg_tensor *pw = hg_new(ctx, 2);
    pw->name = "pw";
    CHECK_NULL_WITH(hg_bce_with_logits(ctx, pred, pred, pw),
                    "bce_with_logits: pos_weight pw shape: expected [1] or [3] (dim 1 of pred "
                    "[2, 3]), got [2]");
    hg_tensor *small = hg_new(ctx, 1, 1, 10, 32);
    small->name = "slice";
    CHECK_NULL_WITH(hg_ssim_loss(ctx, small, small, 1.0f),
                    "ssim_loss: slice [1, 1, 10, 32]: images must be at least 11 x 11 (the "
                    "window), got 10 x 32");
    hg_ctx_free(ctx);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Forward + backward timings of typical sizes (printed for the record, not asserted). */
static void timings(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(NULL, 4, 1, 256, 256), *y = hg_new(NULL, 4, 1, 256, 256);
    hg_test_fill(x, 1, 0, 1);
    hg_test_fill(y, 2, 0, 1);
    x->requires_grad = true;
    double t0 = now_ms();
    CHECK_OK(hg_backward(ctx, hg_ssim_loss(ctx, x, y, 1.0f)));
    printf("ssim_loss [4,1,256,256] forward+backward: %.1f ms\n", now_ms() - t0);
    hg_ctx_reset(ctx);
    hg_tensor *lg = hg_new(NULL, 4, 4, 128, 128);
    hg_test_fill(lg, 3, -2, 2);
    lg->requires_grad = true;
    const int64_t ts[3] = {4, 128, 128};
    hg_tensor *t = labels(3, ts, 4, 5);
    t0 = now_ms();
    CHECK_OK(hg_backward(ctx, hg_cross_entropy(ctx, lg, t, NULL, -100)));
    CHECK_OK(hg_backward(ctx, hg_soft_dice_loss(ctx, lg, t, 1.0f, true)));
    printf("cross_entropy + soft_dice [4,4,128,128] forward+backward: %.1f ms\n", now_ms() - t0);
    hg_tensor_free(x), hg_tensor_free(y), hg_tensor_free(lg), hg_tensor_free(t);
    hg_ctx_free(ctx);
}

int main(void)
{
    fixtures();
    gradchecks();
    edges();
    errors();
    timings();
    return hg_test_finish("test_losses");
}
