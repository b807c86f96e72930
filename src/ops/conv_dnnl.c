/* The convolution C (big -> small, see conv_internal.h), its adjoint and its weight gradient
 * through oneDNN 2.6 (Debian's libdnnl, the library PyTorch 1.13 uses for its CPU convs).
 *
 * oneDNN's fast kernels work on blocked layouts (nChw16c and friends): tensors are described
 * with format_tag_any, oneDNN picks the layout, and reorders convert hinge's plain NC(D)HW to it
 * and back. The output reorder carries a sum post-op where hinge accumulates (+=), so the
 * accumulation costs no extra pass. Creating a primitive costs milliseconds (JIT code
 * generation), so every primitive is created once per geometry and thread count and kept in a
 * process-wide cache (freed at exit); each call only points the cached memory objects at this
 * call's buffers. The blocked copies and oneDNN's scratchpad come from the hinge context
 * (scratchpad mode "user"), so a step allocates nothing on the heap.
 *
 * Which pass runs here is decided by hg_conv_dnnl_wanted (a static rule table from measurements;
 * see docs/PERFORMANCE.md "oneDNN convolutions"). */
#include "ops/conv_internal.h"

#include <stdio.h>
#include <string.h>

/* oneDNN's backward-weights kernels split the reduction over positions among their threads,
 * so dw depends on the thread count (measured: relative differences of 1e-6..4e-6 between 1,
 * 2 and 3 threads on the 2-D U-Net and LPD shapes; tests/ops/test_conv_dnnl.c reports them).
 * hinge's results must not depend on the thread count (docs/PERFORMANCE.md "Threads, waiting,
 * and determinism"), so that pass is created and run with this fixed number of threads,
 * whatever hg_set_threads says: bit-identical for any setting, at the cost of one extra thread
 * when hinge runs on one, and no scaling beyond two. */
#ifndef HG_CONV_DNNL_WGRAD_THREADS
#define HG_CONV_DNNL_WGRAD_THREADS 2
#endif

hg_conv_dnnl_layout hg__conv_dnnl_layout = HG_CONV_DNNL_BLOCKED;
bool hg__conv_dnnl_fail = false;
bool hg__conv_dnnl_winograd = false;

/* The spatial extent of C's padding on the far side: oneDNN wants it explicitly (hinge derives
 * the small size by flooring, which can leave it smaller than the near side, or negative). */
static int64_t pad_right(const hg_conv_geom *g, int i)
{
    return (g->out[i] - 1) * g->s[i] + (g->k[i] - 1) * g->d[i] + 1 - g->in[i] - g->p[i];
}

/* Winograd F(4x4, 3x3) (oneDNN's AVX-512 kernel) for the 2-D 3x3 convs with channel counts
 * that are multiples of 16 from 32 on: 1.4-2.9x faster than the direct kernels in all three
 * passes (docs/PERFORMANCE.md "oneDNN convolutions"), relative error 2e-6 against sgemm (test
 * 1e-5). Forcing oneDNN (tests) means the direct algorithm unless hg__conv_dnnl_winograd. */
static bool winograd_shape(const hg_conv_plan *p)
{
    const hg_conv_geom *g = &p->g;
    return p->nsp == 2 && p->groups == 1 && p->cb >= 32 && p->cs >= 32 && p->cb % 16 == 0 &&
           p->cs % 16 == 0 && g->k[1] == 3 && g->k[2] == 3 && g->s[1] == 1 && g->s[2] == 1 &&
           g->d[1] == 1 && g->d[2] == 1;
}

#ifdef HINGE_HAVE_DNNL

#include <dnnl.h>
#include <dnnl_debug.h>
#include <omp.h>
#include <pthread.h>

bool hg_conv_dnnl_available(void) { return true; }

bool hg_conv_dnnl_usable(const hg_conv_plan *p)
{
    for (int i = 0; i < 3; i++)
        if (pad_right(&p->g, i) < 0)
            return false;
    return true;
}

