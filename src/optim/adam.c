/* Adam (Kingma & Ba) as torch.optim.Adam (1.13, _single_tensor_adam), operation for
 * operation; AdamW (adamw.c) shares the moment update and differs only in how weight decay
 * enters, so the kernel here takes the decay mode:
 *   p = p * (1 - lr wd)                    (AdamW only)
 *   g = g + wd * p                         (Adam's L2 decay; AdamW decays p instead)
 *   m = m * b1 + (1 - b1) g
 *   v = v * b2 + ((1 - b2) g) g
 *   vmax = max(vmax, v)                    (amsgrad; then used in place of v)
 *   denom = sqrt(v) / sqrt(1 - b2^t) + eps (eps added after the bias correction)
 *   p = p + (-(lr / (1 - b1^t)) m) / denom
 * Bias corrections are computed in double (Python floats) and rounded once to float32. */
#include "optim/optim_internal.h"

#include <math.h>

hg_status hg_adam_check(const char *op, const hg_adam_opts *o)
{
    struct { const char *name; double v, lo, hi; } f[] = {
        {"lr", o->lr, 0.0, INFINITY},     {"eps", o->eps, 0.0, INFINITY},
        {"beta1", o->beta1, 0.0, 1.0},    {"beta2", o->beta2, 0.0, 1.0},
        {"weight_decay", o->weight_decay, 0.0, INFINITY}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        bool ok = f[i].v >= f[i].lo && (isinf(f[i].hi) ? isfinite(f[i].v) : f[i].v < f[i].hi);
        if (!ok)
            return hg_error(HG_ERR_INVALID, "%s: %s must be in [%g, %g), got %g", op,
                            f[i].name, f[i].lo, f[i].hi, f[i].v);
    }
    return HG_OK;
}

/* The update of one element; the flags are compile-time constants in each instantiation
 * below, so every variant is a branch-free loop (it vectorizes when the library is built with
 * -fno-math-errno; with errno semantics GCC guards each sqrtf with a branch). shrink is AdamW's
 * decay factor (1 - lr wd), applied to p before the update as PyTorch does. */
static inline __attribute__((always_inline)) void adam_elem(
    float *restrict p, float *restrict m, float *restrict v, float *restrict vmax,
    const float *restrict g, int64_t i, bool l2, bool ams, bool decoupled, float shrink,
    float wd, float b1, float c1, float b2, float c2, float bc2_sqrt, float eps, float neg_step)
{
    float pi = decoupled ? p[i] * shrink : p[i];
    float gi = l2 ? g[i] + wd * pi : g[i];
    float mi = m[i] * b1 + c1 * gi;
    float vi = v[i] * b2 + (c2 * gi) * gi;
    m[i] = mi;
    v[i] = vi;
    if (ams) {
        /* torch.maximum (a NaN in v propagates, as there) */
        vi = vmax[i] > vi ? vmax[i] : vi;
        vmax[i] = vi;
    }
    float denom = sqrtf(vi) / bc2_sqrt + eps;
    p[i] = pi + (neg_step * mi) / denom;
}

#define ADAM_LOOP(L2, AMS, DEC)                                                                \
    _Pragma("omp parallel for schedule(static) if (n > HG_OPTIM_PAR_MIN)")                     \
    for (int64_t i = 0; i < n; i++)                                                            \
        adam_elem(p, m, v, vmax, g, i, L2, AMS, DEC, shrink, wd, b1, c1, b2, c2, bc2_sqrt, eps, \
                  neg_step)

hg_status hg_adam_update_kernel(const hg_optim *opt, hg_optim_slot *sl, bool decoupled)
{
    const hg_adam_opts *o = &opt->adam;
    const double decay = sl->weight_decay; /* the optimizer's, or the parameter's own */
    const bool l2 = !decoupled && decay != 0.0, ams = o->amsgrad;
    decoupled = decoupled && decay != 0.0;
    const double t = (double)sl->step;
    const double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
    const float b1 = (float)o->beta1, c1 = (float)(1.0 - o->beta1);
    const float b2 = (float)o->beta2, c2 = (float)(1.0 - o->beta2);
    const float wd = (float)decay, eps = (float)o->eps;
    const float shrink = (float)(1.0 - o->lr * decay);
    const float bc2_sqrt = (float)sqrt(bc2), neg_step = (float)(-(o->lr / bc1));
    float *p = sl->param->data, *m = sl->state[0]->data, *v = sl->state[1]->data;
    float *vmax = ams ? sl->state[2]->data : NULL;
    const float *g = sl->param->grad;
    int64_t n = hg_tensor_nfloats(sl->param);
    if (ams) {
        if (l2) ADAM_LOOP(true, true, false);
        else if (decoupled) ADAM_LOOP(false, true, true);
        else ADAM_LOOP(false, true, false);
    } else {
        if (l2) ADAM_LOOP(true, false, false);
        else if (decoupled) ADAM_LOOP(false, false, true);
        else ADAM_LOOP(false, false, false);
    }
    return HG_OK;
}

static hg_status adam_update(const hg_optim *opt, hg_optim_slot *sl)
{
    return hg_adam_update_kernel(opt, sl, false);
}

hg_adam_opts hg_adam_defaults(void)
{
    hg_adam_opts o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    return o;
}

const char *const hg_adam_state_names[3] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

hg_optim *hg_optim_adam(hg_params *params, const hg_adam_opts *opts)
{
    hg_adam_opts o = opts ? *opts : hg_adam_defaults();
    if (hg_adam_check("adam", &o) != HG_OK)
        return NULL;
    hg_optim *opt = hg_optim_create(params, HG_OPTIM_ADAM, adam_update, o.amsgrad ? 3 : 2,
                                    hg_adam_state_names);
    if (opt) {
        opt->adam = o;
        for (int i = 0; i < opt->n_slots; i++)
            opt->slots[i].weight_decay = o.weight_decay;
    }
    return opt;
}
