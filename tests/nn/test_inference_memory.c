/* Inference memory and fusion at the model level:
 * - the U-Net releases its intermediates when no tape records: outputs bitwise equal to the
 *   same forward without releases, with a smaller arena footprint;
 * - batch norm folded into the convolutions (hg_model_fold_batch_norm) keeps eval-mode
 *   outputs within 1e-5 (U-Net 2-D and 3-D, cnn), and refuses architectures without a fold;
 * - repeated forwards in one context (allocation planning, src/core/memory.c) give bitwise the
 *   outputs of the legacy arena (as before planning) with a smaller footprint in every pass,
 *   and from the second pass on the context calls malloc no more. */
#include "core/internal.h"
#include "ops/conv_internal.h"
#include "test_util.h"

#include <string.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Trained-looking norms: gamma, beta and running statistics away from their initial values
 * (else folding would be close to a no-op and prove little). */
static void randomize_norms(hg_model *m, uint64_t seed)
{
    for (int32_t i = 0; i < m->params.count; i++) {
        const char *n = m->params.items[i].name;
        hg_tensor *t = m->params.items[i].tensor;
        bool norm = strstr(n, "norm") || strstr(n, ".bn");
        if (ends_with(n, "running_var"))
            hg_test_fill(t, seed + (uint64_t)i, 0.3f, 2.5f);
        else if (ends_with(n, "running_mean"))
            hg_test_fill(t, seed + (uint64_t)i, -0.4f, 0.4f);
        else if (norm && ends_with(n, ".weight"))
            hg_test_fill(t, seed + (uint64_t)i, 0.5f, 1.5f);
        else if (norm && ends_with(n, ".bias"))
            hg_test_fill(t, seed + (uint64_t)i, -0.5f, 0.5f);
    }
}

static hg_model *make(const char *arch, const char *const *kv)
{
    hg_metadata c;
    hg_metadata_init(&c);
    for (; kv && kv[0]; kv += 2)
        hg_metadata_set(&c, kv[0], kv[1]);
    hg_model *m = hg_model_create(arch, &c, 3);
    hg_metadata_free(&c);
    return m;
}

typedef struct run {
    hg_tensor *y; /* heap copy */
    size_t footprint, peak;
} run;

/* Eval-mode forward in a fresh context. `tape_off`: no tape (releases active); otherwise the
 * context records but no parameter requires a gradient, so nothing is recorded and nothing
 * is released: the same computation with every intermediate kept. */
static run forward(hg_model *m, const hg_tensor *x, bool tape_off)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_training(ctx, false);
    hg_ctx_set_grad(ctx, !tape_off);
    bool saved[512];
    for (int32_t i = 0; i < m->params.count && i < 512; i++) {
        saved[i] = m->params.items[i].tensor->requires_grad;
        m->params.items[i].tensor->requires_grad = false;
    }
    hg_tensor *xi = hg_tensor_clone(ctx, x);
    hg_tensor *y = hg_model_forward(m, ctx, xi);
    run r = {y ? hg_tensor_clone(NULL, y) : NULL, hg_ctx_footprint_bytes(ctx),
             hg_ctx_peak_bytes(ctx)};
    CHECK_MSG(y != NULL && hg_tape_length(ctx) == 0, "%s", hg_error_message());
    for (int32_t i = 0; i < m->params.count && i < 512; i++)
        m->params.items[i].tensor->requires_grad = saved[i];
    hg_ctx_free(ctx);
    return r;
}

static void check_model(const char *what, const char *arch, const char *const *kv,
                        int ndim, const int64_t *shape, int want_folded)
{
    hg_model *m = make(arch, kv);
    REQUIRE(m);
    randomize_norms(m, 40);
    hg_tensor *x = hg_tensor_new(NULL, HG_F32, ndim, shape);
    hg_test_fill(x, 41, -1.0f, 2.0f);
    run keep = forward(m, x, false), live = forward(m, x, true);
    REQUIRE(keep.y && live.y);
    CHECK_MSG(memcmp(keep.y->data, live.y->data, (size_t)keep.y->numel * 4) == 0,
              "%s: releasing intermediates changed the output", what);
    int folded = -1;
    CHECK_OK(hg_model_fold_batch_norm(m, &folded));
    CHECK_MSG(folded == want_folded, "%s: %d pairs folded, expected %d", what, folded,
              want_folded);
    run fold = forward(m, x, true);
    REQUIRE(fold.y);
    double err = hg_test_rel_err(fold.y->data, keep.y->data, keep.y->numel);
    fprintf(stderr, "%-28s arena footprint: all kept %.2f MB, released after last use %.2f MB, "
                    "+ batch norm folded %.2f MB; %d pairs folded, rel. error %.2g\n",
            what, 1e-6 * (double)keep.footprint, 1e-6 * (double)live.footprint,
            1e-6 * (double)fold.footprint, folded, err);
    CHECK_MSG(err <= 1e-5, "%s: folded output differs by %g", what, err);
    if (strcmp(arch, "unet") == 0) { /* the U-Net releases its intermediates */
        CHECK(live.footprint < keep.footprint && live.peak < keep.peak);
        if (folded > 0)
            CHECK(fold.footprint < live.footprint);
    }
    /* a second fold finds nothing left and changes nothing */
    CHECK_OK(hg_model_fold_batch_norm(m, &folded));
    CHECK(folded == 0);
    hg_tensor_free(keep.y);
    hg_tensor_free(live.y);
    hg_tensor_free(fold.y);
    hg_tensor_free(x);
    hg_model_free(m);
}

