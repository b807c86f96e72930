/* The training loop shared by every task (classification, segmentation, reconstruction).
 *
 * A task supplies the batch of a given step and the loss of a batch; the loop owns the rest:
 * optimizer and schedule, gradient clipping, NaN/Inf detection, periodic evaluation,
 * checkpoints and exact resume. Exactness: the batch and the stochastic layers' random stream
 * of step t depend only on (seed, t), and the checkpoint stores parameters, buffers, optimizer
 * state and the step, so N steps + resume + M steps is bit-identical to N + M steps. */
#ifndef HINGE_TRAIN_H
#define HINGE_TRAIN_H

#include "hinge/autodiff.h"
#include "hinge/data.h"
#include "hinge/nn.h"
#include "hinge/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_task {
    const char *name;
    const char *metric_name; /* of evaluate, e.g. "accuracy" */
    bool metric_higher_is_better;
    /* The batch of step `step` (allocated in ctx); rng is derived from (seed, step). */
    hg_status (*batch)(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                       hg_tensor **y);
    /* The scalar loss of the model on a batch. */
    hg_tensor *(*loss)(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y);
    /* Optional: the validation metric (eval mode, no tape). */
    hg_status (*evaluate)(void *self, hg_model *m, double *metric);
    void *self;
} hg_task;

typedef struct hg_train_event {
    int64_t step, total;
    double loss, lr;
    bool evaluated;  /* metric holds a fresh validation value */
    double metric;
    bool checkpointed;
} hg_train_event;

/* Data-parallel hooks (see hinge/dist.h, hg_dist_train_hooks). With world > 1 each rank
 * trains on rows [rank*B/world, (rank+1)*B/world) of the global batch of B rows (B must be
 * divisible by world), the stochastic layers get a per-rank stream, and only rank 0 writes
 * checkpoints. */
typedef struct hg_train_dist {
    int rank, world;
    /* Optional, right before backward (e.g. start gradient reductions during backward). */
    hg_status (*before_backward)(void *user, hg_ctx *ctx, int64_t step);
    /* After backward, before clipping: average the gradients; may replace *loss by the
     * mean over ranks. */
    hg_status (*after_backward)(void *user, hg_params *p, int64_t step, double *loss);
    /* After the optimizer step; steps_done counts the steps taken (e.g. weight checks). */
    hg_status (*after_step)(void *user, hg_params *p, int64_t steps_done);
    void *user;
} hg_train_dist;

typedef struct hg_train_opts {
    int64_t steps;             /* total optimizer steps */
    hg_optim_kind optimizer;   /* adam (default) */
    double lr;                 /* 1e-3 */
    double weight_decay;       /* 0 (AdamW: 1e-2 when < 0) */
    double beta2;              /* Adam beta2 (0: 0.999) */
    double momentum;           /* SGD (0.9 when optimizer is SGD and this is 0) */
    hg_schedule schedule;      /* kind + warm-up; base_lr and decay_steps are filled in */
    double clip;               /* global-norm clipping (0: off) */
    uint64_t seed;
    const char *checkpoint;    /* path or NULL */
    int64_t checkpoint_every;  /* steps (0: only at the end) */
    bool resume;               /* continue from `checkpoint` */
    int64_t eval_every;        /* steps (0: only at the end) */
    void (*on_event)(const hg_train_event *e, void *user);
    void *user;
    const hg_train_dist *dist; /* NULL: one process */
} hg_train_opts;

typedef struct hg_train_result {
    int64_t steps_done;
    double final_loss;
    double metric;             /* last validation metric (NAN if none), also one that a
                                * resumed run's checkpoint carries from before the resume */
    double seconds;            /* training time of the whole run, the processes before a
                                * resume included (as recorded in the checkpoint) */
} hg_train_result;

void hg_train_opts_defaults(hg_train_opts *o);
hg_status hg_train(hg_model *m, const hg_task *task, const hg_train_opts *opts,
                   hg_train_result *result);

/* Classification of an in-memory labelled image set (cross-entropy, accuracy). The task
 * points at the data sets, which must outlive it. */
typedef struct hg_classification_task {
    const hg_labelled_images *train, *val;
    int64_t batch;
} hg_classification_task;

hg_task hg_classification_task_make(hg_classification_task *t);
/* Accuracy and mean cross-entropy of the model on a data set (eval mode, batches of 256). */
hg_status hg_classifier_evaluate(hg_model *m, const hg_labelled_images *d, double *accuracy,
                                 double *loss);

#ifdef __cplusplus
}
#endif
#endif
