/* ssim_loss: 1 - SSIM, matching skimage.metrics.structural_similarity(gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False, data_range=R) on each 2-D image:
 * - window: 11-tap Gaussian, sigma 1.5, normalized (scipy's truncate 3.5 gives radius 5);
 * - the statistics are weighted means mu_x, mu_y, E[x^2], E[y^2], E[xy] over the window, with
 *   population (co)variances v = E[x^2] - mu^2 (use_sample_covariance=False);
 * - SSIM map S = (2 mu_x mu_y + C1)(2 v_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(v_x + v_y + C2)),
 *   C1 = (0.01 R)^2, C2 = (0.03 R)^2;
 * - valid region only: skimage filters with reflection padding and then crops 5 pixels from
 *   every side before averaging, which leaves exactly the positions whose window lies inside
 *   the image. So no padding is needed here, and images must be at least 11 x 11.
 * Inputs are [..., H, W] (e.g. [N, C, H, W]); every leading index is one image and the loss
 * is 1 - the mean over images of their mean SSIM. data_range > 0 is used for every image;
 * data_range <= 0 takes each image's target max - min (1 if the target image is constant),
 * treated as a constant in the backward pass. Statistics are computed in double precision:
 * E[x^2] - mu^2 cancels badly in float for CT values in the thousands. Gradients flow to pred
 * and target; the backward pass recomputes the statistics instead of saving them. */
#include "ops/actloss_internal.h"

#include <omp.h>

#define WIN 11
#define RAD 5

typedef struct {
    int64_t images, h, w;
    float data_range;
} ssim_state;

static void gauss_window(double *w)
{
    double s = 0.0;
    for (int k = 0; k < WIN; k++) {
        double d = k - RAD;
        w[k] = exp(-0.5 * d * d / (1.5 * 1.5));
        s += w[k];
    }
    for (int k = 0; k < WIN; k++)
        w[k] /= s;
}

static double image_range(const float *y, int64_t n, float data_range)
{
    if (data_range > 0.0f)
        return data_range;
    float lo = y[0], hi = y[0];
    for (int64_t i = 1; i < n; i++) {
        lo = fminf(lo, y[i]);
        hi = fmaxf(hi, y[i]);
    }
    return hi > lo ? (double)hi - lo : 1.0;
}

/* Doubles of scratch one image needs: the horizontal pass (5 * h * wv) and the five
 * statistics over the valid region (5 * hv * wv). */
static size_t ssim_scratch(int64_t h, int64_t w)
{
    return 5 * (size_t)h * (size_t)(w - WIN + 1) + 5 * (size_t)(h - WIN + 1) * (size_t)(w - WIN + 1);
}

/* The five local statistics over the valid region of one image: m[q * hv*wv + ...] for
 * q = mu_x, mu_y, E[x^2], E[y^2], E[xy]. tmp holds the horizontal pass (5 * h * wv). Rows run
 * in parallel only when par (a single image; batches run one image per thread instead). */
static void ssim_stats(const float *x, const float *y, int64_t h, int64_t w, const double *win,
                       double *tmp, double *m, bool par)
{
    int64_t hv = h - WIN + 1, wv = w - WIN + 1, th = h * wv, tv = hv * wv;
#pragma omp parallel for schedule(static) if (par && h * w > 4096)
    for (int64_t r = 0; r < h; r++)
        for (int64_t j = 0; j < wv; j++) {
            double a = 0, b = 0, aa = 0, bb = 0, ab = 0;
            for (int k = 0; k < WIN; k++) {
                double xv = x[r * w + j + k], yv = y[r * w + j + k], wk = win[k];
                a += wk * xv, b += wk * yv;
                aa += wk * xv * xv, bb += wk * yv * yv, ab += wk * xv * yv;
            }
            int64_t o = r * wv + j;
            tmp[o] = a, tmp[th + o] = b, tmp[2 * th + o] = aa, tmp[3 * th + o] = bb;
            tmp[4 * th + o] = ab;
        }
#pragma omp parallel for schedule(static) if (par && h * w > 4096)
    for (int64_t i = 0; i < hv; i++)
        for (int q = 0; q < 5; q++)
            for (int64_t j = 0; j < wv; j++) {
                double s = 0;
                for (int k = 0; k < WIN; k++)
                    s += win[k] * tmp[q * th + (i + k) * wv + j];
                m[q * tv + i * wv + j] = s;
            }
}

