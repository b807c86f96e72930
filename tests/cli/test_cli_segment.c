/* hinge segment end to end: a tiny U-Net trained here on the synthetic shapes, saved, and run
 * by the CLI on a NIfTI (and a DICOM series) of a held-out shapes image: Dice, geometry,
 * --tta, --largest-component on a planted speck, --list, and failures that leave no file. */
#include "hinge/dicom.h"
#include "hinge/image.h"
#include "hinge/seg_metrics.h"
#include "hinge/segment.h"
#include "test_util.h"

#include <cJSON.h>
#include <png.h>

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

/* Decodes a PNG as RGB into a fresh buffer; NULL on failure. */
static uint8_t *read_rgb(const char *path, int64_t *h, int64_t *w)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return NULL;
    im.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(im));
    if (buf && !png_image_finish_read(&im, NULL, buf, 0, NULL)) {
        free(buf);
        return NULL;
    }
    *h = im.height, *w = im.width;
    return buf;
}

/* --overlay: a 6 x 48 x 48 volume of shapes slices at 0.7 x 0.8 x 2.0 mm (x, y, z), segmented
 * slice by slice. Square pixels of 0.7 mm: axial 55 x 48 (48 * 0.8 / 0.7 = 54.9 rows),
 * coronal 17 x 48 (6 * 2 / 0.7 = 17.1), sagittal 17 x 55, padded to 55 rows, 4-pixel gaps:
 * 55 x 159. In the axial panel (row r shows y = 47 - r * 48 / 55, superior/anterior up) a
 * pixel is coloured exactly where the written label map is foreground: class 1 red-ish,
 * class 2 green-ish (the palette of hg_png_write_image); a 2-D input gives one panel. */
