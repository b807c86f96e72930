/* The acquisition carried by learned MRI models, the checks of data against it, and the
 * per-sample preparation shared by MoDL and VarNet (see include/hinge/mri_learned.h). */
#include "mri_net_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAPS_EPS 1e-6f /* added to sum |u_c|^2 before the square root (images scaled to ~1) */

static const char *mask_name(hg_mask_kind k)
{
    return k == HG_MASK_EQUISPACED ? "equispaced" : "random";
}

static hg_status parse_geometry(const hg_metadata *cf, hg_mri_geometry *g)
{
    memset(g, 0, sizeof *g);
    g->size = 128, g->coils = 8, g->mask = HG_MASK_RANDOM, g->acceleration = 4;
    g->center_fraction = 0.08;
    hg_status s = hg_config_int(cf, "size", 8, 4096, &g->size);
    if (s == HG_OK) s = hg_config_int(cf, "coils", 1, 128, &g->coils);
    if (s == HG_OK) s = hg_config_float(cf, "acceleration", &g->acceleration);
    if (s == HG_OK) s = hg_config_float(cf, "center_fraction", &g->center_fraction);
    if (s != HG_OK)
        return s;
    const char *mk = hg_metadata_get(cf, "mask");
    if (mk && strcmp(mk, "random") != 0 && strcmp(mk, "equispaced") != 0)
        return hg_error(HG_ERR_INVALID, "config 'mask': expected random or equispaced, got '%s'",
                        mk);
    if (mk && strcmp(mk, "equispaced") == 0)
        g->mask = HG_MASK_EQUISPACED;
    if (!(g->acceleration >= 1 && g->acceleration <= 64))
        return hg_error(HG_ERR_INVALID, "config 'acceleration': expected a number in [1, 64], "
                        "got %g", g->acceleration);
    if (g->mask == HG_MASK_EQUISPACED && g->acceleration != rint(g->acceleration))
        return hg_error(HG_ERR_INVALID, "config 'acceleration': equispaced masks need an "
                        "integer acceleration, got %g", g->acceleration);
    if (!(g->center_fraction > 0 && g->center_fraction < 1))
        return hg_error(HG_ERR_INVALID, "config 'center_fraction': expected a number in (0, 1), "
                        "got %g", g->center_fraction);
    if (rint((double)g->size * g->center_fraction) < 1)
        return hg_error(HG_ERR_INVALID, "config 'center_fraction' %g keeps no centre line of %lld",
                        g->center_fraction, (long long)g->size);
    const char *seeds = hg_metadata_get(cf, "mask_seeds");
    if (seeds && strcmp(seeds, "fresh") != 0) {
        char *end;
        if (strncmp(seeds, "fixed:", 6) != 0 || !seeds[6] ||
            (g->mask_seed = strtoull(seeds + 6, &end, 10), *end))
            return hg_error(HG_ERR_INVALID, "config 'mask_seeds': expected fresh or fixed:<seed>, "
                            "got '%s'", seeds);
        g->fixed_mask = true;
    }
    return HG_OK;
}

/* Writes every acquisition key back in normalized form, so the saved file names them all. */
static hg_status store_geometry(hg_metadata *cf, const hg_mri_geometry *g)
{
    char b[64];
    snprintf(b, sizeof b, "%lld", (long long)g->size);
    hg_status s = hg_metadata_set(cf, "size", b);
    snprintf(b, sizeof b, "%lld", (long long)g->coils);
    if (s == HG_OK) s = hg_metadata_set(cf, "coils", b);
    if (s == HG_OK) s = hg_metadata_set(cf, "mask", mask_name(g->mask));
    snprintf(b, sizeof b, "%.9g", g->acceleration);
    if (s == HG_OK) s = hg_metadata_set(cf, "acceleration", b);
    snprintf(b, sizeof b, "%.9g", g->center_fraction);
    if (s == HG_OK) s = hg_metadata_set(cf, "center_fraction", b);
    if (g->fixed_mask)
        snprintf(b, sizeof b, "fixed:%" PRIu64, g->mask_seed);
    else
        snprintf(b, sizeof b, "fresh");
    if (s == HG_OK) s = hg_metadata_set(cf, "mask_seeds", b);
    return s;
}

hg_status hg_mri_net_init(hg_mri_net *n, hg_model *m)
{
    memset(n, 0, sizeof *n);
    hg_status s = parse_geometry(&m->config, &n->g);
    if (s == HG_OK)
        s = store_geometry(&m->config, &n->g);
    if (s != HG_OK)
        return s;
    n->fft = hg_linop_fft(3, (const int64_t[]){n->g.coils, n->g.size, n->g.size}, 2);
    return n->fft ? HG_OK : hg_error_status();
}

