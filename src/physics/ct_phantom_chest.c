/* Random anatomy-like chest slices for low-dose CT experiments (a stand-in for LoDoPaB-CT's
 * LIDC-IDRI slices, which no Debian package ships). Every structure is an ellipse, so the
 * phantom has exact line integrals (hg_ct_phantom_project) as well as a raster: simulating
 * with the analytic projection avoids the inverse crime of projecting the reconstruction grid.
 *
 * Values are linear attenuation coefficients in LoDoPaB's normalization, μ / μ_max with
 * μ_max = 81.35858 m⁻¹ = μ_water (20 m⁻¹) at 3071 HU, so a value is (1 + HU/1000) / 4.0679.
 * Ellipses add where they overlap; the layout keeps organs apart so that each region has the
 * HU value named below: fat −100, soft tissue +40, lung −850 (with vessels and nodules), blood
 * with contrast +190, cancellous bone +330, cortical bone +780, ribs +840. */
#include "ct_internal.h"

#include <stdlib.h>
#include <string.h>

#define CHEST_MAX 192
#define HU_PER_UNIT 4067.9 /* 1000 · μ_max / μ_water */

typedef struct {
    hg_ct_ellipse e[CHEST_MAX];
    int n;
} chest_list;

static double uniform(hg_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * hg_rng_uniform(rng);
}

/* Adds an ellipse whose value changes the HU of the region it covers by delta_hu. */
static void add(chest_list *l, double delta_hu, double a, double b, double x0, double y0,
                double phi)
{
    if (l->n >= CHEST_MAX)
        return;
    hg_ct_ellipse *e = &l->e[l->n++];
    memset(e, 0, sizeof *e);
    e->value = (float)(delta_hu / HU_PER_UNIT);
    e->a = (float)a, e->b = (float)b, e->c = 1.0f;
    e->x0 = (float)x0, e->y0 = (float)y0, e->phi = (float)phi;
}

/* A point uniformly inside the ellipse (a, b, x0, y0) shrunk by `fill`. */
static void point_in(hg_rng *rng, const hg_ct_ellipse *e, double fill, double *x, double *y)
{
    double u, v;
    do {
        u = uniform(rng, -1, 1), v = uniform(rng, -1, 1);
    } while (u * u + v * v > 1);
    double c = cos(e->phi), s = sin(e->phi), px = fill * e->a * u, py = fill * e->b * v;
    *x = e->x0 + c * px - s * py;
    *y = e->y0 + s * px + c * py;
}

/* Lung between |x| = inner and |x| = outer on one side (sign), with vessels and nodules. */
static void add_lung(chest_list *l, hg_rng *rng, double sign, double inner, double outer,
                     double b_in)
{
    double la = 0.5 * (outer - inner), x0 = sign * 0.5 * (outer + inner);
    double y0 = uniform(rng, -0.10, 0.04) * b_in;
    double lb = fmin(uniform(rng, 0.62, 0.80) * b_in, b_in - fabs(y0) - 0.06);
    add(l, -890, la, lb, x0, y0, sign * uniform(rng, 0, 0.08));
    hg_ct_ellipse lung = l->e[l->n - 1];
    int vessels = (int)hg_rng_poisson(rng, 18);
    for (int i = 0; i < vessels; i++) {
        double x, y, r = uniform(rng, 0.006, 0.018);
        point_in(rng, &lung, 0.85, &x, &y);
        add(l, 800, r, r * uniform(rng, 1.0, 2.5), x, y, uniform(rng, 0, CT_PI));
    }
    int nodules = hg_rng_uniform(rng) < 0.4 ? 1 + (int)hg_rng_below(rng, 2) : 0;
    for (int i = 0; i < nodules; i++) {
        double x, y, r = uniform(rng, 0.015, 0.045);
        point_in(rng, &lung, 0.6, &x, &y);
        add(l, uniform(rng, 700, 900), r, r * uniform(rng, 0.8, 1.25), x, y,
            uniform(rng, 0, CT_PI));
    }
}

