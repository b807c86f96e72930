/* Joseph projectors (parallel, fan flat/arc, cone flat) with exactly matched adjoints.
 *
 * Model. Each detector element measures the line integral of the image along one ray (through
 * the element's centre). The image is continued between pixel centres by interpolation along
 * the axis across the ray (Joseph 1982): a ray whose direction, in pixel units, moves more in x
 * than in y ("x-dominant") is sampled once at every column centre x_i, where the image is
 * linearly interpolated between the two rows around the ray's y (bilinearly between four
 * voxels in (y, z) for the cone beam); a y-dominant ray likewise at every row centre. Each
 * sample is weighted by the ray length between consecutive columns (rows): |d| dx / |d_x|.
 * Outside the image the value is 0, so a ray passing within one pixel of the border gets a
 * partial weight from the edge pixel. Cone-beam rays are never z-dominant: they step in x or
 * y also when steep (cone angles > 45° are unusual and still give an exact adjoint pair).
 *
 * So A[ray, pixel] = w_ray · interpolation weight, and the adjoint applies exactly those
 * weights transposed (not a voxel-driven backprojector): same float expressions, same
 * samples. Parallelization without atomics: the forward runs over rays (OpenMP over views
 * and rows); the adjoint runs x-dominant rays plane by plane over columns (a thread owns
 * column i, the only one these rays' samples at x_i touch), then y-dominant rays over rows.
 */
#include "physics/ct_internal.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A ray in index space: x-dominant (dom 0) samples column i at row j = a + b·i and slice
 * k = c + e·i; y-dominant (dom 1) samples row j at column i = a + b·j and slice k = c + e·j. */
typedef struct jray {
    float a, b, c, e, w;
    int32_t dom;
} jray;

typedef struct joseph {
    ct_geom cg;
    jray *rays;          /* 2-D: every ray; cone: one chunk of views */
    int32_t *xs, *ys;    /* 2-D: ids of x- and y-dominant rays */
    int64_t n_xs, n_ys;
    int32_t chunk_views; /* cone adjoint: views per chunk */
    float *tbuf;         /* 2-D: the image transposed, so y-dominant rays read along memory */
    /* parallel beam, AVX-512 path: per block of 16 detectors of a view, the t range its rays
     * cross; every ray's intercept a (contiguous, one load per block) */
    float *ra;
    int32_t *brange;  /* per block: t range crossed, t range where all 16 rays are interior */
    float *xbuf;      /* the image, with 32 floats of slack (as tbuf) for window loads */
    int32_t n_blocks; /* 0: no block tables (not parallel beam) */
} joseph;

static void ray_index(const hg_ct_geometry *g, const ct_ray3 *r, jray *out)
{
    double cx = 0.5 * (g->nx - 1), cy = 0.5 * (g->ny - 1), cz = 0.5 * (g->nz - 1);
    double P[3] = {r->p[0] / g->dx + cx, cy - r->p[1] / g->dy, r->p[2] / g->dz + cz};
    double D[3] = {r->d[0] / g->dx, -r->d[1] / g->dy, r->d[2] / g->dz};
    double len = sqrt(r->d[0] * r->d[0] + r->d[1] * r->d[1] + r->d[2] * r->d[2]);
    int dom = fabs(D[0]) >= fabs(D[1]) ? 0 : 1, other = 1 - dom;
    double b = D[other] / D[dom], e = D[2] / D[dom];
    out->dom = dom;
    out->b = (float)b;
    out->a = (float)(P[other] - P[dom] * b);
    out->e = (float)e;
    out->c = (float)(P[2] - P[dom] * e);
    out->w = (float)(len / fabs(D[dom]));
}

/* Indices t in [0, m) where a + b·t lies in (-1, n), widened by one on each side (samples
 * outside get zero weight from the bounds tests below). */