void hg_mri_net_free(hg_mri_net *n)
{
    hg_linop_free(n->fft);
    n->fft = NULL;
}

static bool is_mri_arch(const hg_model *m)
{
    return strcmp(m->arch->name, "modl") == 0 || strcmp(m->arch->name, "varnet") == 0;
}

hg_status hg_mri_model_geometry(const hg_model *m, hg_mri_geometry *g)
{
    if (!is_mri_arch(m))
        return hg_error(HG_ERR_INVALID, "model %s is not an MRI model (modl, varnet)",
                        m->arch->name);
    return parse_geometry(&m->config, g);
}

hg_status hg_mri_geometry_mask(const hg_mri_geometry *g, hg_rng *rng, float *lines)
{
    hg_rng fixed = hg_rng_new(g->mask_seed);
    return hg_mri_mask_lines(g->mask, g->size, g->center_fraction, g->acceleration, -1,
                             g->fixed_mask ? &fixed : rng, lines, NULL);
}

hg_status hg_mri_check_acquisition(const hg_model *m, int64_t coils, const char *mask,
                                   double acceleration, double center_fraction)
{
    hg_mri_geometry g;
    hg_status s = hg_mri_model_geometry(m, &g);
    if (s != HG_OK)
        return s;
    const char *a = m->arch->name;
    if (coils > 0 && coils != g.coils)
        return hg_error(HG_ERR_INVALID, "%s: the model was trained for %lld coils, the data has "
                        "%lld", a, (long long)g.coils, (long long)coils);
    if (mask && strcmp(mask, mask_name(g.mask)) != 0)
        return hg_error(HG_ERR_INVALID, "%s: the model was trained with %s masks, the data has "
                        "a %s mask", a, mask_name(g.mask), mask);
    if (acceleration > 0 && fabs(acceleration - g.acceleration) > 1e-6 * g.acceleration)
        return hg_error(HG_ERR_INVALID, "%s: the model was trained at acceleration %g, the data "
                        "is at %g", a, g.acceleration, acceleration);
    if (center_fraction > 0 && fabs(center_fraction - g.center_fraction) > 1e-6)
        return hg_error(HG_ERR_INVALID, "%s: the model was trained with centre fraction %g, the "
                        "data has %g", a, g.center_fraction, center_fraction);
    return HG_OK;
}

/* The range of sampled-line counts the model's mask kind produces: random masks keep each
 * outer line with probability p (count mean n/accel, 3 standard deviations + 1 accepted),
 * equispaced masks the counts over all offsets +- 1. */
static hg_status line_count_range(const hg_mri_geometry *g, float *scratch, int64_t *lo,
                                  int64_t *hi)
{
    int64_t n = g->size, low = (int64_t)rint((double)n * g->center_fraction);
    if (g->mask == HG_MASK_RANDOM) {
        double p = low < n ? ((double)n / g->acceleration - (double)low) / (double)(n - low) : 0;
        p = fmin(fmax(p, 0), 1);
        double mean = (double)low + (double)(n - low) * p;
        double sd = sqrt((double)(n - low) * p * (1 - p));
        *lo = (int64_t)floor(mean - 3 * sd - 1), *hi = (int64_t)ceil(mean + 3 * sd + 1);
        return HG_OK;
    }
    *lo = n, *hi = 0;
    for (int64_t off = 0; off < (int64_t)g->acceleration; off++) {
        hg_status s = hg_mri_mask_lines(g->mask, n, g->center_fraction, g->acceleration, off, NULL,
                                        scratch, NULL);
        if (s != HG_OK)
            return s;
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++)
            c += scratch[i] != 0;
        *lo = c - 1 < *lo ? c - 1 : *lo;
        *hi = c + 1 > *hi ? c + 1 : *hi;
    }
    return HG_OK;
}

/* Mask of sample b from the data (sampled: any coil non-zero), checked to be a line mask of
 * the model's kind; lines[] gets the per-column mask, acs_lo/hi the ACS block. */
