/* Numbers for docs/SCALING.md. Not part of the test suite; build after the library:
 *   mpicc -O2 -fopenmp -Iinclude bench/dist_bench.c -Lbuild -lhinge -Wl,-rpath,$PWD/build -lm \
 *       -o build/dist_bench
 *   OMP_NUM_THREADS=1 build/dist_bench [reps]              1 rank: time per training step
 *   OMP_NUM_THREADS=1 mpirun -np 2 build/dist_bench [reps]  2 ranks: time per step with the
 *       gradient reduction overlapped with backward and not, the exposed reduction time, the
 *       bytes reduced per step, and the reduction alone for each payload
 * Weak scaling: every rank runs the same per-rank batch, so 1 and 2 ranks do the same compute
 * per rank; the difference is the gradient averaging (and, on a shared machine, contention). */
#include "hinge/dist.h"
#include "hinge/hinge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct workload {
    const char *name, *arch, *dims, *features;
    int ndim;
    int64_t shape[5]; /* per-rank input */
} workload;

static const workload workloads[] = {
    {"cnn (default), batch 16 of 28^2", "cnn", NULL, NULL, 4, {16, 1, 28, 28}},
    {"2-D U-Net 32..256, batch 2 of 64^2", "unet", "2", NULL, 4, {2, 1, 64, 64}},
    {"3-D U-Net 32..256, batch 1 of 16^3", "unet", "3", NULL, 5, {1, 1, 16, 16, 16}},
    {"LPD (10 it., width 32), batch 1 of 30x183", "lpd", NULL, NULL, 4, {1, 1, 30, 183}},
};

static hg_model *make(const workload *w)
{
    hg_metadata c;
    hg_metadata_init(&c);
    if (w->dims)
        hg_metadata_set(&c, "dims", w->dims);
    if (w->features)
        hg_metadata_set(&c, "features", w->features);
    hg_model *m = hg_model_create(w->arch, &c, 1);
    hg_metadata_free(&c);
    if (!m)
        fprintf(stderr, "%s: %s\n", w->arch, hg_error_message());
    return m;
}

typedef struct timing {
    double step, exposed, hook, overlapped_buckets;
} timing;

/* Mean over `reps` steps (after one warm-up) of forward + backward + gradient averaging,
 * averaged over ranks. */
static timing steps(hg_model *m, const workload *w, hg_dist_trainer *tr, bool overlap, int reps)
{
    hg_dist_trainer_set_overlap(tr, overlap);
    hg_ctx *ctx = hg_ctx_new();
    hg_dist_stats s0 = hg_dist_trainer_stats(tr);
    double total = 0;
    for (int r = 0; r <= reps; r++) {
        if (r == 1)
            s0 = hg_dist_trainer_stats(tr);
        hg_ctx_reset(ctx);
        hg_tensor *x = hg_tensor_new(ctx, HG_F32, w->ndim, w->shape);
        for (int64_t i = 0; i < x->numel; i++)
            x->data[i] = (float)((i + 7 * hg_dist_rank()) % 17) / 17.0f;
        hg_dist_barrier();
        double t0 = now();
        hg_tensor *y = hg_model_forward(m, ctx, x);
        hg_tensor *l = hg_sum(ctx, hg_mul(ctx, y, y));
        hg_params_zero_grad(&m->params);
        if (!l || hg_dist_trainer_begin_backward(tr, ctx) != HG_OK ||
            hg_backward(ctx, l) != HG_OK || hg_dist_allreduce_grads(tr) != HG_OK) {
            fprintf(stderr, "%s: %s\n", w->name, hg_error_message());
            exit(1);
        }
        if (r > 0)
            total += now() - t0;
    }
    hg_ctx_free(ctx);
    hg_dist_stats s1 = hg_dist_trainer_stats(tr);
    timing t = {total / reps, (s1.allreduce_seconds - s0.allreduce_seconds) / reps,
                (s1.overlapped_seconds - s0.overlapped_seconds) / reps,
                (double)(s1.buckets_overlapped - s0.buckets_overlapped) / reps};
    int world = hg_dist_world();
    t.step = hg_dist_allreduce_double(t.step, false) / world;
    t.exposed = hg_dist_allreduce_double(t.exposed, false) / world;
    t.hook = hg_dist_allreduce_double(t.hook, false) / world;
    return t;
}

