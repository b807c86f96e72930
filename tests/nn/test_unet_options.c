/* U-Net options: residual encoder units (nnU-Net's BasicBlockD) and deep supervision
 * (auxiliary heads, halving normalized weights, nearest-downsampled targets): structure,
 * the loss against an independent composition, gradients against finite differences, and
 * training on the synthetic shapes. */
#include "hinge/autodiff.h"
#include "hinge/segment.h"
#include "test_util.h"

#include <string.h>
#include <time.h>

static hg_model *unet(int dims, const char *features, const char *norm, int residual, int deep)
{
    hg_metadata c;
    hg_metadata_init(&c);
    char buf[16];
    snprintf(buf, sizeof buf, "%d", dims);
    hg_metadata_set(&c, "dims", buf);
    hg_metadata_set(&c, "classes", "3");
    hg_metadata_set(&c, "features", features);
    hg_metadata_set(&c, "norm", norm);
    hg_metadata_set(&c, "activation", "leaky_relu");
    snprintf(buf, sizeof buf, "%d", residual);
    hg_metadata_set(&c, "residual", buf);
    snprintf(buf, sizeof buf, "%d", deep);
    hg_metadata_set(&c, "deep_supervision", buf);
    hg_model *m = hg_model_create("unet", &c, 2);
    hg_metadata_free(&c);
    return m;
}

static void test_structure(void)
{
    hg_model *plain = unet(2, "4,8,16", "batch", 0, 0), *res = unet(2, "4,8,16", "batch", 1, 1);
    REQUIRE(plain && res);
    /* residual: a projection shortcut where the channels change (every encoder level here);
     * deep supervision: one auxiliary head per decoder level below full resolution */
    const char *extra[] = {"enc0.skip.conv.weight", "enc1.skip.norm.running_var",
                           "enc2.skip.conv.weight", "ds1.weight", "ds1.bias"};
    for (int i = 0; i < 5; i++) {
        CHECK_MSG(hg_params_get(&res->params, extra[i]) != NULL, "%s", extra[i]);
        CHECK(hg_params_get(&plain->params, extra[i]) == NULL);
    }
    CHECK(hg_params_get(&res->params, "ds0.weight") == NULL);
    CHECK(hg_params_get(&res->params, "enc1.conv0.weight") != NULL);
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(ctx, 2, 1, 16, 12);
    hg_test_fill(x, 1, 0.0f, 1.0f);
    hg_tensor *out[HG_DEEP_MAX_OUTPUTS];
    CHECK(hg_unet_deep_outputs(res, ctx, x, out) == 2);
    CHECK(out[0]->shape[1] == 3 && out[0]->shape[2] == 16 && out[0]->shape[3] == 12);
    CHECK(out[1]->shape[1] == 3 && out[1]->shape[2] == 8 && out[1]->shape[3] == 6);
    CHECK(hg_unet_deep_outputs(plain, ctx, x, out) == 1);
    /* inference returns the full-resolution head, same as out[0] */
    hg_tensor *y = hg_model_forward(res, ctx, x);
    hg_unet_deep_outputs(res, ctx, x, out);
    REQUIRE(y && out[0]);
    CHECK(hg_test_rel_err(y->data, out[0]->data, y->numel) == 0);
    /* 3-D residual + deep supervision */
    hg_model *r3 = unet(3, "2,4,8", "instance", 1, 1);
    REQUIRE(r3);
    hg_tensor *v = hg_new(ctx, 1, 1, 8, 8, 12);
    hg_test_fill(v, 2, 0.0f, 1.0f);
    CHECK(hg_unet_deep_outputs(r3, ctx, v, out) == 2);
    CHECK(out[1]->ndim == 5 && out[1]->shape[2] == 4 && out[1]->shape[4] == 6);
    hg_tensor *odd = hg_new(ctx, 1, 1, 8, 8, 10);
    CHECK_NULL_WITH(hg_model_forward(r3, ctx, odd), "must be divisible by 4 for 3 levels");
    hg_ctx_free(ctx);
    hg_model_free(plain), hg_model_free(res), hg_model_free(r3);

    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "residual", "2");
    CHECK_NULL_WITH(hg_model_create("unet", &c, 0), "config 'residual': expected an integer in "
                                                    "[0, 1], got '2'");
    hg_metadata_free(&c);
}

