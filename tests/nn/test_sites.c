/* The multi-site task (src/nn/train_sites.c): training images are exactly the documented
 * acquisition (shapes -> site -> z-score), randomization changes images but never labels,
 * per-case Dice agrees with hg_seg_evaluate, bad settings fail with a message, and a short
 * training at one site learns that site. */
#include "hinge/sites.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

static const hg_site site_a = {1.0f, 0.0f, 1.0f, 0.02f, 0.0f, 0.0f, 1};
static const hg_site site_b = {1.5f, 0.1f, 0.7f, 0.05f, 0.2f, 0.6f, 1};

static hg_shapes_opts anatomy(void)
{
    hg_shapes_opts o = {.ndim = 2, .size = {32, 32}, .classes = 3, .objects = 3};
    return o;
}

static hg_model *small_unet(void)
{
    hg_metadata cfg;
    hg_metadata_init(&cfg);
    hg_metadata_set(&cfg, "dims", "2");
    hg_metadata_set(&cfg, "classes", "3");
    hg_metadata_set(&cfg, "features", "8,16");
    hg_metadata_set(&cfg, "norm", "instance");
    hg_metadata_set(&cfg, "activation", "leaky_relu");
    hg_model *m = hg_model_create("unet", &cfg, 3);
    hg_metadata_free(&cfg);
    REQUIRE(m);
    return m;
}

/* Render: deterministic, z-scored, labels are the anatomy's whatever the site. */
static void test_render(void)
{
    hg_shapes_opts o = anatomy();
    hg_tensor *xa, *ya, *xa2, *ya2, *xb, *yb, *raw, *rawy;
    CHECK_OK(hg_sites_render(&o, 5, &site_a, 9, 2, 3, &xa, &ya));
    CHECK_OK(hg_sites_render(&o, 5, &site_a, 9, 2, 3, &xa2, &ya2));
    CHECK_OK(hg_sites_render(&o, 5, &site_b, 9, 2, 3, &xb, &yb));
    CHECK_OK(hg_shapes_batch(&o, 5, 2, 3, NULL, &raw, &rawy));
    CHECK(memcmp(xa->data, xa2->data, sizeof(float) * (size_t)xa->numel) == 0);
    CHECK(memcmp(ya->data, rawy->data, sizeof(float) * (size_t)ya->numel) == 0);
    CHECK(memcmp(yb->data, rawy->data, sizeof(float) * (size_t)yb->numel) == 0);
    CHECK(hg_test_rel_err(xa->data, xb->data, xa->numel) > 0.1);
    for (int i = 0; i < 3; i++) {
        double s = 0, s2 = 0;
        int64_t n = 32 * 32;
        for (int64_t j = 0; j < n; j++)
            s += xb->data[i * n + j], s2 += (double)xb->data[i * n + j] * xb->data[i * n + j];
        CHECK_NEAR(s / (double)n, 0.0, 1e-5);
        CHECK_NEAR(s2 / (double)n, 1.0, 1e-4);
    }
    /* the first image of a render starting at 2 is image 2 of one starting at 0 */
    hg_tensor *x0, *y0;
    CHECK_OK(hg_sites_render(&o, 5, &site_b, 9, 0, 3, &x0, &y0));
    CHECK(memcmp(x0->data + 2 * 1024, xb->data, sizeof(float) * 1024) == 0);
    CHECK_FAILS(hg_sites_render(&o, 5, NULL, 9, 0, 1, &x0, &y0), HG_ERR_INVALID, "NULL site");
    hg_tensor *ts[] = {xa, ya, xa2, ya2, xb, yb, raw, rawy, x0, y0};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        hg_tensor_free(ts[i]);
}

/* The batch of a step holds image (step * batch + i) mod train_samples acquired at
 * sites[index mod nsites]. */
