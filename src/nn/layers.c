/* Layer helpers: parameter registration with PyTorch's default initialization + forward. */
#include "hinge/nn.h"
#include "hinge/dist.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static hg_tensor *add_param(hg_params *params, const char *prefix, const char *suffix,
                            bool trainable, int ndim, const int64_t *shape)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return hg_params_add(params, name, trainable, ndim, shape);
}

hg_status hg_conv_layer_init(hg_conv_layer *l, hg_params *params, const char *name, int dims,
                             int cin, int cout, int kernel, int stride, int padding, bool bias,
                             bool transposed, hg_rng *rng)
{
    memset(l, 0, sizeof *l);
    if (dims < 1 || dims > 3 || cin <= 0 || cout <= 0 || kernel <= 0 || stride <= 0 ||
        padding < 0)
        return hg_error(HG_ERR_INVALID,
                        "conv layer %s: invalid dims %d, channels %d->%d, kernel %d, stride %d, "
                        "padding %d",
                        name, dims, cin, cout, kernel, stride, padding);
    int64_t shape[5] = {transposed ? cin : cout, transposed ? cout : cin, kernel, kernel, kernel};
    l->weight = add_param(params, name, "weight", true, 2 + dims, shape);
    if (!l->weight)
        return hg_error_status();
    /* PyTorch: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in
     * is computed from weight dim 1 (so for transposed convs it is cout * k^dims). */
    double fan_in = (double)shape[1] * pow(kernel, dims);
    float bound = (float)(1.0 / sqrt(fan_in));
    hg_rng_fill_uniform(rng, l->weight->data, l->weight->numel, -bound, bound);
    if (bias) {
        l->bias = add_param(params, name, "bias", true, 1, (int64_t[]){cout});
        if (!l->bias)
            return hg_error_status();
        hg_rng_fill_uniform(rng, l->bias->data, cout, -bound, bound);
    }
    for (int d = 0; d < 3; d++) {
        l->opts.stride[d] = stride;
        l->opts.padding[d] = padding;
        l->opts.dilation[d] = 1;
    }
    l->opts.groups = 1;
    l->transposed = transposed;
    return HG_OK;
}

hg_tensor *hg_conv_layer_forward(hg_ctx *ctx, const hg_conv_layer *l, hg_tensor *x)
{
    return l->transposed ? hg_conv_transpose(ctx, x, l->weight, l->bias, &l->opts)
                         : hg_conv(ctx, x, l->weight, l->bias, &l->opts);
}

hg_status hg_norm_kind_parse(const char *s, hg_norm_kind *kind)
{
    static const char *const names[] = {"none", "batch", "instance", "group"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *kind = (hg_norm_kind)i;
            return HG_OK;
        }
    return hg_error(HG_ERR_INVALID, "norm: expected none, batch, instance or group, got '%s'", s);
}

hg_status hg_norm_layer_init(hg_norm_layer *l, hg_params *params, const char *name,
                             hg_norm_kind kind, int channels, int groups)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->groups = groups;
    l->momentum = 0.1f;
    l->eps = 1e-5f;
    if (kind == HG_NORM_NONE)
        return HG_OK;
    int64_t c[1] = {channels};
    l->gamma = add_param(params, name, "weight", true, 1, c);
    l->beta = add_param(params, name, "bias", true, 1, c);
    if (!l->gamma || !l->beta)
        return hg_error_status();
    hg_tensor_fill(l->gamma, 1.0f);
    if (kind == HG_NORM_BATCH) {
        l->running_mean = add_param(params, name, "running_mean", false, 1, c);
        l->running_var = add_param(params, name, "running_var", false, 1, c);
        if (!l->running_mean || !l->running_var)
            return hg_error_status();
        hg_tensor_fill(l->running_var, 1.0f);
    }
    return HG_OK;
}

hg_tensor *hg_norm_layer_forward(hg_ctx *ctx, const hg_norm_layer *l, hg_tensor *x)
{
    switch (l->kind) {
    case HG_NORM_BATCH:
        if (hg_dist_sync_batch_norm()) /* data parallelism: statistics of the global batch */
            return hg_sync_batch_norm(ctx, x, l->gamma, l->beta, l->running_mean,
                                      l->running_var, l->momentum, l->eps);
        return hg_batch_norm(ctx, x, l->gamma, l->beta, l->running_mean, l->running_var,
                             l->momentum, l->eps);
    case HG_NORM_INSTANCE: return hg_instance_norm(ctx, x, l->gamma, l->beta, l->eps);
    case HG_NORM_GROUP: return hg_group_norm(ctx, x, l->groups, l->gamma, l->beta, l->eps);
    default: return x;
    }
}

hg_status hg_linear_layer_init(hg_linear_layer *l, hg_params *params, const char *name, int in,
                               int out, bool bias, hg_rng *rng)
{
    memset(l, 0, sizeof *l);
    if (in <= 0 || out <= 0)
        return hg_error(HG_ERR_INVALID, "linear layer %s: invalid sizes %d -> %d", name, in, out);
    l->weight = add_param(params, name, "weight", true, 2, (int64_t[]){out, in});
    if (!l->weight)
        return hg_error_status();
    float bound = (float)(1.0 / sqrt((double)in));
    hg_rng_fill_uniform(rng, l->weight->data, l->weight->numel, -bound, bound);
    if (bias) {
        l->bias = add_param(params, name, "bias", true, 1, (int64_t[]){out});
        if (!l->bias)
            return hg_error_status();
        hg_rng_fill_uniform(rng, l->bias->data, out, -bound, bound);
    }
    return HG_OK;
}

hg_tensor *hg_linear_layer_forward(hg_ctx *ctx, const hg_linear_layer *l, hg_tensor *x)
{
    return hg_linear(ctx, x, l->weight, l->bias);
}