static void clip_range(float a, float b, int n, int m, int *lo, int *hi)
{
    if (fabsf(b) < 1e-12f) {
        bool in = a > -1.0f && a < (float)n;
        *lo = in ? 0 : 1;
        *hi = in ? m - 1 : 0;
        return;
    }
    float t1 = (-1.0f - a) / b, t2 = ((float)n - a) / b;
    float tl = fminf(t1, t2), th = fmaxf(t1, t2);
    *lo = tl < 0 ? 0 : (tl > (float)m ? m : (int)floorf(tl));
    *hi = th < 0 ? -1 : (th > (float)(m - 1) ? m - 1 : (int)ceilf(th));
}

/* ---- 2-D --------------------------------------------------------------------------------- */

/* Whether sample t of a ray lies strictly inside the interpolation range (both neighbours
 * s0 = (int)s and s0 + 1 inside the image): there no bounds tests are needed. */
static inline bool interior(const jray *r, int t, int n_s)
{
    float s = r->a + r->b * (float)t;
    return s >= 0.0f && s < (float)(n_s - 1);
}

/* The sub-range [*il, *ih] of [lo, hi] where samples are interior (contiguous: s is monotone
 * in t). */
static void interior_range(const jray *r, int lo, int hi, int n_s, int *il, int *ih)
{
    while (lo <= hi && !interior(r, lo, n_s))
        lo++;
    while (hi >= lo && !interior(r, hi, n_s))
        hi--;
    *il = lo, *ih = hi;
}

/* One sample with bounds tests (ray ends and image borders). */
static inline float sample2_edge(const float *p, float s, int n_s, int64_t ss)
{
    float sf = floorf(s), f = s - sf;
    int s0 = (int)sf;
    return (s0 >= 0 && s0 < n_s ? (1.0f - f) * p[s0 * ss] : 0.0f) +
           (s0 + 1 >= 0 && s0 + 1 < n_s ? f * p[(s0 + 1) * ss] : 0.0f);
}

/* Samples along a 2-D ray marching t over contiguous memory (x-dominant rays on the image,
 * y-dominant rays on its transpose): the pixel (t, s) is img[t + s*ss]. The interior loop has
 * no branches and vectorizes (gathers, 32-bit indices) where the CPU has AVX2. */
__attribute__((target_clones("avx2", "default")))
static float march2(const float *img, const jray *r, int n_t, int n_s, int ss)
{
    int lo, hi, il, ih;
    clip_range(r->a, r->b, n_s, n_t, &lo, &hi);
    interior_range(r, lo, hi, n_s, &il, &ih);
    float acc = 0.0f;
    for (int t = lo; t < il; t++)
        acc += sample2_edge(img + t, r->a + r->b * (float)t, n_s, ss);
    for (int t = ih < il ? il : ih + 1; t <= hi; t++)
        acc += sample2_edge(img + t, r->a + r->b * (float)t, n_s, ss);
    float a = r->a, b = r->b;
#pragma omp simd reduction(+ : acc)
    for (int t = il; t <= ih; t++) {
        float s = a + b * (float)t;
        int s0 = (int)s;
        float f = s - (float)s0;
        int at = t + s0 * ss;
        acc += img[at] + f * (img[at + ss] - img[at]);
    }
    return acc * r->w;
}

/* Transposes a rows x cols block (out[c*rows + r] = in[r*cols + c]), or adds the transpose. */
static void transpose(const float *in, float *out, int rows, int cols, bool add)
{
#pragma omp parallel for schedule(dynamic, 2) /* dynamic: see fbp's filter_rows */
    for (int c0 = 0; c0 < cols; c0 += 16)
        for (int r = 0; r < rows; r++)
            for (int c = c0; c < cols && c < c0 + 16; c++) {
                float v = in[(int64_t)r * cols + c];
                out[(int64_t)c * rows + r] = add ? out[(int64_t)c * rows + r] + v : v;
            }
}

/* Parallel beam on AVX-512: blocks of 16 detectors of one view march the image lines
 * together (ct_simd_project16); x-dominant views read the columns from the transpose. */
