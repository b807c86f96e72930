/* Convolution benchmark, per pass (forward, backward-data, backward-weights) and per path:
 * hinge's own kernels (im2col + sgemm or the direct ones, as AUTO picks them without oneDNN),
 * oneDNN in its blocked layouts (with the reorders from and to hinge's plain layout), oneDNN in
 * the plain layout, and the dispatched (AUTO) path. Each row is the minimum over repetitions
 * of process CPU time (all threads) and of wall time; the machine may be shared, and the CPU
 * time is the steadier measure. GFLOP/s are per CPU second (2 x multiply-adds / CPU time), so
 * that they compare directly with the SGEMM rate measured the same way in the same run
 * (issue 7: conv layers should reach >= 50% of SGEMM).
 *
 * The shapes are the conv layer classes of the workloads: the 2-D U-Net of bench/compare.sh
 * (batch 4, 1 -> 32..256 channels, 256^2..32^2), LPD (batch 5, 128^2) and the 3-D U-Net of
 * bench/unet3d_compare.sh (F = 16, batch 1, 64^3 and 96^3 patches).
 *
 * Not built by CMake; from the repository root, after building build/:
 *   gcc -O2 -fopenmp -Iinclude -Isrc bench/bench_conv.c -o build/bench_conv -Lbuild -lhinge \
 *       -Wl,-rpath,$PWD/build $(pkg-config --libs openblas) -lm
 *   OMP_WAIT_POLICY=passive build/bench_conv [--threads T] [--reps R] [--only SUBSTR]
 *       [--paths native,blocked,plain,winograd,auto] [--check]
 * --check: exit 1 when a layer of the AUTO path reaches less than 50% of SGEMM in a pass the
 * model trains through (printed as MISS), 0 when all PASS. */
#include "hinge/hinge.h"
#include "ops/conv_internal.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *cls; /* layer class */
    int n, cin, cout, nsp, k, s, transposed, size;
} layer;

/* 3x3 (3x3x3) padding 1, stride 1 unless a 2x2 transposed up-conv (k = 2, s = 2) or 1x1. */
static const layer layers[] = {
    {"unet2d", 4, 1, 32, 2, 3, 1, 0, 256},    {"unet2d", 4, 32, 32, 2, 3, 1, 0, 256},
    {"unet2d", 4, 32, 64, 2, 3, 1, 0, 128},   {"unet2d", 4, 64, 64, 2, 3, 1, 0, 128},
    {"unet2d", 4, 64, 128, 2, 3, 1, 0, 64},   {"unet2d", 4, 128, 128, 2, 3, 1, 0, 64},
    {"unet2d", 4, 128, 256, 2, 3, 1, 0, 32},  {"unet2d", 4, 256, 256, 2, 3, 1, 0, 32},
    {"unet2d", 4, 256, 128, 2, 3, 1, 0, 64},  {"unet2d", 4, 64, 32, 2, 3, 1, 0, 256},
    {"unet2d", 4, 256, 128, 2, 2, 2, 1, 32},  {"unet2d", 4, 32, 2, 2, 1, 1, 0, 256},
    {"lpd", 5, 7, 32, 2, 3, 1, 0, 128},       {"lpd", 5, 32, 32, 2, 3, 1, 0, 128},
    {"lpd", 5, 32, 5, 2, 3, 1, 0, 128},       {"unet3d64", 1, 1, 16, 3, 3, 1, 0, 64},
    {"unet3d64", 1, 16, 16, 3, 3, 1, 0, 64},  {"unet3d64", 1, 16, 32, 3, 3, 1, 0, 32},
    {"unet3d64", 1, 32, 32, 3, 3, 1, 0, 32},  {"unet3d64", 1, 64, 64, 3, 3, 1, 0, 16},
    {"unet3d64", 1, 128, 128, 3, 3, 1, 0, 8}, {"unet3d64", 1, 32, 16, 3, 3, 1, 0, 64},
    {"unet3d64", 1, 32, 16, 3, 2, 2, 1, 32},  {"unet3d64", 1, 16, 2, 3, 1, 1, 0, 64},
    {"unet3d96", 1, 1, 16, 3, 3, 1, 0, 96},   {"unet3d96", 1, 16, 16, 3, 3, 1, 0, 96},
    {"unet3d96", 1, 32, 32, 3, 3, 1, 0, 48},  {"unet3d96", 1, 32, 16, 3, 3, 1, 0, 96},
};
#define N_LAYERS ((int)(sizeof layers / sizeof layers[0]))

