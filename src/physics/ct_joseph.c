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

/* Samples along a 2-D ray. The image is addressed as img[j*sj + i*si] along the marched axis
 * (t) and the interpolated axis (s) with n_t, n_s samples. */
static float march2(const float *img, const jray *r, int n_t, int n_s, int64_t st, int64_t ss)
{
    int lo, hi;
    clip_range(r->a, r->b, n_s, n_t, &lo, &hi);
    float acc = 0.0f;
    for (int t = lo; t <= hi; t++) {
        float s = r->a + r->b * (float)t, sf = floorf(s), f = s - sf;
        int s0 = (int)sf;
        const float *p = img + t * st;
        if (s0 >= 0 && s0 < n_s)
            acc += (1.0f - f) * p[s0 * ss];
        if (s0 + 1 >= 0 && s0 + 1 < n_s)
            acc += f * p[(s0 + 1) * ss];
    }
    return acc * r->w;
}

static hg_status fwd2(const hg_linop *op, const float *x, float *y)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    int64_t n = (int64_t)g->n_angles * g->n_det;
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t r = 0; r < n; r++) {
        const jray *ray = &J->rays[r];
        y[r] = ray->dom == 0 ? march2(x, ray, g->nx, g->ny, 1, g->nx)
                             : march2(x, ray, g->ny, g->nx, g->nx, 1);
    }
    return HG_OK;
}

/* Scatters the x-dominant (y-dominant) rays into the column (row) t they sample there. */
static void scatter2(float *img, const jray *rays, const int32_t *ids, int64_t n_ids,
                     const float *y, int t, int n_s, int64_t ss)
{
    for (int64_t q = 0; q < n_ids; q++) {
        const jray *r = &rays[ids[q]];
        float v = y[ids[q]] * r->w;
        float s = r->a + r->b * (float)t, sf = floorf(s), f = s - sf;
        int s0 = (int)sf;
        if (v == 0.0f || s0 < -1 || s0 >= n_s)
            continue;
        if (s0 >= 0)
            img[s0 * ss] += (1.0f - f) * v;
        if (s0 + 1 < n_s)
            img[(s0 + 1) * ss] += f * v;
    }
}

static hg_status adj2(const hg_linop *op, const float *y, float *x)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    int nx = g->nx, ny = g->ny;
    memset(x, 0, sizeof(float) * (size_t)nx * ny);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < nx; i++)
        scatter2(x + i, J->rays, J->xs, J->n_xs, y, i, ny, nx);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < ny; j++)
        scatter2(x + (int64_t)j * nx, J->rays, J->ys, J->n_ys, y, j, nx, 1);
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

/* Along the marched axis t, voxel (t, s, k) is at img[t*st + s*ss + k*sk]. */
static float march3(const float *img, const jray *r, int n_t, int n_s, int n_z, int64_t st,
                    int64_t ss, int64_t sk)
{
    int lo, hi, lo2, hi2;
    clip_range(r->a, r->b, n_s, n_t, &lo, &hi);
    clip_range(r->c, r->e, n_z, n_t, &lo2, &hi2);
    lo = lo > lo2 ? lo : lo2;
    hi = hi < hi2 ? hi : hi2;
    float acc = 0.0f;
    for (int t = lo; t <= hi; t++) {
        bil b;
        if (!bil_at(r, t, n_s, n_z, &b))
            continue;
        const float *p = img + t * st;
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
        acc += (1.0f - b.fk) * v0 + b.fk * v1;
    }
    return acc * r->w;
}

static hg_status fwd3(const hg_linop *op, const float *x, float *y)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    int64_t sxy = (int64_t)g->nx * g->ny;
#pragma omp parallel for collapse(2) schedule(dynamic, 4)
    for (int v = 0; v < g->n_angles; v++)
        for (int row = 0; row < g->n_rows; row++) {
            float *out = y + ((int64_t)v * g->n_rows + row) * g->n_det;
            for (int col = 0; col < g->n_det; col++) {
                ct_ray3 pr;
                jray r;
                ct_ray_physical(&J->cg, v, row, col, &pr);
                ray_index(g, &pr, &r);
                out[col] = r.dom == 0 ? march3(x, &r, g->nx, g->ny, g->nz, 1, g->nx, sxy)
                                      : march3(x, &r, g->ny, g->nx, g->nz, g->nx, 1, sxy);
            }
        }
    return HG_OK;
}

static void scatter3(float *plane, const jray *r, float v, int t, int n_s, int n_z, int64_t ss,
                     int64_t sk)
{
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

static hg_status adj3(const hg_linop *op, const float *y, float *x)
{
    const joseph *J = op->data;
    const hg_ct_geometry *g = &J->cg.g;
    int nx = g->nx, ny = g->ny, nz = g->nz;
    int64_t sxy = (int64_t)nx * ny, per_view = (int64_t)g->n_rows * g->n_det;
    memset(x, 0, sizeof(float) * (size_t)(sxy * nz));
    for (int v0 = 0; v0 < g->n_angles; v0 += J->chunk_views) {
        int nv = g->n_angles - v0 < J->chunk_views ? g->n_angles - v0 : J->chunk_views;
        int64_t n = nv * per_view;
        const float *yc = y + v0 * per_view;
#pragma omp parallel for schedule(static)
        for (int64_t q = 0; q < n; q++) {
            ct_ray3 pr;
            int v = v0 + (int)(q / per_view), rem = (int)(q % per_view);
            ct_ray_physical(&J->cg, v, rem / g->n_det, rem % g->n_det, &pr);
            ray_index(g, &pr, &J->rays[q]);
        }
#pragma omp parallel for schedule(static)
        for (int i = 0; i < nx; i++)
            for (int64_t q = 0; q < n; q++)
                if (J->rays[q].dom == 0)
                    scatter3(x + i, &J->rays[q], yc[q] * J->rays[q].w, i, ny, nz, nx, sxy);
#pragma omp parallel for schedule(static)
        for (int j = 0; j < ny; j++)
            for (int64_t q = 0; q < n; q++)
                if (J->rays[q].dom == 1)
                    scatter3(x + (int64_t)j * nx, &J->rays[q], yc[q] * J->rays[q].w, j, nx, nz,
                             1, sxy);
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
    free(J);
}

static hg_status build_tables_2d(joseph *J)
{
    const hg_ct_geometry *g = &J->cg.g;
    int64_t n = (int64_t)g->n_angles * g->n_det;
    J->rays = hg_malloc((size_t)n * sizeof *J->rays);
    J->xs = hg_malloc((size_t)n * sizeof *J->xs);
    if (!J->rays || !J->xs)
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
    return HG_OK;
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
        s = J->rays ? HG_OK : HG_ERR_NOMEM;
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