static void fwd2_blocks(const joseph *J, float *y)
{
    const hg_ct_geometry *g = &J->cg.g;
    int nb = (g->n_det + 15) / 16;
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t q = 0; q < (int64_t)g->n_angles * nb; q++) {
        int v = (int)(q / nb), c0 = (int)(q % nb) * 16;
        int nr = g->n_det - c0 < 16 ? g->n_det - c0 : 16;
        int64_t r0 = (int64_t)v * g->n_det + c0;
        const jray *r = &J->rays[r0];
        float sum[16];
        if (r->dom == 0)
            ct_simd_project16(J->tbuf, g->ny, J->ra + r0, nr, r->b, J->brange + 4 * q, sum);
        else
            ct_simd_project16(J->xbuf, g->nx, J->ra + r0, nr, r->b, J->brange + 4 * q, sum);
        for (int l = 0; l < nr; l++)
            y[r0 + l] = sum[l] * r[l].w;
    }
}

static hg_status fwd2(const hg_linop *op, const float *x, float *y)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    transpose(x, J->tbuf, g->ny, g->nx, false);
    if (J->n_blocks && ct_simd_ok()) {
        memcpy(J->xbuf, x, sizeof(float) * (size_t)g->nx * g->ny);
        fwd2_blocks(J, y);
        return HG_OK;
    }
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t q = 0; q < J->n_xs; q++)
        y[J->xs[q]] = march2(x, &J->rays[J->xs[q]], g->nx, g->ny, g->nx);
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t q = 0; q < J->n_ys; q++)
        y[J->ys[q]] = march2(J->tbuf, &J->rays[J->ys[q]], g->ny, g->nx, g->ny);
    return HG_OK;
}

/* The transpose of march2 for the samples with t in [t0, t1) of the rays `ids`: a thread owns
 * those columns (x-dominant rays) or rows (y-dominant rays), so no two threads write one
 * pixel. A block of several t per ray reads the ray table once per block. */
static void scatter2(float *img, const jray *rays, const int32_t *ids, int64_t n_ids,
                     const float *y, int t0, int t1, int n_s, int64_t st, int64_t ss)
{
    for (int64_t q = 0; q < n_ids; q++) {
        const jray *r = &rays[ids[q]];
        float v = y[ids[q]] * r->w;
        float sa = r->a + r->b * (float)t0, sb = r->a + r->b * (float)(t1 - 1);
        if (v == 0.0f || (sa <= -1.0f && sb <= -1.0f) || (sa >= n_s && sb >= n_s))
            continue;
        for (int t = t0; t < t1; t++) {
            float s = r->a + r->b * (float)t;
            float *p = img + t * st;
            if (s >= 0.0f && s < (float)(n_s - 1)) {
                int s0 = (int)s;
                float f = s - (float)s0;
                p[s0 * ss] += v - f * v;
                p[(s0 + 1) * ss] += f * v;
                continue;
            }
            float sf = floorf(s), f = s - sf;
            int s0 = (int)sf;
            if (s0 < -1 || s0 >= n_s)
                continue;
            if (s0 >= 0)
                p[s0 * ss] += (1.0f - f) * v;
            if (s0 + 1 < n_s)
                p[(s0 + 1) * ss] += f * v;
        }
    }
}

enum { BLOCK = 8 }; /* columns (rows) per adjoint work item */

static hg_status adj2(const hg_linop *op, const float *y, float *x)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    int nx = g->nx, ny = g->ny;
    memset(x, 0, sizeof(float) * (size_t)nx * ny);
    memset(J->tbuf, 0, sizeof(float) * (size_t)nx * ny);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < nx; i += BLOCK)
        scatter2(x, J->rays, J->xs, J->n_xs, y, i, i + BLOCK < nx ? i + BLOCK : nx, ny, 1, nx);
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = 0; j < ny; j += BLOCK)
        scatter2(J->tbuf, J->rays, J->ys, J->n_ys, y, j, j + BLOCK < ny ? j + BLOCK : ny, nx, 1,
                 ny);
    transpose(J->tbuf, x, nx, ny, true);
    return HG_OK;
}

/* ---- 3-D (cone) ---------------------------------------------------------------------------- */

/* Bilinear sample weights at (s, k) in a plane of n_s x n_z; returns false when no corner of
 * the 2x2 neighbourhood is inside. */
typedef struct {
    int s0, k0;
    float fs, fk;
} bil;

