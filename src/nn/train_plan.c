/* Segmentation training that follows a plan: cases resampled to the plan's spacing and
 * normalized once, patches with a foreground ratio and augmentation, Dice + cross-entropy
 * (the loss of the shapes task, src/nn/train_seg.c), validation by sliding-window Dice. */
#include "hinge/seg_metrics.h"
#include "hinge/seg_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Resamples and normalizes case c into the task's slot i (shapes for the plan's dims). */
static hg_status prepare_case(hg_plan_task *t, const hg_seg_case *c, int i)
{
    const hg_seg_plan *p = &t->plan;
    int64_t out[3];
    for (int a = 0; a < 3; a++)
        out[a] = hg_resample_size(c->label->shape[a], c->spacing[a], p->target_spacing[a]);
    if (p->dims == 2)
        out[0] = 1;
    hg_tensor *x = hg_resample(c->image, out, HG_INTERP_LINEAR);
    hg_tensor *y = x ? hg_resample(c->label, out, HG_INTERP_NEAREST) : NULL;
    hg_status s = y ? hg_seg_plan_normalize(p, x) : hg_error_status();
    if (s != HG_OK) {
        hg_tensor_free(x);
        hg_tensor_free(y);
        return hg_error_context(s, "case %s", c->name);
    }
    if (p->dims == 2) { /* [C, 1, H, W] -> [C, H, W] */
        x->ndim = 3, x->shape[1] = x->shape[2], x->shape[2] = x->shape[3];
        y->ndim = 2, y->shape[0] = y->shape[1], y->shape[1] = y->shape[2];
    }
    t->images[i] = x;
    t->labels[i] = y;
    snprintf(t->names[i], sizeof t->names[i], "%s", c->name);
    return HG_OK;
}

hg_status hg_plan_task_init(hg_plan_task *t, const hg_seg_dataset *ds, double val_fraction)
{
    const hg_seg_plan *p = &t->plan;
    if (ds->channels != p->channels || ds->classes > p->classes)
        return hg_error(HG_ERR_INVALID, "plan task: the plan is for %d channels and %d classes, "
                        "the data set has %d and %d", (int)p->channels, (int)p->classes,
                        (int)ds->channels, (int)ds->classes);
    if (p->dims == 2 && ds->ndim == 3)
        return hg_error(HG_ERR_UNSUPPORTED, "plan task: a 2-D plan on a 3-D data set (slice "
                        "sampling) is not implemented; plan with --dims 3");
    int n = ds->count;
    bool *val = calloc((size_t)n, sizeof *val);
    t->images = calloc((size_t)n, sizeof *t->images);
    t->labels = calloc((size_t)n, sizeof *t->labels);
    t->names = calloc((size_t)n, sizeof *t->names);
    if (!val || !t->images || !t->labels || !t->names) {
        free(val);
        hg_plan_task_free(t);
        return hg_error(HG_ERR_NOMEM, "plan task: out of memory for %d cases", n);
    }
    /* dataset.json's list, else every k-th case counted from the last */
    int k = val_fraction > 0 ? (int)lround(1.0 / val_fraction) : 0, nval = 0;
    for (int i = 0; i < n; i++) {
        val[i] = ds->validation_listed ? ds->cases[i].validation
                                       : k > 0 && (n - 1 - i) % k == 0;
        nval += val[i];
    }
    if (nval == n) /* keep at least one training case */
        val[0] = false, nval--;
    t->n_train = n - nval, t->n_val = nval;
    hg_status s = HG_OK;
    for (int i = 0, tr = 0, va = t->n_train; i < n && s == HG_OK; i++)
        s = prepare_case(t, &ds->cases[i], val[i] ? va++ : tr++);
    free(val);
    /* class voxel lists of the training cases, once: a patch draw is then O(patch) */
    if (s == HG_OK && !(t->index = calloc((size_t)t->n_train, sizeof *t->index)))
        s = hg_error(HG_ERR_NOMEM, "plan task: out of memory for %d case indices", t->n_train);
    for (int i = 0; i < t->n_train && s == HG_OK; i++)
        if ((s = hg_patch_index_build(t->labels[i], &t->index[i])) != HG_OK)
            s = hg_error_context(s, "case %s", t->names[i]);
    t->loss_task = (hg_seg_task){.dice_weight = 1, .ce_weight = 1};
    if (t->fg_ratio == 0)
        t->fg_ratio = 1.0f / 3.0f;
    if (s != HG_OK)
        hg_plan_task_free(t);
    return s;
}

void hg_plan_task_free(hg_plan_task *t)
{
    int n = t->n_train + t->n_val;
    for (int i = 0; i < n && t->images; i++) {
        hg_tensor_free(t->images[i]);
        hg_tensor_free(t->labels[i]);
        if (t->index && i < t->n_train)
            hg_patch_index_free(&t->index[i]);
    }
    free(t->index);
    t->index = NULL;
    free(t->images);
    free(t->labels);
    free(t->names);
    t->images = t->labels = NULL;
    t->names = NULL;
    t->n_train = t->n_val = 0;
}

