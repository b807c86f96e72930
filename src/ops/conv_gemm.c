/* The convolution C (big -> small), its adjoint and its weight gradient as im2col + sgemm,
 * shared by hg_conv and hg_conv_transpose (see conv_internal.h), plus argument checking.
 * hg_conv_apply and hg_conv_weight_grad hand the geometries the direct kernels serve better
 * (conv_direct.c: stride 1, 2-D, by measurement) to those.
 *
 * Columns are produced in tiles of small-side positions, so the scratch matrix stays a few MB
 * (it lives in the L2/L3 caches while sgemm reads it) however large the image; the scratch is
 * taken from the context and handed back before the op returns. */
#include "ops/conv_internal.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>

/* Columns per tile: the scratch of one thread stays about HG_CONV_TILE_BYTES (sized for the
 * L2 cache, where sgemm then finds it), never below a few hundred columns (sgemm needs some
 * width) unless all threads' tiles together would exceed HG_CONV_TILE_MAX_BYTES (very deep
 * kernels, e.g. 3-D with hundreds of channels). Best of noisy runs on a shared 2-core Zen 4,
 * one thread, 64->64 3x3 on 256^2: 1 MB / 512 columns 64 ms, 2 MB / 1024 columns 77 ms. The
 * #ifndef lets a benchmark build try other values. */
#ifndef HG_CONV_TILE_BYTES
#define HG_CONV_TILE_BYTES ((int64_t)1 << 20)
#endif
#define HG_CONV_TILE_MAX_BYTES ((int64_t)64 << 20)
#ifndef HG_CONV_TILE_MIN_COLS
#define HG_CONV_TILE_MIN_COLS 512
#endif
#define HG_CONV_TILE_THREADS 16
/* The weight gradient sums units into this many partial buffers, each filled in unit order
 * and added in slot order: a fixed summation order whatever the number of threads. */
#define HG_CONV_WGRAD_SLOTS 8
/* Below this many multiply-adds a convolution runs on one thread. */
#define HG_CONV_PARALLEL_MACS ((int64_t)1 << 20)

static int64_t tile_cols(const hg_conv_plan *p)
{
    if (p->g.identity)
        return p->g.out_vol < 4096 ? p->g.out_vol : 4096;
    int64_t per_col = p->kg * (int64_t)sizeof(float);
    int64_t t = HG_CONV_TILE_BYTES / per_col;
    if (t < HG_CONV_TILE_MIN_COLS)
        t = HG_CONV_TILE_MIN_COLS;
    /* The tile size must not depend on the thread count: it groups the weight gradient's
     * sums, and results are bit-identical for any thread count. The scratch of up to
     * HG_CONV_TILE_THREADS threads together stays under the cap (more threads: more memory). */
    int64_t cap = HG_CONV_TILE_MAX_BYTES / (HG_CONV_TILE_THREADS * per_col);
    if (t > cap)
        t = cap;
    if (t < 1)
        t = 1;
    return t < p->g.out_vol ? t : p->g.out_vol;
}

/* Work is split into units (image n, group, column tile); each thread runs whole units with
 * a single-threaded sgemm on its own scratch. */
typedef struct {
    const hg_conv_plan *p;
    int64_t t, tiles, units;
    int nthreads;
} work;

static work work_init(const hg_conv_plan *p)
{
    work w = {p, tile_cols(p), 0, 0, 1};
    w.tiles = (p->g.out_vol + w.t - 1) / w.t;
    w.units = p->batch * p->groups * w.tiles;
    int64_t macs = p->batch * p->cs * p->g.out_vol * p->kg;
    int64_t nt = omp_get_max_threads();
    if (nt > w.units)
        nt = w.units;
    w.nthreads = macs < HG_CONV_PARALLEL_MACS || nt < 1 ? 1 : (int)nt;
    return w;
}

/* Unit u: offsets of its big and small images and weight block, and its column range. */
typedef struct {
    int64_t big, small, w, j0, j1;
} unit;

static unit unit_at(const work *wk, int64_t u)
{
    const hg_conv_plan *p = wk->p;
    int64_t tile = u % wk->tiles, ng = u / wk->tiles;
    int64_t n = ng / p->groups, gr = ng % p->groups;
    unit r;
    r.big = (n * p->cb + gr * p->cbg) * p->g.in_vol;
    r.small = (n * p->cs + gr * p->csg) * p->g.out_vol;
    r.w = gr * p->csg * p->kg;
    r.j0 = tile * wk->t;
    r.j1 = r.j0 + wk->t < p->g.out_vol ? r.j0 + wk->t : p->g.out_vol;
    return r;
}

