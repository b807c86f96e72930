/* The generic training loop (see include/hinge/train.h). */
#include "hinge/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void hg_train_opts_defaults(hg_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 1000;
    o->optimizer = HG_OPTIM_ADAM;
    o->lr = 1e-3;
    o->schedule.kind = HG_SCHED_CONSTANT;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static hg_optim *make_optimizer(hg_model *m, const hg_train_opts *o)
{
    if (o->optimizer == HG_OPTIM_SGD) {
        hg_sgd_opts s = hg_sgd_defaults();
        s.lr = o->lr;
        s.momentum = o->momentum > 0 ? o->momentum : 0.9;
        s.weight_decay = o->weight_decay > 0 ? o->weight_decay : 0;
        return hg_optim_sgd(&m->params, &s);
    }
    hg_adam_opts a = o->optimizer == HG_OPTIM_ADAMW ? hg_adamw_defaults() : hg_adam_defaults();
    a.lr = o->lr;
    if (o->beta2 > 0)
        a.beta2 = o->beta2;
    if (o->weight_decay >= 0 && !(o->optimizer == HG_OPTIM_ADAMW && o->weight_decay == 0))
        a.weight_decay = o->weight_decay;
    return o->optimizer == HG_OPTIM_ADAMW ? hg_optim_adamw(&m->params, &a)
                                          : hg_optim_adam(&m->params, &a);
}

/* The checkpoint carries the model config and the run's record so far: training seconds
 * over every process that worked on it, and the last validation metric. A run resumed from it
 * (also one resumed at its last step, which trains nothing) reports the whole run. */
static hg_status save_checkpoint(const hg_train_opts *o, hg_model *m, hg_optim *opt,
                                 const hg_train_state *st, double seconds, double metric)
{
    hg_metadata meta;
    hg_metadata_init(&meta);
    hg_status s = HG_OK;
    for (int32_t i = 0; s == HG_OK && i < m->config.count; i++)
        s = hg_metadata_set(&meta, m->config.keys[i], m->config.values[i]);
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", seconds);
    if (s == HG_OK)
        s = hg_metadata_set(&meta, "train.seconds", buf);
    snprintf(buf, sizeof buf, "%.17g", metric);
    if (s == HG_OK && isfinite(metric))
        s = hg_metadata_set(&meta, "train.metric", buf);
    if (s == HG_OK)
        s = hg_checkpoint_save(o->checkpoint, &m->params, opt, st, &meta);
    hg_metadata_free(&meta);
    return s;
}

/* The record a checkpoint carries (0 s and NaN when it has none: older checkpoints). */
static void checkpoint_record(const hg_metadata *meta, double *seconds, double *metric)
{
    const char *sec = hg_metadata_get(meta, "train.seconds");
    const char *met = hg_metadata_get(meta, "train.metric");
    *seconds = sec ? strtod(sec, NULL) : 0.0;
    *metric = met ? strtod(met, NULL) : NAN;
    if (!isfinite(*seconds) || *seconds < 0)
        *seconds = 0.0;
}

/* This rank's rows of a global batch tensor (a copy in ctx). */
static hg_status shard_rows(hg_ctx *ctx, const hg_train_dist *d, hg_tensor **t)
{
    hg_tensor *g = *t;
    if (!g || g->ndim < 1 || g->shape[0] % d->world != 0)
        return hg_error(HG_ERR_INVALID, "train: a global batch of %lld rows cannot be split "
                        "evenly over %d ranks", g && g->ndim ? (long long)g->shape[0] : 0LL,
                        d->world);
    int64_t shape[8];
    memcpy(shape, g->shape, (size_t)g->ndim * sizeof *shape);
    shape[0] /= d->world;
    hg_tensor *s = hg_tensor_empty(ctx, g->dtype, g->ndim, shape);
    if (!s)
        return hg_error_status();
    size_t bytes = (size_t)hg_tensor_nfloats(s) * sizeof(float);
    memcpy(s->data, g->data + (size_t)hg_tensor_nfloats(s) * (size_t)d->rank, bytes);
    *t = s;
    return HG_OK;
}

