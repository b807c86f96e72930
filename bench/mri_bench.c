/* MRI timings side by side with BART 0.8 `pics` on the same data, in one run (issue 3):
 *   256² Shepp–Logan (complex, smooth phase), 8 simulated loop coils (hg_mri_coils_sim),
 *   fastMRI random line mask 4x (8% centre), complex Gaussian noise σ = 0.5% of the image's
 *   peak on the samples;
 *   CG-SENSE 30 iterations vs `bart pics -l2 -r λ -w 1 -i 30`,
 *   l1-wavelet (db2, 4 levels) FISTA 100 iterations vs `bart pics -l1 -r λ -w 1 -i 100`.
 * The data go to BART as cfl files (ksp [x, y, 1, coils], maps likewise), so both solve the
 * same problem with the same maps; -w 1 turns off BART's data scaling. Times are wall
 * clock, median of --repeat runs; BART's include its process start and file I/O (a few ms at
 * this size: `bart pics` of 1 iteration is printed too). Prints NRMSE between the results.
 *
 *   bench/physics_compare.sh builds and runs it (with bench/ct_bench.c and the skimage peer).
 *   build/mri_bench [--repeat N] [--lambda-l2 λ] [--lambda-l1 λ] [--dir D] [--check]
 * --check: exit status 1 when hinge is slower than BART on either workload. */
#include "hinge/cfl.h"
#include "hinge/ct.h"
#include "hinge/mri.h"
#include "hinge/solvers.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 256
#define COILS 8

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* hinge [coils, y, x] row-major is BART's [x, y, 1, coils] in Fortran order: same bytes. */
static int write_cfl(const char *path, const float *data, int64_t coils)
{
    char name[512];
    snprintf(name, sizeof name, "%s.hdr", path);
    FILE *f = fopen(name, "w");
    if (!f)
        return -1;
    fprintf(f, "# Dimensions\n%d %d 1 %lld \n", N, N, (long long)coils);
    fclose(f);
    snprintf(name, sizeof name, "%s.cfl", path);
    f = fopen(name, "wb");
    if (!f)
        return -1;
    size_t n = (size_t)(2 * N * N * coils);
    int ok = fwrite(data, sizeof(float), n, f) == n;
    fclose(f);
    return ok ? 0 : -1;
}

static double nrmse(const float *a, const float *ref, int64_t nfloats)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < nfloats; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d, den += (double)ref[i] * ref[i];
    }
    return sqrt(num / den);
}

typedef struct {
    hg_tensor *ksp, *maps, *mask, *truth;
} mri_data;

static void make_data(mri_data *d)
{
    int64_t img[2] = {N, N}, multi[3] = {COILS, N, N};
    float ang[1] = {0};
    hg_ct_geometry g = hg_ct_parallel(N, N, 1.0f, 1, ang, N, 1.0f);
    hg_ct_phantom *p = hg_ct_phantom_shepp_logan(2, 0.5f * N);
    float *mag = malloc(sizeof(float) * N * N);
    hg_ct_phantom_rasterize(p, &g, 2, mag);
    hg_ct_phantom_free(p);
    d->truth = hg_tensor_new(NULL, HG_C64, 2, img);
    for (int j = 0; j < N; j++) /* a smooth phase, as real images have */
        for (int i = 0; i < N; i++) {
            double ph = 0.6 * sin(3.0 * i / N) + 0.4 * cos(2.0 * j / N);
            d->truth->data[2 * (j * N + i)] = (float)(mag[j * N + i] * cos(ph));
            d->truth->data[2 * (j * N + i) + 1] = (float)(mag[j * N + i] * sin(ph));
        }
    free(mag);
    d->maps = hg_mri_coils_sim(NULL, 2, img, COILS, NULL);
    float lines[N];
    hg_rng rng = hg_rng_new(42);
    hg_mri_mask_lines(HG_MASK_RANDOM, N, 0.08, 4.0, 0, &rng, lines, NULL);
    d->mask = hg_mri_mask_expand(NULL, 2, img, lines);
    d->ksp = hg_tensor_new(NULL, HG_C64, 3, multi);
    hg_linop *A = hg_linop_sense(d->maps, d->mask);
    hg_linop_forward(A, d->truth->data, d->ksp->data);
    hg_linop_free(A);
    double peak = 0; /* noise: the FFT is unitary, so σ is also the coil images' noise */
    for (int64_t i = 0; i < 2 * d->truth->numel; i++)
        peak = fmax(peak, fabs(d->truth->data[i]));
    for (int64_t c = 0; c < COILS; c++)
        for (int64_t i = 0; i < N * N; i++)
            if (d->mask->data[i] != 0.0f)
                for (int r = 0; r < 2; r++)
                    d->ksp->data[2 * (c * N * N + i) + r] += (float)(0.005 * peak * hg_rng_normal(&rng));
}

static double hinge_cg(const mri_data *d, double lambda, int iters, float *out)
{
    hg_tensor *x = hg_tensor_new(NULL, HG_C64, 2, d->truth->shape);
    hg_solver_opts o = {.max_iter = iters};
    double t0 = omp_get_wtime();
    hg_status s = hg_mri_cg_sense(d->ksp, d->maps, d->mask, lambda, &o, x, NULL);
    double ms = 1e3 * (omp_get_wtime() - t0);
    if (s != HG_OK)
        fprintf(stderr, "cg-sense: %s\n", hg_error_message());
    memcpy(out, x->data, sizeof(float) * 2 * N * N);
    hg_tensor_free(x);
    return ms;
}