static inline bool bil_at(const jray *r, int t, int n_s, int n_z, bil *b)
{
    float s = r->a + r->b * (float)t, k = r->c + r->e * (float)t;
    float sf = floorf(s), kf = floorf(k);
    b->s0 = (int)sf, b->k0 = (int)kf;
    b->fs = s - sf, b->fk = k - kf;
    return b->s0 >= -1 && b->s0 < n_s && b->k0 >= -1 && b->k0 < n_z;
}

/* One bilinear sample with bounds tests (ray ends, volume borders). */
static inline float sample3_edge(const float *p, const jray *r, int t, int n_s, int n_z,
                                 int64_t ss, int64_t sk)
{
    bil b;
    if (!bil_at(r, t, n_s, n_z, &b))
        return 0.0f;
    bool s0 = b.s0 >= 0, s1 = b.s0 + 1 < n_s, k0 = b.k0 >= 0, k1 = b.k0 + 1 < n_z;
    float v0 = 0.0f, v1 = 0.0f; /* rows k0 and k0+1 interpolated in s */
    if (k0) {
        const float *q = p + b.k0 * sk;
        v0 = (s0 ? (1.0f - b.fs) * q[b.s0 * ss] : 0.0f) + (s1 ? b.fs * q[(b.s0 + 1) * ss] : 0.0f);
    }
    if (k1) {
        const float *q = p + (b.k0 + 1) * sk;
        v1 = (s0 ? (1.0f - b.fs) * q[b.s0 * ss] : 0.0f) + (s1 ? b.fs * q[(b.s0 + 1) * ss] : 0.0f);
    }
    return (1.0f - b.fk) * v0 + b.fk * v1;
}

static inline bool interior3(const jray *r, int t, int n_s, int n_z)
{
    float s = r->a + r->b * (float)t, k = r->c + r->e * (float)t;
    return s >= 0.0f && s < (float)(n_s - 1) && k >= 0.0f && k < (float)(n_z - 1);
}

/* Along the marched axis t, voxel (t, s, k) is at img[t*st + s*ss + k*sk]. Samples whose
 * four neighbours are all inside form one run (s and k are monotone in t) that is computed
 * without bounds tests and vectorizes (16- or 8-lane gathers; 32-bit offsets, which is why
 * volumes of 2^31 voxels or more take march3_big); the ends take the general path. */
#define MARCH3_BODY(IDX)                                                                     \
    int lo, hi, lo2, hi2;                                                                    \
    clip_range(r->a, r->b, n_s, n_t, &lo, &hi);                                              \
    clip_range(r->c, r->e, n_z, n_t, &lo2, &hi2);                                            \
    lo = lo > lo2 ? lo : lo2;                                                                \
    hi = hi < hi2 ? hi : hi2;                                                                \
    int il = lo, ih = hi;                                                                    \
    while (il <= ih && !interior3(r, il, n_s, n_z))                                          \
        il++;                                                                                \
    while (ih >= il && !interior3(r, ih, n_s, n_z))                                          \
        ih--;                                                                                \
    float acc = 0.0f;                                                                        \
    for (int t = lo; t < il; t++)                                                            \
        acc += sample3_edge(img + t * st, r, t, n_s, n_z, ss, sk);                           \
    for (int t = ih < il ? il : ih + 1; t <= hi; t++)                                        \
        acc += sample3_edge(img + t * st, r, t, n_s, n_z, ss, sk);                           \
    float a = r->a, b = r->b, c = r->c, e = r->e;                                            \
    IDX ist = (IDX)st, iss = (IDX)ss, isk = (IDX)sk;                                         \
    _Pragma("omp simd reduction(+ : acc)")                                                   \
    for (int t = il; t <= ih; t++) {                                                         \
        float s = a + b * (float)t, k = c + e * (float)t;                                    \
        int s0 = (int)s, k0 = (int)k;                                                        \
        float fs = s - (float)s0, fk = k - (float)k0;                                        \
        IDX at = (IDX)t * ist + (IDX)s0 * iss + (IDX)k0 * isk;                               \
        float v0 = img[at] + fs * (img[at + iss] - img[at]);                                 \
        float v1 = img[at + isk] + fs * (img[at + isk + iss] - img[at + isk]);               \
        acc += v0 + fk * (v1 - v0);                                                          \
    }                                                                                        \
    return acc * r->w;

