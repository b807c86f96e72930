/* The multi-threaded paths: tensors above the parallel threshold, run with 1 and with 3
 * threads, must give the same outputs and gradients (up to summation order). The gradchecks
 * use small tensors that stay on the serial paths, so this is where races would show. */
#include "test_util.h"

#include <string.h>

typedef hg_tensor *(*op_fn)(hg_ctx *ctx, hg_tensor **in);

typedef struct {
    const char *name;
    op_fn fn;
    int n_in;
    int64_t shape[3][HG_MAX_DIMS]; /* zero-terminated shapes */
    float lo[3], hi[3];
    bool labels; /* input 1 holds class indices in [0, shape[0][1]) */
} th_case;

static int rank_of(const int64_t *s)
{
    int n = 0;
    while (n < HG_MAX_DIMS && s[n])
        n++;
    return n;
}

static hg_tensor *o_relu(hg_ctx *c, hg_tensor **x) { return hg_relu(c, x[0]); }
static hg_tensor *o_prelu(hg_ctx *c, hg_tensor **x) { return hg_prelu(c, x[0], x[1]); }
static hg_tensor *o_elu(hg_ctx *c, hg_tensor **x) { return hg_elu(c, x[0], 1.0f); }
static hg_tensor *o_sigmoid(hg_ctx *c, hg_tensor **x) { return hg_sigmoid(c, x[0]); }
static hg_tensor *o_softmax(hg_ctx *c, hg_tensor **x) { return hg_softmax(c, x[0], 1); }
static hg_tensor *o_lsm(hg_ctx *c, hg_tensor **x) { return hg_log_softmax(c, x[0], -1); }
static hg_tensor *o_unary(hg_ctx *c, hg_tensor **x)
{
    return hg_square(c, hg_add_scalar(c, hg_exp(c, hg_scale(c, hg_neg(c, x[0]), 0.5f)), 1.0f));
}
static hg_tensor *o_sum_dim(hg_ctx *c, hg_tensor **x) { return hg_mean_dim(c, x[0], 2, true); }
static hg_tensor *o_permute(hg_ctx *c, hg_tensor **x)
{
    return hg_permute(c, x[0], (const int32_t[]){3, 1, 0, 2});
}
static hg_tensor *o_pad(hg_ctx *c, hg_tensor **x)
{
    return hg_pad(c, x[0], (const int32_t[]){2, 1}, (const int32_t[]){0, 3}, 0.25f);
}
static hg_tensor *o_cc(hg_ctx *c, hg_tensor **x)
{
    return hg_complex_to_channels(c, hg_channels_to_complex(c, x[0]));
}
static hg_tensor *o_linear(hg_ctx *c, hg_tensor **x) { return hg_linear(c, x[0], x[1], x[2]); }
static hg_tensor *o_matmul(hg_ctx *c, hg_tensor **x) { return hg_matmul(c, x[0], x[1], 1, 0); }
static hg_tensor *o_mse(hg_ctx *c, hg_tensor **x) { return hg_mse_loss(c, x[0], x[1]); }
static hg_tensor *o_l1(hg_ctx *c, hg_tensor **x) { return hg_l1_loss(c, x[0], x[1]); }
static hg_tensor *o_huber(hg_ctx *c, hg_tensor **x) { return hg_huber_loss(c, x[0], x[1], 0.3f); }
static hg_tensor *o_bce(hg_ctx *c, hg_tensor **x) { return hg_bce_with_logits(c, x[0], x[1], x[2]); }
static hg_tensor *o_bce1(hg_ctx *c, hg_tensor **x) { return hg_bce_with_logits(c, x[0], x[1], NULL); }
static hg_tensor *o_ce(hg_ctx *c, hg_tensor **x) { return hg_cross_entropy(c, x[0], x[1], NULL, -100); }
static hg_tensor *o_dice(hg_ctx *c, hg_tensor **x) { return hg_soft_dice_loss(c, x[0], x[1], 1.0f, false); }
static hg_tensor *o_ssim(hg_ctx *c, hg_tensor **x) { return hg_ssim_loss(c, x[0], x[1], 1.0f); }
static hg_tensor *o_ssim1(hg_ctx *c, hg_tensor **x) { return hg_ssim_loss(c, x[0], x[1], 0.0f); }

/* Runs the case with `threads` threads; returns output then gradients, concatenated (heap);
 * seg[0..n_in] are where the pieces start and seg[n_in + 1] the total. */