/* Mean seconds of hg_dist_allreduce_grads alone for n trainable floats (after a barrier). */
static double allreduce_seconds(int64_t n, int reps)
{
    hg_params p;
    hg_params_init(&p);
    hg_tensor *t = hg_params_add(&p, "g", true, 1, &n);
    hg_grad(NULL, t);
    hg_dist_trainer *tr = hg_dist_trainer_new(&p, 0, -1);
    double total = 0;
    for (int r = 0; r <= reps; r++) {
        hg_dist_barrier();
        double t0 = now();
        hg_dist_allreduce_grads(tr);
        if (r > 0)
            total += now() - t0;
    }
    hg_dist_trainer_free(tr);
    hg_params_free(&p);
    return hg_dist_allreduce_double(total / reps, false) / hg_dist_world(); /* mean over ranks */
}

int main(int argc, char **argv)
{
    hg_dist_init();
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1)
        reps = 1;
    int rank = hg_dist_rank(), world = hg_dist_world();
    if (rank == 0)
        printf("%d rank(s), %d thread(s) per rank, mean of %d steps after 1 warm-up; buckets of "
               "4 MiB\n", world, hg_get_threads(), reps);
    int nw = (int)(sizeof workloads / sizeof *workloads);
    for (int i = 0; i < nw; i++) {
        hg_model *m = make(&workloads[i]);
        if (!m)
            return 1;
        hg_dist_trainer *tr = hg_dist_trainer_new(&m->params, 0, -1);
        hg_dist_stats st = hg_dist_trainer_stats(tr);
        if (rank == 0)
            printf("%-44s %9lld params, %6.2f MB per step in %d bucket(s)\n", workloads[i].name,
                   (long long)hg_params_count_trainable(&m->params),
                   1e-6 * (double)st.bytes_per_step, st.buckets);
        /* with 2+ ranks: on, off, on, off, so that slow drifts of the load hit both modes */
        timing on = steps(m, &workloads[i], tr, true, reps), off = on;
        if (world > 1) {
            off = steps(m, &workloads[i], tr, false, reps);
            timing a = steps(m, &workloads[i], tr, true, reps);
            timing b = steps(m, &workloads[i], tr, false, reps);
            on = (timing){(on.step + a.step) / 2, (on.exposed + a.exposed) / 2,
                          (on.hook + a.hook) / 2, (on.overlapped_buckets + a.overlapped_buckets) / 2};
            off = (timing){(off.step + b.step) / 2, (off.exposed + b.exposed) / 2, 0, 0};
        }
        if (rank == 0 && world == 1)
            printf("    step (forward + backward): %.1f ms\n", 1e3 * on.step);
        else if (rank == 0)
            printf("    overlap on : step %.1f ms, reduction exposed after backward %.1f ms, in "
                   "hooks during backward %.1f ms, %.1f of %d buckets started in backward\n"
                   "    overlap off: step %.1f ms, reduction after backward %.1f ms\n",
                   1e3 * on.step, 1e3 * on.exposed, 1e3 * on.hook, on.overlapped_buckets,
                   st.buckets, 1e3 * off.step, 1e3 * off.exposed);
        if (world > 1) {
            double s = allreduce_seconds(hg_params_count_trainable(&m->params), 10);
            if (rank == 0)
                printf("    reduction alone: %.1f ms (%.2f GB/s algorithm bandwidth)\n", 1e3 * s,
                       1e-9 * (double)st.bytes_per_step / s);
        }
        hg_dist_trainer_free(tr);
        hg_model_free(m);
    }
    return 0;
}