static double hinge_l1(const mri_data *d, double lambda, int iters, float *out)
{
    hg_tensor *x = hg_tensor_new(NULL, HG_C64, 2, d->truth->shape);
    hg_solver_opts o = {.max_iter = iters};
    double t0 = omp_get_wtime();
    hg_linop *A = hg_linop_sense(d->maps, d->mask);
    hg_linop *W = hg_linop_wavelet(HG_C64, 2, d->truth->shape, 2, 4, 4);
    hg_status s = A && W ? hg_fista_l1(A, W, d->ksp->data, x->data, lambda, &o, NULL)
                         : HG_ERR_NOMEM;
    double ms = 1e3 * (omp_get_wtime() - t0);
    if (s != HG_OK)
        fprintf(stderr, "l1-wavelet: %s\n", hg_error_message());
    hg_linop_free(A), hg_linop_free(W);
    memcpy(out, x->data, sizeof(float) * 2 * N * N);
    hg_tensor_free(x);
    return ms;
}

/* Runs `bart pics <reg> -r lambda -w 1 -i iters` on dir/ksp, dir/maps; wall ms, or -1. */
static double bart_pics(const char *dir, const char *reg, double lambda, int iters, float *out)
{
    char cmd[1024], name[512];
    snprintf(cmd, sizeof cmd, "bart pics %s -r %g -w 1 -i %d %s/ksp %s/maps %s/reco >/dev/null",
             reg, lambda, iters, dir, dir, dir);
    double t0 = omp_get_wtime();
    int rc = system(cmd);
    double ms = 1e3 * (omp_get_wtime() - t0);
    if (rc != 0)
        return -1;
    snprintf(name, sizeof name, "%s/reco", dir);
    int64_t dims[HG_CFL_DIMS];
    hg_tensor *r = hg_cfl_read(name, dims);
    if (!r || r->numel != N * N) {
        hg_tensor_free(r);
        return -1;
    }
    memcpy(out, r->data, sizeof(float) * 2 * N * N);
    hg_tensor_free(r);
    return ms;
}

int main(int argc, char **argv)
{
    int repeat = 3;
    bool check = false;
    double lam2 = 0.01, lam1 = 0.002;
    const char *dir = "/tmp/hinge_mri_bench";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check"))
            check = true;
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lambda-l2") && i + 1 < argc)
            lam2 = atof(argv[++i]);
        else if (!strcmp(argv[i], "--lambda-l1") && i + 1 < argc)
            lam1 = atof(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: mri_bench [--repeat N] [--lambda-l2 L] [--lambda-l1 L] "
                            "[--dir D] [--check]\n");
            return 2;
        }
    }
    if (repeat < 1 || repeat > 15)
        repeat = 3;
    mri_data d;
    make_data(&d);
    char path[512];
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    if (system(path) != 0)
        return 2;
    snprintf(path, sizeof path, "%s/ksp", dir);
    if (write_cfl(path, d.ksp->data, COILS) != 0)
        return 2;
    snprintf(path, sizeof path, "%s/maps", dir);
    if (write_cfl(path, d.maps->data, COILS) != 0)
        return 2;
    float *h = malloc(sizeof(float) * 2 * N * N), *b = malloc(sizeof(float) * 2 * N * N);
    double th[2][16], tb[2][16], e[2] = {0, 0}, etruth[2][2] = {{0, 0}, {0, 0}};
    for (int w = 0; w < 2; w++) {
        for (int r = 0; r < repeat; r++) { /* alternate: both see the same machine load */
            th[w][r] = w == 0 ? hinge_cg(&d, lam2, 30, h) : hinge_l1(&d, lam1, 100, h);
            tb[w][r] = w == 0 ? bart_pics(dir, "-l2", lam2, 30, b) : bart_pics(dir, "-l1", lam1, 100, b);
            if (tb[w][r] < 0) {
                fprintf(stderr, "bart pics failed (is bart installed? apt-get install bart)\n");
                return 2;
            }
        }
        e[w] = nrmse(h, b, 2 * N * N);
        etruth[w][0] = nrmse(h, d.truth->data, 2 * N * N);
        etruth[w][1] = nrmse(b, d.truth->data, 2 * N * N);
    }
    double t1 = bart_pics(dir, "-l2", lam2, 1, b);
    const char *names[2] = {"CG-SENSE 30 it", "l1-wavelet 100 it"};
    int fail = 0;
    printf("MRI 256^2, %d coils, 4x random lines, %d threads (OMP_NUM_THREADS), median of %d\n",
           COILS, omp_get_max_threads(), repeat);
    printf("%-18s %10s %10s %8s %12s %14s\n", "workload", "hinge ms", "bart ms", "bart/h",
           "NRMSE(h,b)", "NRMSE truth h/b");
    for (int w = 0; w < 2; w++) {
        double mh = median(th[w], repeat), mb = median(tb[w], repeat);
        printf("%-18s %10.1f %10.1f %7.2fx %12.3g %7.3f/%.3f\n", names[w], mh, mb, mb / mh, e[w],
               etruth[w][0], etruth[w][1]);
        fail |= mh > mb;
    }
    printf("(bart pics -l2 -i 1, process start + I/O + setup: %.1f ms; lambda l2 %g, l1 %g)\n",
           t1, lam2, lam1);
    free(h), free(b);
    hg_tensor_free(d.ksp), hg_tensor_free(d.maps), hg_tensor_free(d.mask), hg_tensor_free(d.truth);
    return check && fail ? 1 : 0;
}
