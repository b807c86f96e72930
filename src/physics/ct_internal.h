/* Private CT helpers shared by the geometry, projector, FBP and phantom files. */
#ifndef HINGE_CT_INTERNAL_H
#define HINGE_CT_INTERNAL_H

#include "hinge/ct.h"

#include <math.h>

#define CT_PI 3.14159265358979323846

/* A geometry with its own copy of the angles and their sines/cosines. */
typedef struct ct_geom {
    hg_ct_geometry g; /* g.angles points at `angles` below */
    float *angles, *cosv, *sinv;
} ct_geom;

hg_status ct_geom_init(ct_geom *cg, const hg_ct_geometry *g);
void ct_geom_release(ct_geom *cg);

/* A ray in physical coordinates: a point p and a direction d (not normalized). */
typedef struct ct_ray3 {
    double p[3], d[3];
} ct_ray3;

/* The ray through detector element (row, col) of view `view`. */
void ct_ray_physical(const ct_geom *cg, int view, int row, int col, ct_ray3 *r);

/* Detector coordinates of element centres. */
static inline double ct_det_u(const hg_ct_geometry *g, int col)
{
    return (col - 0.5 * (g->n_det - 1)) * g->du + g->offset_u;
}
static inline double ct_det_v(const hg_ct_geometry *g, int row)
{
    return (row - 0.5 * (g->n_rows - 1)) * g->dv + g->offset_v;
}

/* A phantom with room for `count` zeroed ellipses (freed by hg_ct_phantom_free). */
hg_ct_phantom *ct_phantom_alloc(int ndim, int count, float scale);

/* AVX-512 kernels of the parallel-beam hot loops (ct_simd.c); ct_simd_ok() says whether the
 * CPU has AVX-512 F and DQ (and HINGE_NO_AVX512 is unset), else the portable code runs. */
bool ct_simd_ok(void);
void ct_simd_override(int on); /* tests: 0 forces the portable path, 1 restores detection */
void ct_simd_project16(const float *P, int n_s, const float *ra, int nr, float b,
                       const int32_t *tr, float *sum);
void ct_simd_cone16(const float *P, int n_s, int n_z, int64_t st, int64_t sk, const float *A,
                    const float *B, const float *C, const float *E, int nr, int t_lo, int t_hi,
                    float *sum);
void ct_simd_backproject_row(const float *q, const float *qd, int n, int n_views, const float *a,
                             const float *b, int nx, int *range, float *out);

static inline int ct_is_3d(const hg_ct_geometry *g) { return g->kind == HG_CT_CONE_FLAT; }

#endif
