/* Weight initialization as torch.nn.init: Kaiming (He et al.) and Xavier (Glorot & Bengio),
 * normal or uniform, drawn from a counter-based hg_rng so the values depend only on the seed
 * (and on how many numbers were drawn before), never on the thread count. */
#include "hinge/optim.h"

#include <math.h>

double hg_init_gain(hg_nonlinearity nl, double param)
{
    switch (nl) {
    case HG_NONLIN_LINEAR:
    case HG_NONLIN_SIGMOID: return 1.0;
    case HG_NONLIN_TANH: return 5.0 / 3.0;
    case HG_NONLIN_RELU: return sqrt(2.0);
    case HG_NONLIN_LEAKY_RELU: {
        double slope = param < 0.0 ? 0.01 : param;
        return sqrt(2.0 / (1.0 + slope * slope));
    }
    case HG_NONLIN_SELU: return 3.0 / 4.0;
    }
    return NAN;
}

hg_status hg_init_fans(const hg_tensor *w, int64_t *fan_in, int64_t *fan_out)
{
    if (!w)
        return hg_error(HG_ERR_INVALID, "init: NULL tensor");
    if (w->ndim < 2)
        return hg_error(HG_ERR_INVALID, "init of '%s': fan in and fan out need at least 2 "
                        "dimensions ([out, in, *kernel]), got %d", hg_tensor_label(w), w->ndim);
    int64_t receptive = 1;
    for (int d = 2; d < w->ndim; d++)
        receptive *= w->shape[d];
    if (fan_in)
        *fan_in = w->shape[1] * receptive;
    if (fan_out)
        *fan_out = w->shape[0] * receptive;
    return HG_OK;
}

/* Checks w is a real tensor with nonzero fans; writes the fan the mode picks. */
static hg_status fans_of(const char *op, const hg_tensor *w, int64_t *fan_in, int64_t *fan_out)
{
    hg_status s = hg_init_fans(w, fan_in, fan_out);
    if (s != HG_OK)
        return hg_error_context(s, "%s", op);
    if (w->dtype != HG_F32)
        return hg_error(HG_ERR_INVALID, "%s of '%s': expected a real (F32) tensor", op,
                        hg_tensor_label(w));
    if (*fan_in == 0 || *fan_out == 0)
        return hg_error(HG_ERR_INVALID, "%s of '%s': zero-element tensor (fan_in %lld, "
                        "fan_out %lld)", op, hg_tensor_label(w), (long long)*fan_in,
                        (long long)*fan_out);
    return HG_OK;
}

static hg_status fill(const char *op, hg_tensor *w, double std, bool uniform, hg_rng *rng)
{
    if (!rng)
        return hg_error(HG_ERR_INVALID, "%s of '%s': NULL rng", op, hg_tensor_label(w));
    if (!isfinite(std) || std < 0.0)
        return hg_error(HG_ERR_INVALID, "%s of '%s': standard deviation %g (check gain)", op,
                        hg_tensor_label(w), std);
    if (uniform) {
        float bound = (float)(sqrt(3.0) * std); /* U(-b, b) has std b / sqrt(3) */
        hg_rng_fill_uniform(rng, w->data, w->numel, -bound, bound);
    } else {
        hg_rng_fill_normal(rng, w->data, w->numel, 0.0f, (float)std);
    }
    return HG_OK;
}

static hg_status kaiming(const char *op, hg_tensor *w, double a, hg_fan_mode mode,
                         hg_nonlinearity nl, bool uniform, hg_rng *rng)
{
    int64_t fi, fo;
    hg_status s = fans_of(op, w, &fi, &fo);
    if (s != HG_OK)
        return s;
    if (mode != HG_FAN_IN && mode != HG_FAN_OUT)
        return hg_error(HG_ERR_INVALID, "%s of '%s': unknown fan mode %d", op,
                        hg_tensor_label(w), (int)mode);
    double gain = hg_init_gain(nl, a);
    if (isnan(gain))
        return hg_error(HG_ERR_INVALID, "%s of '%s': unknown nonlinearity %d", op,
                        hg_tensor_label(w), (int)nl);
    double std = gain / sqrt((double)(mode == HG_FAN_IN ? fi : fo));
    return fill(op, w, std, uniform, rng);
}

hg_status hg_init_kaiming_uniform(hg_tensor *w, double a, hg_fan_mode mode, hg_nonlinearity nl,
                                  hg_rng *rng)
{
    return kaiming("kaiming_uniform", w, a, mode, nl, true, rng);
}

hg_status hg_init_kaiming_normal(hg_tensor *w, double a, hg_fan_mode mode, hg_nonlinearity nl,
                                 hg_rng *rng)
{
    return kaiming("kaiming_normal", w, a, mode, nl, false, rng);
}

static hg_status xavier(const char *op, hg_tensor *w, double gain, bool uniform, hg_rng *rng)
{
    int64_t fi, fo;
    hg_status s = fans_of(op, w, &fi, &fo);
    if (s != HG_OK)
        return s;
    return fill(op, w, gain * sqrt(2.0 / (double)(fi + fo)), uniform, rng);
}

hg_status hg_init_xavier_uniform(hg_tensor *w, double gain, hg_rng *rng)
{
    return xavier("xavier_uniform", w, gain, true, rng);
}

hg_status hg_init_xavier_normal(hg_tensor *w, double gain, hg_rng *rng)
{
    return xavier("xavier_normal", w, gain, false, rng);
}