/* Scratch for every thread's column tile; NULL (error set) when the context cannot provide
 * it, or when the identity geometry needs none. */
static float *tile_scratch(hg_conv_scratch *sc, const work *wk, const char *what, hg_status *st)
{
    *st = HG_OK;
    if (wk->p->g.identity)
        return NULL;
    size_t bytes = (size_t)(wk->nthreads * wk->p->kg * wk->t) * sizeof(float);
    float *s = hg_conv_scratch_alloc(sc, bytes, false);
    if (!s)
        *st = hg_error_context(hg_error_status(), "conv: %s scratch", what);
    return s;
}

/* A pthreads OpenBLAS would start its own threads inside ours (and its idle workers spin
 * against our threads): make it single-threaded while our threads run, then restore. An
 * OpenMP OpenBLAS does this by itself inside a parallel region. */
static int blas_single_begin(int nthreads)
{
    int saved = openblas_get_num_threads();
    if (nthreads > 1 && openblas_get_parallel() == 1 && saved > 1) {
        openblas_set_num_threads(1);
        return saved;
    }
    return 0;
}

static void blas_single_end(int saved)
{
    if (saved)
        openblas_set_num_threads(saved);
}

/* The columns of unit r (the image itself in the identity geometry). */
static const float *unit_columns(const hg_conv_plan *p, const unit *r, const float *big,
                                 float *col, int64_t *ld)
{
    if (p->g.identity) {
        *ld = p->g.in_vol;
        return big + r->big + r->j0;
    }
    hg_im2col(&p->g, big + r->big, p->cbg, r->j0, r->j1, col);
    *ld = r->j1 - r->j0;
    return col;
}

hg_status hg_conv_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big, const float *w,
                        float *small, float beta)
{
    if (hg_conv_dnnl_wanted(p, HG_CONV_DNNL_FWD))
        return hg_conv_dnnl_apply(ctx, p, big, w, small, beta);
    if (hg_conv_direct_usable(p, false, beta))
        return hg_conv_direct_apply(ctx, p, big, w, small, beta);
    work wk = work_init(p);
    hg_status st;
    hg_conv_scratch sc = hg_conv_scratch_begin(ctx);
    float *cols = tile_scratch(&sc, &wk, "im2col", &st);
    if (st != HG_OK)
        return st;
    int saved = blas_single_begin(wk.nthreads);
#pragma omp parallel num_threads(wk.nthreads) if (wk.nthreads > 1)
    {
        float *col = cols ? cols + omp_get_thread_num() * p->kg * wk.t : NULL;
        /* Units write disjoint outputs: dynamic scheduling is still deterministic. */
#pragma omp for schedule(dynamic)
        for (int64_t u = 0; u < wk.units; u++) {
            unit r = unit_at(&wk, u);
            int64_t ldb;
            const float *b = unit_columns(p, &r, big, col, &ldb);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p->csg,
                        (int)(r.j1 - r.j0), (int)p->kg, 1.0f, w + r.w, (int)p->kg, b, (int)ldb,
                        beta, small + r.small + r.j0, (int)p->g.out_vol);
        }
    }
    blas_single_end(saved);
    hg_conv_scratch_end(&sc);
    return HG_OK;
}

