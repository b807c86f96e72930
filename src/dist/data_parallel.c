/* Synchronous data parallelism: bucketed gradient averaging and the training-loop hooks.
 *
 * The trainable gradients, taken in reverse parameter order (roughly the order in which
 * backward completes them), form one virtual vector cut into buckets of about bucket_bytes,
 * with a packing buffer allocated at creation.
 *
 * Overlapped (default, hg_dist_trainer_begin_backward before hg_backward): the tape's
 * gradient-ready hook reports each parameter as soon as its gradient is final; the parameter
 * is packed into the buffer at once, and a bucket's MPI_Iallreduce starts as soon as all its
 * parameters are packed and every earlier bucket has started (so every rank starts the same
 * collectives in the same order, as MPI requires). Each report also calls MPI_Testall, since
 * Open MPI progresses non-blocking collectives only inside MPI calls. After backward,
 * hg_dist_allreduce_grads packs what was never reported (unused parameters: zeros), starts the
 * remaining buckets, waits, and copies the averages back.
 *
 * Not overlapped: hg_dist_allreduce_grads packs bucket k and starts its reduction, then packs
 * bucket k+1 while k reduces. Both ways reduce the same buffer with the same bucket bounds and
 * the same calls, so their results are bitwise identical (tested). The payload per step is
 * 4 * trainable-parameters bytes. */
#include "dist_internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef HINGE_HAVE_MPI
#include <mpi.h>
#endif

typedef struct param_key {
    const hg_tensor *tensor;
    int32_t j; /* position in the virtual vector's order */
} param_key;

struct hg_dist_trainer {
    hg_params *params;
    int32_t n;           /* trainable parameters */
    int32_t *order;      /* their indices in params, reverse order */
    int64_t *offset;     /* start of each in the virtual vector (n + 1 entries) */
    int64_t total;       /* floats */
    int64_t bucket;      /* floats per bucket */
    int32_t buckets;
    float *buffer;       /* total floats */
    param_key *keys;     /* tensor -> j, sorted by address (the hook's look-up) */
    int32_t *members;    /* parameters overlapping each bucket */
    /* the current overlapped step */
    bool overlap;
    hg_ctx *armed;       /* context whose hook is installed (NULL: not overlapping now) */
    uint8_t *ready;      /* n flags: packed this step */
    int32_t *pending;    /* per bucket: members not yet packed */
    int32_t started;     /* buckets whose reduction has started */
#ifdef HINGE_HAVE_MPI
    MPI_Request *requests;
#endif
    int64_t check_every;
    hg_dist_stats stats;
};

static int key_cmp(const void *a, const void *b)
{
    const hg_tensor *x = ((const param_key *)a)->tensor, *y = ((const param_key *)b)->tensor;
    return x < y ? -1 : x > y;
}

/* The buckets [first, last] that parameter j overlaps (none when it is empty). */
static bool bucket_span(const hg_dist_trainer *t, int32_t j, int32_t *first, int32_t *last)
{
    if (t->offset[j + 1] == t->offset[j])
        return false;
    *first = (int32_t)(t->offset[j] / t->bucket);
    *last = (int32_t)((t->offset[j + 1] - 1) / t->bucket);
    return true;
}

/* The look-up table of the hook and the bucket membership counts. */
static hg_status index_params(hg_dist_trainer *t)
{
    t->keys = hg_calloc((size_t)t->n + 1, sizeof *t->keys);
    t->members = hg_calloc((size_t)t->buckets + 1, sizeof *t->members);
    t->pending = hg_calloc((size_t)t->buckets + 1, sizeof *t->pending);
    t->ready = hg_calloc((size_t)t->n + 1, 1);
    if (!t->keys || !t->members || !t->pending || !t->ready)
        return hg_error_status();
    for (int32_t j = 0; j < t->n; j++) {
        t->keys[j] = (param_key){t->params->items[t->order[j]].tensor, j};
        int32_t first, last;
        if (bucket_span(t, j, &first, &last))
            for (int32_t b = first; b <= last; b++)
                t->members[b]++;
    }
    qsort(t->keys, (size_t)t->n, sizeof *t->keys, key_cmp);
    return HG_OK;
}