/* Everything that shapes a primitive. oneDNN fixes its thread split at creation, so the
 * thread count is part of the key. Zero-filled before use: compared with memcmp. */
typedef struct {
    int64_t pass, nthreads, plain, winograd, accumulate, nsp, batch, groups, cb, cs;
    int64_t in[3], out[3], k[3], s[3], p[3], d[3], pr[3]; /* pr: far-side padding */
} dnnl_key;

/* The conv's three tensors: two inputs A, B and the output C.
 *   forward:          A = src (big),       B = weights,       C = dst (small)
 *   backward data:    A = diff_dst (small), B = weights,       C = diff_src (big)
 *   backward weights: A = src (big),       B = diff_dst (small), C = diff_weights */
enum { TA, TB, TC, NT };
/* Primitives run in order: reorder A, reorder B, conv, reorder C (each may be absent). */
enum { PRA, PRB, PCONV, PRC, NP };

typedef struct dnnl_entry {
    dnnl_key key;
    dnnl_primitive_t prim[NP];
    dnnl_memory_t user[NT];    /* hinge's plain tensors */
    dnnl_memory_t mine[NT];    /* the conv's layout, where it differs (else NULL) */
    dnnl_memory_t scratch[NP]; /* each primitive's scratchpad (all share one buffer) */
    size_t mine_bytes[NT], scratch_bytes;
    int conv_arg[NT];
    bool unavailable;     /* oneDNN has no kernel for this key (Winograd on this CPU/shape) */
    pthread_mutex_t lock; /* the memory objects are rebound per call */
    struct dnnl_entry *next;
} dnnl_entry;

/* Thread safety: the cache list is guarded by cache_lock, each entry's memory objects by its
 * own lock (two threads running the same geometry take turns; different geometries run
 * concurrently). The one CPU stream is shared: with oneDNN's OpenMP runtime an execute runs to
 * completion in the calling thread and keeps no state in the stream. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_entry *cache;
static dnnl_engine_t engine;
static dnnl_stream_t stream;

static const char *pass_name(hg_conv_dnnl_pass pass)
{
    return pass == HG_CONV_DNNL_FWD ? "forward"
           : pass == HG_CONV_DNNL_BWD_DATA ? "backward-data"
                                           : "backward-weights";
}

/* "[4, 32, 128, 128] -> [4, 64, 64, 64], kernel 3x3, stride 2x2, ..." for error messages. */
static void describe(const dnnl_key *k, char *buf, size_t n)
{
    int len = snprintf(buf, n, "[%lld, %lld", (long long)k->batch, (long long)k->cb);
    for (int i = 3 - (int)k->nsp; i < 3; i++)
        len += snprintf(buf + len, n - (size_t)len, ", %lld", (long long)k->in[i]);
    len += snprintf(buf + len, n - (size_t)len, "] -> [%lld, %lld", (long long)k->batch,
                    (long long)k->cs);
    for (int i = 3 - (int)k->nsp; i < 3; i++)
        len += snprintf(buf + len, n - (size_t)len, ", %lld", (long long)k->out[i]);
    const char *names[4] = {"kernel", "stride", "padding", "dilation"};
    const int64_t *v[4] = {k->k, k->s, k->p, k->d};
    len += snprintf(buf + len, n - (size_t)len, "]");
    for (int j = 0; j < 4 && len < (int)n; j++) {
        len += snprintf(buf + len, n - (size_t)len, ", %s ", names[j]);
        for (int i = 3 - (int)k->nsp; i < 3 && len < (int)n; i++)
            len += snprintf(buf + len, n - (size_t)len, i < 2 ? "%lldx" : "%lld",
                            (long long)v[j][i]);
    }
    if (len < (int)n)
        snprintf(buf + len, n - (size_t)len, ", groups %lld", (long long)k->groups);
}

