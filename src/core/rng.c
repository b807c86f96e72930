/* Counter-based random numbers (Philox-4x32-10, Salmon et al., SC'11).
 *
 * Draw number i of a stream is philox(key = seed, counter = i): no sequential state, so a
 * buffer filled by any number of threads holds the same values. Every draw uses one block. */
#include "hinge/core.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void hg_philox4x32(uint64_t key, uint64_t counter, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

hg_rng hg_rng_new(uint64_t seed)
{
    hg_rng r = {seed, 0};
    return r;
}

hg_rng hg_rng_split(const hg_rng *rng, uint64_t stream)
{
    uint32_t b[4];
    /* Derive a new key from (seed, stream) with the top counter bit set, a range that
     * ordinary draws of the parent (counter < 2^63) never reach. */
    hg_philox4x32(rng->seed, stream | (1ull << 63), b);
    hg_rng r = {((uint64_t)b[0] << 32) | b[1], 0};
    return r;
}

static inline double u32_to_unit(uint32_t a, uint32_t b)
{
    /* 53 random bits -> [0, 1) */
    uint64_t x = ((uint64_t)a << 21) ^ (uint64_t)(b >> 11);
    return (double)(x & ((1ull << 53) - 1)) * 0x1.0p-53;
}

uint32_t hg_rng_u32(hg_rng *rng)
{
    uint32_t b[4];
    hg_philox4x32(rng->seed, rng->counter++, b);
    return b[0];
}

uint64_t hg_rng_u64(hg_rng *rng)
{
    uint32_t b[4];
    hg_philox4x32(rng->seed, rng->counter++, b);
    return ((uint64_t)b[0] << 32) | b[1];
}

double hg_rng_uniform(hg_rng *rng)
{
    uint32_t b[4];
    hg_philox4x32(rng->seed, rng->counter++, b);
    return u32_to_unit(b[0], b[1]);
}

static double normal_from_block(const uint32_t b[4])
{
    double u1 = u32_to_unit(b[0], b[1]);
    double u2 = u32_to_unit(b[2], b[3]);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

double hg_rng_normal(hg_rng *rng)
{
    uint32_t b[4];
    hg_philox4x32(rng->seed, rng->counter++, b);
    return normal_from_block(b);
}

uint64_t hg_rng_below(hg_rng *rng, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Rejection sampling removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = hg_rng_u64(rng);
        if (x < limit)
            return x % n;
    }
}

double hg_rng_poisson(hg_rng *rng, double mean)
{
    if (!(mean > 0.0))
        return 0.0;
    if (mean < 30.0) {
        /* Knuth: multiply uniforms until the product drops below exp(-mean). */
        double limit = exp(-mean), prod = hg_rng_uniform(rng);
        double k = 0.0;
        while (prod > limit) {
            prod *= hg_rng_uniform(rng);
            k += 1.0;
        }
        return k;
    }
    /* PTRS: transformed rejection with squeeze (Hormann 1993), exact for mean >= 10. */
    double slam = sqrt(mean), loglam = log(mean);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = hg_rng_uniform(rng) - 0.5, v = hg_rng_uniform(rng);
        double us = 0.5 - fabs(u);
        double k = floor((2.0 * a / us + b) * u + mean + 0.43);
        if (us >= 0.07 && v <= vr)
            return k;
        if (k < 0.0 || (us < 0.013 && v > us))
            continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
            -mean + k * loglam - lgamma(k + 1.0))
            return k;
    }
}

void hg_rng_fill_uniform(hg_rng *rng, float *x, int64_t n, float lo, float hi)
{
    uint64_t base = rng->counter;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint32_t b[4];
        hg_philox4x32(rng->seed, base + (uint64_t)i, b);
        x[i] = lo + (hi - lo) * (float)u32_to_unit(b[0], b[1]);
    }
    rng->counter += (uint64_t)n;
}

void hg_rng_fill_normal(hg_rng *rng, float *x, int64_t n, float mean, float std)
{
    uint64_t base = rng->counter;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint32_t b[4];
        hg_philox4x32(rng->seed, base + (uint64_t)i, b);
        x[i] = mean + std * (float)normal_from_block(b);
    }
    rng->counter += (uint64_t)n;
}

void hg_rng_shuffle(hg_rng *rng, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)hg_rng_below(rng, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
