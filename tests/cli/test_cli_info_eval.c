/* The hinge binary: info, convert and eval on files made here; exit codes, outputs, and no
 * output file after a failure. */
#include "hinge/image.h"
#include "hinge/metrics.h"
#include "test_util.h"

#include <cJSON.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* hg_test_tmp rotates 8 static buffers: keep our own copies of the paths we hold. */
static const char *tmp(const char *name) { return strdup(hg_test_tmp(name)); }

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Runs `hinge <args>` with stdout/stderr captured; returns the exit code. */
static int run(char **out, char **err, const char *args)
{
    const char *o = hg_test_tmp("cli.out"), *e = hg_test_tmp("cli.err");
    int rc = hg_test_run("%s %s > %s 2> %s", HINGE_BINARY, args, o, e);
    *out = hg_test_slurp(o);
    *err = hg_test_slurp(e);
    return rc;
}

/* Counts leftover temporary files (".tmp.") in the test directory. */
static int temp_files(void)
{
    const char *dir = getenv("HINGE_TEST_TMP");
    DIR *d = opendir(dir ? dir : "/tmp");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, "cli_") && strstr(e->d_name, ".tmp.") ? 1 : 0;
    if (d)
        closedir(d);
    return n;
}

static hg_image make_image(uint64_t seed, float noise)
{
    hg_image img;
    hg_image_init(&img);
    img.data = hg_new(NULL, 3, 20, 24);
    REQUIRE(img.data);
    hg_rng r = hg_rng_new(seed);
    for (int64_t i = 0; i < img.data->numel; i++) {
        int64_t x = i % 24, y = (i / 24) % 20;
        img.data->data[i] = (float)(1.0 + 0.5 * sin(0.3 * (double)x) * cos(0.2 * (double)y)) +
                            noise * (float)hg_rng_normal(&r);
    }
    double sp[3] = {0.8, 0.8, 2.0};
    REQUIRE(hg_image_set_spacing(&img, 3, sp) == HG_OK);
    return img;
}

