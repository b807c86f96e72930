/* The convolution C (big -> small), its adjoint and its weight gradient as im2col + sgemm,
 * shared by hg_conv and hg_conv_transpose (see conv_internal.h), plus argument checking.
 *
 * Columns are produced in tiles of small-side positions, so the scratch matrix stays a few MB
 * (it lives in the L2/L3 caches while sgemm reads it) however large the image; the scratch is
 * taken from the context and handed back before the op returns. */
#include "ops/conv_internal.h"

#include <cblas.h>
#include <limits.h>
#include <stdio.h>

/* Scratch per tile. Measured on a 2-core Zen 4 (64->64 3x3, 256^2): 2-8 MB columns run
 * sgemm at its best; whole-image columns (150 MB) are ~25% slower. */
#define HG_CONV_TILE_BYTES ((int64_t)4 << 20)
#define HG_CONV_TILE_MAX_BYTES ((int64_t)64 << 20)
#define HG_CONV_TILE_MIN_COLS 256

static int64_t tile_cols(const hg_conv_plan *p)
{
    int64_t per_col = p->kg * (int64_t)sizeof(float);
    int64_t t = HG_CONV_TILE_BYTES / per_col;
    if (t < HG_CONV_TILE_MIN_COLS)
        t = HG_CONV_TILE_MIN_COLS;
    if (t > HG_CONV_TILE_MAX_BYTES / per_col)
        t = HG_CONV_TILE_MAX_BYTES / per_col;
    if (t < 1)
        t = 1;
    return t < p->g.out_vol ? t : p->g.out_vol;
}

/* Scratch for one tile of columns; NULL (error set) when the context cannot provide it. */
static float *tile_scratch(hg_ctx *ctx, const hg_conv_plan *p, int64_t t)
{
    if (p->g.identity)
        return NULL;
    return hg_ctx_alloc(ctx, (size_t)(p->kg * t) * sizeof(float));
}

hg_status hg_conv_apply(hg_ctx *ctx, const hg_conv_plan *p, const float *big, const float *w,
                        float *small, float beta)
{
    const hg_conv_geom *g = &p->g;
    int64_t t = tile_cols(p);
    hg_ctx_mark mark = hg_ctx_mark_get(ctx);
    float *col = tile_scratch(ctx, p, t);
    if (!g->identity && !col)
        return hg_error_context(hg_error_status(), "conv: im2col scratch");
    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t gr = 0; gr < p->groups; gr++) {
            const float *bimg = big + (n * p->cb + gr * p->cbg) * g->in_vol;
            float *simg = small + (n * p->cs + gr * p->csg) * g->out_vol;
            const float *wg = w + gr * p->csg * p->kg;
            for (int64_t j0 = 0; j0 < g->out_vol; j0 += t) {
                int64_t j1 = j0 + t < g->out_vol ? j0 + t : g->out_vol;
                const float *b = bimg + j0;
                int64_t ldb = g->in_vol;
                if (!g->identity) {
                    hg_im2col(g, bimg, p->cbg, j0, j1, col);
                    b = col;
                    ldb = j1 - j0;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p->csg,
                            (int)(j1 - j0), (int)p->kg, 1.0f, wg, (int)p->kg, b, (int)ldb, beta,
                            simg + j0, (int)g->out_vol);
            }
        }
    }
    hg_ctx_release(ctx, mark);
    return HG_OK;
}

hg_status hg_conv_apply_adjoint(hg_ctx *ctx, const hg_conv_plan *p, const float *small,
                                const float *w, float *big)
{
    const hg_conv_geom *g = &p->g;
    int64_t t = tile_cols(p);
    hg_ctx_mark mark = hg_ctx_mark_get(ctx);
    float *col = tile_scratch(ctx, p, t);
    if (!g->identity && !col)
        return hg_error_context(hg_error_status(), "conv: col2im scratch");
    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t gr = 0; gr < p->groups; gr++) {
            float *bimg = big + (n * p->cb + gr * p->cbg) * g->in_vol;
            const float *simg = small + (n * p->cs + gr * p->csg) * g->out_vol;
            const float *wg = w + gr * p->csg * p->kg;
            for (int64_t j0 = 0; j0 < g->out_vol; j0 += t) {
                int64_t j1 = j0 + t < g->out_vol ? j0 + t : g->out_vol;
                if (g->identity) { /* the columns are the image: accumulate in place */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->kg,
                                (int)(j1 - j0), (int)p->csg, 1.0f, wg, (int)p->kg, simg + j0,
                                (int)g->out_vol, 1.0f, bimg + j0, (int)g->in_vol);
                    continue;
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p->kg, (int)(j1 - j0),
                            (int)p->csg, 1.0f, wg, (int)p->kg, simg + j0, (int)g->out_vol, 0.0f,
                            col, (int)(j1 - j0));
                hg_col2im(g, col, p->cbg, j0, j1, bimg);
            }
        }
    }
    hg_ctx_release(ctx, mark);
    return HG_OK;
}

hg_status hg_conv_weight_grad(hg_ctx *ctx, const hg_conv_plan *p, const float *big,
                              const float *small, float *dw)
{
    const hg_conv_geom *g = &p->g;
    int64_t t = tile_cols(p);
    hg_ctx_mark mark = hg_ctx_mark_get(ctx);
    float *col = tile_scratch(ctx, p, t);
    if (!g->identity && !col)
        return hg_error_context(hg_error_status(), "conv: weight-gradient scratch");
    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t gr = 0; gr < p->groups; gr++) {
            const float *bimg = big + (n * p->cb + gr * p->cbg) * g->in_vol;
            const float *simg = small + (n * p->cs + gr * p->csg) * g->out_vol;
            float *dwg = dw + gr * p->csg * p->kg;
            for (int64_t j0 = 0; j0 < g->out_vol; j0 += t) {
                int64_t j1 = j0 + t < g->out_vol ? j0 + t : g->out_vol;
                const float *b = bimg + j0;
                int64_t ldb = g->in_vol;
                if (!g->identity) {
                    hg_im2col(g, bimg, p->cbg, j0, j1, col);
                    b = col;
                    ldb = j1 - j0;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->csg, (int)p->kg,
                            (int)(j1 - j0), 1.0f, simg + j0, (int)g->out_vol, b, (int)ldb, 1.0f,
                            dwg, (int)p->kg);
            }
        }
    }
    hg_ctx_release(ctx, mark);
    return HG_OK;
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
        double acc = 0.0;
        for (int64_t n = 0; n < batch; n++) {
            const float *gc = g + (n * channels + c) * vol;
            float part = 0.0f;
            for (int64_t i = 0; i < vol; i++)
                part += gc[i];
            acc += part;
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
