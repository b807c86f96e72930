/* Direct convolution kernels for stride-1, undilated, ungrouped 2-D (and 1-D) convolutions
 * with few channels: the forward product C (hence also the adjoint, which for stride 1 is the
 * forward product with the flipped kernel, see hg_conv_apply_adjoint) and the 3x3 weight
 * gradient.
 *
 * Why: with 5-32 channels (learned primal-dual: 7->32->32->5 on 128^2 and 30x183 images) an
 * im2col matrix has few rows, so sgemm spends its time packing and copying it. Here the input
 * is copied once into a zero-bordered buffer and each output block of R channels x 2 vectors
 * of a row accumulates in registers over all input channels and taps, reading the input rows
 * straight from that buffer (no column matrix). The kernels are compiled for AVX-512 and for
 * AVX2+FMA and chosen at run time (__builtin_cpu_supports), so one binary runs on both;
 * without either, or for other geometries, hg_conv_* use im2col + sgemm (conv_gemm.c).
 *
 * Determinism: outputs are written by disjoint units; the weight gradient sums units of rows
 * into HG_DIRECT_SLOTS partial buffers in a fixed order, added in slot order, as the sgemm path
 * does, so results do not depend on the thread count. */
#include "ops/conv_internal.h"

#include <omp.h>
#include <string.h>

hg_conv_path hg__conv_path = HG_CONV_PATH_AUTO;
hg_conv_isa hg__conv_isa = HG_CONV_ISA_AUTO;

/* Output rows per forward work unit and per weight-gradient unit (fixed: the latter group the
 * weight-gradient sums, which must not depend on the thread count). */
#define HG_DIRECT_FWD_ROWS 4
#define HG_DIRECT_WG_ROWS 16
#define HG_DIRECT_SLOTS 8
/* Samples are zero-bordered in chunks of at most this many bytes of scratch. */
#define HG_DIRECT_CHUNK_BYTES ((int64_t)32 << 20)
/* Below this many multiply-adds a convolution runs on one thread. */
#define HG_DIRECT_PARALLEL_MACS ((int64_t)1 << 20)

typedef void (*fwd_row_fn)(int R, const float *x, int64_t plane, int64_t wp, int64_t cb, int kh,
                           int kw, const float *wk, float *y, int64_t ovol, int64_t ow_n,
                           bool acc);
typedef void (*wg_fn)(int R, const float *x, int64_t wp, const float *dy, int64_t ovol,
                      int64_t ow_n, int64_t rows, float *out, int64_t cb);

typedef struct {
    const char *name;
    int vl, rmax, rw;
    fwd_row_fn fwd_row;
    wg_fn wg;
} kernels;

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HG_DIRECT_X86 1

/* ---- AVX-512: 32 registers, 8 x 2 forward accumulators, 2 x 9 weight-gradient ones ---- */
#define SFX _avx512
#define TGT "avx512f"
#define VL 16
#define VEC __m512
#define RMAX 8
#define RW 3
#define LOADU(p) _mm512_loadu_ps(p)
#define SET1(s) _mm512_set1_ps(s)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ZERO() _mm512_setzero_ps()
#define STOREU(p, v) _mm512_storeu_ps(p, v)
#define HSUM(v) _mm512_reduce_add_ps(v)
#define MASK_T __mmask16
#define MASK(n)                                                                               \
    ((n) >= 16 ? (__mmask16)0xFFFF : (n) <= 0 ? (__mmask16)0 : (__mmask16)((1u << (n)) - 1))
#define MLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define MSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#include "ops/conv_direct_isa.h"

