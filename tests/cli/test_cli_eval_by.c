/* hinge eval --by KEY: per-group means from each image's sidecar, checked against the library's
 * per-image metrics; missing keys and flag conflicts fail with a message. */
#include "hinge/image.h"
#include "hinge/metrics.h"
#include "test_util.h"

#include <cJSON.h>
#include <string.h>
#include <sys/stat.h>

/* Our files live in a subdirectory: other CLI tests count temporary files in the shared one. */
static char dir[1024];
static const char *path_in_dir(const char *name)
{
    static char buf[16][1100];
    static int at;
    char *b = buf[at++ % 16];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static int run(char **out, char **err, const char *args)
{
    const char *o = path_in_dir("by.out"), *e = path_in_dir("by.err");
    int rc = hg_test_run("%s %s > %s 2> %s", HINGE_BINARY, args, o, e);
    *out = hg_test_slurp(o);
    *err = hg_test_slurp(e);
    return rc;
}

static void write_image(const char *path, const hg_tensor *t, const char *site)
{
    hg_image img;
    hg_image_init(&img);
    img.data = hg_tensor_clone(NULL, t);
    if (site)
        CHECK_OK(hg_image_meta_set_string(&img, "site", site));
    CHECK_OK(hg_nifti_write(path, &img, NULL));
    hg_image_free(&img);
}

int main(void)
{
    enum { N = 6 };
    snprintf(dir, sizeof dir, "%s", hg_test_tmp("eval_by"));
    mkdir(dir, 0755);
    hg_tensor *ref = hg_new(NULL, 24, 24), *x = hg_new(NULL, 24, 24);
    hg_test_fill(ref, 1, 0.0f, 1.0f);
    char *ref_path = strdup(path_in_dir("by_ref.nii"));
    write_image(ref_path, ref, NULL);
    const char *site[N] = {"A", "B", "A", "B", "A", "B"};
    char *paths[N];
    double psnr[N];
    char args[4096];
    int len = snprintf(args, sizeof args, "eval --ref %s --by site --bootstrap 500 --json",
                       ref_path);
    for (int i = 0; i < N; i++) {
        hg_rng r = hg_rng_new(10 + (uint64_t)i);
        float noise = site[i][0] == 'A' ? 0.02f : 0.1f; /* site B is noisier */
        for (int64_t j = 0; j < x->numel; j++)
            x->data[j] = ref->data[j] + noise * (float)hg_rng_normal(&r);
        char name[32];
        snprintf(name, sizeof name, "by_%d.nii", i);
        paths[i] = strdup(path_in_dir(name));
        write_image(paths[i], x, site[i]);
        CHECK_OK(hg_psnr(x, ref, 0, &psnr[i]));
        len += snprintf(args + len, sizeof args - (size_t)len, " %s", paths[i]);
    }
    char *out, *err;
    CHECK(run(&out, &err, args) == 0);
    cJSON *j = cJSON_Parse(out);
    REQUIRE(j);
    cJSON *g = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "groups"), "psnr");
    REQUIRE(g);
    double ma = (psnr[0] + psnr[2] + psnr[4]) / 3, mb = (psnr[1] + psnr[3] + psnr[5]) / 3;
    cJSON *A = cJSON_GetObjectItem(g, "A"), *B = cJSON_GetObjectItem(g, "B");
    REQUIRE(A && B);
    CHECK_NEAR(cJSON_GetObjectItem(A, "mean")->valuedouble, ma, 1e-9);
    CHECK_NEAR(cJSON_GetObjectItem(B, "mean")->valuedouble, mb, 1e-9);
    CHECK(cJSON_GetObjectItem(A, "n")->valuedouble == 3);
    double lo = cJSON_GetObjectItem(A, "ci_lo")->valuedouble,
           hi = cJSON_GetObjectItem(A, "ci_hi")->valuedouble;
    CHECK(lo <= ma && ma <= hi);
    cJSON *gap = cJSON_GetObjectItem(g, "gap");
    CHECK_NEAR(cJSON_GetObjectItem(gap, "value")->valuedouble, ma - mb, 1e-9);
    CHECK(!strcmp(cJSON_GetObjectItem(gap, "worst")->valuestring, "B"));
    printf("psnr by site: A %.2f [%.2f, %.2f], B %.2f, gap %.2f\n", ma, lo, hi, mb, ma - mb);
    cJSON_Delete(j);
    free(out), free(err);

    /* table output mentions the groups; a missing key and --csv with --by fail */
    snprintf(args, sizeof args, "eval --ref %s --by site %s %s", ref_path, paths[0], paths[1]);
    CHECK(run(&out, &err, args) == 0);
    CHECK(strstr(out, "by site") && strstr(out, "gap"));
    free(out), free(err);
    snprintf(args, sizeof args, "eval --ref %s --by scanner %s", ref_path, paths[0]);
    CHECK(run(&out, &err, args) == 1);
    CHECK_MSG(strstr(err, "no 'scanner' (string or number) in its JSON sidecar"), "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args, "eval --ref %s --by site --csv %s", ref_path, paths[0]);
    CHECK(run(&out, &err, args) == 2);
    free(out), free(err);
    for (int i = 0; i < N; i++)
        free(paths[i]);
    free(ref_path);
    hg_tensor_free(ref), hg_tensor_free(x);
    return hg_test_finish("cli_eval_by");
}
