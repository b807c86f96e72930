/* The direct convolution kernels of conv_direct.c, written once and compiled once per
 * instruction set: conv_direct.c includes this file with these macros defined:
 *   SFX          suffix of the generated names (_avx512, _avx2)
 *   TGT          the target attribute ("avx512f", "avx2,fma")
 *   VL           floats per vector;  VEC its type
 *   RMAX         output channels per forward block (accumulators: RMAX x 2 vectors)
 *   RW           output channels per weight-gradient block (accumulators: RW x 9 vectors)
 *   LOADU(p), SET1(s), FMA(a, b, c) (a * b + c), ZERO(), STOREU(p, v), HSUM(v)
 *   MASK_T, MASK(n) (the first n lanes, n may be <= 0 or >= VL), MLOAD(p, m), MSTORE(p, m, v)
 * Only the partial vector at the end of a row is loaded or stored with a mask.
 * No include guard: included once per instruction set; the macros are undefined at the end. */

#define HG_CAT_(a, b) a##b
#define HG_CAT(a, b) HG_CAT_(a, b)
#define FN(name) HG_CAT(name, SFX)
#define AINL static inline __attribute__((always_inline, target(TGT)))
#define ATTR static __attribute__((target(TGT)))

/* One forward block: R output channels x 2 vectors of one output row. x: the padded input at
 * this row and column, channel 0; wk: the block's packed weights [cb][kh][kw][R]; y: output
 * channel co0 at this row and column; `valid` positions of the 2 VL are inside the row. */
