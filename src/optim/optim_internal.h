/* Private to src/optim: the optimizer object shared by sgd.c, adam.c, adamw.c, optim.c and
 * checkpoint.c. */
#ifndef HINGE_OPTIM_INTERNAL_H
#define HINGE_OPTIM_INTERNAL_H

#include "hinge/optim.h"

#define HG_OPTIM_MAX_STATE 3

/* One trainable parameter and its state. */
typedef struct hg_optim_slot {
    const char *name; /* owned by the hg_params list */
    hg_tensor *param;
    int64_t step;     /* updates received; 0 also means "no state yet" as in PyTorch */
    double weight_decay; /* the optimizer's unless set per parameter (a param group) */
    hg_tensor *state[HG_OPTIM_MAX_STATE];
} hg_optim_slot;

typedef hg_status (*hg_optim_update_fn)(const hg_optim *opt, hg_optim_slot *slot);

struct hg_optim {
    hg_optim_kind kind;
    hg_sgd_opts sgd;   /* SGD */
    hg_adam_opts adam; /* Adam, AdamW */
    hg_optim_update_fn update;
    int32_t n_state;   /* state tensors per slot */
    const char *state_names[HG_OPTIM_MAX_STATE];
    int32_t n_slots;
    hg_optim_slot *slots;
};

/* Allocates the optimizer, one slot per trainable parameter and n_state zeroed state tensors
 * per slot. NULL with the error set on failure. */
hg_optim *hg_optim_create(hg_params *params, hg_optim_kind kind, hg_optim_update_fn update,
                          int n_state, const char *const *state_names);
/* The index of a state name, -1 if absent. */
int hg_optim_state_index(const hg_optim *opt, const char *state);
/* Validates the Adam family's hyper-parameters (op names the optimizer in the message). */
hg_status hg_adam_check(const char *op, const hg_adam_opts *o);
/* The Adam update of one parameter; decoupled: AdamW's weight decay, else Adam's L2. */
hg_status hg_adam_update_kernel(const hg_optim *opt, hg_optim_slot *slot, bool decoupled);
extern const char *const hg_adam_state_names[3];
/* Elementwise threshold above which the update loops are split across threads. */
#define HG_OPTIM_PAR_MIN 32768

#endif