static hg_status dnnl_fail(const dnnl_key *k, const char *what, dnnl_status_t s)
{
    char d[320];
    describe(k, d, sizeof d);
    return hg_error(s == dnnl_out_of_memory ? HG_ERR_NOMEM : HG_ERR_UNSUPPORTED,
                    "conv (oneDNN %s): %s failed (%s) for %s", pass_name((hg_conv_dnnl_pass)k->pass),
                    what, dnnl_status2str(s), d);
}

#define DN(call, what)                                                                         \
    do {                                                                                       \
        dnnl_status_t s_ = (call);                                                             \
        if (s_ != dnnl_success) {                                                              \
            st = dnnl_fail(k, what, s_);                                                       \
            goto out;                                                                          \
        }                                                                                      \
    } while (0)

static void entry_free(dnnl_entry *e)
{
    for (int i = 0; i < NP; i++) {
        if (e->prim[i])
            dnnl_primitive_destroy(e->prim[i]);
        if (e->scratch[i])
            dnnl_memory_destroy(e->scratch[i]);
    }
    for (int i = 0; i < NT; i++) {
        if (e->user[i])
            dnnl_memory_destroy(e->user[i]);
        if (e->mine[i])
            dnnl_memory_destroy(e->mine[i]);
    }
    pthread_mutex_destroy(&e->lock);
    hg_free(e);
}

/* Frees the cache, the stream and the engine when the process ends (no leak under LSan). */
__attribute__((destructor)) static void cache_free(void)
{
    while (cache) {
        dnnl_entry *e = cache;
        cache = e->next;
        entry_free(e);
    }
    if (stream)
        dnnl_stream_destroy(stream);
    if (engine)
        dnnl_engine_destroy(engine);
    stream = NULL;
    engine = NULL;
}

/* Plain descriptors of hinge's tensors: image with `c` channels and spatial size `sp`, and the
 * weights [cs, cbg, k...] (with a leading group axis when grouped). */
static void image_dims(const dnnl_key *k, int64_t c, const int64_t *sp, dnnl_dims_t dims)
{
    dims[0] = k->batch;
    dims[1] = c;
    for (int i = 0; i < k->nsp; i++)
        dims[2 + i] = sp[3 - k->nsp + i];
}

static dnnl_status_t image_md(const dnnl_key *k, int64_t c, const int64_t *sp, bool any,
                              dnnl_memory_desc_t *md)
{
    static const dnnl_format_tag_t tags[3] = {dnnl_ncw, dnnl_nchw, dnnl_ncdhw};
    dnnl_dims_t dims;
    image_dims(k, c, sp, dims);
    return dnnl_memory_desc_init_by_tag(md, 2 + (int)k->nsp, dims, dnnl_f32,
                                        any ? dnnl_format_tag_any : tags[k->nsp - 1]);
}

static dnnl_status_t weights_md(const dnnl_key *k, bool any, dnnl_memory_desc_t *md)
{
    static const dnnl_format_tag_t plain[3] = {dnnl_oiw, dnnl_oihw, dnnl_oidhw};
    static const dnnl_format_tag_t grouped[3] = {dnnl_goiw, dnnl_goihw, dnnl_goidhw};
    dnnl_dims_t dims;
    int nd = 0;
    if (k->groups > 1)
        dims[nd++] = k->groups;
    dims[nd++] = k->cs / k->groups;
    dims[nd++] = k->cb / k->groups;
    for (int i = 0; i < k->nsp; i++)
        dims[nd++] = k->k[3 - k->nsp + i];
    dnnl_format_tag_t tag = k->groups > 1 ? grouped[k->nsp - 1] : plain[k->nsp - 1];
    return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, any ? dnnl_format_tag_any : tag);
}

