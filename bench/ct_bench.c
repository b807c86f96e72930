/* CT timings (median of repeats, ms). Not part of the test suite; build after the library:
 *   gcc -O2 -fopenmp -Iinclude -Isrc bench/ct_bench.c build/libhinge.a -lopenblas -lfftw3f \
 *       -lcjson -lz -lpng -lnifti2 -lznz -lm -o build/ct_bench && build/ct_bench [cone]
 * CT_BENCH_CPU=1 reports process CPU time instead of wall time (steadier on a busy machine).
 * Peer: bench/ct_skimage.py (skimage radon/iradon on the same workload). */
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

static double median_ms(hg_linop *op, bool adjoint, const float *in, float *out, int reps)
{
    double t[64];
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime(), c0 = (double)clock();
        if (adjoint)
            hg_linop_adjoint(op, in, out);
        else
            hg_linop_forward(op, in, out);
        t[r] = getenv("CT_BENCH_CPU") ? 1e3 * ((double)clock() - c0) / CLOCKS_PER_SEC
                                      : 1e3 * (omp_get_wtime() - t0);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    return t[reps / 2];
}

static void parallel_2d(int n_det)
{
    float ang[180];
    hg_ct_angles_uniform(ang, 180, 0.0, 3.14159265358979);
    hg_ct_geometry g = hg_ct_parallel(256, 256, 1.0f, 180, ang, n_det, 1.0f);
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(2, 128.0f);
    float *img = malloc(4 * 256 * 256), *sino = malloc(4 * 180 * (size_t)n_det);
    hg_ct_phantom_rasterize(p, &g, 2, img);
    hg_linop *A = hg_ct_projector(&g), *R = hg_ct_fbp(&g, HG_CT_RAMP, 1.0f);
    double tf = median_ms(A, false, img, sino, 21); /* in order: the adjoint reads sino */
    double ta = median_ms(A, true, sino, img, 21);
    double tr = median_ms(R, false, sino, img, 21);
    printf("parallel 256^2 x 180 x %d det (%d threads): projector %.2f ms, adjoint %.2f ms, "
           "fbp %.2f ms\n", n_det, omp_get_max_threads(), tf, ta, tr);
    hg_linop_free(A), hg_linop_free(R);
    hg_ct_phantom_free(p);
    free(img), free(sino);
}

static void cone_256(void)
{
    float ang[360];
    hg_ct_angles_uniform(ang, 360, 0.0, 2 * 3.14159265358979);
    hg_ct_geometry g = hg_ct_cone(256, 256, 256, 1.0f, 360, ang, 300, 256, 2.0f, 2.0f, 512.0f,
                                  1024.0f);
    size_t ni = (size_t)256 * 256 * 256, ns = (size_t)360 * 256 * 300;
    float *vol = malloc(4 * ni), *sino = malloc(4 * ns);
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(3, 128.0f);
    hg_ct_phantom_rasterize(p, &g, 1, vol);
    hg_linop *A = hg_ct_projector(&g);
    printf("cone 256^3, 360 views, 256x300 detector (%d threads): projector %.0f ms\n",
           omp_get_max_threads(), median_ms(A, false, vol, sino, 1));
    printf("  adjoint %.0f ms\n", median_ms(A, true, sino, vol, 1));
    hg_linop *R = hg_ct_fbp(&g, HG_CT_RAMP, 1.0f);
    printf("  fdk %.0f ms\n", median_ms(R, false, sino, vol, 1));
    hg_linop_free(A), hg_linop_free(R);
    hg_ct_phantom_free(p);
    free(vol), free(sino);
}

int main(int argc, char **argv)
{
    parallel_2d(256);
    parallel_2d(363);
    if (argc > 1 && strcmp(argv[1], "cone") == 0)
        cone_256();
    return 0;
}
