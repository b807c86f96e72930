/* ONNX -> native weight conversion (hg_onnx_convert, `hinge convert x.onnx y.safetensors`).
 * Fixtures (tools/fixtures/make_onnx_native_fixtures.py): PyTorch replicas of the native
 * U-Net exported three ways: eval mode (batch norms folded into the convs), batch norms kept,
 * and a 3-D instance-norm/leaky-ReLU variant; a torchvision-ordered ResNet-18 (eval export),
 * and the ResNet-18 of test_onnx's fixtures, whose blocks compute the projection shortcut in
 * another order (the exporter emits it between conv1 and conv2), and a smaller torchvision-
 * ordered one exported with its batch norms kept. The converted native model
 * must reproduce PyTorch's output on the fixture input; where the exporter kept the layers,
 * every native parameter must equal PyTorch's bit for bit; mismatched configs and wirings are
 * refused. */
#include "hinge/nn.h"
#include "hinge/onnx.h"
#include "test_util.h"

#include <string.h>

typedef struct conv_case {
    const char *name;
    const char *arch;
    const char *config[5][2];
    int fused; /* batch norms the exporter folded */
    int layers;
    double tol;     /* max relative error of the native model vs PyTorch */
    bool peer_onnx; /* from test_onnx's fixtures (onnx/, input "x0") rather than onnx_native/ */
} conv_case;

#define RESNET_CONFIG {{"in_channels", "3"}, {"classes", "5"}, {"width", "8"}}

static const conv_case cases[] = {
    {"unet2d_fused", "unet", {{"features", "4,8,16"}, {"classes", "3"}}, 10, 23, 1e-5, false},
    {"unet2d_bn", "unet", {{"features", "4,8,16"}, {"classes", "3"}}, 0, 23, 1e-5, false},
    {"unet3d_in", "unet",
     {{"features", "4,8"}, {"classes", "2"}, {"dims", "3"}, {"norm", "instance"},
      {"activation", "leaky_relu"}},
     0, 14, 1e-5, false},
    /* 20 batch norms (stem, 2 per block, 3 shortcuts), 41 layers with the 20 convs and fc */
    {"resnet18_tv", "resnet18", RESNET_CONFIG, 20, 41, 1e-4, false},
    {"resnet18_op13", "resnet18", RESNET_CONFIG, 20, 41, 1e-4, true},
    /* batch norms kept: each pairs with the BatchNormalization reading its conv's output */
    {"resnet18_bn", "resnet18", {{"classes", "3"}, {"width", "4"}}, 0, 41, 1e-4, false},
};

static hg_model *native_for(const conv_case *c, const char *override_key, const char *value)
{
    hg_metadata cf;
    hg_metadata_init(&cf);
    for (int i = 0; i < 5 && c->config[i][0]; i++)
        hg_metadata_set(&cf, c->config[i][0], c->config[i][1]);
    if (override_key)
        hg_metadata_set(&cf, override_key, value);
    hg_model *m = hg_model_create(c->arch, &cf, 7);
    hg_metadata_free(&cf);
    return m;
}

static const char *key(const conv_case *c, const char *what)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "%s.%s", c->name, what);
    return buf;
}

/* Output of a native model on the fixture input vs PyTorch's. */
static double native_error(hg_model *m, const conv_case *c, const hg_params *fx)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    const hg_tensor *x = hg_test_get(fx, key(c, c->peer_onnx ? "x0" : "x"));
    const hg_tensor *y = hg_test_get(fx, key(c, "y"));
    hg_tensor *xi = hg_tensor_new(ctx, HG_F32, x->ndim, x->shape);
    memcpy(xi->data, x->data, (size_t)x->numel * sizeof(float));
    hg_tensor *z = hg_model_forward(m, ctx, xi);
    double e = z && z->numel == y->numel ? hg_test_rel_err(z->data, y->data, y->numel) : 1e30;
    hg_ctx_free(ctx);
    return e;
}

