/* "resnet18": the ResNet-18 classifier (He et al. 2016) in 2-D or 3-D, structured as
 * torchvision's resnet18 so that its state dict names and shapes carry over:
 *   stem   conv1 (7^d, stride 2, pad 3, no bias) - bn1 - ReLU - max pool (3^d, stride 2, pad 1)
 *   layerS.B  BasicBlock: conv3-bn-ReLU-conv3-bn + shortcut, ReLU; stage S (1..4) has width
 *          width * 2^(S-1); the first block of stages 2-4 has stride 2 and a projection
 *          shortcut downsample.0 (1^d conv, stride 2, no bias) + downsample.1 (norm)
 *   head   global average pool - fc (Linear)
 * Options beyond torchvision: dims, in_channels, width, blocks per stage, norm kind, and a
 * "small" stem (3^d conv, stride 1, no max pool) for small images. Initialization follows
 * torchvision: Kaiming-normal (fan_out, ReLU) convs, norm weight 1 and bias 0, PyTorch's
 * default Linear init. */
#include "hinge/nn.h"
#include "hinge/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESNET_STAGES 4
#define RESNET_MAX_BLOCKS 8

typedef struct {
    hg_conv_layer conv1, conv2, down;
    hg_norm_layer bn1, bn2, down_bn;
    bool project; /* shortcut through downsample.0/1 rather than the identity */
} basic_block;

typedef struct {
    int64_t dims, in_channels, classes, width;
    int64_t blocks[RESNET_STAGES];
    hg_norm_kind norm;
    bool small_stem;
    hg_conv_layer conv1;
    hg_norm_layer bn1;
    basic_block block[RESNET_STAGES][RESNET_MAX_BLOCKS];
    hg_linear_layer fc;
} resnet;

static const char *const resnet_keys[] = {"dims", "in_channels", "classes", "width", "blocks",
                                          "norm", "stem", NULL};

/* A bias-free conv with torchvision's initialization, followed by its norm layer. */
static hg_status conv_norm_init(hg_conv_layer *c, hg_norm_layer *n, hg_params *p,
                                const char *conv_name, const char *norm_name, const resnet *r,
                                int cin, int cout, int kernel, int stride, hg_rng *rng)
{
    hg_status s = hg_conv_layer_init(c, p, conv_name, (int)r->dims, cin, cout, kernel, stride,
                                     kernel / 2, r->norm == HG_NORM_NONE, false, rng);
    if (s == HG_OK)
        s = hg_init_kaiming_normal(c->weight, 0, HG_FAN_OUT, HG_NONLIN_RELU, rng);
    if (s == HG_OK && c->bias)
        hg_tensor_fill(c->bias, 0.0f);
    if (s == HG_OK)
        s = hg_norm_layer_init(n, p, norm_name, r->norm, cout, cout % 8 == 0 ? 8 : 1);
    return s;
}

static hg_status block_init(basic_block *b, hg_params *p, const char *name, const resnet *r,
                            int cin, int cout, int stride, hg_rng *rng)
{
    char cn[96], nn[96];
    snprintf(cn, sizeof cn, "%s.conv1", name);
    snprintf(nn, sizeof nn, "%s.bn1", name);
    hg_status s = conv_norm_init(&b->conv1, &b->bn1, p, cn, nn, r, cin, cout, 3, stride, rng);
    snprintf(cn, sizeof cn, "%s.conv2", name);
    snprintf(nn, sizeof nn, "%s.bn2", name);
    if (s == HG_OK)
        s = conv_norm_init(&b->conv2, &b->bn2, p, cn, nn, r, cout, cout, 3, 1, rng);
    b->project = stride != 1 || cin != cout;
    snprintf(cn, sizeof cn, "%s.downsample.0", name);
    snprintf(nn, sizeof nn, "%s.downsample.1", name);
    if (s == HG_OK && b->project)
        s = conv_norm_init(&b->down, &b->down_bn, p, cn, nn, r, cin, cout, 1, stride, rng);
    return s;
}

static hg_status parse_config(resnet *r, const hg_metadata *cf)
{
    r->dims = 2, r->in_channels = 1, r->classes = 2, r->width = 64, r->norm = HG_NORM_BATCH;
    for (int i = 0; i < RESNET_STAGES; i++)
        r->blocks[i] = 2;
    int nb = RESNET_STAGES;
    hg_status s = hg_config_int(cf, "dims", 2, 3, &r->dims);
    if (s == HG_OK) s = hg_config_int(cf, "in_channels", 1, 4096, &r->in_channels);
    if (s == HG_OK) s = hg_config_int(cf, "classes", 2, 1 << 20, &r->classes);
    if (s == HG_OK) s = hg_config_int(cf, "width", 1, 1024, &r->width);
    if (s == HG_OK) s = hg_config_int_list(cf, "blocks", RESNET_STAGES, r->blocks, &nb);
    if (s == HG_OK && nb != RESNET_STAGES)
        s = hg_error(HG_ERR_INVALID, "config 'blocks': expected %d stages, got %d", RESNET_STAGES,
                     nb);
    for (int i = 0; s == HG_OK && i < RESNET_STAGES; i++)
        if (r->blocks[i] > RESNET_MAX_BLOCKS)
            s = hg_error(HG_ERR_INVALID, "config 'blocks': at most %d blocks per stage, got "
                         "%lld in stage %d", RESNET_MAX_BLOCKS, (long long)r->blocks[i], i + 1);
    const char *norm = hg_metadata_get(cf, "norm");
    if (s == HG_OK && norm)
        s = hg_norm_kind_parse(norm, &r->norm);
    const char *stem = hg_metadata_get(cf, "stem");
    if (s == HG_OK && stem) {
        if (strcmp(stem, "small") == 0)
            r->small_stem = true;
        else if (strcmp(stem, "imagenet") != 0)
            s = hg_error(HG_ERR_INVALID, "config 'stem': expected imagenet or small, got '%s'",
                         stem);
    }
    return s;
}

