/* "resnet18": forward, backward and running statistics against the PyTorch peer
 * (tools/fixtures/make_resnet_fixtures.py, torchvision's structure and names) in 2-D and 3-D;
 * gradients against finite differences; the class activation map; a few training steps;
 * configuration errors. */
#include "hinge/autodiff.h"
#include "hinge/nn.h"
#include "hinge/train.h"
#include "test_util.h"

#include <string.h>

static hg_model *from_config(const char *config)
{
    hg_metadata c;
    hg_metadata_init(&c);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", config);
    for (char *save = NULL, *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        *eq = 0;
        hg_metadata_set(&c, kv, eq + 1);
    }
    hg_model *m = hg_model_create("resnet18", &c, 3);
    hg_metadata_free(&c);
    return m;
}

static double rel_err(const hg_tensor *a, const hg_tensor *b)
{
    if (!a || !b || a->numel != b->numel)
        return INFINITY;
    return hg_test_rel_err(a->data, b->data, a->numel);
}

static void check_peer(const hg_params *fx, const hg_metadata *meta, const char *c)
{
    char key[256];
    snprintf(key, sizeof key, "%s.config", c);
    const char *config = hg_metadata_get(meta, key);
    REQUIRE(config);
    hg_model *m = from_config(config);
    REQUIRE(m);
    /* Every parameter and buffer of the model is in the peer's state dict, and the counts
     * agree: the structure and the names are torchvision's. */
    int in_fixture = 0;
    snprintf(key, sizeof key, "%s.param.", c);
    for (int i = 0; i < fx->count; i++)
        in_fixture += strncmp(fx->items[i].name, key, strlen(key)) == 0;
    CHECK_MSG(in_fixture == m->params.count, "%s: peer has %d tensors, hinge %d", c, in_fixture,
              m->params.count);
    for (int i = 0; i < m->params.count; i++) {
        snprintf(key, sizeof key, "%s.param.%s", c, m->params.items[i].name);
        hg_tensor *src = hg_test_get(fx, key), *dst = m->params.items[i].tensor;
        REQUIRE(hg_shape_equal(src, dst));
        memcpy(dst->data, src->data, (size_t)dst->numel * sizeof(float));
    }
    snprintf(key, sizeof key, "%s.x", c);
    hg_tensor *x = hg_test_get(fx, key);
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_training(ctx, false);
    hg_ctx_set_grad(ctx, false);
    snprintf(key, sizeof key, "%s.y_eval", c);
    double e_eval = rel_err(hg_model_forward(m, ctx, x), hg_test_get(fx, key));
    CHECK_MSG(e_eval < 1e-5, "%s eval: %g", c, e_eval);

    snprintf(key, sizeof key, "%s.y_train", c);
    if (!hg_params_get(fx, key)) { /* eval-only case (see the fixture script) */
        printf("%s (%s) vs PyTorch: eval logits rel err %.2e\n", c, config, e_eval);
        hg_ctx_free(ctx);
        hg_model_free(m);
        return;
    }
    hg_ctx_reset(ctx);
    hg_ctx_set_training(ctx, true);
    hg_ctx_set_grad(ctx, true);
    hg_tensor *xg = hg_tensor_clone(NULL, x);
    xg->requires_grad = true;
    hg_params_zero_grad(&m->params);
    hg_tensor *y = hg_model_forward(m, ctx, xg);
    snprintf(key, sizeof key, "%s.y_train", c);
    double e_train = rel_err(y, hg_test_get(fx, key));
    CHECK_MSG(e_train < 1e-5, "%s train: %g", c, e_train);
    snprintf(key, sizeof key, "%s.r", c);
    REQUIRE(y);
    CHECK_OK(hg_backward_seed(ctx, y, hg_test_get(fx, key)->data));
    double e_grad = 0;
    int grads = 0;
    snprintf(key, sizeof key, "%s.grad.", c);
    size_t klen = strlen(key);
    for (int i = 0; i < fx->count; i++) {
        const char *n = fx->items[i].name;
        if (strncmp(n, key, klen) != 0)
            continue;
        const char *pname = n + klen;
        hg_tensor *mine = strcmp(pname, "x") == 0 ? xg : hg_params_get(&m->params, pname);
        REQUIRE(mine && mine->grad);
        hg_tensor g = *mine;
        g.data = mine->grad;
        double e = rel_err(&g, fx->items[i].tensor);
        CHECK_MSG(e < 1e-4, "%s gradient of %s: %g", c, pname, e);
        e_grad = fmax(e_grad, e);
        grads++;
    }
    CHECK(grads >= 3);
    double e_run = 0;
    for (int i = 0; i < m->params.count; i++) {
        const char *n = m->params.items[i].name;
        if (!strstr(n, "running_"))
            continue;
        snprintf(key, sizeof key, "%s.running.%s", c, n);
        e_run = fmax(e_run, rel_err(m->params.items[i].tensor, hg_test_get(fx, key)));
    }
    CHECK_MSG(e_run < 1e-5, "%s running statistics: %g", c, e_run);
    printf("%s (%s) vs PyTorch: eval logits rel err %.2e, train logits %.2e, gradients (%d "
           "tensors) %.2e, running stats %.2e\n", c, config, e_eval, e_train, grads, e_grad,
           e_run);
    hg_tensor_free(xg);
    hg_ctx_free(ctx);
    hg_model_free(m);
}

