/* 3-D U-Net benchmark, hinge side (peer: bench/unet3d_torch.py; both run by
 * bench/unet3d_compare.sh). The model is nnU-Net's plain 3-D U-Net shape: 4 levels, features
 * F, 2F, 4F, 8F (default F = 16), (conv3 - instance norm - LeakyReLU 0.01) x 2 per level, 2x
 * max pool down, 2x2x2 transposed conv up, 1 input channel, 2 classes.
 *   train: one Adam step (cross-entropy) on a batch of 1 x 1 x P^3 (default P = 96)
 *   infer: hg_sliding_window over a 1 x 1 x 181 x 217 x 181 volume (the MNI / Colin27 grid),
 *          window W^3 (default 96), overlap 0.5, Gaussian blending (sigma = W / 8)
 * Prints one JSON object: workload -> {"ms": min over runs, "runs": n, ...}; the minimum is
 * the least disturbed run on a shared machine.
 *
 * Not built by CMake; from the repository root, after building build/:
 *   gcc -O2 -fopenmp -Iinclude bench/unet3d_bench.c build/libhinge.a -o /tmp/unet3d_bench \
 *       $(pkg-config --libs openblas fftw3f libcjson zlib libpng) -lnifti2 -lznz -lm
 *   /tmp/unet3d_bench [--threads 2] [--features 16] [--patch 96] [--window 96]
 *                     [--repeat 3] [--only train|infer] [--check PATH]
 * --check PATH writes the model (PATH) and a 1 x 1 x 32^3 input with hinge's output
 * (PATH.io.safetensors: "x", "y") so that the peer (same flag) can prove it runs the same
 * network: it loads the weights and reports the largest output difference.
 */
#include "hinge/hinge.h"
#include "hinge/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of the whole process (all threads): less sensitive than wall time to other
 * jobs on a shared machine, though cache and memory contention still show. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "unet3d_bench: %s: %s\n", what, hg_error_message());
    return 1;
}

static hg_model *make_model(int features)
{
    char f[64];
    snprintf(f, sizeof f, "%d,%d,%d,%d", features, 2 * features, 4 * features, 8 * features);
    hg_metadata cfg;
    hg_metadata_init(&cfg);
    hg_metadata_set(&cfg, "dims", "3");
    hg_metadata_set(&cfg, "in_channels", "1");
    hg_metadata_set(&cfg, "classes", "2");
    hg_metadata_set(&cfg, "features", f);
    hg_metadata_set(&cfg, "norm", "instance");
    hg_metadata_set(&cfg, "activation", "leaky_relu");
    hg_model *m = hg_model_create("unet", &cfg, 0);
    hg_metadata_free(&cfg);
    return m;
}

/* Minimum wall time of `repeat` Adam steps after one warm-up step. */
static int bench_train(int features, int patch, int repeat, double *ms, double *cpu_ms,
                       double *peak_mb, double *footprint_mb)
{
    hg_model *m = make_model(features);
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_tensor_new(NULL, HG_F32, 5, (const int64_t[]){1, 1, patch, patch, patch});
    hg_tensor *y = hg_tensor_new(NULL, HG_F32, 4, (const int64_t[]){1, patch, patch, patch});
    hg_optim *opt = m ? hg_optim_adam(&m->params, NULL) : NULL;
    if (!m || !ctx || !x || !y || !opt)
        return fail("train setup");
    hg_rng r = hg_rng_new(1);
    hg_rng_fill_normal(&r, x->data, x->numel, 0, 1);
    for (int64_t i = 0; i < y->numel; i++)
        y->data[i] = (float)(hg_rng_u32(&r) & 1);
    hg_ctx_set_training(ctx, true);
    hg_ctx_set_grad(ctx, true);
    hg_tape_set_release(ctx, true); /* as hg_train does */
    *ms = *cpu_ms = 1e30;
    for (int k = 0; k <= repeat; k++) {
        double t = now(), c = cpu_now();
        hg_ctx_reset(ctx);
        hg_params_zero_grad(&m->params);
        hg_tensor *loss = hg_cross_entropy(ctx, hg_model_forward(m, ctx, x), y, NULL, -100);
        if (!loss || hg_backward(ctx, loss) != HG_OK || hg_optim_step(opt) != HG_OK)
            return fail("train step");
        t = 1e3 * (now() - t);
        c = 1e3 * (cpu_now() - c);
        if (k > 0 && t < *ms)
            *ms = t;
        if (k > 0 && c < *cpu_ms)
            *cpu_ms = c;
    }
    /* live peak and arena footprint (all steps, the warm-up included), as `hinge bench` */
    *peak_mb = (double)hg_ctx_peak_bytes(ctx) / 1048576.0;
    *footprint_mb = (double)hg_ctx_footprint_bytes(ctx) / 1048576.0;
    hg_optim_free(opt);
    hg_model_free(m);
    hg_ctx_free(ctx);
    hg_tensor_free(x);
    hg_tensor_free(y);
    return 0;
}