static hg_status plan_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                            hg_tensor **y)
{
    (void)step;
    hg_plan_task *t = self;
    const hg_seg_plan *p = &t->plan;
    int nd = p->dims;
    const int64_t *patch = p->patch + 3 - nd;
    int64_t xs[5] = {p->batch, p->channels}, ys[4] = {p->batch};
    for (int a = 0; a < nd; a++)
        xs[2 + a] = ys[1 + a] = patch[a];
    hg_tensor *X = hg_tensor_new(ctx, HG_F32, nd + 2, xs);
    hg_tensor *Y = hg_tensor_new(ctx, HG_F32, nd + 1, ys);
    if (!X || !Y)
        return hg_error_status();
    int64_t per_x = X->numel / p->batch, per_y = Y->numel / p->batch;
    /* nnU-Net: the last round(B * ratio) samples are oversampled; here at least one */
    int64_t n_fg = t->fg_ratio > 0 ? llround(p->batch * (double)t->fg_ratio) : 0;
    if (t->fg_ratio > 0 && n_fg < 1)
        n_fg = 1;
    for (int64_t i = 0; i < p->batch; i++) {
        hg_rng r = hg_rng_split(rng, (uint64_t)i);
        int64_t c = (int64_t)hg_rng_below(&r, (uint64_t)t->n_train);
        /* views of sample i of the batch */
        hg_tensor xi = *X, yi = *Y;
        xi.data = X->data + i * per_x, xi.numel = per_x, xi.ndim = nd + 1;
        memmove(xi.shape, X->shape + 1, sizeof(int64_t) * (size_t)(nd + 1));
        yi.data = Y->data + i * per_y, yi.numel = per_y, yi.ndim = nd;
        memmove(yi.shape, Y->shape + 1, sizeof(int64_t) * (size_t)nd);
        xi.node = yi.node = NULL, xi.grad = yi.grad = NULL;
        float fg = i >= p->batch - n_fg ? 1.0f : 0.0f;
        hg_status s = hg_patch_sample_indexed(t->images[c], t->labels[c], &t->index[c], nd,
                                              patch, fg, t->fg_sampling, hg_rng_split(&r, 0),
                                              &xi, &yi);
        if (s == HG_OK && t->augment)
            s = hg_augment(t->augment, nd, hg_rng_split(&r, 1), &xi, &yi, ctx);
        if (s != HG_OK)
            return hg_error_context(s, "case %s", t->names[c]);
    }
    *x = X;
    *y = Y;
    return HG_OK;
}

static hg_tensor *plan_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    hg_plan_task *t = self;
    hg_task base = hg_seg_task_make(&t->loss_task);
    return base.loss(base.self, m, ctx, x, y);
}

/* Mean foreground Dice of one validation case (argmax of the sliding-window logits). */
static hg_status case_dice(hg_plan_task *t, hg_model *m, int i, hg_ctx *ctx, double *sum,
                           int64_t *terms)
{
    const hg_seg_plan *p = &t->plan;
    int nd = p->dims;
    hg_tensor xv = *t->images[i];
    xv.ndim = nd + 2;
    memmove(xv.shape + 1, t->images[i]->shape, sizeof(int64_t) * (size_t)(nd + 1));
    xv.shape[0] = 1;
    hg_sliding_window_opts sw = {.overlap = 0.5};
    for (int a = 0; a < nd; a++)
        sw.window[a] = p->patch[3 - nd + a];
    hg_tensor *logits = hg_sliding_window(m, &xv, nd, &sw, ctx);
    if (!logits)
        return hg_error_context(hg_error_status(), "validation case %s", t->names[i]);
    const hg_tensor *yl = t->labels[i];
    int64_t K = logits->shape[1], n = yl->numel;
    hg_tensor *pred = hg_tensor_empty(NULL, HG_F32, yl->ndim, yl->shape);
    double dice[HG_SEG_MAX_CLASSES];
    hg_status s = pred ? HG_OK : hg_error_status();
    if (s == HG_OK && K > HG_SEG_MAX_CLASSES)
        s = hg_error(HG_ERR_INVALID, "validation: %lld classes, at most %d", (long long)K,
                     HG_SEG_MAX_CLASSES);
    for (int64_t v = 0; s == HG_OK && v < n; v++) {
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (logits->data[k * n + v] > logits->data[best * n + v])
                best = k;
        pred->data[v] = (float)best;
    }
    if (s == HG_OK && (s = hg_dice_multiclass(pred, yl, (int32_t)K, dice)) == HG_OK)
        for (int64_t k = 1; k < K; k++, (*terms)++)
            *sum += dice[k];
    hg_tensor_free(pred);
    hg_tensor_free(logits);
    return s;
}

static hg_status plan_eval(void *self, hg_model *m, double *metric)
{
    hg_plan_task *t = self;
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    double sum = 0;
    int64_t terms = 0;
    hg_status s = HG_OK;
    for (int i = t->n_train; i < t->n_train + t->n_val && s == HG_OK; i++)
        s = case_dice(t, m, i, ctx, &sum, &terms);
    hg_ctx_free(ctx);
    if (s == HG_OK)
        *metric = terms ? sum / (double)terms : NAN;
    return s;
}

hg_task hg_plan_task_make(hg_plan_task *t)
{
    hg_task task = {"segmentation (plan)", "dice", true, plan_batch, plan_loss,
                    t->n_val > 0 ? plan_eval : NULL, t};
    return task;
}