static void test_peer(void)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_metadata meta;
    hg_metadata_init(&meta);
    REQUIRE(hg_safetensors_load(hg_test_fixture("nn/resnet18.safetensors"), &fx, &meta) ==
            HG_OK);
    check_peer(&fx, &meta, "r2");
    check_peer(&fx, &meta, "r3");
    check_peer(&fx, &meta, "r3s");
    check_peer(&fx, &meta, "r2s");
    hg_params_free(&fx);
    hg_metadata_free(&meta);
}

static hg_tensor *net_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    hg_ctx_set_training(ctx, false);
    return hg_model_forward(user, ctx, in[0]);
}

/* Central differences through the whole network (ReLU, max pool, the projection shortcuts)
 * in eval mode: with batch statistics the output is invariant to the scale of each conv's
 * weights, which leaves gradients too small for float32 differences (training mode is
 * checked against PyTorch's gradients above). Kinks make differences wrong by O(eps) where
 * a pre-activation crosses zero: a small step and a loose tolerance. */
static void test_gradcheck(void)
{
    for (int dims = 2; dims <= 3; dims++) {
        hg_model *m = from_config(dims == 2 ? "dims=2;width=2;classes=3"
                                            : "dims=3;width=1;classes=2;stem=small");
        REQUIRE(m);
        hg_tensor *x = dims == 2 ? hg_new(NULL, 2, 1, 16, 16) : hg_new(NULL, 2, 1, 8, 8, 8);
        hg_test_fill(x, 9, -1.0f, 1.0f);
        x->requires_grad = true;
        hg_tensor *in[4] = {x, hg_params_get(&m->params, "conv1.weight"),
                            hg_params_get(&m->params, "layer3.0.downsample.0.weight"),
                            hg_params_get(&m->params, "layer4.1.bn2.weight")};
        REQUIRE(in[1] && in[2] && in[3]);
        hg_gradcheck_opts go = {.eps = 1e-3, .rtol = 0.05, .atol = 2e-2, .seed = 5,
                                .max_checks = 64};
        hg_gradcheck_result gr;
        CHECK_OK(hg_gradcheck(net_fn, in, 4, m, &go, &gr));
        printf("resnet18 %d-D gradcheck: max abs err %.2e (of the largest gradient), max rel "
               "err %.2e\n", dims, gr.max_abs_err, gr.max_rel_err);
        hg_tensor_free(x);
        hg_model_free(m);
    }
}

