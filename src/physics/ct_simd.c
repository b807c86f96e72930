/* AVX-512 kernels for the parallel-beam hot loops: the Joseph projector (forward) and the FBP
 * backprojection. Both replace gathers by in-register permutes.
 *
 * Why it works. In a parallel-beam view every ray has the same slope, so 16 neighbouring
 * detectors sample one image line (a column or a row) at 16 positions s that grow with the
 * detector index by at most √2 pixels each: the 2 x 16 pixels they interpolate between lie
 * in a window of at most 24 consecutive floats. Two contiguous loads and one two-source
 * permute (vpermt2ps) fetch them, instead of two 16-lane gathers. Likewise FBP: 16
 * neighbouring pixels of an image row map to detector positions u = a + b·i with |b| ≤ 1,
 * within 16 consecutive detector samples: one load and one permute (vpermps).
 *
 * Exactness. The sample positions are computed with the same float expressions as the
 * scalar code (projector: a + b·t unfused, as scatter2 of the adjoint; FBP: the row table),
 * the same interpolation formula, and the same handling of the edges (the samples with one
 * neighbour outside the image go through the scalar path), so the operators stay the exact
 * transposes of their adjoints up to the order of summation. Every window is checked
 * (spread ≤ the permute's reach) and falls back to masked gathers otherwise, so the kernels
 * are correct for any pixel / detector pitch.
 *
 * The caller checks ct_simd_ok() once; without AVX-512 the portable code runs.
 */
#include "physics/ct_internal.h"

#include <immintrin.h>
#include <stdlib.h>

static int simd_state = -1; /* -1: not yet detected */

void ct_simd_override(int on)
{
    simd_state = -1;
    if (!on || !ct_simd_ok())
        simd_state = 0;
}

bool ct_simd_ok(void)
{
    int ok = simd_state;
    if (ok < 0) {
        const char *e = getenv("HINGE_NO_AVX512"); /* tests run the portable path with it */
        __builtin_cpu_init();
        ok = !(e && *e && *e != '0') && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512dq");
        simd_state = ok;
    }
    return ok;
}

/* One edge sample (one interpolation neighbour outside): the projector's sample2_edge. */
static inline float edge_sample(const float *line, float s, int n_s)
{
    float sf = floorf(s), f = s - sf;
    int s0 = (int)sf;
    return (s0 >= 0 && s0 < n_s ? (1.0f - f) * line[s0] : 0.0f) +
           (s0 + 1 >= 0 && s0 + 1 < n_s ? f * line[s0 + 1] : 0.0f);
}

#define SIMD_TARGET __attribute__((target("avx512f,avx512dq,avx2,fma")))

/* Projector, one t of the general path: lanes with both neighbours inside accumulate into
 * acc, lanes with one neighbour inside into tail (scalar). */
