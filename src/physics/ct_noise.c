/* CT measurement physics: additive Gaussian noise relative to the data's mean magnitude (as in
 * the learned primal-dual experiments), pre-log Poisson photon noise with the LoDoPaB-CT
 * rules, and block averaging from a refined simulation grid. Random numbers come from the
 * counter-based generator, so results do not depend on the thread count. */
#include "physics/ct_internal.h"

#include <stdlib.h>

hg_status hg_ct_noise_gaussian(float *y, int64_t n, float rel_sigma, hg_rng *rng)
{
    if (!y || !rng || n < 1)
        return hg_error(HG_ERR_INVALID, "ct gaussian noise: need data (n >= 1, got %lld) and rng",
                        (long long)n);
    if (!(rel_sigma >= 0.0f) || !isfinite(rel_sigma))
        return hg_error(HG_ERR_INVALID, "ct gaussian noise: rel_sigma must be >= 0, got %g",
                        (double)rel_sigma);
    double mean_abs = 0.0;
    for (int64_t i = 0; i < n; i++)
        mean_abs += fabs((double)y[i]);
    mean_abs /= (double)n;
    float sigma = (float)(rel_sigma * mean_abs);
    /* noise drawn in chunks from the stream keeps memory bounded and the sequence fixed */
    float chunk[1024];
    for (int64_t i = 0; i < n; i += 1024) {
        int64_t m = n - i < 1024 ? n - i : 1024;
        hg_rng_fill_normal(rng, chunk, m, 0.0f, sigma);
        for (int64_t k = 0; k < m; k++)
            y[i + k] += chunk[k];
    }
    return HG_OK;
}

hg_status hg_ct_noise_poisson(float *y, int64_t n, double i0, double mu_scale, hg_rng *rng)
{
    if (!y || !rng || n < 1)
        return hg_error(HG_ERR_INVALID, "ct poisson noise: need data (n >= 1, got %lld) and rng",
                        (long long)n);
    if (!(i0 > 0) || !isfinite(i0))
        return hg_error(HG_ERR_INVALID, "ct poisson noise: photons i0 must be > 0, got %g", i0);
    if (!(mu_scale > 0) || !isfinite(mu_scale))
        return hg_error(HG_ERR_INVALID, "ct poisson noise: mu_scale must be > 0, got %g",
                        mu_scale);
    for (int64_t i = 0; i < n; i++) {
        double expected = i0 * exp(-mu_scale * (double)y[i]);
        double counts = hg_rng_poisson(rng, expected);
        if (counts <= 0.0)
            counts = 0.1; /* LoDoPaB-CT: a zero count becomes 0.1 photon (finite log) */
        y[i] = (float)(-log(counts / i0) / mu_scale);
    }
    return HG_OK;
}

hg_status hg_ct_image_downsample(const hg_ct_geometry *g, int32_t factor, const float *fine,
                                 float *coarse)
{
    hg_status s = hg_ct_geometry_check(g, NULL);
    if (s != HG_OK)
        return s;
    if (factor < 1 || !fine || !coarse)
        return hg_error(HG_ERR_INVALID, "ct image downsample: factor must be >= 1, got %d",
                        factor);
    int fz = ct_is_3d(g) ? factor : 1;
    int64_t fnx = (int64_t)g->nx * factor, fny = (int64_t)g->ny * factor;
    double inv = 1.0 / ((double)factor * factor * fz);
#pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < g->nz; k++)
        for (int j = 0; j < g->ny; j++)
            for (int i = 0; i < g->nx; i++) {
                double acc = 0.0;
                for (int c = 0; c < fz; c++)
                    for (int b = 0; b < factor; b++) {
                        const float *row =
                            fine + (((int64_t)k * fz + c) * fny + (int64_t)j * factor + b) * fnx +
                            (int64_t)i * factor;
                        for (int a = 0; a < factor; a++)
                            acc += row[a];
                    }
                coarse[((int64_t)k * g->ny + j) * g->nx + i] = (float)(acc * inv);
            }
    return HG_OK;
}
