/* Every shipped model reproduces its documented test result to 0.1 dB, through the commands a
 * user runs (models/<name>.json holds the protocol's result; models/README.md the protocol):
 *   hinge phantom shepp-logan --size 128 -o sl.nii.gz
 *   hinge simulate ct --angles 30 --detectors 183 --det-spacing 1 --noise gaussian:0.05 --seed 0 sl.nii.gz -o y.nii.gz
 *   hinge recon --model lpd-ellipse y.nii.gz -o lpd.nii.gz
 * and the PSNR of lpd.nii.gz against sl.nii.gz (data range = max of the phantom). */
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

int main(void)
{
    const char *doc = HINGE_FIXTURES "/../../models/lpd-ellipse.json";
    unsigned char *text;
    size_t n;
    if (access(doc, R_OK) != 0) {
        printf("test_shipped_models: no shipped models; 0 passed, 0 failed\n");
        return 0;
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
