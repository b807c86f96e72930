/* Training machinery: optimizers, gradient clipping, learning-rate schedules, initialization
 * and checkpoints that resume bit-exactly.
 *
 * - Optimizers follow PyTorch 1.13's single-tensor update rules (torch.optim.SGD, Adam,
 *   AdamW), including the order of operations, the per-parameter step count used by the bias
 *   correction and where eps is added, so a run can be compared with a PyTorch run number by
 *   number. Hyper-parameters are doubles (Python floats) and are rounded to float32 where
 *   PyTorch rounds them (when a kernel takes them as a scalar).
 * - An optimizer works on the trainable entries (requires_grad) of an hg_params list, captured
 *   when it is created; buffers (requires_grad false) are never touched, and a parameter whose
 *   grad is NULL is skipped (its state and step count stay as they are), as in PyTorch. The
 *   parameter list must outlive the optimizer.
 * - A schedule is a pure function lr(step) of the step index, so a resumed run recomputes the
 *   same value from the restored step counter.
 * - Initializers draw from an hg_rng (counter-based): the same seed gives the same bits for any
 *   thread count.
 */
#ifndef HINGE_OPTIM_H
#define HINGE_OPTIM_H

#include "hinge/core.h"
#include "hinge/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optimizers ------------------------------------------------------------------------ */

typedef enum hg_optim_kind { HG_OPTIM_SGD = 0, HG_OPTIM_ADAM = 1, HG_OPTIM_ADAMW = 2 } hg_optim_kind;

typedef struct hg_sgd_opts {
    double lr;           /* no default in PyTorch; must be >= 0 */
    double momentum;     /* 0: plain SGD (no momentum buffer) */
    double dampening;    /* 0 */
    double weight_decay; /* L2 penalty added to the gradient; 0 */
    bool nesterov;       /* needs momentum > 0 and dampening == 0 */
} hg_sgd_opts;

typedef struct hg_adam_opts {
    double lr;           /* 1e-3 */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8, added to sqrt(v_hat) */
    double weight_decay; /* Adam: L2 added to the gradient (0); AdamW: decoupled (1e-2) */
    bool amsgrad;        /* false */
} hg_adam_opts;

/* PyTorch's defaults (lr for SGD is set to 0.01 here since PyTorch has none). */
hg_sgd_opts hg_sgd_defaults(void);
hg_adam_opts hg_adam_defaults(void);
hg_adam_opts hg_adamw_defaults(void);

typedef struct hg_optim hg_optim;

/* NULL opts: the defaults. NULL (error names the bad hyper-parameter) on invalid values. The
 * state (momentum buffer, moments) is allocated here, zeroed, so hg_optim_step never
 * allocates. */
hg_optim *hg_optim_sgd(hg_params *params, const hg_sgd_opts *opts);
hg_optim *hg_optim_adam(hg_params *params, const hg_adam_opts *opts);
hg_optim *hg_optim_adamw(hg_params *params, const hg_adam_opts *opts);
void hg_optim_free(hg_optim *opt);

/* One update of every captured parameter that has a gradient (grads are read, not cleared). */
hg_status hg_optim_step(hg_optim *opt);
/* The learning rate of the next step (what a scheduler sets each step). lr must be >= 0. */
hg_status hg_optim_set_lr(hg_optim *opt, double lr);
double hg_optim_lr(const hg_optim *opt);
/* A weight decay for one parameter instead of the optimizer's (PyTorch's parameter groups;
 * typically 0 for biases and normalization weights). Saved in and checked by checkpoints. */
hg_status hg_optim_set_param_weight_decay(hg_optim *opt, const char *name, double wd);
double hg_optim_param_weight_decay(const hg_optim *opt, const char *name); /* NaN if unknown */
hg_optim_kind hg_optim_get_kind(const hg_optim *opt);
const char *hg_optim_name(const hg_optim *opt); /* "sgd", "adam", "adamw" */
/* Number of updates parameter `name` has received (PyTorch's state['step']); -1 if unknown. */
int64_t hg_optim_param_steps(const hg_optim *opt, const char *name);
/* A state tensor of parameter `name`: "momentum_buffer" (SGD), "exp_avg", "exp_avg_sq",
 * "max_exp_avg_sq" (Adam/AdamW); NULL (error set) if the optimizer has no such state. The
 * tensor belongs to the optimizer. */
hg_tensor *hg_optim_state(const hg_optim *opt, const char *state, const char *name);

/* ---- gradients ------------------------------------------------------------------------- */

/* torch.nn.utils.clip_grad_norm_: the norm (norm_type 2, 1, any p >= 1, or INFINITY) of all
 * gradients of the trainable parameters taken together; if it exceeds max_norm every gradient
 * is scaled by max_norm / (norm + 1e-6). *total_norm (may be NULL) receives the norm before
 * clipping. A NaN/Inf gradient is an HG_ERR_NUMERIC naming the parameter and the index, and
 * then no gradient is modified. */
hg_status hg_clip_grad_norm(hg_params *params, double max_norm, double norm_type,
                            double *total_norm);
/* HG_ERR_NUMERIC naming the first parameter (and index) whose gradient holds NaN or Inf. */
hg_status hg_grads_check_finite(const hg_params *params);

/* ---- learning-rate schedules ----------------------------------------------------------- */

