/* Shape broadcasting for the binary elementwise ops. */
#include "ops/op_util.h"

#include <stdio.h>

hg_status hg_broadcast_shapes(const char *op, const hg_tensor *a, const hg_tensor *b,
                              hg_broadcast *bc)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    memset(bc, 0, sizeof *bc);
    bc->ndim = nd;
    int64_t sa = 1, sb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t na = da >= 0 ? a->shape[da] : 1, nb = db >= 0 ? b->shape[db] : 1;
        if (na != nb && na != 1 && nb != 1) {
            char s1[96], s2[96];
            return hg_error(HG_ERR_INVALID,
                            "%s: shapes of %s %s and %s %s do not broadcast (dimension %d: %lld "
                            "vs %lld)",
                            op, hg_tensor_label(a), hg_shape_str(a, s1, sizeof s1),
                            hg_tensor_label(b), hg_shape_str(b, s2, sizeof s2), d,
                            (long long)na, (long long)nb);
        }
        bc->shape[d] = na > nb ? na : nb;
        bc->stride_a[d] = na == 1 ? 0 : sa;
        bc->stride_b[d] = nb == 1 ? 0 : sb;
        sa *= na;
        sb *= nb;
    }
    bc->numel = hg_shape_numel(nd, bc->shape);
    bc->same = a->numel == bc->numel && b->numel == bc->numel;
    return HG_OK;
}
