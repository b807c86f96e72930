/* hinge segment end to end: a tiny U-Net trained here on the synthetic shapes, saved, and run
 * by the CLI on a NIfTI (and a DICOM series) of a held-out shapes image: Dice, geometry,
 * --tta, --largest-component on a planted speck, --list, and failures that leave no file. */
#include "hinge/dicom.h"
#include "hinge/image.h"
#include "hinge/seg_metrics.h"
#include "hinge/segment.h"
#include "test_util.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define N 48
#define CLASSES 3

static bool exists(const char *p) { return access(p, F_OK) == 0; }

static hg_model *train_unet(void)
{
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "dims", "2");
    hg_metadata_set(&c, "classes", "3");
    hg_metadata_set(&c, "features", "8,16");
    hg_model *m = hg_model_create("unet", &c, 1);
    hg_metadata_free(&c);
    REQUIRE(m);
    hg_augment_opts aug = {.p_flip = 0.5f, .p_rot90 = 0.5f, .p_noise = 0.5f, .noise_std = 0.05f};
    hg_seg_task st = {.shapes = {.ndim = 2, .size = {32, 32}, .classes = CLASSES, .objects = 2,
                                 .noise = 0.05f},
                      .data_seed = 42, .train_samples = 256, .batch = 8, .patch = {16, 16},
                      .fg_ratio = 0.5f, .augment = &aug};
    hg_task task = hg_seg_task_make(&st);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 100, o.lr = 1e-2, o.seed = 3;
    hg_train_result r;
    int threads = hg_get_threads();
    hg_set_threads(1); /* tiny tensors: see tests/nn/test_segment.c */
    CHECK_OK(hg_train(m, &task, &o, &r));
    hg_set_threads(threads);
    return m;
}

/* Mean foreground Dice of the label map in `path` against truth. */
static double dice_of(const char *path, const hg_tensor *truth, hg_image *out)
{
    hg_image_init(out);
    if (hg_nifti_read(path, out) != HG_OK || out->data->numel != truth->numel)
        return -1;
    double d[CLASSES];
    if (hg_dice_multiclass(out->data, truth, CLASSES, d) != HG_OK)
        return -1;
    return (d[1] + d[2]) / 2;
}