static void add_spine(chest_list *l, hg_rng *rng, double b_in, double *top)
{
    double rv = uniform(rng, 0.07, 0.09), yv = -b_in + rv + uniform(rng, 0.11, 0.14);
    add(l, 740, rv, rv * uniform(rng, 0.9, 1.0), 0, yv, 0); /* cortical shell ... */
    add(l, -450, rv - 0.014, rv * 0.9 - 0.014, 0, yv, 0);  /* ... cancellous inside */
    add(l, 560, 0.02, 0.045, 0, yv - rv - 0.05, 0);        /* spinous process */
    *top = yv + rv;
}

/* Ribs around the wall on both sides, evenly spread with jitter so they never touch, and
 * clear of the sternum (top) and the spine (bottom). */
static void add_ribs(chest_list *l, hg_rng *rng, double a_in, double b_in)
{
    int per_side = 5 + (int)hg_rng_below(rng, 3);
    double lo = -CT_PI / 2 + 0.4, hi = CT_PI / 2 - 0.45, step = (hi - lo) / per_side;
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < per_side; i++) {
            double t = lo + (i + 0.5 + uniform(rng, -0.2, 0.2)) * step;
            if (side)
                t = CT_PI - t;
            double x = (a_in - 0.025) * cos(t), y = (b_in - 0.025) * sin(t);
            double tangent = atan2((b_in - 0.025) * cos(t), -(a_in - 0.025) * sin(t));
            add(l, 800, uniform(rng, 0.022, 0.03), 0.014, x, y, tangent);
        }
}

hg_ct_phantom *hg_ct_phantom_random_chest(hg_rng *rng, float scale)
{
    if (!rng) {
        hg_error(HG_ERR_INVALID, "ct chest phantom: need an rng");
        return NULL;
    }
    chest_list l;
    l.n = 0;
    double a = uniform(rng, 0.80, 0.92), b = a * uniform(rng, 0.62, 0.76);
    double fat = uniform(rng, 0.04, 0.09), a_in = a - fat, b_in = b - fat;
    add(&l, 900, a, b, 0, 0, uniform(rng, -0.04, 0.04)); /* fat: −100 HU from air */
    add(&l, 140, a_in, b_in, 0, 0, l.e[0].phi);          /* soft tissue: +40 HU */
    /* Heart left of centre and anterior; the left lung starts beyond it. */
    double ha = uniform(rng, 0.10, 0.15), hb = ha * uniform(rng, 0.8, 1.0);
    double hx = uniform(rng, 0.0, 0.06), hy = uniform(rng, 0.0, 0.15) * b_in;
    add(&l, 20, ha, hb, hx, hy, uniform(rng, 0, CT_PI));
    add(&l, 130, 0.55 * ha, 0.5 * hb, hx + 0.2 * ha, hy, 0); /* contrast-filled chamber */
    double margin = 0.06;
    add_lung(&l, rng, +1, hx + ha + 0.02, a_in - margin, b_in);
    add_lung(&l, rng, -1, uniform(rng, 0.14, 0.18), a_in - margin, b_in);
    double spine_top;
    add_spine(&l, rng, b_in, &spine_top);
    double ra = uniform(rng, 0.035, 0.05);
    add(&l, 150, ra, ra, -(ra + 0.01), spine_top + ra + 0.01, 0); /* descending aorta */
    add(&l, 500, 0.05, 0.018, 0, b_in - 0.03, 0);                 /* sternum */
    add_ribs(&l, rng, a_in, b_in);
    /* Faint soft-tissue texture. */
    int blobs = (int)hg_rng_poisson(rng, 6);
    for (int i = 0; i < blobs; i++) {
        double x, y, r = uniform(rng, 0.03, 0.09);
        point_in(rng, &l.e[1], 0.8, &x, &y);
        add(&l, uniform(rng, -25, 25), r, r * uniform(rng, 0.6, 1.0), x, y,
            uniform(rng, 0, CT_PI));
    }
    hg_ct_phantom *p = ct_phantom_alloc(2, l.n, scale);
    if (p)
        memcpy(p->ellipses, l.e, (size_t)l.n * sizeof *l.e);
    return p;
}
