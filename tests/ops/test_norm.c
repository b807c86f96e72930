/* Batch, instance and group normalization: forward, running statistics and gradients (x, gamma,
 * beta) against PyTorch, finite-difference gradient checks in training and eval mode, and the
 * error paths. */
#include "poolnorm_test_common.h"

#define TOL 1e-4

typedef struct {
    double y, g, run;
} worst;

/* The fixture's gamma/beta (or NULL), with fresh gradients. */
static void affine_of(const hg_params *p, const char *key, hg_tensor **g, hg_tensor **b)
{
    *g = fx(p, "%s.gamma", key);
    *b = fx(p, "%s.beta", key);
    want_grad(*g);
    want_grad(*b);
}

static void check_grads(const hg_params *p, const char *key, hg_tensor *x, hg_tensor *g,
                        hg_tensor *b, worst *w)
{
    char what[96];
    snprintf(what, sizeof what, "%s gx", key);
    check_close(what, x->grad, fx(p, "%s.gx", key), TOL, &w->g);
    if (g) {
        snprintf(what, sizeof what, "%s ggamma", key);
        check_close(what, g->grad, fx(p, "%s.ggamma", key), TOL, &w->g);
        snprintf(what, sizeof what, "%s gbeta", key);
        check_close(what, b->grad, fx(p, "%s.gbeta", key), TOL, &w->g);
    }
    x->requires_grad = false;
}

static int batch_norm_vs_torch(const hg_params *p, hg_ctx *ctx, worst *w)
{
    int cases = 0;
    for (int i = 0;; i++) {
        char key[32];
        snprintf(key, sizeof key, "batchnorm.%d", i);
        hg_tensor *x = fx(p, "%s.x", key);
        if (!x)
            break;
        const float *o = fx(p, "%s.opts", key)->data;
        bool training = o[0] != 0, running = o[4] != 0;
        hg_tensor *g, *b, *rm = NULL, *rv = NULL;
        affine_of(p, key, &g, &b);
        if (running) { /* the op updates them in place: work on copies of the "before" */
            rm = hg_tensor_clone(NULL, fx(p, "%s.rm0", key));
            rv = hg_tensor_clone(NULL, fx(p, "%s.rv0", key));
            hg_tensor_set_name(rm, "rm"), hg_tensor_set_name(rv, "rv");
        }
        hg_ctx_reset(ctx);
        hg_ctx_set_training(ctx, training);
        want_grad(x);
        hg_tensor *y = hg_batch_norm(ctx, x, g, b, rm, rv, o[1], o[2]);
        REQUIRE(y);
        check_close(key, y->data, fx(p, "%s.y", key), TOL, &w->y);
        if (running) {
            check_close("running_mean", rm->data, fx(p, "%s.rm1", key), TOL, &w->run);
            check_close("running_var", rv->data, fx(p, "%s.rv1", key), TOL, &w->run);
        }
        CHECK_OK(hg_backward_seed(ctx, y, fx(p, "%s.gy", key)->data));
        check_grads(p, key, x, g, b, w);
        hg_tensor_free(rm);
        hg_tensor_free(rv);
        cases++;
    }
    hg_ctx_set_training(ctx, true);
    return cases;
}

static int group_norms_vs_torch(const hg_params *p, hg_ctx *ctx, worst *w)
{
    int cases = 0;
    for (int inst = 0; inst < 2; inst++)
        for (int i = 0;; i++) {
            char key[32];
            snprintf(key, sizeof key, "%s.%d", inst ? "instnorm" : "groupnorm", i);
            hg_tensor *x = fx(p, "%s.x", key);
            if (!x)
                break;
            const float *o = fx(p, "%s.opts", key)->data;
            hg_tensor *g, *b;
            affine_of(p, key, &g, &b);
            hg_ctx_reset(ctx);
            want_grad(x);
            hg_tensor *y = inst ? hg_instance_norm(ctx, x, g, b, o[0])
                                : hg_group_norm(ctx, x, (int)o[0], g, b, o[1]);
            REQUIRE(y);
            check_close(key, y->data, fx(p, "%s.y", key), TOL, &w->y);
            CHECK_OK(hg_backward_seed(ctx, y, fx(p, "%s.gy", key)->data));
            check_grads(p, key, x, g, b, w);
            cases++;
        }
    return cases;
}

/* ---- finite-difference checks ---------------------------------------------------------- */

