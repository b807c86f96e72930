/* The multi-coil MRI training task (include/hinge/mri_learned.h): every sample of every step
 * draws an image (random left-right flip), a mask of the model's kind and the noise from the
 * step's rng, so a resumed run sees the same data; MSE on the magnitude image; validation
 * PSNR on fixed held-out acquisitions. */
#include "hinge/metrics.h"
#include "hinge/mri_learned.h"
#include "learned_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* k-space of image (real [n, n]) with a mask of the task's geometry, all draws from rng. */
static hg_status simulate(const hg_mri_task *t, const float *image, hg_rng *rng, float *lines,
                          float *kspace)
{
    hg_status s = hg_mri_geometry_mask(&t->geometry, rng, lines);
    return s == HG_OK ? hg_mri_simulate_kspace(t->fft, image, t->sens, lines, t->noise, rng, kspace)
                      : s;
}

static hg_status check_images(const char *what, const hg_tensor *x, int64_t n)
{
    if (x->dtype != HG_F32 || x->ndim != 3 || x->shape[1] != n || x->shape[2] != n ||
        x->shape[0] < 1) {
        char s[96];
        return hg_error(HG_ERR_INVALID, "mri task: %s images %s must be real [S, %lld, %lld] "
                        "(the model's size)", what, hg_shape_str(x, s, sizeof s), (long long)n,
                        (long long)n);
    }
    return HG_OK;
}

hg_status hg_mri_task_init(hg_mri_task *t, const hg_model *m)
{
    t->sens = NULL, t->fft = NULL, t->val_kspace = NULL;
    if (t->batch <= 0) t->batch = 1;
    if (!(t->noise >= 0))
        return hg_error(HG_ERR_INVALID, "mri task: noise must be >= 0, got %g", t->noise);
    hg_status s = hg_mri_model_geometry(m, &t->geometry);
    if (s != HG_OK)
        return hg_error_context(s, "mri task");
    int64_t n = t->geometry.size, c = t->geometry.coils;
    if (!t->train_images)
        return hg_error(HG_ERR_INVALID, "mri task: no training images");
    s = check_images("training", t->train_images, n);
    if (s == HG_OK && t->val_images)
        s = check_images("validation", t->val_images, n);
    if (s != HG_OK)
        return s;
    t->sens = hg_mri_coils_sim(NULL, 2, (const int64_t[]){n, n}, (int)c, NULL);
    t->fft = t->sens ? hg_linop_fft(3, (const int64_t[]){c, n, n}, 2) : NULL;
    if (!t->fft) {
        hg_mri_task_free(t);
        return hg_error_status();
    }
    if (!t->val_images)
        return HG_OK;
    int64_t v = t->val_images->shape[0];
    t->val_kspace = hg_tensor_new(NULL, HG_C64, 4, (const int64_t[]){v, c, n, n});
    float *lines = malloc((size_t)n * sizeof *lines);
    s = t->val_kspace && lines ? HG_OK : hg_error(HG_ERR_NOMEM, "mri task: out of memory");
    hg_rng base = hg_rng_new(t->val_seed);
    for (int64_t i = 0; s == HG_OK && i < v; i++) {
        hg_rng rng = hg_rng_split(&base, (uint64_t)i);
        s = simulate(t, t->val_images->data + i * n * n, &rng, lines,
                     t->val_kspace->data + 2 * i * c * n * n);
    }
    free(lines);
    if (s != HG_OK)
        hg_mri_task_free(t);
    return s;
}

void hg_mri_task_free(hg_mri_task *t)
{
    hg_tensor_free(t->sens);
    hg_linop_free(t->fft);
    hg_tensor_free(t->val_kspace);
    t->sens = NULL, t->fft = NULL, t->val_kspace = NULL;
}