static dnnl_status_t user_scratch_attr(dnnl_primitive_attr_t *attr, bool sum)
{
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && sum) {
        dnnl_post_ops_t po;
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success) {
            s = dnnl_post_ops_append_sum(po, 1.0f);
            if (s == dnnl_success)
                s = dnnl_primitive_attr_set_post_ops(*attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    return s;
}

/* The scratchpad memory object of primitive descriptor `pd` (NULL when it needs none). */
static dnnl_status_t scratch_of(const_dnnl_primitive_desc_t pd, dnnl_memory_t *mem,
                                size_t *bytes)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t n = md ? dnnl_memory_desc_get_size(md) : 0;
    *mem = NULL;
    if (n == 0)
        return dnnl_success;
    if (n > *bytes)
        *bytes = n;
    return dnnl_memory_create(mem, md, engine, DNNL_MEMORY_NONE);
}

/* A reorder from `src` to `dst` (dst += src when `sum`), its scratchpad in e->scratch[slot]. */
static dnnl_status_t make_reorder(dnnl_entry *e, int slot, const dnnl_memory_desc_t *src,
                                  const dnnl_memory_desc_t *dst, bool sum)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = user_scratch_attr(&attr, sum);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, src, engine, dst, engine, attr);
    if (s == dnnl_success)
        s = scratch_of(pd, &e->scratch[slot], &e->scratch_bytes);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&e->prim[slot], pd);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return s;
}

/* The conv's primitive descriptor for k->pass (backward passes need the forward one as hint). */
static dnnl_status_t conv_pd(const dnnl_key *k, dnnl_primitive_attr_t attr,
                             dnnl_primitive_desc_t *pd)
{
    dnnl_memory_desc_t big, small, w;
    bool any = !k->plain;
    dnnl_status_t s;
    if ((s = image_md(k, k->cb, k->in, any, &big)) != dnnl_success ||
        (s = image_md(k, k->cs, k->out, any, &small)) != dnnl_success ||
        (s = weights_md(k, any, &w)) != dnnl_success)
        return s;
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < k->nsp; i++) {
        int j = 3 - (int)k->nsp + i;
        strides[i] = k->s[j];
        dil[i] = k->d[j] - 1; /* oneDNN counts the gaps */
        pl[i] = k->p[j];
        pr[i] = k->pr[j];
    }
    /* The test hook asks for an algorithm that does not exist: oneDNN itself rejects it. */
    dnnl_alg_kind_t alg = hg__conv_dnnl_fail       ? dnnl_alg_kind_undef
                          : k->winograd ? dnnl_convolution_winograd
                                        : dnnl_convolution_direct;
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = NULL;
    if ((s = dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, &big, &w,
                                                        NULL, &small, strides, dil, pl, pr)) !=
        dnnl_success)
        return s;
    if (k->pass == HG_CONV_DNNL_FWD)
        return dnnl_primitive_desc_create(pd, &fd, attr, engine, NULL);
    if ((s = dnnl_primitive_desc_create(&fpd, &fd, NULL, engine, NULL)) != dnnl_success)
        return s;
    if (k->pass == HG_CONV_DNNL_BWD_DATA)
        s = dnnl_dilated_convolution_backward_data_desc_init(&bd, alg, &big, &w, &small, strides,
                                                             dil, pl, pr);
    else
        s = dnnl_dilated_convolution_backward_weights_desc_init(&bd, alg, &big, &w, NULL, &small,
                                                                strides, dil, pl, pr);
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(pd, &bd, attr, engine, fpd);
    dnnl_primitive_desc_destroy(fpd);
    return s;
}

