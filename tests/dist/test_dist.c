/* Data parallelism and distributed inference. Run by ctest as one process: the world-of-one
 * checks run here, then the test relaunches itself under
 * `mpirun --oversubscribe --allow-run-as-root -np 2` (skipped when mpirun is absent) and
 * drives `hinge train` under mpirun. */
#include "hinge/dist.h"
#include "hinge/io.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MPIRUN "OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe " \
               "--allow-run-as-root -np"

/* ---- a two-layer perceptron without batch statistics: exact equivalence is expected --- */

typedef struct mlp_task {
    const float *xs, *ys;
    int64_t n, batch, in, out;
} mlp_task;

static hg_status mlp_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                           hg_tensor **y)
{
    mlp_task *t = self;
    (void)rng;
    *x = hg_new(ctx, t->batch, t->in);
    *y = hg_new(ctx, t->batch, t->out);
    if (!*x || !*y)
        return hg_error_status();
    for (int64_t b = 0; b < t->batch; b++) {
        int64_t row = (step * t->batch + b) % t->n;
        memcpy((*x)->data + b * t->in, t->xs + row * t->in, (size_t)t->in * sizeof(float));
        memcpy((*y)->data + b * t->out, t->ys + row * t->out, (size_t)t->out * sizeof(float));
    }
    return HG_OK;
}

static hg_tensor *mlp_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    (void)self;
    hg_params *p = &m->params;
    hg_tensor *h = hg_relu(ctx, hg_linear(ctx, x, hg_params_get(p, "w1"), hg_params_get(p, "b1")));
    return hg_mse_loss(ctx, hg_linear(ctx, h, hg_params_get(p, "w2"), hg_params_get(p, "b2")), y);
}

static void mlp_init(hg_model *m, int64_t in, int64_t hidden, int64_t out)
{
    memset(m, 0, sizeof *m);
    hg_params_init(&m->params);
    hg_metadata_init(&m->config);
    hg_test_fill(hg_params_add(&m->params, "w1", true, 2, (int64_t[]){hidden, in}), 11, -0.5f, 0.5f);
    hg_test_fill(hg_params_add(&m->params, "b1", true, 1, (int64_t[]){hidden}), 12, -0.1f, 0.1f);
    hg_test_fill(hg_params_add(&m->params, "w2", true, 2, (int64_t[]){out, hidden}), 13, -0.5f, 0.5f);
    hg_test_fill(hg_params_add(&m->params, "b2", true, 1, (int64_t[]){out}), 14, -0.1f, 0.1f);
}

static void mlp_free(hg_model *m)
{
    hg_params_free(&m->params);
    hg_metadata_free(&m->config);
}

static double max_abs_diff(const hg_params *a, const hg_params *b)
{
    double d = 0;
    for (int32_t i = 0; i < a->count; i++) {
        const hg_tensor *x = a->items[i].tensor, *y = hg_params_get(b, a->items[i].name);
        if (!y || y->numel != x->numel)
            return INFINITY;
        for (int64_t j = 0; j < x->numel; j++)
            d = fmax(d, fabs((double)x->data[j] - (double)y->data[j]));
    }
    return d;
}

static float g_xs[64 * 6], g_ys[64 * 3];

static hg_task mlp_problem(mlp_task *mt, hg_train_opts *o)
{
    hg_rng r = hg_rng_new(9);
    for (int i = 0; i < 64 * 6; i++)
        g_xs[i] = (float)hg_rng_uniform(&r) * 2 - 1;
    for (int i = 0; i < 64 * 3; i++)
        g_ys[i] = (float)hg_rng_uniform(&r);
    *mt = (mlp_task){g_xs, g_ys, 64, 8, 6, 3};
    hg_train_opts_defaults(o);
    o->lr = 1e-2;
    o->seed = 5;
    hg_task task = {"mlp", "none", false, mlp_batch, mlp_loss, NULL, mt};
    return task;
}

/* A checkpoint carries no rank count: 2 ranks -> resume alone, and 1 process -> resume on 2
 * ranks, both match 10 uninterrupted one-process steps to float rounding. */