typedef struct {
    int kind; /* 0 batch (training), 1 batch (eval, running stats), 2 instance, 3 group */
    int groups;
    bool affine;
    hg_tensor *rm, *rv;
} norm_case;

static hg_tensor *run_norm(hg_ctx *ctx, hg_tensor **in, void *user)
{
    const norm_case *c = user;
    hg_tensor *g = c->affine ? in[1] : NULL, *b = c->affine ? in[2] : NULL;
    switch (c->kind) {
    case 0:
        hg_ctx_set_training(ctx, true);
        return hg_batch_norm(ctx, in[0], g, b, c->rm, c->rv, 0.1f, 1e-5f);
    case 1:
        hg_ctx_set_training(ctx, false);
        return hg_batch_norm(ctx, in[0], g, b, c->rm, c->rv, 0.1f, 1e-5f);
    case 2: return hg_instance_norm(ctx, in[0], g, b, 1e-5f);
    default: return hg_group_norm(ctx, in[0], c->groups, g, b, 1e-5f);
    }
}

static void gradchecks(void)
{
    static const struct {
        int ndim;
        int64_t shape[5];
        int groups;
    } t[] = {
        {2, {5, 4}, 1},          {3, {3, 4, 5}, 2},       {4, {2, 3, 3, 4}, 3},
        {4, {2, 6, 2, 3}, 2},    {5, {2, 2, 2, 3, 2}, 1},
    };
    const char *names[] = {"batch_norm train", "batch_norm eval", "instance_norm", "group_norm"};
    int n = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        for (int kind = 0; kind < 4; kind++)
            for (int affine = 0; affine < 2; affine++) {
                if (kind == 2 && t[i].ndim < 3)
                    continue; /* instance norm needs spatial elements */
                int64_t c = t[i].shape[1];
                hg_tensor *x = hg_tensor_new(NULL, HG_F32, t[i].ndim, t[i].shape);
                hg_tensor *g = affine ? hg_new(NULL, c) : NULL, *b = affine ? hg_new(NULL, c) : NULL;
                hg_test_fill(x, 300 + i, -2, 3);
                x->requires_grad = true;
                if (affine) {
                    hg_test_fill(g, 400 + i, 0.5f, 1.5f);
                    hg_test_fill(b, 500 + i, -1, 1);
                    g->requires_grad = b->requires_grad = true;
                }
                norm_case nc = {kind, t[i].groups, affine, hg_new(NULL, c), hg_new(NULL, c)};
                hg_test_fill(nc.rm, 600 + i, -0.5f, 0.5f);
                hg_test_fill(nc.rv, 700 + i, 0.5f, 2.0f);
                hg_tensor *in[3] = {x, g, b};
                hg_status s = hg_gradcheck(run_norm, in, affine ? 3 : 1, &nc, NULL, NULL);
                CHECK_MSG(s == HG_OK, "%s shape row %zu affine %d: %s", names[kind], i, affine,
                          hg_error_message());
                n++;
                hg_tensor_free(x), hg_tensor_free(g), hg_tensor_free(b);
                hg_tensor_free(nc.rm), hg_tensor_free(nc.rv);
            }
    /* Parameters only: x does not require a gradient (the backward must skip it). */
    for (int kind = 0; kind < 4; kind++) {
        hg_tensor *x = hg_new(NULL, 3, 4, 5), *g = hg_new(NULL, 4), *b = hg_new(NULL, 4);
        hg_test_fill(x, 801, -1, 2);
        hg_test_fill(g, 802, 0.5f, 1.5f);
        hg_test_fill(b, 803, -1, 1);
        g->requires_grad = b->requires_grad = true;
        norm_case nc = {kind, 2, true, hg_new(NULL, 4), hg_new(NULL, 4)};
        hg_tensor_fill(nc.rv, 1.0f);
        hg_tensor *in[3] = {x, g, b};
        CHECK_MSG(hg_gradcheck(run_norm, in, 3, &nc, NULL, NULL) == HG_OK, "%s gamma/beta only: %s",
                  names[kind], hg_error_message());
        CHECK(x->grad == NULL);
        n++;
        hg_tensor_free(x), hg_tensor_free(g), hg_tensor_free(b);
        hg_tensor_free(nc.rm), hg_tensor_free(nc.rv);
    }
    printf("norm gradchecks: %d\n", n);
}

