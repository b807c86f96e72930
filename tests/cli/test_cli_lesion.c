/* The CAD pieces end to end on synthetic backgrounds: `hinge lesions` writes exactly the
 * library's samples; `hinge train resnet18|unet --task lesion` trains and writes models that
 * describe their data; `hinge classify` on resnet18 models (2-D and 3-D): scores equal the
 * library's forward + softmax, the ECE equals a count done here, the reliability diagram and
 * CAM overlays are written; and bad requests fail with clear messages. */
#include "hinge/image.h"
#include "hinge/lesion.h"
#include "test_util.h"

#include <cJSON.h>
#include <string.h>
#include <unistd.h>

#define NIMG 12
#define SIZE 32

static hg_tensor *read_nifti(const char *path)
{
    hg_image img;
    hg_image_init(&img);
    if (hg_nifti_read(path, &img) != HG_OK)
        return NULL;
    hg_tensor *t = img.data;
    img.data = NULL;
    hg_image_free(&img);
    return t;
}

static void test_lesions_command(const char *dir)
{
    CHECK(hg_test_run("rm -rf %s && %s lesions --data synthetic --size %d --count %d --seed 7 "
                      "--lesion contrast_min=0.4 -o %s 2>/dev/null", dir, HINGE_BINARY, SIZE,
                      NIMG, dir) == 0);
    /* the files are the library's samples of the same options */
    hg_lesion_source src;
    CHECK_OK(hg_lesion_source_synthetic(60, SIZE, 0, &src));
    hg_lesion_opts o = hg_lesion_opts_default(SIZE);
    o.contrast_min = 0.4f;
    hg_tensor *x = hg_new(NULL, 1, SIZE, SIZE), *m = hg_new(NULL, SIZE, SIZE);
    int64_t differ = 0, present = 0;
    char path[1024];
    for (int i = 0; i < NIMG; i++) {
        hg_lesion_info li;
        CHECK_OK(hg_lesion_sample(&o, &src, true, 7, i, x, m, &li));
        snprintf(path, sizeof path, "%s/images/lesion_%04d.nii.gz", dir, i);
        hg_tensor *fx = read_nifti(path);
        snprintf(path, sizeof path, "%s/masks/lesion_%04d.nii.gz", dir, i);
        hg_tensor *fm = read_nifti(path);
        REQUIRE(fx && fm && fx->numel == x->numel && fm->numel == m->numel);
        differ += memcmp(fx->data, x->data, (size_t)x->numel * 4) != 0;
        differ += memcmp(fm->data, m->data, (size_t)m->numel * 4) != 0;
        present += li.present;
        hg_tensor_free(fx), hg_tensor_free(fm);
    }
    CHECK(differ == 0);
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    char *labels = hg_test_slurp(path);
    int lines = 0, ones = 0;
    for (char *p = labels; *p; p++)
        if (*p == '\n') {
            lines++;
            ones += p[-1] == '1';
        }
    CHECK(lines == NIMG + 1 && ones == present);
    free(labels);
    hg_tensor_free(x), hg_tensor_free(m);
    hg_lesion_source_free(&src);
    CHECK(hg_test_run("%s lesions --data synthetic --lesion bogus=1 -o %s/x 2>/dev/null",
                      HINGE_BINARY, dir) == 2);
}

static void test_train(const char *dir)
{
    const char *cls = hg_test_tmp("lesion_resnet.safetensors");
    const char *seg = hg_test_tmp("lesion_unet.safetensors");
    const char *log = hg_test_tmp("lesion_train.json");
    CHECK(hg_test_run("%s train resnet18 --task lesion --data synthetic --size %d --set width=2 "
                      "--set stem=small --steps 6 --batch 4 --val-count 16 --threads 1 --quiet "
                      "--json -o %s > %s", HINGE_BINARY, SIZE, cls, log) == 0);
    char *text = hg_test_slurp(log);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cJSON *auc = cJSON_GetObjectItem(j, "val_auc");
    CHECK(cJSON_IsNumber(auc) && auc->valuedouble >= 0 && auc->valuedouble <= 1);
    cJSON_Delete(j);
    hg_metadata meta;
    hg_metadata_init(&meta);
    hg_model *m = hg_model_load(cls, &meta);
    REQUIRE(m);
    CHECK(strcmp(m->arch->name, "resnet18") == 0);
    CHECK(hg_metadata_get(&meta, "lesion.options") != NULL);
    CHECK(hg_metadata_get(&meta, "train.val_auc") != NULL);
    hg_model_free(m);
    hg_metadata_free(&meta);
    CHECK(hg_test_run("%s train unet --task lesion --data synthetic --size %d --set features=4,8 "
                      "--set residual=1 --set deep_supervision=1 --steps 4 --batch 2 "
                      "--val-count 8 --threads 1 --quiet -o %s > /dev/null", HINGE_BINARY,
                      SIZE, seg) == 0);
    hg_metadata_init(&meta);
    m = hg_model_load(seg, &meta);
    REQUIRE(m);
    CHECK(hg_metadata_get(&meta, "train.val_dice") != NULL);
    CHECK(hg_params_get(&m->params, "ds1.weight") == NULL); /* 2 levels: no auxiliary head */
    hg_model_free(m);
    hg_metadata_free(&meta);
    /* the trained classifier through hinge classify on the exported data set */
    CHECK(hg_test_run("cd %s && %s classify --model %s --labels labels.csv images/*.nii.gz "
                      "> out.txt && grep -q 'AUC .*ECE' out.txt", dir, HINGE_BINARY, cls) == 0);
    /* usage errors */
    CHECK(hg_test_run("%s train lpd --task lesion --data synthetic --steps 1 2>/dev/null",
                      HINGE_BINARY) == 2);
    CHECK(hg_test_run("%s train resnet18 --task tumour --steps 1 2>/dev/null", HINGE_BINARY) == 2);
    CHECK(hg_test_run("%s train resnet18 --task lesion --data /nonexistent.nii.gz --steps 1 "
                      "2> %s", HINGE_BINARY, log) == 1);
    CHECK(hg_test_run("grep -q 'lesion source: T1' %s", log) == 0);
}

