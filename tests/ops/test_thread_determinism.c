/* Results must not depend on the thread count: a training run with the same seed is
 * bit-identical on 1, 2 or 3 threads. Each op's output and input gradients are compared
 * bitwise across thread counts on sizes that take the parallel paths. */
#include "test_util.h"

#include <string.h>

typedef hg_tensor *(*op_fn)(hg_ctx *ctx, hg_tensor **in);

static hg_tensor *op_conv(hg_ctx *c, hg_tensor **in)
{
    hg_conv_opts o = {.padding = {1, 1, 1}};
    return hg_conv(c, in[0], in[1], in[2], &o);
}
static hg_tensor *op_conv_t(hg_ctx *c, hg_tensor **in)
{
    hg_conv_opts o = {.stride = {2, 2, 2}};
    return hg_conv_transpose(c, in[0], in[3], in[4], &o);
}
static hg_tensor *op_bn(hg_ctx *c, hg_tensor **in)
{
    return hg_batch_norm(c, in[0], in[5], in[6], NULL, NULL, 0.1f, 1e-5f);
}
static hg_tensor *op_sum(hg_ctx *c, hg_tensor **in) { return hg_sum(c, hg_mul(c, in[0], in[0])); }
static hg_tensor *op_mean(hg_ctx *c, hg_tensor **in) { return hg_mean(c, in[0]); }
static hg_tensor *op_ce(hg_ctx *c, hg_tensor **in)
{
    return hg_cross_entropy(c, in[0], in[7], NULL, -100);
}
static hg_tensor *op_dice(hg_ctx *c, hg_tensor **in)
{
    return hg_soft_dice_loss(c, in[0], in[7], 1.0f, true);
}
static hg_tensor *op_mse(hg_ctx *c, hg_tensor **in) { return hg_mse_loss(c, in[0], in[8]); }
static hg_tensor *op_linear(hg_ctx *c, hg_tensor **in)
{
    hg_tensor *x = hg_reshape(c, in[0], HG_SHAPE(4, -1));
    return hg_linear(c, x, in[9], in[10]);
}
static hg_tensor *op_maxpool(hg_ctx *c, hg_tensor **in)
{
    hg_pool_opts o = {.kernel = {2, 2, 2}};
    return hg_max_pool(c, in[0], &o);
}
static hg_tensor *op_gn(hg_ctx *c, hg_tensor **in)
{
    return hg_group_norm(c, in[0], 4, in[5], in[6], 1e-5f);
}
static hg_tensor *op_ssim(hg_ctx *c, hg_tensor **in)
{
    return hg_ssim_loss(c, hg_slice(c, in[0], 1, 0, 1), hg_slice(c, in[8], 1, 0, 1), 1.0f);
}

/* Shapes the conv rule table sends to oneDNN (conv_dnnl.c): 2-D with >= 32 channels on both
 * sides, 3-D 3x3x3. */
static hg_tensor *op_conv_dnnl2(hg_ctx *c, hg_tensor **in)
{
    hg_conv_opts o = {.padding = {1, 1, 1}};
    return hg_conv(c, in[11], in[12], NULL, &o);
}
static hg_tensor *op_conv_dnnl3(hg_ctx *c, hg_tensor **in)
{
    hg_conv_opts o = {.padding = {1, 1, 1}};
    return hg_conv(c, in[13], in[14], NULL, &o);
}

#define N_IN 15

static void run(op_fn f, hg_tensor **in, int threads, float **out, int64_t *n_out, float **grads)
{
    hg_set_threads(threads);
    hg_ctx *ctx = hg_ctx_new();
    for (int i = 0; i < N_IN; i++)
        if (in[i]->grad)
            memset(in[i]->grad, 0, (size_t)in[i]->numel * sizeof(float));
    hg_tensor *y = f(ctx, in);
    REQUIRE(y);
    *n_out = y->numel;
    *out = malloc((size_t)y->numel * sizeof(float));
    memcpy(*out, y->data, (size_t)y->numel * sizeof(float));
    float *seed = malloc((size_t)y->numel * sizeof(float));
    hg_rng r = hg_rng_new(5);
    hg_rng_fill_uniform(&r, seed, y->numel, -1, 1);
    REQUIRE(hg_backward_seed(ctx, y, seed) == HG_OK);
    free(seed);
    for (int i = 0; i < N_IN; i++) {
        grads[i] = NULL;
        if (in[i]->requires_grad && in[i]->grad) {
            grads[i] = malloc((size_t)in[i]->numel * sizeof(float));
            memcpy(grads[i], in[i]->grad, (size_t)in[i]->numel * sizeof(float));
        }
    }
    hg_ctx_free(ctx);
}