hg_dist_trainer *hg_dist_trainer_new(hg_params *params, size_t bucket_bytes,
                                     int64_t check_every)
{
    hg_dist_trainer *t = hg_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->params = params;
    t->overlap = true;
    t->check_every = check_every == 0 ? 50 : check_every;
    t->bucket = (int64_t)((bucket_bytes ? bucket_bytes : (size_t)4 << 20) / sizeof(float));
    if (t->bucket < 1)
        t->bucket = 1;
    if (t->bucket > (1 << 30))
        t->bucket = 1 << 30; /* MPI counts are int */
    t->order = hg_calloc((size_t)params->count + 1, sizeof *t->order);
    t->offset = hg_calloc((size_t)params->count + 1, sizeof *t->offset);
    if (!t->order || !t->offset) {
        hg_dist_trainer_free(t);
        return NULL;
    }
    for (int32_t i = params->count - 1; i >= 0; i--) {
        hg_tensor *p = params->items[i].tensor;
        if (!p->requires_grad)
            continue;
        t->order[t->n] = i;
        t->offset[t->n++] = t->total;
        t->total += hg_tensor_nfloats(p);
    }
    t->offset[t->n] = t->total;
    t->buckets = (int32_t)((t->total + t->bucket - 1) / t->bucket);
    t->buffer = hg_malloc((size_t)(t->total > 0 ? t->total : 1) * sizeof(float));
#ifdef HINGE_HAVE_MPI
    t->requests = hg_calloc((size_t)t->buckets + 1, sizeof *t->requests);
    if (!t->requests) {
        hg_dist_trainer_free(t);
        return NULL;
    }
#endif
    if (!t->buffer || index_params(t) != HG_OK) {
        hg_dist_trainer_free(t);
        return NULL;
    }
    t->stats.buckets = t->buckets;
    t->stats.bytes_per_step = t->total * (int64_t)sizeof(float);
    t->stats.overlap = true;
    return t;
}

void hg_dist_trainer_set_overlap(hg_dist_trainer *t, bool on)
{
    t->overlap = on;
    t->stats.overlap = on;
}

void hg_dist_trainer_free(hg_dist_trainer *t)
{
    if (!t)
        return;
    hg_free(t->order);
    hg_free(t->offset);
    hg_free(t->keys);
    hg_free(t->members);
    hg_free(t->pending);
    hg_free(t->ready);
    /* A backward that failed after starting reductions leaves them in flight: waiting could
     * hang (the other ranks may never start theirs) and freeing would let MPI write into freed
     * memory, so the buffer and requests are left to the process's end (it aborts anyway). */
    if (t->armed && t->started > 0)
        return;
    hg_free(t->buffer);
#ifdef HINGE_HAVE_MPI
    hg_free(t->requests);
#endif
    hg_free(t);
}

hg_dist_stats hg_dist_trainer_stats(const hg_dist_trainer *t) { return t->stats; }

#ifdef HINGE_HAVE_MPI
/* Copies the virtual range [lo, hi) between the gradients and the buffer (pack: grad ->
 * buffer; else buffer * scale -> grad). `*k` is the first parameter that may overlap. */
static void copy_range(hg_dist_trainer *t, int64_t lo, int64_t hi, bool pack, float scale,
                       int32_t *k)
{
    while (*k < t->n && t->offset[*k + 1] <= lo)
        (*k)++;
    for (int32_t j = *k; j < t->n && t->offset[j] < hi; j++) {
        hg_tensor *p = t->params->items[t->order[j]].tensor;
        int64_t a = lo > t->offset[j] ? lo : t->offset[j];
        int64_t b = hi < t->offset[j + 1] ? hi : t->offset[j + 1];
        float *g = p->grad + (a - t->offset[j]), *buf = t->buffer + a;
        if (pack)
            memcpy(buf, g, (size_t)(b - a) * sizeof(float));
        else
            for (int64_t i = 0; i < b - a; i++)
                g[i] = buf[i] * scale;
    }
}
#endif

