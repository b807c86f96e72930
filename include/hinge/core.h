/* hinge core: errors, tensors, contexts (arenas + tape), named parameters, RNG, threads.
 *
 * Conventions
 * - Functions return hg_status (HG_OK == 0) or a pointer (NULL on failure). On failure a
 *   message naming the object, the expected and the actual value is kept per thread:
 *   hg_error_message(). The library never prints and never exits.
 * - Ops propagate NULL: an op given a NULL input returns NULL and keeps the first error, so a
 *   chain of ops can be checked once at the end.
 * - Tensors are float32 (HG_F32) or interleaved complex float32 (HG_C64: re, im pairs), 1-D to
 *   5-D, contiguous row-major; the layout for images is N, C, [D,] H, W.
 * - A tensor lives either in a context (an arena, freed all at once by hg_ctx_reset) or on the
 *   heap (ctx == NULL at creation; parameters, data sets), freed by hg_tensor_free.
 */
#ifndef HINGE_CORE_H
#define HINGE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ---------------------------------------------------------------------------- */

typedef enum hg_status {
    HG_OK = 0,
    HG_ERR_INVALID = 1,     /* bad argument, shape or hyper-parameter */
    HG_ERR_NOMEM = 2,       /* allocation failed or a size overflowed */
    HG_ERR_IO = 3,          /* a file could not be opened, read or written */
    HG_ERR_FORMAT = 4,      /* a file is corrupt, truncated or not of the expected kind */
    HG_ERR_NUMERIC = 5,     /* NaN/Inf or a failed numerical method */
    HG_ERR_UNSUPPORTED = 6, /* valid but not supported (transfer syntax, operator, ...) */
    HG_ERR_STATE = 7        /* called in the wrong state (e.g. backward without a tape) */
} hg_status;

