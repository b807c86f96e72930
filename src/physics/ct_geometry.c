/* CT acquisition geometries: initializers, validation (errors and coverage warnings), the
 * refined grid for simulation, and the ray through each detector element. */
#include "physics/ct_internal.h"

#include <stdio.h>
#include <string.h>

hg_ct_geometry hg_ct_parallel(int32_t nx, int32_t ny, float pixel, int32_t n_angles,
                              const float *angles, int32_t n_det, float du)
{
    hg_ct_geometry g = {.kind = HG_CT_PARALLEL, .nx = nx, .ny = ny, .nz = 1, .dx = pixel,
                        .dy = pixel, .dz = pixel, .n_angles = n_angles, .angles = angles,
                        .n_det = n_det, .n_rows = 1, .du = du, .dv = du};
    return g;
}

hg_ct_geometry hg_ct_fan(hg_ct_kind kind, int32_t nx, int32_t ny, float pixel, int32_t n_angles,
                         const float *angles, int32_t n_det, float du, float sod, float sdd)
{
    hg_ct_geometry g = hg_ct_parallel(nx, ny, pixel, n_angles, angles, n_det, du);
    g.kind = kind;
    g.sod = sod;
    g.sdd = sdd;
    return g;
}

hg_ct_geometry hg_ct_cone(int32_t nx, int32_t ny, int32_t nz, float voxel, int32_t n_angles,
                          const float *angles, int32_t n_det, int32_t n_rows, float du,
                          float dv, float sod, float sdd)
{
    hg_ct_geometry g = hg_ct_fan(HG_CT_CONE_FLAT, nx, ny, voxel, n_angles, angles, n_det, du,
                                 sod, sdd);
    g.nz = nz;
    g.n_rows = n_rows;
    g.dv = dv;
    return g;
}

void hg_ct_angles_uniform(float *angles, int32_t n, double start, double range)
{
    for (int32_t i = 0; i < n; i++)
        angles[i] = (float)(start + range * i / n);
}

static const char *kind_name(hg_ct_kind k)
{
    switch (k) {
    case HG_CT_PARALLEL: return "parallel";
    case HG_CT_FAN_FLAT: return "fan (flat)";
    case HG_CT_FAN_ARC: return "fan (equiangular)";
    case HG_CT_CONE_FLAT: return "cone";
    }
    return "unknown";
}

#define BAD(...) hg_error(HG_ERR_INVALID, __VA_ARGS__)

static hg_status check_counts(const hg_ct_geometry *g, const char *k)
{
    if (g->n_angles < 1)
        return BAD("ct %s geometry: n_angles must be >= 1, got %d", k, g->n_angles);
    if (!g->angles)
        return BAD("ct %s geometry: angles is NULL for %d views", k, g->n_angles);
    for (int32_t i = 0; i < g->n_angles; i++)
        if (!isfinite(g->angles[i]))
            return BAD("ct %s geometry: angle %d must be finite, got %g", k, i,
                       (double)g->angles[i]);
    bool three = ct_is_3d(g);
    if (g->nx < 1 || g->ny < 1 || g->nz < 1 || (!three && g->nz != 1))
        return BAD("ct %s geometry: image size must be >= 1 (nz = 1 in 2-D), got %d x %d x %d",
                   k, g->nx, g->ny, g->nz);
    if (g->n_det < 1)
        return BAD("ct %s geometry: detector count n_det must be >= 1, got %d", k, g->n_det);
    if (g->n_rows < 1 || (!three && g->n_rows != 1))
        return BAD("ct %s geometry: detector rows n_rows must be %s, got %d", k,
                   three ? ">= 1" : "1 in 2-D", g->n_rows);
    float sp[5] = {g->dx, g->dy, three ? g->dz : 1.0f, g->du, three ? g->dv : 1.0f};
    const char *spn[5] = {"dx", "dy", "dz", "du", "dv"};
    for (int i = 0; i < 5; i++)
        if (!(sp[i] > 0) || !isfinite(sp[i]))
            return BAD("ct %s geometry: spacing %s must be > 0, got %g", k, spn[i],
                       (double)sp[i]);
    if (!isfinite(g->offset_u) || !isfinite(g->offset_v))
        return BAD("ct %s geometry: detector offsets must be finite, got %g, %g", k,
                   (double)g->offset_u, (double)g->offset_v);
    return HG_OK;
}