static const char *const pass_names[3] = {"fwd", "bwd-data", "bwd-weights"};
enum { P_NATIVE, P_BLOCKED, P_PLAIN, P_WINO, P_AUTO, N_PATHS };
static const char *const path_names[N_PATHS] = {"native", "blocked", "plain", "winograd",
                                                "auto"};

typedef struct {
    hg_conv_plan plan;
    float *big, *small, *w, *dw;
    double flops;
} problem;

static int make(const layer *l, problem *p)
{
    int64_t xs[5] = {l->n, l->cin}, ws[5];
    hg_conv_opts o;
    memset(&o, 0, sizeof o);
    ws[0] = l->transposed ? l->cin : l->cout;
    ws[1] = l->transposed ? l->cout : l->cin;
    for (int i = 0; i < l->nsp; i++) {
        xs[2 + i] = l->size;
        ws[2 + i] = l->k;
        o.stride[i] = l->s;
        o.padding[i] = l->k == 3 ? 1 : 0;
    }
    hg_tensor *x = hg_tensor_new(NULL, HG_F32, 2 + l->nsp, xs);
    hg_tensor *w = hg_tensor_new(NULL, HG_F32, 2 + l->nsp, ws);
    int64_t shape[5];
    if (!x || !w || hg_conv_plan_init(l->transposed ? "conv_transpose" : "conv", l->transposed,
                                      x, w, NULL, &o, &p->plan, shape) != HG_OK)
        return fprintf(stderr, "%s\n", hg_error_message()), 1;
    hg_tensor_free(x), hg_tensor_free(w);
    const hg_conv_plan *q = &p->plan;
    int64_t nb = q->batch * q->cb * q->g.in_vol, ns = q->batch * q->cs * q->g.out_vol;
    int64_t nw = q->cs * q->kg;
    p->big = malloc((size_t)nb * 4), p->small = malloc((size_t)ns * 4);
    p->w = malloc((size_t)nw * 4), p->dw = calloc((size_t)nw, 4);
    if (!p->big || !p->small || !p->w || !p->dw)
        return 1;
    hg_rng r = hg_rng_new(3);
    hg_rng_fill_normal(&r, p->big, nb, 0, 1);
    hg_rng_fill_normal(&r, p->small, ns, 0, 1);
    hg_rng_fill_normal(&r, p->w, nw, 0, 0.05f);
    p->flops = 2.0 * (double)q->batch * (double)q->cs * (double)q->g.out_vol * (double)q->kg;
    return 0;
}

static void drop(problem *p) { free(p->big), free(p->small), free(p->w), free(p->dw); }

static hg_status run_pass(hg_ctx *ctx, problem *p, int pass)
{
    /* The big side is the conv's output in a transposed conv's forward: its passes are C's
     * passes in another order, timed here as C's. */
    if (pass == 0)
        return hg_conv_apply(ctx, &p->plan, p->big, p->w, p->small, 0.0f);
    if (pass == 1)
        return hg_conv_apply_adjoint(ctx, &p->plan, p->small, p->w, p->big);
    return hg_conv_weight_grad(ctx, &p->plan, p->big, p->small, p->dw);
}

static void set_path(int path)
{
    hg__conv_path = path == P_NATIVE ? HG_CONV_PATH_NATIVE
                    : path == P_AUTO ? HG_CONV_PATH_AUTO
                                     : HG_CONV_PATH_DNNL;
    hg__conv_dnnl_layout = path == P_PLAIN ? HG_CONV_DNNL_PLAIN : HG_CONV_DNNL_BLOCKED;
    hg__conv_dnnl_winograd = path == P_WINO;
}

