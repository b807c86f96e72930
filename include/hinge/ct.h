/* CT physics: acquisition geometries, Joseph projectors with matched adjoints, FBP/FDK,
 * ellipse phantoms with analytic line integrals, and measurement noise.
 *
 * Coordinates (one convention for every geometry, that of skimage.transform.radon / ASTRA):
 * - Images are row-major [ny, nx] (2-D) or [nz, ny, nx] (3-D) on a centred grid: column i is at
 *   x = (i - (nx-1)/2)·dx (x to the right), row j at y = ((ny-1)/2 - j)·dy (y up: row 0 is the
 *   top of the picture), slice k at z = (k - (nz-1)/2)·dz.
 * - View angle θ (radians): detector axis e_u = (cos θ, sin θ), ray direction d = (-sin θ, cos θ).
 *   Parallel beam: a ray hits the detector at u = x cos θ + y sin θ. Fan and cone: the source
 *   is at -sod·d, the detector centre at (sdd - sod)·d, so the central ray has direction d.
 * - Detector element c is at u = (c - (n_det-1)/2)·du + offset_u (row r likewise in v, along
 *   +z). For the equiangular (curved) fan detector du is the arc length of one element on the
 *   circle of radius sdd around the source: element c lies at fan angle γ = u / sdd.
 * - Sinograms are [n_angles, n_det] (2-D) and [n_angles, n_rows, n_det] (cone beam).
 * Numbers are in consistent length units (mm or pixels); line integrals are in those units
 * times the image's value (e.g. mm·mm⁻¹ attenuation).
 */
#ifndef HINGE_CT_H
#define HINGE_CT_H

#include "hinge/core.h"
#include "hinge/linop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- geometry -------------------------------------------------------------------------- */

typedef enum hg_ct_kind {
    HG_CT_PARALLEL = 0, /* 2-D parallel beam */
    HG_CT_FAN_FLAT = 1, /* 2-D fan beam, flat detector */
    HG_CT_FAN_ARC = 2,  /* 2-D fan beam, equiangular (curved) detector */
    HG_CT_CONE_FLAT = 3 /* 3-D circular cone beam, flat panel */
} hg_ct_kind;

typedef struct hg_ct_geometry {
    hg_ct_kind kind;
    int32_t nx, ny, nz;       /* image columns, rows, slices (nz = 1 for 2-D) */
    float dx, dy, dz;         /* pixel spacing */
    int32_t n_angles;
    const float *angles;      /* n_angles view angles in radians (borrowed: operators copy) */
    int32_t n_det;            /* detector columns (u) */
    int32_t n_rows;           /* detector rows (v): cone beam only, 1 otherwise */
    float du, dv;             /* detector pitch (arc: arc length at radius sdd) */
    float offset_u, offset_v; /* detector centre shift, in the same units as du, dv */
    float sod, sdd;           /* source–isocentre and source–detector distance (fan, cone) */
} hg_ct_geometry;

/* Result of validation: facts and a warning about a valid but doubtful geometry. */
typedef struct hg_ct_info {
    float fov_radius;   /* radius of the disc (cylinder) seen in every view */
    float image_radius; /* half the image diagonal in the x-y plane */
    float fov_half_z;   /* cone: half height of the fully seen cylinder at the axis */
    bool covered;       /* the detector sees the whole image in every view */
    char warning[256];  /* empty, or why the data may be incomplete (truncation, coverage) */
} hg_ct_info;

/* Convenience initializers (unit offsets 0; fields may be edited afterwards). */
hg_ct_geometry hg_ct_parallel(int32_t nx, int32_t ny, float pixel, int32_t n_angles,
                              const float *angles, int32_t n_det, float du);
hg_ct_geometry hg_ct_fan(hg_ct_kind kind, int32_t nx, int32_t ny, float pixel, int32_t n_angles,
                         const float *angles, int32_t n_det, float du, float sod, float sdd);
hg_ct_geometry hg_ct_cone(int32_t nx, int32_t ny, int32_t nz, float voxel, int32_t n_angles,
                          const float *angles, int32_t n_det, int32_t n_rows, float du,
                          float dv, float sod, float sdd);
/* angles[i] = start + i·range/n (range π for parallel beam, 2π for fan and cone). */
void hg_ct_angles_uniform(float *angles, int32_t n, double start, double range);

/* Validates g. Errors (HG_ERR_INVALID, message names the field, the expected and the
 * actual value): no angles or NULL angles, non-finite angles, zero image or detector size,
 * non-positive spacing, non-positive sod/sdd, sdd <= sod, a source inside the image circle.
 * Truncation (detector narrower than the image) and a short scan are not errors: they are
 * reported in info (may be NULL). */
hg_status hg_ct_geometry_check(const hg_ct_geometry *g, hg_ct_info *info);
/* The same acquisition with the image grid refined `factor` times (pixel spacing / factor):
 * project a phantom on it to simulate data without the inverse crime. */
hg_status hg_ct_geometry_refine(const hg_ct_geometry *g, int32_t factor, hg_ct_geometry *out);

/* Image and sinogram shapes of g (ndim returned; shape has room for 3). */
int hg_ct_image_shape(const hg_ct_geometry *g, int64_t *shape);
int hg_ct_sino_shape(const hg_ct_geometry *g, int64_t *shape);