AINL void FN(fwd_block)(const int R, const float *x, int64_t plane, int64_t wp, int64_t cb,
                        int kh, int kw, const float *wk, float *y, int64_t ovol, int64_t valid,
                        bool acc)
{
    VEC a[RMAX][2];
    const bool full = valid >= 2 * VL;
    const MASK_T m0 = MASK(valid), m1 = MASK(valid - VL);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        if (!acc) {
            a[r][0] = ZERO();
            a[r][1] = ZERO();
        } else if (full) {
            a[r][0] = LOADU(y + r * ovol);
            a[r][1] = LOADU(y + r * ovol + VL);
        } else {
            a[r][0] = MLOAD(y + r * ovol, m0);
            a[r][1] = MLOAD(y + r * ovol + VL, m1);
        }
    }
    for (int64_t ci = 0; ci < cb; ci++) {
        const float *xc = x + ci * plane;
        for (int i = 0; i < kh; i++) {
            const float *row = xc + i * wp;
            for (int j = 0; j < kw; j++) {
                const VEC x0 = LOADU(row + j), x1 = LOADU(row + j + VL);
#pragma GCC unroll 16
                for (int r = 0; r < R; r++) {
                    const VEC wv = SET1(wk[r]);
                    a[r][0] = FMA(wv, x0, a[r][0]);
                    a[r][1] = FMA(wv, x1, a[r][1]);
                }
                wk += R;
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        if (full) {
            STOREU(y + r * ovol, a[r][0]);
            STOREU(y + r * ovol + VL, a[r][1]);
        } else {
            MSTORE(y + r * ovol, m0, a[r][0]);
            MSTORE(y + r * ovol + VL, m1, a[r][1]);
        }
    }
}

/* A whole output row of R channels, blocks of 2 VL positions. */
#define HG_FWD_ROW(R_)                                                                        \
    ATTR void FN(fwd_row##R_)(const float *x, int64_t plane, int64_t wp, int64_t cb, int kh,  \
                              int kw, const float *wk, float *y, int64_t ovol, int64_t ow_n,  \
                              bool acc)                                                       \
    {                                                                                         \
        for (int64_t o = 0; o < ow_n; o += 2 * VL)                                            \
            FN(fwd_block)(R_, x + o, plane, wp, cb, kh, kw, wk, y + o, ovol, ow_n - o, acc); \
    }
HG_FWD_ROW(1)
HG_FWD_ROW(2)
HG_FWD_ROW(3)
HG_FWD_ROW(4)
HG_FWD_ROW(5)
HG_FWD_ROW(6)
#if RMAX >= 8
HG_FWD_ROW(7)
HG_FWD_ROW(8)
#endif
#undef HG_FWD_ROW

ATTR void FN(fwd_row)(int R, const float *x, int64_t plane, int64_t wp, int64_t cb, int kh,
                      int kw, const float *wk, float *y, int64_t ovol, int64_t ow_n, bool acc)
{
    switch (R) {
    case 1: FN(fwd_row1)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
    case 2: FN(fwd_row2)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
    case 3: FN(fwd_row3)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
    case 4: FN(fwd_row4)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
    case 5: FN(fwd_row5)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
    case 6: FN(fwd_row6)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
#if RMAX >= 8
    case 7: FN(fwd_row7)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
    case 8: FN(fwd_row8)(x, plane, wp, cb, kh, kw, wk, y, ovol, ow_n, acc); break;
#endif
    default: break;
    }
}

/* 3x3 weight gradient of R output channels and one input channel over `rows` output rows:
 * out[r][cb][9] += sum over positions of dy[r] * (the 9 shifted inputs). x: the padded input
 * channel at the first row; dy: output channel co0 at the first row. Each of the 9 R sums is
 * kept in its own vector (lanes = positions mod VL) and reduced once at the end. */
AINL void FN(wg_block)(const int R, const float *x, int64_t wp, const float *dy, int64_t ovol,
                       int64_t ow_n, int64_t rows, float *out, int64_t cb)
{
    VEC a[RW][9];
#pragma GCC unroll 32
    for (int t = 0; t < R * 9; t++)
        a[t / 9][t % 9] = ZERO();
    const int64_t full = ow_n / VL * VL;
    const MASK_T mt = MASK(ow_n - full);
    for (int64_t h = 0; h < rows; h++) {
        const float *xr = x + h * wp, *d = dy + h * ow_n;
        for (int64_t o = 0; o < ow_n; o += VL) {
            VEC dv[RW];
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                dv[r] = o < full ? LOADU(d + r * ovol + o) : MLOAD(d + r * ovol + o, mt);
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) {
                    const VEC xv = LOADU(xr + i * wp + o + j);
#pragma GCC unroll 8
                    for (int r = 0; r < R; r++)
                        a[r][i * 3 + j] = FMA(dv[r], xv, a[r][i * 3 + j]);
                }
        }
    }
#pragma GCC unroll 32
    for (int t = 0; t < R * 9; t++)
        out[(t / 9) * cb * 9 + t % 9] += HSUM(a[t / 9][t % 9]);
}

#define HG_WG(R_)                                                                             \
    ATTR void FN(wg##R_)(const float *x, int64_t wp, const float *dy, int64_t ovol,           \
                         int64_t ow_n, int64_t rows, float *out, int64_t cb)                  \
    {                                                                                         \
        FN(wg_block)(R_, x, wp, dy, ovol, ow_n, rows, out, cb);                               \
    }
HG_WG(1)
#if RW >= 2
HG_WG(2)
#endif
#if RW >= 3
HG_WG(3)
#endif
#undef HG_WG

ATTR void FN(wg)(int R, const float *x, int64_t wp, const float *dy, int64_t ovol, int64_t ow_n,
                 int64_t rows, float *out, int64_t cb)
{
#if RW >= 3
    if (R == 3) {
        FN(wg3)(x, wp, dy, ovol, ow_n, rows, out, cb);
        return;
    }
#endif
#if RW >= 2
    if (R == 2) {
        FN(wg2)(x, wp, dy, ovol, ow_n, rows, out, cb);
        return;
    }
#endif
    FN(wg1)(x, wp, dy, ovol, ow_n, rows, out, cb);
}

#undef AINL
#undef ATTR
#undef FN
#undef SFX
#undef TGT
#undef VL
#undef VEC
#undef RMAX
#undef RW
#undef LOADU
#undef SET1
#undef FMA
#undef ZERO
#undef STOREU
#undef HSUM
#undef MASK_T
#undef MASK
#undef MLOAD
#undef MSTORE
