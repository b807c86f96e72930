/* reshape: a view sharing data; its gradient is the output gradient, reshaped back. */
#include "ops/op_util.h"

#include <stdio.h>

static hg_status reshape_backward(hg_ctx *ctx, hg_node *n)
{
    float *gx = hg_grad(ctx, n->in[0]);
    if (!gx)
        return hg_error_status();
    hg_accumulate(gx, n->out->grad, hg_tensor_nfloats(n->out));
    return HG_OK;
}

hg_tensor *hg_reshape(hg_ctx *ctx, hg_tensor *x, int ndim, const int64_t *shape)
{
    HG_PROPAGATE_NULL(x);
    if (ndim < 1 || ndim > HG_MAX_DIMS) {
        hg_error(HG_ERR_INVALID, "reshape of %s: rank %d outside 1..%d", hg_tensor_label(x), ndim,
                 HG_MAX_DIMS);
        return NULL;
    }
    int64_t s[HG_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1 && infer < 0)
            infer = i;
        else if (s[i] < 0) {
            hg_error(HG_ERR_INVALID, "reshape of %s: invalid size %lld at dimension %d",
                     hg_tensor_label(x), (long long)s[i], i);
            return NULL;
        } else
            known *= s[i];
    }
    if (infer >= 0)
        s[infer] = known ? x->numel / known : 0;
    if (hg_shape_numel(ndim, s) != x->numel) {
        char a[96];
        hg_error(HG_ERR_INVALID, "reshape of %s %s: %lld elements do not fit the new shape",
                 hg_tensor_label(x), hg_shape_str(x, a, sizeof a), (long long)x->numel);
        return NULL;
    }
    hg_tensor *out = hg_ctx_calloc(ctx, sizeof *out);
    if (!out)
        return NULL;
    out->dtype = x->dtype;
    out->ndim = ndim;
    memcpy(out->shape, s, (size_t)ndim * sizeof *s);
    out->numel = x->numel;
    out->data = x->data;
    out->ctx = ctx;
    out->flags = HG_TENSOR_VIEW;
    out->name = x->name;
    hg_tape_record(ctx, "reshape", reshape_backward, out, 1, &x);
    return out;
}
