/* Ellipse/ellipsoid phantoms: modified Shepp–Logan (2-D, 3-D), random ellipses (learned
 * primal-dual experiment), supersampled rasterization and exact line integrals along the rays
 * of any geometry (the reference for projector tests). */
#include "physics/ct_internal.h"

#include <stdlib.h>
#include <string.h>

/* Toft's modified Shepp–Logan (skimage, ODL, MATLAB phantom('Modified Shepp-Logan')) and
 * its 3-D extension (Kak–Slaney ellipsoids, phantom3d): value, a, b, c, x0, y0, z0, phi,
 * theta, psi (degrees). The 2-D phantom is the z = 0 section with c, z0, theta, psi unused.
 * Rotation: phantom3d's ZXZ Euler matrix A, but points are tested as A·(x − centre) with the
 * centre in the image frame (phantom3d tests A·x − centre, which moves the centres of the
 * rotated ellipsoids 3 and 4 by the rotation; the 2-D phantom keeps them at x = ±0.22). */
static const float shepp_logan_3d[10][10] = {
    {1.0f, .6900f, .920f, .810f, 0, 0, 0, 0, 0, 0},
    {-.8f, .6624f, .874f, .780f, 0, -.0184f, 0, 0, 0, 0},
    {-.2f, .1100f, .310f, .220f, .22f, 0, 0, -18, 0, 10},
    {-.2f, .1600f, .410f, .280f, -.22f, 0, 0, 18, 0, 10},
    {.1f, .2100f, .250f, .410f, 0, .35f, -.15f, 0, 0, 0},
    {.1f, .0460f, .046f, .050f, 0, .1f, .25f, 0, 0, 0},
    {.1f, .0460f, .046f, .050f, 0, -.1f, .25f, 0, 0, 0},
    {.1f, .0460f, .023f, .050f, -.08f, -.605f, 0, 0, 0, 0},
    {.1f, .0230f, .023f, .020f, 0, -.606f, 0, 0, 0, 0},
    {.1f, .0230f, .046f, .020f, .06f, -.605f, 0, 0, 0, 0},
};

hg_ct_phantom *ct_phantom_alloc(int ndim, int count, float scale)
{
    if (ndim != 2 && ndim != 3) {
        hg_error(HG_ERR_INVALID, "ct phantom: ndim must be 2 or 3, got %d", ndim);
        return NULL;
    }
    if (!(scale > 0)) {
        hg_error(HG_ERR_INVALID, "ct phantom: scale must be > 0, got %g", (double)scale);
        return NULL;
    }
    hg_ct_phantom *p = calloc(1, sizeof *p);
    if (p)
        p->ellipses = calloc((size_t)(count > 0 ? count : 1), sizeof *p->ellipses);
    if (!p || !p->ellipses) {
        free(p);
        hg_error(HG_ERR_NOMEM, "ct phantom: out of memory for %d ellipses", count);
        return NULL;
    }
    p->ndim = ndim;
    p->count = count;
    p->scale = scale;
    return p;
}

hg_ct_phantom *hg_ct_phantom_shepp_logan(int ndim, float scale)
{
    hg_ct_phantom *p = ct_phantom_alloc(ndim, 10, scale);
    if (!p)
        return NULL;
    const float deg = (float)(CT_PI / 180.0);
    for (int i = 0; i < 10; i++) {
        const float *r = shepp_logan_3d[i];
        hg_ct_ellipse e = {r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] * deg, r[8] * deg,
                           r[9] * deg};
        if (ndim == 2)
            e.c = 1.0f, e.z0 = 0.0f, e.theta = 0.0f, e.psi = 0.0f;
        p->ellipses[i] = e;
    }
    return p;
}

static double rng_exponential(hg_rng *rng, double scale)
{
    return -scale * log(1.0 - hg_rng_uniform(rng));
}

hg_ct_phantom *hg_ct_phantom_random_ellipses(hg_rng *rng, double mean_count, bool interior,
                                             float scale)
{
    if (!rng || !(mean_count >= 0)) {
        hg_error(HG_ERR_INVALID, "ct random ellipses: need an rng and mean_count >= 0, got %g",
                 mean_count);
        return NULL;
    }
    int n = (int)hg_rng_poisson(rng, mean_count);
    hg_ct_phantom *p = ct_phantom_alloc(2, n, scale);
    if (!p)
        return NULL;
    double span = interior ? 1.0 : 2.0;
    for (int i = 0; i < n; i++) {
        hg_ct_ellipse *e = &p->ellipses[i];
        e->value = (float)((hg_rng_uniform(rng) - 0.5) * rng_exponential(rng, 0.4));
        e->a = (float)fmax(rng_exponential(rng, 0.2), 1e-6);
        e->b = (float)fmax(rng_exponential(rng, 0.2), 1e-6);
        e->c = 1.0f;
        e->x0 = (float)(span * (hg_rng_uniform(rng) - 0.5));
        e->y0 = (float)(span * (hg_rng_uniform(rng) - 0.5));
        e->phi = (float)(hg_rng_uniform(rng) * 2 * CT_PI);
    }
    return p;
}

void hg_ct_phantom_free(hg_ct_phantom *p)
{
    if (!p)
        return;
    free(p->ellipses);
    free(p);
}

/* An ellipsoid prepared for evaluation: q = M (x/scale - centre) with M = diag(1/axes)·R,
 * inside when |q| <= 1. */
typedef struct {
    double m[3][3], c[3];
    float value;
} prepared;