static void test_batch_is_acquisition(void)
{
    hg_site sites[2] = {site_a, site_b};
    hg_sites_task t = {.seg = {.shapes = anatomy(), .data_seed = 4, .train_samples = 6,
                               .batch = 4},
                       .sites = sites, .nsites = 2, .site_seed = 11};
    hg_task task = hg_sites_task_make(&t);
    hg_ctx *ctx = hg_ctx_new();
    hg_rng rng = hg_rng_new(1);
    hg_tensor *x, *y;
    CHECK_OK(task.batch(task.self, 1, &rng, ctx, &x, &y)); /* images 4, 5, 0, 1 */
    int64_t n = 32 * 32, want[4] = {4, 5, 0, 1};
    for (int i = 0; i < 4; i++) {
        hg_tensor *ex, *ey;
        CHECK_OK(hg_sites_render(&t.seg.shapes, 4, &sites[want[i] % 2], 11, want[i], 1, &ex,
                                 &ey));
        CHECK_MSG(hg_test_rel_err(x->data + i * n, ex->data, n) < 1e-6, "sample %d", i);
        CHECK(memcmp(y->data + i * n, ey->data, sizeof(float) * (size_t)n) == 0);
        hg_tensor_free(ex), hg_tensor_free(ey);
    }
    /* randomization: other images, same labels */
    hg_augment_opts dr = {.p_gamma = 1, .gamma_min = 0.5f, .gamma_max = 2, .p_noise = 1,
                          .noise_std = 0.1f};
    t.randomize = &dr;
    hg_tensor *xr, *yr;
    rng = hg_rng_new(1);
    CHECK_OK(task.batch(task.self, 1, &rng, ctx, &xr, &yr));
    CHECK(hg_test_rel_err(xr->data, x->data, x->numel) > 0.05);
    CHECK(memcmp(yr->data, y->data, sizeof(float) * (size_t)y->numel) == 0);
    /* errors */
    t.nsites = 0;
    CHECK_FAILS(task.batch(task.self, 0, &rng, ctx, &x, &y), HG_ERR_INVALID, ">= 1 site");
    t.nsites = 2;
    t.seg.patch[0] = t.seg.patch[1] = 16;
    CHECK_FAILS(task.batch(task.self, 0, &rng, ctx, &x, &y), HG_ERR_INVALID, "whole images");
    hg_ctx_free(ctx);
}

/* Per-case Dice averages to hg_seg_evaluate's mean; a short training at A learns A. */
static void test_train_and_cases(void)
{
    hg_shapes_opts o = anatomy();
    hg_tensor *x, *y;
    CHECK_OK(hg_sites_render(&o, 77, &site_a, 3, 0, 6, &x, &y));
    hg_model *m = small_unet();
    double cases[6], mean, before, after;
    CHECK_OK(hg_seg_evaluate_cases(m, x, y, 2, cases));
    CHECK_OK(hg_seg_evaluate(m, x, y, 2, &mean));
    double s = 0;
    for (int i = 0; i < 6; i++)
        s += cases[i];
    CHECK_NEAR(s / 6, mean, 1e-12);
    before = mean;
    CHECK_FAILS(hg_seg_evaluate_cases(m, x, x, 2, cases), HG_ERR_INVALID, "expected x");

    hg_sites_task t = {.seg = {.shapes = o, .data_seed = 1, .train_samples = 64, .batch = 4,
                               .val_samples = 6},
                       .sites = &site_a, .nsites = 1, .site_seed = 5, .val_site = &site_a};
    hg_task task = hg_sites_task_make(&t);
    CHECK(task.evaluate != NULL);
    hg_train_opts opts;
    hg_train_opts_defaults(&opts);
    opts.steps = 120;
    opts.lr = 3e-3;
    hg_train_result r;
    CHECK_OK(hg_train(m, &task, &opts, &r));
    CHECK_OK(hg_seg_evaluate(m, x, y, 2, &after));
    CHECK_MSG(after > 0.8 && after > before + 0.2, "Dice at A %.3f after training (%.3f "
              "before)", after, before);
    printf("Dice at A: %.3f untrained, %.3f after %lld steps (validation %.3f)\n", before,
           after, (long long)r.steps_done, r.metric);
    hg_model_free(m);
    hg_tensor_free(x), hg_tensor_free(y);
}

int main(void)
{
    hg_set_threads(2);
    test_render();
    test_batch_is_acquisition();
    test_train_and_cases();
    return hg_test_finish("test_sites");
}
