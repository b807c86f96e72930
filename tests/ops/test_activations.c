/* Activations and elementwise unary ops: values and input gradients against PyTorch
 * (float64 references), finite-difference checks of every op, derivatives at the kinks as
 * PyTorch defines them, and error messages. */
#include "actloss_fixture.h"
#include "gradcheck_table.h"

/* ---- fixture wrappers ---- */
static hg_tensor *f_relu(hg_ctx *c, hg_tensor **x) { return hg_relu(c, x[0]); }
static hg_tensor *f_leaky(hg_ctx *c, hg_tensor **x) { return hg_leaky_relu(c, x[0], 0.1f); }
static hg_tensor *f_prelu(hg_ctx *c, hg_tensor **x) { return hg_prelu(c, x[0], x[1]); }
static hg_tensor *f_elu(hg_ctx *c, hg_tensor **x) { return hg_elu(c, x[0], 0.7f); }
static hg_tensor *f_sigmoid(hg_ctx *c, hg_tensor **x) { return hg_sigmoid(c, x[0]); }
static hg_tensor *f_tanh(hg_ctx *c, hg_tensor **x) { return hg_tanh(c, x[0]); }
static hg_tensor *f_softmax1(hg_ctx *c, hg_tensor **x) { return hg_softmax(c, x[0], 1); }
static hg_tensor *f_softmax_last(hg_ctx *c, hg_tensor **x) { return hg_softmax(c, x[0], -1); }
static hg_tensor *f_lsm1(hg_ctx *c, hg_tensor **x) { return hg_log_softmax(c, x[0], 1); }
static hg_tensor *f_lsm0(hg_ctx *c, hg_tensor **x) { return hg_log_softmax(c, x[0], 0); }
static hg_tensor *f_scale(hg_ctx *c, hg_tensor **x) { return hg_scale(c, x[0], 2.5f); }
static hg_tensor *f_scale_c(hg_ctx *c, hg_tensor **x) { return hg_scale(c, x[0], -1.5f); }
static hg_tensor *f_add_scalar(hg_ctx *c, hg_tensor **x) { return hg_add_scalar(c, x[0], -1.25f); }
static hg_tensor *f_neg(hg_ctx *c, hg_tensor **x) { return hg_neg(c, x[0]); }
static hg_tensor *f_exp(hg_ctx *c, hg_tensor **x) { return hg_exp(c, x[0]); }
static hg_tensor *f_log(hg_ctx *c, hg_tensor **x) { return hg_log(c, x[0]); }
static hg_tensor *f_sqrt(hg_ctx *c, hg_tensor **x) { return hg_sqrt(c, x[0]); }
static hg_tensor *f_abs(hg_ctx *c, hg_tensor **x) { return hg_abs(c, x[0]); }
static hg_tensor *f_square(hg_ctx *c, hg_tensor **x) { return hg_square(c, x[0]); }
static hg_tensor *f_copy(hg_ctx *c, hg_tensor **x) { return hg_copy(c, x[0]); }

/* ---- gradcheck wrappers (user data unused unless noted) ---- */
#define GC_WRAP(name, expr)                                                                    \
    static hg_tensor *name(hg_ctx *c, hg_tensor **x, void *u)                                  \
    {                                                                                          \
        (void)u;                                                                               \
        return expr;                                                                           \
    }
GC_WRAP(g_relu, hg_relu(c, x[0]))
GC_WRAP(g_leaky, hg_leaky_relu(c, x[0], 0.2f))
GC_WRAP(g_prelu, hg_prelu(c, x[0], x[1]))
GC_WRAP(g_elu, hg_elu(c, x[0], 1.3f))
GC_WRAP(g_sigmoid, hg_sigmoid(c, x[0]))
GC_WRAP(g_tanh, hg_tanh(c, x[0]))
GC_WRAP(g_softmax, hg_softmax(c, x[0], *(const int *)u))
GC_WRAP(g_log_softmax, hg_log_softmax(c, x[0], *(const int *)u))
GC_WRAP(g_scale, hg_scale(c, x[0], -0.75f))
GC_WRAP(g_add_scalar, hg_add_scalar(c, x[0], 3.0f))
GC_WRAP(g_neg, hg_neg(c, x[0]))
GC_WRAP(g_exp, hg_exp(c, x[0]))
GC_WRAP(g_log, hg_log(c, x[0]))
GC_WRAP(g_sqrt, hg_sqrt(c, x[0]))
GC_WRAP(g_abs, hg_abs(c, x[0]))
GC_WRAP(g_square, hg_square(c, x[0]))
GC_WRAP(g_copy, hg_copy(c, x[0]))
/* A chain, so gradients accumulate through several ops of this file into one input. */
GC_WRAP(g_chain, hg_mul(c, hg_sigmoid(c, hg_scale(c, x[0], 2.0f)),
                        hg_tanh(c, hg_log_softmax(c, x[0], -1))))