hg_status hg_train(hg_model *m, const hg_task *task, const hg_train_opts *o,
                   hg_train_result *result)
{
    if (o->steps <= 0)
        return hg_error(HG_ERR_INVALID, "train: steps must be positive, got %lld",
                        (long long)o->steps);
    if (!(o->lr > 0))
        return hg_error(HG_ERR_INVALID, "train: learning rate must be positive, got %g", o->lr);
    if (o->resume && !o->checkpoint)
        return hg_error(HG_ERR_INVALID, "train: --resume needs a checkpoint path");
    hg_schedule sched = o->schedule;
    sched.base_lr = o->lr;
    if (sched.decay_steps <= 0)
        sched.decay_steps = o->steps - sched.warmup_steps > 0 ? o->steps - sched.warmup_steps : 1;
    if (sched.kind == HG_SCHED_STEP && sched.step_size <= 0)
        sched.step_size = o->steps / 3 > 0 ? o->steps / 3 : 1;
    if (sched.kind == HG_SCHED_STEP && sched.gamma <= 0)
        sched.gamma = 0.1;
    hg_status s = hg_schedule_check(&sched);
    if (s != HG_OK)
        return hg_error_context(s, "train: schedule");
    hg_optim *opt = make_optimizer(m, o);
    if (!opt)
        return hg_error_context(hg_error_status(), "train: optimizer");
    hg_train_state state = {0, hg_rng_new(o->seed)};
    double prior_seconds = 0.0, metric = NAN;
    if (o->resume) {
        hg_metadata record;
        hg_metadata_init(&record);
        s = hg_checkpoint_load(o->checkpoint, &m->params, opt, &state, &record);
        checkpoint_record(&record, &prior_seconds, &metric);
        hg_metadata_free(&record);
        if (s != HG_OK) {
            hg_optim_free(opt);
            return hg_error_context(s, "train: resume");
        }
    }
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx) {
        hg_optim_free(opt);
        return hg_error_status();
    }
    /* backward frees each intermediate after its last use: the step's memory peaks near the
     * forward activations (the loss value is read before backward) */
    hg_tape_set_release(ctx, true);
    double t0 = now_seconds();
    double loss_value = NAN;
    hg_rng base = hg_rng_new(o->seed);
    while (s == HG_OK && state.step < o->steps) {
        int64_t step = state.step;
        hg_ctx_reset(ctx);
        hg_ctx_set_training(ctx, true);
        hg_ctx_set_grad(ctx, true);
        hg_rng data_rng = hg_rng_split(&base, 2 * (uint64_t)step);
        hg_rng layer_rng = hg_rng_split(&base, 2 * (uint64_t)step + 1);
        bool sharded = o->dist && o->dist->world > 1;
        hg_ctx_set_rng(ctx, sharded ? hg_rng_split(&layer_rng, (uint64_t)o->dist->rank)
                                    : layer_rng);
        hg_tensor *x = NULL, *y = NULL;
        s = task->batch(task->self, step, &data_rng, ctx, &x, &y);
        if (s == HG_OK && sharded)
            s = shard_rows(ctx, o->dist, &x);
        if (s == HG_OK && sharded)
            s = shard_rows(ctx, o->dist, &y);
        hg_tensor *loss = s == HG_OK ? task->loss(task->self, m, ctx, x, y) : NULL;
        if (!loss) {
            s = hg_error_context(hg_error_status() ? hg_error_status() : HG_ERR_INVALID,
                                 "train step %lld", (long long)step);
            break;
        }
        loss_value = loss->data[0];
        if (!isfinite(loss_value)) {
            s = hg_error(HG_ERR_NUMERIC,
                         "train step %lld: loss is %g; stopped (the last checkpoint%s%s is kept)",
                         (long long)step, loss_value, o->checkpoint ? " " : "",
                         o->checkpoint ? o->checkpoint : "");
            break;
        }
        hg_params_zero_grad(&m->params);
        if (o->dist && o->dist->before_backward)
            s = o->dist->before_backward(o->dist->user, ctx, step);
        if (s == HG_OK)
            s = hg_backward(ctx, loss);
        if (s == HG_OK && o->dist && o->dist->after_backward)
            s = o->dist->after_backward(o->dist->user, &m->params, step, &loss_value);
        if (s == HG_OK)
            s = o->clip > 0 ? hg_clip_grad_norm(&m->params, o->clip, 2.0, NULL)
                            : hg_grads_check_finite(&m->params);
        if (s == HG_OK)
            s = hg_optim_set_lr(opt, hg_schedule_lr(&sched, step));
        if (s == HG_OK)
            s = hg_optim_step(opt);
        if (s != HG_OK) {
            hg_error_context(s, "train step %lld", (long long)step);
            break;
        }
        state.step++;
        if (o->dist && o->dist->after_step &&
            (s = o->dist->after_step(o->dist->user, &m->params, state.step)) != HG_OK)
            break;
        hg_train_event ev = {state.step, o->steps, loss_value, hg_optim_lr(opt), false, NAN,
                             false};
        bool last = state.step == o->steps;
        if (task->evaluate && ((o->eval_every > 0 && state.step % o->eval_every == 0) || last)) {
            s = task->evaluate(task->self, m, &metric);
            ev.evaluated = s == HG_OK;
            ev.metric = metric;
        }
        if (s == HG_OK && o->checkpoint && (!o->dist || o->dist->rank == 0) &&
            ((o->checkpoint_every > 0 && state.step % o->checkpoint_every == 0) || last)) {
            s = save_checkpoint(o, m, opt, &state, prior_seconds + now_seconds() - t0, metric);
            ev.checkpointed = s == HG_OK;
        }
        if (o->on_event)
            o->on_event(&ev, o->user);
    }
    if (result) {
        result->steps_done = state.step;
        result->final_loss = loss_value;
        result->metric = metric; /* the last validation, possibly from before a resume */
        result->seconds = prior_seconds + now_seconds() - t0;
    }
    hg_ctx_free(ctx);
    hg_optim_free(opt);
    return s;
}