SIMD_TARGET
static inline __m512 pj_general(const float *line, int n_s, __m512 A, __mmask16 valid,
                                const float *ra, float bt, bool up, __m512 acc, float *tail)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512 s = _mm512_add_ps(A, _mm512_set1_ps(bt));
    __mmask16 in = _mm512_mask_cmp_ps_mask(valid, s, zero, _CMP_GE_OQ) &
                   _mm512_cmp_ps_mask(s, _mm512_set1_ps((float)(n_s - 1)), _CMP_LT_OQ);
    __mmask16 near = _mm512_mask_cmp_ps_mask(valid, s, _mm512_set1_ps(-1.0f), _CMP_GT_OQ) &
                     _mm512_cmp_ps_mask(s, _mm512_set1_ps((float)n_s), _CMP_LT_OQ);
    if (near & ~in) { /* a few samples per ray at the image border */
        float sv[16];
        _mm512_storeu_ps(sv, s);
        for (unsigned m = near & ~in; m; m &= m - 1) {
            int l = __builtin_ctz(m);
            tail[l] += edge_sample(line, sv[l], n_s);
        }
    }
    if (!in)
        return acc;
    __m512i k = _mm512_cvttps_epi32(s), one = _mm512_set1_epi32(1); /* s ≥ 0: floor */
    int lf = up ? __builtin_ctz(in) : 31 - __builtin_clz(in);
    int base = (int)floorf(ra[lf] + bt); /* lane lf of k, unless rounded otherwise: then */
    base = base < 0 ? 0 : base;          /* an idx < 0 is huge (the gather path), and the */
    __m512i idx = _mm512_sub_epi32(k, _mm512_set1_epi32(base)); /* window stays in the line */
    __m512 f = _mm512_sub_ps(s, _mm512_cvtepi32_ps(k)), v0, v1;
    if (!_mm512_mask_cmpgt_epu32_mask(in, idx, _mm512_set1_epi32(30))) {
        __m512 w0 = _mm512_loadu_ps(line + base), w1 = _mm512_loadu_ps(line + base + 16);
        v0 = _mm512_permutex2var_ps(w0, idx, w1);
        v1 = _mm512_permutex2var_ps(w0, _mm512_add_epi32(idx, one), w1);
    } else {
        v0 = _mm512_mask_i32gather_ps(zero, in, k, line, 4);
        v1 = _mm512_mask_i32gather_ps(zero, in, _mm512_add_epi32(k, one), line, 4);
    }
    return _mm512_mask_add_ps(acc, in, acc, _mm512_fmadd_ps(f, _mm512_sub_ps(v1, v0), v0));
}

/* Projector: the rays ra[0..nr) (nr ≤ 16, intercepts monotone in the lane) of one parallel
 * view with slope b, marching t over tr[0]..tr[1]; in tr[2]..tr[3] every lane is interior
 * and the spread of the lanes fits the permute (the block table says so), so that core
 * needs no masks. Image line t is P + t·n_s (contiguous, 32 floats of slack after the last
 * line). Writes the 16 unweighted line integrals to sum[] (lanes ≥ nr: 0). */
SIMD_TARGET
void ct_simd_project16(const float *P, int n_s, const float *ra, int nr, float b,
                       const int32_t *tr, float *sum)
{
    const __mmask16 valid = (__mmask16)((1u << nr) - 1);
    const __m512 A = _mm512_maskz_loadu_ps(valid, ra);
    const __m512i one = _mm512_set1_epi32(1), last = _mm512_set1_epi32(nr - 1);
    bool up = nr < 2 || ra[nr - 1] >= ra[0]; /* s is monotone in the lane, like a */
    __m512 acc = _mm512_setzero_ps(), acc1 = acc;
    float tail[16] = {0};
    int c_lo = tr[2] > tr[0] ? tr[2] : tr[0], c_hi = tr[3] < tr[1] ? tr[3] : tr[1];
    if (c_lo > c_hi)
        c_lo = tr[1] + 1, c_hi = tr[1];
    for (int t = tr[0]; t < c_lo; t++)
        acc = pj_general(P + (int64_t)t * n_s, n_s, A, valid, ra, b * (float)t, up, acc, tail);
    for (int t = c_lo; t <= c_hi; t++) {
        const float *line = P + (int64_t)t * n_s;
        /* fl(a + fl(b·t)) per lane: the adjoint's expression, bitwise */
        __m512 s = _mm512_add_ps(A, _mm512_set1_ps(b * (float)t));
        __m512i k = _mm512_cvttps_epi32(s);
        __m512i kmin = up ? k : _mm512_permutexvar_epi32(last, k);
        int base = _mm_cvtsi128_si32(_mm512_castsi512_si128(kmin));
        __m512i idx = _mm512_sub_epi32(k, _mm512_set1_epi32(base));
        __m512 w0 = _mm512_loadu_ps(line + base), w1 = _mm512_loadu_ps(line + base + 16);
        __m512 v0 = _mm512_permutex2var_ps(w0, idx, w1);
        __m512 v1 = _mm512_permutex2var_ps(w0, _mm512_add_epi32(idx, one), w1);
        __m512 f = _mm512_sub_ps(s, _mm512_cvtepi32_ps(k));
        __m512 val = _mm512_fmadd_ps(f, _mm512_sub_ps(v1, v0), v0);
        if (t & 1) /* two chains */
            acc1 = _mm512_add_ps(acc1, val);
        else
            acc = _mm512_add_ps(acc, val);
    }
    acc = _mm512_maskz_add_ps(valid, acc, acc1);
    for (int t = c_hi + 1; t <= tr[1]; t++)
        acc = pj_general(P + (int64_t)t * n_s, n_s, A, valid, ra, b * (float)t, up, acc, tail);
    _mm512_storeu_ps(sum, _mm512_add_ps(acc, _mm512_loadu_ps(tail)));
}