/* ---- AVX2 + FMA: 16 registers, 6 x 2 forward accumulators, 1 x 9 weight-gradient ones --- */
__attribute__((target("avx2,fma"))) static inline float hsum_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
__attribute__((target("avx2,fma"))) static inline __m256i mask_avx2(int64_t n)
{
    int32_t k = n < 0 ? 0 : n > 8 ? 8 : (int32_t)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define SFX _avx2
#define TGT "avx2,fma"
#define VL 8
#define VEC __m256
#define RMAX 6
#define RW 1
#define LOADU(p) _mm256_loadu_ps(p)
#define SET1(s) _mm256_set1_ps(s)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ZERO() _mm256_setzero_ps()
#define STOREU(p, v) _mm256_storeu_ps(p, v)
#define HSUM(v) hsum_avx2(v)
#define MASK_T __m256i
#define MASK(n) mask_avx2(n)
#define MLOAD(p, m) _mm256_maskload_ps(p, m)
#define MSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#include "ops/conv_direct_isa.h"

static const kernels k_avx512 = {"avx512", 16, 8, 3, fwd_row_avx512, wg_avx512};
static const kernels k_avx2 = {"avx2", 8, 6, 1, fwd_row_avx2, wg_avx2};
#endif

/* The kernels for this CPU (and the override), NULL when it has neither instruction set. */
static const kernels *pick(void)
{
#ifdef HG_DIRECT_X86
    bool has512 = __builtin_cpu_supports("avx512f");
    bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (hg__conv_isa == HG_CONV_ISA_AVX2)
        return has2 ? &k_avx2 : NULL;
    if (has512)
        return &k_avx512;
    if (has2)
        return &k_avx2;
#endif
    return NULL;
}

const char *hg_conv_direct_isa(void)
{
    const kernels *k = pick();
    return k ? k->name : "none";
}

bool hg_conv_direct_usable(const hg_conv_plan *p, bool wgrad, float beta)
{
    if (hg__conv_path == HG_CONV_PATH_GEMM || !pick())
        return false;
    const hg_conv_geom *g = &p->g;
    if (p->groups != 1 || p->cb < 1 || p->cs < 1 || g->in[0] != 1 || g->out[0] != 1 ||
        g->k[0] != 1)
        return false;
    for (int i = 1; i < 3; i++)
        if (g->s[i] != 1 || g->d[i] != 1 || g->k[i] > 7)
            return false;
    if (wgrad ? g->k[1] != 3 || g->k[2] != 3 : beta != 0.0f && beta != 1.0f)
        return false;
    if (hg__conv_path == HG_CONV_PATH_DIRECT)
        return true;
    /* By measurement (CPU time, one thread, AVX-512 Zen 4, 3x3, 2026-11-27; docs/PERFORMANCE.md):
     * the forward kernel beat im2col + sgemm on every shape tried, 1 to 512 channels (LPD
     * 32->5 at 128^2: 4.8 vs 11.6 ms; 64->64 at 128^2: 50 vs 67 ms; 512->256 at 64^2: 398 vs
     * 500 ms); the weight gradient only with few channels on one side (7->32: 6.0 vs 7.1 ms,
     * 32->5: 5.7 vs 12.9 ms; but 32->32: 26.9 vs 23.0 ms, where sgemm's long inner products
     * win). */
    if (wgrad)
        return (p->cb <= 8 || p->cs <= 8) && p->cb <= 512 && p->cs <= 512;
    return p->cb <= 512 && p->cs <= 512;
}

/* ---- the zero-bordered input ----------------------------------------------------------- */

typedef struct {
    int64_t h, w, oh, ow, kh, kw, ph, pw;
    int64_t hp, wp, plane, sample; /* padded rows, row length, channel plane, sample */
    int64_t chunk;                 /* samples bordered at a time */
} layout;

/* Rows are long enough that every vector load of the kernels (2 VL per block, output rows
 * rounded up to whole blocks) stays inside them; the extra columns are zero. */
static layout layout_of(const hg_conv_plan *p, const kernels *k)
{
    const hg_conv_geom *g = &p->g;
    layout L;
    L.h = g->in[1], L.w = g->in[2], L.oh = g->out[1], L.ow = g->out[2];
    L.kh = g->k[1], L.kw = g->k[2], L.ph = g->p[1], L.pw = g->p[2];
    int64_t bw = 2 * k->vl;
    L.hp = L.oh + L.kh - 1;
    L.wp = (L.ow + bw - 1) / bw * bw + L.kw - 1;
    L.plane = L.hp * L.wp;
    L.sample = p->cb * L.plane;
    L.chunk = HG_DIRECT_CHUNK_BYTES / (L.sample * (int64_t)sizeof(float));
    if (L.chunk < 1)
        L.chunk = 1;
    if (L.chunk > p->batch)
        L.chunk = p->batch;
    return L;
}

static void pad_plane(const layout *L, const float *src, float *dst)
{
    for (int64_t r = 0; r < L->hp; r++) {
        float *d = dst + r * L->wp;
        int64_t sr = r - L->ph;
        if (sr < 0 || sr >= L->h) {
            memset(d, 0, (size_t)L->wp * sizeof(float));
            continue;
        }
        memset(d, 0, (size_t)L->pw * sizeof(float));
        memcpy(d + L->pw, src + sr * L->w, (size_t)L->w * sizeof(float));
        memset(d + L->pw + L->w, 0, (size_t)(L->wp - L->pw - L->w) * sizeof(float));
    }
}

/* Zero-borders samples n0 .. n0 + nc - 1 of `big` (cb channels) into xp; called by every
 * thread of a parallel region (a work-shared loop with its barrier), or serially. */
static void pad_chunk(const layout *L, int64_t cb, const float *big, int64_t n0, int64_t nc,
                      float *xp)
{
#pragma omp for schedule(static)
    for (int64_t pc = 0; pc < nc * cb; pc++)
        pad_plane(L, big + (n0 * cb + pc) * L->h * L->w, xp + pc * L->plane);
}

static int threads_for(const hg_conv_plan *p, int64_t units)
{
    int64_t macs = p->batch * p->cs * p->g.out_vol * p->kg;
    int64_t nt = omp_get_max_threads();
    if (nt > units)
        nt = units;
    return macs < HG_DIRECT_PARALLEL_MACS || nt < 1 ? 1 : (int)nt;
}

/* The kernels and the bordered layout; an error when this CPU has neither instruction set
 * (callers ask hg_conv_direct_usable first). */
static hg_status prepare(const hg_conv_plan *p, const kernels **k, layout *L)
{
    *k = pick();
    if (!*k)
        return hg_error(HG_ERR_UNSUPPORTED, "conv: direct kernels need AVX2 or AVX-512");
    *L = layout_of(p, *k);
    return HG_OK;
}

/* ---- forward: small = beta * small + C(big), beta 0 or 1 ------------------------------- */

hg_status hg_conv_direct_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                               const float *w, float *small, float beta)
{
    const kernels *k;
    layout L;
    hg_status st0 = prepare(p, &k, &L);
    if (st0 != HG_OK || p->batch == 0)
        return st0;
    const int64_t cb = p->cb, cs = p->cs, kv = p->g.kvol, ovol = p->g.out_vol;
    hg_conv_scratch sc = hg_conv_scratch_begin(ctx);
    float *xp = hg_conv_scratch_alloc(&sc, (size_t)(L.chunk * L.sample) * sizeof(float), false);
    float *wpk = hg_conv_scratch_alloc(&sc, (size_t)(cs * cb * kv) * sizeof(float), false);
    if (!xp || !wpk) {
        hg_conv_scratch_end(&sc);
        return hg_error_context(hg_error_status(), "conv: direct-kernel scratch");
    }
    /* Block b (output channels co0 = b * rmax ..., R of them) packed as [ci][tap][R], so the
     * kernel reads the R weights of one tap contiguously. */
    for (int64_t co = 0; co < cs; co++) {
        int64_t co0 = co / k->rmax * k->rmax, r = co - co0;
        int64_t R = cs - co0 < k->rmax ? cs - co0 : k->rmax;
        for (int64_t i = 0; i < cb * kv; i++)
            wpk[co0 * cb * kv + i * R + r] = w[co * cb * kv + i];
    }
    const int64_t bands = (L.oh + HG_DIRECT_FWD_ROWS - 1) / HG_DIRECT_FWD_ROWS;
    const int nt = threads_for(p, L.chunk * bands);
    const bool acc = beta != 0.0f;
#pragma omp parallel num_threads(nt) if (nt > 1)
    for (int64_t n0 = 0; n0 < p->batch; n0 += L.chunk) {
        const int64_t nc = p->batch - n0 < L.chunk ? p->batch - n0 : L.chunk;
        pad_chunk(&L, cb, big, n0, nc, xp);
        /* Units (sample, band of rows) write disjoint outputs: dynamic is deterministic. */
#pragma omp for schedule(dynamic)
        for (int64_t u = 0; u < nc * bands; u++) {
            const int64_t n = u / bands, r0 = u % bands * HG_DIRECT_FWD_ROWS;
            const int64_t r1 = r0 + HG_DIRECT_FWD_ROWS < L.oh ? r0 + HG_DIRECT_FWD_ROWS : L.oh;
            for (int64_t co0 = 0; co0 < cs; co0 += k->rmax) {
                const int R = (int)(cs - co0 < k->rmax ? cs - co0 : k->rmax);
                for (int64_t r = r0; r < r1; r++)
                    k->fwd_row(R, xp + n * L.sample + r * L.wp, L.plane, L.wp, cb, (int)L.kh,
                               (int)L.kw, wpk + co0 * cb * kv,
                               small + ((n0 + n) * cs + co0) * ovol + r * L.ow, ovol, L.ow, acc);
            }
        }
    }
    hg_conv_scratch_end(&sc);
    return HG_OK;
}

