/* im2col / col2im for 1-D, 2-D and 3-D convolutions (vol2col), over a range of columns.
 *
 * Column j of the matrix is the flat small-side position j = (od * OH + oh) * OW + ow; row r
 * is (c, kd, kh, kw). A range [j0, j1) is walked as segments of output rows, so that the inner
 * loop runs along W with the out-of-image borders found once per segment instead of tested
 * per element. Both are serial: the callers run one tile per thread. */
#include "ops/conv_internal.h"

/* The part of the segment [a, b) of ow whose input column ow*s + off lies in [0, iw). */
static inline void valid_range(int64_t a, int64_t b, int64_t s, int64_t off, int64_t iw,
                               int64_t *lo, int64_t *hi)
{
    int64_t first = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t last = iw - 1 - off < 0 ? -1 : (iw - 1 - off) / s; /* inclusive */
    *lo = first > a ? first : a;
    *hi = last + 1 < b ? last + 1 : b;
    if (*hi < *lo)
        *hi = *lo;
}

/* Offset of the image line that a column row reads for kernel tap (kd, kh), or -1 (padding). */
static inline int64_t line_offset(const hg_conv_geom *g, int64_t row, int64_t kd, int64_t kh)
{
    int64_t oh = row % g->out[1], od = row / g->out[1];
    int64_t id = od * g->s[0] - g->p[0] + kd * g->d[0];
    int64_t ih = oh * g->s[1] - g->p[1] + kh * g->d[1];
    if (id < 0 || id >= g->in[0] || ih < 0 || ih >= g->in[1])
        return -1;
    return (id * g->in[1] + ih) * g->in[2];
}

static void im2col_row(const hg_conv_geom *g, const float *src, int64_t kd, int64_t kh,
                       int64_t kw, int64_t j0, int64_t j1, float *dst)
{
    const int64_t ow_n = g->out[2], s = g->s[2], off = kw * g->d[2] - g->p[2];
    for (int64_t j = j0; j < j1;) {
        int64_t row = j / ow_n, a = j % ow_n;
        int64_t b = a + (j1 - j < ow_n - a ? j1 - j : ow_n - a);
        float *o = dst + (j - j0); /* o[ow - a] is column (row, ow) */
        int64_t line = line_offset(g, row, kd, kh);
        if (line < 0) {
            memset(o, 0, (size_t)(b - a) * sizeof(float));
        } else {
            int64_t lo, hi;
            valid_range(a, b, s, off, g->in[2], &lo, &hi);
            for (int64_t ow = a; ow < lo; ow++)
                o[ow - a] = 0.0f;
            if (s == 1)
                memcpy(o + (lo - a), src + line + lo + off, (size_t)(hi - lo) * sizeof(float));
            else
                for (int64_t ow = lo; ow < hi; ow++)
                    o[ow - a] = src[line + ow * s + off];
            for (int64_t ow = hi; ow < b; ow++)
                o[ow - a] = 0.0f;
        }
        j += b - a;
    }
}

static void col2im_row(const hg_conv_geom *g, const float *col, int64_t kd, int64_t kh,
                       int64_t kw, int64_t j0, int64_t j1, float *dst)
{
    const int64_t ow_n = g->out[2], s = g->s[2], off = kw * g->d[2] - g->p[2];
    for (int64_t j = j0; j < j1;) {
        int64_t row = j / ow_n, a = j % ow_n;
        int64_t b = a + (j1 - j < ow_n - a ? j1 - j : ow_n - a);
        const float *c = col + (j - j0);
        int64_t line = line_offset(g, row, kd, kh);
        if (line >= 0) {
            int64_t lo, hi;
            valid_range(a, b, s, off, g->in[2], &lo, &hi);
            if (s == 1) {
                float *out = dst + line + lo + off;
                const float *cc = c + (lo - a);
                for (int64_t i = 0; i < hi - lo; i++)
                    out[i] += cc[i];
            } else {
                for (int64_t ow = lo; ow < hi; ow++)
                    dst[line + ow * s + off] += c[ow - a];
            }
        }
        j += b - a;
    }
}

void hg_im2col(const hg_conv_geom *g, const float *img, int64_t channels, int64_t j0,
               int64_t j1, float *col)
{
    const int64_t rows = channels * g->kvol, n = j1 - j0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = r / g->kvol, kk = r % g->kvol;
        int64_t kw = kk % g->k[2], kh = kk / g->k[2] % g->k[1], kd = kk / (g->k[2] * g->k[1]);
        im2col_row(g, img + c * g->in_vol, kd, kh, kw, j0, j1, col + r * n);
    }
}

void hg_col2im_channel(const hg_conv_geom *g, const float *col, int64_t j0, int64_t j1,
                       float *img)
{
    const int64_t n = j1 - j0;
    for (int64_t kk = 0; kk < g->kvol; kk++) {
        int64_t kw = kk % g->k[2], kh = kk / g->k[2] % g->k[1], kd = kk / (g->k[2] * g->k[1]);
        col2im_row(g, col + kk * n, kd, kh, kw, j0, j1, img);
    }
}