/* FBP detector position of pixel i in a view: the kernels' float expression, bitwise. */
static inline float bp_u(float a, float b, int i) { return fmaf(b, (float)i, a); }

static inline bool bp_inside(float a, float b, int i, int n)
{
    float u = bp_u(a, b, i);
    return u >= 0.0f && u < (float)(n - 1);
}

/* The pixels [*il, *ih] of a row whose two detector neighbours exist (contiguous: u is
 * monotone in i), found from the real-valued solution and corrected by the exact test. */
static void bp_interior(float a, float b, int n, int nx, int *il, int *ih)
{
    int lo = 0, hi = nx - 1;
    if (b != 0.0f) {
        double t0 = -a / (double)b, t1 = ((double)(n - 1) - a) / b;
        double tl = t0 < t1 ? t0 : t1, th = t0 < t1 ? t1 : t0;
        lo = tl < 0 ? 0 : tl > nx - 1 ? nx - 1 : (int)ceil(tl);
        hi = th < 0 ? 0 : th > nx - 1 ? nx - 1 : (int)floor(th);
    }
    while (lo > 0 && bp_inside(a, b, lo - 1, n))
        lo--;
    while (lo < nx && !bp_inside(a, b, lo, n))
        lo++;
    if (hi < lo)
        hi = lo;
    while (hi + 1 < nx && bp_inside(a, b, hi + 1, n))
        hi++;
    while (hi >= lo && !bp_inside(a, b, hi, n))
        hi--;
    *il = lo, *ih = hi;
}

/* View v's contribution to the pixels i0..i1 (≤ 16) of a row: 0 outside its interior run. */
SIMD_TARGET
static inline __m512 bp_block(const float *q, const float *qd, int n, const float *a,
                              const float *b, const int *range, int v, int i0, int i1, __m512 ii)
{
    int il = range[2 * v], ih = range[2 * v + 1];
    if (il > i1 || ih < i0 || il > ih)
        return _mm512_setzero_ps();
    const float *qv = q + (int64_t)v * n;
    int l0 = il > i0 ? il : i0, l1 = ih < i1 ? ih : i1; /* pixels in the run */
    __mmask16 in = (__mmask16)(((2u << (l1 - i0)) - 1) & ~((1u << (l0 - i0)) - 1));
    __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(b[v]), ii, _mm512_set1_ps(a[v]));
    __m512i k = _mm512_cvttps_epi32(u);
    int base = (int)bp_u(a[v], b[v], b[v] >= 0.0f ? l0 : l1); /* the smallest u in the run */
    __m512i idx = _mm512_sub_epi32(k, _mm512_set1_epi32(base));
    const float *dv = qd + (int64_t)v * n;
    __m512 f = _mm512_reduce_ps(u, _MM_FROUND_TO_ZERO), v0, d0; /* u - trunc(u) */
    if (!_mm512_mask_cmpgt_epu32_mask(in, idx, _mm512_set1_epi32(15))) {
        v0 = _mm512_permutexvar_ps(idx, _mm512_loadu_ps(qv + base));
        d0 = _mm512_permutexvar_ps(idx, _mm512_loadu_ps(dv + base));
    } else { /* detector pitch below the pixel's, or a rounding at a window end */
        v0 = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, k, qv, 4);
        d0 = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, k, dv, 4);
    }
    return _mm512_maskz_fmadd_ps(in, f, d0, v0);
}