/* SSIM at one position and, when d is not NULL, its derivatives with respect to mu_x, mu_y,
 * E[x^2] (= the one with respect to E[y^2]) and E[xy]. */
static double ssim_at(double ux, double uy, double uxx, double uyy, double uxy, double c1,
                      double c2, double d[4])
{
    double a1 = 2 * ux * uy + c1, a2 = 2 * (uxy - ux * uy) + c2;
    double b1 = ux * ux + uy * uy + c1, b2 = (uxx - ux * ux) + (uyy - uy * uy) + c2;
    double s = a1 * a2 / (b1 * b2);
    if (d) {
        double da1 = a2 / (b1 * b2), da2 = a1 / (b1 * b2), db1 = -s / b1, db2 = -s / b2;
        d[0] = 2 * uy * (da1 - da2) + 2 * ux * (db1 - db2);
        d[1] = 2 * ux * (da1 - da2) + 2 * uy * (db1 - db2);
        d[2] = db2;
        d[3] = 2 * da2;
    }
    return s;
}

static void ssim_constants(const float *y, int64_t n, float data_range, double *c1, double *c2)
{
    double r = image_range(y, n, data_range);
    *c1 = (0.01 * r) * (0.01 * r);
    *c2 = (0.03 * r) * (0.03 * r);
}

/* Mean SSIM of one image over its valid region. */
static double ssim_image(const float *x, const float *y, const ssim_state *v, const double *win,
                         double *tmp, bool par)
{
    int64_t h = v->h, w = v->w, tv = (h - WIN + 1) * (w - WIN + 1);
    double *m = tmp + 5 * h * (w - WIN + 1), c1, c2;
    ssim_constants(y, h * w, v->data_range, &c1, &c2);
    ssim_stats(x, y, h, w, win, tmp, m, par);
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (par && tv > 4096)
    for (int64_t i = 0; i < tv; i++)
        acc += ssim_at(m[i], m[tv + i], m[2 * tv + i], m[3 * tv + i], m[4 * tv + i], c1, c2, NULL);
    return acc / (double)tv;
}

/* Adds gs * d(sum of the SSIM map)/dx to gx and likewise for y (either may be NULL). */
static void ssim_image_grad(const float *x, const float *y, float *gx, float *gy, double gs,
                            const ssim_state *v, const double *win, double *tmp, bool par)
{
    int64_t h = v->h, w = v->w, hv = h - WIN + 1, wv = w - WIN + 1, tv = hv * wv, th = h * wv;
    double *m = tmp + 5 * th, c1, c2;
    ssim_constants(y, h * w, v->data_range, &c1, &c2);
    ssim_stats(x, y, h, w, win, tmp, m, par);
    /* Derivative maps over the valid region, written over the statistics: slots 0..3 =
     * d/d mu_x, d/d mu_y, d/d E[x^2] (= d/d E[y^2]), d/d E[xy]. */
#pragma omp parallel for schedule(static) if (par && tv > 4096)
    for (int64_t i = 0; i < tv; i++) {
        double d[4];
        ssim_at(m[i], m[tv + i], m[2 * tv + i], m[3 * tv + i], m[4 * tv + i], c1, c2, d);
        for (int q = 0; q < 4; q++)
            m[q * tv + i] = gs * d[q];
    }
    /* Transposed valid filtering: vertical scatter into [h, wv], then horizontal. */
#pragma omp parallel for schedule(static) if (par && h * w > 4096)
    for (int64_t rr = 0; rr < h; rr++) {
        int64_t klo = rr - hv + 1 > 0 ? rr - hv + 1 : 0, khi = rr < WIN - 1 ? rr : WIN - 1;
        for (int q = 0; q < 4; q++)
            for (int64_t j = 0; j < wv; j++) {
                double s = 0;
                for (int64_t k = klo; k <= khi; k++)
                    s += win[k] * m[q * tv + (rr - k) * wv + j];
                tmp[q * th + rr * wv + j] = s;
            }
    }
#pragma omp parallel for schedule(static) if (par && h * w > 4096)
    for (int64_t rr = 0; rr < h; rr++)
        for (int64_t c = 0; c < w; c++) {
            int64_t klo = c - wv + 1 > 0 ? c - wv + 1 : 0, khi = c < WIN - 1 ? c : WIN - 1;
            double f[4] = {0, 0, 0, 0};
            for (int64_t k = klo; k <= khi; k++)
                for (int q = 0; q < 4; q++)
                    f[q] += win[k] * tmp[q * th + rr * wv + c - k];
            int64_t o = rr * w + c;
            if (gx)
                gx[o] += (float)(f[0] + 2.0 * x[o] * f[2] + y[o] * f[3]);
            if (gy)
                gy[o] += (float)(f[1] + 2.0 * y[o] * f[2] + x[o] * f[3]);
        }
}