static void warn(hg_ct_info *info, const char *fmt, double a, double b)
{
    size_t at = strlen(info->warning);
    if (at + 2 < sizeof info->warning)
        snprintf(info->warning + at, sizeof info->warning - at, "%s", at ? "; " : "");
    at = strlen(info->warning);
    snprintf(info->warning + at, sizeof info->warning - at, fmt, a, b);
}

hg_status hg_ct_geometry_check(const hg_ct_geometry *g, hg_ct_info *info)
{
    hg_ct_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (!g)
        return BAD("ct geometry: NULL");
    if ((unsigned)g->kind > HG_CT_CONE_FLAT)
        return BAD("ct geometry: unknown kind %d", (int)g->kind);
    const char *k = kind_name(g->kind);
    hg_status s = check_counts(g, k);
    if (s != HG_OK)
        return s;
    double rimg = 0.5 * hypot((double)g->nx * g->dx, (double)g->ny * g->dy);
    info->image_radius = (float)rimg;
    double u_hi = g->offset_u + 0.5 * g->n_det * g->du, u_lo = g->offset_u - 0.5 * g->n_det * g->du;
    double u_edge = fmin(u_hi, -u_lo);
    double fov;
    if (g->kind == HG_CT_PARALLEL) {
        fov = u_edge;
    } else {
        if (!(g->sod > 0) || !isfinite(g->sod))
            return BAD("ct %s geometry: source-isocentre distance sod must be > 0, got %g", k,
                       (double)g->sod);
        if (!(g->sdd > 0) || !isfinite(g->sdd))
            return BAD("ct %s geometry: source-detector distance sdd must be > 0, got %g", k,
                       (double)g->sdd);
        if (g->sdd <= g->sod)
            return BAD("ct %s geometry: source-detector distance sdd must exceed sod = %g, "
                       "got %g",
                       k, (double)g->sod, (double)g->sdd);
        if (g->sod <= rimg)
            return BAD("ct %s geometry: the source (sod = %g) lies inside the image circle of "
                       "radius %g",
                       k, (double)g->sod, rimg);
        double gamma = g->kind == HG_CT_FAN_ARC ? fmin(u_edge / g->sdd, CT_PI / 2)
                                                : atan(u_edge / g->sdd);
        fov = g->sod * sin(gamma);
    }
    info->fov_radius = (float)fmax(fov, 0.0);
    info->covered = fov >= rimg;
    if (!info->covered)
        warn(info, "detector covers a radius of %g but the image reaches %g: data truncated",
             fmax(fov, 0.0), rimg);
    if (ct_is_3d(g)) {
        double v_edge = fmin(g->offset_v + 0.5 * g->n_rows * g->dv,
                             0.5 * g->n_rows * g->dv - g->offset_v);
        double hz = fmax(v_edge * g->sod / g->sdd, 0.0), img_hz = 0.5 * g->nz * g->dz;
        info->fov_half_z = (float)hz;
        if (hz < img_hz) {
            info->covered = false;
            warn(info, "detector rows cover z within %g of the centre, the image reaches %g",
                 hz, img_hz);
        }
    }
    /* Angular coverage: FBP/FDK weights assume a full scan. */
    double lo = g->angles[0], hi = g->angles[0];
    for (int32_t i = 1; i < g->n_angles; i++)
        lo = fmin(lo, g->angles[i]), hi = fmax(hi, g->angles[i]);
    double span = g->n_angles > 1 ? (hi - lo) * g->n_angles / (g->n_angles - 1) : 0.0;
    double need = g->kind == HG_CT_PARALLEL ? CT_PI : 2 * CT_PI;
    if (span < need * (1 - 1e-3))
        warn(info, "angles span %g rad, a full scan needs %g rad (FBP/FDK assume one)", span,
             need);
    return HG_OK;
}

