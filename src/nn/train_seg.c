/* Segmentation training task on the synthetic shapes: patches with a foreground ratio,
 * augmentation, soft Dice + cross-entropy; validation by mean foreground Dice. */
#include "hinge/ops.h"
#include "hinge/seg_metrics.h"
#include "hinge/segment.h"

#include <math.h>
#include <string.h>

/* A view of sample i of a batch tensor [N, ...] as [...] (or [1, ...] with keep_one). */
static hg_tensor view(const hg_tensor *t, int64_t i, bool keep_one)
{
    hg_tensor v = *t;
    int64_t per = t->numel / t->shape[0];
    v.data = t->data + i * per;
    v.grad = NULL;
    v.node = NULL;
    v.requires_grad = false;
    v.numel = per;
    if (keep_one) {
        v.shape[0] = 1;
    } else {
        v.ndim = t->ndim - 1;
        memmove(v.shape, t->shape + 1, sizeof(int64_t) * (size_t)v.ndim);
    }
    return v;
}

static hg_status seg_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                           hg_tensor **y)
{
    hg_seg_task *t = self;
    const hg_shapes_opts *o = &t->shapes;
    int nd = o->ndim;
    if (t->batch < 1 || t->train_samples < 1)
        return hg_error(HG_ERR_INVALID, "seg task: batch %lld and train_samples %lld must be "
                        ">= 1", (long long)t->batch, (long long)t->train_samples);
    bool whole = t->patch[0] == 0;
    int64_t xs[5] = {t->batch, 1}, ys[4] = {t->batch};
    for (int a = 0; a < nd; a++)
        xs[2 + a] = ys[1 + a] = whole ? o->size[a] : t->patch[a];
    hg_tensor *X = hg_tensor_new(ctx, HG_F32, nd + 2, xs);
    hg_tensor *Y = hg_tensor_new(ctx, HG_F32, nd + 1, ys);
    if (!X || !Y)
        return hg_error_status();
    for (int64_t i = 0; i < t->batch; i++) {
        int64_t idx = (step * t->batch + i) % t->train_samples;
        hg_tensor *img, *lab;
        hg_status s = hg_shapes_batch(o, t->data_seed, idx, 1, ctx, &img, &lab);
        if (s)
            return s;
        hg_tensor im = view(img, 0, false), lb = view(lab, 0, false);
        hg_tensor xi = view(X, i, false), yi = view(Y, i, false);
        hg_rng r = hg_rng_split(rng, (uint64_t)i);
        if (whole) {
            memcpy(xi.data, im.data, sizeof(float) * (size_t)xi.numel);
            memcpy(yi.data, lb.data, sizeof(float) * (size_t)yi.numel);
        } else if ((s = hg_patch_sample(&im, &lb, nd, t->patch, t->fg_ratio,
                                        hg_rng_split(&r, 0), &xi, &yi))) {
            return s;
        }
        if (t->augment && (s = hg_augment(t->augment, nd, hg_rng_split(&r, 1), &xi, &yi, ctx)))
            return s;
    }
    *x = X;
    *y = Y;
    return HG_OK;
}

static hg_tensor *seg_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    hg_seg_task *t = self;
    return hg_seg_loss(ctx, m, x, y, t->dice_weight, t->ce_weight); /* deep supervision aware */
}

hg_status hg_seg_evaluate(hg_model *m, const hg_tensor *x, const hg_tensor *y, int ndim,
                          double *mean_dice)
{
    if (!m || !x || !y || !mean_dice || x->ndim != ndim + 2 || y->ndim != ndim + 1 ||
        x->shape[0] != y->shape[0])
        return hg_error(HG_ERR_INVALID, "seg_evaluate: expected x [N, C, S] and y [N, S] with "
                        "%d spatial dims", ndim);
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    double sum = 0;
    int64_t terms = 0;
    hg_status s = HG_OK;
    for (int64_t i = 0; i < x->shape[0] && !s; i++) {
        hg_ctx_reset(ctx);
        hg_tensor xi = view(x, i, true), yi = view(y, i, false);
        hg_tensor *logits = hg_model_forward(m, ctx, &xi);
        if (!logits) {
            s = hg_error_status();
            break;
        }
        int64_t K = logits->shape[1], n = yi.numel;
        hg_tensor *pred = hg_tensor_like(ctx, &yi);
        double *dice = hg_ctx_alloc(ctx, sizeof(double) * (size_t)K);
        if (!pred || !dice) {
            s = hg_error_status();
            break;
        }
        for (int64_t v = 0; v < n; v++) {
            int64_t best = 0;
            for (int64_t k = 1; k < K; k++)
                if (logits->data[k * n + v] > logits->data[best * n + v])
                    best = k;
            pred->data[v] = (float)best;
        }
        if ((s = hg_dice_multiclass(pred, &yi, (int32_t)K, dice)))
            break;
        for (int64_t k = 1; k < K; k++, terms++)
            sum += dice[k];
    }
    hg_ctx_free(ctx);
    if (!s)
        *mean_dice = terms ? sum / (double)terms : NAN;
    return s;
}

static hg_status seg_eval(void *self, hg_model *m, double *metric)
{
    hg_seg_task *t = self;
    hg_tensor *x, *y;
    hg_status s = hg_shapes_batch(&t->shapes, t->data_seed + 1, 0, t->val_samples, NULL, &x, &y);
    if (s)
        return s;
    s = hg_seg_evaluate(m, x, y, t->shapes.ndim, metric);
    hg_tensor_free(x);
    hg_tensor_free(y);
    return s;
}

hg_task hg_seg_task_make(hg_seg_task *t)
{
    hg_task task = {"segmentation", "dice", true, seg_batch, seg_loss,
                    t->val_samples > 0 ? seg_eval : NULL, t};
    return task;
}