/* Three eval-mode passes with releases, in one context, with the given arena. */
static void passes(hg_model *m, const hg_tensor *x, bool legacy, hg_tensor *y[3],
                   size_t footprint[3], size_t allocs[3])
{
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx);
    hg_ctx_set_legacy_arena(ctx, legacy);
    hg_ctx_set_training(ctx, false);
    hg_ctx_set_grad(ctx, false);
    for (int k = 0; k < 3; k++) {
        hg_ctx_reset(ctx);
        hg_tensor *out = hg_model_forward(m, ctx, hg_tensor_clone(ctx, x));
        REQUIRE(out);
        y[k] = hg_tensor_clone(NULL, out);
        footprint[k] = hg_ctx_step_footprint_bytes(ctx);
        allocs[k] = hg_ctx_heap_allocations(ctx);
    }
    hg_ctx_free(ctx);
}

static void planned_inference(void)
{
    hg_model *m = make("unet", (const char *const[]){"features", "8,16,32", NULL});
    REQUIRE(m);
    randomize_norms(m, 42);
    hg_tensor *x = hg_new(NULL, 2, 1, 32, 32);
    hg_test_fill(x, 43, -1.0f, 2.0f);
    hg_tensor *yo[3], *yn[3];
    size_t fo[3], fn[3], ao[3], an[3];
    passes(m, x, true, yo, fo, ao);
    passes(m, x, false, yn, fn, an);
    for (int k = 0; k < 3; k++) {
        CHECK_MSG(memcmp(yo[k]->data, yn[k]->data, (size_t)yo[k]->numel * 4) == 0,
                  "pass %d: output differs from the legacy arena's", k + 1);
        CHECK_MSG(fn[k] < fo[k], "pass %d: footprint %zu, legacy arena %zu", k + 1, fn[k], fo[k]);
        hg_tensor_free(yo[k]);
        hg_tensor_free(yn[k]);
    }
    CHECK(an[2] == an[1]);
    fprintf(stderr, "unet 2-D 8,16,32 inference, 3 passes in one context: footprint %.3f/%.3f/"
                    "%.3f MB, legacy arena %.3f MB; context mallocs %zu/%zu/%zu\n",
            1e-6 * (double)fn[0], 1e-6 * (double)fn[1], 1e-6 * (double)fn[2],
            1e-6 * (double)fo[2], an[0], an[1], an[2]);
    hg_tensor_free(x);
    hg_model_free(m);
}

int main(void)
{
    hg_set_threads(2);
    /* The footprints compared here are the activations' (what liveness and folding change).
     * oneDNN's Winograd convs take a scratchpad of a few MB from the context that is the same
     * with and without folding and dominates these tiny networks, so the convs run on hinge's
     * own kernels; outputs stay compared bitwise between the variants either way. */
    hg__conv_path = HG_CONV_PATH_NATIVE;
    /* 3 levels: encoder 3 blocks + decoder 2 blocks, 2 conv-norm pairs each */
    check_model("unet 2-D 8,16,32, 2x1x32x32", "unet",
                (const char *const[]){"features", "8,16,32", NULL}, 4,
                (const int64_t[]){2, 1, 32, 32}, 10);
    check_model("unet 3-D 4,8, 1x1x8x8x8", "unet",
                (const char *const[]){"dims", "3", "features", "4,8", "classes", "3", NULL}, 5,
                (const int64_t[]){1, 1, 8, 8, 8}, 6);
    check_model("unet 2-D, instance norm", "unet",
                (const char *const[]){"features", "8,16", "norm", "instance", NULL}, 4,
                (const int64_t[]){1, 1, 16, 16}, 0);
    check_model("cnn 8,16 (dropout in eval)", "cnn",
                (const char *const[]){"features", "8,16", "hidden", "16", NULL}, 4,
                (const int64_t[]){3, 1, 28, 28}, 4);

    /* no fold for this architecture: an error naming it, the model untouched */
    hg_model *lpd = make("lpd", (const char *const[]){"size", "16", "angles", "4", "detectors",
                                                      "23", "iterations", "1", NULL});
    REQUIRE(lpd);
    int folded = -1;
    CHECK_FAILS(hg_model_fold_batch_norm(lpd, &folded), HG_ERR_UNSUPPORTED,
                "architecture 'lpd' has no fold");
    CHECK(folded == 0);
    hg_model_free(lpd);

    /* a norm whose channel count does not match its conv is refused, naming both */
    hg_params p;
    hg_params_init(&p);
    hg_rng rng = hg_rng_new(1);
    hg_conv_layer conv;
    hg_norm_layer norm;
    CHECK_OK(hg_conv_layer_init(&conv, &p, "c", 2, 2, 4, 3, 1, 1, false, false, &rng));
    CHECK_OK(hg_norm_layer_init(&norm, &p, "n", HG_NORM_BATCH, 5, 0));
    bool f = true;
    CHECK_FAILS(hg_conv_norm_fold(&conv, &norm, &p, &f), HG_ERR_INVALID,
                "c.weight has 4 output channels, the norm's n.weight 5");
    CHECK(!f && norm.kind == HG_NORM_BATCH && conv.bias == NULL);
    hg_params_free(&p);
    planned_inference();
    return hg_test_finish("test_inference_memory");
}
