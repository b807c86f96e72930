/* hinge train <recon arch> and hinge recon --model end to end: a tiny LPD is trained from a
 * JSON config, reconstructs a sinogram of its geometry, and refuses one of another geometry,
 * a config with an unknown key, and a corrupt model file. */
#include "test_util.h"

#include <string.h>

int main(void)
{
    const char *bin = HINGE_BINARY;
    const char *cfg = hg_test_tmp("lpd.json"), *model = hg_test_tmp("lpd16.safetensors");
    const char *ph = hg_test_tmp("sl16.nii.gz"), *s8 = hg_test_tmp("s8.nii.gz");
    const char *s12 = hg_test_tmp("s12.nii.gz"), *out = hg_test_tmp("lpd_out.nii.gz");
    FILE *f = fopen(cfg, "w");
    REQUIRE(f);
    fprintf(f, "{\"model\": {\"size\": 16, \"angles\": 8, \"detectors\": 23, \"iterations\": 2,"
               " \"width\": 8}, \"steps\": 3, \"batch\": 2, \"val-count\": 2, \"quiet\": true}\n");
    fclose(f);
    CHECK(hg_test_run("%s train lpd --config %s -o %s > /dev/null", bin, cfg, model) == 0);
    CHECK(hg_test_run("%s phantom shepp-logan --size 16 -o %s", bin, ph) == 0);
    CHECK(hg_test_run("%s simulate ct --angles 8 --detectors 23 %s -o %s", bin, ph, s8) == 0);
    CHECK(hg_test_run("%s simulate ct --angles 12 --detectors 23 %s -o %s", bin, ph, s12) == 0);
    CHECK(hg_test_run("%s recon --model %s %s -o %s", bin, model, s8, out) == 0);
    hg_image img;
    hg_image_init(&img);
    CHECK_OK(hg_nifti_read(out, &img));
    CHECK(img.data && img.data->numel == 256);
    hg_image_free(&img);
    /* Wrong geometry: exit 1 with both angle counts in the message. */
    const char *err = hg_test_tmp("lpd_err.txt");
    CHECK(hg_test_run("%s recon --model %s %s -o %s 2> %s", bin, model, s12, out, err) == 1);
    unsigned char *msg = NULL;
    size_t n = 0;
    CHECK_OK(hg_read_file(err, 4096, &msg, &n));
    CHECK_MSG(msg && hg_test_contains((const char *)msg, "has 8 angles, the data's 12"), "got %s",
              msg ? (const char *)msg : "");
    free(msg);
    /* hinge info on a model file: architecture, geometry, parameter count. */
    const char *info = hg_test_tmp("lpd_info.txt");
    CHECK(hg_test_run("%s info %s > %s", bin, model, info) == 0);
    msg = NULL;
    CHECK_OK(hg_read_file(info, 1 << 16, &msg, &n));
    CHECK_MSG(msg && hg_test_contains((const char *)msg, "architecture lpd") &&
                  hg_test_contains((const char *)msg, "angles                   8"),
              "got %s", msg ? (const char *)msg : "");
    free(msg);
    /* Fan beam end to end: a model trained in the fan-flat geometry that hinge simulate uses
     * by default reconstructs that data and refuses parallel-beam data. */
    const char *fan = hg_test_tmp("lgd_fan16.safetensors"), *sf = hg_test_tmp("sf8.nii.gz");
    CHECK(hg_test_run("%s train lgd --set size=16 --set angles=8 --set detectors=23 --set "
                      "geometry=fan-flat --set iterations=2 --steps 2 --batch 2 --val-count 2 "
                      "--quiet -o %s > /dev/null", bin, fan) == 0);
    CHECK(hg_test_run("%s simulate ct --geometry fan-flat --angles 8 --detectors 23 %s -o %s "
                      "2> /dev/null", bin, ph, sf) == 0);
    CHECK(hg_test_run("%s recon --model %s %s -o %s", bin, fan, sf, out) == 0);
    CHECK(hg_test_run("%s recon --model %s %s -o %s 2> %s", bin, fan, s8, out, err) == 1);
    msg = NULL;
    CHECK_OK(hg_read_file(err, 4096, &msg, &n));
    CHECK_MSG(msg && hg_test_contains((const char *)msg, "is fan-flat, the data's parallel"),
              "got %s", msg ? (const char *)msg : "");
    free(msg);
    /* Unknown config key; corrupt model file. */
    CHECK(hg_test_run("%s train lpd --set size=16 --set angles=8 --set detectors=23 --set "
                      "channels=5 --steps 1 --quiet 2> /dev/null", bin) == 1);
    const char *bad = hg_test_tmp("bad.safetensors");
    f = fopen(bad, "w");
    REQUIRE(f);
    fprintf(f, "not a model");
    fclose(f);
    CHECK(hg_test_run("%s recon --model %s %s -o %s 2> /dev/null", bin, bad, s8, out) == 1);
    CHECK(hg_test_run("%s info %s 2> /dev/null", bin, bad) == 1);
    CHECK(hg_test_run("%s recon --model %s --method fbp %s -o %s 2> /dev/null", bin, model, s8,
                      out) == 2);
    return hg_test_finish("test_cli_learned");
}