static void check_case(const conv_case *c, const hg_params *fx)
{
    char path[96];
    snprintf(path, sizeof path, "%s/%s.onnx", c->peer_onnx ? "onnx" : "onnx_native", c->name);
    hg_onnx_model *o = hg_onnx_load(hg_test_fixture(path));
    hg_model *m = native_for(c, NULL, NULL);
    CHECK_MSG(o && m, "%s", hg_error_message());
    if (!o || !m)
        return;
    double before = native_error(m, c, fx); /* random init: must be far off */
    hg_onnx_convert_report r;
    CHECK_OK(hg_onnx_convert(o, m, 0, NULL, &r));
    CHECK_MSG(r.layers == c->layers && r.fused_batch_norms == c->fused,
              "%s: %d layers, %d fused", c->name, (int)r.layers, (int)r.fused_batch_norms);
    CHECK(r.max_rel_error <= c->tol);
    double after = native_error(m, c, fx);
    printf("%s: native vs PyTorch %.2e (random init %.2e), native vs ONNX %.2e, %d fused\n",
           c->name, after, before, r.max_rel_error, (int)r.fused_batch_norms);
    CHECK(before > 0.1 && after <= c->tol);
    if (c->fused == 0) /* the exporter kept every layer: the weights are PyTorch's exactly */
        for (int i = 0; i < m->params.count; i++) {
            const hg_param *p = &m->params.items[i];
            const hg_tensor *want = hg_test_get(fx, key(c, p->name));
            CHECK_MSG(want && want->numel == p->tensor->numel &&
                          !memcmp(want->data, p->tensor->data,
                                  (size_t)want->numel * sizeof(float)),
                      "%s: %s differs", c->name, p->name);
        }
    hg_model_free(m);
    hg_onnx_free(o);
}

static void check_refusals(void)
{
    const conv_case *c = &cases[0];
    hg_onnx_model *o = hg_onnx_load(hg_test_fixture("onnx_native/unet2d_fused.onnx"));
    hg_onnx_convert_report r;
    hg_model *m = native_for(c, "features", "4,8,32");
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID,
                "native conv 'enc2.conv0' weight is [32, 8, 3, 3], but ONNX Conv node "
                "'/enc2/conv0/Conv' (the matching layer in graph order) has [16, 8, 3, 3]");
    hg_model_free(m);
    m = native_for(c, "features", "4,8,16,32");
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID, "native conv 'enc3.conv0'");
    hg_model_free(m);
    /* Every weight fits, but leaky ReLU is another wiring: only running both can tell. */
    m = native_for(c, "activation", "leaky_relu");
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID,
                "output differs from the ONNX model's");
    hg_model_free(m);
    m = native_for(c, "classes", "2");
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID, "native conv 'head'");
    hg_model_free(m);
    m = native_for(c, NULL, NULL);
    CHECK_FAILS(hg_onnx_convert(o, m, 4, (int64_t[]){1, 1, 12, 12}, &r), HG_ERR_INVALID,
                "expected [1, 1, 16, 16], got [1, 1, 12, 12]");
    hg_model_free(m);
    hg_onnx_free(o);
    /* The fixture U-Net of test_onnx (bilinear up-sampling, softmax): not this architecture. */
    o = hg_onnx_load(hg_test_fixture("onnx/unet2d_dynamic_op13.onnx"));
    m = native_for(c, NULL, NULL);
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID, "dynamic dimension 0");
    CHECK_FAILS(hg_onnx_convert(o, m, 4, (int64_t[]){1, 1, 16, 16}, &r), HG_ERR_INVALID,
                "convert: native conv 'enc0.conv0' weight is [4, 1, 3, 3], but ONNX Conv");
    hg_model_free(m);
    hg_onnx_free(o);
    /* ResNet-18: another width, class count or depth is refused, naming the layer. */
    c = &cases[3];
    o = hg_onnx_load(hg_test_fixture("onnx_native/resnet18_tv.onnx"));
    m = native_for(c, "width", "16");
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID,
                "native conv 'conv1' weight is [16, 3, 7, 7], but ONNX Conv node '/conv1/Conv' "
                "(the matching layer in graph order) has [8, 3, 7, 7]: the architecture or its "
                "--set config differs");
    hg_model_free(m);
    m = native_for(c, "classes", "4");
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID,
                "native linear 'fc' weight is [4, 64], but ONNX Gemm node");
    hg_model_free(m);
    m = native_for(c, "blocks", "2,2,2,1"); /* the shape-fitting search skips layer4.1 */
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID,
                "ONNX Conv node '/layer4/layer4.1/conv1/Conv' and 1 more weighted nodes have no "
                "native counterpart");
    hg_model_free(m);
    m = native_for(c, "stem", "small"); /* a 3x3 stem conv: nothing fits */
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID,
                "native conv 'conv1' weight is [8, 3, 3, 3]");
    hg_model_free(m);
    m = native_for(c, "norm", "instance"); /* no InstanceNormalization in the graph */
    CHECK_FAILS(hg_onnx_convert(o, m, 0, NULL, &r), HG_ERR_INVALID,
                "ONNX node '/conv1/Conv' has a bias, but native conv 'conv1' has none and no "
                "batch norm follows it");
    hg_model_free(m);
    hg_onnx_free(o);
}

