/* NIfTI segmentation data sets, fingerprint, plan and resampling (include/hinge/seg_plan.h):
 * loading and its errors (each naming the case and the mismatch), the fingerprint against
 * statistics recomputed here from the files, the plan's invariants and budget behaviour, the
 * memory formula against the measured peak of a real training step, plan.json / model
 * metadata round trips, resampling against scipy's map_coordinates (fixture). */
#include "../seg_dataset_util.h"

#include "hinge/seg_plan.h"

#include <stdlib.h>

static const hg_test_case_spec base = {.nx = 20, .ny = 16, .nz = 12, .sx = 1.5, .sy = 1.0,
                                       .sz = 2.0, .classes = 3, .seed = 1};

/* A fresh data-set folder under the test tmp dir. */
static const char *fresh_dir(const char *name)
{
    const char *d = hg_test_tmp(name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    REQUIRE(system(cmd) == 0);
    return d;
}

static void test_load_and_fingerprint(void)
{
    const char *dir = fresh_dir("plan_ds_ok");
    /* three cases, two spacings/shapes (medians: spacing of case b/c, shape of case b) */
    hg_test_case_spec a = base, b = base, c = base;
    b.seed = 2, b.nx = 24, b.sx = 1.25;
    c.seed = 3, c.nx = 28, c.sx = 1.25, c.nz = 14;
    hg_test_write_case(dir, "a", &a);
    hg_test_write_case(dir, "b", &b);
    hg_test_write_case(dir, "c", &c);
    char p[1024];
    snprintf(p, sizeof p, "%s/dataset.json", dir);
    hg_test_write_text(p, "{\"labels\": {\"background\": 0, \"liver\": 1, \"tumour\": 2}, "
                          "\"modality\": {\"0\": \"CT\"}, \"sites\": {\"b\": \"siteB\"}, "
                          "\"validation\": [\"c\"]}");
    hg_seg_dataset ds;
    CHECK_OK(hg_seg_dataset_load(dir, &ds));
    REQUIRE(ds.count == 3);
    CHECK(ds.channels == 1 && ds.classes == 3 && ds.ndim == 3 && ds.labels_declared);
    CHECK(strcmp(ds.modality, "CT") == 0 && strcmp(ds.label_names[2], "tumour") == 0);
    CHECK(strcmp(ds.cases[1].name, "b") == 0 && strcmp(ds.cases[1].site, "siteB") == 0);
    CHECK(ds.cases[2].validation && !ds.cases[0].validation && ds.validation_listed);
    /* tensor order D, H, W = NIfTI z, y, x */
    CHECK_NEAR(ds.cases[0].spacing[0], 2.0, 1e-6);
    CHECK_NEAR(ds.cases[0].spacing[2], 1.5, 1e-6);
    CHECK(ds.cases[2].image->shape[0] == 1 && ds.cases[2].image->shape[1] == 14 &&
          ds.cases[2].image->shape[3] == 28);

    hg_seg_fingerprint fp;
    CHECK_OK(hg_seg_fingerprint_compute(&ds, &fp));
    CHECK_NEAR(fp.median_spacing[2], 1.25, 1e-6);
    CHECK_NEAR(fp.median_spacing[0], 2.0, 1e-6);
    CHECK(fp.median_shape[2] == 24 && fp.median_shape[0] == 12 && fp.max_shape[2] == 28 &&
          fp.min_shape[2] == 20);
    /* foreground statistics recomputed from the rendered cases (< 100k voxels: no stride) */
    double sum = 0, sq = 0, n = 0, counts[3] = {0, 0, 0}, total = 0;
    float *all = NULL;
    int64_t nall = 0;
    for (int i = 0; i < 3; i++) {
        const hg_tensor *x = ds.cases[i].image, *y = ds.cases[i].label;
        all = realloc(all, sizeof *all * (size_t)(nall + y->numel));
        for (int64_t k = 0; k < y->numel; k++) {
            counts[(int)y->data[k]]++, total++;
            if (y->data[k] > 0)
                sum += x->data[k], n++, all[nall++] = x->data[k];
        }
    }
    double mean = sum / n;
    for (int64_t k = 0; k < nall; k++)
        sq += (all[k] - mean) * (all[k] - mean);
    CHECK_NEAR(fp.fg_mean[0], mean, 1e-6 * fabs(mean));
    CHECK_NEAR(fp.fg_std[0], sqrt(sq / n), 1e-6 * sqrt(sq / n));
    /* percentile 99.5 by counting: at most 0.5% of the samples lie above it */
    int64_t above = 0, below = 0;
    for (int64_t k = 0; k < nall; k++)
        above += all[k] > fp.fg_p995[0], below += all[k] < fp.fg_p005[0];
    CHECK(above <= (int64_t)ceil(0.005 * nall) && below <= (int64_t)ceil(0.005 * nall));
    CHECK(above >= (int64_t)floor(0.005 * nall) - 1);
    free(all);
    for (int k = 0; k < 3; k++)
        CHECK_NEAR(fp.class_fraction[k], counts[k] / total, 1e-12);
    CHECK_NEAR(fp.class_cases[2], 1.0, 1e-12);

    /* CT modality: clip to the foreground percentiles, then the foreground z-score */
    hg_seg_plan plan;
    CHECK_OK(hg_seg_plan_make(&fp, &(hg_seg_plan_opts){.memory_mb = 256, .threads = 2}, &plan));
    CHECK(strcmp(plan.normalization, "ct") == 0);
    CHECK_NEAR(plan.clip_hi[0], fp.fg_p995[0], 0);
    hg_tensor *x = hg_tensor_clone(NULL, ds.cases[0].image);
    CHECK_OK(hg_seg_plan_normalize(&plan, x));
    float hi = -INFINITY;
    for (int64_t k = 0; k < x->numel; k++)
        hi = fmaxf(hi, x->data[k]);
    CHECK_NEAR(hi, (fp.fg_p995[0] - fp.fg_mean[0]) / fp.fg_std[0], 1e-4);
    hg_tensor_free(x);

    /* the training task: dataset.json's validation list, resampled cases */
    hg_plan_task t = {.plan = plan};
    CHECK_OK(hg_plan_task_init(&t, &ds, 0.5));
    CHECK(t.n_train == 2 && t.n_val == 1 && strcmp(t.names[2], "c") == 0);
    /* case a: 12 x 16 x 20 at (2, 1, 1.5) -> the median spacing (2, 1, 1.25): W = 24 */
    CHECK(t.images[0]->shape[3] == 24 && t.labels[0]->shape[0] == 12);
    hg_plan_task_free(&t);
    hg_seg_dataset_free(&ds);
}

/* Writes a one-case data set whose label file is written by `mutate`. */
static void expect_bad(const char *name, const char *json, void (*mutate)(const char *dir),
                       const char *needle1, const char *needle2)
{
    const char *dir = fresh_dir(name);
    hg_test_case_spec good = base;
    good.seed = 9;
    hg_test_write_case(dir, "good", &good);
    hg_test_write_case(dir, "sick", &base);
    if (json) {
        char p[1024];
        snprintf(p, sizeof p, "%s/dataset.json", dir);
        hg_test_write_text(p, json);
    }
    mutate(dir);
    hg_seg_dataset ds;
    CHECK_FAILS(hg_seg_dataset_load(dir, &ds), HG_ERR_INVALID, needle1);
    CHECK_MSG(hg_test_contains(hg_error_message(), needle2), "message '%s' lacks '%s'",
              hg_error_message(), needle2);
}

static void write_label(const char *dir, double sx, int64_t nx, float value, bool image_too)
{
    hg_test_case_spec c = base;
    c.sx = sx, c.nx = nx;
    int64_t shape[3] = {c.nz, c.ny, c.nx};
    hg_tensor *img = hg_tensor_new(NULL, HG_F32, 3, shape);
    hg_tensor *lab = hg_tensor_new(NULL, HG_F32, 3, shape);
    hg_test_render_case(&c, img, lab);
    lab->data[7] = value;
    char p[1024];
    double sp[3] = {c.sx, c.sy, c.sz};
    snprintf(p, sizeof p, "%s/%s", dir, image_too ? "imagesTr/sick_0000.nii.gz"
                                                  : "labelsTr/sick.nii.gz");
    if (image_too) {
        memset(img->data, 0, sizeof(float) * (size_t)img->numel);
        hg_test_write_nifti(p, img, sp);
    } else {
        hg_test_write_nifti(p, lab, sp);
    }
    hg_tensor_free(img);
    hg_tensor_free(lab);
}

static void m_spacing(const char *d) { write_label(d, 1.6, base.nx, 0, false); }
static void m_shape(const char *d) { write_label(d, base.sx, base.nx + 2, 0, false); }
static void m_label3(const char *d) { write_label(d, base.sx, base.nx, 3, false); }
static void m_fraction(const char *d) { write_label(d, base.sx, base.nx, 0.5f, false); }
static void m_empty(const char *d) { write_label(d, base.sx, base.nx, 0, true); }
static void m_nolabel(const char *d)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/labelsTr/sick.nii.gz", d);
    remove(p);
}