/* resnet18 also trains on the IDX classification task (Fashion-MNIST when installed). */
static void test_train_idx(void)
{
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("SKIP resnet18 on Fashion-MNIST: dataset-fashion-mnist not installed\n");
        return;
    }
    const char *log = hg_test_tmp("resnet_fmnist.json");
    CHECK(hg_test_run("%s train resnet18 --set width=2 --set stem=small --steps 3 --batch 8 "
                      "--train-limit 64 --val-limit 32 --threads 1 --quiet --json > %s",
                      HINGE_BINARY, log) == 0);
    CHECK(hg_test_run("grep -q '\"arch\": \"resnet18\".*\"val_accuracy\"' %s", log) == 0);
}

/* hinge classify with a random 2-D resnet18: scores, ECE, reliability PNG, overlays. */
static void test_classify(void)
{
    const char *model = hg_test_tmp("cls_resnet.safetensors");
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "width", "2");
    hg_model *m = hg_model_create("resnet18", &c, 11);
    hg_metadata_free(&c);
    REQUIRE(m);
    /* a larger fc bias spreads the scores over the bins */
    hg_test_fill(hg_params_get(&m->params, "fc.weight"), 3, -3.0f, 3.0f);
    CHECK_OK(hg_model_save(m, model, NULL));
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    char files[NIMG][1024], args[NIMG * 1030] = "";
    float p1[NIMG], lab[NIMG];
    const char *labels = hg_test_tmp("cls_resnet_labels.csv");
    FILE *lf = fopen(labels, "w");
    REQUIRE(lf);
    for (int i = 0; i < NIMG; i++) {
        snprintf(files[i], sizeof files[i], "%s", hg_test_tmp(""));
        snprintf(files[i] + strlen(files[i]), sizeof files[i] - strlen(files[i]),
                 "cls_resnet%d.nii.gz", i);
        hg_image img;
        hg_image_init(&img);
        img.data = hg_new(NULL, 40, 36);
        hg_test_fill(img.data, 300 + (uint64_t)i, 0.0f, 1.0f + (float)i);
        CHECK_OK(hg_nifti_write(files[i], &img, NULL));
        hg_ctx_reset(ctx);
        hg_tensor *x = hg_new(ctx, 1, 1, 40, 36);
        memcpy(x->data, img.data->data, sizeof(float) * 40 * 36);
        hg_tensor *y = hg_softmax(ctx, hg_model_forward(m, ctx, x), 1);
        REQUIRE(y);
        p1[i] = y->data[1];
        lab[i] = (float)(i % 3 == 0);
        fprintf(lf, "%s,%d\n", strrchr(files[i], '/') + 1, (int)lab[i]);
        hg_image_free(&img);
        strcat(args, " ");
        strcat(args, files[i]);
    }
    fclose(lf);
    /* ECE by hand: 10 bins [k/10, (k+1)/10), 1.0 in the last */
    double conf[10] = {0}, freq[10] = {0}, cnt[10] = {0}, ece = 0;
    for (int i = 0; i < NIMG; i++) {
        int b = (int)(p1[i] * 10);
        b = b > 9 ? 9 : b;
        conf[b] += p1[i], freq[b] += lab[i], cnt[b]++;
    }
    for (int b = 0; b < 10; b++)
        if (cnt[b] > 0)
            ece += fabs(freq[b] - conf[b]) / NIMG;
    const char *out = hg_test_tmp("cls_resnet.json"), *rel = hg_test_tmp("cls_rel.png");
    const char *ovl = hg_test_tmp("cls_overlay");
    CHECK(hg_test_run("rm -rf %s && %s classify --json --model %s --labels %s --threshold 0.3 "
                      "--reliability %s --overlay %s --replicates 200 %s > %s", ovl,
                      HINGE_BINARY, model, labels, rel, ovl, args, out) == 0);
    char *text = hg_test_slurp(out);
    cJSON *j = cJSON_Parse(text);
    free(text);
    REQUIRE(j);
    cJSON *imgs = cJSON_GetObjectItem(j, "images"), *e = cJSON_GetObjectItem(j, "evaluation");
    double max_diff = 0;
    int positives_at = 0;
    for (int i = 0; i < NIMG; i++) {
        cJSON *sc = cJSON_GetObjectItem(cJSON_GetArrayItem(imgs, i), "scores");
        double got = cJSON_GetArrayItem(sc, 1)->valuedouble;
        max_diff = fmax(max_diff, fabs(got - p1[i]));
        positives_at += lab[i] > 0 && p1[i] >= 0.3f;
    }
    double got_ece = cJSON_GetObjectItem(e, "ece")->valuedouble;
    printf("classify resnet18: max |score - library| %.2e; ECE %.6f (by hand %.6f)\n", max_diff,
           got_ece, ece);
    CHECK(max_diff < 1e-6);
    CHECK_NEAR(got_ece, ece, 1e-6);
    CHECK(cJSON_GetObjectItem(e, "threshold")->valuedouble == 0.3);
    CHECK(cJSON_GetObjectItem(e, "tp")->valuedouble == positives_at);
    cJSON_Delete(j);
    CHECK(hg_test_run("test -s %s && test $(ls %s/*.png | wc -l) -eq %d && "
                      "test -s %s/cls_resnet0.png", rel, ovl, NIMG, ovl) == 0);
    /* errors: reliability without labels; overlay of a non-resnet; a 3-D image for a 2-D net */
    CHECK(hg_test_run("%s classify --model %s --reliability %s %s 2>/dev/null >/dev/null",
                      HINGE_BINARY, model, rel, files[0]) == 2);
    const char *vol = hg_test_tmp("cls_vol.nii.gz"), *err = hg_test_tmp("cls_err.txt");
    hg_image img;
    hg_image_init(&img);
    img.data = hg_new(NULL, 3, 8, 16, 16);
    CHECK_OK(hg_nifti_write(vol, &img, NULL));
    hg_image_free(&img);
    CHECK(hg_test_run("%s classify --model %s %s 2> %s >/dev/null", HINGE_BINARY, model, vol,
                      err) == 1);
    CHECK(hg_test_run("grep -q 'the model takes 2-D images with 1 channel(s)' %s", err) == 0);
    hg_ctx_free(ctx);
    hg_model_free(m);

    /* 3-D resnet18: a volume in, the library's scores out */
    hg_metadata_init(&c);
    hg_metadata_set(&c, "width", "2");
    hg_metadata_set(&c, "dims", "3");
    hg_metadata_set(&c, "classes", "3");
    m = hg_model_create("resnet18", &c, 12);
    hg_metadata_free(&c);
    REQUIRE(m);
    const char *model3 = hg_test_tmp("cls_resnet3.safetensors");
    CHECK_OK(hg_model_save(m, model3, NULL));
    hg_image_init(&img);
    img.data = hg_new(NULL, 12, 16, 20);
    hg_test_fill(img.data, 5, 0.0f, 1.0f);
    const char *v3 = hg_test_tmp("cls_v3.nii.gz");
    CHECK_OK(hg_nifti_write(v3, &img, NULL));
    ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_tensor *x = hg_new(ctx, 1, 1, 12, 16, 20);
    memcpy(x->data, img.data->data, sizeof(float) * (size_t)x->numel);
    hg_tensor *y = hg_softmax(ctx, hg_model_forward(m, ctx, x), 1);
    REQUIRE(y);
    CHECK(hg_test_run("%s classify --csv --model %s %s > %s", HINGE_BINARY, model3, v3, out) == 0);
    text = hg_test_slurp(out);
    double a = -1, b = -1, cc = -1;
    char *line = strchr(text, '\n'); /* after the header: file,prediction,p0,p1,p2 */
    char *comma = line ? strchr(line + 1, ',') : NULL;
    CHECK(comma && sscanf(comma + 1, "%*d,%lf,%lf,%lf", &a, &b, &cc) == 3);
    CHECK(fabs(a - y->data[0]) < 1e-6 && fabs(b - y->data[1]) < 1e-6 &&
          fabs(cc - y->data[2]) < 1e-6);
    free(text);
    hg_image_free(&img);
    hg_ctx_free(ctx);
    hg_model_free(m);
}

int main(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", hg_test_tmp("lesion_set"));
    test_lesions_command(dir);
    test_train(dir);
    test_train_idx();
    test_classify();
    return hg_test_finish("test_cli_lesion");
}