/* View v's contribution to the 32 pixels i0..i0+31 of a row (two blocks of 16): when all
 * of them are in the view's interior run, one range test, shared broadcasts and no masks;
 * otherwise the general bp_block per half. */
SIMD_TARGET
static inline void bp_pair(const float *q, const float *qd, int n, const float *a,
                           const float *b, const int *range, int v, int i0, __m512 ii0,
                           __m512 ii1, __m512 *acc0, __m512 *acc1)
{
    int il = range[2 * v], ih = range[2 * v + 1];
    if (il > i0 || ih < i0 + 31) {
        *acc0 = _mm512_add_ps(*acc0, bp_block(q, qd, n, a, b, range, v, i0, i0 + 15, ii0));
        *acc1 = _mm512_add_ps(*acc1, bp_block(q, qd, n, a, b, range, v, i0 + 16, i0 + 31, ii1));
        return;
    }
    const float *qv = q + (int64_t)v * n;
    float av = a[v], bv = b[v];
    __m512 va = _mm512_set1_ps(av), vb = _mm512_set1_ps(bv);
    __m512 u0 = _mm512_fmadd_ps(vb, ii0, va), u1 = _mm512_fmadd_ps(vb, ii1, va);
    __m512i k0 = _mm512_cvttps_epi32(u0), k1 = _mm512_cvttps_epi32(u1);
    bool up = bv >= 0.0f; /* the smallest u of each block: its first or its last pixel */
    int base0 = (int)bp_u(av, bv, up ? i0 : i0 + 15), base1 = (int)bp_u(av, bv, up ? i0 + 16 : i0 + 31);
    __m512i idx0 = _mm512_sub_epi32(k0, _mm512_set1_epi32(base0));
    __m512i idx1 = _mm512_sub_epi32(k1, _mm512_set1_epi32(base1));
    const __m512i reach = _mm512_set1_epi32(15);
    if (_mm512_cmpgt_epu32_mask(idx0, reach) | _mm512_cmpgt_epu32_mask(idx1, reach)) {
        *acc0 = _mm512_add_ps(*acc0, bp_block(q, qd, n, a, b, range, v, i0, i0 + 15, ii0));
        *acc1 = _mm512_add_ps(*acc1, bp_block(q, qd, n, a, b, range, v, i0 + 16, i0 + 31, ii1));
        return;
    }
    const float *dv = qd + (int64_t)v * n;
    __m512 f0 = _mm512_reduce_ps(u0, _MM_FROUND_TO_ZERO), f1 = _mm512_reduce_ps(u1, _MM_FROUND_TO_ZERO);
    __m512 p0 = _mm512_permutexvar_ps(idx0, _mm512_loadu_ps(qv + base0));
    __m512 d0 = _mm512_permutexvar_ps(idx0, _mm512_loadu_ps(dv + base0));
    __m512 p1 = _mm512_permutexvar_ps(idx1, _mm512_loadu_ps(qv + base1));
    __m512 d1 = _mm512_permutexvar_ps(idx1, _mm512_loadu_ps(dv + base1));
    *acc0 = _mm512_add_ps(*acc0, _mm512_fmadd_ps(f0, d0, p0));
    *acc1 = _mm512_add_ps(*acc1, _mm512_fmadd_ps(f1, d1, p1));
}

/* FBP, one image row of nx pixels: out[i] = Σ_v q_v(a_v + b_v·i) over the views; a[v], b[v]
 * from the row table, q_v = q + v·n and its forward differences qd (qd[k] = q[k+1] - q[k],
 * so a sample is q0 + f·d0: one permute fewer), both with 16 floats of slack after their
 * last row, so windows may run past a row). Per view the interior run of pixels is found once; the few
 * pixels with one detector neighbour missing take the scalar path; blocks of 16 pixels then
 * accumulate over all views in a register. Unweighted: the caller applies the angular
 * weight. `range` is scratch for 2·n_views ints. */