#ifdef HINGE_HAVE_MPI
static hg_status start_bucket(hg_dist_trainer *t, int32_t b)
{
    int64_t lo = (int64_t)b * t->bucket;
    int64_t hi = lo + t->bucket < t->total ? lo + t->bucket : t->total;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, t->buffer + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM,
                            MPI_COMM_WORLD, &t->requests[b]);
    if (rc != MPI_SUCCESS)
        return hg_dist_mpi_error(rc, "gradient Iallreduce");
    t->started++;
    return HG_OK;
}

/* Waits for the started buckets and copies the averages back. */
static hg_status finish(hg_dist_trainer *t, hg_status s)
{
    int rc = MPI_Waitall(t->started, t->requests, MPI_STATUSES_IGNORE);
    if (s == HG_OK && rc != MPI_SUCCESS)
        s = hg_dist_mpi_error(rc, "gradient Waitall");
    t->started = 0;
    if (s == HG_OK) {
        int32_t k = 0;
        copy_range(t, 0, t->total, false, 1.0f / (float)hg_dist_world(), &k);
    }
    return s;
}

/* Packs parameter j (its gradient is final) and starts every bucket that is now complete,
 * in bucket order. */
static hg_status mark_ready(hg_dist_trainer *t, int32_t j)
{
    if (t->ready[j])
        return HG_OK;
    t->ready[j] = 1;
    hg_tensor *p = t->params->items[t->order[j]].tensor;
    const float *g = hg_grad(NULL, p);
    if (!g)
        return hg_error_context(hg_error_status(), "dist: gradient of '%s'",
                                t->params->items[t->order[j]].name);
    memcpy(t->buffer + t->offset[j], g, (size_t)(t->offset[j + 1] - t->offset[j]) * sizeof *g);
    int32_t first, last;
    if (bucket_span(t, j, &first, &last))
        for (int32_t b = first; b <= last; b++)
            t->pending[b]--;
    while (t->started < t->buckets && t->pending[t->started] == 0) {
        hg_status s = start_bucket(t, t->started);
        if (s != HG_OK)
            return s;
    }
    int flag = 0;
    if (t->started > 0)
        MPI_Testall(t->started, t->requests, &flag, MPI_STATUSES_IGNORE);
    return HG_OK;
}

static hg_status on_grad_ready(void *user, hg_tensor *leaf)
{
    hg_dist_trainer *t = user;
    param_key key = {leaf, 0};
    const param_key *k = bsearch(&key, t->keys, (size_t)t->n, sizeof key, key_cmp);
    if (!k)
        return HG_OK; /* not one of this trainer's parameters */
    double t0 = hg_dist_now();
    hg_status s = mark_ready(t, k->j);
    t->stats.overlapped_seconds += hg_dist_now() - t0;
    return s;
}
#endif

hg_status hg_dist_trainer_begin_backward(hg_dist_trainer *t, hg_ctx *ctx)
{
#ifdef HINGE_HAVE_MPI
    if (t->armed)
        return hg_error(HG_ERR_STATE, "dist: begin_backward twice without "
                                      "hg_dist_allreduce_grads in between");
    if (!t->overlap || !hg_dist_active() || t->total == 0)
        return HG_OK;
    memset(t->ready, 0, (size_t)t->n);
    memcpy(t->pending, t->members, (size_t)t->buckets * sizeof *t->pending);
    t->started = 0;
    t->armed = ctx;
    hg_tape_set_grad_ready_hook(ctx, on_grad_ready, t);
#else
    (void)t, (void)ctx;
#endif
    return HG_OK;
}