/* big += C^T(small) as sgemm into columns + col2im (any stride). */
static hg_status adjoint_col2im(hg_ctx *ctx, const hg_conv_plan *p, const float *small,
                                const float *w, float *big)
{
    work wk = work_init(p);
    hg_status st;
    hg_conv_scratch sc = hg_conv_scratch_begin(ctx);
    float *cols = tile_scratch(&sc, &wk, "col2im", &st);
    if (st != HG_OK)
        return st;
    const hg_conv_geom *g = &p->g;
    int saved = blas_single_begin(wk.nthreads);
    /* Rounds of one unit per thread: each thread multiplies its unit's columns into its own
     * scratch; then the round's columns are scattered into the images split by channel,
     * since neighbouring tiles overlap in the image but channels never do. */
#pragma omp parallel num_threads(wk.nthreads) if (wk.nthreads > 1)
    {
        /* The team may be smaller than asked for (thread limits, nesting). */
        int tid = omp_get_thread_num(), team = omp_get_num_threads();
        for (int64_t r0 = 0; r0 < wk.units; r0 += team) {
            int64_t u = r0 + tid;
            if (u < wk.units) {
                unit r = unit_at(&wk, u);
                int n = (int)(r.j1 - r.j0);
                if (g->identity) /* the columns are the image: accumulate in place */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->kg, n,
                                (int)p->csg, 1.0f, w + r.w, (int)p->kg, small + r.small + r.j0,
                                (int)g->out_vol, 1.0f, big + r.big + r.j0, (int)g->in_vol);
                else
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->kg, n,
                                (int)p->csg, 1.0f, w + r.w, (int)p->kg, small + r.small + r.j0,
                                (int)g->out_vol, 0.0f, cols + tid * p->kg * wk.t, n);
            }
            if (g->identity)
                continue;
#pragma omp barrier
            int64_t in_round = wk.units - r0 < team ? wk.units - r0 : team;
#pragma omp for schedule(static)
            for (int64_t c = 0; c < p->cbg; c++) {
                for (int64_t k = 0; k < in_round; k++) {
                    unit r = unit_at(&wk, r0 + k);
                    int64_t n = r.j1 - r.j0;
                    hg_col2im_channel(g, cols + k * p->kg * wk.t + c * g->kvol * n, r.j0,
                                      r.j1, big + r.big + c * g->in_vol);
                }
            }
        }
    }
    blas_single_end(saved);
    hg_conv_scratch_end(&sc);
    return HG_OK;
}

/* With stride 1, C^T is itself a convolution: of `small` with the kernel flipped in space and
 * its channel axes swapped, padded by d(k-1) - p. As a gather it needs no col2im, whose
 * scattered writes force the round-by-round synchronisation above. False when the geometry
 * does not allow it (stride > 1, or padding beyond the kernel extent). */
static bool flipped_plan(const hg_conv_plan *p, hg_conv_plan *f)
{
    const hg_conv_geom *g = &p->g;
    if (g->identity)
        return false;
    for (int i = 0; i < 3; i++)
        if (g->s[i] != 1 || g->p[i] > g->d[i] * (g->k[i] - 1))
            return false;
    *f = *p;
    for (int i = 0; i < 3; i++) {
        f->g.in[i] = g->out[i];
        f->g.out[i] = g->in[i];
        f->g.p[i] = g->d[i] * (g->k[i] - 1) - g->p[i];
    }
    f->g.in_vol = g->out_vol;
    f->g.out_vol = g->in_vol;
    f->cb = p->cs;
    f->cs = p->cb;
    f->cbg = p->csg;
    f->csg = p->cbg;
    f->kg = f->cbg * g->kvol;
    return true;
}

hg_status hg_conv_apply_adjoint(hg_ctx *ctx, const hg_conv_plan *p, const float *small,
                                const float *w, float *big)
{
    if (hg_conv_dnnl_wanted(p, HG_CONV_DNNL_BWD_DATA))
        return hg_conv_dnnl_apply_adjoint(ctx, p, small, w, big);
    hg_conv_plan f;
    if (!flipped_plan(p, &f))
        return adjoint_col2im(ctx, p, small, w, big);
    hg_conv_scratch sc = hg_conv_scratch_begin(ctx);
    const int64_t kvol = p->g.kvol, nw = p->cs * p->kg;
    float *wf = hg_conv_scratch_alloc(&sc, (size_t)nw * sizeof(float), false);
    if (!wf)
        return hg_error_context(hg_error_status(), "conv: flipped kernel");
    /* wf[g*cbg + ci][co][kvol-1-kk] = w[g*csg + co][ci][kk]: reversing the flat kernel index
     * flips every spatial axis at once. */
#pragma omp parallel for schedule(static) if (nw > 65536)
    for (int64_t i = 0; i < nw; i++) {
        int64_t kk = i % kvol, ci = i / kvol % p->cbg, row = i / (kvol * p->cbg);
        int64_t gr = row / p->csg, co = row % p->csg;
        wf[((gr * p->cbg + ci) * p->csg + co) * kvol + (kvol - 1 - kk)] = w[i];
    }
    hg_status st = hg_conv_apply(ctx, &f, small, wf, big, 1.0f);
    hg_conv_scratch_end(&sc);
    return st;
}