static hg_status mri_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                           hg_tensor **y)
{
    hg_mri_task *t = self;
    (void)step; /* the loop derives rng from (seed, step) */
    int64_t n = t->geometry.size, c = t->geometry.coils, np = n * n, nb = t->batch;
    *x = hg_tensor_new(ctx, HG_C64, 4, (const int64_t[]){nb, c, n, n});
    *y = hg_new(ctx, nb, 1, n, n);
    float *lines = hg_ctx_alloc(ctx, (size_t)n * sizeof *lines);
    if (!*x || !*y || !lines)
        return hg_error_status();
    for (int64_t b = 0; b < nb; b++) {
        const hg_tensor *src = t->train_images;
        const float *img = src->data + (int64_t)hg_rng_below(rng, (uint64_t)src->shape[0]) * np;
        float *dst = (*y)->data + b * np;
        bool flip = hg_rng_u32(rng) & 1u;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                dst[i * n + j] = img[i * n + (flip ? n - 1 - j : j)];
        hg_status s = simulate(t, dst, rng, lines, (*x)->data + 2 * b * c * np);
        if (s != HG_OK)
            return hg_error_context(s, "mri task: sample %lld", (long long)b);
    }
    return HG_OK;
}

static hg_tensor *mri_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    (void)self;
    return hg_mse_loss(ctx, hg_model_forward(m, ctx, x), y);
}

/* PSNR (data range = the target's maximum), SSIM and NMSE of one [n, n] pair. */
static hg_status quality(const float *pred, const float *target, int64_t n, double *psnr,
                         double *ssim, double *nmse)
{
    float hi = 0;
    for (int64_t i = 0; i < n * n; i++)
        hi = fmaxf(hi, target[i]);
    hg_tensor p = hg_learned_square_view(pred, n), t = hg_learned_square_view(target, n);
    double range = hi > 0 ? hi : 1;
    hg_status s = hg_psnr(&p, &t, range, psnr);
    hg_ssim_opts o = {0};
    o.data_range = range;
    if (s == HG_OK)
        s = hg_ssim(&p, &t, &o, ssim);
    if (s == HG_OK)
        s = hg_nmse(&p, &t, nmse);
    return s;
}

hg_status hg_mri_evaluate(hg_model *m, const hg_tensor *kspace, const hg_tensor *images,
                          double *psnr, double *ssim, double *nmse)
{
    int64_t total = kspace->shape[0], n = images->shape[2];
    int64_t per = hg_tensor_nfloats(kspace) / total;
    if (images->shape[0] != total)
        return hg_error(HG_ERR_INVALID, "mri evaluate: %lld acquisitions, %lld images",
                        (long long)total, (long long)images->shape[0]);
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    double sp = 0, ss = 0, sn = 0;
    hg_status s = HG_OK;
    for (int64_t b = 0; b < total && s == HG_OK; b += 4) {
        int64_t nb = total - b < 4 ? total - b : 4;
        hg_ctx_reset(ctx);
        int64_t shape[4] = {nb, kspace->shape[1], kspace->shape[2], kspace->shape[3]};
        hg_tensor *x = hg_tensor_empty(ctx, HG_C64, 4, shape);
        if (x)
            memcpy(x->data, kspace->data + b * per, (size_t)(nb * per) * sizeof(float));
        hg_tensor *out = x ? hg_model_forward(m, ctx, x) : NULL;
        if (!out) {
            s = hg_error_status() ? hg_error_status() : HG_ERR_INVALID;
            break;
        }
        for (int64_t i = 0; i < nb && s == HG_OK; i++) {
            double p, q, r;
            s = quality(out->data + i * n * n, images->data + (b + i) * n * n, n, &p, &q, &r);
            sp += p, ss += q, sn += r;
        }
    }
    hg_ctx_free(ctx);
    if (s == HG_OK) {
        if (psnr) *psnr = sp / (double)total;
        if (ssim) *ssim = ss / (double)total;
        if (nmse) *nmse = sn / (double)total;
    }
    return s;
}

static hg_status mri_evaluate(void *self, hg_model *m, double *metric)
{
    hg_mri_task *t = self;
    return hg_mri_evaluate(m, t->val_kspace, t->val_images, metric, NULL, NULL);
}

hg_task hg_mri_task_make(hg_mri_task *t)
{
    hg_task task = {"mri reconstruction", "psnr", true, mri_batch, mri_loss,
                    t->val_kspace ? mri_evaluate : NULL, t};
    return task;
}