static void test_bad_cases(void)
{
    const char *labels = "{\"labels\": {\"0\": \"background\", \"1\": \"organ\", \"2\": \"x\"}}";
    expect_bad("plan_bad_spacing", NULL, m_spacing, "case sick", "differ in geometry");
    expect_bad("plan_bad_shape", NULL, m_shape, "case sick", "12 x 16 x 22");
    expect_bad("plan_bad_label", labels, m_label3, "case sick: unexpected label 3",
               "declares 0, 1, 2");
    expect_bad("plan_bad_fraction", NULL, m_fraction, "case sick", "not an integer");
    expect_bad("plan_bad_empty", NULL, m_empty, "case sick", "is empty");
    expect_bad("plan_bad_missing", NULL, m_nolabel, "case sick: no label map", "labelsTr");
    hg_seg_dataset ds;
    CHECK_FAILS(hg_seg_dataset_load(hg_test_tmp("plan_nowhere"), &ds), HG_ERR_IO, "imagesTr");
}

static hg_seg_fingerprint synthetic_fp(int64_t d, int64_t h, int64_t w)
{
    hg_seg_fingerprint fp = {.cases = 10, .channels = 1, .classes = 2, .ndim = 3,
                             .median_spacing = {1, 1, 1}, .median_shape = {d, h, w},
                             .fg_mean = {0}, .fg_std = {1}, .total_voxels = 10.0 * d * h * w};
    return fp;
}

