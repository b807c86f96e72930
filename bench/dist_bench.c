/* Numbers for docs/SCALING.md. Not part of the test suite; build after the library:
 *   mpicc -O2 -fopenmp -Iinclude -Isrc bench/dist_bench.c build/libhinge.a -lopenblas -lfftw3f \
 *       -lcjson -lz -lpng -lnifti2 -lznz -lm -o build/dist_bench
 *   build/dist_bench                      parameter counts; fwd+bwd time of the U-Nets
 *   mpirun -np 2 build/dist_bench         gradient allreduce time for those parameter counts */
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

static hg_model *make(const char *arch, const char *dims, const char *features)
{
    hg_metadata c;
    hg_metadata_init(&c);
    if (dims)
        hg_metadata_set(&c, "dims", dims);
    if (features)
        hg_metadata_set(&c, "features", features);
    hg_model *m = hg_model_create(arch, &c, 1);
    hg_metadata_free(&c);
    if (!m)
        fprintf(stderr, "%s: %s\n", arch, hg_error_message());
    return m;
}

/* Median-free simple timing: one warm-up, then the mean of `reps` forward+backward passes. */
static double fwd_bwd_seconds(hg_model *m, int ndim, const int64_t *shape, int reps)
{
    hg_ctx *ctx = hg_ctx_new();
    double total = 0;
    for (int r = 0; r <= reps; r++) {
        hg_ctx_reset(ctx);
        hg_tensor *x = hg_tensor_new(ctx, HG_F32, ndim, shape);
        for (int64_t i = 0; i < x->numel; i++)
            x->data[i] = (float)(i % 17) / 17.0f;
        double t0 = now();
        hg_tensor *y = hg_model_forward(m, ctx, x);
        hg_tensor *l = hg_sum(ctx, hg_mul(ctx, y, y));
        hg_params_zero_grad(&m->params);
        if (!l || hg_backward(ctx, l) != HG_OK) {
            fprintf(stderr, "fwd/bwd: %s\n", hg_error_message());
            exit(1);
        }
        if (r > 0)
            total += now() - t0;
    }
    hg_ctx_free(ctx);
    return total / reps;
}

/* Mean seconds of hg_dist_allreduce_grads for n trainable floats (after a barrier). */
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

int main(void)
{
    hg_dist_init();
    hg_model *u2 = make("unet", "2", NULL), *u3 = make("unet", "3", NULL),
             *cnn = make("cnn", NULL, NULL);
    if (!u2 || !u3 || !cnn)
        return 1;
    /* Learned Primal-Dual (Adler & Oktem 2018): 10 iterations of a dual net 7->32->32->5 and a
     * primal net 6->32->32->5, 3x3 convolutions with biases. */
    int64_t lpd = 10 * ((7 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 5 * 9 + 5) +
                        (6 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 5 * 9 + 5));
    int64_t counts[4] = {hg_params_count_trainable(&cnn->params),
                         hg_params_count_trainable(&u2->params),
                         hg_params_count_trainable(&u3->params), lpd};
    const char *names[4] = {"cnn (default)", "unet 2-D 32..256", "unet 3-D 32..256", "LPD"};
    if (hg_dist_active()) {
        for (int i = 0; i < 4; i++) {
            double s = allreduce_seconds(counts[i], 20);
            if (hg_dist_rank() == 0)
                printf("%-18s %10lld params %8.2f MB  allreduce over %d ranks: %.3f ms (%.2f GB/s "
                       "algorithm bandwidth)\n", names[i], (long long)counts[i],
                       4e-6 * (double)counts[i], hg_dist_world(), 1e3 * s,
                       4e-9 * (double)counts[i] / s);
        }
    } else {
        for (int i = 0; i < 4; i++)
            printf("%-18s %10lld params %8.2f MB\n", names[i], (long long)counts[i],
                   4e-6 * (double)counts[i]);
        double t2 = fwd_bwd_seconds(u2, 4, (const int64_t[]){4, 1, 256, 256}, 2);
        printf("unet 2-D fwd+bwd, batch 4 of 256^2: %.3f s (%d threads)\n", t2, hg_get_threads());
        double t3 = fwd_bwd_seconds(u3, 5, (const int64_t[]){1, 1, 64, 64, 64}, 1);
        printf("unet 3-D fwd+bwd, batch 1 of 64^3: %.3f s (%d threads)\n", t3, hg_get_threads());
    }
    hg_model_free(u2);
    hg_model_free(u3);
    hg_model_free(cnn);
    return 0;
}
