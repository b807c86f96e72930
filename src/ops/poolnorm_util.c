/* Shape and window geometry shared by the pooling, resampling and normalization ops. */
#include "ops/poolnorm_internal.h"

#include <stdio.h>

hg_status hg_planes_of(const char *op, const hg_tensor *x, hg_planes *p)
{
    if (!hg_require_real(op, x) || !hg_require_rank(op, x, 3, 5))
        return hg_error_status();
    p->sd = x->ndim - 2;
    p->n = x->shape[0];
    p->c = x->shape[1];
    p->plane = 1;
    for (int i = 0; i < 3; i++) {
        int d = i - (3 - p->sd); /* spatial dimension of x, or < 0 for a padded one */
        p->in[i] = d >= 0 ? x->shape[2 + d] : 1;
        p->plane *= p->in[i];
    }
    return HG_OK;
}

/* PyTorch's pooling_output_shape with dilation 1. */
static int64_t pooled_size(int64_t in, int k, int s, int p, bool ceil_mode)
{
    int64_t span = in + 2 * (int64_t)p - k + (ceil_mode ? s - 1 : 0);
    int64_t out = span / s + 1; /* span >= 0 here, so division rounds down */
    if (ceil_mode && (out - 1) * s >= in + p)
        out--; /* the last window would start inside the right padding */
    return out;
}

hg_status hg_pool_geometry(const char *op, const hg_tensor *x, const hg_pool_opts *opts,
                           hg_pool_geom *g)
{
    memset(g, 0, sizeof *g);
    if (!opts)
        return hg_error(HG_ERR_INVALID, "%s: options are NULL (a kernel size is required)", op);
    if (hg_planes_of(op, x, &g->x) != HG_OK)
        return hg_error_status();
    int sd = g->x.sd;
    g->count_include_pad = opts->count_include_pad;
    g->oplane = 1;
    for (int i = 0; i < 3; i++) {
        int d = i - (3 - sd);
        if (d < 0) {
            g->k[i] = g->s[i] = 1;
            g->p[i] = 0;
            g->out[i] = 1;
            continue;
        }
        int k = opts->kernel[d], s = opts->stride[d] ? opts->stride[d] : k, p = opts->padding[d];
        if (k < 1)
            return hg_error(HG_ERR_INVALID,
                            "%s of %s: kernel size of spatial dimension %d must be >= 1, got %d",
                            op, hg_tensor_label(x), d, k);
        if (s < 1)
            return hg_error(HG_ERR_INVALID,
                            "%s of %s: stride of spatial dimension %d must be >= 1 (0 for the "
                            "kernel size), got %d",
                            op, hg_tensor_label(x), d, s);
        if (p < 0 || 2 * p > k)
            return hg_error(HG_ERR_INVALID,
                            "%s of %s: padding of spatial dimension %d must be in [0, %d] (half "
                            "the kernel %d), got %d",
                            op, hg_tensor_label(x), d, k / 2, k, p);
        int64_t in = g->x.in[i];
        if (in < 1)
            return hg_error(HG_ERR_INVALID, "%s of %s: spatial dimension %d is empty", op,
                            hg_tensor_label(x), d);
        if (in + 2 * (int64_t)p < k) {
            char sh[96];
            return hg_error(HG_ERR_INVALID,
                            "%s of %s %s: kernel %d larger than the padded input %lld in spatial "
                            "dimension %d",
                            op, hg_tensor_label(x), hg_shape_str(x, sh, sizeof sh), k,
                            (long long)(in + 2 * (int64_t)p), d);
        }
        g->k[i] = k, g->s[i] = s, g->p[i] = p;
        g->out[i] = pooled_size(in, k, s, p, opts->ceil_mode);
        g->oplane *= g->out[i];
    }
    return HG_OK;
}

void hg_pool_out_shape(const hg_pool_geom *g, int64_t *shape)
{
    shape[0] = g->x.n;
    shape[1] = g->x.c;
    for (int d = 0; d < g->x.sd; d++)
        shape[2 + d] = g->out[3 - g->x.sd + d];
}

hg_status hg_check_channel_param(const char *op, const char *role, const hg_tensor *t, int64_t c)
{
    if (!t)
        return HG_OK;
    if (!hg_require_real(op, t))
        return hg_error_status();
    if (t->ndim != 1 || t->shape[0] != c) {
        char sh[96];
        return hg_error(HG_ERR_INVALID, "%s: %s '%s' must have shape [%lld] (one per channel), got %s",
                        op, role, hg_tensor_label(t), (long long)c,
                        hg_shape_str(t, sh, sizeof sh));
    }
    return HG_OK;
}