static void prepare(const hg_ct_phantom *p, const hg_ct_ellipse *e, prepared *o)
{
    double cp = cos(e->phi), sp = sin(e->phi), ct = cos(e->theta), st = sin(e->theta);
    double cs = cos(e->psi), ss = sin(e->psi);
    double r[3][3] = {{cs * cp - ct * sp * ss, cs * sp + ct * cp * ss, ss * st},
                      {-ss * cp - ct * sp * cs, -ss * sp + ct * cp * cs, cs * st},
                      {st * sp, -st * cp, ct}};
    double ax[3] = {e->a, e->b, p->ndim == 3 ? e->c : 1.0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            o->m[i][j] = r[i][j] / ax[i] / p->scale;
    o->c[0] = e->x0 * (double)p->scale, o->c[1] = e->y0 * (double)p->scale;
    o->c[2] = p->ndim == 3 ? e->z0 * (double)p->scale : 0.0;
    o->value = e->value;
}

static void apply_m(const prepared *o, const double v[3], double out[3])
{
    for (int i = 0; i < 3; i++)
        out[i] = o->m[i][0] * v[0] + o->m[i][1] * v[1] + o->m[i][2] * v[2];
}

static hg_status check_pair(const hg_ct_phantom *p, const hg_ct_geometry *g, const float *buf,
                            const char *what)
{
    if (!p || !buf)
        return hg_error(HG_ERR_INVALID, "ct phantom %s: NULL phantom or output", what);
    hg_status s = hg_ct_geometry_check(g, NULL);
    if (s != HG_OK)
        return s;
    if (p->ndim != (ct_is_3d(g) ? 3 : 2))
        return hg_error(HG_ERR_INVALID,
                        "ct phantom %s: a %d-D phantom does not fit a %d-D geometry", what,
                        p->ndim, ct_is_3d(g) ? 3 : 2);
    return HG_OK;
}

static prepared *prepare_all(const hg_ct_phantom *p)
{
    prepared *pr = hg_malloc((size_t)(p->count > 0 ? p->count : 1) * sizeof *pr);
    for (int i = 0; pr && i < p->count; i++)
        prepare(p, &p->ellipses[i], &pr[i]);
    return pr;
}

hg_status hg_ct_phantom_rasterize(const hg_ct_phantom *p, const hg_ct_geometry *g,
                                  int32_t supersample, float *image)
{
    hg_status s = check_pair(p, g, image, "rasterize");
    if (s != HG_OK)
        return s;
    if (supersample < 1)
        return hg_error(HG_ERR_INVALID, "ct phantom rasterize: supersample must be >= 1, got %d",
                        supersample);
    prepared *pr = prepare_all(p);
    if (!pr)
        return HG_ERR_NOMEM;
    int ss = supersample, ssz = ct_is_3d(g) ? ss : 1;
    double inv = 1.0 / ((double)ss * ss * ssz);
#pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < g->nz; k++)
        for (int j = 0; j < g->ny; j++)
            for (int i = 0; i < g->nx; i++) {
                double acc = 0.0;
                for (int a = 0; a < ssz; a++)
                    for (int b = 0; b < ss; b++)
                        for (int c = 0; c < ss; c++) {
                            double pt[3] = {
                                (i - 0.5 * (g->nx - 1) + (c + 0.5) / ss - 0.5) * g->dx,
                                (0.5 * (g->ny - 1) - j - (b + 0.5) / ss + 0.5) * g->dy,
                                ct_is_3d(g) ? (k - 0.5 * (g->nz - 1) + (a + 0.5) / ssz - 0.5) * g->dz
                                            : 0.0};
                            for (int e = 0; e < p->count; e++) {
                                double v[3] = {pt[0] - pr[e].c[0], pt[1] - pr[e].c[1],
                                               pt[2] - pr[e].c[2]},
                                       q[3];
                                apply_m(&pr[e], v, q);
                                if (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] <= 1.0)
                                    acc += pr[e].value;
                            }
                        }
                image[((int64_t)k * g->ny + j) * g->nx + i] = (float)(acc * inv);
            }
    hg_free(pr);
    return HG_OK;
}

hg_status hg_ct_phantom_project(const hg_ct_phantom *p, const hg_ct_geometry *g, float *sino)
{
    hg_status s = check_pair(p, g, sino, "project");
    if (s != HG_OK)
        return s;
    ct_geom cg;
    if ((s = ct_geom_init(&cg, g)) != HG_OK)
        return s;
    prepared *pr = prepare_all(p);
    if (!pr) {
        ct_geom_release(&cg);
        return HG_ERR_NOMEM;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int v = 0; v < g->n_angles; v++)
        for (int row = 0; row < g->n_rows; row++)
            for (int col = 0; col < g->n_det; col++) {
                ct_ray3 r;
                ct_ray_physical(&cg, v, row, col, &r);
                double len = sqrt(r.d[0] * r.d[0] + r.d[1] * r.d[1] + r.d[2] * r.d[2]);
                double acc = 0.0;
                for (int e = 0; e < p->count; e++) {
                    double w[3] = {r.p[0] - pr[e].c[0], r.p[1] - pr[e].c[1], r.p[2] - pr[e].c[2]};
                    double q[3], d[3];
                    apply_m(&pr[e], w, q);
                    apply_m(&pr[e], r.d, d);
                    /* |q + t d|^2 = 1: the chord is the distance between the two roots */
                    double A = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                    double B = q[0] * d[0] + q[1] * d[1] + q[2] * d[2];
                    double C = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] - 1.0;
                    double disc = B * B - A * C;
                    if (disc > 0 && A > 0)
                        acc += pr[e].value * 2.0 * sqrt(disc) / A * len;
                }
                sino[((int64_t)v * g->n_rows + row) * g->n_det + col] = (float)acc;
            }
    hg_free(pr);
    ct_geom_release(&cg);
    return HG_OK;
}