/* The CAM is linear in the features: its mean plus the fc bias is the logit. */
static void test_cam(void)
{
    hg_model *m = from_config("dims=2;width=4;classes=2");
    REQUIRE(m);
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_training(ctx, false);
    hg_ctx_set_grad(ctx, false);
    hg_tensor *x = hg_new(ctx, 1, 1, 64, 64);
    hg_test_fill(x, 4, 0.0f, 1.0f);
    hg_tensor *logits = hg_model_forward(m, ctx, x);
    REQUIRE(logits);
    for (int k = 0; k < 2; k++) {
        hg_tensor *cam = hg_resnet_cam(m, ctx, x, k);
        REQUIRE(cam);
        CHECK(cam->ndim == 4 && cam->shape[1] == 1 && cam->shape[2] == 2 && cam->shape[3] == 2);
        double mean = 0;
        for (int64_t i = 0; i < cam->numel; i++)
            mean += cam->data[i] / (double)cam->numel;
        float bias = hg_params_get(&m->params, "fc.bias")->data[k];
        CHECK_NEAR(mean + bias, logits->data[k], 1e-5);
    }
    CHECK_NULL_WITH(hg_resnet_cam(m, ctx, x, 2), "class 2 outside [0, 2)");
    hg_ctx_free(ctx);
    hg_model_free(m);
}

/* Two classes: a bright square somewhere, or none. The loss must fall. */
static void test_training(void)
{
    hg_model *m = from_config("dims=2;width=4;classes=2;stem=small");
    REQUIRE(m);
    int64_t n = 128, side = 16;
    hg_labelled_images d = {hg_new(NULL, n, 1, side, side), hg_new(NULL, n), 2};
    hg_rng rng = hg_rng_new(77);
    for (int64_t i = 0; i < n; i++) {
        float *img = d.images->data + i * side * side;
        hg_rng_fill_uniform(&rng, img, side * side, 0.0f, 0.3f);
        d.labels->data[i] = (float)(i % 2);
        if (i % 2) {
            int64_t r0 = (int64_t)hg_rng_below(&rng, (uint64_t)side - 4);
            int64_t c0 = (int64_t)hg_rng_below(&rng, (uint64_t)side - 4);
            for (int64_t r = r0; r < r0 + 4; r++)
                for (int64_t c = c0; c < c0 + 4; c++)
                    img[r * side + c] += 0.7f;
        }
    }
    double loss0, loss1, acc;
    CHECK_OK(hg_classifier_evaluate(m, &d, NULL, &loss0));
    hg_classification_task ct = {&d, NULL, 16};
    hg_task task = hg_classification_task_make(&ct);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 100;
    o.lr = 3e-3;
    hg_train_result r;
    CHECK_OK(hg_train(m, &task, &o, &r));
    CHECK_OK(hg_classifier_evaluate(m, &d, &acc, &loss1));
    printf("resnet18 (width 4, small stem), 100 steps of batch 16 on bright-square/none: loss "
           "%.4f -> %.4f, accuracy %.3f, %.2f s\n", loss0, loss1, acc, r.seconds);
    CHECK(loss1 < 0.5 * loss0);
    CHECK(acc > 0.9);
    hg_labelled_images_free(&d);
    hg_model_free(m);
}

static void test_errors(void)
{
    CHECK_NULL_WITH(from_config("blocks=2,2,2"), "config 'blocks': expected 4 stages, got 3");
    CHECK_NULL_WITH(from_config("blocks=2,2,9,2"), "at most 8 blocks per stage, got 9 in stage 3");
    CHECK_NULL_WITH(from_config("stem=tiny"), "config 'stem': expected imagenet or small");
    CHECK_NULL_WITH(from_config("dims=1"), "config 'dims': expected an integer in [2, 3]");
    CHECK_NULL_WITH(from_config("depth=3"), "unknown config key 'depth'");
    hg_model *m = from_config("dims=2;width=2;in_channels=3");
    REQUIRE(m);
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(ctx, 1, 1, 32, 32);
    hg_tensor_set_name(x, "image");
    CHECK_NULL_WITH(hg_model_forward(m, ctx, x),
                    "resnet18 (2-D, 3 input channels): 'image' has shape [1, 1, 32, 32]");
    hg_tensor *y = hg_new(ctx, 1, 3, 8, 32, 32);
    CHECK_NULL_WITH(hg_model_forward(m, ctx, y), "expected [N, 3, H, W]");
    hg_ctx_free(ctx);
    hg_model_free(m);
    CHECK_NULL_WITH(hg_resnet_cam(NULL, NULL, NULL, 0), "expected a resnet18 model");
}

int main(void)
{
    test_peer();
    test_gradcheck();
    test_cam();
    test_training();
    test_errors();
    return hg_test_finish("test_resnet");
}