/* Through the command line: the saved model loads and reproduces PyTorch. */
static void check_cli(const hg_params *fx, const hg_params *peer)
{
    const char *out = hg_test_tmp("onnx_native_unet.safetensors");
    CHECK(hg_test_run("%s convert %s %s --arch unet --set features=4,8,16 --set classes=3 "
                      "> /dev/null", HINGE_BINARY,
                      hg_test_fixture("onnx_native/unet2d_fused.onnx"), out) == 0);
    hg_metadata extra;
    hg_metadata_init(&extra);
    hg_model *m = hg_model_load(out, &extra);
    CHECK_MSG(m, "%s", hg_error_message());
    if (m) {
        CHECK(native_error(m, &cases[0], fx) <= 1e-5);
        const char *src = hg_metadata_get(&extra, "converted_from");
        CHECK(src && strstr(src, "unet2d_fused.onnx"));
    }
    hg_model_free(m);
    hg_metadata_free(&extra);
    CHECK(hg_test_run("%s convert %s %s --set classes=3 2> /dev/null", HINGE_BINARY,
                      hg_test_fixture("onnx_native/unet2d_fused.onnx"), out) == 2);
    CHECK(hg_test_run("%s convert %s %s --arch unet 2> /dev/null", HINGE_BINARY,
                      hg_test_fixture("onnx_native/unet2d_fused.onnx"), out) == 1);
    /* ResNet-18 in the exporter's other order; a wrong width names the layer on stderr. */
    const char *rn = hg_test_tmp("onnx_native_resnet.safetensors");
    const char *set = "--arch resnet18 --set in_channels=3 --set classes=5";
    CHECK(hg_test_run("%s convert %s %s %s --set width=8 > /dev/null", HINGE_BINARY,
                      hg_test_fixture("onnx/resnet18_op13.onnx"), rn, set) == 0);
    m = hg_model_load(rn, NULL);
    CHECK_MSG(m, "%s", hg_error_message());
    if (m)
        CHECK(native_error(m, &cases[4], peer) <= 1e-4);
    hg_model_free(m);
    CHECK(hg_test_run("%s convert %s %s %s --set width=4 2>&1 | grep -q \"native conv "
                      "'conv1' weight is \\[4, 3, 7, 7\\], but ONNX Conv node\"",
                      HINGE_BINARY, hg_test_fixture("onnx/resnet18_op13.onnx"), rn, set) == 0);
}

int main(void)
{
    hg_params fx, peer;
    hg_params_init(&fx);
    hg_params_init(&peer);
    hg_test_load_fixture("onnx_native/expected.safetensors", &fx);
    hg_test_load_fixture("onnx/expected.safetensors", &peer);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(&cases[i], cases[i].peer_onnx ? &peer : &fx);
    check_refusals();
    check_cli(&fx, &peer);
    hg_params_free(&fx);
    hg_params_free(&peer);
    return hg_test_finish("test_onnx_convert");
}
