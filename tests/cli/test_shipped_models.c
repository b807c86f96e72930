/* Every shipped model reproduces its documented test result (0.1 dB for PSNR, 0.01 for Dice)
 * through the commands a user runs (models/<name>.json holds the protocol's result;
 * models/README.md the protocol). lpd-ellipse:
 *   hinge phantom shepp-logan --size 128 -o sl.nii.gz
 *   hinge simulate ct --angles 30 --detectors 183 --det-spacing 1 --noise gaussian:0.05 --seed 0 sl.nii.gz -o y.nii.gz
 *   hinge recon --model lpd-ellipse y.nii.gz -o lpd.nii.gz
 * and the PSNR of lpd.nii.gz against sl.nii.gz (data range = max of the phantom).
 * brain-mask (needs mricron-data's Colin27; skipped with a message without it):
 *   hinge segment --model brain-mask /usr/share/mricron/templates/ch2.nii.gz -o mask.nii.gz
 * and the Dice / HD95 of mask.nii.gz against ch2bet.nii.gz > 0; brain-structures likewise
 * against the AAL atlas grouped into six structures (mean Dice). The shipped MRI model
 * (models/<name>.json, "slice_psnr") likewise, on the held-out Colin27 slice 110:
 *   hinge phantom colin27 --size 64 --slice 110 -o t1.nii.gz
 *   hinge simulate mri --coils 8 --mask random --accel 4 --center 0.08 --noise 0.002 --seed 110 t1.nii.gz -o k.nii.gz
 *   hinge recon --model <name> k.nii.gz -o x.nii.gz
 * and checks that 8x k-space is refused (skipped when Colin27 is not installed). */
#include "hinge/mri_learned.h"
#include "test_util.h"

#include <cJSON.h>
#include <string.h>
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

/* The number `key` of models/<doc>; false when the file does not exist. */
static bool documented_number(const char *doc, const char *key, double *value)
{
    unsigned char *text;
    size_t n;
    if (access(doc, R_OK) != 0)
        return false;
    REQUIRE(hg_read_file(doc, 1 << 20, &text, &n) == HG_OK);
    cJSON *j = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    REQUIRE(cJSON_IsNumber(v));
    *value = v->valuedouble;
    cJSON_Delete(j);
    return true;
}

#define COLIN "/usr/share/mricron/templates"

static void test_brain_mask(void)
{
    double dice_doc, hd_doc;
    if (!documented_number(HINGE_FIXTURES "/../../models/brain-mask.json", "colin27_dice",
                           &dice_doc)) {
        printf("test_shipped_models: brain-mask is not shipped; skipped\n");
        return;
    }
    REQUIRE(documented_number(HINGE_FIXTURES "/../../models/brain-mask.json", "colin27_hd95_mm",
                              &hd_doc));
    if (access(COLIN "/ch2.nii.gz", R_OK) != 0) {
        printf("test_shipped_models: brain-mask skipped: Colin27 (mricron-data) is not "
               "installed (tools/install-deps.sh)\n");
        return;
    }
    const char *mask = hg_test_tmp("ship_brain_mask.nii.gz");
    CHECK(hg_test_run("%s segment --model brain-mask %s/ch2.nii.gz -o %s", HINGE_BINARY, COLIN,
                      mask) == 0);
    hg_image a, b;
    hg_image_init(&a);
    hg_image_init(&b);
    CHECK_OK(hg_nifti_read(mask, &a));
    CHECK_OK(hg_nifti_read(COLIN "/ch2bet.nii.gz", &b));
    REQUIRE(a.data && b.data && a.data->numel == b.data->numel);
    for (int64_t i = 0; i < b.data->numel; i++)
        b.data->data[i] = b.data->data[i] > 0 ? 1.0f : 0.0f;
    hg_seg_scores sc;
    CHECK_OK(hg_seg_scores_compute(a.data, b.data, 1, 3, a.spacing, &sc));
    printf("brain-mask on Colin27: Dice %.4f (documented %.4f), HD95 %.2f mm (documented "
           "%.2f)\n", sc.dice, dice_doc, sc.hd95, hd_doc);
    CHECK_MSG(fabs(sc.dice - dice_doc) <= 0.01, "brain-mask: Dice %.4f, documented %.4f",
              sc.dice, dice_doc);
    CHECK_MSG(fabs(sc.hd95 - hd_doc) <= 0.5, "brain-mask: HD95 %.2f mm, documented %.2f",
              sc.hd95, hd_doc);
    hg_image_free(&a);
    hg_image_free(&b);
    /* a 2-D image is refused by the 3-D model, naming both */
    const char *sl = hg_test_tmp("ship_brain_2d.nii.gz"), *err = hg_test_tmp("ship_brain.err");
    CHECK(hg_test_run("%s phantom shepp-logan --size 64 -o %s", HINGE_BINARY, sl) == 0);
    CHECK(hg_test_run("%s segment --model brain-mask %s -o %s 2> %s", HINGE_BINARY, sl,
                      hg_test_tmp("ship_brain_bad.nii.gz"), err) == 1);
    unsigned char *text;
    size_t n;
    REQUIRE(hg_read_file(err, 1 << 16, &text, &n) == HG_OK);
    text = realloc(text, n + 1);
    text[n] = 0;
    CHECK_MSG(hg_test_contains((const char *)text, "the model is 3-D, the image is 2-D"),
              "stderr: %s", (const char *)text);
    free(text);
}