int main(void)
{
    char model[1024], in[1024], out[1024], bad[1024], two[1024], list[1024], dir[1024];
    snprintf(model, sizeof model, "%s", hg_test_tmp("seg_unet.safetensors"));
    snprintf(in, sizeof in, "%s", hg_test_tmp("seg_in.nii.gz"));
    snprintf(out, sizeof out, "%s", hg_test_tmp("seg_out.nii.gz"));
    snprintf(bad, sizeof bad, "%s", hg_test_tmp("seg_bad.nii.gz"));
    snprintf(two, sizeof two, "%s", hg_test_tmp("seg_two.nii.gz"));
    snprintf(list, sizeof list, "%s", hg_test_tmp("seg_list.txt"));
    snprintf(dir, sizeof dir, "%s", hg_test_tmp("seg_listout"));

    hg_model *m = train_unet();
    CHECK_OK(hg_model_save(m, model, NULL));
    hg_model_free(m);

    /* a held-out image (data set 7) of another size than training, with odd geometry */
    hg_shapes_opts so = {.ndim = 2, .size = {N, N}, .classes = CLASSES, .objects = 2,
                         .radius_min = 6, .radius_max = 11, .noise = 0.05f};
    hg_tensor *x, *y;
    CHECK_OK(hg_shapes_batch(&so, 7, 0, 1, NULL, &x, &y));
    hg_tensor *truth = hg_new(NULL, N, N), *clean = hg_new(NULL, N, N);
    memcpy(truth->data, y->data, sizeof(float) * N * N);
    memcpy(clean->data, y->data, sizeof(float) * N * N);
    /* plant a 3x3 speck of class-1 intensity in background, far from every object */
    int64_t sy = -1, sx = -1;
    for (int64_t cy = 4; cy < N - 4 && sy < 0; cy++)
        for (int64_t cx = 4; cx < N - 4 && sy < 0; cx++) {
            bool clear = true;
            for (int64_t dy = -4; dy <= 4; dy++)
                for (int64_t dx = -4; dx <= 4; dx++)
                    clear = clear && truth->data[(cy + dy) * N + cx + dx] == 0;
            if (clear)
                sy = cy, sx = cx;
        }
    REQUIRE(sy >= 0);
    hg_image img;
    hg_image_init(&img);
    img.data = hg_new(NULL, N, N);
    memcpy(img.data->data, x->data, sizeof(float) * N * N);
    for (int64_t dy = -1; dy <= 1; dy++)
        for (int64_t dx = -1; dx <= 1; dx++)
            img.data->data[(sy + dy) * N + sx + dx] = 0.6f, truth->data[(sy + dy) * N + sx + dx] = 1;
    CHECK_OK(hg_image_set_spacing(&img, 2, (const double[]){0.7, 0.8}));
    img.sform[0][3] = -12.5, img.sform[1][3] = 30.25, img.sform_code = 1;
    CHECK_OK(hg_nifti_write(in, &img, NULL));

    /* plain run: several 32x32 windows over the 48x48 image */
    remove(out);
    CHECK(hg_test_run("%s segment --model %s --normalize none --window 32 --overlap 0.5 %s -o %s",
                      HINGE_BINARY, model, in, out) == 0);
    hg_image o;
    double d_plain = dice_of(out, truth, &o);
    printf("segment: mean foreground Dice %.3f (plain)\n", d_plain);
    CHECK(d_plain > 0.8);
    CHECK(o.intent_code == 1002);
    CHECK_NEAR(o.spacing[0], 0.7, 1e-6);
    CHECK_NEAR(o.spacing[1], 0.8, 1e-6);
    CHECK(o.sform_code == 1);
    CHECK_NEAR(o.sform[0][3], -12.5, 1e-5);
    CHECK_NEAR(o.sform[1][3], 30.25, 1e-5);
    float speck_plain = o.data->data[sy * N + sx];
    printf("segment: planted speck labelled %g without --largest-component\n", (double)speck_plain);
    CHECK(speck_plain != 0); /* else the next check proves nothing */
    int64_t present = 0;
    for (int64_t i = 0; i < N * N; i++)
        present += o.data->data[i] == speck_plain && y->data[i] == speck_plain;
    CHECK(present > 9); /* the speck's class has a larger component elsewhere */
    hg_image_free(&o);

    /* the model's truth without the speck: --largest-component removes it */
    CHECK(hg_test_run("%s segment --model %s --normalize none --largest-component %s -o %s",
                      HINGE_BINARY, model, in, out) == 0);
    double d_lcc = dice_of(out, clean, &o);
    printf("segment: Dice %.3f against the speck-free truth with --largest-component\n", d_lcc);
    CHECK(d_lcc > 0.8);
    CHECK(o.data && o.data->data[sy * N + sx] == 0);
    hg_image_free(&o);

    /* test-time flips */
    CHECK(hg_test_run("%s segment --model %s --normalize none --tta %s -o %s", HINGE_BINARY,
                      model, in, out) == 0);
    double d_tta = dice_of(out, truth, &o);
    printf("segment: Dice %.3f with --tta\n", d_tta);
    CHECK(d_tta > 0.8);
    hg_image_free(&o);

    /* --list: two studies into a folder */
    FILE *f = fopen(list, "w");
    REQUIRE(f);
    fprintf(f, "%s\n%s\n", in, in);
    fclose(f);
    char listed[1100];
    snprintf(listed, sizeof listed, "%s/seg_in.nii.gz", dir);
    remove(listed);
    CHECK(hg_test_run("%s segment --model %s --normalize none --list %s -o %s 2>/dev/null",
                      HINGE_BINARY, model, list, dir) == 0);
    CHECK(dice_of(listed, truth, &o) > 0.8);
    hg_image_free(&o);

    /* failures: exit 1, no output */
    remove(out);
    hg_image_free(&img);
    hg_image_init(&img);
    img.data = hg_new(NULL, 2, 1, N, N); /* two channels along t; the model takes one */
    CHECK_OK(hg_nifti_write(two, &img, NULL));
    char err[1100];
    snprintf(err, sizeof err, "%s", hg_test_tmp("seg_err.txt"));
    CHECK(hg_test_run("%s segment --model %s %s -o %s 2>%s", HINGE_BINARY, model, two, out,
                      err) == 1);
    CHECK(!exists(out));
    unsigned char *msg = NULL;
    size_t msgn = 0;
    if (hg_read_file(err, 4096, &msg, &msgn) == HG_OK) {
        msg = realloc(msg, msgn + 1);
        msg[msgn] = 0;
        CHECK(hg_test_contains((char *)msg, "expects 1 input channel, the image has 2"));
        free(msg);
    } else {
        CHECK(!"no stderr");
    }
    CHECK(hg_test_run("%s segment --model %s/none.safetensors %s -o %s 2>/dev/null",
                      HINGE_BINARY, dir, in, out) == 1);
    CHECK(!exists(out));
    f = fopen(bad, "wb");
    REQUIRE(f);
    fprintf(f, "this is not a NIfTI file at all, just some bytes");
    fclose(f);
    CHECK(hg_test_run("%s segment --model %s %s -o %s 2>/dev/null", HINGE_BINARY, model, bad,
                      out) == 1);
    CHECK(!exists(out));
    CHECK(hg_test_run("%s segment --model %s %s -o %s.dcm 2>/dev/null", HINGE_BINARY, model, in,
                      out) == 1); /* DICOM SEG needs a DICOM input */
    CHECK(hg_test_run("%s segment --model %s --window 31 %s -o %s 2>/dev/null", HINGE_BINARY,
                      model, in, out) == 1); /* odd: not divisible by 2 (two levels) */
    CHECK(!exists(out));
    CHECK(hg_test_run("%s segment --model %s %s 2>/dev/null", HINGE_BINARY, model, in) == 2);

    hg_image_free(&img);
    hg_tensor_free(truth), hg_tensor_free(clean);
    hg_tensor_free(x), hg_tensor_free(y);
    return hg_test_finish("cli_segment");
}