static hg_status resnet_build(hg_model *m, hg_rng *rng)
{
    resnet *r = calloc(1, sizeof *r);
    if (!r)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    m->impl = r;
    hg_status s = parse_config(r, &m->config);
    int w = (int)r->width;
    if (s == HG_OK)
        s = conv_norm_init(&r->conv1, &r->bn1, &m->params, "conv1", "bn1", r,
                           (int)r->in_channels, w, r->small_stem ? 3 : 7,
                           r->small_stem ? 1 : 2, rng);
    int cin = w;
    for (int st = 0; s == HG_OK && st < RESNET_STAGES; st++) {
        int cout = w << st;
        for (int b = 0; s == HG_OK && b < r->blocks[st]; b++) {
            char name[64];
            snprintf(name, sizeof name, "layer%d.%d", st + 1, b);
            s = block_init(&r->block[st][b], &m->params, name, r, cin, cout,
                           st > 0 && b == 0 ? 2 : 1, rng);
            cin = cout;
        }
    }
    if (s == HG_OK)
        s = hg_linear_layer_init(&r->fc, &m->params, "fc", cin, (int)r->classes, true, rng);
    return s;
}

static hg_tensor *block_forward(hg_ctx *ctx, const basic_block *b, hg_tensor *x)
{
    hg_tensor *y = hg_relu(ctx, hg_norm_layer_forward(ctx, &b->bn1,
                                                      hg_conv_layer_forward(ctx, &b->conv1, x)));
    y = hg_norm_layer_forward(ctx, &b->bn2, hg_conv_layer_forward(ctx, &b->conv2, y));
    hg_tensor *shortcut =
        b->project ? hg_norm_layer_forward(ctx, &b->down_bn, hg_conv_layer_forward(ctx, &b->down, x))
                   : x;
    return hg_relu(ctx, hg_add(ctx, y, shortcut));
}

/* The last stage's feature maps [N, 8 width, *s]. */
static hg_tensor *resnet_features(hg_ctx *ctx, const resnet *r, hg_tensor *x)
{
    if (!x)
        return NULL;
    if (x->ndim != 2 + r->dims || x->shape[1] != r->in_channels) {
        char got[96];
        hg_error(HG_ERR_INVALID, "resnet18 (%lld-D, %lld input channels): '%s' has shape %s, "
                 "expected [N, %lld, %s]", (long long)r->dims, (long long)r->in_channels,
                 hg_tensor_label(x), hg_shape_str(x, got, sizeof got),
                 (long long)r->in_channels, r->dims == 2 ? "H, W" : "D, H, W");
        return NULL;
    }
    x = hg_relu(ctx, hg_norm_layer_forward(ctx, &r->bn1, hg_conv_layer_forward(ctx, &r->conv1, x)));
    if (!r->small_stem) {
        hg_pool_opts pool = {.kernel = {3, 3, 3}, .stride = {2, 2, 2}, .padding = {1, 1, 1}};
        x = hg_max_pool(ctx, x, &pool);
    }
    for (int st = 0; st < RESNET_STAGES; st++)
        for (int b = 0; b < r->blocks[st]; b++)
            x = block_forward(ctx, &r->block[st][b], x);
    return x;
}

static hg_tensor *resnet_forward(hg_model *m, hg_ctx *ctx, hg_tensor *x)
{
    hg_tensor *f = hg_global_avg_pool(ctx, resnet_features(ctx, m->impl, x));
    if (!f)
        return NULL;
    f = hg_reshape(ctx, f, HG_SHAPE(f->shape[0], f->shape[1]));
    return hg_linear_layer_forward(ctx, &((resnet *)m->impl)->fc, f);
}

hg_tensor *hg_resnet_cam(hg_model *m, hg_ctx *ctx, hg_tensor *x, int cls)
{
    if (!m || strcmp(m->arch->name, "resnet18") != 0) {
        hg_error(HG_ERR_INVALID, "class activation map: expected a resnet18 model, got '%s'",
                 m ? m->arch->name : "none");
        return NULL;
    }
    resnet *r = m->impl;
    if (cls < 0 || cls >= r->classes) {
        hg_error(HG_ERR_INVALID, "class activation map: class %d outside [0, %lld)", cls,
                 (long long)r->classes);
        return NULL;
    }
    hg_tensor *f = resnet_features(ctx, r, x);
    if (!f)
        return NULL;
    /* The fc row of the class as a 1^d conv: its spatial mean is the logit minus the bias. */
    int64_t c = f->shape[1];
    int64_t ws[5] = {1, c, 1, 1, 1};
    hg_tensor *w = hg_tensor_empty(ctx, HG_F32, f->ndim, ws);
    if (!w)
        return NULL;
    memcpy(w->data, r->fc.weight->data + (int64_t)cls * c, (size_t)c * sizeof(float));
    return hg_conv(ctx, f, w, NULL, NULL);
}

const hg_model_arch hg_arch_resnet18 = {"resnet18", "2-D/3-D ResNet-18 image classifier",
                                        resnet_keys, resnet_build, resnet_forward, NULL, NULL};