/* ---- projectors ------------------------------------------------------------------------ */

/* The forward projector of g as a linear operator image -> sinogram (see the model in
 * src/physics/ct_joseph.c): Joseph's ray-driven method, linear interpolation across the
 * dominant axis (bilinear in 3-D), and its exact transpose as adjoint. Run it on a batch and
 * differentiate through it with hg_linop_apply. NULL with the error set on an invalid g. */
hg_linop *hg_ct_projector(const hg_ct_geometry *g);

/* ---- filtered backprojection ----------------------------------------------------------- */

typedef enum hg_ct_filter {
    HG_CT_RAMP = 0,
    HG_CT_SHEPP_LOGAN = 1,
    HG_CT_COSINE = 2,
    HG_CT_HAMMING = 3,
    HG_CT_HANN = 4
} hg_ct_filter;

/* FBP (parallel, fan flat/arc with the fan weights) or FDK (cone) as a linear operator
 * sinogram -> image; its adjoint is the exact transpose (so learned FBP variants can
 * differentiate through it). `cutoff` in (0, 1] scales the filter's frequency axis: the window
 * is evaluated at ν/cutoff and frequencies above cutoff·Nyquist are set to zero. Assumes full
 * scans (π parallel, 2π fan/cone) with uniformly spread angles; FFTW plans are made once here. */
hg_linop *hg_ct_fbp(const hg_ct_geometry *g, hg_ct_filter filter, float cutoff);
const char *hg_ct_filter_name(hg_ct_filter filter);

/* ---- phantoms -------------------------------------------------------------------------- */

/* An ellipse (2-D: a, b, x0, y0, phi used) or ellipsoid, in phantom units: the phantom's
 * [-1, 1] maps to [-scale, scale] in image units. Angles in radians; 3-D rotation uses ZXZ
 * Euler angles (phi, theta, psi) as in phantom3d. Values add up where ellipses overlap. */
typedef struct hg_ct_ellipse {
    float value;
    float a, b, c;    /* semi-axes along the rotated x, y, z */
    float x0, y0, z0; /* centre */
    float phi, theta, psi;
} hg_ct_ellipse;

typedef struct hg_ct_phantom {
    int32_t ndim;  /* 2 or 3 */
    int32_t count;
    float scale;   /* image units per phantom unit */
    hg_ct_ellipse *ellipses;
} hg_ct_phantom;

/* Modified Shepp–Logan (Toft; skimage/ODL values), 2-D or 3-D (Kak–Slaney ellipsoids with
 * Toft's contrasts). scale: typically half the image width. */
hg_ct_phantom *hg_ct_phantom_shepp_logan(int ndim, float scale);
/* Random ellipses as in the learned primal-dual ellipse experiment: Poisson(mean_count)
 * ellipses with value (U-0.5)·Exp(0.4), semi-axes Exp(0.2), centre uniform in [-1,1]² (or
 * [-0.5,0.5]² when interior), angle uniform in [0, 2π). */
hg_ct_phantom *hg_ct_phantom_random_ellipses(hg_rng *rng, double mean_count, bool interior,
                                             float scale);
/* A random anatomy-like 2-D chest slice (body, fat, lungs with vessels and sometimes nodules,
 * heart, aorta, spine, ribs, sternum), all ellipses, for low-dose CT experiments. Values are
 * attenuation in LoDoPaB-CT's normalization μ/μ_max (μ_max = 81.35858 m⁻¹; water 0.2458, so
 * HU = 1000·(4.0679·value − 1)). scale: half the image width. */
hg_ct_phantom *hg_ct_phantom_random_chest(hg_rng *rng, float scale);
void hg_ct_phantom_free(hg_ct_phantom *p);
/* Rasterizes onto g's image grid: the mean over s×s (×s) sub-samples per pixel. */
hg_status hg_ct_phantom_rasterize(const hg_ct_phantom *p, const hg_ct_geometry *g,
                                  int32_t supersample, float *image);
/* Exact line integrals along g's rays (through detector element centres) -> sinogram. */
hg_status hg_ct_phantom_project(const hg_ct_phantom *p, const hg_ct_geometry *g, float *sino);

/* ---- measurement physics --------------------------------------------------------------- */

/* Adds white Gaussian noise of standard deviation rel_sigma · mean|y| (LPD: 0.05). */
hg_status hg_ct_noise_gaussian(float *y, int64_t n, float rel_sigma, hg_rng *rng);
/* Post-log data y (line integrals times mu_scale) -> counts N ~ Poisson(i0·exp(-mu_scale·y)),
 * zero counts set to 0.1 photon, back to post-log -log(N/i0)/mu_scale (LoDoPaB-CT: i0 4096). */
hg_status hg_ct_noise_poisson(float *y, int64_t n, double i0, double mu_scale, hg_rng *rng);
/* Averages a fine image of `factor`× the resolution of g (from hg_ct_geometry_refine) down to
 * g's grid, e.g. to compare a reconstruction with the phantom used to simulate. */
hg_status hg_ct_image_downsample(const hg_ct_geometry *g, int32_t factor, const float *fine,
                                 float *coarse);

#ifdef __cplusplus
}
#endif
#endif