hg_status hg_dist_allreduce_grads(hg_dist_trainer *t)
{
    /* Missing gradients (a parameter unused this step) count as zeros: every rank must
     * contribute the same layout. */
    for (int32_t j = 0; j < t->n; j++)
        if (!hg_grad(NULL, t->params->items[t->order[j]].tensor))
            return hg_error_context(hg_error_status(), "dist: gradient of '%s'",
                                    t->params->items[t->order[j]].name);
    t->stats.steps++;
    if (!hg_dist_active() || t->total == 0)
        return HG_OK;
#ifdef HINGE_HAVE_MPI
    double t0 = hg_dist_now();
    hg_status s = HG_OK;
    if (t->armed) {
        hg_tape_set_grad_ready_hook(t->armed, NULL, NULL);
        t->stats.buckets_overlapped += t->started;
        for (int32_t j = 0; j < t->n && s == HG_OK; j++)
            s = mark_ready(t, j); /* never reported: unused this step */
        t->armed = NULL;
    } else {
        int32_t k = 0;
        for (int32_t b = 0; b < t->buckets && s == HG_OK; b++) {
            int64_t lo = (int64_t)b * t->bucket;
            copy_range(t, lo, lo + t->bucket < t->total ? lo + t->bucket : t->total, true, 1.0f,
                       &k);
            s = start_bucket(t, b);
            /* poke the progress engine so bucket b-1 advances while b+1 is packed */
            int flag = 0;
            MPI_Testall(t->started, t->requests, &flag, MPI_STATUSES_IGNORE);
        }
    }
    s = finish(t, s);
    t->stats.allreduce_seconds += hg_dist_now() - t0;
    return s;
#else
    return HG_OK;
#endif
}

/* ---- hooks of hg_train -------------------------------------------------------------------- */

static hg_status before_backward(void *user, hg_ctx *ctx, int64_t step)
{
    hg_status s = hg_dist_trainer_begin_backward(user, ctx);
    return s == HG_OK ? HG_OK : hg_error_context(s, "dist: step %lld", (long long)step);
}

static hg_status after_backward(void *user, hg_params *p, int64_t step, double *loss)
{
    hg_dist_trainer *t = user;
    (void)p;
    hg_status s = hg_dist_allreduce_grads(t);
    if (s != HG_OK)
        return hg_error_context(s, "dist: step %lld", (long long)step);
    *loss = hg_dist_allreduce_double(*loss, true);
    return HG_OK;
}

hg_status hg_dist_average_buffers(hg_params *p)
{
#ifdef HINGE_HAVE_MPI
    if (!hg_dist_active())
        return HG_OK;
    float scale = 1.0f / (float)hg_dist_world();
    for (int32_t i = 0; i < p->count; i++) {
        hg_tensor *b = p->items[i].tensor;
        int64_t n = hg_tensor_nfloats(b);
        if (b->requires_grad || n == 0 || n > (1 << 30))
            continue;
        int rc = MPI_Allreduce(MPI_IN_PLACE, b->data, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return hg_dist_mpi_error(rc, "buffer allreduce");
        for (int64_t j = 0; j < n; j++)
            b->data[j] *= scale;
    }
#else
    (void)p;
#endif
    return HG_OK;
}

static hg_status after_step(void *user, hg_params *p, int64_t steps_done)
{
    hg_dist_trainer *t = user;
    hg_status s = hg_dist_average_buffers(p);
    if (s != HG_OK)
        return hg_error_context(s, "dist: step %lld", (long long)steps_done);
    if (t->check_every <= 0 || steps_done % t->check_every != 0)
        return HG_OK;
    t->stats.hash_checks++;
    return hg_dist_check_identical(p, steps_done);
}

void hg_dist_train_hooks(hg_dist_trainer *t, hg_train_dist *d)
{
    memset(d, 0, sizeof *d);
    d->rank = hg_dist_rank();
    d->world = hg_dist_world();
    d->before_backward = before_backward;
    d->after_backward = after_backward;
    d->after_step = after_step;
    d->user = t;
}