/* Sets the calling thread's error message (printf format) and returns `status`. */
hg_status hg_error(hg_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "context: " to the current message (e.g. the file or layer name); returns status. */
hg_status hg_error_context(hg_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *hg_error_message(void);
hg_status hg_error_status(void);
void hg_error_clear(void);
const char *hg_status_name(hg_status status);

/* ---- tensors --------------------------------------------------------------------------- */

#define HG_MAX_DIMS 5

typedef enum hg_dtype { HG_F32 = 0, HG_C64 = 1 } hg_dtype;

typedef struct hg_ctx hg_ctx;
typedef struct hg_node hg_node;

/* Counter-based random stream (see the random numbers section). */
typedef struct hg_rng {
    uint64_t seed;
    uint64_t counter;
} hg_rng;

typedef struct hg_tensor {
    hg_dtype dtype;
    int32_t ndim;
    int64_t shape[HG_MAX_DIMS];
    int64_t numel;      /* elements; a complex element counts once */
    float *data;        /* numel floats (2*numel for HG_C64) */
    float *grad;        /* same size as data; NULL until a gradient flows (see hg_grad) */
    bool requires_grad; /* a leaf that wants a gradient, or an op output depending on one */
    hg_node *node;      /* the op that produced it (NULL for leaves / untracked) */
    hg_ctx *ctx;        /* owning context, NULL for heap tensors */
    const char *name;   /* used in error messages; may be NULL */
    uint32_t flags;     /* internal */
} hg_tensor;

/* Number of floats a tensor's data holds (2*numel for complex). */
static inline int64_t hg_tensor_nfloats(const hg_tensor *t)
{
    return t->dtype == HG_C64 ? 2 * t->numel : t->numel;
}

/* New tensor in ctx (arena, freed by reset) or on the heap when ctx is NULL. Data zeroed. */
hg_tensor *hg_tensor_new(hg_ctx *ctx, hg_dtype dtype, int ndim, const int64_t *shape);
/* Same, data left uninitialized (for outputs that are fully overwritten). */
hg_tensor *hg_tensor_empty(hg_ctx *ctx, hg_dtype dtype, int ndim, const int64_t *shape);
/* A new tensor of the same dtype and shape as t (zeroed). */
hg_tensor *hg_tensor_like(hg_ctx *ctx, const hg_tensor *t);
/* A copy of t's data (no autodiff link; see hg_copy in ops.h for the tracked one). */
hg_tensor *hg_tensor_clone(hg_ctx *ctx, const hg_tensor *t);
/* Frees a heap tensor (data and grad). No-op for NULL and for context tensors. */
void hg_tensor_free(hg_tensor *t);
void hg_tensor_set_name(hg_tensor *t, const char *name); /* name must outlive t */
const char *hg_tensor_label(const hg_tensor *t);          /* name or "tensor" */
/* Formats the shape as "[2, 3, 4]" into buf; returns buf. */
char *hg_shape_str(const hg_tensor *t, char *buf, size_t size);
bool hg_shape_equal(const hg_tensor *a, const hg_tensor *b);
/* Checks t has the given shape; a negative entry matches any size. Error names t. */
hg_status hg_check_shape(const hg_tensor *t, int ndim, const int64_t *shape);
hg_status hg_tensor_fill(hg_tensor *t, float value);
/* Product of shape[0..ndim), or -1 when a dimension is negative or the product overflows. */
int64_t hg_shape_numel(int ndim, const int64_t *shape);

/* Shape literals: hg_new(ctx, 2, 3, 4) is a zeroed float tensor of shape [2, 3, 4]. */
#define HG__NARGS(...) HG__NARGS_(__VA_ARGS__, 5, 4, 3, 2, 1, 0)
#define HG__NARGS_(a, b, c, d, e, n, ...) n
#define HG_SHAPE(...) HG__NARGS(__VA_ARGS__), (const int64_t[]){__VA_ARGS__}
#define hg_new(ctx, ...) hg_tensor_new((ctx), HG_F32, HG_SHAPE(__VA_ARGS__))
#define hg_new_complex(ctx, ...) hg_tensor_new((ctx), HG_C64, HG_SHAPE(__VA_ARGS__))

/* ---- contexts: arena memory + autodiff tape -------------------------------------------- */

/* A context owns the tensors of one computation (a forward/backward step) and its tape.
 * hg_ctx_reset forgets them all but keeps the memory, so steady-state steps do not malloc. */
hg_ctx *hg_ctx_new(void);
void hg_ctx_free(hg_ctx *ctx);
void hg_ctx_reset(hg_ctx *ctx);
/* Whether ops record the tape (training) or not (inference). Default: true. */
void hg_ctx_set_grad(hg_ctx *ctx, bool record);
bool hg_ctx_grad_enabled(const hg_ctx *ctx);
/* Whether layers behave as in training (dropout active, batch norm uses batch statistics). */
void hg_ctx_set_training(hg_ctx *ctx, bool training);
bool hg_ctx_training(const hg_ctx *ctx);
/* The random stream of stochastic layers (dropout, ...) run in this context. A training loop
 * sets it per step (e.g. hg_rng_split(&base, step)) so that a resumed run draws the same
 * masks. Survives hg_ctx_reset. */
void hg_ctx_set_rng(hg_ctx *ctx, hg_rng rng);
hg_rng *hg_ctx_rng(hg_ctx *ctx);
/* 64-byte aligned scratch memory valid until the next reset; NULL (error set) on failure. */
void *hg_ctx_alloc(hg_ctx *ctx, size_t bytes);
void *hg_ctx_calloc(hg_ctx *ctx, size_t bytes);
size_t hg_ctx_bytes_in_use(const hg_ctx *ctx);
size_t hg_ctx_peak_bytes(const hg_ctx *ctx);
/* Inference-time liveness: hands the data of a context tensor that nobody will read again
 * back to its context, whose later tensor allocations of the same step reuse it (best fit,
 * adjacent blocks merged); t->data becomes NULL. Only when the context records no tape (in
 * training, backward may still read t); otherwise, and for views, heap tensors and NULL, it
 * does nothing. The caller must not release a tensor that a live view still reads. */
void hg_tensor_release(hg_tensor *t);
/* The same while a tape records, for a tensor whose data no recorded backward reads (e.g. a
 * transposed conv's output consumed only by a concat: neither backward reads it). Its
 * gradient still flows. A wrong call makes a backward read freed memory: only for model code
 * that knows its consumers. */
void hg_tensor_release_unsaved(hg_tensor *t);
/* The most arena memory a context has handed out since it was created: what its computation
 * really occupies (memory that was released and reused counts once), unlike
 * hg_ctx_peak_bytes, the peak of the bytes live at one time. */
size_t hg_ctx_footprint_bytes(const hg_ctx *ctx);
/* The same two measures for the current step only (since the last hg_ctx_reset): a training
 * loop's steady state. From the second step of a loop that repeats the same allocations the
 * context places them by a plan made from the first step's trace (sizes and lifetimes), so
 * its footprint can be lower than the first step's. */
size_t hg_ctx_step_peak_bytes(const hg_ctx *ctx);
size_t hg_ctx_step_footprint_bytes(const hg_ctx *ctx);
/* How many times the context has called malloc/realloc for its memory and bookkeeping since it
 * was created (the tape's node list excepted: it grows only past its longest step). A loop
 * whose steps repeat the same allocations stops adding to it after its first step. */
size_t hg_ctx_heap_allocations(const hg_ctx *ctx);

/* Heap allocation helpers that set the error message on failure (64-byte aligned). */
void *hg_malloc(size_t bytes);
void *hg_calloc(size_t count, size_t size);
void hg_free(void *p);

/* ---- named parameters and buffers ------------------------------------------------------ */

/* An ordered list of named heap tensors: a model's parameters (requires_grad) and buffers
 * (running statistics, requires_grad false). Checkpoints and optimizers work on these. */
typedef struct hg_param {
    char *name;
    hg_tensor *tensor;
} hg_param;

typedef struct hg_params {
    int32_t count;
    int32_t capacity;
    hg_param *items;
} hg_params;

void hg_params_init(hg_params *p);
void hg_params_free(hg_params *p); /* frees the tensors too */
/* Adds a zeroed heap tensor under `name` (copied); NULL if the name exists or on error. */
hg_tensor *hg_params_add(hg_params *p, const char *name, bool trainable, int ndim,
                         const int64_t *shape);
/* Adds an existing heap tensor, taking ownership. */
hg_status hg_params_adopt(hg_params *p, const char *name, hg_tensor *t);
hg_tensor *hg_params_get(const hg_params *p, const char *name);
void hg_params_zero_grad(hg_params *p);
int64_t hg_params_count_trainable(const hg_params *p); /* number of trainable scalars */

/* ---- random numbers -------------------------------------------------------------------- */

/* Counter-based (Philox-4x32-10): the value at counter position i depends only on (seed, i),
 * so fills split across threads give identical results for any thread count. */
hg_rng hg_rng_new(uint64_t seed);
/* An independent stream derived from (seed, stream id), e.g. one per data-loader worker. */
hg_rng hg_rng_split(const hg_rng *rng, uint64_t stream);
uint32_t hg_rng_u32(hg_rng *rng);
uint64_t hg_rng_u64(hg_rng *rng);
double hg_rng_uniform(hg_rng *rng);            /* [0, 1) */
double hg_rng_normal(hg_rng *rng);             /* standard normal */
uint64_t hg_rng_below(hg_rng *rng, uint64_t n); /* uniform integer in [0, n) */
double hg_rng_poisson(hg_rng *rng, double mean);
void hg_rng_fill_uniform(hg_rng *rng, float *x, int64_t n, float lo, float hi);
void hg_rng_fill_normal(hg_rng *rng, float *x, int64_t n, float mean, float std);
void hg_rng_shuffle(hg_rng *rng, int64_t *idx, int64_t n);
/* The raw Philox block for (key, counter): four 32-bit outputs. */
void hg_philox4x32(uint64_t key, uint64_t counter, uint32_t out[4]);

/* ---- threads --------------------------------------------------------------------------- */

/* Sets OpenMP and BLAS thread counts; n <= 0 means all cores. */
void hg_set_threads(int n);
int hg_get_threads(void);

const char *hg_version(void);

#ifdef __cplusplus
}
#endif
#endif