static void test_plan_budget(void)
{
    hg_seg_fingerprint fp = synthetic_fp(96, 160, 160);
    hg_seg_plan big, small;
    hg_seg_plan_opts o = {.memory_mb = 8192, .threads = 16, .step_seconds = 100};
    CHECK_OK(hg_seg_plan_make(&fp, &o, &big));
    o = (hg_seg_plan_opts){.memory_mb = 256, .threads = 2, .step_seconds = 1};
    CHECK_OK(hg_seg_plan_make(&fp, &o, &small));
    for (const hg_seg_plan *p = &big; p; p = p == &big ? &small : NULL) {
        int64_t m = 1ll << (p->levels - 1);
        for (int a = 0; a < 3; a++)
            CHECK_MSG(p->patch[a] % m == 0 && p->patch[a] >= 8, "patch %lld, levels %d",
                      (long long)p->patch[a], (int)p->levels);
        CHECK(p->memory_mb == hg_unet_train_bytes(3, 1, 2, p->levels, p->features, p->patch,
                                                  p->batch, p->threads) / 1048576.0);
        CHECK(p->batch >= 2 && p->features[0] >= 4);
    }
    CHECK(big.memory_mb <= 8192 && small.memory_mb <= 256 && small.step_seconds <= 1);
    CHECK(small.patch[0] * small.patch[1] * small.patch[2] * small.features[0] <
          big.patch[0] * big.patch[1] * big.patch[2] * big.features[0]);
    /* the patch keeps the data's aspect: H, W >= D for a flat volume */
    CHECK(big.patch[1] >= big.patch[0] && big.patch[2] >= big.patch[0]);
    CHECK(strcmp(big.normalization, "zscore") == 0);
    /* a budget nothing fits into names the smallest plan's needs */
    o.memory_mb = 0.01;
    CHECK_FAILS(hg_seg_plan_make(&fp, &o, &small), HG_ERR_INVALID, "the smallest plan");
    /* 2-D data give a 2-D plan with patch[0] = 1 */
    fp = synthetic_fp(1, 300, 200);
    fp.ndim = 2;
    CHECK_OK(hg_seg_plan_make(&fp, NULL, &small));
    CHECK(small.dims == 2 && small.patch[0] == 1 && small.patch[1] >= small.patch[2]);
}

