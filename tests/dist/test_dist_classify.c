/* hinge classify --list: one process, then under `mpirun --oversubscribe --allow-run-as-root
 * -np 2` (skipped when mpirun or MPI is absent): every study's JSON holds the scores of the
 * single-image command, a corrupt study fails alone, and a restart skips what is done. */
#include "hinge/dist.h"
#include "hinge/image.h"
#include "hinge/nn.h"
#include "test_util.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MPIRUN "OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe " \
               "--allow-run-as-root -np"
#define NSTUDY 5

static double score1(const char *json_path)
{
    unsigned char *buf;
    size_t n;
    if (hg_read_file(json_path, 1 << 20, &buf, &n) != HG_OK)
        return NAN;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    cJSON *s = cJSON_GetObjectItem(j, "scores");
    double v = cJSON_IsArray(s) ? cJSON_GetArrayItem(s, 1)->valuedouble : NAN;
    cJSON_Delete(j);
    return v;
}

/* Runs the list with `launcher` ("" or the mpirun prefix) into dir/out<tag>. */
static void check_list(const char *dir, const char *model, const double *want,
                       const char *launcher, const char *ranks_word)
{
    const char *bin = HINGE_BINARY;
    CHECK(hg_test_run("%s %s classify --model %s --list %s/list.txt -o %s/out 2> %s/log1.txt",
                      launcher, bin, model, dir, dir, dir) == 1); /* the corrupt study */
    CHECK(hg_test_run("grep -q '%d studies on %s: %d done, 0 skipped (already done), 1 failed' "
                      "%s/log1.txt && grep -q 'FAILED .*bad.nii.gz' %s/log1.txt", NSTUDY + 1,
                      ranks_word, NSTUDY, dir, dir) == 0);
    double max_diff = 0;
    char path[1024];
    for (int i = 0; i < NSTUDY; i++) {
        snprintf(path, sizeof path, "%s/out/s%d.json", dir, i);
        max_diff = fmax(max_diff, fabs(score1(path) - want[i]));
    }
    printf("classify --list (%s): max |score - single-image command| %.2e\n", ranks_word,
           max_diff);
    CHECK(max_diff == 0);
    CHECK(hg_test_run("! test -e %s/out/bad.json && ! ls %s/out/*partial* 2>/dev/null", dir,
                      dir) == 0);
    CHECK(hg_test_run("%s %s classify --model %s --list %s/list.txt -o %s/out 2> %s/log2.txt",
                      launcher, bin, model, dir, dir, dir) == 1);
    CHECK(hg_test_run("grep -q '0 done, %d skipped (already done), 1 failed' %s/log2.txt",
                      NSTUDY, dir) == 0);
    CHECK(hg_test_run("rm -rf %s/out", dir) == 0);
}

int main(void)
{
    char dir[512], model[600];
    snprintf(dir, sizeof dir, "%s", hg_test_tmp("dist_classify"));
    snprintf(model, sizeof model, "%s/resnet.safetensors", dir);
    const char *bin = HINGE_BINARY;
    CHECK(hg_test_run("rm -rf '%s' && mkdir -p '%s'", dir, dir) == 0);
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "width", "2");
    hg_model *m = hg_model_create("resnet18", &c, 4);
    hg_metadata_free(&c);
    REQUIRE(m);
    hg_test_fill(hg_params_get(&m->params, "fc.weight"), 8, -2.0f, 2.0f);
    CHECK_OK(hg_model_save(m, model, NULL));
    hg_model_free(m);
    /* studies of different sizes (the model takes any), and a truncated file */
    FILE *list = NULL;
    char path[700];
    snprintf(path, sizeof path, "%s/list.txt", dir);
    list = fopen(path, "w");
    REQUIRE(list);
    double want[NSTUDY];
    for (int i = 0; i < NSTUDY; i++) {
        hg_image img;
        hg_image_init(&img);
        img.data = hg_new(NULL, 32 + 4 * i, 36);
        hg_test_fill(img.data, 40 + (uint64_t)i, 0.0f, 1.0f + (float)i);
        snprintf(path, sizeof path, "%s/s%d.nii.gz", dir, i);
        CHECK_OK(hg_nifti_write(path, &img, NULL));
        hg_image_free(&img);
        fprintf(list, "%s\n", path);
        if (i == 1)
            fprintf(list, "%s/bad.nii.gz\n", dir);
        /* the single-image command's score */
        char one[700];
        snprintf(one, sizeof one, "%s/one%d.json", dir, i);
        CHECK(hg_test_run("%s classify --json --model %s %s > %s", bin, model, path, one) == 0);
        unsigned char *buf;
        size_t n;
        want[i] = NAN;
        if (hg_read_file(one, 1 << 20, &buf, &n) == HG_OK) {
            cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
            cJSON *sc = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "images"),
                                                               0), "scores");
            want[i] = cJSON_GetArrayItem(sc, 1)->valuedouble;
            cJSON_Delete(j);
            free(buf);
        }
    }
    fclose(list);
    CHECK(hg_test_run("head -c 100 %s/s0.nii.gz > %s/bad.nii.gz", dir, dir) == 0);
    check_list(dir, model, want, "", "1 rank");
    /* usage errors */
    CHECK(hg_test_run("%s classify --model %s --list %s/list.txt 2>/dev/null", bin, model,
                      dir) == 2);
    CHECK(hg_test_run("%s classify --model %s --list %s/list.txt -o %s/out %s/s0.nii.gz "
                      "2>/dev/null", bin, model, dir, dir, dir) == 2);
    if (!hg_dist_compiled() || system("command -v mpirun > /dev/null 2>&1") != 0) {
        fprintf(stderr, "test_dist_classify: SKIP the 2-rank part (%s)\n",
                hg_dist_compiled() ? "mpirun not found" : "built without MPI");
        return hg_test_finish("test_dist_classify");
    }
    check_list(dir, model, want, MPIRUN " 2", "2 ranks");
    return hg_test_finish("test_dist_classify");
}