__attribute__((target_clones("avx512f", "avx2", "default")))
static float march3(const float *img, const jray *r, int n_t, int n_s, int n_z, int64_t st,
                    int64_t ss, int64_t sk)
{
    MARCH3_BODY(int32_t)
}

static float march3_big(const float *img, const jray *r, int n_t, int n_s, int n_z, int64_t st,
                        int64_t ss, int64_t sk)
{
    MARCH3_BODY(int64_t)
}

/* 16 neighbouring rays of one detector row through ct_simd_cone16 when they share the
 * dominant axis; false when they do not (the caller marches them one by one). */
static bool fwd3_block(const joseph *J, const float *x, const jray *r, int nr, float *out)
{
    const hg_ct_geometry *g = &J->cg.g;
    float A[16], B[16], C[16], E[16], sum[16];
    int lo = INT32_MAX, hi = -1;
    for (int l = 0; l < nr; l++) {
        if (r[l].dom != r[0].dom)
            return false;
        int n_t = r[l].dom == 0 ? g->nx : g->ny, n_s = r[l].dom == 0 ? g->ny : g->nx;
        int l1, h1, l2, h2;
        clip_range(r[l].a, r[l].b, n_s, n_t, &l1, &h1);
        clip_range(r[l].c, r[l].e, g->nz, n_t, &l2, &h2);
        l1 = l1 > l2 ? l1 : l2, h1 = h1 < h2 ? h1 : h2;
        if (l1 <= h1)
            lo = l1 < lo ? l1 : lo, hi = h1 > hi ? h1 : hi;
        A[l] = r[l].a, B[l] = r[l].b, C[l] = r[l].c, E[l] = r[l].e;
    }
    int64_t sxy = (int64_t)g->nx * g->ny;
    if (r[0].dom == 0) /* x-dominant: planes x = t from the slice-transposed copy */
        ct_simd_cone16(J->tbuf, g->ny, g->nz, g->ny, sxy, A, B, C, E, nr, lo, hi, sum);
    else
        ct_simd_cone16(x, g->nx, g->nz, g->nx, sxy, A, B, C, E, nr, lo, hi, sum);
    for (int l = 0; l < nr; l++)
        out[l] = sum[l] * r[l].w;
    return true;
}

static hg_status fwd3(const hg_linop *op, const float *x, float *y)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    int64_t sxy = (int64_t)g->nx * g->ny;
    bool big = sxy * g->nz >= INT32_MAX - 2 * sxy;
    bool simd = J->tbuf && !big && ct_simd_ok();
    if (simd) { /* x and y swapped in every slice: x-dominant rays' planes with y contiguous */
#pragma omp parallel for schedule(dynamic, 1)
        for (int k = 0; k < g->nz; k++)
            for (int j0 = 0; j0 < g->ny; j0 += 16)
                for (int i = 0; i < g->nx; i++)
                    for (int j = j0; j < g->ny && j < j0 + 16; j++)
                        J->tbuf[k * sxy + (int64_t)i * g->ny + j] =
                            x[k * sxy + (int64_t)j * g->nx + i];
    }
#pragma omp parallel for collapse(2) schedule(dynamic, 4)
    for (int v = 0; v < g->n_angles; v++)
        for (int row = 0; row < g->n_rows; row++) {
            float *out = y + ((int64_t)v * g->n_rows + row) * g->n_det;
            for (int c0 = 0; c0 < g->n_det; c0 += 16) {
                int nr = g->n_det - c0 < 16 ? g->n_det - c0 : 16;
                jray r[16];
                for (int l = 0; l < nr; l++) {
                    ct_ray3 pr;
                    ct_ray_physical(&J->cg, v, row, c0 + l, &pr);
                    ray_index(g, &pr, &r[l]);
                }
                if (simd && fwd3_block(J, x, r, nr, out + c0))
                    continue;
                for (int l = 0; l < nr; l++) {
                    const jray *q = &r[l];
                    float *o = out + c0 + l;
                    if (big)
                        *o = q->dom == 0 ? march3_big(x, q, g->nx, g->ny, g->nz, 1, g->nx, sxy)
                                         : march3_big(x, q, g->ny, g->nx, g->nz, g->nx, 1, sxy);
                    else
                        *o = q->dom == 0 ? march3(x, q, g->nx, g->ny, g->nz, 1, g->nx, sxy)
                                         : march3(x, q, g->ny, g->nx, g->nz, g->nx, 1, sxy);
                }
            }
        }
    return HG_OK;
}