/* The memory formula against the arena peak of one real training step (forward, loss,
 * backward) plus the parameter, gradient and Adam state bytes. */
static void check_memory_formula(int dims, const char *features, const int32_t *f, int levels,
                                 const int64_t *patch)
{
    hg_metadata cfg;
    hg_metadata_init(&cfg);
    hg_metadata_set(&cfg, "dims", dims == 3 ? "3" : "2");
    hg_metadata_set(&cfg, "classes", "3");
    hg_metadata_set(&cfg, "features", features);
    hg_model *m = hg_model_create("unet", &cfg, 0);
    REQUIRE(m);
    hg_ctx *ctx = hg_ctx_new();
    int64_t xs[5] = {2, 1, patch[0], patch[1], patch[2]}, ys[4] = {2, patch[0], patch[1],
                                                                    patch[2]};
    if (dims == 2)
        xs[2] = patch[1], xs[3] = patch[2], ys[1] = patch[1], ys[2] = patch[2];
    hg_tensor *x = hg_tensor_new(ctx, HG_F32, dims + 2, xs);
    hg_tensor *y = hg_tensor_new(ctx, HG_F32, dims + 1, ys);
    hg_test_fill(x, 1, -1, 1);
    for (int64_t i = 0; i < y->numel; i++)
        y->data[i] = (float)(i % 3);
    hg_seg_task st = {.dice_weight = 1, .ce_weight = 1};
    hg_task task = hg_seg_task_make(&st);
    hg_tensor *loss = task.loss(task.self, m, ctx, x, y);
    REQUIRE(loss);
    CHECK_OK(hg_backward(ctx, loss));
    double measured = (double)hg_ctx_peak_bytes(ctx) +
                      16.0 * (double)hg_params_count_trainable(&m->params);
    double est = hg_unet_train_bytes(dims, 1, 3, levels, f, patch, 2, hg_get_threads());
    printf("memory formula, %d-D %s: estimate %.2f MB, measured %.2f MB (ratio %.3f)\n", dims,
           features, est / 1048576, measured / 1048576, est / measured);
    CHECK_MSG(est >= 0.9 * measured && est <= 1.3 * measured,
              "estimate %.0f vs measured %.0f bytes", est, measured);
    hg_ctx_free(ctx);
    hg_model_free(m);
    hg_metadata_free(&cfg);
}

static void test_memory_formula(void)
{
    check_memory_formula(3, "8,16,32", (int32_t[]){8, 16, 32}, 3, (int64_t[]){16, 24, 32});
    check_memory_formula(2, "16,32,64,128", (int32_t[]){16, 32, 64, 128}, 4,
                         (int64_t[]){1, 64, 96});
}

