/* hinge bench: built-in engine benchmarks (median of repeated runs), as JSON with --json.
 * bench/peer_torch.py runs the same workloads in PyTorch; bench/compare.sh prints both. */
#include "cli.h"

#include "hinge/nn.h"
#include "hinge/optim.h"

#include <cblas.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int repeat;
    const char *only;
    bool json;
    bool profile; /* --profile: one more step of each model workload, timed by op */
    int printed;
    double sgemm_gflops;
    /* memory of the workload being reported (MB; 0: not reported), cleared by report() */
    double peak_mb, footprint_mb, all_kept_mb;
} bench_cli;

static bool wanted(const bench_cli *b, const char *name)
{
    if (!b->only)
        return true;
    const char *p = strstr(b->only, name);
    size_t n = strlen(name);
    return p && (p == b->only || p[-1] == ',') && (p[n] == 0 || p[n] == ',');
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef hg_status (*bench_fn)(void *state);

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Median milliseconds of `repeat` runs after one warm-up run; also the median CPU time of the
 * process (all threads) per run, which a machine shared with other work inflates far less
 * than the wall time. */
static double last_cpu_ms;

static hg_status time_median(bench_fn fn, void *state, int repeat, double *ms)
{
    hg_status s = fn(state);
    double t[64], c[64];
    if (repeat > 64)
        repeat = 64;
    for (int i = 0; s == HG_OK && i < repeat; i++) {
        double t0 = hg_cli_now(), c0 = cpu_now();
        s = fn(state);
        t[i] = (hg_cli_now() - t0) * 1e3;
        c[i] = (cpu_now() - c0) * 1e3;
    }
    if (s == HG_OK) {
        *ms = median(t, repeat);
        last_cpu_ms = median(c, repeat);
    }
    return s;
}

static void report(bench_cli *b, const char *name, double ms, double flops)
{
    double gflops = flops > 0 ? flops / ms / 1e6 : 0;
    if (b->json) {
        printf("%s\n \"%s\": {\"ms\": %.3f, \"cpu_ms\": %.3f", b->printed ? "," : "{", name, ms,
               last_cpu_ms);
        if (flops > 0)
            printf(", \"gflops\": %.2f", gflops);
        if (flops > 0 && b->sgemm_gflops > 0)
            printf(", \"fraction_of_sgemm\": %.3f", gflops / b->sgemm_gflops);
        if (b->peak_mb > 0)
            printf(", \"peak_mb\": %.1f, \"footprint_mb\": %.1f", b->peak_mb, b->footprint_mb);
        if (b->all_kept_mb > 0)
            printf(", \"footprint_mb_all_kept\": %.1f", b->all_kept_mb);
        printf("}");
    } else {
        printf("%-26s %10.2f ms (CPU %9.2f ms)", name, ms, last_cpu_ms);
        if (flops > 0)
            printf("  %8.1f GFLOP/s", gflops);
        if (flops > 0 && b->sgemm_gflops > 0)
            printf("  %5.1f%% of SGEMM", 100 * gflops / b->sgemm_gflops);
        if (b->peak_mb > 0)
            printf("  peak live %.1f MB, arena footprint %.1f MB", b->peak_mb, b->footprint_mb);
        if (b->all_kept_mb > 0)
            printf(" (%.1f MB keeping every tensor)", b->all_kept_mb);
        printf("\n");
    }
    b->peak_mb = b->footprint_mb = b->all_kept_mb = 0;
    b->printed++;
    fflush(stdout);
}

/* ---- workloads ------------------------------------------------------------------------- */

typedef struct {
    float *a, *b, *c;
    int n;
} sgemm_state;

static hg_status run_sgemm(void *p)
{
    sgemm_state *s = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->n, s->n, s->n, 1.0f, s->a, s->n,
                s->b, s->n, 0.0f, s->c, s->n);
    return HG_OK;
}

typedef struct {
    hg_ctx *ctx;
    hg_tensor *x, *w, *b;
    bool backward;
} conv_state;

static hg_status run_conv(void *p)
{
    conv_state *s = p;
    hg_ctx_reset(s->ctx);
    hg_conv_opts o = {.padding = {1, 1, 1}};
    hg_tensor *y = hg_conv(s->ctx, s->x, s->w, s->b, &o);
    if (!y)
        return hg_error_status();
    if (!s->backward)
        return HG_OK;
    return hg_backward(s->ctx, hg_sum(s->ctx, y));
}