static void scatter3(float *plane, const jray *r, float v, int t, int n_s, int n_z, int64_t ss,
                     int64_t sk)
{
    float s = r->a + r->b * (float)t, k = r->c + r->e * (float)t;
    if (s >= 0.0f && s < (float)(n_s - 1) && k >= 0.0f && k < (float)(n_z - 1)) {
        int s0 = (int)s, k0 = (int)k; /* all four neighbours inside (march3's fast path) */
        float fs = s - (float)s0, fk = k - (float)k0, v1 = fk * v, v0 = v - v1;
        float *q = plane + s0 * ss + k0 * sk;
        q[0] += v0 - fs * v0;
        q[ss] += fs * v0;
        q[sk] += v1 - fs * v1;
        q[sk + ss] += fs * v1;
        return;
    }
    bil b;
    if (v == 0.0f || !bil_at(r, t, n_s, n_z, &b))
        return;
    bool s0 = b.s0 >= 0, s1 = b.s0 + 1 < n_s, k0 = b.k0 >= 0, k1 = b.k0 + 1 < n_z;
    if (k0) {
        float *q = plane + b.k0 * sk, vk = (1.0f - b.fk) * v;
        if (s0)
            q[b.s0 * ss] += (1.0f - b.fs) * vk;
        if (s1)
            q[(b.s0 + 1) * ss] += b.fs * vk;
    }
    if (k1) {
        float *q = plane + (b.k0 + 1) * sk, vk = b.fk * v;
        if (s0)
            q[b.s0 * ss] += (1.0f - b.fs) * vk;
        if (s1)
            q[(b.s0 + 1) * ss] += b.fs * vk;
    }
}

/* The samples with t in [t0, t1) of the rays `ids` scattered into their planes (x-planes
 * for x-dominant rays: plane t at img + t, (s, k) at s*ss + k*sk; y-planes likewise). */
static void scatter3_block(float *img, const jray *rays, const int32_t *ids, int64_t n_ids,
                           const float *y, int t0, int t1, int n_s, int n_z, int64_t st,
                           int64_t ss, int64_t sk)
{
    for (int64_t q = 0; q < n_ids; q++) {
        const jray *r = &rays[ids[q]];
        float v = y[ids[q]] * r->w;
        float sa = r->a + r->b * (float)t0, sb = r->a + r->b * (float)(t1 - 1);
        float ka = r->c + r->e * (float)t0, kb = r->c + r->e * (float)(t1 - 1);
        if (v == 0.0f || (sa <= -1.0f && sb <= -1.0f) || (sa >= n_s && sb >= n_s) ||
            (ka <= -1.0f && kb <= -1.0f) || (ka >= n_z && kb >= n_z))
            continue;
        for (int t = t0; t < t1; t++)
            scatter3(img + t * st, r, v, t, n_s, n_z, ss, sk);
    }
}

