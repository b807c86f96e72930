/* Folding batch norm into the preceding convolution for inference.
 *
 * In eval mode batch norm is a per-channel affine map y = (x - mean) s + beta with
 * s = gamma / sqrt(var + eps), so conv followed by it is one conv with weights w s (scaled per
 * output channel) and bias (b - mean) s + beta. Computed in double, so the folded model's
 * outputs differ from the unfolded ones by float rounding only. */
#include "hinge/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* "<prefix>.bias" for the conv whose weight is registered as "<prefix>.weight". */
static hg_tensor *add_bias(hg_params *params, const hg_tensor *weight, int64_t cout)
{
    for (int32_t i = 0; i < params->count; i++) {
        if (params->items[i].tensor != weight)
            continue;
        const char *name = params->items[i].name;
        size_t n = strlen(name);
        char bias[256];
        if (n < 7 || strcmp(name + n - 7, ".weight") != 0 || n - 7 + 6 >= sizeof bias)
            break;
        snprintf(bias, sizeof bias, "%.*s.bias", (int)(n - 7), name);
        return hg_params_add(params, bias, weight->requires_grad, 1, &cout);
    }
    hg_error(HG_ERR_INVALID, "fold batch norm: the convolution weight %s is not a parameter "
                             "named '<layer>.weight'", hg_tensor_label(weight));
    return NULL;
}

hg_status hg_conv_norm_fold(hg_conv_layer *conv, hg_norm_layer *norm, hg_params *params,
                            bool *folded)
{
    *folded = false;
    if (norm->kind != HG_NORM_BATCH)
        return HG_OK;
    if (conv->transposed)
        return hg_error(HG_ERR_UNSUPPORTED, "fold batch norm: %s is a transposed convolution",
                        hg_tensor_label(conv->weight));
    hg_tensor *w = conv->weight;
    int64_t cout = w->shape[0], per = w->numel / cout;
    const hg_tensor *stats[4] = {norm->gamma, norm->beta, norm->running_mean, norm->running_var};
    for (int i = 0; i < 4; i++)
        if (!stats[i] || stats[i]->numel != cout)
            return hg_error(HG_ERR_INVALID, "fold batch norm: %s has %lld output channels, the "
                                            "norm's %s %lld", hg_tensor_label(w),
                            (long long)cout, stats[i] ? hg_tensor_label(stats[i]) : "statistics",
                            stats[i] ? (long long)stats[i]->numel : 0LL);
    if (!conv->bias && !(conv->bias = add_bias(params, w, cout)))
        return hg_error_status();
    for (int64_t c = 0; c < cout; c++) {
        double s = (double)norm->gamma->data[c] /
                   sqrt((double)norm->running_var->data[c] + (double)norm->eps);
        for (int64_t j = 0; j < per; j++)
            w->data[c * per + j] = (float)((double)w->data[c * per + j] * s);
        conv->bias->data[c] = (float)(((double)conv->bias->data[c] -
                                       (double)norm->running_mean->data[c]) * s +
                                      (double)norm->beta->data[c]);
    }
    norm->kind = HG_NORM_NONE;
    *folded = true;
    return HG_OK;
}

hg_status hg_model_fold_batch_norm(hg_model *m, int *folded)
{
    int count = 0;
    if (folded)
        *folded = 0;
    if (!m->arch->fold_batch_norm)
        return hg_error(HG_ERR_UNSUPPORTED, "fold batch norm: architecture '%s' has no fold",
                        m->arch->name);
    hg_status s = m->arch->fold_batch_norm(m, &count);
    if (folded)
        *folded = count;
    return s == HG_OK ? HG_OK : hg_error_context(s, "%s", m->arch->name);
}