/* ---- 3x3 weight gradient: dw += sum over n, positions of small (x) shifted big ---------- */

hg_status hg_conv_direct_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                                     const float *small, float *dw)
{
    const kernels *k;
    layout L;
    hg_status st0 = prepare(p, &k, &L);
    if (st0 != HG_OK || p->batch == 0)
        return st0;
    const int64_t cb = p->cb, cs = p->cs, ovol = p->g.out_vol, wn = cs * cb * 9;
    const int64_t bands = (L.oh + HG_DIRECT_WG_ROWS - 1) / HG_DIRECT_WG_ROWS;
    const int64_t units = p->batch * bands;
    const int64_t slots = units < HG_DIRECT_SLOTS ? units : HG_DIRECT_SLOTS;
    hg_conv_scratch sc = hg_conv_scratch_begin(ctx);
    float *xp = hg_conv_scratch_alloc(&sc, (size_t)(L.chunk * L.sample) * sizeof(float), false);
    float *priv = hg_conv_scratch_alloc(&sc, (size_t)(slots * wn) * sizeof(float), true);
    if (!xp || !priv) {
        hg_conv_scratch_end(&sc);
        return hg_error_context(hg_error_status(), "conv: direct weight-gradient scratch");
    }
    const int nt = threads_for(p, slots);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        for (int64_t n0 = 0; n0 < p->batch; n0 += L.chunk) {
            const int64_t nc = p->batch - n0 < L.chunk ? p->batch - n0 : L.chunk;
            pad_chunk(&L, cb, big, n0, nc, xp);
            /* Slot s takes the units u = s (mod slots) of this chunk, in order. */
            const int64_t u0 = n0 * bands, u1 = (n0 + nc) * bands;
#pragma omp for schedule(dynamic)
            for (int64_t s = 0; s < slots; s++) {
                float *out = priv + s * wn;
                for (int64_t u = u0 + ((s - u0 % slots) + slots) % slots; u < u1; u += slots) {
                    const int64_t n = u / bands, r0 = u % bands * HG_DIRECT_WG_ROWS;
                    const int64_t rows = L.oh - r0 < HG_DIRECT_WG_ROWS ? L.oh - r0
                                                                      : HG_DIRECT_WG_ROWS;
                    const float *xs = xp + (n - n0) * L.sample + r0 * L.wp;
                    const float *ds = small + n * cs * ovol + r0 * L.ow;
                    for (int64_t ci = 0; ci < cb; ci++)
                        for (int64_t co0 = 0; co0 < cs; co0 += k->rw) {
                            const int R = (int)(cs - co0 < k->rw ? cs - co0 : k->rw);
                            k->wg(R, xs + ci * L.plane, L.wp, ds + co0 * ovol, ovol, L.ow, rows,
                                  out + (co0 * cb + ci) * 9, cb);
                        }
                }
            }
        }
#pragma omp for schedule(static)
        for (int64_t i = 0; i < wn; i++) {
            float acc = priv[i];
            for (int64_t s = 1; s < slots; s++)
                acc += priv[s * wn + i];
            dw[i] += acc;
        }
    }
    hg_conv_scratch_end(&sc);
    return HG_OK;
}
