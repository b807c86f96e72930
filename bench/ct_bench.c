/* CT timings (issue 3 and 7). Not part of the test suite; bench/physics_compare.sh builds it
 * against build/libhinge.a and runs it side by side with bench/ct_skimage.py.
 *
 *   build/ct_bench [--reps N] [--cone] [--cone-views V] [--cone-size N]
 *
 * Prints one line per measurement, "key value" pairs the compare script reads:
 *   parallel 256², 180 angles, 256 detectors: projector, adjoint, FBP (ramp): best and
 *     median wall ms of N runs (after one warm-up); then projector and FBP on one thread,
 *     best and median process CPU ms (the *_cpu1_* keys);
 *   stream: a STREAM-like triad a = b + s·c over 3 x 128 MiB arrays (best of 5), GB/s =
 *     3 · 4 bytes · n / s (two reads, one write; write-allocate traffic not counted);
 *   with --cone: 256³ volume, 360 views, 256 x 300 detector (du = dv = 2, sod 512, sdd 1024):
 *     projector wall time, its "model" bandwidth = (views · volume bytes + sinogram bytes) / s
 *     (every view reads the volume once, the ideal streaming traffic) and its sample rate
 *     (bilinear samples per second, 16 bytes gathered each), and its process CPU time (all
 *     threads: on a busy machine wall time / CPU time shows the share the run got).
 * Threads: OMP_NUM_THREADS (set OMP_WAIT_POLICY=passive on a shared machine). */
#include "hinge/ct.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double best, median;
} timing;

/* Best and median of `reps` runs after a warm-up: wall ms, or with cpu the process CPU ms
 * (for the single-thread comparison: the work done, whatever share of the machine the
 * process got). */
static timing time_op(hg_linop *op, bool adjoint, const float *in, float *out, int reps, bool cpu)
{
    double t[101];
    if (adjoint) /* warm-up */
        hg_linop_adjoint(op, in, out);
    else
        hg_linop_forward(op, in, out);
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime(), c0 = (double)clock();
        if (adjoint)
            hg_linop_adjoint(op, in, out);
        else
            hg_linop_forward(op, in, out);
        t[r] = cpu ? 1e3 * ((double)clock() - c0) / CLOCKS_PER_SEC : 1e3 * (omp_get_wtime() - t0);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    return (timing){t[0], reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2])};
}

static void parallel_2d(int reps)
{
    float ang[180];
    hg_ct_angles_uniform(ang, 180, 0.0, 3.14159265358979);
    hg_ct_geometry g = hg_ct_parallel(256, 256, 1.0f, 180, ang, 256, 1.0f);
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(2, 128.0f);
    float *img = malloc(4 * 256 * 256), *sino = malloc(4 * 180 * 256), *back = malloc(4 * 256 * 256);
    hg_ct_phantom_rasterize(p, &g, 2, img);
    hg_linop *A = hg_ct_projector(&g), *R = hg_ct_fbp(&g, HG_CT_RAMP, 1.0f);
    timing tf = time_op(A, false, img, sino, reps, false);
    timing ta = time_op(A, true, sino, back, reps, false);
    timing tr = time_op(R, false, sino, back, reps, false);
    printf("threads %d\n", omp_get_max_threads());
    printf("projector_best_ms %.3f projector_median_ms %.3f\n", tf.best, tf.median);
    printf("adjoint_best_ms %.3f adjoint_median_ms %.3f\n", ta.best, ta.median);
    printf("fbp_best_ms %.3f fbp_median_ms %.3f\n", tr.best, tr.median);
    hg_linop_free(A), hg_linop_free(R);
    /* one thread, CPU time: the same work as skimage's single thread, robust to load */
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    A = hg_ct_projector(&g), R = hg_ct_fbp(&g, HG_CT_RAMP, 1.0f);
    tf = time_op(A, false, img, sino, reps, true);
    tr = time_op(R, false, sino, back, reps, true);
    printf("projector_cpu1_best_ms %.3f projector_cpu1_median_ms %.3f\n", tf.best, tf.median);
    printf("fbp_cpu1_best_ms %.3f fbp_cpu1_median_ms %.3f\n", tr.best, tr.median);
    hg_linop_free(A), hg_linop_free(R);
    omp_set_num_threads(saved);
    hg_ct_phantom_free(p);
    free(img), free(sino), free(back);
}

/* STREAM triad, best of 5: GB/s counting two reads and one write per element. */
static double stream_triad(void)
{
    int64_t n = (int64_t)32 << 20; /* 128 MiB per array */
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *c = malloc(sizeof(float) * n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            a[i] = b[i] + 0.5f * c[i];
        double t = omp_get_wtime() - t0;
        best = t < best ? t : best;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    free(a), free(b), free(c);
    return 3.0 * 4.0 * (double)n / best / 1e9;
}

static void cone(int n, int views)
{
    float *ang = malloc(sizeof(float) * views);
    hg_ct_angles_uniform(ang, views, 0.0, 2 * 3.14159265358979);
    int n_det = n * 300 / 256;
    hg_ct_geometry g = hg_ct_cone(n, n, n, 1.0f, views, ang, n_det, n, 2.0f, 2.0f, 2.0f * n,
                                  4.0f * n);
    size_t ni = (size_t)n * n * n, ns = (size_t)views * n * n_det;
    float *vol = malloc(4 * ni), *sino = malloc(4 * ns);
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(3, 0.5f * n);
    hg_ct_phantom_rasterize(p, &g, 1, vol);
    hg_linop *A = hg_ct_projector(&g);
    double t0 = omp_get_wtime(), c0 = (double)clock();
    hg_linop_forward(A, vol, sino);
    double s = omp_get_wtime() - t0, cpu = ((double)clock() - c0) / CLOCKS_PER_SEC;
    /* samples: the Joseph ray marches every column (row) its clipped extent covers; count
     * them as nx per ray inside the volume's shadow, a slight overestimate of the work */
    double samples = 0;
    for (size_t i = 0; i < ns; i++)
        samples += sino[i] != 0.0f ? n : 0;
    double model = ((double)views * 4.0 * ni + 4.0 * ns) / s / 1e9;
    printf("cone_size %d cone_views %d cone_det %dx%d\n", n, views, n, n_det);
    printf("cone_projector_ms %.0f cone_cpu_ms %.0f cone_model_gbs %.2f cone_gsamples_s %.3f\n",
           1e3 * s, 1e3 * cpu, model, samples / s / 1e9);
    fflush(stdout);
    hg_linop_free(A);
    hg_ct_phantom_free(p);
    free(vol), free(sino), free(ang);
}

int main(int argc, char **argv)
{
    int reps = 21, cone_n = 256, cone_v = 360;
    bool do_cone = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cone"))
            do_cone = true;
        else if (!strcmp(argv[i], "--cone-size") && i + 1 < argc)
            cone_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cone-views") && i + 1 < argc)
            cone_v = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: ct_bench [--reps N] [--cone] [--cone-size N] "
                            "[--cone-views V]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 101)
        reps = 21;
    parallel_2d(reps);
    printf("stream_triad_gbs %.2f\n", stream_triad());
    if (do_cone)
        cone(cone_n, cone_v);
    return 0;
}
