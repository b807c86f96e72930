/* hinge side of bench/onnx_unet_bench.sh: loads an ONNX model, runs it on a raw float32
 * input N times (inference context), prints best/median ms, load time and the max relative
 * error against a raw float32 reference output, as JSON.
 * Usage: onnx_bench model.onnx x.f32 y.f32 N C H W repeats */
#include "hinge/onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *read_raw(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *v = malloc(*n * 4);
    if (v && fread(v, 4, *n, f) != *n)
        free(v), v = NULL;
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: onnx_bench model.onnx x.f32 y.f32 N C H W repeats\n");
        return 2;
    }
    int repeats = atoi(argv[8]);
    int64_t shape[4] = {atoll(argv[4]), atoll(argv[5]), atoll(argv[6]), atoll(argv[7])};
    double t0 = now_ms();
    hg_onnx_model *m = hg_onnx_load(argv[1]);
    double load_ms = now_ms() - t0;
    size_t nx = 0, ny = 0;
    float *xv = read_raw(argv[2], &nx), *yv = read_raw(argv[3], &ny);
    if (!m || !xv || !yv) {
        fprintf(stderr, "%s\n", m ? "cannot read the raw files" : hg_error_message());
        return 1;
    }
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    double *times = calloc((size_t)repeats, sizeof *times), err = 0, scale = 0;
    for (int r = 0; r <= repeats; r++) { /* run 0 warms up */
        hg_ctx_reset(ctx);
        hg_tensor *x = hg_tensor_new(ctx, HG_F32, 4, shape), *y = NULL;
        for (size_t i = 0; i < nx; i++)
            x->data[i] = xv[i];
        double t = now_ms();
        if (hg_onnx_run(m, ctx, &x, &y)) {
            fprintf(stderr, "%s\n", hg_error_message());
            return 1;
        }
        if (r)
            times[r - 1] = now_ms() - t;
        err = 0, scale = 0;
        for (size_t i = 0; i < ny && i < (size_t)y->numel; i++) {
            err = fmax(err, fabs((double)y->data[i] - yv[i]));
            scale = fmax(scale, fabs((double)yv[i]));
        }
    }
    qsort(times, (size_t)repeats, sizeof *times, cmp);
    printf("{\"best_ms\": %.1f, \"median_ms\": %.1f, \"load_ms\": %.1f, \"max_rel_err\": %.3g}\n",
           times[0], times[repeats / 2], load_ms, err / scale);
    return 0;
}