int main(void)
{
    char *out, *err, args[2048];
    const char *ref = tmp("cli_ref.nii.gz"), *a = tmp("cli_a.nii.gz"), *b = tmp("cli_b.nii");
    hg_image ri = make_image(1, 0), ai = make_image(2, 0.05f), bi = make_image(3, 0.2f);
    REQUIRE(hg_image_meta_set_number(&ri, "SourceToDetector", 1085.6) == HG_OK);
    REQUIRE(hg_nifti_write(ref, &ri, NULL) == HG_OK);
    REQUIRE(hg_nifti_write(a, &ai, NULL) == HG_OK);
    REQUIRE(hg_nifti_write(b, &bi, NULL) == HG_OK);

    /* help and usage errors */
    const char *cmds[] = {"info", "convert", "eval"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        CHECK(run(&out, &err, args) == 0 && strstr(out, "usage: hinge"));
        free(out), free(err);
        snprintf(args, sizeof args, "%s --bogus", cmds[i]);
        CHECK(run(&out, &err, args) == 2 && strstr(err, "unknown option '--bogus'"));
        free(out), free(err);
    }

    /* info: text and JSON */
    snprintf(args, sizeof args, "info %s", ref);
    CHECK(run(&out, &err, args) == 0);
    CHECK_MSG(strstr(out, "dims:        24 x 20 x 3 (x, y, z)   tensor [3, 20, 24]") &&
              strstr(out, "spacing:     0.8 mm x 0.8 mm x 2 mm") &&
              strstr(out, "orientation: RAS") && strstr(out, "NIfTI-1 (gzip)") &&
              strstr(out, "sidecar:     SourceToDetector"), "info output:\n%s", out);
    free(out), free(err);
    snprintf(args, sizeof args, "info --json %s", ref);
    CHECK(run(&out, &err, args) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "dims")) == 3 &&
          cJSON_GetArrayItem(cJSON_GetObjectItem(j, "dims"), 0)->valuedouble == 24 &&
          !strcmp(cJSON_GetObjectItem(j, "orientation")->valuestring, "RAS"));
    cJSON_Delete(j);
    free(out), free(err);

    /* convert: .nii.gz -> .nii (NIfTI-2) -> .nii.gz, float32 bit-exact, sidecar carried */
    const char *c1 = tmp("cli_c1.nii"), *c2 = tmp("cli_c2.nii.gz");
    snprintf(args, sizeof args, "convert --nifti2 %s %s", ref, c1);
    CHECK(run(&out, &err, args) == 0);
    free(out), free(err);
    snprintf(args, sizeof args, "convert %s %s", c1, c2);
    CHECK(run(&out, &err, args) == 0);
    free(out), free(err);
    hg_image back;
    hg_image_init(&back);
    CHECK_OK(hg_nifti_read(c2, &back));
    CHECK(back.data && hg_shape_equal(back.data, ri.data) &&
          memcmp(back.data->data, ri.data->data, (size_t)ri.data->numel * 4) == 0);
    double v = 0;
    CHECK(hg_image_meta_number(&back, "SourceToDetector", &v) && v == 1085.6);
    hg_image_free(&back);
    CHECK_OK(hg_nifti_read(c1, &back));
    CHECK(!strcmp(back.format, "nifti2"));
    hg_image_free(&back);

    /* A truncated .nii.gz: non-zero exit, a clear message, and no output file. */
    unsigned char *bytes;
    size_t n;
    REQUIRE(hg_read_file(a, 1 << 20, &bytes, &n) == HG_OK);
    const char *cut = tmp("cli_cut.nii.gz"), *never = tmp("cli_never.nii");
    FILE *f = fopen(cut, "wb");
    REQUIRE(f);
    fwrite(bytes, 1, n / 2, f);
    fclose(f);
    free(bytes);
    unlink(never);
    snprintf(args, sizeof args, "convert %s %s", cut, never);
    CHECK(run(&out, &err, args) == 1);
    CHECK_MSG(strstr(err, "cli_cut.nii.gz: truncated or corrupt voxel data"), "stderr: %s", err);
    CHECK(!exists(never) && temp_files() == 0 && out[0] == 0);
    free(out), free(err);
    snprintf(args, sizeof args, "info %s", cut);
    CHECK(run(&out, &err, args) == 1 && strstr(err, "truncated") && out[0] == 0);
    free(out), free(err);
    /* uint8 cannot hold these values: refused, nothing written */
    snprintf(args, sizeof args, "convert --datatype uint8 %s %s", ref, never);
    CHECK(run(&out, &err, args) == 1 && strstr(err, "cannot be stored as UINT8"));
    CHECK(!exists(never) && temp_files() == 0);
    free(out), free(err);

    /* eval: CSV and JSON agree with the library's metrics */
    double want[2][3];
    hg_image *imgs[2] = {&ai, &bi};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(hg_psnr(imgs[i]->data, ri.data, 0, &want[i][0]));
        CHECK_OK(hg_ssim(imgs[i]->data, ri.data, NULL, &want[i][1]));
        CHECK_OK(hg_nmse(imgs[i]->data, ri.data, &want[i][2]));
    }
    snprintf(args, sizeof args, "eval --ref %s %s %s --csv", ref, a, b);
    CHECK(run(&out, &err, args) == 0);
    char *line = strchr(out, '\n');
    CHECK(!strncmp(out, "file,psnr,ssim,nmse\n", 20) && line);
    for (int i = 0; i < 2 && line; i++) {
        char *comma = strchr(line + 1, ',');
        double p = 0, s = 0, e = 0;
        CHECK(comma && sscanf(comma, ",%lf,%lf,%lf", &p, &s, &e) == 3);
        CHECK_NEAR(p, want[i][0], 1e-6);
        CHECK_NEAR(s, want[i][1], 1e-6);
        CHECK_NEAR(e / want[i][2], 1.0, 1e-6);
        line = strchr(line + 1, '\n');
    }
    CHECK(want[0][0] > want[1][0] && want[0][1] > want[1][1]); /* less noise scores better */
    free(out), free(err);
    snprintf(args, sizeof args, "eval --ref %s %s %s --json --ssim-window gaussian --data-range 2",
             ref, a, ref);
    CHECK(run(&out, &err, args) == 0);
    j = cJSON_Parse(out);
    cJSON *res = j ? cJSON_GetObjectItem(j, "results") : NULL;
    CHECK(cJSON_GetArraySize(res) == 2);
    double g;
    CHECK_OK(hg_ssim(ai.data, ri.data, &(hg_ssim_opts){.window = HG_SSIM_GAUSSIAN,
                                                       .data_range = 2}, &g));
    CHECK(res && fabs(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "ssim")->valuedouble - g) <
                     1e-12);
    CHECK(res && cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 1), "psnr")));
    cJSON_Delete(j);
    free(out), free(err);
    /* mismatched shapes: exit 1, message names both files, no partial table */
    hg_image small;
    hg_image_init(&small);
    small.data = hg_new(NULL, 3, 20, 20);
    const char *sp = tmp("cli_small.nii");
    CHECK_OK(hg_nifti_write(sp, &small, NULL));
    snprintf(args, sizeof args, "eval --ref %s %s %s", ref, a, sp);
    CHECK(run(&out, &err, args) == 1 && out[0] == 0 && strstr(err, "cli_small.nii' has shape "
                                                                 "[3, 20, 20], target"));
    free(out), free(err);
    CHECK(run(&out, &err, "eval a.nii") == 2 && strstr(err, "--ref is required"));
    free(out), free(err);

    hg_image_free(&small);
    hg_image_free(&ri), hg_image_free(&ai), hg_image_free(&bi);
    const char *paths[] = {ref, a, b, c1, c2, cut, never, sp};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        free((void *)paths[i]);
    return hg_test_finish("test_cli_info_eval");
}