typedef struct {
    hg_ctx *ctx;
    hg_model *model;
    hg_optim *opt;
    hg_tensor *x, *y;
    bool train;
} unet_state;

static hg_status run_unet(void *p)
{
    unet_state *s = p;
    hg_ctx_reset(s->ctx);
    hg_tensor *logits = hg_model_forward(s->model, s->ctx, s->x);
    if (!s->train)
        return logits ? HG_OK : hg_error_status();
    /* The U-Net is trained on labels, LPD (s->y an image) on the squared error. */
    hg_tensor *loss = s->y->ndim == s->x->ndim ? hg_mse_loss(s->ctx, logits, s->y)
                                      : hg_cross_entropy(s->ctx, logits, s->y, NULL, -100);
    hg_params_zero_grad(&s->model->params);
    hg_status st = hg_backward(s->ctx, loss);
    return st == HG_OK ? hg_optim_step(s->opt) : st;
}

/* Arena footprint of one inference forward that keeps every tensor: the context records a
 * tape but no parameter requires a gradient, so nothing is recorded and nothing released. */
static double footprint_all_kept(hg_model *m, hg_tensor *x)
{
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return 0;
    hg_ctx_set_training(ctx, false);
    bool *saved = calloc((size_t)m->params.count + 1, sizeof *saved);
    for (int32_t i = 0; saved && i < m->params.count; i++) {
        saved[i] = m->params.items[i].tensor->requires_grad;
        m->params.items[i].tensor->requires_grad = false;
    }
    double mb = saved && hg_model_forward(m, ctx, x) ? hg_ctx_footprint_bytes(ctx) / 1048576.0
                                                     : 0;
    for (int32_t i = 0; saved && i < m->params.count; i++)
        m->params.items[i].tensor->requires_grad = saved[i];
    free(saved);
    hg_ctx_free(ctx);
    return mb;
}

/* One model's training step (Adam) or inference on random data: x [4 dims] normal; y with 3
 * dims is a 0/1 label map (cross-entropy), with 4 an image (squared error). */
typedef struct {
    const char *name, *arch;
    const char *config; /* "key=value;..." model configuration (NULL: the defaults) */
    bool train, fold;   /* fold: batch norm folded into the convs first (inference) */
    int64_t x[5], y[5];
    int xdims, ydims, repeat;
    uint64_t seed;
} model_bench;

/* "k=v;k=v" into a metadata set (values may hold commas: "features=16,32"). */
static hg_status parse_config(const char *text, hg_metadata *m)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    for (char *save = NULL, *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save))
        if (!hg_cli_metadata_set_kv(m, kv))
            return hg_error(HG_ERR_INVALID, "bench config: expected key=value, got '%s'", kv);
    return HG_OK;
}

/* One more step with an op profile attached: a table of the ops' forward and backward wall
 * time, and what the ops do not cover (optimizer, zeroing gradients, context reset). */
