/* Sliding-window inference with Gaussian blending (nnU-Net's scheme): windows near the centre
 * of their field of view are trusted more than at their borders, where padding and missing
 * context make a convolutional network less accurate. */
#include "hinge/segment.h"

#include <math.h>
#include <string.h>

/* Window start positions along one axis: evenly spread, step at most win * (1 - overlap). */
static int64_t positions(int64_t size, int64_t win, double overlap, int64_t *pos, int64_t max)
{
    if (size <= win) {
        pos[0] = 0;
        return 1;
    }
    double step = fmax(1.0, floor((double)win * (1.0 - overlap)));
    int64_t n = (int64_t)ceil((double)(size - win) / step) + 1;
    if (n > max)
        return -1;
    for (int64_t i = 0; i < n; i++)
        pos[i] = (int64_t)llround((double)i * (double)(size - win) / (double)(n - 1));
    return n;
}

static void gaussian_1d(int64_t win, bool uniform, double *g)
{
    double sigma = (double)win / 8.0, c = 0.5 * (double)(win - 1);
    for (int64_t i = 0; i < win; i++)
        g[i] = uniform ? 1.0 : exp(-0.5 * ((double)i - c) * ((double)i - c) / (sigma * sigma));
}

hg_tensor *hg_sliding_window(hg_model *m, const hg_tensor *x, int ndim,
                             const hg_sliding_window_opts *o, hg_ctx *ctx)
{
    char b[64];
    if (!m || !x || !o || !ctx || (ndim != 2 && ndim != 3)) {
        hg_error(HG_ERR_INVALID, "sliding_window: NULL argument or %d spatial dims", ndim);
        return NULL;
    }
    if (x->dtype != HG_F32 || x->ndim != ndim + 2 || x->shape[0] != 1) {
        hg_error(HG_ERR_INVALID, "sliding_window: input '%s' has shape %s, expected [1, C, %s]",
                 hg_tensor_label(x), hg_shape_str(x, b, sizeof b),
                 ndim == 2 ? "H, W" : "D, H, W");
        return NULL;
    }
    if (!(o->overlap >= 0 && o->overlap < 1)) {
        hg_error(HG_ERR_INVALID, "sliding_window: overlap %g, expected in [0, 1)", o->overlap);
        return NULL;
    }
    /* work in 3-D: a 2-D problem has D = window D = 1 */
    int64_t C = x->shape[1], size[3] = {1, 1, 1}, win[3] = {1, 1, 1};
    for (int a = 0; a < ndim; a++) {
        size[3 - ndim + a] = x->shape[2 + a];
        win[3 - ndim + a] = o->window[a];
        if (o->window[a] < 1 || o->window[a] > 65536) {
            hg_error(HG_ERR_INVALID, "sliding_window: window[%d] = %lld, expected 1..65536", a,
                     (long long)o->window[a]);
            return NULL;
        }
    }
    enum { MAXPOS = 4096 };
    int64_t npos[3], (*pos)[MAXPOS] = hg_malloc(sizeof(int64_t) * 3 * MAXPOS);
    if (!pos)
        return NULL;
    for (int a = 0; a < 3; a++)
        if ((npos[a] = positions(size[a], win[a], o->overlap, pos[a], MAXPOS)) < 0) {
            hg_free(pos);
            hg_error(HG_ERR_INVALID, "sliding_window: more than %d windows along axis %d; "
                     "use a larger window or less overlap", MAXPOS, a - (3 - ndim));
            return NULL;
        }
    int64_t wn = win[0] * win[1] * win[2], sn = size[0] * size[1] * size[2];
    double *g = hg_malloc(sizeof(double) * (size_t)(win[0] + win[1] + win[2]));
    double *wsum = hg_calloc((size_t)sn, sizeof(double));
    hg_tensor *out = NULL;
    double *acc = NULL;
    bool grad = hg_ctx_grad_enabled(ctx), training = hg_ctx_training(ctx);
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    if (!g || !wsum)
        goto fail;
    double *gz = g, *gy = g + win[0], *gx = gy + win[1];
    gaussian_1d(win[0], o->uniform || ndim == 2, gz);
    gaussian_1d(win[1], o->uniform, gy);
    gaussian_1d(win[2], o->uniform, gx);
    int64_t K = -1;
    int64_t wshape[5] = {1, C, 0, 0, 0};
    for (int a = 0; a < ndim; a++)
        wshape[2 + a] = win[3 - ndim + a];
    for (int64_t iz = 0; iz < npos[0]; iz++)
        for (int64_t iy = 0; iy < npos[1]; iy++)
            for (int64_t ix = 0; ix < npos[2]; ix++) {
                int64_t z0 = pos[0][iz], y0 = pos[1][iy], x0 = pos[2][ix];
                hg_ctx_reset(ctx);
                hg_tensor *w = hg_tensor_new(ctx, HG_F32, ndim + 2, wshape);
                if (!w)
                    goto fail;
                for (int64_t c = 0; c < C; c++) /* copy the window, zero beyond the image */
                    for (int64_t z = 0; z < win[0] && z0 + z < size[0]; z++)
                        for (int64_t y = 0; y < win[1] && y0 + y < size[1]; y++) {
                            int64_t xl = win[2] < size[2] - x0 ? win[2] : size[2] - x0;
                            memcpy(w->data + ((c * win[0] + z) * win[1] + y) * win[2],
                                   x->data + ((c * size[0] + z0 + z) * size[1] + y0 + y) *
                                                 size[2] + x0,
                                   sizeof(float) * (size_t)xl);
                        }
                hg_tensor *y = hg_model_forward(m, ctx, w);
                if (!y)
                    goto fail;
                if (y->ndim != ndim + 2 || y->shape[0] != 1 || y->numel % wn ||
                    (K >= 0 && y->numel / wn != K)) {
                    hg_error(HG_ERR_INVALID, "sliding_window: model output has shape %s, "
                             "expected [1, K, window]", hg_shape_str(y, b, sizeof b));
                    goto fail;
                }
                if (K < 0) {
                    K = y->shape[1];
                    int64_t os[5] = {1, K, 0, 0, 0};
                    for (int a = 0; a < ndim; a++)
                        os[2 + a] = x->shape[2 + a];
                    out = hg_tensor_new(NULL, HG_F32, ndim + 2, os);
                    acc = hg_calloc((size_t)(K * sn), sizeof(double));
                    if (!out || !acc)
                        goto fail;
                }
                for (int64_t z = 0; z < win[0] && z0 + z < size[0]; z++)
                    for (int64_t yy = 0; yy < win[1] && y0 + yy < size[1]; yy++)
                        for (int64_t xx = 0; xx < win[2] && x0 + xx < size[2]; xx++) {
                            double wt = gz[z] * gy[yy] * gx[xx];
                            int64_t si = ((z0 + z) * size[1] + y0 + yy) * size[2] + x0 + xx;
                            int64_t wi = (z * win[1] + yy) * win[2] + xx;
                            wsum[si] += wt;
                            for (int64_t k = 0; k < K; k++)
                                acc[k * sn + si] += wt * y->data[k * wn + wi];
                        }
            }
    for (int64_t k = 0; k < K; k++)
        for (int64_t i = 0; i < sn; i++)
            out->data[k * sn + i] = (float)(acc[k * sn + i] / wsum[i]);
    hg_ctx_reset(ctx);
    hg_ctx_set_grad(ctx, grad);
    hg_ctx_set_training(ctx, training);
    hg_free(g);
    hg_free(wsum);
    hg_free(acc);
    hg_free(pos);
    return out;
fail:
    hg_ctx_reset(ctx);
    hg_ctx_set_grad(ctx, grad);
    hg_ctx_set_training(ctx, training);
    hg_free(g);
    hg_free(wsum);
    hg_free(acc);
    hg_free(pos);
    hg_tensor_free(out);
    return NULL;
}