static void fixtures(void)
{
    hg_params p;
    hg_test_load_fixture(FX_FILE, &p);
    const double pw = 1e-5, red = 1e-4; /* pointwise, and ops that reduce along a row */
    const fx_case cases[] = {
        {"relu", 1, f_relu, 1, 0, pw},
        {"leaky_relu", 1, f_leaky, 1, 0, pw},
        {"prelu_shared", 2, f_prelu, 3, 0, pw},
        {"prelu_channel", 2, f_prelu, 3, 0, red}, /* weight gradient is a sum */
        {"elu", 1, f_elu, 1, 0, pw},
        {"sigmoid", 1, f_sigmoid, 1, 0, pw},
        {"tanh", 1, f_tanh, 1, 0, pw},
        {"softmax_dim1", 1, f_softmax1, 1, 0, red},
        {"softmax_last", 1, f_softmax_last, 1, 0, red},
        /* Logits of scale 80: near one-hot rows whose exact gradients (1e-16 and below) float32
         * cannot resolve; these two cases check the forward pass's stability. */
        {"softmax_large", 1, f_softmax1, 0, 0, red},
        {"log_softmax_dim1", 1, f_lsm1, 1, 0, red},
        {"log_softmax_dim0", 1, f_lsm0, 1, 0, red},
        {"log_softmax_large", 1, f_lsm1, 0, 0, red},
        {"scale", 1, f_scale, 1, 0, pw},
        {"scale_complex", 1, f_scale_c, 1, 1, pw},
        {"add_scalar", 1, f_add_scalar, 1, 0, pw},
        {"neg", 1, f_neg, 1, 0, pw},
        {"exp", 1, f_exp, 1, 0, pw},
        {"log", 1, f_log, 1, 0, pw},
        {"sqrt", 1, f_sqrt, 1, 0, pw},
        {"abs", 1, f_abs, 1, 0, pw},
        {"abs_complex", 1, f_abs, 1, 1, pw},
        {"square", 1, f_square, 1, 0, pw},
        {"copy", 1, f_copy, 1, 0, pw},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        fx_run(&p, &cases[i]);
    printf("vs PyTorch: worst output error %.3g, worst gradient error %.3g\n", fx_worst_out,
           fx_worst_grad);
    hg_params_free(&p);
}

static void gradchecks(void)
{
    static const int dim1 = 1, dim_last = -1, dim0 = 0;
    gc_input x4 = GC_IN(4, -2, 2, 2, 3, 2, 3);
    gc_input kinked = x4;
    kinked.avoid = true; /* kink at 0 */
    gc_input pos = GC_IN(2, 0.3f, 3, 3, 4);
    gc_input xc = GC_IN(2, -1, 1, 3, 4);
    xc.complex = true;
    gc_input w1 = GC_IN(1, -0.5f, 0.5f, 1), wc = GC_IN(1, -0.5f, 0.5f, 3);
    gc_input big = GC_IN(2, -40, 40, 3, 5);
    const gc_case cases[] = {
        {"relu", g_relu, 1, {kinked}, NULL},
        {"leaky_relu", g_leaky, 1, {kinked}, NULL},
        {"prelu shared", g_prelu, 2, {kinked, w1}, NULL},
        {"prelu per channel", g_prelu, 2, {kinked, wc}, NULL},
        {"elu", g_elu, 1, {kinked}, NULL},
        {"sigmoid", g_sigmoid, 1, {x4}, NULL},
        {"tanh", g_tanh, 1, {x4}, NULL},
        {"softmax dim 1", g_softmax, 1, {x4}, &dim1},
        {"softmax dim -1", g_softmax, 1, {x4}, &dim_last},
        {"softmax dim 0", g_softmax, 1, {x4}, &dim0},
        {"softmax large logits", g_softmax, 1, {big}, &dim_last},
        {"log_softmax dim 1", g_log_softmax, 1, {x4}, &dim1},
        {"log_softmax dim 0", g_log_softmax, 1, {x4}, &dim0},
        {"scale", g_scale, 1, {x4}, NULL},
        {"scale complex", g_scale, 1, {xc}, NULL},
        {"add_scalar", g_add_scalar, 1, {x4}, NULL},
        {"neg", g_neg, 1, {x4}, NULL},
        {"neg complex", g_neg, 1, {xc}, NULL},
        {"exp", g_exp, 1, {x4}, NULL},
        {"log", g_log, 1, {pos}, NULL},
        {"sqrt", g_sqrt, 1, {pos}, NULL},
        {"abs", g_abs, 1, {kinked}, NULL},
        {"abs complex", g_abs, 1, {xc}, NULL},
        {"square", g_square, 1, {x4}, NULL},
        {"copy", g_copy, 1, {x4}, NULL},
        {"copy complex", g_copy, 1, {xc}, NULL},
        {"chain", g_chain, 1, {x4}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        gc_run(&cases[i], 100 + i);
}

/* The derivative at a kink is PyTorch's choice: relu'(0) = 0, leaky'(0) = slope,
 * abs'(0) = 0, and the complex modulus has gradient 0 at z = 0. */
static float kink_grad(hg_tensor *(*op)(hg_ctx *, hg_tensor *), bool complex, float *im)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = complex ? hg_new_complex(NULL, 1) : hg_new(NULL, 1);
    x->requires_grad = true;
    float one = 1.0f;
    CHECK_OK(hg_backward_seed(ctx, op(ctx, x), &one));
    float g = x->grad ? x->grad[0] : NAN;
    if (im)
        *im = x->grad ? x->grad[1] : NAN;
    hg_tensor_free(x);
    hg_ctx_free(ctx);
    return g;
}

static hg_tensor *leaky03(hg_ctx *c, hg_tensor *x) { return hg_leaky_relu(c, x, 0.3f); }

static void kinks(void)
{
    float im;
    CHECK(kink_grad(hg_relu, false, NULL) == 0.0f);
    CHECK(kink_grad(leaky03, false, NULL) == 0.3f);
    CHECK(kink_grad(hg_abs, false, NULL) == 0.0f);
    CHECK(kink_grad(hg_abs, true, &im) == 0.0f && im == 0.0f);
    hg_ctx *ctx = hg_ctx_new();
    /* Extreme logits: softmax stays finite and sums to one; sigmoid saturates exactly. */
    hg_tensor *l = hg_new(ctx, 1, 3);
    l->data[0] = 1e30f, l->data[1] = -1e30f, l->data[2] = 0.0f;
    hg_tensor *s = hg_softmax(ctx, l, 1), *ls = hg_log_softmax(ctx, l, 1);
    hg_tensor *sg = hg_sigmoid(ctx, l);
    CHECK(s && s->data[0] == 1.0f && s->data[1] == 0.0f && s->data[2] == 0.0f);
    CHECK(ls && ls->data[0] == 0.0f && ls->data[2] == -1e30f);
    CHECK(sg && sg->data[0] == 1.0f && sg->data[1] == 0.0f && sg->data[2] == 0.5f);
    hg_ctx_free(ctx);
}

static void errors(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *x = hg_new(ctx, 2, 3, 4);
    x->name = "features";
    hg_tensor *w = hg_new(ctx, 2);
    w->name = "slopes";
    CHECK_NULL_WITH(hg_prelu(ctx, x, w),
                    "prelu: weight slopes shape: expected [1] or [3] (channels of features "
                    "[2, 3, 4]), got [2]");
    CHECK_NULL_WITH(hg_softmax(ctx, x, 3),
                    "softmax: dim 3 out of range for features of rank 3 (expected -3 to 2)");
    CHECK_NULL_WITH(hg_log_softmax(ctx, x, -4), "log_softmax: dim -4 out of range");
    hg_tensor *z = hg_new_complex(ctx, 4);
    z->name = "kspace";
    CHECK_NULL_WITH(hg_relu(ctx, z), "relu: kspace must be real (f32), got complex");
    CHECK_NULL_WITH(hg_exp(ctx, z), "exp: kspace must be real");
    CHECK_NULL_WITH(hg_scale(ctx, x, NAN), "scale of features: factor must be finite");
    CHECK_NULL_WITH(hg_leaky_relu(ctx, x, INFINITY), "slope must be finite");
    /* NULL propagates and the first error is kept. */
    hg_error_clear();
    hg_tensor *bad = hg_softmax(ctx, x, 7);
    CHECK(bad == NULL);
    CHECK(hg_tanh(ctx, hg_sigmoid(ctx, bad)) == NULL);
    CHECK(hg_test_contains(hg_error_message(), "softmax: dim 7"));
    /* Without a context the output lives on the heap and nothing is recorded. */
    hg_tensor *h = hg_relu(NULL, x);
    CHECK(h && h->ctx == NULL && h->node == NULL);
    hg_tensor_free(h);
    hg_ctx_free(ctx);
}

int main(void)
{
    fixtures();
    gradchecks();
    kinks();
    errors();
    return hg_test_finish("test_activations");
}