static void test_downsample(void)
{
    hg_tensor *y = hg_new(NULL, 2, 5, 4);
    for (int64_t i = 0; i < y->numel; i++)
        y->data[i] = (float)i;
    hg_tensor *z = hg_labels_downsample(NULL, y, 2);
    REQUIRE(z);
    /* [2, 3, 2]: rows 0, 2, 4 and columns 0, 2 of each map (ceil for the odd height) */
    const float want[12] = {0, 2, 8, 10, 16, 18, 20, 22, 28, 30, 36, 38};
    CHECK(z->shape[1] == 3 && z->shape[2] == 2);
    CHECK(hg_test_rel_err(z->data, want, 12) == 0);
    hg_tensor_free(z);
    hg_tensor *w = hg_new(NULL, 4);
    hg_tensor_set_name(w, "flat");
    CHECK_NULL_WITH(hg_labels_downsample(NULL, w, 2), "'flat' must be [N, *S]");
    hg_tensor_free(w);
    hg_tensor_free(y);
}

/* The deep-supervision loss is (L(out0, y) + L(out1, y|2) / 2) / 1.5, composed here from
 * the public ops. */
static void test_loss_weights(void)
{
    hg_model *m = unet(2, "4,8,16", "instance", 1, 1);
    REQUIRE(m);
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_tensor *x = hg_new(ctx, 2, 1, 16, 16), *y = hg_new(ctx, 2, 16, 16);
    hg_test_fill(x, 3, 0.0f, 1.0f);
    for (int64_t i = 0; i < y->numel; i++)
        y->data[i] = (float)((i / 5 + i / 37) % 3);
    hg_tensor *loss = hg_seg_loss(ctx, m, x, y, 0.7f, 0.3f);
    hg_tensor *out[HG_DEEP_MAX_OUTPUTS];
    REQUIRE(loss && hg_unet_deep_outputs(m, ctx, x, out) == 2);
    double l[2];
    for (int k = 0; k < 2; k++) {
        hg_tensor *yk = hg_new(ctx, 2, 16 >> k, 16 >> k);
        for (int64_t n = 0; n < 2; n++)
            for (int64_t i = 0; i < (16 >> k); i++)
                for (int64_t j = 0; j < (16 >> k); j++)
                    yk->data[(n * (16 >> k) + i) * (16 >> k) + j] =
                        y->data[(n * 16 + (i << k)) * 16 + (j << k)];
        l[k] = 0.7 * hg_soft_dice_loss(ctx, out[k], yk, 1e-5f, false)->data[0] +
               0.3 * hg_cross_entropy(ctx, out[k], yk, NULL, -100)->data[0];
    }
    double want = (l[0] + 0.5 * l[1]) / 1.5;
    printf("deep supervision loss %.7f, composed %.7f (levels %.5f, %.5f)\n", loss->data[0],
           want, l[0], l[1]);
    CHECK_NEAR(loss->data[0], want, 1e-6 * want);
    hg_ctx_free(ctx);
    hg_model_free(m);
}

typedef struct {
    hg_model *m;
    hg_tensor *y;
} loss_case;

/* Both decoder outputs, flattened and concatenated: a float32 mean loss would be too flat
 * for finite differences of the weights (its value composition is checked above). */