static hg_status entry_make(const dnnl_key *k, dnnl_entry **out)
{
    hg_status st = HG_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_entry *e = hg_calloc(1, sizeof *e);
    if (!e)
        return hg_error(HG_ERR_NOMEM, "conv (oneDNN): primitive cache entry");
    e->key = *k;
    pthread_mutex_init(&e->lock, NULL);
    if (!engine)
        DN(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine creation");
    if (!stream)
        DN(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream creation");
    DN(user_scratch_attr(&attr, false), "attributes");
    DN(conv_pd(k, attr, &pd), "convolution primitive descriptor");

    /* The user's plain descriptors and the conv's, in A, B, C order. */
    dnnl_memory_desc_t user[NT];
    DN(image_md(k, k->cb, k->in, false, &user[k->pass == HG_CONV_DNNL_BWD_DATA ? TC : TA]),
       "descriptor");
    DN(image_md(k, k->cs, k->out, false, &user[k->pass == HG_CONV_DNNL_FWD ? TC
                                               : k->pass == HG_CONV_DNNL_BWD_DATA ? TA
                                                                                  : TB]),
       "descriptor");
    DN(weights_md(k, false, &user[k->pass == HG_CONV_DNNL_BWD_WEIGHTS ? TC : TB]), "descriptor");
    static const struct {
        dnnl_query_t q[NT];
        int arg[NT];
    } roles[3] = {
        {{dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md},
         {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}},
        {{dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md},
         {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC}},
        {{dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md},
         {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}},
    };
    for (int t = 0; t < NT; t++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, roles[k->pass].q[t], 0);
        e->conv_arg[t] = roles[k->pass].arg[t];
        DN(dnnl_memory_create(&e->user[t], &user[t], engine, DNNL_MEMORY_NONE), "memory");
        /* The output goes through a reorder when hinge accumulates into it. */
        bool same = dnnl_memory_desc_equal(md, &user[t]);
        if (same && (t != TC || !k->accumulate))
            continue;
        DN(dnnl_memory_create(&e->mine[t], md, engine, DNNL_MEMORY_NONE), "memory");
        e->mine_bytes[t] = dnnl_memory_desc_get_size(md);
        if (t == TC)
            DN(make_reorder(e, PRC, md, &user[t], k->accumulate != 0), "output reorder");
        else
            DN(make_reorder(e, t == TA ? PRA : PRB, &user[t], md, false), "input reorder");
    }
    DN(scratch_of(pd, &e->scratch[PCONV], &e->scratch_bytes), "scratchpad");
    DN(dnnl_primitive_create(&e->prim[PCONV], pd), "convolution primitive");
out:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st != HG_OK) {
        entry_free(e);
        return st;
    }
    *out = e;
    return HG_OK;
}

/* The cached entry for `k`, created on first use. Creation happens under the cache lock:
 * rare, and it keeps two threads from generating the same kernels. When `optional` (the rule
 * table's Winograd choice), a key oneDNN cannot serve is remembered as unavailable, without an
 * error, so that the caller falls back at no cost on later calls. */