static hg_status profile_step(bench_cli *b, const char *name, unet_state *s)
{
    hg_profile *p = hg_profile_new();
    if (!p)
        return hg_error(HG_ERR_NOMEM, "bench: out of memory for the profile");
    hg_ctx_set_profile(s->ctx, p);
    double t0 = hg_cli_now(), c0 = cpu_now();
    hg_status st = run_unet(s);
    double total = hg_cli_now() - t0, total_cpu = cpu_now() - c0, ops = 0, ops_cpu = 0;
    hg_ctx_set_profile(s->ctx, NULL);
    for (int32_t i = 0; i < hg_profile_count(p); i++) {
        const hg_op_time *e = hg_profile_entry(p, i);
        ops += e->forward_s + e->backward_s;
        ops_cpu += e->forward_cpu_s + e->backward_cpu_s;
    }
    if (st == HG_OK && !b->json) {
        printf("  profile of one %s step: %.1f ms (CPU %.1f ms), of which ops %.1f ms (CPU "
               "%.1f ms)\n",
               name, 1e3 * total, 1e3 * total_cpu, 1e3 * ops, 1e3 * ops_cpu);
        printf("  %-22s %6s %18s %18s %13s\n", "op (output rank)", "calls",
               "forward ms (CPU)", "backward ms (CPU)", "share (CPU)");
        for (int32_t i = 0; i < hg_profile_count(p); i++) {
            const hg_op_time *e = hg_profile_entry(p, i);
            char label[64];
            snprintf(label, sizeof label, "%s (%d)", e->op, e->out_ndim);
            printf("  %-22s %6lld %8.1f (%7.1f) %8.1f (%7.1f) %5.1f%% (%4.1f%%)\n", label,
                   (long long)e->calls, 1e3 * e->forward_s, 1e3 * e->forward_cpu_s,
                   1e3 * e->backward_s, 1e3 * e->backward_cpu_s,
                   100 * (e->forward_s + e->backward_s) / total,
                   100 * (e->forward_cpu_s + e->backward_cpu_s) / total_cpu);
        }
        printf("  %-22s %6s %18s %18s %5.1f%% (%4.1f%%)\n", "(not in ops)", "", "", "",
               100 * (total - ops) / total, 100 * (total_cpu - ops_cpu) / total_cpu);
    } else if (st == HG_OK) {
        printf("%s\n \"%s_profile\": {\"ms\": %.3f, \"cpu_ms\": %.3f, \"ops\": [",
               b->printed ? "," : "{", name, 1e3 * total, 1e3 * total_cpu);
        for (int32_t i = 0; i < hg_profile_count(p); i++) {
            const hg_op_time *e = hg_profile_entry(p, i);
            printf("%s{\"op\": \"%s\", \"out_ndim\": %d, \"calls\": %lld, \"forward_ms\": %.3f, "
                   "\"backward_ms\": %.3f, \"forward_cpu_ms\": %.3f, \"backward_cpu_ms\": %.3f}",
                   i ? ", " : "", e->op, e->out_ndim, (long long)e->calls, 1e3 * e->forward_s,
                   1e3 * e->backward_s, 1e3 * e->forward_cpu_s, 1e3 * e->backward_cpu_s);
        }
        printf("]}");
        b->printed++;
    }
    hg_profile_free(p);
    fflush(stdout);
    return st;
}

static hg_status bench_model(bench_cli *b, const model_bench *mb)
{
    if (!wanted(b, mb->name))
        return HG_OK;
    unet_state s = {0};
    s.train = mb->train;
    s.ctx = hg_ctx_new();
    hg_metadata config = {0};
    hg_status st = parse_config(mb->config, &config);
    if (st == HG_OK)
        s.model = hg_model_create(mb->arch, &config, 0);
    hg_metadata_free(&config);
    s.x = hg_tensor_new(NULL, HG_F32, mb->xdims, mb->x);
    s.y = hg_tensor_new(NULL, HG_F32, mb->ydims, mb->y);
    if (st == HG_OK)
        st = s.ctx && s.model && s.x && s.y ? HG_OK : hg_error_status();
    if (st == HG_OK) {
        hg_rng r = hg_rng_new(mb->seed);
        hg_rng_fill_normal(&r, s.x->data, s.x->numel, 0, 1);
        if (mb->ydims == mb->xdims - 1) /* a label map */
            for (int64_t i = 0; i < s.y->numel; i++)
                s.y->data[i] = (float)(hg_rng_u32(&r) & 1);
        else
            hg_rng_fill_normal(&r, s.y->data, s.y->numel, 0, 1);
        hg_ctx_set_training(s.ctx, mb->train);
        hg_ctx_set_grad(s.ctx, mb->train);
        if (mb->train && !(s.opt = hg_optim_adam(&s.model->params, NULL)))
            st = hg_error_status();
        if (mb->train)
            hg_tape_set_release(s.ctx, true); /* as hg_train does */
    }
    if (st == HG_OK && mb->fold)
        st = hg_model_fold_batch_norm(s.model, NULL);
    double ms = 0;
    if (st == HG_OK)
        st = time_median(run_unet, &s, mb->repeat, &ms);
    if (st == HG_OK) {
        b->peak_mb = (double)hg_ctx_peak_bytes(s.ctx) / 1048576.0;
        b->footprint_mb = (double)hg_ctx_footprint_bytes(s.ctx) / 1048576.0;
        if (!mb->train)
            b->all_kept_mb = footprint_all_kept(s.model, s.x);
        report(b, mb->name, ms, 0);
    }
    if (st == HG_OK && b->profile)
        st = profile_step(b, mb->name, &s);
    hg_optim_free(s.opt);
    hg_model_free(s.model);
    hg_tensor_free(s.x);
    hg_tensor_free(s.y);
    hg_ctx_free(s.ctx);
    return st;
}

