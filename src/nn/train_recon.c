/* The reconstruction training task of the learned-primal-dual ellipse experiment and of the
 * low-dose chest experiment (see include/hinge/learned.h): fresh phantoms every step drawn from the step's
 * rng (so a resumed run sees the same data), noisy sinograms from the model's own geometry,
 * MSE loss, validation PSNR on a fixed held-out set. */
#include "hinge/learned.h"
#include "hinge/metrics.h"
#include "learned_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LODOPAB_MU_MAX 81.35858 /* m⁻¹ */

const char *hg_recon_phantom_name(hg_recon_phantom p)
{
    return p == HG_RECON_CHEST ? "chest" : "ellipses";
}

hg_status hg_recon_phantom_parse(const char *name, hg_recon_phantom *out)
{
    if (strcmp(name, "ellipses") == 0)
        *out = HG_RECON_ELLIPSES;
    else if (strcmp(name, "chest") == 0)
        *out = HG_RECON_CHEST;
    else
        return hg_error(HG_ERR_INVALID, "recon phantom: expected 'ellipses' or 'chest', got '%s'",
                        name);
    return HG_OK;
}

hg_status hg_recon_protocol_check(const hg_recon_protocol *p)
{
    if (!(p->rel_noise >= 0) || !isfinite(p->rel_noise))
        return hg_error(HG_ERR_INVALID, "recon protocol: noise level must be >= 0, got %g",
                        (double)p->rel_noise);
    if (!(p->photons >= 0) || !isfinite(p->photons))
        return hg_error(HG_ERR_INVALID, "recon protocol: photons must be >= 0, got %g",
                        p->photons);
    if (!(p->width_m >= 0) || !(p->mean_ellipses >= 0))
        return hg_error(HG_ERR_INVALID, "recon protocol: field width and ellipse count must "
                                        "be >= 0, got %g m and %g", p->width_m, p->mean_ellipses);
    return HG_OK;
}

hg_status hg_recon_measure(const hg_ct_geometry *g, const hg_recon_protocol *p, hg_rng *rng,
                          float *sino)
{
    int64_t n = (int64_t)g->n_angles * g->n_det;
    if (p->photons > 0) {
        double width = p->width_m > 0 ? p->width_m : 0.26;
        double mu_scale = LODOPAB_MU_MAX * width / ((double)g->nx * g->dx);
        return hg_ct_noise_poisson(sino, n, p->photons, mu_scale, rng);
    }
    return p->rel_noise > 0 ? hg_ct_noise_gaussian(sino, n, p->rel_noise, rng) : HG_OK;
}

hg_status hg_recon_simulate(const hg_ct_geometry *g, const hg_linop *a, hg_rng *rng,
                            const hg_recon_protocol *p, float *image, float *sino)
{
    float scale = 0.5f * (float)g->nx * g->dx;
    bool chest = p->phantom == HG_RECON_CHEST;
    hg_ct_phantom *ph = chest ? hg_ct_phantom_random_chest(rng, scale)
                              : hg_ct_phantom_random_ellipses(
                                    rng, p->mean_ellipses > 0 ? p->mean_ellipses : 50, false,
                                    scale);
    if (!ph)
        return hg_error_status();
    /* Ellipses: rasterize then project with the same discrete operator, as the paper's ODL
     * code does. Chest: exact line integrals. */
    hg_status s = hg_ct_phantom_rasterize(ph, g, chest ? 4 : 1, image);
    if (s == HG_OK)
        s = chest ? hg_ct_phantom_project(ph, g, sino) : hg_linop_forward(a, image, sino);
    hg_ct_phantom_free(ph);
    return s == HG_OK ? hg_recon_measure(g, p, rng, sino) : s;
}

static hg_status simulate_batch(const hg_recon_task *t, hg_rng *rng, int64_t n, hg_tensor *x,
                                hg_tensor *y)
{
    int64_t ni = y->numel / n, ns = x->numel / n;
    for (int64_t i = 0; i < n; i++) {
        hg_status s = hg_recon_simulate(&t->geometry, t->projector, rng, &t->protocol,
                                        y->data + i * ni, x->data + i * ns);
        if (s != HG_OK)
            return hg_error_context(s, "recon task: phantom %lld", (long long)i);
    }
    return HG_OK;
}