static hg_status entry_get(const dnnl_key *k, bool optional, dnnl_entry **out)
{
    hg_status st = HG_OK;
    pthread_mutex_lock(&cache_lock);
    dnnl_entry *e = cache;
    while (e && memcmp(&e->key, k, sizeof *k) != 0)
        e = e->next;
    if (!e) {
        st = entry_make(k, &e);
        if (st != HG_OK && optional && (e = hg_calloc(1, sizeof *e)) != NULL) {
            hg_error_clear();
            st = HG_OK;
            e->key = *k;
            e->unavailable = true;
            pthread_mutex_init(&e->lock, NULL);
        }
        if (st == HG_OK) {
            e->next = cache;
            cache = e;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    *out = e;
    return st;
}

static bool winograd_wanted(const hg_conv_plan *p)
{
    if (hg__conv_path == HG_CONV_PATH_DNNL)
        return hg__conv_dnnl_winograd;
    return hg__conv_dnnl_winograd || winograd_shape(p);
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

static hg_status run(hg_ctx *ctx, const hg_conv_plan *p, hg_conv_dnnl_pass pass, bool accumulate,
                     const float *a, const float *b, float *c)
{
    dnnl_key key;
    memset(&key, 0, sizeof key);
    key.pass = pass;
    const int threads = omp_get_max_threads();
    key.nthreads = pass == HG_CONV_DNNL_BWD_WEIGHTS ? HG_CONV_DNNL_WGRAD_THREADS : threads;
    key.plain = hg__conv_dnnl_layout == HG_CONV_DNNL_PLAIN;
    key.winograd = winograd_wanted(p);
    key.accumulate = accumulate;
    key.nsp = p->nsp;
    key.batch = p->batch;
    key.groups = p->groups;
    key.cb = p->cb;
    key.cs = p->cs;
    for (int i = 0; i < 3; i++) {
        key.in[i] = p->g.in[i], key.out[i] = p->g.out[i], key.k[i] = p->g.k[i];
        key.s[i] = p->g.s[i], key.p[i] = p->g.p[i], key.d[i] = p->g.d[i];
        key.pr[i] = pad_right(&p->g, i);
    }
    const dnnl_key *k = &key;
    dnnl_entry *e;
    /* oneDNN reads the thread count from OpenMP at creation and at execution. */
    if (key.nthreads != threads)
        omp_set_num_threads((int)key.nthreads);
    hg_status st = entry_get(k, key.winograd && hg__conv_path != HG_CONV_PATH_DNNL, &e);
    if (st == HG_OK && e->unavailable) {
        key.winograd = 0; /* no Winograd kernel here: the direct one */
        st = entry_get(k, false, &e);
    }
    if (st != HG_OK) {
        omp_set_num_threads(threads);
        return st;
    }

    size_t off[NT], total = round64(e->scratch_bytes) + 64;
    for (int t = 0; t < NT; t++) {
        off[t] = total;
        total += round64(e->mine_bytes[t]);
    }
    hg_conv_scratch sc = hg_conv_scratch_begin(ctx);
    char *buf = hg_conv_scratch_alloc(&sc, total, false);
    if (!buf) {
        hg_conv_scratch_end(&sc);
        omp_set_num_threads(threads);
        return hg_error_context(hg_error_status(), "conv (oneDNN %s): scratch of %zu bytes",
                                pass_name(pass), total);
    }
    char *base = (char *)round64((size_t)buf); /* 64-byte aligned for the kernels */
    pthread_mutex_lock(&e->lock);
    void *user[NT] = {(void *)a, (void *)b, c};
    for (int t = 0; t < NT; t++) {
        DN(dnnl_memory_set_data_handle(e->user[t], user[t]), "binding memory");
        if (e->mine[t])
            DN(dnnl_memory_set_data_handle(e->mine[t], base + off[t]), "binding memory");
    }
    for (int i = 0; i < NP; i++)
        if (e->scratch[i])
            DN(dnnl_memory_set_data_handle(e->scratch[i], base), "binding memory");
    for (int t = TA; t <= TB; t++)
        if (e->prim[t == TA ? PRA : PRB]) {
            int pi = t == TA ? PRA : PRB;
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->user[t]},
                                       {DNNL_ARG_DST, e->mine[t]},
                                       {DNNL_ARG_SCRATCHPAD, e->scratch[pi]}};
            DN(dnnl_primitive_execute(e->prim[pi], stream, e->scratch[pi] ? 3 : 2, args),
               "input reorder");
        }
    {
        dnnl_exec_arg_t args[NT + 1];
        for (int t = 0; t < NT; t++) {
            args[t].arg = e->conv_arg[t];
            args[t].memory = e->mine[t] ? e->mine[t] : e->user[t];
        }
        args[NT].arg = DNNL_ARG_SCRATCHPAD;
        args[NT].memory = e->scratch[PCONV];
        DN(dnnl_primitive_execute(e->prim[PCONV], stream, e->scratch[PCONV] ? NT + 1 : NT, args),
           "convolution");
    }
    if (e->prim[PRC]) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->mine[TC]},
                                   {DNNL_ARG_DST, e->user[TC]},
                                   {DNNL_ARG_SCRATCHPAD, e->scratch[PRC]}};
        DN(dnnl_primitive_execute(e->prim[PRC], stream, e->scratch[PRC] ? 3 : 2, args),
           "output reorder");
    }
    DN(dnnl_stream_wait(stream), "stream wait");
