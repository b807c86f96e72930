/* Sampling masks: fastMRI's 1-D line masks (fastmri/data/subsample.py: RandomMaskFunc,
 * EquispacedMaskFunc, EquispacedMaskFractionFunc) and SigPy's variable-density Poisson disc
 * (sigpy/mri/samp.py: poisson), reproducible from hg_rng. */
#include "physics/mri_internal.h"

#include <math.h>
#include <string.h>

#define HG_PI 3.14159265358979323846

static hg_status check_line_args(int64_t n, double cf, double accel, const float *mask)
{
    if (!mask)
        return hg_error(HG_ERR_INVALID, "line mask: NULL output");
    if (n < 1)
        return hg_error(HG_ERR_INVALID, "line mask: %lld lines, expected >= 1", (long long)n);
    if (!(cf >= 0.0 && cf <= 1.0))
        return hg_error(HG_ERR_INVALID, "line mask: centre fraction %g outside [0, 1]", cf);
    if (!(accel >= 1.0))
        return hg_error(HG_ERR_INVALID, "line mask: acceleration %g, expected >= 1", accel);
    return HG_OK;
}

hg_status hg_mri_mask_lines(hg_mask_kind kind, int64_t n, double center_fraction,
                            double acceleration, int64_t offset, hg_rng *rng, float *mask,
                            int64_t *num_low)
{
    hg_status s = check_line_args(n, center_fraction, acceleration, mask);
    if (s != HG_OK)
        return s;
    /* Python's round() (ties to even) is rint() in the default rounding mode. */
    int64_t low = (int64_t)rint((double)n * center_fraction);
    memset(mask, 0, (size_t)n * sizeof *mask);
    if (kind == HG_MASK_RANDOM) {
        if (!rng)
            return hg_error(HG_ERR_INVALID, "random line mask: NULL rng");
        /* A negative probability (centre alone exceeds n / accel) keeps only the centre. */
        double prob = low < n ? ((double)n / acceleration - (double)low) / (double)(n - low) : 0;
        for (int64_t i = 0; i < n; i++)
            mask[i] = hg_rng_uniform(rng) < prob ? 1.0f : 0.0f;
    } else if (kind == HG_MASK_EQUISPACED) {
        int64_t step = (int64_t)rint(acceleration);
        if (fabs(acceleration - (double)step) > 1e-9)
            return hg_error(HG_ERR_INVALID,
                            "equispaced line mask: acceleration %g is not an integer (use "
                            "HG_MASK_EQUISPACED_FRACTION)",
                            acceleration);
        if (offset < 0) {
            if (!rng)
                return hg_error(HG_ERR_INVALID, "equispaced line mask: NULL rng for the offset");
            offset = (int64_t)hg_rng_below(rng, (uint64_t)step);
        }
        for (int64_t i = offset; i < n; i += step)
            mask[i] = 1.0f;
    } else if (kind == HG_MASK_EQUISPACED_FRACTION) {
        double den = (double)low * acceleration - (double)n;
        if (!(den < 0.0))
            return hg_error(HG_ERR_INVALID,
                            "equispaced-fraction line mask: %lld centre lines already reach "
                            "acceleration %g of %lld lines",
                            (long long)low, acceleration, (long long)n);
        double adjusted = acceleration * (double)(low - n) / den;
        if (offset < 0) {
            if (!rng)
                return hg_error(HG_ERR_INVALID, "equispaced line mask: NULL rng for the offset");
            int64_t hi = (int64_t)rint(adjusted);
            offset = (int64_t)hg_rng_below(rng, (uint64_t)(hi > 0 ? hi : 1));
        }
        /* np.arange(offset, n - 1, adjusted): offset + i * adjusted < n - 1. */
        int64_t count = (int64_t)ceil(((double)(n - 1) - (double)offset) / adjusted);
        for (int64_t i = 0; i < count; i++) {
            int64_t at = (int64_t)rint((double)offset + (double)i * adjusted);
            if (at >= 0 && at < n)
                mask[at] = 1.0f;
        }
    } else {
        return hg_error(HG_ERR_INVALID, "line mask: unknown kind %d", (int)kind);
    }
    int64_t pad = (n - low + 1) / 2;
    for (int64_t i = pad; i < pad + low && i < n; i++)
        mask[i] = 1.0f;
    if (num_low)
        *num_low = low;
    return HG_OK;
}

hg_tensor *hg_mri_mask_expand(hg_ctx *ctx, int ndim, const int64_t *shape, const float *lines)
{
    if (!lines || !shape || ndim < 1) {
        hg_error(HG_ERR_INVALID, "mask expand: NULL lines or shape");
        return NULL;
    }
    hg_tensor *m = hg_tensor_empty(ctx, HG_F32, ndim, shape);
    if (!m)
        return NULL;
    int64_t n = shape[ndim - 1];
    for (int64_t i = 0; i < m->numel; i++)
        m->data[i] = lines[i % n];
    return m;
}

/* ---- Poisson disc ---------------------------------------------------------------------- */

typedef struct {
    int64_t ny, nx;
    float *rx, *ry; /* per-pixel radii */
    float *mask;
    float *px, *py;       /* active list */
} disc;

/* Whether no sample lies within the elliptical radius (of the sample's own pixel) of q. */
static bool disc_free(const disc *g, double qx, double qy, double rx, double ry)
{
    int64_t x0 = (int64_t)(qx - rx), x1 = (int64_t)(qx + rx + 1);
    int64_t y0 = (int64_t)(qy - ry), y1 = (int64_t)(qy + ry + 1);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > g->nx ? g->nx : x1, y1 = y1 > g->ny ? g->ny : y1;
    for (int64_t x = x0; x < x1; x++)
        for (int64_t y = y0; y < y1; y++) {
            int64_t i = y * g->nx + x;
            double dx = (qx - (double)x) / g->rx[i], dy = (qy - (double)y) / g->ry[i];
            if (g->mask[i] == 1.0f && dx * dx + dy * dy < 1.0)
                return false;
        }
    return true;
}