hg_status hg_conv_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                              const float *small, float *dw)
{
    if (hg_conv_dnnl_wanted(p, HG_CONV_DNNL_BWD_WEIGHTS))
        return hg_conv_dnnl_weight_grad(ctx, p, big, small, dw);
    if (hg_conv_direct_usable(p, true, 0.0f))
        return hg_conv_direct_weight_grad(ctx, p, big, small, dw);
    work wk = work_init(p);
    hg_status st;
    hg_conv_scratch sc = hg_conv_scratch_begin(ctx);
    float *cols = tile_scratch(&sc, &wk, "weight-gradient", &st);
    if (st != HG_OK)
        return st;
    /* Partial sums per slot (not per thread), transposed, dw^T [kg, csg] per group: as
     * columns (x) dy^T, sgemm runs ~30% faster in this orientation than dy (x) columns^T
     * (measured, OpenBLAS 0.3.21 on Zen 4). Slot s takes units s, s + S, s + 2S, ... in order;
     * the slots are summed in order and transposed into dw at the end. */
    const int64_t wn = p->cs * p->kg;
    const int64_t slots = wk.units < HG_CONV_WGRAD_SLOTS ? wk.units : HG_CONV_WGRAD_SLOTS;
    float *priv = hg_conv_scratch_alloc(&sc, (size_t)(slots * wn) * sizeof(float), true);
    if (!priv) {
        hg_conv_scratch_end(&sc);
        return hg_error_context(hg_error_status(), "conv: weight-gradient partial sums");
    }
    int saved = blas_single_begin(wk.nthreads);
#pragma omp parallel num_threads(wk.nthreads) if (wk.nthreads > 1)
    {
        int tid = omp_get_thread_num();
        float *col = cols ? cols + tid * p->kg * wk.t : NULL;
#pragma omp for schedule(dynamic)
        for (int64_t slot = 0; slot < slots; slot++) {
            float *dwt = priv + slot * wn;
            for (int64_t u = slot; u < wk.units; u += slots) {
                unit r = unit_at(&wk, u);
                int64_t lda;
                const float *a = unit_columns(p, &r, big, col, &lda);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->kg, (int)p->csg,
                            (int)(r.j1 - r.j0), 1.0f, a, (int)lda, small + r.small + r.j0,
                            (int)p->g.out_vol, 1.0f, dwt + r.w, (int)p->csg);
            }
        }
        /* dw[gr][co][k] += sum over slots of priv[s][gr][k][co] */
#pragma omp for schedule(static)
        for (int64_t row = 0; row < p->cs; row++) {
            int64_t gr = row / p->csg, co = row % p->csg;
            float *out = dw + row * p->kg;
            for (int64_t t = 0; t < slots; t++) {
                const float *in = priv + t * wn + gr * p->csg * p->kg + co;
                for (int64_t k = 0; k < p->kg; k++)
                    out[k] += in[k * p->csg];
            }
        }
    }
    blas_single_end(saved);
    hg_conv_scratch_end(&sc);
    return HG_OK;
}

/* ---- scratch --------------------------------------------------------------------------- */

hg_conv_scratch hg_conv_scratch_begin(hg_ctx *ctx)
{
    hg_conv_scratch s = {ctx, {NULL, 0, 0}, {NULL, NULL, NULL, NULL}, 0};
    if (ctx)
        s.mark = hg_ctx_mark_get(ctx);
    return s;
}

void *hg_conv_scratch_alloc(hg_conv_scratch *s, size_t bytes, bool zero)
{
    if (s->ctx)
        return zero ? hg_ctx_calloc(s->ctx, bytes) : hg_ctx_alloc(s->ctx, bytes);
    if (s->n == (int)(sizeof s->heap / sizeof s->heap[0])) {
        hg_error(HG_ERR_INVALID, "conv: more than %d scratch buffers", s->n);
        return NULL;
    }
    void *p = zero ? hg_calloc(1, bytes) : hg_malloc(bytes);
    if (p)
        s->heap[s->n++] = p;
    return p;
}

void hg_conv_scratch_end(hg_conv_scratch *s)
{
    if (s->ctx)
        hg_ctx_release(s->ctx, s->mark);
    for (int i = 0; i < s->n; i++)
        hg_free(s->heap[i]);
}

void hg_conv_fill_bias(float *out, const float *b, int64_t batch, int64_t channels, int64_t vol)
{
#pragma omp parallel for schedule(static) if (batch * channels * vol > 65536)
    for (int64_t nc = 0; nc < batch * channels; nc++) {
        float v = b[nc % channels];
        float *o = out + nc * vol;
        for (int64_t i = 0; i < vol; i++)
            o[i] = v;
    }
}

