/* SGD with momentum, dampening, Nesterov and L2 weight decay: torch.optim.SGD (1.13,
 * _single_tensor_sgd), operation for operation:
 *   d = g + wd * p
 *   b = d                       on the first update (PyTorch clones, dampening not applied)
 *   b = mom * b + (1 - damp) d  afterwards
 *   d = nesterov ? d + mom * b : b
 *   p = p - lr * d
 * Scalars are rounded to float32 where PyTorch's kernels take them as scalars. */
#include "optim/optim_internal.h"

#include <math.h>

static hg_status sgd_update(const hg_optim *opt, hg_optim_slot *sl)
{
    const hg_sgd_opts *o = &opt->sgd;
    const bool decay = sl->weight_decay != 0.0, use_momentum = o->momentum != 0.0;
    const bool first = sl->step == 1, nesterov = o->nesterov;
    const float wd = (float)sl->weight_decay, mom = (float)o->momentum;
    const float keep = (float)(1.0 - o->dampening), neg_lr = (float)(-o->lr);
    float *p = sl->param->data, *b = use_momentum ? sl->state[0]->data : NULL;
    const float *g = sl->param->grad;
    int64_t n = hg_tensor_nfloats(sl->param);
#pragma omp parallel for schedule(static) if (n > HG_OPTIM_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (decay)
            d = d + wd * p[i];
        if (use_momentum) {
            float bi = first ? d : b[i] * mom + keep * d;
            b[i] = bi;
            d = nesterov ? d + mom * bi : bi;
        }
        p[i] = p[i] + neg_lr * d;
    }
    return HG_OK;
}

hg_sgd_opts hg_sgd_defaults(void)
{
    hg_sgd_opts o = {.lr = 0.01};
    return o;
}

hg_optim *hg_optim_sgd(hg_params *params, const hg_sgd_opts *opts)
{
    hg_sgd_opts o = opts ? *opts : hg_sgd_defaults();
    const char *bad = NULL;
    double value = 0.0;
    if (!(o.lr >= 0.0) || isinf(o.lr))
        bad = "lr", value = o.lr;
    else if (!(o.momentum >= 0.0) || isinf(o.momentum))
        bad = "momentum", value = o.momentum;
    else if (!isfinite(o.dampening))
        bad = "dampening", value = o.dampening;
    else if (!(o.weight_decay >= 0.0) || isinf(o.weight_decay))
        bad = "weight_decay", value = o.weight_decay;
    if (bad) {
        hg_error(HG_ERR_INVALID, "sgd: %s must be finite and >= 0, got %g", bad, value);
        return NULL;
    }
    if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0)) {
        hg_error(HG_ERR_INVALID,
                 "sgd: nesterov needs momentum > 0 and dampening 0, got momentum %g, "
                 "dampening %g", o.momentum, o.dampening);
        return NULL;
    }
    static const char *const names[] = {"momentum_buffer"};
    hg_optim *opt = hg_optim_create(params, HG_OPTIM_SGD, sgd_update, o.momentum != 0.0, names);
    if (opt) {
        opt->sgd = o;
        for (int i = 0; i < opt->n_slots; i++)
            opt->slots[i].weight_decay = o.weight_decay;
    }
    return opt;
}