static float *run(const th_case *c, int threads, int64_t *seg)
{
    hg_set_threads(threads);
    hg_tensor *in[3] = {NULL};
    for (int i = 0; i < c->n_in; i++) {
        in[i] = hg_tensor_new(NULL, HG_F32, rank_of(c->shape[i]), c->shape[i]);
        REQUIRE(in[i]);
        hg_test_fill(in[i], 700 + (uint64_t)i, c->lo[i], c->hi[i]);
        if (c->labels && i == 1)
            for (int64_t k = 0; k < in[i]->numel; k++)
                in[i]->data[k] = floorf(in[i]->data[k]);
        else
            in[i]->requires_grad = true;
    }
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *out = c->fn(ctx, in);
    REQUIRE(out);
    int64_t n = out->numel;
    for (int i = 0; i < c->n_in; i++)
        n += in[i]->numel;
    float *res = calloc((size_t)n, sizeof(float)), *at = res;
    memcpy(at, out->data, (size_t)out->numel * sizeof(float));
    at += out->numel;
    seg[0] = 0;
    seg[1] = out->numel;
    float *seed = malloc((size_t)out->numel * sizeof(float));
    hg_rng r = hg_rng_new(99);
    hg_rng_fill_uniform(&r, seed, out->numel, -1, 1);
    CHECK_OK(hg_backward_seed(ctx, out, seed));
    for (int i = 0; i < c->n_in; i++) {
        if (in[i]->grad)
            memcpy(at, in[i]->grad, (size_t)in[i]->numel * sizeof(float));
        at += in[i]->numel;
        seg[i + 2] = seg[i + 1] + in[i]->numel;
        hg_tensor_free(in[i]);
    }
    free(seed);
    hg_ctx_free(ctx);
    return res;
}

int main(void)
{
    /* 2 x 4 x 96 x 96 = 73728 elements: above the 32768-element threshold. */
    const th_case cases[] = {
        {"relu", o_relu, 1, {{2, 4, 96, 96}}, {-1}, {1}, false},
        {"prelu", o_prelu, 2, {{2, 4, 96, 96}, {4}}, {-1, -1}, {1, 1}, false},
        {"prelu shared", o_prelu, 2, {{2, 4, 96, 96}, {1}}, {-1, -1}, {1, 1}, false},
        {"elu", o_elu, 1, {{2, 4, 96, 96}}, {-2}, {2}, false},
        {"sigmoid", o_sigmoid, 1, {{2, 4, 96, 96}}, {-5}, {5}, false},
        {"softmax", o_softmax, 1, {{2, 4, 96, 96}}, {-5}, {5}, false},
        {"log_softmax", o_lsm, 1, {{2, 4, 96, 96}}, {-5}, {5}, false},
        {"unary chain", o_unary, 1, {{2, 4, 96, 96}}, {-2}, {2}, false},
        {"mean_dim", o_sum_dim, 1, {{2, 4, 96, 96}}, {-2}, {2}, false},
        {"permute", o_permute, 1, {{2, 4, 96, 96}}, {-2}, {2}, false},
        {"pad", o_pad, 1, {{2, 4, 96, 96}}, {-2}, {2}, false},
        {"complex channels", o_cc, 1, {{2, 4, 96, 96}}, {-2}, {2}, false},
        {"linear", o_linear, 3, {{300, 200}, {150, 200}, {150}}, {-1, -1, -1}, {1, 1, 1}, false},
        {"matmul", o_matmul, 2, {{3, 120, 90}, {3, 120, 70}}, {-1, -1}, {1, 1}, false},
        {"mse", o_mse, 2, {{2, 4, 96, 96}, {2, 4, 96, 96}}, {-1, -1}, {1, 1}, false},
        {"l1", o_l1, 2, {{2, 4, 96, 96}, {2, 4, 96, 96}}, {-1, -1}, {1, 1}, false},
        {"huber", o_huber, 2, {{2, 4, 96, 96}, {2, 4, 96, 96}}, {-1, -1}, {1, 1}, false},
        {"bce pos_weight", o_bce, 3, {{2, 4, 96, 96}, {2, 4, 96, 96}, {4}}, {-3, 0, 0.5f},
         {3, 1, 2}, false},
        {"bce", o_bce1, 2, {{2, 4, 96, 96}, {2, 4, 96, 96}}, {-3, 0}, {3, 1}, false},
        {"cross_entropy", o_ce, 2, {{2, 4, 96, 96}, {2, 96, 96}}, {-3, 0}, {3, 3.999f}, true},
        {"soft_dice", o_dice, 2, {{2, 4, 96, 96}, {2, 96, 96}}, {-3, 0}, {3, 3.999f}, true},
        {"ssim batch", o_ssim, 2, {{3, 2, 40, 48}, {3, 2, 40, 48}}, {0, 0}, {1, 1}, false},
        {"ssim one image", o_ssim1, 2, {{1, 1, 120, 100}, {1, 1, 120, 100}}, {0, 0}, {1, 1},
         false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t s1[5], s3[5];
        float *a = run(&cases[k], 1, s1), *b = run(&cases[k], 3, s3);
        /* Piece by piece (output, then each gradient): each has its own scale. */
        for (int i = 0; i <= cases[k].n_in; i++) {
            REQUIRE(s1[i + 1] == s3[i + 1]);
            double err = hg_test_rel_err(b + s1[i], a + s1[i], s1[i + 1] - s1[i]);
            CHECK_MSG(err < 1e-5, "%s: %s%.0d: 3 threads vs 1: relative difference %.3g",
                      cases[k].name, i ? "gradient of input " : "output", i - 1, err);
        }
        free(a), free(b);
    }
    hg_set_threads(0);
    return hg_test_finish("test_actloss_threads");
}
