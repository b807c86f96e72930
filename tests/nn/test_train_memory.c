/* Training-time liveness (hg_tape_set_release): backward frees each intermediate after the
 * backward of the op that produced it. Parameter gradients are bitwise those of a backward
 * that keeps everything, the step's live peak and arena footprint are lower, intermediates
 * end with data and grad NULL, and leaves keep theirs. */
#include "test_util.h"

#include <string.h>

typedef struct step {
    float *grads; /* all parameter gradients, concatenated (heap) */
    size_t peak, footprint;
    bool intermediates_freed, leaves_kept;
} step;

static step train_step(hg_model *m, const hg_tensor *x, hg_tensor *y, bool release)
{
    step r = {0};
    hg_ctx *ctx = hg_ctx_new();
    hg_tape_set_release(ctx, release);
    hg_params_zero_grad(&m->params);
    hg_tensor *xi = hg_tensor_clone(ctx, x);
    hg_tensor *logits = hg_model_forward(m, ctx, xi);
    hg_tensor *loss = hg_cross_entropy(ctx, logits, y, NULL, -100);
    REQUIRE(loss);
    CHECK_OK(hg_backward(ctx, loss));
    r.peak = hg_ctx_peak_bytes(ctx);
    r.footprint = hg_ctx_footprint_bytes(ctx);
    r.intermediates_freed = loss->data == NULL && loss->grad == NULL && logits->data == NULL;
    r.leaves_kept = xi->data != NULL;
    int64_t n = 0;
    for (int32_t i = 0; i < m->params.count; i++)
        if (m->params.items[i].tensor->requires_grad)
            n += m->params.items[i].tensor->numel;
    r.grads = malloc((size_t)n * sizeof(float));
    int64_t at = 0;
    for (int32_t i = 0; i < m->params.count; i++) {
        hg_tensor *p = m->params.items[i].tensor;
        if (!p->requires_grad)
            continue;
        CHECK(p->grad != NULL);
        if (p->grad)
            memcpy(r.grads + at, p->grad, (size_t)p->numel * sizeof(float));
        at += p->numel;
    }
    hg_ctx_free(ctx);
    return r;
}

int main(void)
{
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "features", "8,16,32");
    hg_model *m = hg_model_create("unet", &c, 5);
    hg_metadata_free(&c);
    REQUIRE(m);
    hg_tensor *x = hg_new(NULL, 2, 1, 32, 32), *y = hg_new(NULL, 2, 32, 32);
    hg_test_fill(x, 6, -1.0f, 1.0f);
    for (int64_t i = 0; i < y->numel; i++)
        y->data[i] = (float)((i * 7 / 5) % 2);
    int64_t n = hg_params_count_trainable(&m->params);
    step keep = train_step(m, x, y, false), rel = train_step(m, x, y, true);
    CHECK_MSG(memcmp(keep.grads, rel.grads, (size_t)n * sizeof(float)) == 0,
              "gradients differ when intermediates are released");
    fprintf(stderr, "U-Net 8,16,32, batch 2 of 32^2, training step: live peak %.2f -> %.2f MB, "
                    "arena footprint %.2f -> %.2f MB\n", 1e-6 * (double)keep.peak,
            1e-6 * (double)rel.peak, 1e-6 * (double)keep.footprint,
            1e-6 * (double)rel.footprint);
    CHECK(rel.peak < keep.peak && rel.footprint < keep.footprint);
    CHECK(rel.intermediates_freed && !keep.intermediates_freed);
    CHECK(rel.leaves_kept && keep.leaves_kept);
    free(keep.grads);
    free(rel.grads);
    hg_tensor_free(x);
    hg_tensor_free(y);
    hg_model_free(m);
    return hg_test_finish("test_train_memory");
}
