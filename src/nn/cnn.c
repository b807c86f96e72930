/* "cnn": a small image classifier. Stages of (conv3x3-BN-ReLU) x convs_per_stage followed by
 * a 2x2 max pool, then flatten -> dropout -> linear(hidden) -> ReLU -> linear(classes). */
#include "hinge/nn.h"

#include <stdio.h>
#include <stdlib.h>

#define CNN_MAX_STAGES 4
#define CNN_MAX_CONVS 3

typedef struct {
    int64_t stages, convs, size, in_channels, classes, hidden;
    int64_t features[CNN_MAX_STAGES];
    double dropout;
    hg_conv_layer conv[CNN_MAX_STAGES][CNN_MAX_CONVS];
    hg_norm_layer norm[CNN_MAX_STAGES][CNN_MAX_CONVS];
    hg_linear_layer fc1, fc2;
} cnn;

static const char *const cnn_keys[] = {"in_channels", "classes", "features", "convs_per_stage",
                                       "size", "hidden", "dropout", NULL};

static hg_status cnn_build(hg_model *m, hg_rng *rng)
{
    cnn *c = calloc(1, sizeof *c);
    if (!c)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = c;
    c->in_channels = 1, c->classes = 10, c->convs = 2, c->size = 28, c->hidden = 128;
    c->dropout = 0.25;
    c->features[0] = 32, c->features[1] = 64;
    int nf = 2;
    const hg_metadata *cf = &m->config;
    hg_status s = hg_config_int(cf, "in_channels", 1, 4096, &c->in_channels);
    if (s == HG_OK) s = hg_config_int(cf, "classes", 2, 1 << 20, &c->classes);
    if (s == HG_OK) s = hg_config_int(cf, "convs_per_stage", 1, CNN_MAX_CONVS, &c->convs);
    if (s == HG_OK) s = hg_config_int(cf, "size", 4, 4096, &c->size);
    if (s == HG_OK) s = hg_config_int(cf, "hidden", 1, 1 << 16, &c->hidden);
    if (s == HG_OK) s = hg_config_float(cf, "dropout", &c->dropout);
    if (s == HG_OK) s = hg_config_int_list(cf, "features", CNN_MAX_STAGES, c->features, &nf);
    if (s != HG_OK)
        return s;
    if (c->dropout < 0 || c->dropout >= 1)
        return hg_error(HG_ERR_INVALID, "config 'dropout': expected [0, 1), got %g", c->dropout);
    c->stages = nf;
    if (c->size % (1 << nf) != 0)
        return hg_error(HG_ERR_INVALID, "config 'size' %lld is not divisible by 2^%d (stages)",
                        (long long)c->size, nf);
    int64_t cin = c->in_channels;
    for (int st = 0; st < nf; st++)
        for (int k = 0; k < c->convs; k++) {
            char name[64];
            snprintf(name, sizeof name, "stage%d.conv%d", st, k);
            s = hg_conv_layer_init(&c->conv[st][k], &m->params, name, 2, (int)cin,
                                   (int)c->features[st], 3, 1, 1, false, false, rng);
            snprintf(name, sizeof name, "stage%d.bn%d", st, k);
            if (s == HG_OK)
                s = hg_norm_layer_init(&c->norm[st][k], &m->params, name, HG_NORM_BATCH,
                                       (int)c->features[st], 0);
            if (s != HG_OK)
                return s;
            cin = c->features[st];
        }
    int64_t side = c->size >> nf;
    s = hg_linear_layer_init(&c->fc1, &m->params, "fc1", (int)(cin * side * side),
                             (int)c->hidden, true, rng);
    if (s == HG_OK)
        s = hg_linear_layer_init(&c->fc2, &m->params, "fc2", (int)c->hidden, (int)c->classes,
                                 true, rng);
    return s;
}

static hg_tensor *cnn_forward(hg_model *m, hg_ctx *ctx, hg_tensor *x)
{
    cnn *c = m->impl;
    if (!x)
        return NULL;
    if (hg_check_shape(x, 4, (const int64_t[]){-1, c->in_channels, c->size, c->size}) != HG_OK)
        return NULL;
    hg_pool_opts pool = {.kernel = {2, 2, 2}, .stride = {2, 2, 2}};
    for (int st = 0; st < c->stages; st++) {
        for (int k = 0; k < c->convs; k++) {
            x = hg_conv_layer_forward(ctx, &c->conv[st][k], x);
            x = hg_relu(ctx, hg_norm_layer_forward(ctx, &c->norm[st][k], x));
        }
        x = hg_max_pool(ctx, x, &pool);
    }
    if (!x)
        return NULL;
    x = hg_reshape(ctx, x, HG_SHAPE(x->shape[0], -1));
    if (c->dropout > 0)
        x = hg_dropout(ctx, x, (float)c->dropout, hg_ctx_rng(ctx));
    x = hg_relu(ctx, hg_linear_layer_forward(ctx, &c->fc1, x));
    return hg_linear_layer_forward(ctx, &c->fc2, x);
}

static hg_status cnn_fold(hg_model *m, int *folded)
{
    cnn *c = m->impl;
    for (int st = 0; st < c->stages; st++)
        for (int k = 0; k < c->convs; k++) {
            bool f = false;
            hg_status s = hg_conv_norm_fold(&c->conv[st][k], &c->norm[st][k], &m->params, &f);
            if (s != HG_OK)
                return s;
            *folded += f;
        }
    return HG_OK;
}

const hg_model_arch hg_arch_cnn = {"cnn", "small CNN image classifier", cnn_keys, cnn_build,
                                   cnn_forward, NULL, cnn_fold};