static void test_resume_any_ranks(void)
{
    mlp_task mt;
    hg_train_opts o;
    hg_task task = mlp_problem(&mt, &o);
    const char *ck2 = hg_test_tmp("dist_mlp_ck2.safetensors");
    const char *ck1 = hg_test_tmp("dist_mlp_ck1.safetensors");
    hg_model ref, a, b;
    mlp_init(&ref, 6, 16, 3);
    mlp_init(&a, 6, 16, 3);
    mlp_init(&b, 6, 16, 3);
    hg_dist_trainer *ta = hg_dist_trainer_new(&a.params, 0, 1), *tb = hg_dist_trainer_new(&b.params, 0, 1);
    hg_train_dist da, db;
    hg_dist_train_hooks(ta, &da);
    hg_dist_train_hooks(tb, &db);
    /* a: 5 steps on 2 ranks (rank 0 writes ck2) */
    o.steps = 5;
    o.checkpoint = ck2;
    o.dist = &da;
    CHECK_OK(hg_train(&a, &task, &o, NULL));
    if (hg_dist_rank() == 0) {
        /* b: 5 steps alone (ck1) */
        o.dist = NULL;
        o.checkpoint = ck1;
        CHECK_OK(hg_train(&b, &task, &o, NULL));
        /* ref: 10 steps alone; a: resume ck2 alone to 10 */
        o.steps = 10;
        o.checkpoint = NULL;
        CHECK_OK(hg_train(&ref, &task, &o, NULL));
        o.checkpoint = ck2;
        o.resume = true;
        CHECK_OK(hg_train(&a, &task, &o, NULL));
        double d = max_abs_diff(&a.params, &ref.params);
        fprintf(stderr, "MLP: 5 steps on 2 ranks + 5 resumed alone vs 10 alone: max |dw| %.3g\n", d);
        CHECK_MSG(d <= 1e-5, "max |dw| %g", d);
    }
    hg_dist_barrier();
    /* b: resume ck1 (written by one process) on 2 ranks to 10 */
    o.steps = 10;
    o.checkpoint = ck1;
    o.resume = true;
    o.dist = &db;
    CHECK_OK(hg_train(&b, &task, &o, NULL));
    if (hg_dist_rank() == 0) {
        double d = max_abs_diff(&b.params, &ref.params);
        fprintf(stderr, "MLP: 5 steps alone + 5 resumed on 2 ranks vs 10 alone: max |dw| %.3g\n", d);
        CHECK_MSG(d <= 1e-5, "max |dw| %g", d);
    }
    hg_dist_trainer_free(ta);
    hg_dist_trainer_free(tb);
    mlp_free(&ref);
    mlp_free(&a);
    mlp_free(&b);
}

/* Data-parallel training of the MLP on every rank, and (rank 0) the same global batches in one
 * process: the weights must agree to float rounding. */