hg_status hg_ct_geometry_refine(const hg_ct_geometry *g, int32_t factor, hg_ct_geometry *out)
{
    if (factor < 1)
        return BAD("ct geometry refine: factor must be >= 1, got %d", factor);
    hg_status s = hg_ct_geometry_check(g, NULL);
    if (s != HG_OK)
        return s;
    *out = *g;
    out->nx = g->nx * factor, out->ny = g->ny * factor;
    out->dx = g->dx / factor, out->dy = g->dy / factor;
    if (ct_is_3d(g))
        out->nz = g->nz * factor, out->dz = g->dz / factor;
    return HG_OK;
}

int hg_ct_image_shape(const hg_ct_geometry *g, int64_t *shape)
{
    if (ct_is_3d(g)) {
        shape[0] = g->nz, shape[1] = g->ny, shape[2] = g->nx;
        return 3;
    }
    shape[0] = g->ny, shape[1] = g->nx;
    return 2;
}

int hg_ct_sino_shape(const hg_ct_geometry *g, int64_t *shape)
{
    if (ct_is_3d(g)) {
        shape[0] = g->n_angles, shape[1] = g->n_rows, shape[2] = g->n_det;
        return 3;
    }
    shape[0] = g->n_angles, shape[1] = g->n_det;
    return 2;
}

hg_status ct_geom_init(ct_geom *cg, const hg_ct_geometry *g)
{
    memset(cg, 0, sizeof *cg);
    hg_status s = hg_ct_geometry_check(g, NULL);
    if (s != HG_OK)
        return s;
    size_t n = (size_t)g->n_angles;
    cg->angles = hg_malloc(3 * n * sizeof(float));
    if (!cg->angles)
        return HG_ERR_NOMEM;
    cg->cosv = cg->angles + n;
    cg->sinv = cg->angles + 2 * n;
    for (size_t i = 0; i < n; i++) {
        cg->angles[i] = g->angles[i];
        cg->cosv[i] = (float)cos((double)g->angles[i]);
        cg->sinv[i] = (float)sin((double)g->angles[i]);
    }
    cg->g = *g;
    cg->g.angles = cg->angles;
    return HG_OK;
}

void ct_geom_release(ct_geom *cg)
{
    hg_free(cg->angles);
    cg->angles = cg->cosv = cg->sinv = NULL;
}

void ct_ray_physical(const ct_geom *cg, int view, int row, int col, ct_ray3 *r)
{
    const hg_ct_geometry *g = &cg->g;
    double c = cg->cosv[view], s = cg->sinv[view];
    double eu[2] = {c, s}, d[2] = {-s, c};
    double u = ct_det_u(g, col);
    r->p[2] = r->d[2] = 0.0;
    switch (g->kind) {
    case HG_CT_PARALLEL:
        r->p[0] = u * eu[0], r->p[1] = u * eu[1];
        r->d[0] = d[0], r->d[1] = d[1];
        break;
    case HG_CT_FAN_ARC: {
        double gam = u / g->sdd;
        r->p[0] = -g->sod * d[0], r->p[1] = -g->sod * d[1];
        r->d[0] = cos(gam) * d[0] + sin(gam) * eu[0];
        r->d[1] = cos(gam) * d[1] + sin(gam) * eu[1];
        break;
    }
    case HG_CT_FAN_FLAT:
    case HG_CT_CONE_FLAT:
        r->p[0] = -g->sod * d[0], r->p[1] = -g->sod * d[1];
        r->d[0] = g->sdd * d[0] + u * eu[0];
        r->d[1] = g->sdd * d[1] + u * eu[1];
        if (g->kind == HG_CT_CONE_FLAT)
            r->d[2] = ct_det_v(g, row);
        break;
    }
}
