/* split: n consecutive slices along dim with the given sizes (which must add up to the dim).
 * Each part is a slice op, so each carries its own gradient path. */
#include "ops/actloss_internal.h"

hg_status hg_split(hg_ctx *ctx, hg_tensor *x, int dim, int n, const int64_t *sizes,
                   hg_tensor **out)
{
    if (!x)
        return hg_error_status() != HG_OK ? hg_error_status()
                                          : hg_error(HG_ERR_INVALID, "split: input is NULL");
    if (n < 1 || !sizes || !out)
        return hg_error(HG_ERR_INVALID, "split of %s: expected n >= 1 parts with sizes and out, "
                        "got n = %d", hg_tensor_label(x), n);
    if (!hg__norm_dim("split", x, &dim))
        return HG_ERR_INVALID;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0)
            return hg_error(HG_ERR_INVALID, "split of %s: part %d has negative size %lld",
                            hg_tensor_label(x), i, (long long)sizes[i]);
        total += sizes[i];
    }
    if (total != x->shape[dim])
        return hg_error(HG_ERR_INVALID,
                        "split of %s: part sizes add up to %lld, expected dim %d's size %lld",
                        hg_tensor_label(x), (long long)total, dim, (long long)x->shape[dim]);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        out[i] = hg_slice(ctx, x, dim, at, at + sizes[i]);
        if (!out[i])
            return hg_error_status();
        at += sizes[i];
    }
    return HG_OK;
}