static void test_equivalence(void)
{
    enum { N = 64, IN = 6, HID = 16, OUT = 3 };
    static float xs[N * IN], ys[N * OUT];
    hg_rng r = hg_rng_new(7);
    for (int i = 0; i < N * IN; i++)
        xs[i] = (float)hg_rng_uniform(&r) * 2 - 1;
    for (int i = 0; i < N * OUT; i++)
        ys[i] = (float)hg_rng_uniform(&r);
    mlp_task mt = {xs, ys, N, 8, IN, OUT};
    hg_task task = {"mlp", "none", false, mlp_batch, mlp_loss, NULL, &mt};
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 25;
    o.lr = 1e-2;
    o.seed = 3;

    hg_model dp;
    mlp_init(&dp, IN, HID, OUT);
    hg_dist_trainer *t = hg_dist_trainer_new(&dp.params, 256, 5); /* several buckets */
    CHECK(t != NULL);
    hg_train_dist d;
    hg_dist_train_hooks(t, &d);
    o.dist = &d;
    hg_train_result res;
    CHECK_OK(hg_train(&dp, &task, &o, &res));
    hg_dist_stats st = hg_dist_trainer_stats(t);
    CHECK(st.steps == 25 && st.hash_checks == 5);
    CHECK(st.bytes_per_step == (int64_t)sizeof(float) * (HID * IN + HID + OUT * HID + OUT));
    CHECK(st.buckets == (int32_t)((st.bytes_per_step + 255) / 256));
    CHECK_OK(hg_dist_check_identical(&dp.params, 25));
    if (hg_dist_rank() == 0) {
        hg_model one;
        mlp_init(&one, IN, HID, OUT);
        o.dist = NULL;
        hg_train_result r1;
        CHECK_OK(hg_train(&one, &task, &o, &r1));
        double diff = max_abs_diff(&dp.params, &one.params);
        fprintf(stderr, "MLP, 25 Adam steps, global batch 8: 2 ranks vs 1 process: max |dw| "
                        "%.3g, loss %.9g vs %.9g\n", diff, res.final_loss, r1.final_loss);
        CHECK_MSG(diff <= 1e-5, "max |dw| %g", diff);
        CHECK_NEAR(res.final_loss, r1.final_loss, 1e-5 * fabs(r1.final_loss));
        mlp_free(&one);
    }
    /* A rank that drifts is caught by the next hash check, on every rank. */
    if (hg_dist_rank() == 1)
        dp.params.items[2].tensor->data[3] += 1e-6f;
    CHECK_FAILS(hg_dist_check_identical(&dp.params, 26), HG_ERR_STATE, "diverged after step 26");
    CHECK_OK(hg_dist_broadcast_params(&dp.params));
    CHECK_OK(hg_dist_check_identical(&dp.params, 27));
    hg_dist_trainer_free(t);
    mlp_free(&dp);
}

/* Buckets started during backward (the tape's gradient-ready hook) give bitwise the same
 * weights as reducing after backward: same buffer, same bucket bounds, same calls. The model
 * has a parameter the loss never uses (its gradient is zero, packed after backward) between
 * the layers, and tiny buckets so that the second layer's buckets start while the first
 * layer's backward has yet to run. */
static void init_with_unused(hg_model *m)
{
    hg_model tmp;
    mlp_init(&tmp, 6, 16, 3);
    memset(m, 0, sizeof *m);
    hg_params_init(&m->params);
    hg_metadata_init(&m->config);
    const char *names[] = {"w1", "b1", "unused", "w2", "b2"};
    for (int i = 0; i < 5; i++) {
        hg_tensor *src = hg_params_get(&tmp.params, names[i]);
        hg_tensor *t = hg_params_add(&m->params, names[i], true, src ? src->ndim : 1,
                                     src ? src->shape : (int64_t[]){2});
        if (src)
            memcpy(t->data, src->data, (size_t)src->numel * sizeof(float));
    }
    mlp_free(&tmp);
}

