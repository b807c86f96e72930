/* Every shipped model reproduces its documented test result to 0.1 dB, through the commands a
 * user runs (models/<name>.json holds the protocol's result; models/README.md the protocol):
 *   hinge phantom shepp-logan --size 128 -o sl.nii.gz
 *   hinge simulate ct --angles 30 --detectors 183 --det-spacing 1 --noise gaussian:0.05 --seed 0 sl.nii.gz -o y.nii.gz
 *   hinge recon --model lpd-ellipse y.nii.gz -o lpd.nii.gz
 * and the PSNR of lpd.nii.gz against sl.nii.gz (data range = max of the phantom). The shipped
 * MRI model (models/<name>.json, "slice_psnr") likewise, on the held-out Colin27 slice 110:
 *   hinge phantom colin27 --size 64 --slice 110 -o t1.nii.gz
 *   hinge simulate mri --coils 8 --mask random --accel 4 --center 0.08 --noise 0.002 --seed 110 t1.nii.gz -o k.nii.gz
 *   hinge recon --model <name> k.nii.gz -o x.nii.gz
 * and checks that 8x k-space is refused (skipped when Colin27 is not installed). */
#include "hinge/mri_learned.h"
#include "test_util.h"

#include <cJSON.h>
#include <unistd.h>

static double psnr_of(const char *ref, const char *img)
{
    hg_image a, b;
    hg_image_init(&a);
    hg_image_init(&b);
    double p = -1;
    if (hg_nifti_read(ref, &a) != HG_OK || hg_nifti_read(img, &b) != HG_OK ||
        hg_psnr(b.data, a.data, 0, &p) != HG_OK)
        p = -1;
    hg_image_free(&a);
    hg_image_free(&b);
    return p;
}

static double documented(const char *doc, const char *key)
{
    unsigned char *text;
    size_t n;
    REQUIRE(hg_read_file(doc, 1 << 20, &text, &n) == HG_OK);
    cJSON *j = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    REQUIRE(cJSON_IsNumber(v));
    double d = v->valuedouble;
    cJSON_Delete(j);
    return d;
}

static void check_mri_model(const char *name)
{
    char doc[512];
    snprintf(doc, sizeof doc, HINGE_FIXTURES "/../../models/%s.json", name);
    if (access(doc, R_OK) != 0)
        return;
    if (access(HG_COLIN27_PATH, R_OK) != 0) {
        printf("test_shipped_models: %s skipped (no %s; apt-get install mricron-data)\n", name,
               HG_COLIN27_PATH);
        return;
    }
    double want = documented(doc, "slice_psnr");
    const char *t = hg_test_tmp("ship_t1.nii.gz"), *k = hg_test_tmp("ship_k.nii.gz");
    const char *x = hg_test_tmp("ship_mri.nii.gz"), *k8 = hg_test_tmp("ship_k8.nii.gz");
    CHECK(hg_test_run("%s phantom colin27 --size 64 --slice 110 -o %s", HINGE_BINARY, t) == 0);
    CHECK(hg_test_run("%s simulate mri --coils 8 --mask random --accel 4 --center 0.08 --noise "
                      "0.002 --seed 110 %s -o %s", HINGE_BINARY, t, k) == 0);
    CHECK(hg_test_run("%s recon --model %s %s -o %s", HINGE_BINARY, name, k, x) == 0);
    double p = psnr_of(t, x);
    CHECK_MSG(fabs(p - want) <= 0.1, "%s: PSNR %.3f dB, documented %.3f dB", name, p, want);
    /* 8x k-space (4% centre lines) is refused. */
    CHECK(hg_test_run("%s simulate mri --coils 8 --mask random --accel 8 --center 0.04 --seed 110 "
                      "%s -o %s", HINGE_BINARY, t, k8) == 0);
    CHECK(hg_test_run("%s recon --model %s %s -o %s 2>/dev/null", HINGE_BINARY, name, k8,
                      hg_test_tmp("ship_bad8.nii.gz")) == 1);
}

int main(void)
{
    check_mri_model("varnet-t1-4x");
    check_mri_model("modl-t1-4x");
    const char *doc = HINGE_FIXTURES "/../../models/lpd-ellipse.json";
    unsigned char *text;
    size_t n;
    if (access(doc, R_OK) != 0) {
        printf("test_shipped_models: no shipped CT model\n");
        return hg_test_finish("test_shipped_models");
    }
    REQUIRE(hg_read_file(doc, 1 << 20, &text, &n) == HG_OK);
    cJSON *j = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "shepp_logan_psnr");
    REQUIRE(cJSON_IsNumber(v));
    double documented = v->valuedouble;
    cJSON_Delete(j);
    const char *sl = hg_test_tmp("ship_sl.nii.gz"), *y = hg_test_tmp("ship_y.nii.gz");
    const char *x = hg_test_tmp("ship_lpd.nii.gz");
    CHECK(hg_test_run("%s phantom shepp-logan --size 128 -o %s", HINGE_BINARY, sl) == 0);
    CHECK(hg_test_run("%s simulate ct --angles 30 --detectors 183 --det-spacing 1 --noise "
                      "gaussian:0.05 --seed 0 %s -o %s", HINGE_BINARY, sl, y) == 0);
    CHECK(hg_test_run("%s recon --model lpd-ellipse %s -o %s", HINGE_BINARY, y, x) == 0);
    double p = psnr_of(sl, x);
    CHECK_MSG(fabs(p - documented) <= 0.1, "lpd-ellipse: PSNR %.3f dB, documented %.3f dB", p,
              documented);
    /* A sinogram of another geometry is refused, naming both angle counts. */
    const char *y60 = hg_test_tmp("ship_y60.nii.gz");
    CHECK(hg_test_run("%s simulate ct --angles 60 --detectors 183 --det-spacing 1 %s -o %s",
                      HINGE_BINARY, sl, y60) == 0);
    CHECK(hg_test_run("%s recon --model lpd-ellipse %s -o %s 2>/dev/null", HINGE_BINARY, y60,
                      hg_test_tmp("ship_bad.nii.gz")) == 1);
    return hg_test_finish("test_shipped_models");
}
