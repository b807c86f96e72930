/* Geometry-in-the-config and the conv block shared by the learned CT networks. */
#include "learned_internal.h"

#include "hinge/ct_sidecar.h"
#include "hinge/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CT geometry in a learned model's config: keys size, angles, detectors, pixel,
 * detector_spacing, and for fan beam geometry (parallel | fan-flat | fan-arc), sod, sdd
 * (source-isocentre and source-detector distance) and range (degrees). Defaults are those of
 * `hinge simulate ct`: parallel over 180 degrees; fan over 360 with sod 2 and sdd 4 image
 * widths and the detector pitch of a pixel magnified to the detector. */
typedef struct {
    int64_t size, n_angles, n_det;
    double pixel, du, sod, sdd, range_deg;
    hg_ct_kind kind;
} ct_config;

static hg_status parse_config(const hg_metadata *cf, ct_config *c)
{
    c->size = 128, c->n_angles = 30, c->n_det = 183, c->pixel = 1;
    c->kind = HG_CT_PARALLEL;
    const char *kind = hg_metadata_get(cf, "geometry");
    hg_status s = kind ? hg_ct_kind_parse(kind, &c->kind) : HG_OK;
    if (s == HG_OK && c->kind == HG_CT_CONE_FLAT)
        s = hg_error(HG_ERR_INVALID, "config 'geometry': learned CT models are 2-D (parallel, "
                                     "fan-flat, fan-arc), got cone");
    if (s == HG_OK) s = hg_config_int(cf, "size", 2, 8192, &c->size);
    if (s == HG_OK) s = hg_config_int(cf, "angles", 1, 100000, &c->n_angles);
    if (s == HG_OK) s = hg_config_int(cf, "detectors", 1, 100000, &c->n_det);
    if (s == HG_OK) s = hg_config_float(cf, "pixel", &c->pixel);
    if (s != HG_OK)
        return s;
    bool fan = c->kind != HG_CT_PARALLEL;
    double width = (double)c->size * c->pixel;
    c->sod = fan ? 2 * width : 0, c->sdd = fan ? 4 * width : 0;
    c->range_deg = fan ? 360 : 180;
    if (fan) s = hg_config_float(cf, "sod", &c->sod);
    if (s == HG_OK && fan) s = hg_config_float(cf, "sdd", &c->sdd);
    if (s == HG_OK) s = hg_config_float(cf, "range", &c->range_deg);
    c->du = fan && c->sod > 0 ? c->pixel * c->sdd / c->sod : c->pixel;
    if (s == HG_OK) s = hg_config_float(cf, "detector_spacing", &c->du);
    if (s != HG_OK)
        return s;
    if (!(c->pixel > 0) || !(c->du > 0))
        return hg_error(HG_ERR_INVALID,
                        "config 'pixel' and 'detector_spacing' must be positive, got %g and %g",
                        c->pixel, c->du);
    if (!(c->range_deg > 0) || c->range_deg > 360)
        return hg_error(HG_ERR_INVALID, "config 'range': expected (0, 360] degrees, got %g",
                        c->range_deg);
    return HG_OK;
}

static hg_status make_geometry(const ct_config *c, hg_ct_geometry *g, float **angles)
{
    *angles = malloc((size_t)c->n_angles * sizeof **angles);
    if (!*angles)
        return hg_error(HG_ERR_NOMEM, "learned model: out of memory for %lld angles",
                        (long long)c->n_angles);
    hg_ct_angles_uniform(*angles, (int32_t)c->n_angles, 0.0,
                         c->range_deg * 3.14159265358979323846 / 180.0);
    int32_t n = (int32_t)c->size, na = (int32_t)c->n_angles, nd = (int32_t)c->n_det;
    *g = c->kind == HG_CT_PARALLEL
             ? hg_ct_parallel(n, n, (float)c->pixel, na, *angles, nd, (float)c->du)
             : hg_ct_fan(c->kind, n, n, (float)c->pixel, na, *angles, nd, (float)c->du,
                         (float)c->sod, (float)c->sdd);
    hg_status s = hg_ct_geometry_check(g, NULL);
    if (s != HG_OK) {
        free(*angles);
        *angles = NULL;
    }
    return s;
}

