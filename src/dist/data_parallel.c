/* Synchronous data parallelism: bucketed gradient averaging and the training-loop hooks.
 *
 * The trainable gradients, taken in reverse parameter order (the order in which backward
 * produces them, so a future per-parameter "gradient ready" hook can start buckets during
 * backward), form one virtual vector cut into buckets of about bucket_bytes. Bucket k is
 * packed into a buffer allocated at creation and its MPI_Iallreduce started at once, so the
 * reduction of bucket k overlaps the packing of bucket k+1; then all are awaited and the
 * averages copied back. The payload per step is 4 * trainable-parameters bytes. */
#include "dist_internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef HINGE_HAVE_MPI
#include <mpi.h>
#endif

struct hg_dist_trainer {
    hg_params *params;
    int32_t n;           /* trainable parameters */
    int32_t *order;      /* their indices in params, reverse order */
    int64_t *offset;     /* start of each in the virtual vector (n + 1 entries) */
    int64_t total;       /* floats */
    int64_t bucket;      /* floats per bucket */
    int32_t buckets;
    float *buffer;       /* total floats */
#ifdef HINGE_HAVE_MPI
    MPI_Request *requests;
#endif
    int64_t check_every;
    hg_dist_stats stats;
};

hg_dist_trainer *hg_dist_trainer_new(hg_params *params, size_t bucket_bytes,
                                     int64_t check_every)
{
    hg_dist_trainer *t = hg_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->params = params;
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
    if (!t->buffer) {
        hg_dist_trainer_free(t);
        return NULL;
    }
    t->stats.buckets = t->buckets;
    t->stats.bytes_per_step = t->total * (int64_t)sizeof(float);
    return t;
}

void hg_dist_trainer_free(hg_dist_trainer *t)
{
    if (!t)
        return;
    hg_free(t->order);
    hg_free(t->offset);
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
    int32_t k = 0;
    hg_status s = HG_OK;
    int32_t started = 0;
    for (int32_t b = 0; b < t->buckets; b++) {
        int64_t lo = (int64_t)b * t->bucket;
        int64_t hi = lo + t->bucket < t->total ? lo + t->bucket : t->total;
        copy_range(t, lo, hi, true, 1.0f, &k);
        int rc = MPI_Iallreduce(MPI_IN_PLACE, t->buffer + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM,
                                MPI_COMM_WORLD, &t->requests[b]);
        if (rc != MPI_SUCCESS) {
            s = hg_dist_mpi_error(rc, "gradient Iallreduce");
            break;
        }
        started++;
        /* Open MPI progresses non-blocking collectives only inside MPI calls: poke it so the
         * earlier buckets advance while the next one is packed. */
        int flag = 0;
        MPI_Testall(started, t->requests, &flag, MPI_STATUSES_IGNORE);
    }
    int rc = MPI_Waitall(started, t->requests, MPI_STATUSES_IGNORE);
    if (s == HG_OK && rc != MPI_SUCCESS)
        s = hg_dist_mpi_error(rc, "gradient Waitall");
    if (s == HG_OK) {
        k = 0;
        copy_range(t, 0, t->total, false, 1.0f / (float)hg_dist_world(), &k);
    }
    t->stats.allreduce_seconds += hg_dist_now() - t0;
    return s;
#else
    return HG_OK;
#endif
}

/* ---- hooks of hg_train -------------------------------------------------------------------- */

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
    d->after_backward = after_backward;
    d->after_step = after_step;
    d->user = t;
}
