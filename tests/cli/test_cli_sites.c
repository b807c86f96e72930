/* hinge sites train/eval end to end on tiny settings: the models train and save, eval's
 * per-site Dice equals the library's on the documented test set (shapes seed 0x7e57, site k's
 * acquisition seed 200 + k), the closure of a model with itself is 0, and bad arguments fail
 * with a message. */
#include "hinge/sites.h"
#include "test_util.h"

#include <cJSON.h>
#include <string.h>
#include <sys/stat.h>

static char dir[1024];
static const char *in_dir(const char *name)
{
    static char buf[8][1100];
    static int at;
    char *b = buf[at++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static int run(char **err, const char *args)
{
    const char *o = in_dir("sites.out"), *e = in_dir("sites.err");
    int rc = hg_test_run("%s sites %s > %s 2> %s", HINGE_BINARY, args, o, e);
    free(*err);
    *err = hg_test_slurp(e);
    return rc;
}

static const char *tiny = "--size 32 --train-samples 8 --val-samples 2 --steps 6 --batch 2 "
                          "--threads 2";

int main(void)
{
    snprintf(dir, sizeof dir, "%s", hg_test_tmp("sites_cli"));
    mkdir(dir, 0755);
    char *err = NULL, args[4096];
    char *ma = strdup(in_dir("a.safetensors")), *mab = strdup(in_dir("ab.safetensors"));
    snprintf(args, sizeof args, "train --train A %s -o %s --json", tiny, ma);
    CHECK_MSG(run(&err, args) == 0, "%s", err);
    snprintf(args, sizeof args, "train --train AB --randomize --dr p_blur=0 %s -o %s", tiny,
             mab);
    CHECK_MSG(run(&err, args) == 0, "%s", err);
    char *out = hg_test_slurp(in_dir("sites.out"));
    CHECK_MSG(hg_test_contains(out, "sites AB + randomization: 6 steps"), "%s", out);
    free(out);

    char *md = strdup(in_dir("t.md")), *js = strdup(in_dir("t.json"));
    snprintf(args, sizeof args, "eval --model A=%s --model AB=%s --closure A,A,AB --size 32 "
             "--count 4 --bootstrap 50 -o %s --json-out %s", ma, mab, md, js);
    CHECK_MSG(run(&err, args) == 0, "%s", err);
    char *table = hg_test_slurp(md);
    CHECK_MSG(hg_test_contains(table, "Dice at C (unseen)") &&
              hg_test_contains(table, "| AB | 6 steps x 2"), "%s", table);
    free(table);

    /* the CLI's numbers are the library's on the documented test set */
    char *text = hg_test_slurp(js);
    cJSON *j = cJSON_Parse(text);
    REQUIRE(j);
    hg_model *m = hg_model_load(mab, NULL);
    REQUIRE(m);
    const hg_site sites[3] = {{1.0f, 0.0f, 1.0f, 0.02f, 0.0f, 0.0f, 1},
                              {1.5f, 0.1f, 0.7f, 0.05f, 0.2f, 0.6f, 1},
                              {0.7f, -0.1f, 1.6f, 0.07f, 0.3f, 1.0f, 1}};
    hg_shapes_opts o = {.ndim = 2, .size = {32, 32}, .classes = 4, .objects = 6};
    cJSON *dice = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"), 1),
                                      "dice");
    for (int k = 0; k < 3; k++) {
        hg_tensor *x, *y;
        double mean;
        CHECK_OK(hg_sites_render(&o, 0x7e57, &sites[k], 200 + (uint64_t)k, 0, 4, &x, &y));
        CHECK_OK(hg_seg_evaluate(m, x, y, 2, &mean));
        char key[2] = {(char)('A' + k), 0};
        double got = cJSON_GetObjectItem(cJSON_GetObjectItem(dice, key), "mean")->valuedouble;
        CHECK_NEAR(got, mean, 1e-12);
        hg_tensor_free(x), hg_tensor_free(y);
    }
    CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "closure"), "value")->valuedouble,
               0.0, 1e-12);
    hg_model_free(m);
    cJSON_Delete(j);
    free(text);

    /* errors name the argument */
    snprintf(args, sizeof args, "train --train AD %s -o %s", tiny, ma);
    CHECK(run(&err, args) == 2 && hg_test_contains(err, "letters A, B, C"));
    snprintf(args, sizeof args, "train --train A --dr gamma=2 %s -o %s", tiny, ma);
    CHECK(run(&err, args) == 2 && hg_test_contains(err, "--dr 'gamma=2'"));
    snprintf(args, sizeof args, "eval --model A=%s --closure A,B,A -o %s", ma, md);
    CHECK(run(&err, args) == 2 && hg_test_contains(err, "three model labels"));
    snprintf(args, sizeof args, "eval --model A=%s/missing.safetensors -o %s", dir, md);
    CHECK(run(&err, args) == 1 && hg_test_contains(err, "missing.safetensors"));
    CHECK(run(&err, "fit") == 2 && hg_test_contains(err, "'train' or 'eval'"));
    free(err);
    free(ma), free(mab), free(md), free(js);
    return hg_test_finish("test_cli_sites");
}