static hg_status sample_mask(const hg_mri_net *net, const char *arch, const hg_tensor *k,
                             int64_t b, float *mask, float *lines, float *scratch,
                             int64_t *acs_lo, int64_t *acs_hi)
{
    int64_t n = net->g.size, c = net->g.coils, np = n * n;
    memset(mask, 0, (size_t)np * sizeof *mask);
    for (int64_t j = 0; j < c; j++) {
        const float *kj = k->data + 2 * (b * c + j) * np;
        for (int64_t i = 0; i < np; i++)
            if (kj[2 * i] != 0 || kj[2 * i + 1] != 0)
                mask[i] = 1;
    }
    int64_t count = 0;
    for (int64_t w = 0; w < n; w++) {
        lines[w] = mask[w];
        for (int64_t h = 1; h < n; h++)
            if (mask[h * n + w] != lines[w])
                return hg_error(HG_ERR_INVALID, "%s: the model was trained with %s line masks "
                                "(whole columns), sample %lld of %s is sampled at row %lld but "
                                "not row 0 of column %lld (or the reverse)", arch,
                                mask_name(net->g.mask), (long long)b, hg_tensor_label(k),
                                (long long)h, (long long)w);
        count += lines[w] != 0;
    }
    int64_t lo = n / 2, hi = n / 2;
    if (lines[n / 2] == 0)
        lo = hi + 1;
    else {
        while (lo > 0 && lines[lo - 1] != 0) lo--;
        while (hi < n - 1 && lines[hi + 1] != 0) hi++;
    }
    int64_t acs = hi - lo + 1, want = (int64_t)rint((double)n * net->g.center_fraction);
    if (acs < want)
        return hg_error(HG_ERR_INVALID, "%s: the model needs %lld fully sampled centre lines "
                        "(centre fraction %g of %lld), sample %lld of %s has %lld", arch,
                        (long long)want, net->g.center_fraction, (long long)n, (long long)b,
                        hg_tensor_label(k), (long long)acs);
    int64_t cmin, cmax;
    hg_status s = line_count_range(&net->g, scratch, &cmin, &cmax);
    if (s != HG_OK)
        return s;
    if (count < cmin || count > cmax)
        return hg_error(HG_ERR_INVALID, "%s: the model was trained at acceleration %g (%s masks: "
                        "%lld to %lld of %lld lines), sample %lld of %s has %lld sampled lines "
                        "(acceleration %.2f)", arch, net->g.acceleration, mask_name(net->g.mask),
                        (long long)cmin, (long long)cmax, (long long)n, (long long)b,
                        hg_tensor_label(k), (long long)count, count ? (double)n / count : 0.0);
    if (net->g.fixed_mask) {
        s = hg_mri_geometry_mask(&net->g, NULL, scratch);
        for (int64_t w = 0; s == HG_OK && w < n; w++)
            if ((scratch[w] != 0) != (lines[w] != 0))
                return hg_error(HG_ERR_INVALID, "%s: the model was trained with one fixed mask "
                                "(seed %" PRIu64 "), sample %lld of %s differs from it at line "
                                "%lld", arch, net->g.mask_seed, (long long)b,
                                hg_tensor_label(k), (long long)w);
        if (s != HG_OK)
            return s;
    }
    *acs_lo = lo, *acs_hi = hi;
    return HG_OK;
}

/* RSS over coils of complex coil images [C, np] into out [np]; returns the maximum. */
static float rss_raw(const float *x, int64_t c, int64_t np, float *out)
{
    float mx = 0;
    for (int64_t i = 0; i < np; i++) {
        double acc = 0;
        for (int64_t j = 0; j < c; j++) {
            const float *v = x + 2 * (j * np + i);
            acc += (double)v[0] * v[0] + (double)v[1] * v[1];
        }
        out[i] = (float)sqrt(acc);
        mx = fmaxf(mx, out[i]);
    }
    return mx;
}

static hg_status prepare_sample(const hg_mri_net *net, const char *arch, hg_ctx *ctx,
                                const hg_tensor *k, int64_t b, hg_mri_prep *p, float *scratch)
{
    int64_t n = net->g.size, c = net->g.coils, np = n * n, cnp = 2 * c * np;
    float *lines = scratch, *tmp = scratch + n, *rss = scratch + 2 * n;
    int64_t lo = 0, hi = -1;
    float *mask = p->mask->data + b * np;
    hg_status s = sample_mask(net, arch, k, b, mask, lines, tmp, &lo, &hi);
    if (s != HG_OK)
        return s;
    const float *kin = k->data + b * cnp;
    float *kb = p->kspace->data + b * cnp, *acs = p->acs->data + b * cnp;
    float *sens = p->sens->data + b * cnp;
    /* Scale: the maximum of the zero-filled RSS image. */
    s = hg_linop_adjoint(net->fft, kin, acs);
    if (s != HG_OK)
        return s;
    float mx = rss_raw(acs, c, np, rss);
    float scale = mx > 0 && isfinite(mx) ? mx : 1.0f;
    p->scale->data[b] = scale;
    for (int64_t i = 0; i < cnp; i++)
        kb[i] = kin[i] / scale;
    /* ACS coil images: the scaled k-space restricted to columns [lo, hi]. */
    memset(acs, 0, (size_t)cnp * sizeof *acs);
    for (int64_t j = 0; j < c * n; j++)
        for (int64_t w = lo; w <= hi; w++) {
            int64_t at = 2 * (j * n + w);
            acs[at] = kb[at], acs[at + 1] = kb[at + 1];
        }
    s = hg_linop_adjoint(net->fft, acs, acs);
    if (s != HG_OK)
        return s;
    (void)ctx;
    for (int64_t i = 0; i < np; i++) {
        double acc = MAPS_EPS;
        for (int64_t j = 0; j < c; j++) {
            const float *v = acs + 2 * (j * np + i);
            acc += (double)v[0] * v[0] + (double)v[1] * v[1];
        }
        float inv = (float)(1.0 / sqrt(acc));
        for (int64_t j = 0; j < c; j++) {
            int64_t at = 2 * (j * np + i);
            sens[at] = acs[at] * inv, sens[at + 1] = acs[at + 1] * inv;
        }
    }
    return HG_OK;
}