/* ---- classification -------------------------------------------------------------------- */

static hg_status cls_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                           hg_tensor **y)
{
    hg_classification_task *t = self;
    int64_t n = t->train->images->shape[0];
    int64_t per_epoch = n / t->batch;
    if (per_epoch <= 0)
        return hg_error(HG_ERR_INVALID, "batch size %lld is larger than the data set (%lld)",
                        (long long)t->batch, (long long)n);
    (void)rng;
    /* The epoch's permutation depends only on (epoch): shuffle with a per-epoch stream. */
    int64_t epoch = step / per_epoch, at = step % per_epoch;
    int64_t *perm = hg_ctx_alloc(ctx, (size_t)n * sizeof *perm);
    if (!perm)
        return hg_error_status();
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    hg_rng er = hg_rng_new(0x5eed0000u + (uint64_t)epoch);
    hg_rng_shuffle(&er, perm, n);
    return hg_labelled_images_batch(t->train, perm + at * t->batch, t->batch, ctx, x, y);
}

static hg_tensor *cls_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    (void)self;
    return hg_cross_entropy(ctx, hg_model_forward(m, ctx, x), y, NULL, -100);
}

hg_status hg_classifier_evaluate(hg_model *m, const hg_labelled_images *d, double *accuracy,
                                 double *loss)
{
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        return hg_error_status();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    int64_t n = d->images->shape[0], correct = 0;
    double total_loss = 0;
    hg_status s = HG_OK;
    int64_t idx[256];
    for (int64_t b = 0; b < n && s == HG_OK; b += 256) {
        int64_t nb = n - b < 256 ? n - b : 256;
        for (int64_t i = 0; i < nb; i++)
            idx[i] = b + i;
        hg_ctx_reset(ctx);
        hg_tensor *x, *y;
        s = hg_labelled_images_batch(d, idx, nb, ctx, &x, &y);
        hg_tensor *logits = s == HG_OK ? hg_model_forward(m, ctx, x) : NULL;
        hg_tensor *l = hg_cross_entropy(ctx, logits, y, NULL, -100);
        if (!l) {
            s = hg_error_status() ? hg_error_status() : HG_ERR_INVALID;
            break;
        }
        total_loss += l->data[0] * (double)nb;
        int64_t k = logits->shape[1];
        for (int64_t i = 0; i < nb; i++) {
            const float *row = logits->data + i * k;
            int64_t best = 0;
            for (int64_t c = 1; c < k; c++)
                if (row[c] > row[best])
                    best = c;
            correct += best == (int64_t)y->data[i];
        }
    }
    hg_ctx_free(ctx);
    if (s == HG_OK) {
        if (accuracy)
            *accuracy = (double)correct / (double)n;
        if (loss)
            *loss = total_loss / (double)n;
    }
    return s;
}

static hg_status cls_evaluate(void *self, hg_model *m, double *metric)
{
    hg_classification_task *t = self;
    if (!t->val)
        return HG_OK;
    return hg_classifier_evaluate(m, t->val, metric, NULL);
}

hg_task hg_classification_task_make(hg_classification_task *t)
{
    hg_task task = {"classification", "accuracy", true, cls_batch, cls_loss,
                    t->val ? cls_evaluate : NULL, t};
    return task;
}
