/* Training-time liveness (hg_tape_set_release): backward frees each intermediate after the
 * backward of the op that produced it. Parameter gradients are bitwise those of a backward
 * that keeps everything, the step's live peak and arena footprint are lower, intermediates
 * end with data and grad NULL, and leaves keep theirs.
 *
 * Allocation planning (src/core/memory.c): three Adam steps of a U-Net and of LPD in one
 * context give bitwise the losses and parameter gradients of the legacy arena (as before
 * planning); the U-Net's arena footprint is below the legacy arena's in every step, the planned
 * steps' no larger than the first's; and steps 2-3 make the context call malloc no more. In
 * builds without sanitizers the test also counts every malloc of the process during steps 2-3
 * (a counting interposer) and prints it: what remains is outside the context. */
#include "core/internal.h"
#include "test_util.h"

#include <stdatomic.h>
#include <string.h>

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define COUNT_MALLOC 1
/* glibc's own entry points; every malloc of the process comes through these wrappers. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static atomic_bool counting;
static atomic_long mallocs, malloc_bytes;
static void counted(size_t n)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add(&mallocs, 1);
        atomic_fetch_add(&malloc_bytes, (long)n);
    }
}
void *malloc(size_t n) { counted(n); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { counted(k * n); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { counted(n); return __libc_realloc(p, n); }
void *aligned_alloc(size_t al, size_t n) { counted(n); return __libc_memalign(al, n); }
void *memalign(size_t al, size_t n) { counted(n); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n)
{
    counted(n);
    void *p = __libc_memalign(al, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void free(void *p) { __libc_free(p); }
#endif

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

/* ---- several steps in one context: planned vs legacy arena -------------------------------- */

typedef struct steps {
    float loss[3];
    float *grads[3];
    size_t footprint[3], allocs[3];
    long process_mallocs, process_bytes; /* steps 2-3, -1: not counted */
} steps;

static steps train_steps(const char *arch, const char *const *kv, const hg_tensor *x,
                         const hg_tensor *y, bool legacy)
{
    steps r = {.process_mallocs = -1, .process_bytes = -1};
    hg_metadata c;
    hg_metadata_init(&c);
    for (; kv[0]; kv += 2)
        hg_metadata_set(&c, kv[0], kv[1]);
    hg_model *m = hg_model_create(arch, &c, 5);
    hg_metadata_free(&c);
    hg_optim *opt = m ? hg_optim_adam(&m->params, NULL) : NULL;
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(m && opt && ctx);
    hg_ctx_set_legacy_arena(ctx, legacy);
    hg_tape_set_release(ctx, true);
    int64_t n = hg_params_count_trainable(&m->params);
    for (int s = 0; s < 3; s++) {
#ifdef COUNT_MALLOC
        if (s == 1)
            atomic_store(&counting, true), atomic_store(&mallocs, 0), atomic_store(&malloc_bytes, 0);
#endif
        hg_ctx_reset(ctx);
        hg_tensor *xi = hg_tensor_clone(ctx, x);
        hg_tensor *out = hg_model_forward(m, ctx, xi);
        hg_tensor *loss = y->ndim == 4 ? hg_mse_loss(ctx, out, (hg_tensor *)y)
                                       : hg_cross_entropy(ctx, out, (hg_tensor *)y, NULL, -100);
        REQUIRE(loss);
        r.loss[s] = loss->data[0];
        hg_params_zero_grad(&m->params);
        CHECK_OK(hg_backward(ctx, loss));
        CHECK_OK(hg_optim_step(opt));
        r.footprint[s] = hg_ctx_step_footprint_bytes(ctx);
        r.allocs[s] = hg_ctx_heap_allocations(ctx);
#ifdef COUNT_MALLOC
        if (s == 2) {
            atomic_store(&counting, false);
            r.process_mallocs = atomic_load(&mallocs);
            r.process_bytes = atomic_load(&malloc_bytes);
        }
#endif
        r.grads[s] = malloc((size_t)n * sizeof(float));
        int64_t at = 0;
        for (int32_t i = 0; i < m->params.count; i++) {
            hg_tensor *p = m->params.items[i].tensor;
            if (p->requires_grad && p->grad)
                memcpy(r.grads[s] + at, p->grad, (size_t)p->numel * sizeof(float));
            at += p->requires_grad ? p->numel : 0;
        }
    }
    hg_ctx_free(ctx);
    hg_optim_free(opt);
    hg_model_free(m);
    return r;
}