typedef enum hg_sched_kind {
    HG_SCHED_CONSTANT = 0, /* base_lr */
    HG_SCHED_STEP = 1,     /* base_lr * gamma^floor(t / step_size)          (StepLR) */
    HG_SCHED_COSINE = 2,   /* final + (base - final)(1 + cos(pi t / T)) / 2   (CosineAnnealingLR);
                              final_lr for t >= T */
    HG_SCHED_POLY = 3      /* base_lr * (1 - min(t, T) / T)^exponent          (nnU-Net,
                              PolynomialLR); exponent 0 means 0.9 */
} hg_sched_kind;

/* The schedule of a run. With warmup_steps W > 0 the first W steps ramp linearly from
 * base_lr * warmup_start_factor towards base_lr (LinearLR), and the main schedule starts at
 * step W with its own t = step - W (SequentialLR([LinearLR, main], milestones=[W])); so T
 * (decay_steps) counts the steps after warm-up. */
typedef struct hg_schedule {
    hg_sched_kind kind;
    double base_lr;
    int64_t step_size;   /* STEP */
    double gamma;        /* STEP */
    int64_t decay_steps; /* COSINE, POLY: T */
    double final_lr;     /* COSINE: eta_min (0) */
    double exponent;     /* POLY: 0 -> 0.9 */
    int64_t warmup_steps;
    double warmup_start_factor; /* in (0, 1]; 0 -> 1/3 as LinearLR's default */
} hg_schedule;

/* HG_ERR_INVALID naming the field when the schedule is inconsistent. */
hg_status hg_schedule_check(const hg_schedule *s);
/* The learning rate of step `step` (0-based: the lr used by the first update is lr(0)).
 * Returns NaN for an invalid schedule or a negative step. */
double hg_schedule_lr(const hg_schedule *s, int64_t step);

/* ---- initialization (torch.nn.init) ---------------------------------------------------- */

typedef enum hg_nonlinearity {
    HG_NONLIN_LINEAR = 0, /* also conv, sigmoid: gain 1 */
    HG_NONLIN_SIGMOID = 1,
    HG_NONLIN_TANH = 2,       /* 5/3 */
    HG_NONLIN_RELU = 3,       /* sqrt(2) */
    HG_NONLIN_LEAKY_RELU = 4, /* sqrt(2 / (1 + slope^2)) */
    HG_NONLIN_SELU = 5        /* 3/4 */
} hg_nonlinearity;

typedef enum hg_fan_mode { HG_FAN_IN = 0, HG_FAN_OUT = 1 } hg_fan_mode;

/* torch.nn.init.calculate_gain; `param` is the leaky_relu slope (a negative value means
 * PyTorch's default 0.01). */
double hg_init_gain(hg_nonlinearity nl, double param);
/* fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (weights are
 * [out, in, *kernel]). Needs ndim >= 2. */
hg_status hg_init_fans(const hg_tensor *w, int64_t *fan_in, int64_t *fan_out);
/* std = gain / sqrt(fan); uniform bound = sqrt(3) * std. `a` is the leaky_relu slope. */
hg_status hg_init_kaiming_uniform(hg_tensor *w, double a, hg_fan_mode mode, hg_nonlinearity nl,
                                  hg_rng *rng);
hg_status hg_init_kaiming_normal(hg_tensor *w, double a, hg_fan_mode mode, hg_nonlinearity nl,
                                 hg_rng *rng);
/* std = gain * sqrt(2 / (fan_in + fan_out)). */
hg_status hg_init_xavier_uniform(hg_tensor *w, double gain, hg_rng *rng);
hg_status hg_init_xavier_normal(hg_tensor *w, double gain, hg_rng *rng);

/* ---- checkpoints ----------------------------------------------------------------------- */

/* What a training loop needs besides the model and the optimizer to continue exactly. */
typedef struct hg_train_state {
    int64_t step; /* updates done; the next update uses schedule lr(step) */
    hg_rng rng;   /* the loop's random stream (data order, augmentation, dropout) */
} hg_train_state;

/* Saves, as one safetensors file written atomically: every entry of params (buffers too),
 * the optimizer's state as "optim.<state>.<param>" tensors (opt may be NULL), and metadata:
 * the optimizer kind, hyper-parameters (lr included) and per-parameter step counts, the train
 * state (may be NULL), the user's string metadata (may be NULL; keys starting with "hinge."
 * are reserved) and a CRC-32 of all of it, so a corrupted file is refused on load. */
hg_status hg_checkpoint_save(const char *path, const hg_params *params, const hg_optim *opt,
                             const hg_train_state *state, const hg_metadata *user);

/* Loads a checkpoint into existing objects with strict validation: the CRC must match; every
 * entry of params must be present with its shape and the file must hold no other model
 * tensor; with opt non-NULL the file must hold state of the same optimizer kind and
 * hyper-parameters (lr excepted: it is restored, as are the moments and step counts); with
 * state non-NULL the train state must be present. user (may be NULL) receives the user
 * metadata. On any failure nothing is modified and the message names the file and the
 * missing or mismatched tensor (with both shapes) or field. With opt NULL the optimizer state
 * in the file is ignored (loading weights for inference or fine-tuning). */
hg_status hg_checkpoint_load(const char *path, hg_params *params, hg_optim *opt,
                             hg_train_state *state, hg_metadata *user);

#ifdef __cplusplus
}
#endif
#endif