static int bench_infer(int features, int window, int repeat, double *ms, double *cpu_ms,
                       double *checksum)
{
    hg_model *m = make_model(features);
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_tensor_new(NULL, HG_F32, 5, (const int64_t[]){1, 1, 181, 217, 181});
    if (!m || !ctx || !x)
        return fail("inference setup");
    hg_rng r = hg_rng_new(2);
    hg_rng_fill_normal(&r, x->data, x->numel, 0, 1);
    hg_sliding_window_opts o = {.window = {window, window, window}, .overlap = 0.5};
    *ms = *cpu_ms = 1e30;
    for (int k = 0; k < repeat; k++) {
        double t = now(), c = cpu_now();
        hg_tensor *out = hg_sliding_window(m, x, 3, &o, ctx);
        t = 1e3 * (now() - t);
        c = 1e3 * (cpu_now() - c);
        if (!out)
            return fail("sliding window");
        if (t < *ms)
            *ms = t;
        if (c < *cpu_ms)
            *cpu_ms = c;
        double s = 0;
        for (int64_t i = 0; i < out->numel; i++)
            s += out->data[i];
        *checksum = s / (double)out->numel;
        hg_tensor_free(out);
    }
    hg_model_free(m);
    hg_ctx_free(ctx);
    hg_tensor_free(x);
    return 0;
}

/* The model and one input/output pair for the peer's equivalence check. */
static int write_check(int features, const char *path)
{
    hg_model *m = make_model(features);
    hg_ctx *ctx = hg_ctx_new();
    hg_params io;
    hg_params_init(&io);
    hg_tensor *x = hg_params_add(&io, "x", false, 5, (const int64_t[]){1, 1, 32, 32, 32});
    if (!m || !ctx || !x)
        return fail("check setup");
    hg_rng r = hg_rng_new(5);
    hg_rng_fill_normal(&r, x->data, x->numel, 0, 1);
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_tensor *y = hg_model_forward(m, ctx, x);
    char io_path[1024];
    snprintf(io_path, sizeof io_path, "%s.io.safetensors", path);
    if (!y || hg_params_adopt(&io, "y", hg_tensor_clone(NULL, y)) != HG_OK ||
        hg_model_save(m, path, NULL) != HG_OK || hg_safetensors_save(io_path, &io, NULL))
        return fail("check");
    hg_params_free(&io);
    hg_ctx_free(ctx);
    hg_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 2, features = 16, patch = 96, window = 96, repeat = 3;
    const char *only = "", *check = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--threads") == 0) threads = v;
        else if (strcmp(argv[i], "--features") == 0) features = v;
        else if (strcmp(argv[i], "--patch") == 0) patch = v;
        else if (strcmp(argv[i], "--window") == 0) window = v;
        else if (strcmp(argv[i], "--repeat") == 0) repeat = v;
        else if (strcmp(argv[i], "--only") == 0) only = argv[i + 1];
        else if (strcmp(argv[i], "--check") == 0) check = argv[i + 1];
        else return fprintf(stderr, "unet3d_bench: unknown option %s\n", argv[i]), 2;
    }
    hg_set_threads(threads);
    if (check)
        return write_check(features, check);
    hg_model *m = make_model(features);
    if (!m)
        return fail("model");
    printf("{\n  \"_hinge\": {\"threads\": %d, \"features\": %d, \"patch\": %d, \"window\": %d, "
           "\"overlap\": 0.5, \"parameters\": %lld}", threads, features, patch, window,
           (long long)hg_params_count_trainable(&m->params));
    hg_model_free(m);
    if (strcmp(only, "infer") != 0) {
        double ms = 0, cpu = 0, peak = 0, footprint = 0;
        if (bench_train(features, patch, repeat, &ms, &cpu, &peak, &footprint))
            return 1;
        printf(",\n  \"unet3d_train_b1_%d\": {\"ms\": %.1f, \"cpu_ms\": %.1f, \"runs\": %d, "
               "\"peak_mb\": %.1f, \"footprint_mb\": %.1f}", patch, ms, cpu, repeat, peak,
               footprint);
        fflush(stdout);
    }
    if (strcmp(only, "train") != 0) {
        double ms = 0, cpu = 0, sum = 0;
        if (bench_infer(features, window, repeat, &ms, &cpu, &sum))
            return 1;
        printf(",\n  \"unet3d_infer_181x217x181_w%d\": {\"ms\": %.1f, \"cpu_ms\": %.1f, "
               "\"runs\": %d, \"mean_logit\": %.6g}", window, ms, cpu, repeat, sum);
    }
    printf("\n}\n");
    return 0;
}