/* brain-structures: the AAL atlas of Colin27 grouped into six structures, as
 * tools/experiments/make_colin_dataset.py GROUPS does (region name prefixes -> label). */
static const struct {
    int label;
    const char *prefix;
} aal_groups[] = {
    {1, "Precentral"}, {1, "Frontal_"}, {1, "Rolandic_Oper"}, {1, "Supp_Motor_Area"},
    {1, "Olfactory"}, {1, "Rectus"}, {1, "Paracentral_Lobule"}, {1, "Insula"},
    {1, "Cingulum_Ant"}, {1, "Cingulum_Mid"}, {2, "Postcentral"}, {2, "Parietal_"},
    {2, "SupraMarginal"}, {2, "Angular"}, {2, "Precuneus"}, {2, "Cingulum_Post"},
    {3, "Temporal_"}, {3, "Heschl"}, {3, "Hippocampus"}, {3, "ParaHippocampal"},
    {3, "Amygdala"}, {3, "Fusiform"}, {4, "Calcarine"}, {4, "Cuneus"}, {4, "Lingual"},
    {4, "Occipital_"}, {5, "Caudate"}, {5, "Putamen"}, {5, "Pallidum"}, {5, "Thalamus"},
    {6, "Cerebelum_"}, {6, "Vermis_"},
};

/* The grouped AAL label map of Colin27 (1 mm) into *truth; false when a region is unknown. */
static bool aal_structures(hg_image *truth)
{
    float lut[256] = {0};
    FILE *f = fopen(COLIN "/aal.nii.txt", "r");
    REQUIRE(f);
    char line[256], name[128];
    int idx, unknown = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%d %127s", &idx, name) == 2 && idx > 0 && idx < 256) {
            for (size_t g = 0; g < sizeof aal_groups / sizeof *aal_groups && !lut[idx]; g++)
                if (!strncmp(name, aal_groups[g].prefix, strlen(aal_groups[g].prefix)))
                    lut[idx] = (float)aal_groups[g].label;
            unknown += lut[idx] == 0;
        }
    fclose(f);
    hg_image_init(truth);
    REQUIRE(hg_nifti_read(COLIN "/aal.nii.gz", truth) == HG_OK);
    for (int64_t i = 0; i < truth->data->numel; i++) {
        float v = truth->data->data[i];
        truth->data->data[i] = v >= 1 && v < 256 ? lut[(int)v] : 0.0f;
    }
    return unknown == 0;
}

/* brain-structures on Colin27 at 1 mm (the input is resampled to the plan's 3 mm inside
 * hinge segment, so this takes seconds): the mean Dice of the six structures to 0.01. */
static void test_brain_structures(void)
{
    const char *doc = HINGE_FIXTURES "/../../models/brain-structures.json";
    double mean_doc;
    if (!documented_number(doc, "colin27_mean_dice", &mean_doc)) {
        printf("test_shipped_models: brain-structures is not shipped; skipped\n");
        return;
    }
    if (access(COLIN "/aal.nii.gz", R_OK) != 0) {
        printf("test_shipped_models: brain-structures skipped: Colin27/AAL (mricron-data) is "
               "not installed\n");
        return;
    }
    const char *seg = hg_test_tmp("ship_structures.nii.gz");
    CHECK(hg_test_run("%s segment --model brain-structures %s/ch2.nii.gz -o %s", HINGE_BINARY,
                      COLIN, seg) == 0);
    hg_image a, truth;
    hg_image_init(&a);
    CHECK(aal_structures(&truth));
    CHECK_OK(hg_nifti_read(seg, &a));
    REQUIRE(a.data && truth.data && a.data->numel == truth.data->numel);
    double dice[7], mean = 0;
    CHECK_OK(hg_dice_multiclass(a.data, truth.data, 7, dice));
    for (int k = 1; k < 7; k++)
        mean += dice[k] / 6;
    printf("brain-structures on Colin27: Dice %.3f %.3f %.3f %.3f %.3f %.3f, mean %.4f "
           "(documented %.4f)\n", dice[1], dice[2], dice[3], dice[4], dice[5], dice[6], mean,
           mean_doc);
    CHECK_MSG(fabs(mean - mean_doc) <= 0.01, "brain-structures: mean Dice %.4f, documented %.4f",
              mean, mean_doc);
    hg_image_free(&a);
    hg_image_free(&truth);
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
    double want;
    REQUIRE(documented_number(doc, "slice_psnr", &want));
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
    test_brain_mask();
    test_brain_structures();
    double documented;
    if (!documented_number(HINGE_FIXTURES "/../../models/lpd-ellipse.json", "shepp_logan_psnr",
                           &documented)) {
        printf("test_shipped_models: lpd-ellipse is not shipped; skipped\n");
        return hg_test_finish("test_shipped_models");
    }
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