static void test_overlap_bitwise(void)
{
    mlp_task mt;
    hg_train_opts o;
    hg_task task = mlp_problem(&mt, &o);
    o.steps = 12;
    hg_model on, off;
    init_with_unused(&on);
    init_with_unused(&off);
    hg_dist_trainer *ton = hg_dist_trainer_new(&on.params, 8 * sizeof(float), 4);
    hg_dist_trainer *toff = hg_dist_trainer_new(&off.params, 8 * sizeof(float), 4);
    REQUIRE(ton && toff);
    hg_dist_trainer_set_overlap(toff, false);
    hg_train_dist don, doff;
    hg_dist_train_hooks(ton, &don);
    hg_dist_train_hooks(toff, &doff);
    o.dist = &don;
    CHECK_OK(hg_train(&on, &task, &o, NULL));
    o.dist = &doff;
    CHECK_OK(hg_train(&off, &task, &o, NULL));
    int differ = 0;
    for (int32_t i = 0; i < on.params.count; i++) {
        const hg_tensor *a = on.params.items[i].tensor, *b = off.params.items[i].tensor;
        differ += memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)) != 0;
    }
    hg_dist_stats son = hg_dist_trainer_stats(ton), soff = hg_dist_trainer_stats(toff);
    /* 165 floats in buckets of 8: 21 buckets, of which the 6 inside b2 and w2 (51 floats)
     * are complete right after the second layer's backward */
    CHECK(son.buckets == 21 && son.overlap && !soff.overlap);
    fprintf(stderr, "overlap on vs off, 12 steps, 21 buckets: %d parameters differ; %lld "
                    "buckets started during backward (%.1f per step)\n", differ,
            (long long)son.buckets_overlapped, (double)son.buckets_overlapped / 12);
    CHECK_MSG(differ == 0, "%d parameters differ", differ);
    CHECK_MSG(son.buckets_overlapped >= 6 * 12, "buckets started in backward: %lld",
              (long long)son.buckets_overlapped);
    CHECK(soff.buckets_overlapped == 0);
    CHECK(hg_params_get(&on.params, "unused")->data[0] == 0.0f); /* Adam on zero gradients */
    CHECK_OK(hg_dist_check_identical(&on.params, 12));
    /* begin twice without finishing is a usage error */
    hg_ctx *ctx = hg_ctx_new();
    CHECK_OK(hg_dist_trainer_begin_backward(ton, ctx));
    CHECK_FAILS(hg_dist_trainer_begin_backward(ton, ctx), HG_ERR_STATE, "twice");
    hg_params_zero_grad(&on.params);
    CHECK_OK(hg_dist_allreduce_grads(ton)); /* nothing reported: all packed here (zeros) */
    CHECK(hg_params_get(&on.params, "w1")->grad[0] == 0.0f);
    hg_ctx_free(ctx);
    hg_dist_trainer_free(ton);
    hg_dist_trainer_free(toff);
    mlp_free(&on);
    mlp_free(&off);
}

/* Rank-dependent gradients average exactly across tiny buckets; a missing gradient is zero. */
static void test_allreduce(void)
{
    hg_params p;
    hg_params_init(&p);
    hg_tensor *a = hg_params_add(&p, "a", true, 1, (int64_t[]){37});
    hg_tensor *b = hg_params_add(&p, "b", true, 2, (int64_t[]){5, 3});
    hg_tensor *c = hg_params_add(&p, "c", false, 1, (int64_t[]){4}); /* a buffer */
    hg_tensor *u = hg_params_add(&p, "unused", true, 1, (int64_t[]){2});
    int r = hg_dist_rank(), w = hg_dist_world();
    hg_grad(NULL, a);
    hg_grad(NULL, b);
    for (int i = 0; i < 37; i++)
        a->grad[i] = (float)(r + 1) * (float)i;
    for (int i = 0; i < 15; i++)
        b->grad[i] = r == 0 ? 1.0f : -1.0f;
    for (int i = 0; i < 4; i++)
        c->data[i] = (float)(r * 4 + i);
    hg_dist_trainer *t = hg_dist_trainer_new(&p, 7 * sizeof(float), -1);
    CHECK(t && hg_dist_trainer_stats(t).buckets == 8); /* 54 floats / 7 */
    CHECK_OK(hg_dist_allreduce_grads(t));
    double mean_scale = 0; /* mean of (rank+1) */
    for (int k = 0; k < w; k++)
        mean_scale += (k + 1.0) / w;
    double err = 0;
    for (int i = 0; i < 37; i++)
        err = fmax(err, fabs(a->grad[i] - mean_scale * i));
    CHECK_MSG(err <= 1e-5, "bucketed average of a: err %g", err);
    CHECK(b->grad[0] == (w == 2 ? 0.0f : 1.0f));
    CHECK(u->grad && u->grad[0] == 0 && u->grad[1] == 0);
    CHECK_OK(hg_dist_average_buffers(&p));
    CHECK_NEAR(c->data[1], w == 2 ? 3.0 : 1.0, 1e-6);
    hg_dist_trainer_free(t);
    hg_params_free(&p);
}

/* Sync batch norm on row shards of a global batch = batch norm of the whole batch: outputs,
 * input gradients (rows) and the sum over ranks of the gamma/beta gradients. */