/* Bridson's dart throwing with variable radii (SigPy's _poisson), 30 attempts per point. */
static void disc_fill(disc *g, hg_rng *rng)
{
    memset(g->mask, 0, (size_t)(g->ny * g->nx) * sizeof(float));
    int64_t active = 1;
    g->px[0] = (float)hg_rng_below(rng, (uint64_t)g->nx);
    g->py[0] = (float)hg_rng_below(rng, (uint64_t)g->ny);
    while (active > 0) {
        int64_t i = (int64_t)hg_rng_below(rng, (uint64_t)active);
        double px = g->px[i], py = g->py[i];
        int64_t at = (int64_t)py * g->nx + (int64_t)px;
        double rx = g->rx[at], ry = g->ry[at];
        bool done = false;
        double qx = 0, qy = 0;
        for (int k = 0; k < 30 && !done; k++) {
            double v = sqrt(hg_rng_uniform(rng) * 3.0 + 1.0);
            double t = 2.0 * HG_PI * hg_rng_uniform(rng);
            qx = px + v * rx * cos(t), qy = py + v * ry * sin(t);
            if (qx >= 0 && qx < (double)g->nx && qy >= 0 && qy < (double)g->ny)
                done = disc_free(g, qx, qy, rx, ry);
        }
        if (done && active < g->ny * g->nx) { /* the active list never outgrows its buffer */
            g->px[active] = (float)qx, g->py[active] = (float)qy;
            g->mask[(int64_t)qy * g->nx + (int64_t)qx] = 1.0f;
            active++;
        } else {
            g->px[i] = g->px[active - 1], g->py[i] = g->py[active - 1];
            active--;
        }
    }
}

hg_status hg_mri_mask_poisson(int64_t ny, int64_t nx, double acceleration, int64_t calib_y,
                              int64_t calib_x, bool crop_corner, double tol, uint64_t seed,
                              float *mask, double *actual)
{
    if (!mask || ny < 2 || nx < 2 || ny > (1 << 15) || nx > (1 << 15))
        return hg_error(HG_ERR_INVALID, "poisson mask: grid %lld x %lld, expected 2..32768",
                        (long long)ny, (long long)nx);
    if (!(acceleration >= 1.0) || calib_y < 0 || calib_x < 0 || calib_y > ny || calib_x > nx)
        return hg_error(HG_ERR_INVALID,
                        "poisson mask: acceleration %g (>= 1) or calibration %lld x %lld "
                        "(within %lld x %lld) invalid",
                        acceleration, (long long)calib_y, (long long)calib_x, (long long)ny,
                        (long long)nx);
    int64_t n = ny * nx;
    float *r = hg_malloc((size_t)n * 5 * sizeof(float));
    if (!r)
        return HG_ERR_NOMEM;
    disc g = {ny, nx, r + n, r + 2 * n, mask, r + 3 * n, r + 4 * n};
    /* Normalized distance from the calibration box, 0 inside it, 1 at the far edge. */
    double mx = 0, my = 0;
    for (int64_t x = 0; x < nx; x++)
        mx = fmax(mx, fmax(fabs((double)x - nx / 2.0) - calib_x / 2.0, 0));
    for (int64_t y = 0; y < ny; y++)
        my = fmax(my, fmax(fabs((double)y - ny / 2.0) - calib_y / 2.0, 0));
    for (int64_t y = 0; y < ny; y++)
        for (int64_t x = 0; x < nx; x++) {
            double dx = fmax(fabs((double)x - nx / 2.0) - calib_x / 2.0, 0) / (mx > 0 ? mx : 1);
            double dy = fmax(fabs((double)y - ny / 2.0) - calib_y / 2.0, 0) / (my > 0 ? my : 1);
            r[y * nx + x] = (float)sqrt(dx * dx + dy * dy);
        }
    double big = (double)(nx > ny ? nx : ny), lo = 0, hi = big, got = 0;
    hg_rng rng = hg_rng_new(seed);
    for (int it = 0; it < 40; it++) {
        double slope = 0.5 * (lo + hi);
        for (int64_t i = 0; i < n; i++) {
            double rad = 1.0 + r[i] * slope;
            g.rx[i] = (float)fmax(rad * (double)nx / big, 1.0);
            g.ry[i] = (float)fmax(rad * (double)ny / big, 1.0);
        }
        hg_rng trial = rng; /* every trial starts from the same stream: the seed alone decides */
        disc_fill(&g, &trial);
        for (int64_t y = ny / 2 - calib_y / 2; y < ny / 2 - calib_y / 2 + calib_y; y++)
            for (int64_t x = nx / 2 - calib_x / 2; x < nx / 2 - calib_x / 2 + calib_x; x++)
                mask[y * nx + x] = 1.0f;
        int64_t count = 0;
        for (int64_t i = 0; i < n; i++) {
            if (crop_corner && r[i] >= 1.0f)
                mask[i] = 0.0f;
            count += mask[i] != 0.0f;
        }
        got = count ? (double)n / (double)count : INFINITY;
        if (fabs(got - acceleration) < tol)
            break;
        if (got < acceleration)
            lo = slope;
        else
            hi = slope;
    }
    hg_free(r);
    if (actual)
        *actual = got;
    return HG_OK;
}
