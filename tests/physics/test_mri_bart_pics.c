/* CG-SENSE against BART's own `pics -l2` on a BART phantom (fixture from
 * tools/fixtures/make_bart_pics_fixture.py): 8 coils, 64x64, ESPIRiT maps from bart ecalib,
 * 2x line undersampling + 16 centre lines, lambda 0.01, no data scaling (-w 1). */
#include "hinge/cfl.h"
#include "hinge/mri.h"
#include "test_util.h"

#include <math.h>

/* Drops BART's singleton dimensions: [c, 1, y, x] -> [c, y, x]. */
static void squeeze(hg_tensor *t)
{
    int nd = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != 1 || (i >= t->ndim - 2))
            t->shape[nd++] = t->shape[i];
    t->ndim = nd;
}

static double nrmse(const hg_tensor *a, const hg_tensor *ref)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < 2 * ref->numel; i++) {
        double d = (double)a->data[i] - ref->data[i];
        num += d * d;
        den += (double)ref->data[i] * ref->data[i];
    }
    return sqrt(num / den);
}

int main(void)
{
    int64_t dims[HG_CFL_DIMS];
    hg_tensor *k = hg_cfl_read(hg_test_fixture("mri/pics_ksp"), dims);
    hg_tensor *sens = hg_cfl_read(hg_test_fixture("mri/bart_maps"), dims);
    hg_tensor *ref = hg_cfl_read(hg_test_fixture("mri/pics_recon"), dims);
    REQUIRE(k && sens && ref);
    squeeze(k), squeeze(sens), squeeze(ref);
    hg_params fx;
    hg_test_load_fixture("mri/pics_mask.safetensors", &fx);
    hg_tensor *mask = hg_test_get(&fx, "mask");
    REQUIRE(k->ndim == 3 && sens->ndim == 3 && ref->ndim == 2);
    hg_tensor *x = hg_tensor_new(NULL, HG_C64, 2, ref->shape);
    hg_solver_opts o = {.max_iter = 100};
    hg_solver_info info;
    CHECK_OK(hg_mri_cg_sense(k, sens, mask, 0.01, &o, x, &info));
    double e = nrmse(x, ref);
    printf("CG-SENSE vs BART pics -l2: NRMSE %.3g after %d iterations\n", e, info.iterations);
    CHECK_MSG(e < 1e-3, "NRMSE %.3g against BART pics", e);
    /* The comparison can fail: a different lambda gives a different image. */
    hg_tensor_fill(x, 0);
    CHECK_OK(hg_mri_cg_sense(k, sens, mask, 1.0, &o, x, &info));
    CHECK(nrmse(x, ref) > 1e-2);
    hg_tensor_free(k), hg_tensor_free(sens), hg_tensor_free(ref), hg_tensor_free(x);
    hg_params_free(&fx);
    return hg_test_finish("test_mri_bart_pics");
}