SIMD_TARGET
void ct_simd_backproject_row(const float *q, const float *qd, int n, int n_views, const float *a,
                             const float *b, int nx, int *range, float *out)
{
    for (int i = 0; i < nx; i++)
        out[i] = 0.0f;
    for (int v = 0; v < n_views; v++) { /* interior runs, and the edge samples */
        const float *qv = q + (int64_t)v * n;
        int il, ih;
        bp_interior(a[v], b[v], n, nx, &il, &ih);
        range[2 * v] = il, range[2 * v + 1] = ih;
        int from = il <= ih ? il - 1 : nx - 1;
        for (int i = from; i >= 0; i--) { /* below the run (all pixels when it is empty) */
            float u = bp_u(a[v], b[v], i);
            if (u > -1.0f && u < (float)n)
                out[i] += edge_sample(qv, u, n);
            else if (il <= ih)
                break;
        }
        for (int i = ih + 1; il <= ih && i < nx; i++) {
            float u = bp_u(a[v], b[v], i);
            if (!(u > -1.0f && u < (float)n))
                break;
            out[i] += edge_sample(qv, u, n);
        }
    }
    const __m512 lane = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int i0 = 0;
    for (; i0 + 32 <= nx; i0 += 32) { /* pairs of blocks: two independent chains */
        const __m512 ii0 = _mm512_add_ps(_mm512_set1_ps((float)i0), lane);
        const __m512 ii1 = _mm512_add_ps(_mm512_set1_ps((float)(i0 + 16)), lane);
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
        for (int v = 0; v < n_views; v++)
            bp_pair(q, qd, n, a, b, range, v, i0, ii0, ii1, &acc0, &acc1);
        float r[32];
        _mm512_storeu_ps(r, acc0);
        _mm512_storeu_ps(r + 16, acc1);
        for (int i = 0; i < 32; i++)
            out[i0 + i] += r[i];
    }
    for (; i0 < nx; i0 += 16) {
        int i1 = nx - i0 < 16 ? nx - 1 : i0 + 15;
        const __m512 ii = _mm512_add_ps(_mm512_set1_ps((float)i0), lane);
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
        int v = 0;
        for (; v + 1 < n_views; v += 2) { /* two chains: consecutive views' adds overlap */
            acc0 = _mm512_add_ps(acc0, bp_block(q, qd, n, a, b, range, v, i0, i1, ii));
            acc1 = _mm512_add_ps(acc1, bp_block(q, qd, n, a, b, range, v + 1, i0, i1, ii));
        }
        if (v < n_views)
            acc0 = _mm512_add_ps(acc0, bp_block(q, qd, n, a, b, range, v, i0, i1, ii));
        float r[16];
        _mm512_storeu_ps(r, _mm512_add_ps(acc0, acc1));
        for (int i = i0; i <= i1; i++)
            out[i] += r[i - i0];
    }
}

/* ---- cone beam ------------------------------------------------------------------------- */

/* One bilinear sample with bounds tests (one or more neighbours outside): march3's
 * sample3_edge for a plane whose s axis is contiguous (ss = 1) and k axis has stride sk. */