static void test_plan_io(void)
{
    hg_seg_fingerprint fp = synthetic_fp(40, 64, 48);
    hg_seg_plan p, q, r;
    CHECK_OK(hg_seg_plan_make(&fp, NULL, &p));
    const char *path = hg_test_tmp("plan_io.json");
    CHECK_OK(hg_seg_plan_write(path, &fp, &p));
    CHECK_OK(hg_seg_plan_read(path, &q));
    CHECK(q.dims == p.dims && q.levels == p.levels && q.batch == p.batch &&
          memcmp(q.patch, p.patch, sizeof p.patch) == 0 &&
          memcmp(q.features, p.features, sizeof p.features) == 0 &&
          q.target_spacing[1] == p.target_spacing[1] && strcmp(q.normalization, "zscore") == 0);
    hg_metadata meta;
    hg_metadata_init(&meta);
    bool found = true;
    CHECK_OK(hg_seg_plan_from_metadata(&meta, &r, &found));
    CHECK(!found);
    CHECK_OK(hg_seg_plan_to_metadata(&p, &meta));
    CHECK_OK(hg_seg_plan_from_metadata(&meta, &r, &found));
    CHECK(found && memcmp(r.patch, p.patch, sizeof p.patch) == 0 && r.levels == p.levels &&
          r.target_spacing[2] == p.target_spacing[2] && r.std[0] == p.std[0]);
    hg_metadata_set(&meta, "plan.target_spacing", "1,2");
    CHECK_FAILS(hg_seg_plan_from_metadata(&meta, &r, &found), HG_ERR_FORMAT,
                "'plan.target_spacing' is 1,2, expected 3");
    hg_metadata_free(&meta);
    /* a patch that the U-Net cannot pool is refused, naming it */
    hg_test_write_text(path, "{\"plan\": {\"dims\": 3, \"channels\": 1, \"classes\": 2, "
                             "\"levels\": 3, \"batch\": 2, \"target_spacing\": [1, 1, 1], "
                             "\"patch\": [16, 18, 16], \"median_shape\": [1, 1, 1], "
                             "\"features\": [4, 8, 16], \"clip_lo\": [0], \"clip_hi\": [1], "
                             "\"mean\": [0], \"std\": [1], \"normalization\": \"zscore\"}}");
    CHECK_FAILS(hg_seg_plan_read(path, &q), HG_ERR_FORMAT, "patch 18 (axis 1) is not divisible");
}

static void test_resample(void)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_test_load_fixture("seg/resample.safetensors", &fx);
    hg_tensor *x = hg_test_get(&fx, "x");
    const char *names[3] = {"down", "up", "mixed"};
    for (int i = 0; i < 3; i++) {
        hg_tensor *want = hg_test_get(&fx, names[i]);
        hg_tensor *y = hg_resample(x, want->shape + 1, HG_INTERP_LINEAR);
        REQUIRE(y);
        double err = hg_test_rel_err(y->data, want->data, want->numel);
        CHECK_MSG(err < 1e-6, "%s: relative error %.3g vs scipy", names[i], err);
        hg_tensor_free(y);
    }
    /* same shape: identity; nearest keeps the label set */
    hg_tensor *same = hg_resample(x, x->shape + 1, HG_INTERP_LINEAR);
    CHECK(same && hg_test_rel_err(same->data, x->data, x->numel) == 0);
    hg_tensor_free(same);
    hg_tensor *lab = hg_tensor_new(NULL, HG_F32, 3, (int64_t[]){5, 9, 7});
    for (int64_t i = 0; i < lab->numel; i++)
        lab->data[i] = (float)((i * 7) % 4);
    hg_tensor *ln = hg_resample(lab, (int64_t[]){11, 4, 13}, HG_INTERP_NEAREST);
    bool ok = ln != NULL;
    for (int64_t i = 0; ok && i < ln->numel; i++)
        ok = ln->data[i] == floorf(ln->data[i]) && ln->data[i] >= 0 && ln->data[i] <= 3;
    CHECK(ok);
    CHECK(hg_resample_size(181, 1.0, 3.0) == 60 && hg_resample_size(5, 1.0, 100.0) == 1);
    CHECK_NULL_WITH(hg_resample(lab, (int64_t[]){0, 4, 4}, HG_INTERP_LINEAR),
                    "output size 0 (axis 0)");
    hg_tensor_free(ln);
    hg_tensor_free(lab);
    hg_params_free(&fx);
}