/* Minimum CPU and wall seconds of `reps` runs after one untimed (primitive creation). */
static int time_pass(hg_ctx *ctx, problem *p, int pass, int reps, double *cpu, double *wall)
{
    *cpu = *wall = 1e30;
    for (int r = -1; r < reps; r++) {
        hg_ctx_reset(ctx);
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
        if (run_pass(ctx, p, pass) != HG_OK)
            return 1;
        double c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, w = clock_s(CLOCK_MONOTONIC) - w0;
        if (r >= 0) {
            *cpu = c < *cpu ? c : *cpu;
            *wall = w < *wall ? w : *wall;
        }
    }
    return 0;
}

/* SGEMM 1024^3 through hinge's threads, per CPU second (same measure as the conv rows). */
static double sgemm_gflops(int reps)
{
    const int n = 1024;
    float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4), *c = calloc((size_t)n * n, 4);
    double best = 1e30;
    for (int r = -1; r < reps && a && b && c; r++) {
        double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        double t = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (r >= 0 && t < best)
            best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 3, check = 0;
    const char *only = NULL, *paths = "native,blocked,plain,auto";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--paths") && i + 1 < argc)
            paths = argv[++i];
        else if (!strcmp(argv[i], "--check"))
            check = 1;
        else
            return fprintf(stderr, "usage: %s [--threads T] [--reps R] [--only S] "
                                   "[--paths native,blocked,plain,winograd,auto] [--check]\n",
                           argv[0]),
                   2;
    }
    hg_set_threads(threads);
    double sg = sgemm_gflops(reps);
    printf("threads %d, SGEMM 1024^3: %.1f GFLOP/s per CPU second\n", threads, sg);
    printf("%-9s %-26s %-11s %-8s %9s %9s %8s %6s\n", "class", "layer", "pass", "path", "cpu ms",
           "wall ms", "GFLOP/s", "%sgemm");
    hg_ctx *ctx = hg_ctx_new();
    int misses = 0;
    for (int i = 0; i < N_LAYERS; i++) {
        const layer *l = &layers[i];
        char name[64];
        snprintf(name, sizeof name, "%s%dx%d%s %d->%d @%d", l->transposed ? "up" : "",
                 l->k, l->k, l->nsp == 3 ? "x3" : "", l->cin, l->cout, l->size);
        if (l->nsp == 3 && l->k != 3)
            snprintf(name, sizeof name, "%s%dx%dx%d %d->%d @%d", l->transposed ? "up" : "",
                     l->k, l->k, l->k, l->cin, l->cout, l->size);
        char full[96];
        snprintf(full, sizeof full, "%s %s", l->cls, name);
        if (only && !strstr(full, only))
            continue;
        problem p;
        if (make(l, &p))
            return 1;
        for (int pass = 0; pass < 3; pass++)
            for (int path = 0; path < N_PATHS; path++) {
                if (!strstr(paths, path_names[path]))
                    continue;
                set_path(path);
                double cpu, wall;
                if (time_pass(ctx, &p, pass, reps, &cpu, &wall)) {
                    /* e.g. Winograd: oneDNN has no kernel for this shape or pass */
                    printf("%-9s %-26s %-11s %-8s   n/a (%s)\n", l->cls, name, pass_names[pass],
                           path_names[path], hg_error_message());
                    continue;
                }
                double gf = p.flops / cpu / 1e9;
                /* The first conv's backward-data pass is never needed (its input has no
                 * gradient): not held to the target. */
                int target = path == P_AUTO && !(pass == 1 && l->cin == 1 && !l->transposed);
                const char *verdict = !target ? "" : gf >= 0.5 * sg ? " PASS" : " MISS";
                misses += target && gf < 0.5 * sg;
                printf("%-9s %-26s %-11s %-8s %9.2f %9.2f %8.1f %5.0f%%%s\n", l->cls, name,
                       pass_names[pass], path_names[path], 1e3 * cpu, 1e3 * wall, gf,
                       100 * gf / sg, check ? verdict : "");
                fflush(stdout);
            }
        drop(&p);
    }
    hg_ctx_free(ctx);
    if (check)
        printf("conv >= 50%% of SGEMM (auto path): %s (%d layer passes below)\n",
               misses ? "MISS" : "PASS", misses);
    return check && misses ? 1 : 0;
}