out:
    pthread_mutex_unlock(&e->lock);
    hg_conv_scratch_end(&sc);
    if (key.nthreads != threads)
        omp_set_num_threads(threads);
    return st;
}

/* The blocked copies of a call hold its whole batch: for the 2-D U-Net's 64 -> 32 conv at
 * 256^2 and batch 4 that is 100 MB beside the step's live tensors, and it raised the
 * training step's peak by 41 MB. Batches whose copies would pass this budget run in chunks
 * of images (each a cached primitive; the weight gradient accumulates chunk after chunk, a
 * fixed order), which costs nothing measurable at these sizes. */
int64_t hg__conv_dnnl_chunk_bytes = (int64_t)32 << 20;

static hg_status run_chunked(hg_ctx *ctx, const hg_conv_plan *p, hg_conv_dnnl_pass pass,
                             bool accumulate, const float *a, const float *b, float *c)
{
    const int64_t big = p->cb * p->g.in_vol, small = p->cs * p->g.out_vol;
    const int64_t per_image = (big + small) * (int64_t)sizeof(float);
    int64_t chunk = per_image > 0 ? hg__conv_dnnl_chunk_bytes / per_image : p->batch;
    if (chunk < 1)
        chunk = 1;
    if (chunk >= p->batch)
        return run(ctx, p, pass, accumulate, a, b, c);
    /* Per pass, which operands are per image: forward a = big, c = small; backward-data
     * a = small, c = big; backward-weights a = big, b = small (c, the weights, is shared). */
    const int64_t sa = pass == HG_CONV_DNNL_BWD_DATA ? small : big;
    const int64_t sb = pass == HG_CONV_DNNL_BWD_WEIGHTS ? small : 0;
    const int64_t sc = pass == HG_CONV_DNNL_FWD ? small : pass == HG_CONV_DNNL_BWD_DATA ? big : 0;
    hg_conv_plan q = *p;
    hg_status st = HG_OK;
    for (int64_t n0 = 0; n0 < p->batch && st == HG_OK; n0 += chunk) {
        q.batch = p->batch - n0 < chunk ? p->batch - n0 : chunk;
        st = run(ctx, &q, pass, accumulate || (pass == HG_CONV_DNNL_BWD_WEIGHTS && n0 > 0),
                 a + n0 * sa, b + n0 * sb, c + n0 * sc);
    }
    return st;
}

hg_status hg_conv_dnnl_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                             const float *w, float *small, float beta)
{
    return run_chunked(ctx, p, HG_CONV_DNNL_FWD, beta != 0.0f, big, w, small);
}

hg_status hg_conv_dnnl_apply_adjoint(hg_ctx *ctx, const hg_conv_plan *p, const float *small,
                                     const float *w, float *big)
{
    return run_chunked(ctx, p, HG_CONV_DNNL_BWD_DATA, true, small, w, big);
}

hg_status hg_conv_dnnl_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                                   const float *small, float *dw)
{
    return run_chunked(ctx, p, HG_CONV_DNNL_BWD_WEIGHTS, true, big, small, dw);
}

#else /* !HINGE_HAVE_DNNL: built without oneDNN, every conv takes hinge's own paths */

bool hg_conv_dnnl_available(void) { return false; }
bool hg_conv_dnnl_usable(const hg_conv_plan *p)
{
    (void)p;
    (void)pad_right;
    return false;
}

static hg_status absent(void)
{
    return hg_error(HG_ERR_UNSUPPORTED, "conv: hinge was built without oneDNN (HINGE_DNNL=OFF)");
}