static hg_tensor *outputs_fn(hg_ctx *ctx, hg_tensor **in, void *user)
{
    loss_case *c = user;
    hg_ctx_set_training(ctx, false); /* batch norm as a fixed affine map */
    hg_tensor *out[HG_DEEP_MAX_OUTPUTS];
    if (hg_unet_deep_outputs(c->m, ctx, in[0], out) != 2)
        return NULL;
    hg_tensor *flat[2] = {hg_reshape(ctx, out[0], HG_SHAPE(-1)),
                          hg_reshape(ctx, out[1], HG_SHAPE(-1))};
    return hg_concat(ctx, flat, 2, 0);
}

static void test_gradcheck(void)
{
    hg_model *m = unet(2, "3,4,6", "batch", 1, 1);
    REQUIRE(m);
    /* random running statistics and affine parameters: every path matters */
    for (int i = 0; i < m->params.count; i++) {
        const char *n = m->params.items[i].name;
        hg_tensor *t = m->params.items[i].tensor;
        if (strstr(n, "running_var"))
            hg_test_fill(t, 50 + (uint64_t)i, 0.5f, 2.0f);
        else if (strstr(n, "running_mean") || strstr(n, "norm") )
            hg_test_fill(t, 50 + (uint64_t)i, strstr(n, "weight") ? 0.5f : -0.2f,
                         strstr(n, "weight") ? 1.5f : 0.2f);
    }
    hg_tensor *x = hg_new(NULL, 2, 1, 8, 8), *y = hg_new(NULL, 2, 8, 8);
    hg_test_fill(x, 7, -1.0f, 1.0f);
    for (int64_t i = 0; i < y->numel; i++)
        y->data[i] = (float)((i / 3 + i / 11) % 3);
    x->requires_grad = true;
    loss_case c = {m, y};
    hg_tensor *in[5] = {x, hg_params_get(&m->params, "enc1.conv0.weight"),
                        hg_params_get(&m->params, "enc2.skip.conv.weight"),
                        hg_params_get(&m->params, "ds1.weight"),
                        hg_params_get(&m->params, "head.bias")};
    REQUIRE(in[1] && in[2] && in[3] && in[4]);
    /* enc1.conv0's gradients are ~1e-3 of the output scale: float32 rounding of the forward
     * over 2·eps (~1e-4) sets the floor, so atol is 5% of the largest gradient checked */
    hg_gradcheck_opts go = {.eps = 1e-3, .rtol = 0.05, .atol = 5e-2, .seed = 3, .max_checks = 64};
    hg_gradcheck_result gr;
    CHECK_OK(hg_gradcheck(outputs_fn, in, 5, &c, &go, &gr));
    printf("residual + deep-supervision U-Net outputs gradcheck: max abs err %.2e (of the largest "
           "gradient)\n", gr.max_abs_err);
    hg_tensor_free(x), hg_tensor_free(y);
    hg_model_free(m);
}

static void test_training(void)
{
    hg_model *m = unet(2, "8,16,32", "instance", 1, 1);
    REQUIRE(m);
    hg_seg_task st = {.shapes = {.ndim = 2, .size = {32, 32}, .classes = 3, .objects = 2,
                                 .noise = 0.05f},
                      .data_seed = 42, .train_samples = 256, .batch = 8, .patch = {16, 16},
                      .fg_ratio = 0.5f, .val_samples = 16};
    hg_task task = hg_seg_task_make(&st);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 100;
    o.lr = 1e-2;
    o.seed = 3;
    hg_train_result r;
    int threads = hg_get_threads();
    hg_set_threads(1); /* tiny tensors: barriers cost more than they save (test_segment.c) */
    CHECK_OK(hg_train(m, &task, &o, &r));
    hg_set_threads(threads);
    printf("residual U-Net (8,16,32, instance norm) with deep supervision on 32x32 shapes: "
           "foreground Dice %.3f after %lld steps (loss %.3f), %.1f s\n", r.metric,
           (long long)r.steps_done, r.final_loss, r.seconds);
    CHECK(r.metric > 0.85);
    hg_model_free(m);
}

int main(void)
{
    test_structure();
    test_downsample();
    test_loss_weights();
    test_gradcheck();
    test_training();
    return hg_test_finish("test_unet_options");
}
