/* AdamW (Loshchilov & Hutter, decoupled weight decay) as torch.optim.AdamW (1.13,
 * _single_tensor_adamw): the parameter is first shrunk, p = p * (1 - lr * wd), then updated
 * by the Adam rule without an L2 term in the gradient; adam.c fuses both in one pass. */
#include "optim/optim_internal.h"

static hg_status adamw_update(const hg_optim *opt, hg_optim_slot *sl)
{
    return hg_adam_update_kernel(opt, sl, true);
}

hg_adam_opts hg_adamw_defaults(void)
{
    hg_adam_opts o = hg_adam_defaults();
    o.weight_decay = 1e-2;
    return o;
}

hg_optim *hg_optim_adamw(hg_params *params, const hg_adam_opts *opts)
{
    hg_adam_opts o = opts ? *opts : hg_adamw_defaults();
    if (hg_adam_check("adamw", &o) != HG_OK)
        return NULL;
    hg_optim *opt = hg_optim_create(params, HG_OPTIM_ADAMW, adamw_update, o.amsgrad ? 3 : 2,
                                    hg_adam_state_names);
    if (opt) {
        opt->adam = o;
        for (int i = 0; i < opt->n_slots; i++)
            opt->slots[i].weight_decay = o.weight_decay;
    }
    return opt;
}
