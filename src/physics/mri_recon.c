/* CG-SENSE on the SENSE normal operator, with hg_cg from src/solvers. */
#include "physics/mri_internal.h"

#include <string.h>

hg_status hg_mri_cg_sense(const hg_tensor *kspace, const hg_tensor *sens, const hg_tensor *mask,
                          double lambda, const hg_solver_opts *opts, hg_tensor *image,
                          hg_solver_info *info)
{
    char a[96], b[96];
    if (!kspace || !sens || !image)
        return hg_error(HG_ERR_INVALID, "cg-sense: NULL k-space, maps or image");
    if (kspace->dtype != HG_C64 || !hg_shape_equal(kspace, sens))
        return hg_error(HG_ERR_INVALID,
                        "cg-sense: k-space %s %s must be complex of the maps' shape %s %s "
                        "(coils: %lld vs %lld)",
                        hg_tensor_label(kspace), hg_shape_str(kspace, a, sizeof a),
                        hg_tensor_label(sens), hg_shape_str(sens, b, sizeof b),
                        (long long)kspace->shape[0], (long long)sens->shape[0]);
    hg_linop *op = hg_linop_sense(sens, mask);
    if (!op)
        return hg_error_status();
    hg_status s = hg_check_shape(image, op->in_ndim, op->in_shape);
    if (s == HG_OK && image->dtype != HG_C64)
        s = hg_error(HG_ERR_INVALID, "cg-sense: image %s must be complex",
                     hg_tensor_label(image));
    float *rhs = s == HG_OK ? hg_malloc((size_t)hg_linop_in_floats(op) * sizeof(float)) : NULL;
    if (s == HG_OK && !rhs)
        s = HG_ERR_NOMEM;
    if (s == HG_OK)
        s = hg_linop_adjoint(op, kspace->data, rhs);
    if (s == HG_OK) {
        /* hg_cg iterates on the operator's forward: use the normal operator as a square op. */
        hg_linop *normal = hg_linop_new("sense-normal", HG_C64, op->in_ndim, op->in_shape,
                                        HG_C64, op->in_ndim, op->in_shape);
        if (!normal) {
            s = hg_error_status();
        } else {
            normal->forward = op->normal;
            normal->adjoint = op->normal;
            normal->normal = NULL;
            normal->data = op->data;
            s = hg_cg(normal, rhs, image->data, lambda, opts, info);
            hg_linop_free(normal); /* destroy is NULL: op keeps its data */
        }
    }
    hg_free(rhs);
    hg_linop_free(op);
    return s;
}
