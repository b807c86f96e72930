/* End to end on a tiny synthetic NIfTI data set, through the commands a user runs:
 *   hinge plan ds -o plan.json
 *   hinge train unet --data ds --plan plan.json -o m.safetensors
 *   hinge segment --model m.safetensors held_out.nii.gz -o seg.nii.gz
 * The held-out case is written at another spacing and shape than the training cases (same
 * anatomy in millimetres), so segment must resample to the plan's spacing and back: the label
 * map must have the input's grid and match the truth (Dice). Bad data sets fail naming the
 * case. */
#include "../seg_dataset_util.h"

#include "hinge/seg_metrics.h"
#include "hinge/seg_plan.h"

#include <stdlib.h>

static hg_test_case_spec spec(uint64_t seed)
{
    return (hg_test_case_spec){.nx = 24, .ny = 20, .nz = 12, .sx = 1.5, .sy = 1.5, .sz = 3.0,
                               .classes = 2, .seed = seed};
}

static bool file_contains(const char *path, const char *needle)
{
    unsigned char *text;
    size_t n;
    if (hg_read_file(path, 1 << 20, &text, &n) != HG_OK)
        return false;
    char *s = malloc(n + 1);
    memcpy(s, text, n);
    s[n] = 0;
    free(text);
    bool found = strstr(s, needle) != NULL;
    free(s);
    return found;
}

int main(void)
{
    const char *ds = hg_test_tmp("cli_plan_ds");
    REQUIRE(hg_test_run("rm -rf '%s'", ds) == 0);
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "case%d", i);
        hg_test_case_spec c = spec((uint64_t)i + 1);
        hg_test_write_case(ds, name, &c);
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/dataset.json", ds);
    hg_test_write_text(p, "{\"labels\": {\"background\": 0, \"organ\": 1}, \"modality\": "
                          "\"MR\", \"validation\": [\"case7\"]}");

    /* plan */
    const char *plan = hg_test_tmp("cli_plan.json");
    CHECK(hg_test_run("%s plan %s --features 4 --threads 2 -o %s 2>/dev/null", HINGE_BINARY, ds,
                      plan) == 0);
    hg_seg_plan pl;
    CHECK_OK(hg_seg_plan_read(plan, &pl));
    CHECK(pl.dims == 3 && pl.features[0] == 4 && pl.target_spacing[0] == 3.0 &&
          pl.target_spacing[2] == 1.5 && strcmp(pl.normalization, "zscore") == 0);
    CHECK(file_contains(plan, "\"fingerprint\"") && file_contains(plan, "class_fraction"));

    /* train: best (validation) and last models, both carrying the plan */
    const char *model = hg_test_tmp("cli_plan_m.safetensors");
    const char *last = hg_test_tmp("cli_plan_m.last.safetensors");
    remove(model);
    remove(last);
    CHECK(hg_test_run("OMP_WAIT_POLICY=passive %s train unet --data %s --plan %s --steps 150 "
                      "--eval-every 50 --lr 1e-2 --threads 2 --quiet -o %s > %s", HINGE_BINARY,
                      ds, plan, model, hg_test_tmp("cli_plan_train.txt")) == 0);
    CHECK(file_contains(hg_test_tmp("cli_plan_train.txt"), "best"));
    hg_metadata extra;
    hg_metadata_init(&extra);
    hg_model *m = hg_model_load(model, &extra);
    REQUIRE(m);
    bool found = false;
    hg_seg_plan mp;
    CHECK_OK(hg_seg_plan_from_metadata(&extra, &mp, &found));
    CHECK(found && memcmp(mp.patch, pl.patch, sizeof pl.patch) == 0);
    const char *val = hg_metadata_get(&extra, "train.val_dice");
    CHECK_MSG(val && atof(val) > 0.8, "validation Dice %s", val ? val : "missing");
    hg_model_free(m);
    hg_metadata_free(&extra);
    hg_model *ml = hg_model_load(last, NULL);
    CHECK(ml != NULL);
    hg_model_free(ml);

    /* segment a held-out case at another grid: 36 x 30 x 18 voxels of 1 x 1 x 2 mm */
    hg_test_case_spec h = {.nx = 36, .ny = 30, .nz = 18, .sx = 1.0, .sy = 1.0, .sz = 2.0,
                           .classes = 2, .seed = 99};
    int64_t shape[3] = {h.nz, h.ny, h.nx};
    hg_tensor *img = hg_tensor_new(NULL, HG_F32, 3, shape);
    hg_tensor *truth = hg_tensor_new(NULL, HG_F32, 3, shape);
    hg_test_render_case(&h, img, truth);
    const char *in = hg_test_tmp("cli_plan_held.nii.gz"), *out = hg_test_tmp("cli_plan_seg.nii.gz");
    hg_test_write_nifti(in, img, (double[]){h.sx, h.sy, h.sz});
    CHECK(hg_test_run("%s segment --model %s --threads 2 %s -o %s", HINGE_BINARY, model, in,
                      out) == 0);
    hg_image seg;
    hg_image_init(&seg);
    CHECK_OK(hg_nifti_read(out, &seg));
    REQUIRE(seg.data && seg.data->numel == truth->numel);
    CHECK(seg.data->shape[0] == 18 && seg.data->shape[2] == 36 && seg.spacing[2] == 2.0);
    double dice[2];
    CHECK_OK(hg_dice_multiclass(seg.data, truth, 2, dice));
    printf("held-out case at another spacing: Dice %.4f\n", dice[1]);
    CHECK_MSG(dice[1] > 0.85, "held-out Dice %.4f", dice[1]);
    hg_image_free(&seg);
    hg_tensor_free(img);
    hg_tensor_free(truth);

    /* bad data: a label map on another grid, named with its case */
    hg_test_case_spec bad = spec(50);
    bad.sx = 1.4;
    char lab[1024];
    snprintf(lab, sizeof lab, "%s/labelsTr/case3.nii.gz", ds);
    hg_tensor *bi = hg_tensor_new(NULL, HG_F32, 3, (int64_t[]){bad.nz, bad.ny, bad.nx});
    hg_tensor *bl = hg_tensor_new(NULL, HG_F32, 3, (int64_t[]){bad.nz, bad.ny, bad.nx});
    hg_test_render_case(&bad, bi, bl);
    hg_test_write_nifti(lab, bl, (double[]){bad.sx, bad.sy, bad.sz});
    const char *err = hg_test_tmp("cli_plan_err.txt");
    CHECK(hg_test_run("%s plan %s -o %s 2> %s", HINGE_BINARY, ds, hg_test_tmp("x.json"), err) ==
          1);
    CHECK_MSG(file_contains(err, "case case3: image imagesTr/case3_0000.nii.gz and its label "
                                 "map differ in geometry"), "stderr of plan lacks the case");
    CHECK(hg_test_run("%s train unet --data %s --plan %s --steps 1 -o %s 2> %s", HINGE_BINARY,
                      ds, plan, hg_test_tmp("y.safetensors"), err) == 1);
    CHECK(file_contains(err, "case case3"));
    CHECK(hg_test_run("%s train unet --data %s --plan %s --steps 1 2>/dev/null", HINGE_BINARY,
                      ds, hg_test_tmp("no_such_plan.json")) == 1);
    /* unet without a plan is a usage error that says what is missing */
    CHECK(hg_test_run("%s train unet --steps 1 2> %s", HINGE_BINARY, err) == 2);
    CHECK(file_contains(err, "--data DIR --plan FILE"));
    hg_tensor_free(bi);
    hg_tensor_free(bl);
    return hg_test_finish("test_cli_plan");
}