static void test_sync_batch_norm(void)
{
    enum { N = 6, C = 3, S = 5 };
    int r = hg_dist_rank(), w = hg_dist_world(), rows = N / w;
    /* two contexts: one tape each (a backward walks its whole tape) */
    hg_ctx *ctx = hg_ctx_new(), *ctx2 = hg_ctx_new();
    hg_tensor *xg = hg_new(ctx, N, C, S), *wg = hg_new(ctx, N, C, S);
    hg_test_fill(xg, 21, -2.0f, 3.0f);
    hg_test_fill(wg, 22, -1.0f, 1.0f);
    hg_tensor *gamma = hg_new(NULL, C), *beta = hg_new(NULL, C);
    hg_test_fill(gamma, 23, 0.5f, 1.5f);
    hg_test_fill(beta, 24, -0.5f, 0.5f);
    gamma->requires_grad = beta->requires_grad = true;
    hg_tensor *rm1 = hg_new(ctx, C), *rv1 = hg_new(ctx, C), *rm2 = hg_new(ctx, C), *rv2 = hg_new(ctx, C);
    hg_tensor_fill(rv1, 1.0f);
    hg_tensor_fill(rv2, 1.0f);
    /* reference: the whole batch, one process */
    xg->requires_grad = true;
    hg_tensor *yg = hg_batch_norm(ctx, xg, gamma, beta, rm1, rv1, 0.1f, 1e-5f);
    CHECK_OK(hg_backward(ctx, hg_sum(ctx, hg_mul(ctx, yg, wg))));
    float ref_gg[C], ref_gb[C];
    memcpy(ref_gg, gamma->grad, sizeof ref_gg);
    memcpy(ref_gb, beta->grad, sizeof ref_gb);
    memset(gamma->grad, 0, C * sizeof(float));
    memset(beta->grad, 0, C * sizeof(float));
    /* this rank's rows */
    int64_t per = (int64_t)rows * C * S;
    hg_tensor *xs = hg_new(ctx2, rows, C, S), *ws = hg_new(ctx2, rows, C, S);
    memcpy(xs->data, xg->data + r * per, (size_t)per * sizeof(float));
    memcpy(ws->data, wg->data + r * per, (size_t)per * sizeof(float));
    xs->requires_grad = true;
    hg_tensor *ys = hg_sync_batch_norm(ctx2, xs, gamma, beta, rm2, rv2, 0.1f, 1e-5f);
    CHECK(ys != NULL);
    CHECK_OK(hg_backward(ctx2, hg_sum(ctx2, hg_mul(ctx2, ys, ws))));
    CHECK(hg_test_rel_err(ys->data, yg->data + r * per, per) <= 1e-5);
    CHECK(hg_test_rel_err(xs->grad, xg->grad + r * per, per) <= 1e-5);
    CHECK(hg_test_rel_err(rm2->data, rm1->data, C) <= 1e-6 && hg_test_rel_err(rv2->data, rv1->data, C) <= 1e-6);
    double e = 0;
    for (int ch = 0; ch < C; ch++) {
        e = fmax(e, fabs(hg_dist_allreduce_double(gamma->grad[ch], false) - ref_gg[ch]));
        e = fmax(e, fabs(hg_dist_allreduce_double(beta->grad[ch], false) - ref_gb[ch]));
    }
    CHECK_MSG(e <= 1e-4, "gamma/beta gradient sums: err %g", e);
    hg_tensor_free(gamma);
    hg_tensor_free(beta);
    hg_ctx_free(ctx2);
    hg_ctx_free(ctx);
}

/* ---- study lists -------------------------------------------------------------------------- */

/* A study is a small text file "value N"; the output is "2N". "corrupt" files fail. */
static hg_status double_study(void *user, const char *input, const char *output)
{
    (void)user;
    unsigned char *buf;
    size_t size;
    hg_status s = hg_read_file(input, 1024, &buf, &size);
    if (s != HG_OK)
        return s;
    long v = 0;
    char text[64];
    snprintf(text, sizeof text, "%.*s", (int)size, (const char *)buf);
    free(buf);
    if (sscanf(text, "value %ld", &v) != 1)
        return hg_error(HG_ERR_FORMAT, "study %s: corrupt (expected 'value N')", input);
    hg_atomic_file f;
    if ((s = hg_atomic_open(&f, output)) != HG_OK)
        return s;
    fprintf(f.fp, "%ld\n", 2 * v);
    return hg_atomic_commit(&f);
}

