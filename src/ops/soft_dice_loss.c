/* soft_dice_loss: 1 - mean over classes c of (2 I_c + smooth) / (P_c + T_c + smooth), with
 * p = softmax(logits) over dim 1, I_c = sum p_c [t == c], P_c = sum p_c, T_c = #[t == c], all
 * sums over batch and space. include_background = false drops class 0 from the mean. A class
 * absent from target and prediction scores 1 through smooth; with smooth = 0 and an empty
 * denominator it scores 1 with zero gradient. */
#include "ops/actloss_internal.h"

typedef struct {
    int64_t n, c, s, first; /* first: 0, or 1 without background */
    float *p;               /* softmax probabilities [N, C, S], saved for backward */
    double *num, *den;      /* per class: 2 I_c + smooth and P_c + T_c + smooth */
} dice_state;

/* Fills num/den from p and the target: classes in turn, positions in parallel. */
static void dice_sums(const dice_state *v, const float *t, float smooth)
{
    int64_t len = v->n * v->s;
    for (int64_t c = 0; c < v->c; c++) {
        double inter = 0.0, psum = 0.0, tsum = 0.0;
#pragma omp parallel for reduction(+ : inter, psum, tsum) schedule(static) \
    if (len > HG__PAR_MIN)
        for (int64_t e = 0; e < len; e++) {
            int64_t b = e / v->s, i = e % v->s;
            float pc = v->p[(b * v->c + c) * v->s + i];
            psum += pc;
            if (t[e] == (float)c) {
                inter += pc;
                tsum += 1.0;
            }
        }
        v->num[c] = 2.0 * inter + smooth;
        v->den[c] = psum + tsum + smooth;
    }
}

/* d loss / d p_c at a position labelled `label`: f (2 [label == c] den_c - num_c) / den_c^2. */
static inline double dice_grad_p(const dice_state *v, double f, int64_t c, float label)
{
    if (c < v->first || !(v->den[c] > 0.0))
        return 0.0;
    double hit = label == (float)c ? 1.0 : 0.0;
    return f * (2.0 * hit * v->den[c] - v->num[c]) / (v->den[c] * v->den[c]);
}

static hg_status dice_backward(hg_ctx *ctx, hg_node *nd)
{
    const dice_state *v = nd->state;
    if (!hg_needs_grad(nd, 0))
        return HG_OK;
    float *gx = hg_grad(ctx, nd->in[0]);
    if (!gx)
        return hg_error_status();
    const float *t = nd->in[1]->data;
    double f = -(double)nd->out->grad[0] / (double)(v->c - v->first);
    /* The gradient with respect to p, then the softmax VJP p (gp - <gp, p>). */
#pragma omp parallel for collapse(2) schedule(static) if (v->n * v->c * v->s > HG__PAR_MIN)
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t i = 0; i < v->s; i++) {
            int64_t base = b * v->c * v->s + i;
            float label = t[b * v->s + i];
            double dot = 0.0; /* two passes over the classes instead of a per-class buffer */
            for (int64_t c = 0; c < v->c; c++)
                dot += dice_grad_p(v, f, c, label) * v->p[base + c * v->s];
            for (int64_t c = 0; c < v->c; c++) {
                double gp = dice_grad_p(v, f, c, label);
                gx[base + c * v->s] += (float)(v->p[base + c * v->s] * (gp - dot));
            }
        }
    return HG_OK;
}

hg_tensor *hg_soft_dice_loss(hg_ctx *ctx, hg_tensor *logits, hg_tensor *target, float smooth,
                             bool include_background)
{
    const char *op = "soft_dice_loss";
    HG_PROPAGATE_NULL(logits, target);
    if (!hg_require_real(op, logits) || !hg_require_rank(op, logits, 2, HG_MAX_DIMS) ||
        hg__check_class_target(op, logits, target) != HG_OK)
        return NULL;
    dice_state v = {.n = logits->shape[0], .c = logits->shape[1], .s = 1,
                    .first = include_background ? 0 : 1};
    for (int d = 2; d < logits->ndim; d++)
        v.s *= logits->shape[d];
    if (v.c - v.first < 1) {
        hg_error(HG_ERR_INVALID, "%s: logits %s: expected at least %d classes%s, got %lld", op,
                 hg_tensor_label(logits), 1 + (int)v.first,
                 include_background ? "" : " without background", (long long)v.c);
        return NULL;
    }
    if (!(smooth >= 0.0f) || !isfinite(smooth)) {
        hg_error(HG_ERR_INVALID, "%s: smooth must be >= 0 and finite, got %g", op,
                 (double)smooth);
        return NULL;
    }
    if (hg__check_labels(op, target, v.c, false, 0) != HG_OK)
        return NULL;
    hg_tensor *out = hg_new(ctx, 1);
    if (!out)
        return NULL;
    size_t pbytes = (size_t)logits->numel * sizeof(float);
    size_t sbytes = 2 * (size_t)v.c * sizeof(double);
    v.p = hg__scratch(ctx, pbytes);
    double *sums = v.p ? hg__scratch(ctx, sbytes) : NULL;
    if (!sums) {
        hg__scratch_free(ctx, v.p);
        return NULL;
    }
    v.num = sums, v.den = sums + v.c;
    const float *xd = logits->data;
#pragma omp parallel for collapse(2) schedule(static) if (logits->numel > HG__PAR_MIN)
    for (int64_t b = 0; b < v.n; b++)
        for (int64_t i = 0; i < v.s; i++) {
            int64_t base = b * v.c * v.s + i;
            hg__softmax_row(xd + base, v.p + base, v.c, v.s, false);
        }
    dice_sums(&v, target->data, smooth);
    double mean = 0.0;
    for (int64_t c = v.first; c < v.c; c++)
        mean += v.den[c] > 0.0 ? v.num[c] / v.den[c] : 1.0;
    out->data[0] = (float)(1.0 - mean / (double)(v.c - v.first));
    hg_tensor *in[2] = {logits, target};
    hg_node *node;
    hg_status st = hg__record(ctx, op, dice_backward, out, 2, in, sizeof v, &node);
    if (node)
        *(dice_state *)node->state = v; /* p and sums live in the context: kept */
    if (!ctx) {
        hg__scratch_free(ctx, v.p);
        hg__scratch_free(ctx, sums);
    }
    return st == HG_OK ? out : NULL;
}