static void check_overlay(const char *model, const hg_shapes_opts *so)
{
    hg_tensor *x, *y;
    CHECK_OK(hg_shapes_batch(so, 21, 0, 6, NULL, &x, &y));
    hg_image vol;
    hg_image_init(&vol);
    vol.data = hg_new(NULL, 6, N, N);
    memcpy(vol.data->data, x->data, sizeof(float) * 6 * N * N);
    CHECK_OK(hg_image_set_spacing(&vol, 3, (const double[]){0.7, 0.8, 2.0}));
    char in[1024], out[1024], png[1024];
    snprintf(in, sizeof in, "%s", hg_test_tmp("seg_ov_in.nii.gz"));
    snprintf(out, sizeof out, "%s", hg_test_tmp("seg_ov_out.nii.gz"));
    snprintf(png, sizeof png, "%s", hg_test_tmp("seg_ov.png"));
    CHECK_OK(hg_nifti_write(in, &vol, NULL));
    remove(png);
    CHECK(hg_test_run("%s segment --model %s --normalize none %s -o %s --overlay %s",
                      HINGE_BINARY, model, in, out, png) == 0);
    hg_image lab;
    hg_image_init(&lab);
    int64_t h = 0, w = 0;
    uint8_t *rgb = read_rgb(png, &h, &w);
    REQUIRE(rgb && hg_nifti_read(out, &lab) == HG_OK && lab.data->numel == 6 * N * N);
    printf("segment --overlay: %lld x %lld pixels (expected 55 x 159)\n", (long long)h,
           (long long)w);
    CHECK(h == 55 && w == 159);
    int64_t wrong = 0, fg[3] = {0, 0, 0};
    for (int64_t r = 0; r < 55 && w == 159; r++)
        for (int64_t c = 0; c < 48; c++) {
            int64_t yy = N - 1 - (int64_t)((r + 0.5) * N / 55.0);
            int l = (int)lab.data->data[(3 * N + yy) * N + c];
            const uint8_t *p = rgb + 3 * (r * w + c);
            bool grey = p[0] == p[1] && p[1] == p[2];
            bool ok = l == 0 ? grey : l == 1 ? p[0] > p[1] && p[0] > p[2]
                                             : p[1] > p[0] && p[1] > p[2];
            wrong += !ok, fg[l < 3 ? l : 0]++;
        }
    printf("segment --overlay: axial panel %lld class-1, %lld class-2 pixels, %lld coloured "
           "wrongly\n", (long long)fg[1], (long long)fg[2], (long long)wrong);
    CHECK(wrong == 0 && fg[1] > 20 && fg[2] > 20);
    free(rgb);
    /* a 2-D input: the image alone, 55 x 48 */
    hg_image_free(&vol);
    hg_image_init(&vol);
    vol.data = hg_new(NULL, N, N);
    memcpy(vol.data->data, x->data, sizeof(float) * N * N);
    CHECK_OK(hg_image_set_spacing(&vol, 2, (const double[]){0.7, 0.8}));
    CHECK_OK(hg_nifti_write(in, &vol, NULL));
    CHECK(hg_test_run("%s segment --model %s --normalize none %s -o %s --overlay %s",
                      HINGE_BINARY, model, in, out, png) == 0);
    rgb = read_rgb(png, &h, &w);
    CHECK(rgb && h == 55 && w == 48);
    free(rgb);
    /* one figure per run: not with --list */
    CHECK(hg_test_run("%s segment --model %s --list %s -o %s --overlay %s 2>/dev/null",
                      HINGE_BINARY, model, in, out, png) == 2);
    hg_image_free(&vol), hg_image_free(&lab);
    hg_tensor_free(x), hg_tensor_free(y);
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

/* --tta against the mean softmax over the four flips computed here with the library. */
static void check_tta(const char *model, const char *in, const hg_tensor *cli)
{
    hg_model *m = hg_model_load(model, NULL);
    hg_image img;
    hg_image_init(&img);
    REQUIRE(m && hg_nifti_read(in, &img) == HG_OK);
    hg_ctx *ctx = hg_ctx_new();
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_tensor *xf = hg_new(NULL, 1, 1, N, N);
    static double mean[CLASSES][N * N];
    memset(mean, 0, sizeof mean);
    hg_sliding_window_opts sw = {.window = {N, N}, .overlap = 0.5};
    for (int f = 0; f < 4; f++) {
        for (int r = 0; r < N; r++)
            for (int c = 0; c < N; c++)
                xf->data[r * N + c] = img.data->data[(f & 2 ? N - 1 - r : r) * N +
                                                     (f & 1 ? N - 1 - c : c)];
        hg_tensor *y = hg_sliding_window(m, xf, 2, &sw, ctx);
        REQUIRE(y && y->numel == CLASSES * N * N);
        for (int r = 0; r < N; r++)
            for (int c = 0; c < N; c++) {
                const int i = r * N + c;
                const int j = (f & 2 ? N - 1 - r : r) * N + (f & 1 ? N - 1 - c : c);
                double e[CLASSES], z = 0;
                for (int k = 0; k < CLASSES; k++)
                    z += e[k] = exp((double)y->data[k * N * N + i]);
                for (int k = 0; k < CLASSES; k++)
                    mean[k][j] += e[k] / z / 4;
            }
        hg_tensor_free(y);
    }
    int64_t diff = 0, close = 0;
    for (int i = 0; i < N * N; i++) {
        int best = 0;
        for (int k = 1; k < CLASSES; k++)
            best = mean[k][i] > mean[best][i] ? k : best;
        bool tie = false;
        for (int k = 0; k < CLASSES; k++)
            tie |= k != best && mean[best][i] - mean[k][i] < 1e-5;
        close += tie;
        diff += !tie && cli->data[i] != (float)best;
    }
    printf("segment: --tta labels vs library flips: %lld voxels differ (%lld near-ties skipped)\n",
           (long long)diff, (long long)close);
    CHECK(diff == 0);
    hg_tensor_free(xf);
    hg_ctx_free(ctx);
    hg_image_free(&img);
    hg_model_free(m);
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
    if (o.data)
        check_tta(model, in, o.data);
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

    /* DICOM: a 3-slice series (2-D model slice by slice) to DICOM SEG; the SEG read back
     * must equal the NIfTI path's labels on the same voxels, with the series' geometry */
    {
        hg_shapes_opts s3 = so;
        hg_tensor *x3, *y3;
        CHECK_OK(hg_shapes_batch(&s3, 11, 0, 3, NULL, &x3, &y3));
        hg_image vol;
        hg_image_init(&vol);
        vol.data = hg_new(NULL, 3, N, N);
        for (int64_t i = 0; i < vol.data->numel; i++)
            vol.data->data[i] = roundf(1000 * x3->data[i]);
        CHECK_OK(hg_image_set_spacing(&vol, 3, (const double[]){0.7, 0.8, 2.5}));
        vol.sform[0][3] = 5, vol.sform[2][3] = -40, vol.sform_code = 1;
        char ddir[1024], dseg[1100], dnii[1024], dout[1024];
        snprintf(ddir, sizeof ddir, "%s", hg_test_tmp("seg_dicom"));
        snprintf(dseg, sizeof dseg, "%s/../seg_out.dcm", ddir);
        snprintf(dnii, sizeof dnii, "%s", hg_test_tmp("seg_dicom_in.nii.gz"));
        snprintf(dout, sizeof dout, "%s", hg_test_tmp("seg_dicom_out.nii.gz"));
        hg_dicom_write_opts wo = {.modality = "MR"};
        CHECK_OK(hg_dicom_write_series(ddir, &vol, &wo));
        hg_image rd;
        hg_image_init(&rd);
        CHECK_OK(hg_dicom_read(ddir, NULL, &rd));
        cJSON_Delete(rd.sidecar), rd.sidecar = NULL;
        CHECK_OK(hg_nifti_write(dnii, &rd, NULL));
        remove(dseg);
        CHECK(hg_test_run("%s segment --model %s %s -o %s", HINGE_BINARY, model, ddir, dseg) == 0);
        CHECK(hg_test_run("%s segment --model %s %s -o %s", HINGE_BINARY, model, dnii, dout) == 0);
        hg_image sg, ni;
        hg_image_init(&sg);
        hg_image_init(&ni);
        CHECK_OK(hg_dicom_read_seg(dseg, &sg));
        CHECK_OK(hg_nifti_read(dout, &ni));
        if (sg.data && ni.data && sg.data->numel == ni.data->numel) {
            int64_t diff = 0, fg = 0;
            for (int64_t i = 0; i < ni.data->numel; i++)
                diff += sg.data->data[i] != ni.data->data[i], fg += ni.data->data[i] != 0;
            printf("segment: DICOM SEG vs NIfTI labels: %lld of %lld voxels differ (%lld "
                   "foreground)\n", (long long)diff, (long long)ni.data->numel, (long long)fg);
            CHECK(diff == 0 && fg > 0);
            double a[4][4], b[4][4];
            hg_image_affine(&sg, a);
            hg_image_affine(&rd, b);
            double err = 0;
            for (int r = 0; r < 3; r++)
                for (int k = 0; k < 4; k++)
                    err = fmax(err, fabs(a[r][k] - b[r][k]));
            CHECK(err < 1e-3);
        } else {
            CHECK(!"SEG and NIfTI label maps differ in size");
        }
        hg_image_free(&sg), hg_image_free(&ni), hg_image_free(&rd), hg_image_free(&vol);
        hg_tensor_free(x3), hg_tensor_free(y3);
    }

    /* 3-D, two channels (NIfTI t axis): the CLI's labels are the argmax of the library's
     * sliding window on the same [1, 2, D, H, W] input */
    {
        hg_metadata c;
        hg_metadata_init(&c);
        hg_metadata_set(&c, "dims", "3");
        hg_metadata_set(&c, "in_channels", "2");
        hg_metadata_set(&c, "classes", "3");
        hg_metadata_set(&c, "features", "2,4");
        hg_metadata_set(&c, "norm", "instance");
        hg_model *m3 = hg_model_create("unet", &c, 9);
        hg_metadata_free(&c);
        REQUIRE(m3);
        char m3p[1024], v3[1024], o3[1024];
        snprintf(m3p, sizeof m3p, "%s", hg_test_tmp("seg_unet3.safetensors"));
        snprintf(v3, sizeof v3, "%s", hg_test_tmp("seg_vol3.nii.gz"));
        snprintf(o3, sizeof o3, "%s", hg_test_tmp("seg_vol3_out.nii.gz"));
        CHECK_OK(hg_model_save(m3, m3p, NULL));
        hg_image v;
        hg_image_init(&v);
        v.data = hg_new(NULL, 2, 10, 12, 14);
        hg_test_fill(v.data, 77, -1, 1);
        CHECK_OK(hg_nifti_write(v3, &v, NULL));
        CHECK(hg_test_run("%s segment --model %s --normalize none --window 8 %s -o %s",
                          HINGE_BINARY, m3p, v3, o3) == 0);
        hg_tensor *xin = hg_new(NULL, 1, 2, 10, 12, 14);
        memcpy(xin->data, v.data->data, sizeof(float) * (size_t)xin->numel);
        hg_ctx *ctx = hg_ctx_new();
        hg_ctx_set_grad(ctx, false);
        hg_ctx_set_training(ctx, false);
        hg_sliding_window_opts sw = {.window = {8, 8, 8}, .overlap = 0.5};
        hg_tensor *logits = hg_sliding_window(m3, xin, 3, &sw, ctx);
        hg_image r;
        hg_image_init(&r);
        CHECK_OK(hg_nifti_read(o3, &r));
        REQUIRE(logits && r.data && r.data->ndim == 3 && r.data->shape[0] == 10 &&
                r.data->shape[2] == 14);
        int64_t vox = 10 * 12 * 14, diff = 0;
        for (int64_t i = 0; i < vox; i++) {
            int best = 0;
            for (int k = 1; k < 3; k++)
                if (logits->data[k * vox + i] > logits->data[best * vox + i])
                    best = k;
            diff += r.data->data[i] != (float)best;
        }
        CHECK(diff == 0);
        hg_tensor_free(logits), hg_tensor_free(xin);
        hg_ctx_free(ctx);
        hg_image_free(&r), hg_image_free(&v);
        hg_model_free(m3);
    }

    check_overlay(model, &so);

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