int main(void)
{
    hg_tensor *in[N_IN] = {
        hg_new(NULL, 4, 8, 48, 48),  /* 0 x */
        hg_new(NULL, 16, 8, 3, 3),   /* 1 conv w */
        hg_new(NULL, 16),            /* 2 conv b */
        hg_new(NULL, 8, 16, 2, 2),   /* 3 conv_t w */
        hg_new(NULL, 16),            /* 4 conv_t b */
        hg_new(NULL, 8),             /* 5 gamma */
        hg_new(NULL, 8),             /* 6 beta */
        hg_new(NULL, 4, 48, 48),     /* 7 labels */
        hg_new(NULL, 4, 8, 48, 48),  /* 8 target */
        hg_new(NULL, 10, 8 * 48 * 48), /* 9 linear w */
        hg_new(NULL, 10),            /* 10 linear b */
        hg_new(NULL, 2, 32, 24, 24), /* 11 x, 32 channels */
        hg_new(NULL, 32, 32, 3, 3),  /* 12 conv w 32->32 */
        hg_tensor_new(NULL, HG_F32, 5, (const int64_t[]){1, 16, 12, 12, 12}), /* 13 x 3-D */
        hg_tensor_new(NULL, HG_F32, 5, (const int64_t[]){16, 16, 3, 3, 3}),   /* 14 conv3d w */
    };
    for (int i = 0; i < N_IN; i++) {
        hg_test_fill(in[i], 100 + i, -1, 1);
        in[i]->requires_grad = i != 7 && i != 8;
    }
    for (int64_t i = 0; i < in[7]->numel; i++)
        in[7]->data[i] = (float)((i * 7919) % 8);
    hg_test_fill(in[8], 300, 0, 1);
    struct {
        const char *name;
        op_fn f;
    } ops[] = {{"conv", op_conv}, {"conv_transpose", op_conv_t}, {"batch_norm", op_bn},
               {"sum", op_sum},   {"mean", op_mean},             {"cross_entropy", op_ce},
               {"soft_dice", op_dice}, {"mse", op_mse},          {"linear", op_linear},
               {"max_pool", op_maxpool}, {"group_norm", op_gn},  {"ssim", op_ssim},
               {"conv 32->32 (oneDNN)", op_conv_dnnl2}, {"conv3d 16->16 (oneDNN)", op_conv_dnnl3}};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        float *o1, *o2, *g1[N_IN], *g2[N_IN];
        int64_t n1, n2;
        run(ops[k].f, in, 1, &o1, &n1, g1);
        for (int threads = 2; threads <= 3; threads++) {
            run(ops[k].f, in, threads, &o2, &n2, g2);
            CHECK_MSG(n1 == n2 && memcmp(o1, o2, (size_t)n1 * sizeof(float)) == 0,
                      "%s output differs between 1 and %d threads (max rel %.3g)", ops[k].name,
                      threads, hg_test_rel_err(o2, o1, n1));
            for (int i = 0; i < N_IN; i++) {
                if (!g1[i] || !g2[i]) {
                    free(g2[i]);
                    continue;
                }
                CHECK_MSG(memcmp(g1[i], g2[i], (size_t)in[i]->numel * sizeof(float)) == 0,
                          "%s gradient of input %d differs between 1 and %d threads (max rel "
                          "%.3g)",
                          ops[k].name, i, threads, hg_test_rel_err(g2[i], g1[i], in[i]->numel));
                free(g2[i]);
            }
            free(o2);
        }
        free(o1);
        for (int i = 0; i < N_IN; i++)
            free(g1[i]);
    }
    for (int i = 0; i < N_IN; i++)
        hg_tensor_free(in[i]);
    return hg_test_finish("test_thread_determinism");
}