static hg_status adj3(const hg_linop *op, const float *y, float *x)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    int nx = g->nx, ny = g->ny, nz = g->nz;
    int64_t sxy = (int64_t)nx * ny, per_view = (int64_t)g->n_rows * g->n_det;
    memset(x, 0, sizeof(float) * (size_t)(sxy * nz));
    for (int v0 = 0; v0 < g->n_angles; v0 += J->chunk_views) {
        int nv = g->n_angles - v0 < J->chunk_views ? g->n_angles - v0 : J->chunk_views;
        int64_t n = nv * per_view, n_xs = 0, n_ys = 0;
        const float *yc = y + v0 * per_view;
#pragma omp parallel for schedule(static)
        for (int64_t q = 0; q < n; q++) {
            ct_ray3 pr;
            int v = v0 + (int)(q / per_view), rem = (int)(q % per_view);
            ct_ray_physical(&J->cg, v, rem / g->n_det, rem % g->n_det, &pr);
            ray_index(g, &pr, &J->rays[q]);
        }
        for (int64_t q = 0; q < n; q++) { /* x-dominant ids from the front, y- from the back */
            if (J->rays[q].dom == 0)
                J->xs[n_xs++] = (int32_t)q;
            else
                J->xs[n - 1 - n_ys++] = (int32_t)q;
        }
        const int32_t *ys = J->xs + n_xs;
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < nx; i += BLOCK)
            scatter3_block(x, J->rays, J->xs, n_xs, yc, i, i + BLOCK < nx ? i + BLOCK : nx, ny,
                           nz, 1, nx, sxy);
#pragma omp parallel for schedule(dynamic, 1)
        for (int j = 0; j < ny; j += BLOCK)
            scatter3_block(x, J->rays, ys, n_ys, yc, j, j + BLOCK < ny ? j + BLOCK : ny, nx, nz,
                           nx, 1, sxy);
    }
    return HG_OK;
}

/* ---- creation -------------------------------------------------------------------------- */

static void joseph_destroy(hg_linop *op)
{
    joseph *J = op->data;
    if (!J)
        return;
    ct_geom_release(&J->cg);
    hg_free(J->rays);
    hg_free(J->xs);
    hg_free(J->tbuf);
    hg_free(J->ra);
    hg_free(J->brange);
    hg_free(J->xbuf);
    free(J);
}

/* The block tables of the AVX-512 parallel-beam forward: valid when every view's rays share
 * one direction (slope b, weight w, dominant axis), as parallel rays do. */
static hg_status build_blocks(joseph *J)
{
    const hg_ct_geometry *g = &J->cg.g;
    int nb = (g->n_det + 15) / 16;
    int64_t n = (int64_t)g->n_angles * g->n_det;
    for (int v = 0; v < g->n_angles; v++)
        for (int c = 1; c < g->n_det; c++) {
            const jray *r = &J->rays[(int64_t)v * g->n_det + c], *r0 = r - c;
            if (r->b != r0->b || r->w != r0->w || r->dom != r0->dom)
                return HG_OK; /* no block tables: the portable path */
        }
    J->ra = hg_malloc((size_t)n * sizeof *J->ra);
    J->brange = hg_malloc((size_t)g->n_angles * nb * 4 * sizeof *J->brange);
    J->xbuf = hg_calloc((size_t)g->nx * g->ny + 32, sizeof *J->xbuf);
    if (!J->ra || !J->brange || !J->xbuf)
        return HG_ERR_NOMEM;
    for (int64_t r = 0; r < n; r++)
        J->ra[r] = J->rays[r].a;
    for (int v = 0; v < g->n_angles; v++)
        for (int b = 0; b < nb; b++) {
            int lo = INT32_MAX, hi = -1, clo = 0, chi = INT32_MAX;
            int c0 = b * 16, c1 = g->n_det < c0 + 16 ? g->n_det - 1 : c0 + 15;
            for (int c = c0; c <= c1; c++) {
                const jray *r = &J->rays[(int64_t)v * g->n_det + c];
                int n_t = r->dom == 0 ? g->nx : g->ny, n_s = r->dom == 0 ? g->ny : g->nx, l, h;
                int il, ih;
                clip_range(r->a, r->b, n_s, n_t, &l, &h);
                if (l <= h)
                    lo = l < lo ? l : lo, hi = h > hi ? h : hi;
                interior_range(r, l, h, n_s, &il, &ih);
                clo = il > clo ? il : clo, chi = ih < chi ? ih : chi;
            }
            const jray *r0 = &J->rays[(int64_t)v * g->n_det];
            if (fabsf(r0[c1].a - r0[c0].a) > 28.0f) /* the lanes' spread beyond the permute */
                clo = 1, chi = 0;
            int32_t *tr = J->brange + 4 * ((int64_t)v * nb + b);
            tr[0] = lo, tr[1] = hi, tr[2] = clo, tr[3] = chi;
        }
    J->n_blocks = g->n_angles * nb;
    return HG_OK;
}