static void planned_vs_legacy(const char *what, const char *arch, const char *const *kv,
                              const hg_tensor *x, const hg_tensor *y, int64_t nparams,
                              bool smaller)
{
    steps old = train_steps(arch, kv, x, y, true), now = train_steps(arch, kv, x, y, false);
    for (int s = 0; s < 3; s++) {
        CHECK_MSG(memcmp(&old.loss[s], &now.loss[s], sizeof(float)) == 0,
                  "%s step %d: loss %.9g, legacy arena %.9g", what, s + 1, (double)now.loss[s],
                  (double)old.loss[s]);
        CHECK_MSG(memcmp(old.grads[s], now.grads[s], (size_t)nparams * sizeof(float)) == 0,
                  "%s step %d: gradients differ from the legacy arena's", what, s + 1);
        if (smaller)
            CHECK_MSG(now.footprint[s] < old.footprint[s], "%s step %d: footprint %zu >= %zu",
                      what, s + 1, now.footprint[s], old.footprint[s]);
        free(old.grads[s]);
        free(now.grads[s]);
    }
    CHECK_MSG(now.footprint[1] <= now.footprint[0] && now.footprint[2] == now.footprint[1], "%s: footprints %zu %zu %zu", what, now.footprint[0], now.footprint[1], now.footprint[2]);
    CHECK_MSG(now.allocs[2] == now.allocs[1],
              "%s: the context called malloc in step 3 (%zu -> %zu)", what, now.allocs[1],
              now.allocs[2]);
    fprintf(stderr, "%s: arena footprint per step %.2f/%.2f/%.2f MB (legacy arena %.2f MB); "
                    "context mallocs after steps 1/2/3: %zu/%zu/%zu; process mallocs in steps "
                    "2-3: %ld (%ld bytes)\n", what, 1e-6 * (double)now.footprint[0],
            1e-6 * (double)now.footprint[1], 1e-6 * (double)now.footprint[2],
            1e-6 * (double)old.footprint[2], now.allocs[0], now.allocs[1], now.allocs[2],
            now.process_mallocs, now.process_bytes);
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

    planned_vs_legacy("U-Net 8,16,32, batch 2 of 32^2", "unet",
                      (const char *const[]){"features", "8,16,32", NULL}, x, y, n, true);
    hg_tensor_free(x);
    hg_tensor_free(y);
    hg_model_free(m);

    const char *const lpd_kv[] = {"size", "16", "angles", "6", "detectors", "23",
                                  "iterations", "2", NULL};
    hg_metadata lc;
    hg_metadata_init(&lc);
    for (const char *const *kv = lpd_kv; kv[0]; kv += 2)
        hg_metadata_set(&lc, kv[0], kv[1]);
    hg_model *lpd = hg_model_create("lpd", &lc, 5);
    hg_metadata_free(&lc);
    REQUIRE(lpd);
    hg_tensor *sino = hg_new(NULL, 2, 1, 6, 23), *img = hg_new(NULL, 2, 1, 16, 16);
    hg_test_fill(sino, 7, 0.0f, 1.0f);
    hg_test_fill(img, 8, 0.0f, 1.0f);
    planned_vs_legacy("LPD 2 iterations, batch 2, 16^2", "lpd", lpd_kv, sino, img,
                      hg_params_count_trainable(&lpd->params), false);
    hg_model_free(lpd);
    hg_tensor_free(sino);
    hg_tensor_free(img);
    return hg_test_finish("test_train_memory");
}