/* Threads for a batch: one image per thread when there are several images, else one team
 * inside the image (fewer, larger parallel regions; each thread has its own scratch). */
static int ssim_threads(int64_t images)
{
    int nt = omp_get_max_threads();
    return images < nt ? (int)(images > 0 ? images : 1) : nt;
}

static hg_status ssim_backward(hg_ctx *ctx, hg_node *nd)
{
    const ssim_state *v = nd->state;
    hg_tensor *p = nd->in[0], *t = nd->in[1];
    float *gp = hg_needs_grad(nd, 0) ? hg_grad(ctx, p) : NULL;
    float *gt = hg_needs_grad(nd, 1) ? hg_grad(ctx, t) : NULL;
    if ((hg_needs_grad(nd, 0) && !gp) || (hg_needs_grad(nd, 1) && !gt))
        return hg_error_status();
    int nt = ssim_threads(v->images);
    size_t per = ssim_scratch(v->h, v->w);
    double *scratch = hg_ctx_alloc(ctx, (size_t)nt * per * sizeof(double));
    if (!scratch)
        return hg_error_status();
    double win[WIN];
    gauss_window(win);
    int64_t hw = v->h * v->w, tv = (v->h - WIN + 1) * (v->w - WIN + 1);
    double gs = -(double)nd->out->grad[0] / ((double)v->images * (double)tv);
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int64_t img = 0; img < v->images; img++)
        ssim_image_grad(p->data + img * hw, t->data + img * hw, gp ? gp + img * hw : NULL,
                        gt ? gt + img * hw : NULL, gs, v, win,
                        scratch + (size_t)omp_get_thread_num() * per, nt == 1);
    return HG_OK;
}

hg_tensor *hg_ssim_loss(hg_ctx *ctx, hg_tensor *pred, hg_tensor *target, float data_range)
{
    const char *op = "ssim_loss";
    HG_PROPAGATE_NULL(pred, target);
    if (!hg_require_real(op, pred) || !hg_require_real(op, target) ||
        !hg_require_rank(op, pred, 2, HG_MAX_DIMS) || !hg__same_shape(op, pred, target))
        return NULL;
    ssim_state v = {.h = pred->shape[pred->ndim - 2], .w = pred->shape[pred->ndim - 1],
                    .data_range = data_range};
    if (v.h < WIN || v.w < WIN) {
        char s[96];
        hg_error(HG_ERR_INVALID, "%s: %s %s: images must be at least %d x %d (the window), got "
                 "%lld x %lld", op, hg_tensor_label(pred), hg_shape_str(pred, s, sizeof s), WIN,
                 WIN, (long long)v.h, (long long)v.w);
        return NULL;
    }
    if (!isfinite(data_range)) {
        hg_error(HG_ERR_INVALID, "%s: data_range must be finite, got %g", op, (double)data_range);
        return NULL;
    }
    v.images = pred->numel / (v.h * v.w);
    int nt = ssim_threads(v.images);
    size_t per = ssim_scratch(v.h, v.w);
    double *scratch = hg__scratch(ctx, (size_t)nt * per * sizeof(double));
    if (!scratch)
        return NULL;
    double win[WIN], total = 0.0;
    gauss_window(win);
    int64_t hw = v.h * v.w;
#pragma omp parallel for num_threads(nt) reduction(+ : total) schedule(dynamic) if (nt > 1)
    for (int64_t img = 0; img < v.images; img++)
        total += ssim_image(pred->data + img * hw, target->data + img * hw, &v, win,
                            scratch + (size_t)omp_get_thread_num() * per, nt == 1);
    hg__scratch_free(ctx, scratch);
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    out->data[0] = (float)(1.0 - total / (double)v.images);
    hg_tensor *in[2] = {pred, target};
    hg_node *node;
    if (hg__record(ctx, op, ssim_backward, out, 2, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(ssim_state *)node->state = v;
    return out;
}