static int reports_failed;
static void on_report(void *user, int64_t index, const char *input, const char *output,
                      hg_study_outcome outcome, const char *message, int rank)
{
    (void)user, (void)index, (void)output, (void)rank;
    if (outcome == HG_STUDY_FAILED) {
        reports_failed++;
        CHECK_MSG(hg_test_contains(message, "corrupt") || hg_test_contains(message, "cannot open"),
                  "%s: %s", input, message);
    }
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_studies(const char *tag)
{
    char dir[512], outdir[600], list[600], path[700], out[700];
    snprintf(dir, sizeof dir, "%s", hg_test_tmp(tag));
    snprintf(outdir, sizeof outdir, "%s/out", dir);
    snprintf(list, sizeof list, "%s/studies.txt", dir);
    enum { NS = 9 };
    if (hg_dist_rank() == 0) {
        hg_test_run("rm -rf '%s' && mkdir -p '%s'", dir, outdir);
        FILE *l = fopen(list, "w");
        CHECK(l != NULL);
        fprintf(l, "# studies\n\n");
        for (int i = 0; i < NS; i++) {
            snprintf(path, sizeof path, "%s/s%d.nii.gz", dir, i);
            char text[32];
            snprintf(text, sizeof text, i == 4 ? "corrupt" : "value %d", i);
            if (i != 6)
                write_text(path, text); /* s6 is missing */
            fprintf(l, "  %s\n", path);
        }
        fclose(l);
        /* finished by an earlier run: must be skipped, not redone */
        snprintf(out, sizeof out, "%s/s2.txt", outdir);
        write_text(out, "old\n");
    }
    hg_dist_barrier();
    hg_study_summary sum;
    reports_failed = 0;
    CHECK_FAILS(hg_dist_run_studies(list, outdir, ".txt", double_study, on_report, NULL, &sum),
                HG_ERR_IO, "2 of 9 studies failed");
    CHECK(sum.total == NS && sum.done == 6 && sum.skipped == 1 && sum.failed == 2);
    if (hg_dist_rank() == 0) {
        CHECK(reports_failed == 2);
        for (int i = 0; i < NS; i++) {
            snprintf(out, sizeof out, "%s/s%d.txt", outdir, i);
            unsigned char *buf = NULL;
            size_t size = 0;
            hg_status s = hg_read_file(out, 64, &buf, &size);
            if (i == 4 || i == 6)
                CHECK(s != HG_OK);
            else if (i == 2)
                CHECK(s == HG_OK && size == 4 && memcmp(buf, "old\n", 4) == 0);
            else {
                char want[16];
                snprintf(want, sizeof want, "%d\n", 2 * i);
                CHECK_MSG(s == HG_OK && size == strlen(want) && memcmp(buf, want, size) == 0,
                          "output of study %d", i);
            }
            free(buf);
        }
        /* fix the corrupt study: the restart does only it and the (still missing) s6 */
        snprintf(path, sizeof path, "%s/s4.nii.gz", dir);
        write_text(path, "value 4");
    }
    hg_dist_barrier();
    CHECK_FAILS(hg_dist_run_studies(list, outdir, ".txt", double_study, NULL, NULL, &sum),
                HG_ERR_IO, "1 of 9 studies failed");
    CHECK(sum.done == 1 && sum.skipped == 7 && sum.failed == 1);
    hg_dist_barrier();
}

static void test_paths(void)
{
    char out[64];
    CHECK_OK(hg_study_output_path("/a/b/ct_01.nii.gz", "/o", ".nii.gz", out, sizeof out));
    CHECK(strcmp(out, "/o/ct_01.nii.gz") == 0);
    CHECK_OK(hg_study_output_path("k.cfl", "o", "_seg.nii.gz", out, sizeof out));
    CHECK(strcmp(out, "o/k_seg.nii.gz") == 0);
    CHECK_FAILS(hg_study_output_path("/a/", "/o", ".x", out, sizeof out), HG_ERR_INVALID,
                "no file name");
    CHECK_FAILS(hg_study_output_path("/a/b", "/a/very/long/output/folder/name/that/overflows",
                                     ".nii.gz", out, 16), HG_ERR_INVALID, "longer than 15");
    char **l;
    int64_t n;
    const char *empty = hg_test_tmp("dist_empty.txt");
    write_text(empty, "# nothing\n\n");
    CHECK_FAILS(hg_study_list_read(empty, &l, &n), HG_ERR_INVALID, "no studies");
    CHECK_FAILS(hg_study_list_read("/nonexistent/list.txt", &l, &n), HG_ERR_IO, "list.txt");
}

/* ---- hinge train under mpirun ------------------------------------------------------------- */

static int load(const char *path, hg_params *p)
{
    hg_params_init(p);
    return hg_safetensors_load(path, p, NULL) == HG_OK;
}

static void test_cli_train(void)
{
    const char *args = "cnn --steps 6 --batch 16 --train-limit 256 --val-limit 64 --set "
                       "features=8,16 --set hidden=32 --set dropout=0 --schedule constant "
                       "--threads 1 --quiet --check-every 1";
    const char *one = hg_test_tmp("dist_one.safetensors"), *two = hg_test_tmp("dist_two.safetensors");
    const char *ck = hg_test_tmp("dist_ck.safetensors"), *res = hg_test_tmp("dist_res.safetensors");
    CHECK(hg_test_run("%s train %s -o %s > /dev/null", HINGE_BINARY, args, one) == 0);
    CHECK(hg_test_run("%s 2 %s train %s -o %s --checkpoint %s > /dev/null", MPIRUN, HINGE_BINARY,
                      args, two, ck) == 0);
    hg_params a, b, c;
    hg_params_init(&a);
    hg_params_init(&b);
    hg_params_init(&c);
    if (load(one, &a) && load(two, &b)) {
        /* The CNN normalizes with batch statistics, which the shards see separately: the
         * runs agree only approximately (measured and printed; exact equivalence is checked
         * on the MLP above). */
        double d = max_abs_diff(&a, &b);
        fprintf(stderr, "CNN with batch norm, 6 steps: 2 ranks vs 1 process: max |dw| %.3g\n", d);
        CHECK_MSG(d > 0 && d < 0.05, "max |dw| %g", d);
    } else
        CHECK(!"outputs of hinge train missing");
    /* synchronized batch norm: the global-batch statistics make it the one-process run */
    const char *sync = hg_test_tmp("dist_sync.safetensors");
    CHECK(hg_test_run("%s 2 %s train %s --sync-bn -o %s > /dev/null", MPIRUN, HINGE_BINARY, args,
                      sync) == 0);
    hg_params sb;
    if (load(sync, &sb) && a.count > 0) {
        double d = max_abs_diff(&a, &sb);
        fprintf(stderr, "CNN with --sync-bn, 6 steps: 2 ranks vs 1 process: max |dw| %.3g "
                        "(parameters and running statistics)\n", d);
        CHECK_MSG(d <= 1e-5, "max |dw| %g", d);
    } else
        CHECK(!"output of hinge train --sync-bn missing");
    hg_params_free(&sb);
    /* resume a 2-rank checkpoint with 1 rank (and 4 more steps): same as 2 ranks continuing */
    CHECK(hg_test_run("%s train %s --steps 10 --checkpoint %s --resume -o %s > /dev/null",
                      HINGE_BINARY, args, ck, res) == 0);
    if (load(res, &c))
        CHECK(max_abs_diff(&b, &c) > 0); /* it trained on */
    /* an odd global batch cannot be split over 2 ranks: a clear usage error */
    CHECK(hg_test_run("%s 2 %s train %s --batch 15 -o %s 2>/dev/null >/dev/null", MPIRUN,
                      HINGE_BINARY, args, two) != 0);
    hg_params_free(&a);
    hg_params_free(&b);
    hg_params_free(&c);
}

/* hinge recon --list under mpirun: a corrupt study fails alone, the others match the
 * single-study command byte for byte, and a restart skips what is done. */
static void test_cli_recon_list(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", hg_test_tmp("dist_recon"));
    const char *bin = HINGE_BINARY;
    CHECK(hg_test_run("rm -rf '%s' && mkdir -p '%s'", dir, dir) == 0);
    CHECK(hg_test_run("%s phantom shepp-logan --size 32 -o %s/sl.nii.gz", bin, dir) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(hg_test_run("%s simulate ct --angles %d --detectors 47 --det-spacing 1 "
                          "%s/sl.nii.gz -o %s/s%d.nii.gz 2>/dev/null", bin, 30 + 10 * i, dir, dir,
                          i) == 0);
    CHECK(hg_test_run("head -c 100 %s/s0.nii.gz > %s/bad.nii.gz && printf '%s/s0.nii.gz\n"
                      "%s/bad.nii.gz\n%s/s1.nii.gz\n%s/s2.nii.gz\n' > %s/list.txt", dir, dir,
                      dir, dir, dir, dir, dir) == 0);
    CHECK(hg_test_run("%s recon --method fbp %s/s1.nii.gz -o %s/ref1.nii.gz 2>/dev/null", bin,
                      dir, dir) == 0);
    CHECK(hg_test_run("%s 2 %s recon --method fbp --list %s/list.txt -o %s/out 2> %s/log1.txt",
                      MPIRUN, bin, dir, dir, dir) != 0); /* one study failed */
    CHECK(hg_test_run("grep -q '4 studies on 2 ranks: 3 done, 0 skipped (already done), 1 failed' "
                      "%s/log1.txt && grep -q 'FAILED .*bad.nii.gz.*truncated' %s/log1.txt", dir,
                      dir) == 0);
    CHECK(hg_test_run("cmp -s %s/out/s1.nii.gz %s/ref1.nii.gz", dir, dir) == 0);
    CHECK(hg_test_run("test -f %s/out/s0.nii.gz && test -f %s/out/s2.nii.gz && ! test -e "
                      "%s/out/bad.nii.gz", dir, dir, dir) == 0);
    /* sidecars are in place and no partial file is left behind */
    CHECK(hg_test_run("test -f %s/out/s1.json && ! ls %s/out/*partial* 2>/dev/null", dir, dir) == 0);
    CHECK(hg_test_run("%s 2 %s recon --method fbp --list %s/list.txt -o %s/out 2> %s/log2.txt",
                      MPIRUN, bin, dir, dir, dir) != 0);
    CHECK(hg_test_run("grep -q '0 done, 3 skipped (already done), 1 failed' %s/log2.txt",
                      dir) == 0);
}

static const char *self_path(void)
{
    static char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

int main(void)
{
    CHECK_OK(hg_dist_init());
    if (getenv("OMPI_COMM_WORLD_SIZE")) {
        CHECK(hg_dist_world() == 2 && hg_dist_active());
        test_allreduce();
        test_equivalence();
        test_overlap_bitwise();
        test_resume_any_ranks();
        test_sync_batch_norm();
        test_studies("dist_studies_mpi");
        char name[32];
        snprintf(name, sizeof name, "test_dist[rank %d]", hg_dist_rank());
        return hg_test_finish(name);
    }
    /* one process: every call is a world of one */
    CHECK(hg_dist_rank() == 0 && hg_dist_world() == 1 && !hg_dist_active());
    test_paths();
    test_allreduce();
    test_sync_batch_norm(); /* one rank: plain batch norm */
    test_studies("dist_studies_one");
    if (!hg_dist_compiled() || system("command -v mpirun > /dev/null 2>&1") != 0) {
        fprintf(stderr, "test_dist: SKIP the 2-rank part (%s)\n",
                hg_dist_compiled() ? "mpirun not found" : "built without MPI");
        return hg_test_finish("test_dist");
    }
    CHECK_MSG(hg_test_run("%s 2 %s", MPIRUN, self_path()) == 0, "the 2-rank run failed");
    test_cli_train();
    test_cli_recon_list();
    return hg_test_finish("test_dist");
}