hg_status hg_conv_dnnl_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                             const float *w, float *small, float beta)
{
    (void)ctx, (void)p, (void)big, (void)w, (void)small, (void)beta;
    return absent();
}

hg_status hg_conv_dnnl_apply_adjoint(hg_ctx *ctx, const hg_conv_plan *p, const float *small,
                                     const float *w, float *big)
{
    (void)ctx, (void)p, (void)small, (void)w, (void)big;
    return absent();
}

hg_status hg_conv_dnnl_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                                   const float *small, float *dw)
{
    (void)ctx, (void)p, (void)big, (void)small, (void)dw;
    return absent();
}

#endif

/* ---- the rule table --------------------------------------------------------------------- */

/* By measurement (bench/bench_conv.c, process CPU time, 1 and 2 threads, oneDNN 2.6.3 in
 * blocked layouts against hinge's own kernels, AVX-512 Zen 4, 2026-11-27; the tables are in
 * docs/PERFORMANCE.md "oneDNN convolutions"). Only 3x3 / 3x3x3, stride 1, undilated,
 * ungrouped convs were measured in the classes below; everything else stays on hinge's kernels.
 * - 3-D: oneDNN 1.8-2.8x faster in all three passes from 16 channels on (16->16 at 64^3, one
 *   thread: forward 40 vs 88 ms, backward-data 48 vs 84, backward-weights 51 vs 100); the
 *   first conv (1->16) forward and weights 1.3-1.7x, its backward-data (never needed: the
 *   image has no gradient) slower.
 * - 2-D with >= 32 channels on both sides (the U-Net below its first conv): forward equal to
 *   1.45x faster (64->32 at 256^2: 106 vs 154 ms), backward-weights 1.15-1.5x faster;
 *   backward-data within +-15% either way, so it stays on hinge's kernels.
 *   With channel counts that are multiples of 16 these run as Winograd (winograd_shape), in
 *   all three passes: 1.4-2.9x faster than hinge's kernels.
 * - The 2x2 stride-2 up-convs (>= 16 channels): weights 1.1-1.3x faster (2-D and 3-D), the 3-D
 *   C^T (the transposed conv's forward) 1.2-1.5x; the rest equal or slower.
 * - 2-D with few channels on a side (the U-Net's first conv, LPD's 7->32 and 32->5) and the
 *   1x1 heads: hinge's direct kernels and sgemm are 1.3-7x faster. */
bool hg_conv_dnnl_wanted(const hg_conv_plan *p, hg_conv_dnnl_pass pass)
{
    if (hg__conv_path == HG_CONV_PATH_DNNL)
        return hg_conv_dnnl_usable(p);
    if (hg__conv_path != HG_CONV_PATH_AUTO || !hg_conv_dnnl_usable(p) || p->groups != 1)
        return false;
    const hg_conv_geom *g = &p->g;
    bool k3 = true, up = true; /* 3x3(x3) stride 1; 2x2(x2) stride 2 (the U-Nets' up-convs) */
    for (int i = 3 - p->nsp; i < 3; i++) {
        k3 = k3 && g->k[i] == 3 && g->s[i] == 1 && g->d[i] == 1;
        up = up && g->k[i] == 2 && g->s[i] == 2 && g->d[i] == 1 && g->p[i] == 0;
    }
    if (up && p->cb >= 16 && p->cs >= 16) /* weights 1.1-1.3x; 3-D C^T 1.2-1.5x */
        return pass == HG_CONV_DNNL_BWD_WEIGHTS || (p->nsp == 3 && pass == HG_CONV_DNNL_BWD_DATA);
    if (!k3)
        return false;
    if (p->nsp == 3)
        return pass != HG_CONV_DNNL_BWD_DATA || (p->cb >= 16 && p->cs >= 16);
    if (p->nsp == 2 && p->cb >= 32 && p->cs >= 32)
        return pass != HG_CONV_DNNL_BWD_DATA || winograd_shape(p);
    return false;
}