void hg_conv_bias_grad(const float *g, float *db, int64_t batch, int64_t channels, int64_t vol)
{
#pragma omp parallel for schedule(static) if (batch * channels * vol > 65536)
    for (int64_t c = 0; c < channels; c++) {
        /* Sums of 10^5..10^7 terms per channel: runs of 512 in eight float lanes (vectorized
         * without reassociating), the runs accumulated in double. */
        double acc = 0.0;
        for (int64_t n = 0; n < batch; n++) {
            const float *gc = g + (n * channels + c) * vol;
            for (int64_t i0 = 0; i0 < vol; i0 += 512) {
                int64_t len = vol - i0 < 512 ? vol - i0 : 512, i = 0;
                float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                for (; i + 8 <= len; i += 8)
                    for (int l = 0; l < 8; l++)
                        lane[l] += gc[i0 + i + l];
                for (; i < len; i++)
                    lane[0] += gc[i0 + i];
                for (int l = 0; l < 8; l++)
                    acc += lane[l];
            }
        }
        db[c] += (float)acc;
    }
}

/* ---- argument checking ----------------------------------------------------------------- */

/* Reads one per-dimension option: zero means `def`; below `min` is an error. */
static hg_status read_opt(const char *op, const char *what, const int32_t *v, int nsp,
                          int32_t def, int32_t min, int64_t *out)
{
    for (int i = 0; i < nsp; i++) {
        int32_t x = v ? v[i] : 0;
        if (x == 0)
            x = def;
        if (x < min)
            return hg_error(HG_ERR_INVALID, "%s: %s[%d] must be >= %d, got %d", op, what, i, min,
                            x);
        out[3 - nsp + i] = x;
    }
    return HG_OK;
}

static hg_status check_channels(const char *op, bool transposed, const hg_tensor *x,
                                const hg_tensor *w, int64_t groups, int64_t *cout)
{
    const int64_t cin = x->shape[1];
    const char *xl = hg_tensor_label(x), *wl = hg_tensor_label(w);
    if (cin % groups != 0)
        return hg_error(HG_ERR_INVALID,
                        "%s: groups %lld does not divide the %lld input channels of %s", op,
                        (long long)groups, (long long)cin, xl);
    if (!transposed) {
        if (w->shape[0] % groups != 0)
            return hg_error(HG_ERR_INVALID,
                            "%s: groups %lld does not divide the %lld output channels of "
                            "weight %s",
                            op, (long long)groups, (long long)w->shape[0], wl);
        if (w->shape[1] * groups != cin)
            return hg_error(HG_ERR_INVALID,
                            "%s: channel mismatch: weight %s expects %lld input channels "
                            "(shape[1] %lld x groups %lld), %s has %lld",
                            op, wl, (long long)(w->shape[1] * groups), (long long)w->shape[1],
                            (long long)groups, xl, (long long)cin);
        *cout = w->shape[0];
    } else {
        if (w->shape[0] != cin)
            return hg_error(HG_ERR_INVALID,
                            "%s: channel mismatch: weight %s expects %lld input channels "
                            "(shape[0]), %s has %lld",
                            op, wl, (long long)w->shape[0], xl, (long long)cin);
        *cout = w->shape[1] * groups;
    }
    return HG_OK;
}

static hg_status check_bias(const char *op, const hg_tensor *b, int64_t cout)
{
    if (!b || (b->ndim == 1 && b->shape[0] == cout))
        return HG_OK;
    char s[96];
    return hg_error(HG_ERR_INVALID, "%s: bias %s shape: expected [%lld], got %s", op,
                    hg_tensor_label(b), (long long)cout, hg_shape_str(b, s, sizeof s));
}

/* Spatial sizes: conv computes the small side from the big one, the transpose the reverse. */
static hg_status spatial_sizes(const char *op, bool transposed, const hg_tensor *x, int nsp,
                               const int64_t *op_pad, hg_conv_geom *g)
{
    for (int i = 3 - nsp; i < 3; i++) {
        int64_t xs = x->shape[2 + i - (3 - nsp)];
        int64_t extent = g->d[i] * (g->k[i] - 1) + 1;
        int dim = i - (3 - nsp);
        if (!transposed) {
            if (xs + 2 * g->p[i] < extent)
                return hg_error(HG_ERR_INVALID,
                                "%s: kernel extent %lld (dilation included) is larger than the "
                                "padded input %lld of %s in spatial dimension %d",
                                op, (long long)extent, (long long)(xs + 2 * g->p[i]),
                                hg_tensor_label(x), dim);
            g->in[i] = xs;
            g->out[i] = (xs + 2 * g->p[i] - extent) / g->s[i] + 1;
        } else {
            if (op_pad[i] >= g->s[i] && op_pad[i] >= g->d[i])
                return hg_error(HG_ERR_INVALID,
                                "%s: output_padding[%d] %lld must be smaller than stride %lld "
                                "or dilation %lld",
                                op, dim, (long long)op_pad[i], (long long)g->s[i],
                                (long long)g->d[i]);
            int64_t ys = (xs - 1) * g->s[i] - 2 * g->p[i] + extent + op_pad[i];
            if (ys < 1)
                return hg_error(HG_ERR_INVALID,
                                "%s: output size %lld in spatial dimension %d is not positive "
                                "(input %lld, padding %lld)",
                                op, (long long)ys, dim, (long long)xs, (long long)g->p[i]);
            g->in[i] = ys;
            g->out[i] = xs;
        }
    }
    return HG_OK;
}