hg_status hg_mri_net_prepare(const hg_mri_net *net, const char *arch, hg_ctx *ctx, hg_tensor *k,
                             hg_mri_prep *p)
{
    memset(p, 0, sizeof *p);
    if (!k)
        return hg_error_status() ? hg_error_status() : hg_error(HG_ERR_INVALID, "%s: NULL input",
                                                                arch);
    int64_t n = net->g.size, c = net->g.coils;
    char sh[96];
    if (k->dtype != HG_C64 || k->ndim != 4)
        return hg_error(HG_ERR_INVALID, "%s: expected complex multi-coil k-space [N, %lld, %lld, "
                        "%lld], got %s %s %s", arch, (long long)c, (long long)n, (long long)n,
                        k->dtype == HG_C64 ? "complex" : "real", hg_tensor_label(k),
                        hg_shape_str(k, sh, sizeof sh));
    if (k->shape[1] != c)
        return hg_error(HG_ERR_INVALID, "%s: the model was trained for %lld coils, the k-space "
                        "%s has %lld", arch, (long long)c, hg_tensor_label(k),
                        (long long)k->shape[1]);
    if (k->shape[2] != n || k->shape[3] != n)
        return hg_error(HG_ERR_INVALID, "%s: the model reconstructs %lldx%lld images, the "
                        "k-space %s is %lldx%lld", arch, (long long)n, (long long)n,
                        hg_tensor_label(k), (long long)k->shape[2], (long long)k->shape[3]);
    int64_t nb = k->shape[0];
    p->batch = nb;
    p->kspace = hg_tensor_empty(ctx, HG_C64, 4, k->shape);
    p->acs = hg_tensor_empty(ctx, HG_C64, 4, k->shape);
    p->sens = hg_tensor_empty(ctx, HG_C64, 4, k->shape);
    p->mask = hg_tensor_empty(ctx, HG_F32, 4, (const int64_t[]){nb, 1, n, n});
    p->scale = hg_tensor_empty(ctx, HG_F32, 4, (const int64_t[]){nb, 1, 1, 1});
    float *scratch = hg_ctx_alloc(ctx, (size_t)(2 * n + n * n) * sizeof(float));
    if (!p->kspace || !p->acs || !p->sens || !p->mask || !p->scale || !scratch)
        return hg_error_status();
    for (int64_t b = 0; b < nb; b++) {
        hg_status s = prepare_sample(net, arch, ctx, k, b, p, scratch);
        if (s != HG_OK)
            return s;
    }
    return HG_OK;
}

/* ---- differentiable helpers ------------------------------------------------------------ */

hg_tensor *hg_mri_rss_op(hg_ctx *ctx, hg_tensor *x)
{
    hg_tensor *sq = hg_square(ctx, hg_complex_to_channels(ctx, x));
    /* The epsilon keeps the square root differentiable where every coil is exactly zero. */
    return hg_sqrt(ctx, hg_add_scalar(ctx, hg_sum_dim(ctx, sq, 1, true), 1e-12f));
}

hg_tensor *hg_mri_normalize_maps(hg_ctx *ctx, hg_tensor *u)
{
    hg_tensor *planar = hg_complex_to_channels(ctx, u);
    hg_tensor *den = hg_sqrt(ctx, hg_add_scalar(ctx, hg_sum_dim(ctx, hg_square(ctx, planar), 1,
                                                                true), MAPS_EPS));
    return hg_channels_to_complex(ctx, hg_div(ctx, planar, den));
}

hg_tensor *hg_mri_unscale(hg_ctx *ctx, hg_tensor *image, hg_tensor *scale)
{
    return hg_mul(ctx, image, scale);
}