hg_status hg_recon_task_init(hg_recon_task *t, const hg_model *m)
{
    if (t->batch <= 0) t->batch = 5;
    hg_status s = hg_recon_protocol_check(&t->protocol);
    if (s != HG_OK)
        return hg_error_context(s, "recon task");
    if (t->val_count < 0)
        return hg_error(HG_ERR_INVALID, "recon task: validation count must be >= 0, got %lld",
                        (long long)t->val_count);
    t->angles = NULL, t->projector = NULL, t->val_images = t->val_sinos = NULL;
    s = hg_learned_geometry(m, &t->geometry, &t->angles);
    if (s != HG_OK)
        return hg_error_context(s, "recon task");
    t->projector = hg_ct_projector(&t->geometry);
    if (!t->projector) {
        hg_recon_task_free(t);
        return hg_error_status();
    }
    if (t->val_count == 0)
        return HG_OK;
    const hg_ct_geometry *g = &t->geometry;
    t->val_images = hg_new(NULL, t->val_count, 1, g->ny, g->nx);
    t->val_sinos = hg_new(NULL, t->val_count, 1, g->n_angles, g->n_det);
    hg_rng rng = hg_rng_new(t->val_seed);
    s = t->val_images && t->val_sinos ? simulate_batch(t, &rng, t->val_count, t->val_sinos,
                                                       t->val_images)
                                      : hg_error_status();
    if (s != HG_OK)
        hg_recon_task_free(t);
    return s;
}

void hg_recon_task_free(hg_recon_task *t)
{
    hg_linop_free(t->projector);
    free(t->angles);
    hg_tensor_free(t->val_images);
    hg_tensor_free(t->val_sinos);
    t->projector = NULL, t->angles = NULL, t->val_images = t->val_sinos = NULL;
}

static hg_status recon_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                             hg_tensor **y)
{
    hg_recon_task *t = self;
    (void)step; /* the loop derives rng from (seed, step) */
    const hg_ct_geometry *g = &t->geometry;
    *x = hg_new(ctx, t->batch, 1, g->n_angles, g->n_det);
    *y = hg_new(ctx, t->batch, 1, g->ny, g->nx);
    if (!*x || !*y)
        return hg_error_status();
    return simulate_batch(t, rng, t->batch, *x, *y);
}

static hg_tensor *recon_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    (void)self;
    return hg_mse_loss(ctx, hg_model_forward(m, ctx, x), y);
}

hg_status hg_recon_quality(const float *pred, const float *target, int64_t n, double *psnr,
                           double *ssim)
{
    float lo = target[0], hi = target[0];
    for (int64_t i = 1; i < n * n; i++) {
        lo = fminf(lo, target[i]);
        hi = fmaxf(hi, target[i]);
    }
    double range = hi > lo ? (double)hi - lo : 1.0;
    hg_tensor p = hg_learned_square_view(pred, n), t = hg_learned_square_view(target, n);
    hg_status s = psnr ? hg_psnr(&p, &t, range, psnr) : HG_OK;
    if (s == HG_OK && ssim) {
        hg_ssim_opts o = {0};
        o.data_range = range;
        s = hg_ssim(&p, &t, &o, ssim);
    }
    return s;
}

hg_status hg_recon_evaluate(hg_model *m, const hg_tensor *sinos, const hg_tensor *images,
                            double *psnr, double *ssim)
{
    int64_t total = sinos->shape[0], side = images->shape[3];
    int64_t ns = sinos->numel / total, ni = images->numel / total;
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    double sum_p = 0, sum_s = 0;
    hg_status s = HG_OK;
    for (int64_t b = 0; b < total && s == HG_OK; b += 8) {
        int64_t nb = total - b < 8 ? total - b : 8;
        hg_ctx_reset(ctx);
        hg_tensor *x = hg_new(ctx, nb, 1, sinos->shape[2], sinos->shape[3]);
        if (x)
            memcpy(x->data, sinos->data + b * ns, (size_t)(nb * ns) * sizeof(float));
        hg_tensor *out = x ? hg_model_forward(m, ctx, x) : NULL;
        if (!out) {
            s = hg_error_status() ? hg_error_status() : HG_ERR_INVALID;
            break;
        }
        for (int64_t i = 0; i < nb && s == HG_OK; i++) {
            double p = 0, q = 0;
            s = hg_recon_quality(out->data + i * ni, images->data + (b + i) * ni, side, &p,
                                 ssim ? &q : NULL);
            sum_p += p, sum_s += q;
        }
    }
    hg_ctx_free(ctx);
    if (s == HG_OK) {
        if (psnr) *psnr = sum_p / (double)total;
        if (ssim) *ssim = sum_s / (double)total;
    }
    return s;
}

static hg_status recon_evaluate(void *self, hg_model *m, double *metric)
{
    hg_recon_task *t = self;
    return hg_recon_evaluate(m, t->val_sinos, t->val_images, metric, NULL);
}

hg_task hg_recon_task_make(hg_recon_task *t)
{
    hg_task task = {"reconstruction", "psnr", true, recon_batch, recon_loss,
                    t->val_count > 0 ? recon_evaluate : NULL, t};
    return task;
}
