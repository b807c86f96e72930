/* Lesion detection and segmentation tasks on fresh synthetic-lesion samples (see
 * include/hinge/lesion.h). */
#include "hinge/lesion.h"
#include "hinge/seg_metrics.h"
#include "hinge/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static hg_status lesion_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                              hg_tensor **y)
{
    hg_lesion_task *t = self;
    (void)rng; /* samples are indexed by (data_seed, step * batch + i) */
    if (t->batch < 1)
        return hg_error(HG_ERR_INVALID, "lesion task: batch %lld must be >= 1",
                        (long long)t->batch);
    return t->segmentation
               ? hg_lesion_batch(&t->opts, t->src, false, t->data_seed, step * t->batch,
                                 t->batch, ctx, x, NULL, y)
               : hg_lesion_batch(&t->opts, t->src, false, t->data_seed, step * t->batch,
                                 t->batch, ctx, x, y, NULL);
}

static hg_tensor *lesion_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    hg_lesion_task *t = self;
    if (t->segmentation)
        return hg_seg_loss(ctx, m, x, y, 1.0f, 1.0f);
    return hg_cross_entropy(ctx, hg_model_forward(m, ctx, x), y, NULL, -100);
}

hg_status hg_classifier_scores(hg_model *m, const hg_tensor *x, float *score)
{
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    int64_t n = x->shape[0], per = x->numel / n;
    hg_status s = HG_OK;
    for (int64_t b = 0; b < n && s == HG_OK; b += 64) {
        hg_ctx_reset(ctx);
        hg_tensor xb = *x;
        xb.shape[0] = n - b < 64 ? n - b : 64;
        xb.numel = xb.shape[0] * per;
        xb.data = x->data + b * per;
        xb.grad = NULL, xb.node = NULL, xb.requires_grad = false;
        hg_tensor *p = hg_softmax(ctx, hg_model_forward(m, ctx, &xb), 1);
        if (!p) {
            s = hg_error_status();
            break;
        }
        if (p->ndim != 2 || p->shape[1] != 2) {
            char got[96];
            s = hg_error(HG_ERR_INVALID, "classifier scores: the model gave %s, expected [N, 2] "
                         "(two classes)", hg_shape_str(p, got, sizeof got));
            break;
        }
        for (int64_t i = 0; i < xb.shape[0]; i++)
            score[b + i] = p->data[2 * i + 1];
    }
    hg_ctx_free(ctx);
    return s;
}

static hg_status eval_auc(hg_model *m, hg_tensor *x, hg_tensor *label, double *metric)
{
    float *score = malloc((size_t)x->shape[0] * sizeof *score);
    if (!score)
        return hg_error(HG_ERR_NOMEM, "lesion evaluation: no memory");
    hg_status s = hg_classifier_scores(m, x, score);
    if (s == HG_OK)
        s = hg_roc_auc(score, label->data, x->shape[0], metric);
    free(score);
    return s;
}

/* Mean lesion Dice over the samples with a lesion. */
static hg_status eval_dice(hg_model *m, hg_tensor *x, hg_tensor *label, hg_tensor *mask,
                           double *metric)
{
    int64_t n = x->shape[0], pos = 0, per_x = x->numel / n, per_m = mask->numel / n;
    for (int64_t i = 0; i < n; i++)
        if (label->data[i] > 0) { /* compact the positives to the front */
            memmove(x->data + pos * per_x, x->data + i * per_x, (size_t)per_x * sizeof(float));
            memmove(mask->data + pos * per_m, mask->data + i * per_m,
                    (size_t)per_m * sizeof(float));
            pos++;
        }
    if (pos == 0)
        return hg_error(HG_ERR_INVALID, "lesion evaluation: no held-out sample has a lesion");
    x->shape[0] = mask->shape[0] = pos;
    x->numel = pos * per_x, mask->numel = pos * per_m;
    return hg_seg_evaluate(m, x, mask, 2, metric);
}

static hg_status lesion_evaluate(void *self, hg_model *m, double *metric)
{
    hg_lesion_task *t = self;
    hg_tensor *x = NULL, *label = NULL, *mask = NULL;
    hg_status s = hg_lesion_batch(&t->opts, t->src, true, t->data_seed + 1, 0, t->val_count,
                                  NULL, &x, &label, &mask);
    if (s == HG_OK)
        s = t->segmentation ? eval_dice(m, x, label, mask, metric)
                            : eval_auc(m, x, label, metric);
    hg_tensor_free(x), hg_tensor_free(label), hg_tensor_free(mask);
    return s;
}

hg_task hg_lesion_task_make(hg_lesion_task *t)
{
    hg_task task = {t->segmentation ? "lesion segmentation" : "lesion detection",
                    t->segmentation ? "dice" : "auc", true, lesion_batch, lesion_loss,
                    t->val_count > 0 ? lesion_evaluate : NULL, t};
    return task;
}