hg_status hg_learned_ct_init(hg_learned_ct *c, hg_model *m)
{
    memset(c, 0, sizeof *c);
    ct_config cc;
    hg_status s = parse_config(&m->config, &cc);
    if (s == HG_OK)
        s = make_geometry(&cc, &c->g, &c->angles);
    if (s != HG_OK)
        return s;
    c->a = hg_ct_projector(&c->g);
    if (!c->a)
        return hg_error_status();
    const char *given = hg_metadata_get(&m->config, "op_scale");
    if (given) {
        s = hg_config_float(&m->config, "op_scale", &c->op_scale);
        if (s == HG_OK && !(c->op_scale > 0 && isfinite(c->op_scale)))
            s = hg_error(HG_ERR_INVALID, "config 'op_scale': expected a positive number, got %s",
                         given);
    } else {
        /* ||A|| by 100 power iterations (relative accuracy far below float noise here). */
        double norm = 0;
        s = hg_linop_norm(c->a, 100, 1234, &norm);
        if (s == HG_OK && !(norm > 0))
            s = hg_error(HG_ERR_NUMERIC, "learned model: projector norm is %g", norm);
        if (s == HG_OK) {
            c->op_scale = 1.0 / norm;
            char buf[64];
            snprintf(buf, sizeof buf, "%.9g", c->op_scale);
            s = hg_metadata_set(&m->config, "op_scale", buf);
        }
    }
    if (s == HG_OK) {
        c->a_scaled = hg_linop_scale(c->a, (float)c->op_scale);
        if (!c->a_scaled)
            s = hg_error_status();
    }
    return s;
}

void hg_learned_ct_free(hg_learned_ct *c)
{
    hg_linop_free(c->a_scaled);
    hg_linop_free(c->a);
    free(c->angles);
    memset(c, 0, sizeof *c);
}

hg_status hg_learned_ct_check_input(const hg_learned_ct *c, const char *arch, const hg_tensor *x)
{
    if (!x)
        return hg_error_status() ? hg_error_status() : HG_ERR_INVALID;
    if (x->dtype != HG_F32 || x->ndim != 4 || x->shape[1] != 1)
        return hg_error(HG_ERR_INVALID,
                        "%s: expected a real sinogram batch [N, 1, %d, %d], got %s with %d dims",
                        arch, c->g.n_angles, c->g.n_det, hg_tensor_label(x), x->ndim);
    if (x->shape[2] != c->g.n_angles)
        return hg_error(HG_ERR_INVALID, "%s: the model's geometry has %d angles, the sinogram %s "
                                      "has %lld",
                        arch, c->g.n_angles, hg_tensor_label(x), (long long)x->shape[2]);
    if (x->shape[3] != c->g.n_det)
        return hg_error(HG_ERR_INVALID, "%s: the model's geometry has %d detectors, the sinogram "
                                      "%s has %lld",
                        arch, c->g.n_det, hg_tensor_label(x), (long long)x->shape[3]);
    return HG_OK;
}

hg_status hg_learned_block_init(hg_learned_block *b, hg_params *p, const char *name, int cin,
                                int width, int cout, hg_rng *rng)
{
    const int ch[4] = {cin, width, width, cout};
    for (int i = 0; i < 3; i++) {
        char n[128];
        snprintf(n, sizeof n, "%s.conv%d", name, i);
        hg_status s = hg_conv_layer_init(&b->conv[i], p, n, 2, ch[i], ch[i + 1], 3, 1, 1, true,
                                         false, rng);
        if (s != HG_OK)
            return s;
        memset(b->conv[i].bias->data, 0, (size_t)b->conv[i].bias->numel * sizeof(float));
        if (i < 2)
            s = hg_init_xavier_uniform(b->conv[i].weight, 1.0, rng);
        else
            memset(b->conv[i].weight->data, 0, (size_t)b->conv[i].weight->numel * sizeof(float));
        if (s != HG_OK)
            return s;
        if (i < 2) {
            snprintf(n, sizeof n, "%s.prelu%d", name, i);
            b->alpha[i] = hg_params_add(p, n, true, 1, (const int64_t[]){width});
            if (!b->alpha[i])
                return hg_error_status() ? hg_error_status()
                                         : hg_error(HG_ERR_INVALID, "parameter %s exists", n);
        }
    }
    return HG_OK;
}

