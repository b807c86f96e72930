/* hinge classify end to end with a small random CNN saved here: the scores match the library's
 * forward + softmax and sum to 1, the AUC / sensitivity / specificity of --labels match counts
 * done here by hand (including labels ordered by score: AUC exactly 1 and 0), CSV output, and a
 * wrong-sized image fails naming both shapes. */
#include "hinge/image.h"
#include "hinge/nn.h"
#include "test_util.h"

#include <cJSON.h>
#include <math.h>
#include <string.h>

#define NIMG 10
#define S 8

static void write_labels(const char *path, char files[][1024], const int *lab)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fprintf(f, "file,label\n");
    for (int i = 0; i < NIMG; i++) /* base names: matched against the full paths */
        fprintf(f, "%s,%d\n", strrchr(files[i], '/') + 1, lab[i]);
    fclose(f);
}

/* Runs classify --json --labels and returns the parsed output (NULL on failure). */
static cJSON *run_json(const char *model, const char *labels, const char *args)
{
    char out[1024];
    snprintf(out, sizeof out, "%s", hg_test_tmp("cls_out.json"));
    if (hg_test_run("%s classify --json --model %s --labels %s --replicates 500 %s > %s",
                    HINGE_BINARY, model, labels, args, out) != 0)
        return NULL;
    char *text = hg_test_slurp(out);
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

int main(void)
{
    char model[1024], labels[1024], files[NIMG][1024], args[NIMG * 1030] = "";
    snprintf(model, sizeof model, "%s", hg_test_tmp("cls_cnn.safetensors"));
    snprintf(labels, sizeof labels, "%s", hg_test_tmp("cls_labels.csv"));
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "classes", "2");
    hg_metadata_set(&c, "features", "4");
    hg_metadata_set(&c, "size", "8");
    hg_metadata_set(&c, "hidden", "8");
    hg_model *m = hg_model_create("cnn", &c, 5);
    hg_metadata_free(&c);
    REQUIRE(m);
    CHECK_OK(hg_model_save(m, model, NULL));

    /* images: random textures, half of them brighter; the library's own scores for each */
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    double p1[NIMG];
    for (int i = 0; i < NIMG; i++) {
        snprintf(files[i], sizeof files[i], "%s", hg_test_tmp(""));
        snprintf(files[i] + strlen(files[i]), sizeof files[i] - strlen(files[i]),
                 "cls_img%d.nii.gz", i);
        hg_image img;
        hg_image_init(&img);
        img.data = hg_new(NULL, S, S);
        hg_test_fill(img.data, 100 + (uint64_t)i, i % 2 ? 0.5f : -1.f, i % 2 ? 2.f : 0.5f);
        CHECK_OK(hg_nifti_write(files[i], &img, NULL));
        hg_ctx_reset(ctx);
        hg_tensor *x = hg_new(ctx, 1, 1, S, S);
        memcpy(x->data, img.data->data, sizeof(float) * S * S);
        hg_tensor *y = hg_model_forward(m, ctx, x);
        REQUIRE(y && y->numel == 2);
        p1[i] = 1 / (1 + exp((double)y->data[0] - (double)y->data[1]));
        hg_image_free(&img);
        strcat(args, files[i]);
        strcat(args, " ");
    }
    hg_ctx_free(ctx);
    hg_model_free(m);

    /* truth: odd images are positive */
    int lab[NIMG];
    for (int i = 0; i < NIMG; i++)
        lab[i] = i % 2;
    write_labels(labels, files, lab);
    cJSON *j = run_json(model, labels, args);
    REQUIRE(j);
    const cJSON *imgs = cJSON_GetObjectItem(j, "images");
    REQUIRE(cJSON_GetArraySize(imgs) == NIMG);
    double score[NIMG], maxdiff = 0;
    for (int i = 0; i < NIMG; i++) {
        const cJSON *sc = cJSON_GetObjectItem(cJSON_GetArrayItem(imgs, i), "scores");
        double a = cJSON_GetArrayItem(sc, 0)->valuedouble, b = cJSON_GetArrayItem(sc, 1)->valuedouble;
        CHECK_NEAR(a + b, 1.0, 1e-9);
        score[i] = b;
        maxdiff = fmax(maxdiff, fabs(b - p1[i]));
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(imgs, i), "prediction")->valueint == (b > a));
    }
    printf("classify: max |score - library forward softmax| = %.2e\n", maxdiff);
    CHECK(maxdiff < 1e-6);
    /* the AUC by pair counting, sensitivity/specificity by counting, here */
    double pairs = 0, wins = 0;
    int tp = 0, pos = 0, tn = 0, neg = 0;
    for (int i = 0; i < NIMG; i++) {
        pos += lab[i], neg += !lab[i];
        tp += lab[i] && score[i] >= 0.5, tn += !lab[i] && score[i] < 0.5;
        for (int k = 0; k < NIMG; k++)
            if (lab[i] && !lab[k]) {
                pairs++;
                wins += score[i] > score[k] ? 1 : score[i] == score[k] ? 0.5 : 0;
            }
    }
    const cJSON *e = cJSON_GetObjectItem(j, "evaluation");
    REQUIRE(e);
    double auc = cJSON_GetObjectItem(e, "auc")->valuedouble;
    double lo = cJSON_GetObjectItem(e, "auc_ci_lo")->valuedouble;
    double hi = cJSON_GetObjectItem(e, "auc_ci_hi")->valuedouble;
    printf("classify: AUC %.4f (hand %.4f), 95%% CI [%.4f, %.4f]\n", auc, wins / pairs, lo, hi);
    CHECK_NEAR(auc, wins / pairs, 1e-12);
    CHECK(lo <= auc && auc <= hi && lo >= 0 && hi <= 1);
    CHECK_NEAR(cJSON_GetObjectItem(e, "sensitivity")->valuedouble, (double)tp / pos, 1e-12);
    CHECK_NEAR(cJSON_GetObjectItem(e, "specificity")->valuedouble, (double)tn / neg, 1e-12);
    cJSON_Delete(j);

    /* labels ordered by score: the top half positive gives AUC 1, the reverse AUC 0 */
    for (int i = 0; i < NIMG; i++) {
        int rank = 0;
        for (int k = 0; k < NIMG; k++)
            rank += score[k] < score[i] || (score[k] == score[i] && k < i);
        lab[i] = rank >= NIMG / 2;
    }
    write_labels(labels, files, lab);
    j = run_json(model, labels, args);
    REQUIRE(j);
    CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "evaluation"), "auc")->valuedouble, 1.0,
               1e-12);
    cJSON_Delete(j);
    for (int i = 0; i < NIMG; i++)
        lab[i] = !lab[i];
    write_labels(labels, files, lab);
    j = run_json(model, labels, args);
    REQUIRE(j);
    CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "evaluation"), "auc")->valuedouble, 0.0,
               1e-12);
    cJSON_Delete(j);

    /* CSV: header + one row per image */
    char out[1024], err[1024];
    snprintf(out, sizeof out, "%s", hg_test_tmp("cls_out.csv"));
    snprintf(err, sizeof err, "%s", hg_test_tmp("cls_err.txt"));
    CHECK(hg_test_run("%s classify --csv --model %s %s > %s", HINGE_BINARY, model, args, out) == 0);
    char *text = hg_test_slurp(out);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK(lines == NIMG + 1 && hg_test_contains(text, "file,prediction,p0,p1"));
    free(text);

    /* failures: a wrong-sized image, a missing label, labels with a 10-class model */
    hg_image img;
    hg_image_init(&img);
    img.data = hg_new(NULL, S, S + 2);
    char wrong[1024];
    snprintf(wrong, sizeof wrong, "%s", hg_test_tmp("cls_wrong.nii.gz"));
    CHECK_OK(hg_nifti_write(wrong, &img, NULL));
    hg_image_free(&img);
    CHECK(hg_test_run("%s classify --model %s %s %s > /dev/null 2> %s", HINGE_BINARY, model,
                      files[0], wrong, err) == 1);
    text = hg_test_slurp(err);
    CHECK(hg_test_contains(text, "[8, 10]") && hg_test_contains(text, "[1, 8, 8]"));
    free(text);
    CHECK(hg_test_run("%s classify --model %s --labels %s %s %s > /dev/null 2> %s", HINGE_BINARY,
                      model, labels, files[0], wrong, err) == 1);
    FILE *f = fopen(labels, "w");
    REQUIRE(f);
    fprintf(f, "%s,1\n", files[0]);
    fclose(f);
    CHECK(hg_test_run("%s classify --model %s --labels %s %s %s > /dev/null 2> %s", HINGE_BINARY,
                      model, labels, files[0], files[1], err) == 1);
    text = hg_test_slurp(err);
    CHECK(hg_test_contains(text, "no label for"));
    free(text);
    return hg_test_finish("cli_classify");
}
