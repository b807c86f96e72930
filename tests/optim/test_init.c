/* Initialization: sample statistics against the standard deviations PyTorch's formulas give
 * (fixture), bounds of the uniform variants, bit reproducibility (seed, thread count), and
 * error paths. Bounds are stated per check: with n samples, the sample mean is within
 * 5 std / sqrt(n) of 0 and the sample variance within 5 sqrt(k / n) relative of std^2, k = 2
 * for the normal and 0.8 for the uniform distribution (the variance of x^2 over std^4 - 1). */
#include "hinge/optim.h"
#include "test_util.h"

#include <string.h>

static double worst_var_dev;

static void check_stats(const char *what, const hg_tensor *w, double std, bool uniform)
{
    double n = (double)w->numel, s1 = 0, s2 = 0, amax = 0, within = 0;
    for (int64_t i = 0; i < w->numel; i++) {
        double x = w->data[i];
        s1 += x, s2 += x * x;
        amax = fabs(x) > amax ? fabs(x) : amax;
        within += fabs(x) <= std;
    }
    double mean = s1 / n, var = s2 / n - mean * mean;
    double dev = fabs(var / (std * std) - 1.0);
    worst_var_dev = dev > worst_var_dev ? dev : worst_var_dev;
    CHECK_MSG(fabs(mean) <= 5.0 * std / sqrt(n), "%s: mean %.3g (std %.3g, n %.0f)", what, mean,
              std, n);
    CHECK_MSG(dev <= 5.0 * sqrt((uniform ? 0.8 : 2.0) / n), "%s: var %.6g, expected %.6g", what,
              var, std * std);
    if (uniform) {
        double bound = sqrt(3.0) * std;
        CHECK_MSG(amax <= bound * (1 + 1e-6) && amax >= bound * 0.999, "%s: max |x| %.6g, bound %.6g",
                  what, amax, bound);
    } else {
        /* P(|x| <= std) = 0.6827 for a normal; a uniform would give 0.577 */
        double p = within / n, tol = 5.0 * sqrt(0.6827 * 0.3173 / n);
        CHECK_MSG(fabs(p - 0.6827) <= tol, "%s: P(|x| <= std) = %.4f", what, p);
    }
}