hg_tensor *hg_learned_block_forward(hg_ctx *ctx, const hg_learned_block *b, hg_tensor *x)
{
    x = hg_prelu(ctx, hg_conv_layer_forward(ctx, &b->conv[0], x), b->alpha[0]);
    x = hg_prelu(ctx, hg_conv_layer_forward(ctx, &b->conv[1], x), b->alpha[1]);
    return hg_conv_layer_forward(ctx, &b->conv[2], x);
}

/* ---- public: the geometry of a model --------------------------------------------------- */

hg_status hg_learned_geometry(const hg_model *m, hg_ct_geometry *g, float **angles)
{
    *angles = NULL;
    if (!hg_metadata_get(&m->config, "op_scale"))
        return hg_error(HG_ERR_INVALID, "model %s has no CT geometry in its config",
                        m->arch->name);
    ct_config cc;
    hg_status s = parse_config(&m->config, &cc);
    return s == HG_OK ? make_geometry(&cc, g, angles) : s;
}

static bool close_f(double a, double b) { return fabs(a - b) <= 1e-5 * fmax(1.0, fabs(b)); }

hg_status hg_learned_check_geometry(const hg_model *m, const hg_ct_geometry *d)
{
    hg_ct_geometry g;
    float *angles;
    hg_status s = hg_learned_geometry(m, &g, &angles);
    if (s != HG_OK)
        return s;
    const char *n = m->arch->name;
    if (d->kind != g.kind)
        s = hg_error(HG_ERR_INVALID, "%s: the model's geometry is %s, the data's %s", n,
                     hg_ct_kind_name(g.kind), hg_ct_kind_name(d->kind));
    else if (d->n_angles != g.n_angles)
        s = hg_error(HG_ERR_INVALID, "%s: the model's geometry has %d angles, the data's %d", n,
                     g.n_angles, d->n_angles);
    else if (d->n_det != g.n_det)
        s = hg_error(HG_ERR_INVALID, "%s: the model's geometry has %d detectors, the data's %d",
                     n, g.n_det, d->n_det);
    else if (d->nx != g.nx || d->ny != g.ny || d->nz != 1)
        s = hg_error(HG_ERR_INVALID, "%s: the model reconstructs %dx%d images, the data asks "
                                     "for %dx%dx%d", n, g.nx, g.ny, d->nx, d->ny, d->nz);
    else if (!close_f(d->dx, g.dx) || !close_f(d->dy, g.dy))
        s = hg_error(HG_ERR_INVALID, "%s: the model's pixel spacing is %g, the data's %gx%g", n,
                     g.dx, d->dx, d->dy);
    else if (!close_f(d->du, g.du) || !close_f(d->offset_u, 0))
        s = hg_error(HG_ERR_INVALID, "%s: the model's detector pitch is %g (offset 0), the "
                                     "data's %g (offset %g)", n, g.du, d->du, d->offset_u);
    else if (g.kind != HG_CT_PARALLEL && (!close_f(d->sod, g.sod) || !close_f(d->sdd, g.sdd)))
        s = hg_error(HG_ERR_INVALID, "%s: the model's source-isocentre / source-detector "
                                     "distances are %g / %g, the data's %g / %g", n, g.sod,
                     g.sdd, d->sod, d->sdd);
    for (int i = 0; s == HG_OK && i < g.n_angles; i++)
        if (fabs(d->angles[i] - g.angles[i]) > 1e-5)
            s = hg_error(HG_ERR_INVALID, "%s: view %d is at %.6f rad in the model's geometry, "
                                         "at %.6f rad in the data's", n, i, g.angles[i],
                         d->angles[i]);
    free(angles);
    return s;
}