/* Mode semantics: eval leaves running stats alone, training moves them, eval without running
 * stats falls back to batch statistics; the normalized output has mean 0 and variance 1. */
static void semantics(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 4, 2, 3, 3);
    hg_test_fill(x, 8, 5, 9);
    hg_tensor *rm = hg_new(NULL, 2), *rv = hg_new(NULL, 2);
    hg_tensor_fill(rv, 1.0f);
    hg_ctx_set_training(ctx, false);
    hg_tensor *y = hg_batch_norm(ctx, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    REQUIRE(y);
    CHECK(rm->data[0] == 0.0f && rv->data[1] == 1.0f);
    CHECK_NEAR(y->data[0], x->data[0] / sqrtf(1.0f + 1e-5f), 1e-5);
    hg_tensor *ye = hg_batch_norm(ctx, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
    hg_ctx_set_training(ctx, true);
    hg_tensor *yt = hg_batch_norm(ctx, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    REQUIRE(ye && yt);
    CHECK(memcmp(ye->data, yt->data, sizeof(float) * (size_t)x->numel) == 0);
    CHECK(rm->data[0] > 0.5f && rm->data[0] < 0.9f); /* 0.1 * batch mean (about 7) */
    double s = 0, ss = 0;
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < 9; i++) {
            double v = yt->data[(b * 2 + 1) * 9 + i];
            s += v, ss += v * v;
        }
    CHECK_NEAR(s / 36, 0.0, 1e-5);
    CHECK_NEAR(ss / 36, 1.0, 1e-3);
    hg_tensor_free(x), hg_tensor_free(rm), hg_tensor_free(rv);

    /* A large mean with a small spread (CT numbers around 1000): the statistics must not
     * cancel. Reference in double from the same float inputs. */
    hg_tensor *big = hg_new(NULL, 4, 2, 50, 50);
    hg_test_fill(big, 9, 999, 1001);
    hg_tensor *yb = hg_batch_norm(ctx, big, NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
    REQUIRE(yb);
    double maxerr = 0;
    for (int ch = 0; ch < 2; ch++) {
        double mu = 0, var = 0;
        for (int b = 0; b < 4; b++)
            for (int i = 0; i < 2500; i++)
                mu += big->data[(b * 2 + ch) * 2500 + i];
        mu /= 10000;
        for (int b = 0; b < 4; b++)
            for (int i = 0; i < 2500; i++) {
                double d = big->data[(b * 2 + ch) * 2500 + i] - mu;
                var += d * d;
            }
        var /= 10000;
        for (int b = 0; b < 4; b++)
            for (int i = 0; i < 2500; i++) {
                int64_t k = (b * 2 + ch) * 2500 + i;
                double e = fabs(yb->data[k] - (big->data[k] - mu) / sqrt(var + 1e-5));
                maxerr = e > maxerr ? e : maxerr;
            }
    }
    CHECK_MSG(maxerr < 1e-3, "batch norm around 1000: max error %g", maxerr);
    hg_tensor_free(big);
}

/* Work is split by channel / (sample, group) and reductions stay inside one thread, so results
 * are bitwise identical for any thread count. */
static void thread_independence(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 3, 8, 40, 40);
    hg_test_fill(x, 31, -3, 5);
    x->requires_grad = true;
    float *gy = malloc(sizeof(float) * (size_t)x->numel);
    hg_rng r = hg_rng_new(32);
    hg_rng_fill_uniform(&r, gy, x->numel, -1, 1);
    float *ref[2] = {NULL, NULL};
    for (int kind = 0; kind < 2; kind++)
        for (int threads = 1; threads <= 3; threads++) {
            hg_set_threads(threads);
            hg_ctx_reset(ctx);
            if (x->grad)
                memset(x->grad, 0, sizeof(float) * (size_t)x->numel);
            hg_tensor *y = kind ? hg_group_norm(ctx, x, 4, NULL, NULL, 1e-5f)
                                : hg_batch_norm(ctx, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
            REQUIRE(y);
            CHECK_OK(hg_backward_seed(ctx, y, gy));
            size_t bytes = sizeof(float) * (size_t)x->numel;
            if (threads == 1) {
                ref[kind] = malloc(2 * bytes);
                memcpy(ref[kind], y->data, bytes);
                memcpy((char *)ref[kind] + bytes, x->grad, bytes);
            } else {
                CHECK_MSG(memcmp(ref[kind], y->data, bytes) == 0, "kind %d, %d threads: output",
                          kind, threads);
                CHECK_MSG(memcmp((char *)ref[kind] + bytes, x->grad, bytes) == 0,
                          "kind %d, %d threads: gradient", kind, threads);
            }
        }
    hg_set_threads(0);
    free(ref[0]), free(ref[1]), free(gy);
    hg_tensor_free(x);
}

static void errors(hg_ctx *ctx)
{
    hg_tensor *x = hg_new(NULL, 2, 4, 3, 3);
    hg_tensor_set_name(x, "act");
    hg_tensor *c3 = hg_new(NULL, 3), *c4 = hg_new(NULL, 4), *c4b = hg_new(NULL, 4);
    hg_tensor_set_name(c3, "bn1.running_var");
    hg_tensor_set_name(c4, "bn1.running_mean");
    CHECK_NULL_WITH(hg_group_norm(ctx, x, 3, NULL, NULL, 1e-5f),
                    "group_norm of act: 3 groups do not divide its 4 channels");
    CHECK_NULL_WITH(hg_group_norm(ctx, x, 0, NULL, NULL, 1e-5f), "0 groups");
    CHECK_NULL_WITH(hg_batch_norm(ctx, x, NULL, NULL, c4, c3, 0.1f, 1e-5f),
                    "batch_norm: running_var 'bn1.running_var' must have shape [4] (one per "
                    "channel), got [3]");
    CHECK_NULL_WITH(hg_batch_norm(ctx, x, NULL, NULL, c4, NULL, 0.1f, 1e-5f),
                    "must be given together (got only running_mean 'bn1.running_mean')");
    CHECK_NULL_WITH(hg_batch_norm(ctx, x, c3, NULL, NULL, NULL, 0.1f, 1e-5f), "gamma");
    CHECK_NULL_WITH(hg_batch_norm(ctx, x, NULL, NULL, c4, c4b, 1.5f, 1e-5f), "momentum");
    CHECK_NULL_WITH(hg_batch_norm(ctx, x, NULL, NULL, NULL, NULL, 0.1f, 0.0f), "eps must be > 0");
    CHECK_NULL_WITH(hg_instance_norm(ctx, x, NULL, c3, 1e-5f), "instance_norm: beta");
    hg_tensor *one = hg_new(NULL, 1, 4);
    hg_tensor_set_name(one, "single");
    CHECK_NULL_WITH(hg_batch_norm(ctx, one, NULL, NULL, c4, c4b, 0.1f, 1e-5f),
                    "expected more than 1 value per channel in training, got 1");
    hg_tensor *pt = hg_new(NULL, 2, 4, 1, 1);
    CHECK_NULL_WITH(hg_instance_norm(ctx, pt, NULL, NULL, 1e-5f),
                    "expected more than 1 spatial element, got 1");
    CHECK_NULL_WITH(hg_group_norm(ctx, NULL, 2, NULL, NULL, 1e-5f), "NULL");
    CHECK_NULL_WITH(hg_group_norm(NULL, x, 2, NULL, NULL, 1e-5f), "group_norm: NULL context");
    CHECK_NULL_WITH(hg_batch_norm(NULL, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f),
                    "batch_norm: NULL context");
    hg_tensor *flat = hg_new(NULL, 8);
    CHECK_NULL_WITH(hg_batch_norm(ctx, flat, NULL, NULL, NULL, NULL, 0.1f, 1e-5f), "rank");
    hg_tensor_free(x), hg_tensor_free(c3), hg_tensor_free(c4), hg_tensor_free(c4b);
    hg_tensor_free(one), hg_tensor_free(pt), hg_tensor_free(flat);
}

int main(void)
{
    hg_params p;
    hg_test_load_fixture(POOLNORM_FIXTURE, &p);
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx);
    worst w = {0, 0, 0};
    CHECK(batch_norm_vs_torch(&p, ctx, &w) >= 6);
    CHECK(group_norms_vs_torch(&p, ctx, &w) >= 8);
    printf("norms vs torch: max rel error forward %.3g, gradients %.3g, running stats %.3g\n", w.y,
           w.g, w.run);
    gradchecks();
    semantics(ctx);
    thread_independence(ctx);
    errors(ctx);
    hg_ctx_free(ctx);
    hg_params_free(&p);
    return hg_test_finish("test_norm");
}