static hg_status build_tables_2d(joseph *J)
{
    const hg_ct_geometry *g = &J->cg.g;
    int64_t n = (int64_t)g->n_angles * g->n_det;
    J->rays = hg_malloc((size_t)n * sizeof *J->rays);
    J->xs = hg_malloc((size_t)n * sizeof *J->xs);
    J->tbuf = hg_calloc((size_t)g->nx * g->ny + 32, sizeof *J->tbuf); /* slack: see xbuf */
    if (!J->rays || !J->xs || !J->tbuf)
        return HG_ERR_NOMEM;
    for (int v = 0; v < g->n_angles; v++)
        for (int c = 0; c < g->n_det; c++) {
            ct_ray3 pr;
            ct_ray_physical(&J->cg, v, 0, c, &pr);
            ray_index(g, &pr, &J->rays[(int64_t)v * g->n_det + c]);
        }
    /* ids of x-dominant rays from the front of xs, y-dominant ones from the back */
    int64_t nx_ = 0, ny_ = 0;
    for (int64_t r = 0; r < n; r++) {
        if (J->rays[r].dom == 0)
            J->xs[nx_++] = (int32_t)r;
        else
            J->xs[n - 1 - ny_++] = (int32_t)r;
    }
    J->n_xs = nx_, J->n_ys = ny_;
    J->ys = J->xs + nx_;
    return g->kind == HG_CT_PARALLEL ? build_blocks(J) : HG_OK;
}

hg_linop *hg_ct_projector(const hg_ct_geometry *g)
{
    joseph *J = calloc(1, sizeof *J);
    if (!J) {
        hg_error(HG_ERR_NOMEM, "ct projector: out of memory");
        return NULL;
    }
    if (ct_geom_init(&J->cg, g) != HG_OK) {
        free(J);
        return NULL;
    }
    int64_t in_shape[3], out_shape[3];
    int in_nd = hg_ct_image_shape(g, in_shape), out_nd = hg_ct_sino_shape(g, out_shape);
    static const char *names[] = {"ct_parallel", "ct_fan_flat", "ct_fan_arc", "ct_cone"};
    hg_linop *op = hg_linop_new(names[g->kind], HG_F32, in_nd, in_shape, HG_F32, out_nd,
                                out_shape);
    if (!op) {
        ct_geom_release(&J->cg);
        free(J);
        return NULL;
    }
    op->data = J;
    op->destroy = joseph_destroy;
    hg_status s;
    if (ct_is_3d(g)) {
        int64_t per_view = (int64_t)g->n_rows * g->n_det;
        int64_t chunk = (1 << 20) / per_view;
        J->chunk_views = (int32_t)(chunk < 1 ? 1 : (chunk > g->n_angles ? g->n_angles : chunk));
        J->rays = hg_malloc((size_t)(J->chunk_views * per_view) * sizeof *J->rays);
        J->xs = hg_malloc((size_t)(J->chunk_views * per_view) * sizeof *J->xs);
        s = J->rays && J->xs ? HG_OK : HG_ERR_NOMEM;
        /* the AVX-512 forward's slice-transposed copy of the volume (one volume more);
         * without it the portable path runs */
        int64_t nvox = (int64_t)g->nx * g->ny * g->nz;
        if (s == HG_OK && ct_simd_ok() && nvox < INT32_MAX / 2)
            J->tbuf = hg_malloc((size_t)nvox * sizeof *J->tbuf);
        op->forward = fwd3;
        op->adjoint = adj3;
    } else {
        s = build_tables_2d(J);
        op->forward = fwd2;
        op->adjoint = adj2;
    }
    if (s != HG_OK) {
        hg_linop_free(op);
        hg_error(HG_ERR_NOMEM, "ct projector: out of memory for the ray tables");
        return NULL;
    }
    return op;
}
