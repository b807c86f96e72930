/* Convolution benchmark: hg_conv 3x3 (padding 1) C->C on N x C x S x S, forward (no tape)
 * and forward + backward (dx, dw, db), minimum over repetitions (the machine may be shared:
 * the minimum is the least disturbed run). Peer: bench/bench_conv_torch.py, same workload.
 *
 * Not built by CMake; from the repository root, after building build/:
 *   gcc -O2 -fopenmp -Iinclude bench/bench_conv.c build/libhinge.a -o /tmp/bench_conv \
 *       $(pkg-config --libs openblas fftw3f libcjson zlib libpng) -lnifti2 -lznz -lm
 *   /tmp/bench_conv [C=64] [S=256] [N=1] [threads=2] [reps=15]
 */
#include "hinge/hinge.h"

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

/* As an optimizer step would: gradients are zeroed, their buffers kept. */
static void zero_grad(hg_tensor *t)
{
    if (t->grad)
        memset(t->grad, 0, (size_t)hg_tensor_nfloats(t) * sizeof(float));
}

int main(int argc, char **argv)
{
    int c = argc > 1 ? atoi(argv[1]) : 64, s = argc > 2 ? atoi(argv[2]) : 256;
    int n = argc > 3 ? atoi(argv[3]) : 1, threads = argc > 4 ? atoi(argv[4]) : 2;
    int reps = argc > 5 ? atoi(argv[5]) : 15;
    hg_set_threads(threads);
    hg_tensor *x = hg_new(NULL, n, c, s, s), *w = hg_new(NULL, c, c, 3, 3), *b = hg_new(NULL, c);
    hg_rng rng = hg_rng_new(1);
    hg_rng_fill_normal(&rng, x->data, x->numel, 0.0f, 1.0f);
    hg_rng_fill_normal(&rng, w->data, w->numel, 0.0f, 0.05f);
    float *seed = malloc((size_t)x->numel * sizeof(float));
    if (!seed)
        return 1;
    hg_rng_fill_normal(&rng, seed, x->numel, 0.0f, 1.0f);
    hg_conv_opts o;
    memset(&o, 0, sizeof o);
    o.padding[0] = o.padding[1] = 1;
    hg_ctx *ctx = hg_ctx_new();
    double fwd = 1e30, both = 1e30;
    for (int r = 0; r < reps; r++) {
        hg_ctx_reset(ctx);
        hg_ctx_set_grad(ctx, false);
        x->requires_grad = w->requires_grad = b->requires_grad = false;
        double t = now();
        hg_tensor *y = hg_conv(ctx, x, w, b, &o);
        t = now() - t;
        if (!y)
            return fprintf(stderr, "%s\n", hg_error_message()), 1;
        fwd = t < fwd ? t : fwd;

        hg_ctx_reset(ctx);
        hg_ctx_set_grad(ctx, true);
        x->requires_grad = w->requires_grad = b->requires_grad = true;
        t = now();
        y = hg_conv(ctx, x, w, b, &o);
        hg_status st = hg_backward_seed(ctx, y, seed);
        t = now() - t;
        if (st != HG_OK)
            return fprintf(stderr, "%s\n", hg_error_message()), 1;
        both = t < both ? t : both;
        zero_grad(x), zero_grad(w), zero_grad(b);
    }
    printf("hinge conv %d->%d 3x3 on %dx%dx%dx%d, %d threads: forward %.1f ms, "
           "forward+backward %.1f ms (min of %d)\n",
           c, c, n, c, s, s, threads, 1e3 * fwd, 1e3 * both, reps);
    hg_ctx_free(ctx);
    hg_tensor_free(x), hg_tensor_free(w), hg_tensor_free(b);
    free(seed);
    return 0;
}
