/* Synchronized batch normalization: hg_batch_norm with the batch statistics of the global
 * batch, all ranks together (PyTorch's SyncBatchNorm).
 *
 * Forward (training): per-channel sums are reduced over ranks for the mean, then the squared
 * deviations from that global mean (two passes, as hg_batch_norm, in double). Backward: the
 * sums of dy and dy*xhat are reduced for the input gradient; gamma and beta get this rank's
 * own sums, because the data-parallel trainer averages parameter gradients afterwards. With
 * one rank, or in eval mode, this is exactly hg_batch_norm. */
#include "dist_internal.h"

#include "hinge/autodiff.h"
#include "hinge/ops.h"
#include "ops/poolnorm_internal.h"

#include <math.h>
#include <stdatomic.h>

#ifdef HINGE_HAVE_MPI
#include <mpi.h>
#endif

static atomic_bool g_sync_bn = false;

void hg_dist_set_sync_batch_norm(bool on) { atomic_store(&g_sync_bn, on); }
bool hg_dist_sync_batch_norm(void) { return atomic_load(&g_sync_bn); }

typedef struct {
    int64_t n, c, inner;
    double m_total;       /* values per channel over all ranks */
    float *mean, *invstd; /* [c], global statistics */
    double *sums;         /* [2c] scratch for the backward reduction */
} sync_bn_state;

/* In-place sum of n doubles over ranks. */
static hg_status reduce_doubles(double *v, int64_t n, const char *what)
{
#ifdef HINGE_HAVE_MPI
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return hg_dist_mpi_error(rc, what);
#else
    (void)v, (void)n, (void)what;
#endif
    return HG_OK;
}

static hg_status sync_bn_backward(hg_ctx *ctx, hg_node *node)
{
    const sync_bn_state *st = node->state;
    hg_tensor *x = node->in[0], *gamma = node->in[1];
    float *gx = hg_needs_grad(node, 0) ? hg_grad(ctx, x) : NULL;
    float *gg = hg_needs_grad(node, 1) ? hg_grad(ctx, gamma) : NULL;
    float *gb = hg_needs_grad(node, 2) ? hg_grad(ctx, node->in[2]) : NULL;
    if ((hg_needs_grad(node, 0) && !gx) || (hg_needs_grad(node, 1) && !gg) ||
        (hg_needs_grad(node, 2) && !gb))
        return hg_error_status();
    const float *xd = x->data, *gy = node->out->grad;
    int64_t n = st->n, c = st->c, inner = st->inner;
    double *sg = st->sums, *sgx = st->sums + c;
#pragma omp parallel for schedule(dynamic) if (x->numel > 32768)
    for (int64_t ch = 0; ch < c; ch++) {
        float mu = st->mean[ch], is = st->invstd[ch];
        double a = 0.0, b = 0.0;
        for (int64_t k = 0; k < n; k++) {
            const float *xp = xd + (k * c + ch) * inner, *gp = gy + (k * c + ch) * inner;
#pragma omp simd reduction(+ : a, b)
            for (int64_t i = 0; i < inner; i++) {
                a += gp[i];
                b += (double)gp[i] * ((xp[i] - mu) * is);
            }
        }
        sg[ch] = a;
        sgx[ch] = b;
        if (gg)
            gg[ch] += (float)b;
        if (gb)
            gb[ch] += (float)a;
    }
    if (!gx)
        return HG_OK;
    hg_status s = reduce_doubles(st->sums, 2 * c, "sync_batch_norm backward allreduce");
    if (s != HG_OK)
        return s;
#pragma omp parallel for schedule(dynamic) if (x->numel > 32768)
    for (int64_t ch = 0; ch < c; ch++) {
        float mu = st->mean[ch], is = st->invstd[ch];
        float scale = (gamma ? gamma->data[ch] : 1.0f) * is;
        float a = (float)(sg[ch] / st->m_total), bcoef = (float)(sgx[ch] / st->m_total);
        for (int64_t k = 0; k < n; k++) {
            const float *xp = xd + (k * c + ch) * inner, *gp = gy + (k * c + ch) * inner;
            float *gxp = gx + (k * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++)
                gxp[i] += scale * (gp[i] - a - (xp[i] - mu) * is * bcoef);
        }
    }
    return HG_OK;
}