hg_status hg_conv_plan_init(const char *op, bool transposed, const hg_tensor *x,
                            const hg_tensor *w, const hg_tensor *b, const hg_conv_opts *opts,
                            hg_conv_plan *plan, int64_t *out_shape)
{
    if (!hg_require_real(op, x) || !hg_require_real(op, w) || (b && !hg_require_real(op, b)) ||
        !hg_require_rank(op, x, 3, 5))
        return hg_error_status();
    if (w->ndim != x->ndim)
        return hg_error(HG_ERR_INVALID,
                        "%s: weight %s rank: expected %d dimensions (as input %s), got %d", op,
                        hg_tensor_label(w), x->ndim, hg_tensor_label(x), w->ndim);
    const int nsp = x->ndim - 2;
    int64_t groups = opts && opts->groups ? opts->groups : 1;
    if (groups < 1)
        return hg_error(HG_ERR_INVALID, "%s: groups must be >= 1, got %lld", op,
                        (long long)groups);
    hg_conv_geom g;
    int64_t op_pad[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        g.in[i] = g.out[i] = g.k[i] = g.s[i] = g.d[i] = 1;
        g.p[i] = 0;
    }
    hg_status st;
    if ((st = read_opt(op, "stride", opts ? opts->stride : NULL, nsp, 1, 1, g.s)) ||
        (st = read_opt(op, "padding", opts ? opts->padding : NULL, nsp, 0, 0, g.p)) ||
        (st = read_opt(op, "dilation", opts ? opts->dilation : NULL, nsp, 1, 1, g.d)) ||
        (st = read_opt(op, "output_padding", opts ? opts->output_padding : NULL, nsp, 0, 0,
                       op_pad)))
        return st;
    if (!transposed && (op_pad[0] || op_pad[1] || op_pad[2]))
        return hg_error(HG_ERR_INVALID, "%s: output_padding applies to conv_transpose only", op);
    int64_t cout = 0;
    if ((st = check_channels(op, transposed, x, w, groups, &cout)) ||
        (st = check_bias(op, b, cout)))
        return st;
    for (int i = 0; i < nsp; i++)
        g.k[3 - nsp + i] = w->shape[2 + i];
    if ((st = spatial_sizes(op, transposed, x, nsp, op_pad, &g)))
        return st;
    g.kvol = g.k[0] * g.k[1] * g.k[2];
    g.in_vol = g.in[0] * g.in[1] * g.in[2];
    g.out_vol = g.out[0] * g.out[1] * g.out[2];
    g.identity = g.kvol == 1 && g.in_vol == g.out_vol;
    for (int i = 0; i < 3; i++)
        g.identity = g.identity && g.s[i] == 1 && g.p[i] == 0;

    plan->g = g;
    plan->nsp = nsp;
    plan->batch = x->shape[0];
    plan->groups = groups;
    plan->cb = transposed ? cout : x->shape[1];
    plan->cs = transposed ? x->shape[1] : cout;
    plan->cbg = plan->cb / groups;
    plan->csg = plan->cs / groups;
    plan->kg = plan->cbg * g.kvol;
    if (g.in_vol > INT_MAX || g.out_vol > INT_MAX || plan->kg > INT_MAX)
        return hg_error(HG_ERR_UNSUPPORTED,
                        "%s: %s is too large for 32-bit BLAS indices (spatial %lld, kernel "
                        "rows %lld)",
                        op, hg_tensor_label(x), (long long)g.in_vol, (long long)plan->kg);
    out_shape[0] = x->shape[0];
    out_shape[1] = cout;
    for (int i = 0; i < nsp; i++)
        out_shape[2 + i] = transposed ? g.in[3 - nsp + i] : g.out[3 - nsp + i];
    return HG_OK;
}