static float edge3(const float *plane, float s, float k, int n_s, int n_z, int64_t sk)
{
    float sf = floorf(s), kf = floorf(k), fs = s - sf, fk = k - kf;
    int s0 = (int)sf, k0 = (int)kf;
    if (s0 < -1 || s0 >= n_s || k0 < -1 || k0 >= n_z)
        return 0.0f;
    bool a = s0 >= 0, b = s0 + 1 < n_s;
    float v0 = 0.0f, v1 = 0.0f;
    if (k0 >= 0) {
        const float *q = plane + k0 * sk;
        v0 = (a ? (1.0f - fs) * q[s0] : 0.0f) + (b ? fs * q[s0 + 1] : 0.0f);
    }
    if (k0 + 1 < n_z) {
        const float *q = plane + (k0 + 1) * sk;
        v1 = (a ? (1.0f - fs) * q[s0] : 0.0f) + (b ? fs * q[s0 + 1] : 0.0f);
    }
    return (1.0f - fk) * v0 + fk * v1;
}

/* Masked loads of the 32 floats from row + s (never past the row's n_s: the volume may end
 * there). */
SIMD_TARGET
static inline void row_window(const float *row, int s, int n_s, __m512 *lo, __m512 *hi)
{
    int rem = n_s - s;
    __mmask16 m0 = rem >= 16 ? 0xFFFF : (__mmask16)((1u << rem) - 1);
    __mmask16 m1 = rem >= 32 ? 0xFFFF : rem <= 16 ? 0 : (__mmask16)((1u << (rem - 16)) - 1);
    *lo = _mm512_maskz_loadu_ps(m0, row + s);
    *hi = _mm512_maskz_loadu_ps(m1, row + s + 16);
}

/* Cone beam, 16 neighbouring rays of one detector row (same dominant axis): lane l samples
 * s = A[l] + B[l]·t, k = C[l] + E[l]·t for t in [t_lo, t_hi], voxel (t, s, k) at
 * P[t·st + s + k·sk] (s contiguous: x-dominant rays read a slice-transposed copy). At one t
 * the 16 samples lie within a few voxel rows of one plane: two or three rows k, and 32
 * consecutive s at most, fetched by masked loads and permutes instead of four gathers. A
 * wider spread (steep cone angles, detector pitch far above the voxel's) falls back to
 * gathers; samples with a neighbour outside take the scalar path. Writes unweighted sums. */