/* The U-Net (32-256, BN, batch 4 of 256^2; inference of one image) and LPD as
 * published (10 iterations, 5+5 channels, width 32; 128^2 image, 30 angles, 183 detectors:
 * an Adam step on the squared error at batch 5, inference of one sinogram). bench/peer_torch.py
 * and bench/lpd_torch.py (hinge's projector as a sparse matrix) run the same in PyTorch. */
/* bench/unet3d_bench.c's network (nnU-Net's plain 3-D U-Net, F = 16) on a 64^3 patch. */
#define UNET3D "dims=3;in_channels=1;classes=2;features=16,32,64,128;norm=instance;" \
               "activation=leaky_relu"

static hg_status bench_models(bench_cli *b)
{
    const int half = (b->repeat + 1) / 2;
    const model_bench all[] = {
        {"unet2d_train_b4_256", "unet", NULL, true, false, {4, 1, 256, 256}, {4, 256, 256}, 4,
         3, half, 1},
        {"unet2d_infer_b1_256", "unet", NULL, false, false, {1, 1, 256, 256}, {1, 256, 256}, 4,
         3, b->repeat, 1},
        {"unet2d_infer_b1_256_folded", "unet", NULL, false, true, {1, 1, 256, 256},
         {1, 256, 256}, 4, 3, b->repeat, 1},
        {"unet3d_train_b1_64", "unet", UNET3D, true, false, {1, 1, 64, 64, 64}, {1, 64, 64, 64},
         5, 4, half, 1},
        {"lpd_train_b5_128", "lpd", NULL, true, false, {5, 1, 30, 183}, {5, 1, 128, 128}, 4, 4,
         b->repeat, 5},
        {"lpd_infer_b1_128", "lpd", NULL, false, false, {1, 1, 30, 183}, {1, 1, 128, 128}, 4, 4,
         b->repeat, 5},
    };
    hg_status st = HG_OK;
    for (size_t i = 0; st == HG_OK && i < sizeof all / sizeof all[0]; i++)
        st = bench_model(b, &all[i]);
    return st;
}

static hg_status bench_all(bench_cli *b)
{
    hg_status st = HG_OK;
    if (wanted(b, "sgemm_2048")) {
        int n = 2048;
        sgemm_state s = {hg_calloc((size_t)n * n, 4), hg_calloc((size_t)n * n, 4),
                         hg_calloc((size_t)n * n, 4), n};
        if (!s.a || !s.b || !s.c)
            st = HG_ERR_NOMEM;
        double ms = 0;
        if (st == HG_OK) {
            hg_rng r = hg_rng_new(3);
            hg_rng_fill_normal(&r, s.a, (int64_t)n * n, 0, 1);
            hg_rng_fill_normal(&r, s.b, (int64_t)n * n, 0, 1);
            st = time_median(run_sgemm, &s, b->repeat, &ms);
        }
        if (st == HG_OK) {
            b->sgemm_gflops = 2.0 * n * n * (double)n / ms / 1e6;
            report(b, "sgemm_2048", ms, 2.0 * n * n * (double)n);
        }
        hg_free(s.a), hg_free(s.b), hg_free(s.c);
    }
    for (int bw = 0; st == HG_OK && bw < 2; bw++) {
        const char *name = bw ? "conv3x3_64_256_fwdbwd" : "conv3x3_64_256_fwd";
        if (!wanted(b, name))
            continue;
        conv_state s = {hg_ctx_new(), hg_tensor_new(NULL, HG_F32, 4, (const int64_t[]){1, 64, 256, 256}),
                        hg_tensor_new(NULL, HG_F32, 4, (const int64_t[]){64, 64, 3, 3}),
                        hg_tensor_new(NULL, HG_F32, 1, (const int64_t[]){64}), bw};
        if (!s.ctx || !s.x || !s.w || !s.b)
            st = hg_error_status();
        double ms = 0;
        if (st == HG_OK) {
            hg_rng r = hg_rng_new(4);
            hg_rng_fill_normal(&r, s.x->data, s.x->numel, 0, 1);
            hg_rng_fill_normal(&r, s.w->data, s.w->numel, 0, 0.05f);
            s.x->requires_grad = s.w->requires_grad = s.b->requires_grad = bw;
            hg_ctx_set_grad(s.ctx, bw);
            st = time_median(run_conv, &s, b->repeat, &ms);
        }
        double flops = 2.0 * 64 * 64 * 9 * 256 * 256 * (bw ? 3 : 1);
        if (st == HG_OK)
            report(b, name, ms, flops);
        hg_tensor_free(s.x), hg_tensor_free(s.w), hg_tensor_free(s.b);
        hg_ctx_free(s.ctx);
    }
    if (st == HG_OK)
        st = bench_models(b);
    return st;
}

