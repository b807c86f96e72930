/* hinge info / convert on DICOM: the series list of a directory, selecting a series, and a
 * DICOM series -> NIfTI conversion that keeps values and geometry. */
#include "hinge/dicom.h"
#include "test_util.h"

#include <cJSON.h>
#include <string.h>
#include <sys/stat.h>

#define SERIES_A "1.2.826.0.1.3680043.8.498.1"
#define SERIES_B "1.2.826.0.1.3680043.8.498.2"

static int run(char **out, char **err, const char *fmt, const char *a, const char *b)
{
    char args[2048];
    snprintf(args, sizeof args, fmt, a, b);
    char o[512], e[512];
    snprintf(o, sizeof o, "%s", hg_test_tmp("dcli.out"));
    snprintf(e, sizeof e, "%s", hg_test_tmp("dcli.err"));
    int rc = hg_test_run("%s %s > %s 2> %s", HINGE_BINARY, args, o, e);
    *out = hg_test_slurp(o);
    *err = hg_test_slurp(e);
    return rc;
}

int main(void)
{
    char dir[1024], nii[1024], json[1024];
    snprintf(dir, sizeof dir, "%s", hg_test_fixture("dicom/series"));
    snprintf(nii, sizeof nii, "%s", hg_test_tmp("dcli_a.nii.gz"));
    snprintf(json, sizeof json, "%s", hg_test_tmp("dcli_a.json"));
    char *out, *err;
    remove(nii); /* left by an earlier run of this test */
    remove(json);

    /* info on a directory lists both series and flags the irregular one. */
    CHECK(run(&out, &err, "info %s", dir, "") == 0);
    CHECK(hg_test_contains(out, SERIES_A) && hg_test_contains(out, SERIES_B));
    CHECK(hg_test_contains(out, "16 x 16 x 5") && hg_test_contains(out, "IRREGULAR"));
    free(out), free(err);

    /* --json --series: the series list plus the chosen volume's geometry. */
    CHECK(run(&out, &err, "info --json --series " SERIES_A " %s%s", dir, "") == 0);
    cJSON *o = cJSON_Parse(out);
    REQUIRE(o);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "series")) == 2);
    CHECK(!strcmp(cJSON_GetObjectItem(o, "format")->valuestring, "dicom"));
    const cJSON *sp = cJSON_GetObjectItem(o, "spacing");
    CHECK_NEAR(cJSON_GetArrayItem(sp, 2)->valuedouble, 2.5, 1e-4);
    cJSON_Delete(o);
    free(out), free(err);

    /* convert without --series: refused, naming the series; no output file. */
    CHECK(run(&out, &err, "convert %s %s", dir, nii) == 1);
    CHECK(hg_test_contains(err, "several series") && hg_test_contains(err, SERIES_B));
    struct stat st;
    CHECK(stat(nii, &st) != 0);
    free(out), free(err);

    /* convert a series: the NIfTI has the same values and affine as the DICOM read. */
    CHECK(run(&out, &err, "convert --series " SERIES_A " %s %s", dir, nii) == 0);
    free(out), free(err);
    hg_image d, n;
    hg_image_init(&d);
    hg_image_init(&n);
    CHECK_OK(hg_dicom_read(dir, SERIES_A, &d));
    CHECK_OK(hg_nifti_read(nii, &n));
    REQUIRE(d.data && n.data && d.data->numel == n.data->numel);
    double dv = 0, da = 0, ad[4][4], an[4][4];
    for (int64_t i = 0; i < d.data->numel; i++)
        dv = fmax(dv, fabs((double)d.data->data[i] - (double)n.data->data[i]));
    hg_image_affine(&d, ad);
    hg_image_affine(&n, an);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            da = fmax(da, fabs(ad[r][c] - an[r][c]));
    printf("DICOM -> NIfTI: values max |diff| %g, affine max |diff| %.3g\n", dv, da);
    CHECK_NEAR(dv, 0, 0);
    CHECK_NEAR(da, 0, 1e-5); /* the sform is stored as float32 */
    const char *mod = hg_image_meta_string(&n, "Modality");
    const char *uid = hg_image_meta_string(&n, "SeriesInstanceUID");
    CHECK(mod && !strcmp(mod, "CT") && uid && !strcmp(uid, SERIES_A));

    /* A label map made from the NIfTI goes back as a DICOM SEG of the source series. */
    for (int64_t i = 0; i < n.data->numel; i++)
        n.data->data[i] = n.data->data[i] > 1400 ? 1.0f : 0.0f;
    char lab[1024], seg[1024];
    snprintf(lab, sizeof lab, "%s", hg_test_tmp("dcli_lab.nii.gz"));
    snprintf(seg, sizeof seg, "%s", hg_test_tmp("dcli_seg.dcm"));
    hg_nifti_write_opts wo = {.datatype = HG_DT_UINT8};
    CHECK_OK(hg_nifti_write(lab, &n, &wo));
    /* --seg-source without an output: usage error. */
    CHECK(run(&out, &err, "convert --seg-source %s %s", dir, lab) == 2);
    free(out), free(err);
    char args[3072];
    snprintf(args, sizeof args, "convert --seg-source %s --series %s %s %s", dir, SERIES_A, lab,
             seg);
    CHECK(run(&out, &err, "%s%s", args, "") == 0);
    free(out), free(err);
    hg_image sg;
    hg_image_init(&sg);
    CHECK_OK(hg_dicom_read_seg(seg, &sg));
    REQUIRE(sg.data && sg.data->numel == n.data->numel);
    double ds = 0;
    for (int64_t i = 0; i < n.data->numel; i++)
        ds = fmax(ds, fabs((double)sg.data->data[i] - (double)n.data->data[i]));
    CHECK_NEAR(ds, 0, 0);
    hg_image_free(&sg);
    hg_image_free(&d);
    hg_image_free(&n);
    return hg_test_finish("cli_dicom");
}