SIMD_TARGET
void ct_simd_cone16(const float *P, int n_s, int n_z, int64_t st, int64_t sk, const float *A,
                    const float *B, const float *C, const float *E, int nr, int t_lo, int t_hi,
                    float *sum)
{
    const __mmask16 valid = (__mmask16)((1u << nr) - 1);
    const __m512 va = _mm512_maskz_loadu_ps(valid, A), vb = _mm512_maskz_loadu_ps(valid, B);
    const __m512 vc = _mm512_maskz_loadu_ps(valid, C), ve = _mm512_maskz_loadu_ps(valid, E);
    const __m512 zero = _mm512_setzero_ps(), m1 = _mm512_set1_ps(-1.0f);
    const __m512 ls = _mm512_set1_ps((float)(n_s - 1)), lz = _mm512_set1_ps((float)(n_z - 1));
    const __m512 ns = _mm512_set1_ps((float)n_s), nz = _mm512_set1_ps((float)n_z);
    const __m512i one = _mm512_set1_epi32(1), reach = _mm512_set1_epi32(30);
    __m512 acc = zero;
    float tail[16] = {0};
    for (int t = t_lo; t <= t_hi; t++) {
        const float *plane = P + t * st;
        __m512 tv = _mm512_set1_ps((float)t);
        __m512 s = _mm512_add_ps(va, _mm512_mul_ps(vb, tv));
        __m512 k = _mm512_add_ps(vc, _mm512_mul_ps(ve, tv));
        __mmask16 in = _mm512_mask_cmp_ps_mask(valid, s, zero, _CMP_GE_OQ) &
                       _mm512_cmp_ps_mask(s, ls, _CMP_LT_OQ) &
                       _mm512_cmp_ps_mask(k, zero, _CMP_GE_OQ) &
                       _mm512_cmp_ps_mask(k, lz, _CMP_LT_OQ);
        __mmask16 near = _mm512_mask_cmp_ps_mask(valid, s, m1, _CMP_GT_OQ) &
                         _mm512_cmp_ps_mask(s, ns, _CMP_LT_OQ) &
                         _mm512_cmp_ps_mask(k, m1, _CMP_GT_OQ) &
                         _mm512_cmp_ps_mask(k, nz, _CMP_LT_OQ);
        if (near & ~in) {
            float sv[16], kv[16];
            _mm512_storeu_ps(sv, s);
            _mm512_storeu_ps(kv, k);
            for (unsigned m = near & ~in; m; m &= m - 1) {
                int l = __builtin_ctz(m);
                tail[l] += edge3(plane, sv[l], kv[l], n_s, n_z, sk);
            }
        }
        if (!in)
            continue;
        __m512i s0 = _mm512_cvttps_epi32(s), k0 = _mm512_cvttps_epi32(k);
        __m512 fs = _mm512_sub_ps(s, _mm512_cvtepi32_ps(s0));
        __m512 fk = _mm512_sub_ps(k, _mm512_cvtepi32_ps(k0));
        int smin = _mm512_mask_reduce_min_epi32(in, s0);
        int kmin = _mm512_mask_reduce_min_epi32(in, k0), kmax = _mm512_mask_reduce_max_epi32(in, k0);
        __m512i idx = _mm512_sub_epi32(s0, _mm512_set1_epi32(smin)), idx1 = _mm512_add_epi32(idx, one);
        __m512 lo0, lo1, hi0, hi1; /* rows k0 and k0+1 at s0 and s0+1, per lane */
        if (kmax - kmin <= 1 && !_mm512_mask_cmpgt_epu32_mask(in, idx, reach)) {
            const float *r0 = plane + (int64_t)kmin * sk;
            __m512 a0, a1, b0, b1;
            row_window(r0, smin, n_s, &a0, &a1);
            row_window(r0 + sk, smin, n_s, &b0, &b1);
            lo0 = _mm512_permutex2var_ps(a0, idx, a1), lo1 = _mm512_permutex2var_ps(a0, idx1, a1);
            hi0 = _mm512_permutex2var_ps(b0, idx, b1), hi1 = _mm512_permutex2var_ps(b0, idx1, b1);
            if (kmax > kmin) { /* lanes on the upper row shift up by one */
                __mmask16 up = _mm512_mask_cmpgt_epi32_mask(in, k0, _mm512_set1_epi32(kmin));
                __m512 c0, c1;
                row_window(r0 + 2 * sk, smin, n_s, &c0, &c1);
                lo0 = _mm512_mask_mov_ps(lo0, up, hi0), lo1 = _mm512_mask_mov_ps(lo1, up, hi1);
                hi0 = _mm512_mask_mov_ps(hi0, up, _mm512_permutex2var_ps(c0, idx, c1));
                hi1 = _mm512_mask_mov_ps(hi1, up, _mm512_permutex2var_ps(c0, idx1, c1));
            }
        } else {
            __m512i at = _mm512_add_epi32(s0, _mm512_mullo_epi32(k0, _mm512_set1_epi32((int)sk)));
            lo0 = _mm512_mask_i32gather_ps(zero, in, at, plane, 4);
            lo1 = _mm512_mask_i32gather_ps(zero, in, at, plane + 1, 4);
            hi0 = _mm512_mask_i32gather_ps(zero, in, at, plane + sk, 4);
            hi1 = _mm512_mask_i32gather_ps(zero, in, at, plane + sk + 1, 4);
        }
        __m512 v0 = _mm512_fmadd_ps(fs, _mm512_sub_ps(lo1, lo0), lo0);
        __m512 v1 = _mm512_fmadd_ps(fs, _mm512_sub_ps(hi1, hi0), hi0);
        acc = _mm512_mask_add_ps(acc, in, acc, _mm512_fmadd_ps(fk, _mm512_sub_ps(v1, v0), v0));
    }
    _mm512_storeu_ps(sum, _mm512_add_ps(acc, _mm512_loadu_ps(tail)));
}