static int run_bench(int argc, char **argv)
{
    bench_cli b = {.repeat = 5};
    int threads = 0;
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'},
                                             {"json", no_argument, 0, 'j'},
                                             {"repeat", required_argument, 0, 'r'},
                                             {"only", required_argument, 0, 'o'},
                                             {"threads", required_argument, 0, 't'},
                                             {"profile", no_argument, 0, 'p'},
                                             {0, 0, 0, 0}};
    int opt;
    int64_t v;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            printf("usage: hinge bench [--json] [--repeat N] [--only a,b] [--threads N] "
                   "[--profile]\n\n"
                   "Times the engine's reference workloads (median of N runs after a warm-up):\n"
                   "  sgemm_2048, conv3x3_64_256_fwd, conv3x3_64_256_fwdbwd,\n"
                   "  unet2d_train_b4_256 (U-Net 32-256, BN, Adam, batch 4 of 256x256),\n"
                   "  unet2d_infer_b1_256, unet2d_infer_b1_256_folded (batch norm folded into\n"
                   "  the convs); model workloads also report peak live and arena memory,\n"
                   "  lpd_train_b5_128 (learned primal-dual, 128^2, 30 angles, Adam, batch 5),\n"
                   "  lpd_infer_b1_128, unet3d_train_b1_64 (3-D U-Net 16-128, instance norm,\n"
                   "  LeakyReLU, Adam, one 64^3 patch: bench/unet3d_bench.c's network).\n"
                   "--profile: after each model workload, one more step timed by op (forward,\n"
                   "  backward, share of the step; JSON: \"<name>_profile\").\n"
                   "bench/compare.sh runs these beside bench/peer_torch.py (PyTorch).\n");
            return HG_EXIT_OK;
        case 'j': b.json = true; break;
        case 'p': b.profile = true; break;
        case 'r':
            if (!hg_cli_parse_int(optarg, 1, 64, &v))
                return hg_cli_usage_error("bench", "--repeat: expected 1..64, got '%s'", optarg);
            b.repeat = (int)v;
            break;
        case 'o': b.only = optarg; break;
        case 't':
            if (!hg_cli_parse_int(optarg, 0, 1024, &v))
                return hg_cli_usage_error("bench", "--threads: expected 0..1024, got '%s'", optarg);
            threads = (int)v;
            break;
        default: return hg_cli_usage_error("bench", "invalid option");
        }
    }
    hg_set_threads(threads);
    const char *core = getenv("OPENBLAS_CORETYPE");
    if (!b.json)
        printf("hinge bench: %d threads, OPENBLAS_CORETYPE=%s\n", hg_get_threads(),
               core ? core : "(unset: native kernels)");
    hg_status s = bench_all(&b);
    if (b.json) {
        printf("%s\n \"_hinge\": {\"threads\": %d, \"OPENBLAS_CORETYPE\": \"%s\"}\n}\n",
               b.printed ? "," : "{", hg_get_threads(), core ? core : "");
    }
    return s == HG_OK ? HG_EXIT_OK : hg_cli_fail("bench");
}

const hg_cli_command hg_cmd_bench = {"bench", "time the engine's reference workloads",
                                     run_bench};
