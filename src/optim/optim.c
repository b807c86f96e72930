/* The optimizer object: slots over the trainable parameters, their state, and the step loop
 * shared by every update rule (which lives in sgd.c, adam.c, adamw.c). */
#include "optim/optim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const hg_optim_slot *find_slot(const hg_optim *opt, const char *name);

hg_optim *hg_optim_create(hg_params *params, hg_optim_kind kind, hg_optim_update_fn update,
                          int n_state, const char *const *state_names)
{
    if (!params) {
        hg_error(HG_ERR_INVALID, "optimizer: NULL parameter list");
        return NULL;
    }
    hg_optim *opt = calloc(1, sizeof *opt);
    if (!opt) {
        hg_error(HG_ERR_NOMEM, "optimizer: out of memory");
        return NULL;
    }
    opt->kind = kind;
    opt->update = update;
    opt->n_state = n_state;
    for (int s = 0; s < n_state; s++)
        opt->state_names[s] = state_names[s];
    int n = 0;
    for (int i = 0; i < params->count; i++)
        n += params->items[i].tensor->requires_grad ? 1 : 0;
    opt->slots = calloc(n > 0 ? (size_t)n : 1, sizeof *opt->slots);
    if (!opt->slots) {
        free(opt);
        hg_error(HG_ERR_NOMEM, "optimizer: out of memory for %d parameters", n);
        return NULL;
    }
    for (int i = 0; i < params->count; i++) {
        hg_tensor *t = params->items[i].tensor;
        if (!t->requires_grad)
            continue; /* a buffer (running statistics): not optimized */
        hg_optim_slot *sl = &opt->slots[opt->n_slots++];
        sl->name = params->items[i].name;
        sl->param = t;
        for (int s = 0; s < n_state; s++) {
            /* Same dtype and shape as the parameter: complex parameters are updated as
             * (re, im) pairs, as PyTorch does through view_as_real. */
            sl->state[s] = hg_tensor_like(NULL, t);
            if (!sl->state[s]) {
                hg_error_context(HG_ERR_NOMEM, "optimizer state of '%s'", sl->name);
                hg_optim_free(opt);
                return NULL;
            }
        }
    }
    return opt;
}

void hg_optim_free(hg_optim *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->n_slots; i++)
        for (int s = 0; s < HG_OPTIM_MAX_STATE; s++)
            hg_tensor_free(opt->slots[i].state[s]);
    free(opt->slots);
    free(opt);
}

hg_status hg_optim_step(hg_optim *opt)
{
    if (!opt)
        return hg_error(HG_ERR_INVALID, "optimizer step: NULL optimizer");
    for (int i = 0; i < opt->n_slots; i++) {
        hg_optim_slot *sl = &opt->slots[i];
        if (!sl->param->grad)
            continue; /* PyTorch skips parameters whose .grad is None */
        sl->step++;
        hg_status s = opt->update(opt, sl);
        if (s != HG_OK)
            return s;
    }
    return HG_OK;
}

static double *lr_field(hg_optim *opt)
{
    return opt->kind == HG_OPTIM_SGD ? &opt->sgd.lr : &opt->adam.lr;
}

hg_status hg_optim_set_lr(hg_optim *opt, double lr)
{
    if (!opt)
        return hg_error(HG_ERR_INVALID, "optimizer: NULL optimizer");
    if (!(lr >= 0.0) || isinf(lr))
        return hg_error(HG_ERR_INVALID, "%s: learning rate must be finite and >= 0, got %g",
                        hg_optim_name(opt), lr);
    *lr_field(opt) = lr;
    return HG_OK;
}

double hg_optim_lr(const hg_optim *opt)
{
    return opt ? *lr_field((hg_optim *)opt) : NAN;
}

hg_status hg_optim_set_param_weight_decay(hg_optim *opt, const char *name, double wd)
{
    if (!opt || !name)
        return hg_error(HG_ERR_INVALID, "optimizer: NULL argument");
    if (!(wd >= 0.0) || isinf(wd))
        return hg_error(HG_ERR_INVALID, "%s: weight_decay of '%s' must be finite and >= 0, "
                        "got %g", hg_optim_name(opt), name, wd);
    for (int i = 0; i < opt->n_slots; i++)
        if (strcmp(opt->slots[i].name, name) == 0) {
            opt->slots[i].weight_decay = wd;
            return HG_OK;
        }
    return hg_error(HG_ERR_INVALID, "%s: '%s' is not a trainable parameter of this optimizer",
                    hg_optim_name(opt), name);
}

double hg_optim_param_weight_decay(const hg_optim *opt, const char *name)
{
    const hg_optim_slot *sl = opt && name ? find_slot(opt, name) : NULL;
    return sl ? sl->weight_decay : NAN;
}

hg_optim_kind hg_optim_get_kind(const hg_optim *opt) { return opt->kind; }

const char *hg_optim_name(const hg_optim *opt)
{
    static const char *const names[] = {"sgd", "adam", "adamw"};
    return opt ? names[opt->kind] : "optimizer";
}

static const hg_optim_slot *find_slot(const hg_optim *opt, const char *name)
{
    for (int i = 0; i < opt->n_slots; i++)
        if (strcmp(opt->slots[i].name, name) == 0)
            return &opt->slots[i];
    return NULL;
}

int64_t hg_optim_param_steps(const hg_optim *opt, const char *name)
{
    const hg_optim_slot *sl = opt && name ? find_slot(opt, name) : NULL;
    return sl ? sl->step : -1;
}

int hg_optim_state_index(const hg_optim *opt, const char *state)
{
    for (int s = 0; s < opt->n_state; s++)
        if (strcmp(opt->state_names[s], state) == 0)
            return s;
    return -1;
}

hg_tensor *hg_optim_state(const hg_optim *opt, const char *state, const char *name)
{
    if (!opt || !state || !name) {
        hg_error(HG_ERR_INVALID, "optimizer state: NULL argument");
        return NULL;
    }
    int s = hg_optim_state_index(opt, state);
    if (s < 0) {
        hg_error(HG_ERR_INVALID, "%s: no state '%s' (this configuration keeps %d state tensors)",
                 hg_optim_name(opt), state, opt->n_state);
        return NULL;
    }
    const hg_optim_slot *sl = find_slot(opt, name);
    if (!sl) {
        hg_error(HG_ERR_INVALID, "%s: '%s' is not a trainable parameter of this optimizer",
                 hg_optim_name(opt), name);
        return NULL;
    }
    return sl->state[s];
}