int main(void)
{
    hg_params f;
    hg_test_load_fixture("torch/optim.safetensors", &f);
    struct { const char *name; int nd; int64_t shape[5]; } s[] = {
        {"conv2d", 4, {256, 128, 3, 3}}, {"linear", 2, {500, 600}}, {"conv3d", 5, {32, 32, 3, 3, 3}}};
    char key[128], what[128];
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        hg_tensor *w = hg_tensor_new(NULL, HG_F32, s[i].nd, s[i].shape);
        REQUIRE(w);
        hg_rng rng = hg_rng_new(100 + i);
        for (int uniform = 0; uniform < 2; uniform++) {
            snprintf(key, sizeof key, "init.std.kaiming_in_relu.%s", s[i].name);
            snprintf(what, sizeof what, "kaiming_%s fan_in relu %s", uniform ? "uniform" : "normal",
                     s[i].name);
            CHECK_OK((uniform ? hg_init_kaiming_uniform : hg_init_kaiming_normal)(
                w, 0, HG_FAN_IN, HG_NONLIN_RELU, &rng));
            check_stats(what, w, hg_test_get(&f, key)->data[0], uniform);

            snprintf(key, sizeof key, "init.std.kaiming_out_leaky.%s", s[i].name);
            snprintf(what, sizeof what, "kaiming_%s fan_out leaky 0.2 %s",
                     uniform ? "uniform" : "normal", s[i].name);
            CHECK_OK((uniform ? hg_init_kaiming_uniform : hg_init_kaiming_normal)(
                w, 0.2, HG_FAN_OUT, HG_NONLIN_LEAKY_RELU, &rng));
            check_stats(what, w, hg_test_get(&f, key)->data[0], uniform);

            snprintf(key, sizeof key, "init.std.xavier.%s", s[i].name);
            snprintf(what, sizeof what, "xavier_%s %s", uniform ? "uniform" : "normal", s[i].name);
            CHECK_OK((uniform ? hg_init_xavier_uniform : hg_init_xavier_normal)(w, 1.0, &rng));
            check_stats(what, w, hg_test_get(&f, key)->data[0], uniform);
        }
        hg_tensor_free(w);
    }

    /* Bit reproducibility: same seed -> same bits, for 1 and 2 threads; the rng advances so
     * the next layer gets new numbers; another seed gives other numbers. */
    hg_tensor *a = hg_new(NULL, 64, 32, 3, 3), *b = hg_new(NULL, 64, 32, 3, 3);
    size_t bytes = (size_t)a->numel * sizeof(float);
    hg_set_threads(1);
    hg_rng r1 = hg_rng_new(42);
    CHECK_OK(hg_init_kaiming_normal(a, 0, HG_FAN_IN, HG_NONLIN_RELU, &r1));
    hg_set_threads(2);
    hg_rng r2 = hg_rng_new(42);
    CHECK_OK(hg_init_kaiming_normal(b, 0, HG_FAN_IN, HG_NONLIN_RELU, &r2));
    CHECK(memcmp(a->data, b->data, bytes) == 0);
    CHECK(r1.counter == r2.counter && r1.counter == (uint64_t)a->numel);
    CHECK_OK(hg_init_kaiming_normal(b, 0, HG_FAN_IN, HG_NONLIN_RELU, &r2));
    CHECK(memcmp(a->data, b->data, bytes) != 0);
    r2 = hg_rng_new(43);
    CHECK_OK(hg_init_kaiming_normal(b, 0, HG_FAN_IN, HG_NONLIN_RELU, &r2));
    CHECK(memcmp(a->data, b->data, bytes) != 0);
    r1 = hg_rng_new(7), r2 = hg_rng_new(7);
    CHECK_OK(hg_init_xavier_uniform(a, 1.0, &r1));
    CHECK_OK(hg_init_xavier_uniform(b, 1.0, &r2));
    CHECK(memcmp(a->data, b->data, bytes) == 0);

    /* errors name the tensor */
    hg_tensor *v = hg_new(NULL, 10);
    hg_tensor_set_name(v, "fc.bias");
    CHECK_FAILS(hg_init_kaiming_uniform(v, 0, HG_FAN_IN, HG_NONLIN_RELU, &r1), HG_ERR_INVALID,
                "'fc.bias': fan in and fan out need at least 2 dimensions");
    CHECK_FAILS(hg_init_xavier_normal(v, 1.0, &r1), HG_ERR_INVALID, "xavier_normal");
    hg_tensor *z = hg_new(NULL, 0, 3);
    hg_tensor_set_name(z, "empty");
    CHECK_FAILS(hg_init_xavier_uniform(z, 1.0, &r1), HG_ERR_INVALID, "'empty': zero-element");
    hg_tensor_set_name(a, "conv.weight");
    CHECK_FAILS(hg_init_kaiming_normal(a, 0, HG_FAN_IN, HG_NONLIN_RELU, NULL), HG_ERR_INVALID,
                "'conv.weight': NULL rng");
    CHECK_FAILS(hg_init_xavier_normal(a, NAN, &r1), HG_ERR_INVALID, "standard deviation nan");
    CHECK_FAILS(hg_init_kaiming_normal(a, 0, (hg_fan_mode)5, HG_NONLIN_RELU, &r1), HG_ERR_INVALID,
                "unknown fan mode 5");
    hg_tensor_free(a), hg_tensor_free(b), hg_tensor_free(v), hg_tensor_free(z);
    printf("max relative deviation of the sample variance: %.4f\n", worst_var_dev);
    hg_params_free(&f);
    return hg_test_finish("test_init");
}