/* 2-D data (one slice per file) give a 2-D plan; the task trains on 2-D patches and
 * validates by 2-D sliding windows. */
static void test_2d_dataset(void)
{
    const char *dir = fresh_dir("plan_ds_2d");
    for (int i = 0; i < 4; i++) {
        hg_test_case_spec c = base;
        c.nz = 1, c.nx = 30 + 2 * i, c.ny = 26, c.classes = 2, c.seed = 20 + (uint64_t)i;
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        hg_test_write_case(dir, name, &c);
    }
    hg_seg_dataset ds;
    CHECK_OK(hg_seg_dataset_load(dir, &ds));
    CHECK(ds.ndim == 2 && ds.classes == 2 && !ds.labels_declared);
    hg_seg_fingerprint fp;
    hg_seg_plan p;
    CHECK_OK(hg_seg_fingerprint_compute(&ds, &fp));
    CHECK_OK(hg_seg_plan_make(&fp, &(hg_seg_plan_opts){.base_features = 4}, &p));
    CHECK(p.dims == 2 && p.patch[0] == 1 && p.patch[2] % (1 << (p.levels - 1)) == 0);
    hg_plan_task t = {.plan = p};
    CHECK_OK(hg_plan_task_init(&t, &ds, 0.25));
    CHECK(t.n_train == 3 && t.n_val == 1 && t.images[0]->ndim == 3 && t.labels[0]->ndim == 2);
    hg_metadata cfg;
    hg_metadata_init(&cfg);
    CHECK_OK(hg_seg_plan_model_config(&p, &cfg));
    hg_model *m = hg_model_create("unet", &cfg, 0);
    REQUIRE(m);
    hg_task task = hg_plan_task_make(&t);
    hg_ctx *ctx = hg_ctx_new();
    hg_rng r = hg_rng_new(3);
    hg_tensor *x, *y;
    CHECK_OK(task.batch(task.self, 0, &r, ctx, &x, &y));
    CHECK(x->ndim == 4 && x->shape[0] == p.batch && x->shape[2] == p.patch[1] &&
          y->ndim == 3 && y->shape[2] == p.patch[2]);
    hg_tensor *loss = task.loss(task.self, m, ctx, x, y);
    CHECK(loss && isfinite(loss->data[0]));
    double dice = -1;
    CHECK_OK(task.evaluate(task.self, m, &dice));
    CHECK(dice >= 0 && dice <= 1);
    hg_ctx_free(ctx);
    hg_model_free(m);
    hg_metadata_free(&cfg);
    hg_plan_task_free(&t);
    /* a 2-D plan cannot train on 3-D data */
    hg_seg_dataset ds3;
    const char *dir3 = fresh_dir("plan_ds_3d_for_2d");
    hg_test_write_case(dir3, "v", &base);
    CHECK_OK(hg_seg_dataset_load(dir3, &ds3));
    hg_plan_task t3 = {.plan = p};
    t3.plan.classes = 3;
    CHECK_FAILS(hg_plan_task_init(&t3, &ds3, 0.2), HG_ERR_UNSUPPORTED, "2-D plan on a 3-D");
    hg_seg_dataset_free(&ds3);
    hg_seg_dataset_free(&ds);
}

int main(void)
{
    test_2d_dataset();
    test_load_and_fingerprint();
    test_bad_cases();
    test_plan_budget();
    test_memory_formula();
    test_plan_io();
    test_resample();
    return hg_test_finish("test_seg_plan");
}