hg_tensor *hg_sync_batch_norm(hg_ctx *ctx, hg_tensor *x, hg_tensor *gamma, hg_tensor *beta,
                              hg_tensor *running_mean, hg_tensor *running_var, float momentum,
                              float eps)
{
    const char *op = "sync_batch_norm";
    if (!x || !ctx || !hg_ctx_training(ctx) || !hg_dist_active())
        return hg_batch_norm(ctx, x, gamma, beta, running_mean, running_var, momentum, eps);
    if (hg_batch_norm_check_args(op, x, gamma, beta, running_mean, running_var, momentum, eps) !=
        HG_OK)
        return NULL;
    int64_t n = x->shape[0], c = x->shape[1], inner = (n * c) != 0 ? x->numel / (n * c) : 0;
    hg_tensor *out = hg_tensor_empty(ctx, HG_F32, x->ndim, x->shape);
    float *mean = hg_ctx_alloc(ctx, (size_t)c * sizeof *mean);
    float *invstd = hg_ctx_alloc(ctx, (size_t)c * sizeof *invstd);
    double *sums = hg_ctx_alloc(ctx, (size_t)(2 * c + 1) * sizeof *sums);
    if (!out || !mean || !invstd || !sums)
        return NULL;
    const float *xd = x->data;
    /* pass 1: sums and the count, over ranks */
#pragma omp parallel for schedule(dynamic) if (x->numel > 32768)
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0.0;
        for (int64_t k = 0; k < n; k++)
#pragma omp simd reduction(+ : s)
            for (int64_t i = 0; i < inner; i++)
                s += xd[(k * c + ch) * inner + i];
        sums[ch] = s;
    }
    sums[2 * c] = (double)(n * inner);
    if (reduce_doubles(sums, c, "sync_batch_norm mean allreduce") != HG_OK ||
        reduce_doubles(sums + 2 * c, 1, "sync_batch_norm count allreduce") != HG_OK)
        return NULL;
    double m = sums[2 * c];
    if (m < 2) {
        hg_error(HG_ERR_INVALID, "%s of %s: expected more than 1 value per channel over all "
                 "ranks in training, got %g", op, hg_tensor_label(x), m);
        return NULL;
    }
    /* pass 2: squared deviations from the global mean, over ranks */
#pragma omp parallel for schedule(dynamic) if (x->numel > 32768)
    for (int64_t ch = 0; ch < c; ch++) {
        double mu = sums[ch] / m, ss = 0.0;
        for (int64_t k = 0; k < n; k++)
#pragma omp simd reduction(+ : ss)
            for (int64_t i = 0; i < inner; i++) {
                double d = xd[(k * c + ch) * inner + i] - mu;
                ss += d * d;
            }
        sums[c + ch] = ss;
    }
    if (reduce_doubles(sums + c, c, "sync_batch_norm variance allreduce") != HG_OK)
        return NULL;
    float *y = out->data;
#pragma omp parallel for schedule(dynamic) if (x->numel > 32768)
    for (int64_t ch = 0; ch < c; ch++) {
        double mu = sums[ch] / m, ss = sums[c + ch], var = ss / m;
        mean[ch] = (float)mu;
        invstd[ch] = (float)(1.0 / sqrt(var + (double)eps));
        if (running_mean) {
            running_mean->data[ch] =
                (float)((1.0 - momentum) * running_mean->data[ch] + momentum * mu);
            running_var->data[ch] =
                (float)((1.0 - momentum) * running_var->data[ch] + momentum * (ss / (m - 1)));
        }
        float g = gamma ? gamma->data[ch] : 1.0f, bt = beta ? beta->data[ch] : 0.0f;
        float scale = g * invstd[ch], shift = bt - mean[ch] * scale;
        for (int64_t k = 0; k < n; k++) {
            const float *xp = xd + (k * c + ch) * inner;
            float *yp = y + (k * c + ch) * inner;
            for (int64_t i = 0; i < inner; i++)
                yp[i] = xp[i] * scale + shift;
        }
    }
    hg_tensor *in[3] = {x, gamma, beta};
    hg_node *node = hg_tape_record(ctx, op, sync_bn_backward, out, 3, in);
    if (node) {
        sync_bn_state *st = hg_node_state(ctx, node, sizeof *st);
        if (!st)
            return NULL;
        *st = (sync_bn_state){n, c, inner, m, mean, invstd, sums};
        node->state = st;
    }
    return out;
}
