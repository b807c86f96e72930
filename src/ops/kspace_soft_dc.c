/* kspace_soft_dc: E2E-VarNet's soft data-consistency term eta * M (k - y), with the sampling
 * mask M [N, 1, *S] broadcast over coils and a learned scalar eta [1]. The mask is data (no
 * gradient). Backward: dk = eta M g, dy = -eta M g, deta = sum Re(conj(g) M (k - y)). */
#include "ops/mri_ops_internal.h"

typedef struct {
    int64_t n, c, s;
    const hg_tensor *mask;
} dc_state;

static hg_status dc_backward(hg_ctx *ctx, hg_node *n)
{
    const dc_state *v = n->state;
    const float *g = n->out->grad, *m = v->mask->data, *k = n->in[0]->data, *y = n->in[1]->data;
    float eta = n->in[2]->data[0];
    float *gk = hg_needs_grad(n, 0) ? hg_grad(ctx, n->in[0]) : NULL;
    float *gy = hg_needs_grad(n, 1) ? hg_grad(ctx, n->in[1]) : NULL;
    float *ge = hg_needs_grad(n, 2) ? hg_grad(ctx, n->in[2]) : NULL;
    if ((hg_needs_grad(n, 0) && !gk) || (hg_needs_grad(n, 1) && !gy) ||
        (hg_needs_grad(n, 2) && !ge))
        return hg_error_status();
    double deta = 0;
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t c = 0; c < v->c; c++) {
            int64_t base = (b * v->c + c) * v->s;
            const float *mb = m + b * v->s;
            for (int64_t i = 0; i < v->s; i++) {
                if (mb[i] == 0)
                    continue;
                for (int p = 0; p < 2; p++) {
                    int64_t at = 2 * (base + i) + p;
                    float w = mb[i] * g[at];
                    if (gk) gk[at] += eta * w;
                    if (gy) gy[at] -= eta * w;
                    deta += (double)w * ((double)k[at] - y[at]);
                }
            }
        }
    if (ge)
        ge[0] += (float)deta;
    return HG_OK;
}

hg_tensor *hg_kspace_soft_dc(hg_ctx *ctx, hg_tensor *k, hg_tensor *y, const hg_tensor *mask,
                             hg_tensor *eta)
{
    const char *op = "kspace_soft_dc";
    HG_PROPAGATE_NULL(k, y, mask, eta);
    if (!hg__mri_check(op, k, HG_C64, -1, -1, NULL) ||
        !hg__mri_check(op, y, HG_C64, k->shape[0], k->shape[1], k) ||
        !hg__mri_check(op, mask, HG_F32, k->shape[0], 1, k))
        return NULL;
    if (eta->dtype != HG_F32 || eta->numel != 1) {
        hg_error(HG_ERR_INVALID, "%s: %s must be a real scalar [1]", op, hg_tensor_label(eta));
        return NULL;
    }
    hg_tensor *out = hg_tensor_empty(ctx, HG_C64, k->ndim, k->shape);
    if (!out)
        return NULL;
    dc_state v = {k->shape[0], k->shape[1], hg__mri_spatial(k), mask};
    float e = eta->data[0];
#pragma omp parallel for collapse(2) schedule(static) if (k->numel > HG__PAR_MIN)
    for (int64_t b = 0; b < v.n; b++)
        for (int64_t c = 0; c < v.c; c++) {
            int64_t base = 2 * (b * v.c + c) * v.s;
            const float *mb = mask->data + b * v.s;
            for (int64_t i = 0; i < v.s; i++)
                for (int p = 0; p < 2; p++) {
                    int64_t at = base + 2 * i + p;
                    out->data[at] = e * mb[i] * (k->data[at] - y->data[at]);
                }
        }
    hg_tensor *in[3] = {k, y, eta};
    hg_node *node;
    if (hg__record(ctx, op, dc_backward, out, 3, in, sizeof v, &node) != HG_OK)
        return NULL;
    if (node)
        *(dc_state *)node->state = v;
    return out;
}
