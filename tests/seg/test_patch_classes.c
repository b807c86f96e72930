/* Class-aware patch oversampling (hg_patch_sample_indexed, the plan task's batch rule): a tiny
 * class in a corner is seen in about fg_ratio / #classes of the patches with "classes" and
 * almost never with "any" (the old sampler), the class index is exact, draws reproduce, and
 * the plan task centres at least one sample per batch. */
#include "hinge/seg_data.h"
#include "hinge/seg_plan.h"
#include "test_util.h"

#include <string.h>

enum { N = 32, P = 8 };

/* Label volume N^3: class 1 the upper half (z >= 16), class 2 a 10^3 block at (4..13, 18..27,
 * 18..27), class 3 a 2^3 cube at (1..2)^3, in a corner, so a uniform 8^3 patch contains it
 * with probability (2/25)^3 = 5e-4 while every patch centred on it does. */
static hg_tensor *make_labels(void)
{
    hg_tensor *l = hg_new(NULL, N, N, N);
    for (int z = 0; z < N; z++)
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) {
                float v = z >= 16 ? 1.0f : 0.0f;
                if (z >= 4 && z < 14 && y >= 18 && y < 28 && x >= 18 && x < 28)
                    v = 2.0f;
                if (z >= 1 && z < 3 && y >= 1 && y < 3 && x >= 1 && x < 3)
                    v = 3.0f;
                l->data[(z * N + y) * N + x] = v;
            }
    return l;
}

static bool contains(const hg_tensor *pl, float c)
{
    for (int64_t i = 0; i < pl->numel; i++)
        if (pl->data[i] == c)
            return true;
    return false;
}

static void test_index(const hg_tensor *lab)
{
    hg_patch_index ix;
    CHECK_OK(hg_patch_index_build(lab, &ix));
    REQUIRE(ix.classes == 4);
    int64_t n1 = 16 * N * N, n2 = 1000, n3 = 8;
    CHECK(ix.start[0] == 0 && ix.start[1] == 0);
    CHECK(ix.start[2] - ix.start[1] == n1 && ix.start[3] - ix.start[2] == n2 &&
          ix.start[4] - ix.start[3] == n3);
    for (int c = 1; c < 4; c++)
        for (int64_t j = ix.start[c]; j < ix.start[c + 1]; j++)
            if (lab->data[ix.voxels[j]] != (float)c) {
                CHECK_MSG(false, "index entry %lld of class %d is voxel %lld labelled %g",
                          (long long)j, c, (long long)ix.voxels[j],
                          (double)lab->data[ix.voxels[j]]);
                break;
            }
    hg_patch_index_free(&ix);
    CHECK(ix.start == NULL && ix.voxels == NULL);
    /* labels that are not class indices are refused, naming the voxel */
    hg_tensor *bad = hg_tensor_clone(NULL, lab);
    hg_tensor_set_name(bad, "seg");
    bad->data[37] = 1.5f;
    CHECK_FAILS(hg_patch_index_build(bad, &ix), HG_ERR_INVALID,
                "label map 'seg' has value 1.5 at voxel 37, expected an integer");
    bad->data[37] = -1.0f;
    CHECK_FAILS(hg_patch_index_build(bad, &ix), HG_ERR_INVALID, "value -1 at voxel 37");
    hg_tensor_free(bad);
}

/* Fraction of `draws` patches that contain class 3 at this ratio and mode. */
static double tiny_fraction(const hg_tensor *img, const hg_tensor *lab, const hg_patch_index *ix,
                            float ratio, hg_fg_sampling mode, int draws)
{
    hg_tensor *pi = hg_new(NULL, 1, P, P, P), *pl = hg_new(NULL, P, P, P);
    hg_rng base = hg_rng_new(77);
    int hits = 0;
    for (int i = 0; i < draws; i++) {
        CHECK_OK(hg_patch_sample_indexed(img, lab, ix, 3, (int64_t[]){P, P, P}, ratio, mode,
                                         hg_rng_split(&base, (uint64_t)i), pi, pl));
        hits += contains(pl, 3.0f);
    }
    hg_tensor_free(pi), hg_tensor_free(pl);
    return (double)hits / draws;
}

static void test_sampling(const hg_tensor *lab)
{
    hg_tensor *img = hg_new(NULL, 1, N, N, N);
    for (int64_t i = 0; i < img->numel; i++)
        img->data[i] = 10.0f * lab->data[i] + 1.0f;
    hg_patch_index ix;
    CHECK_OK(hg_patch_index_build(lab, &ix));
    const int draws = 3000;
    const float p = 1.0f / 3.0f;
    double cls = tiny_fraction(img, lab, &ix, p, HG_FG_CLASSES, draws);
    double any = tiny_fraction(img, lab, &ix, p, HG_FG_ANY, draws);
    double all = tiny_fraction(img, lab, &ix, 1.0f, HG_FG_CLASSES, draws);
    double none = tiny_fraction(img, lab, &ix, 0.0f, HG_FG_CLASSES, draws);
    printf("patches with the tiny class (%d draws): classes %.4f (expected p/3 = %.4f), any "
           "%.4f, classes at ratio 1 %.4f (1/3), at ratio 0 %.4f\n", draws, cls, p / 3.0, any,
           all, none);
    /* binomial std at 3000 draws: sqrt(0.111 * 0.889 / 3000) = 0.0057; bounds are 4 std.
     * The old "any" sampler hits it with probability p * 8 / 9192 = 3e-4 (+5e-4 uniform). */
    CHECK(fabs(cls - p / 3.0) < 0.023);
    CHECK(any < 0.01);
    CHECK(fabs(all - 1.0 / 3.0) < 0.035);
    CHECK(none < 0.005);
    /* a pure function of the stream: the same rng gives the same patch, image and labels
     * aligned */
    hg_tensor *a = hg_new(NULL, 1, P, P, P), *al = hg_new(NULL, P, P, P);
    hg_tensor *b = hg_new(NULL, 1, P, P, P), *bl = hg_new(NULL, P, P, P);
    hg_rng r = hg_rng_new(5);
    CHECK_OK(hg_patch_sample_indexed(img, lab, &ix, 3, (int64_t[]){P, P, P}, 1, HG_FG_CLASSES,
                                     r, a, al));
    CHECK_OK(hg_patch_sample_indexed(img, lab, &ix, 3, (int64_t[]){P, P, P}, 1, HG_FG_CLASSES,
                                     r, b, bl));
    CHECK(!memcmp(a->data, b->data, sizeof(float) * P * P * P) &&
          !memcmp(al->data, bl->data, sizeof(float) * P * P * P));
    for (int64_t i = 0; i < a->numel; i++)
        CHECK(a->data[i] == 10.0f * al->data[i] + 1.0f);
    /* errors: an index of another label map, a bad mode */
    hg_tensor *small = hg_new(NULL, 4, 4, 4), *si = hg_new(NULL, 1, 4, 4, 4);
    hg_tensor *so = hg_new(NULL, 1, 2, 2, 2), *sl = hg_new(NULL, 2, 2, 2);
    hg_tensor_set_name(small, "small");
    CHECK_FAILS(hg_patch_sample_indexed(si, small, &ix, 3, (int64_t[]){2, 2, 2}, 1,
                                        HG_FG_CLASSES, r, so, sl),
                HG_ERR_INVALID, "the class index of 'small' is missing or was built for another");
    CHECK_FAILS(hg_patch_sample_indexed(img, lab, &ix, 3, (int64_t[]){P, P, P}, 1,
                                        (hg_fg_sampling)7, r, a, al),
                HG_ERR_INVALID, "foreground sampling mode 7");
    CHECK_FAILS(hg_patch_sample_indexed(img, lab, &ix, 3, (int64_t[]){P, P, P}, 1.5f,
                                        HG_FG_CLASSES, r, a, al),
                HG_ERR_INVALID, "fg_ratio in [0, 1] (got 1.5)");
    hg_tensor_free(small), hg_tensor_free(si), hg_tensor_free(so), hg_tensor_free(sl);
    hg_tensor_free(a), hg_tensor_free(al), hg_tensor_free(b), hg_tensor_free(bl);
    hg_patch_index_free(&ix);
    hg_tensor_free(img);
}

/* The plan task: batch 3 at ratio 1/3 centres the last sample of every batch on a class
 * voxel. With the tiny class the only foreground, that sample always contains it and the
 * others almost never do. */
static void test_plan_batch(void)
{
    hg_seg_case cases[2];
    memset(cases, 0, sizeof cases);
    for (int i = 0; i < 2; i++) {
        snprintf(cases[i].name, sizeof cases[i].name, "case%d", i);
        cases[i].label = hg_new(NULL, N, N, N);
        cases[i].image = hg_new(NULL, 1, N, N, N);
        hg_test_fill(cases[i].image, 10 + (uint64_t)i, 0.0f, 1.0f);
        for (int z = 1; z < 3; z++)
            for (int y = 1; y < 3; y++)
                for (int x = 1; x < 3; x++)
                    cases[i].label->data[(z * N + y) * N + x] = 1.0f;
        for (int a = 0; a < 3; a++)
            cases[i].spacing[a] = 1.0;
    }
    cases[1].validation = true;
    hg_seg_dataset ds = {.count = 2, .channels = 1, .classes = 2, .ndim = 3,
                         .validation_listed = true, .cases = cases};
    hg_seg_plan p = {.dims = 3, .channels = 1, .classes = 2, .target_spacing = {1, 1, 1},
                     .normalization = "zscore", .patch = {P, P, P}, .levels = 2,
                     .features = {4, 8}, .batch = 3};
    hg_plan_task t = {.plan = p};
    CHECK_OK(hg_plan_task_init(&t, &ds, 0));
    REQUIRE(t.n_train == 1 && t.n_val == 1 && t.index);
    CHECK(t.fg_ratio > 0.33f && t.fg_ratio < 0.34f && t.fg_sampling == HG_FG_CLASSES);
    hg_task task = hg_plan_task_make(&t);
    hg_ctx *ctx = hg_ctx_new();
    int hit[3] = {0, 0, 0};
    const int steps = 100;
    for (int s = 0; s < steps; s++) {
        hg_rng r = hg_rng_new((uint64_t)s);
        hg_tensor *x, *y;
        CHECK_OK(task.batch(task.self, s, &r, ctx, &x, &y));
        for (int b = 0; b < 3; b++) {
            hg_tensor yb = *y;
            yb.data = y->data + b * P * P * P, yb.numel = P * P * P;
            hit[b] += contains(&yb, 1.0f);
        }
        hg_ctx_reset(ctx);
    }
    printf("plan batch of 3: samples with the tiny class %d, %d, %d of %d\n", hit[0], hit[1],
           hit[2], steps);
    CHECK(hit[2] == steps && hit[0] < 5 && hit[1] < 5);
    /* batch 1: at least one sample per batch is still centred */
    t.plan.batch = 1;
    hg_rng r = hg_rng_new(1);
    hg_tensor *x, *y;
    CHECK_OK(task.batch(task.self, 0, &r, ctx, &x, &y));
    CHECK(contains(y, 1.0f));
    hg_ctx_free(ctx);
    hg_plan_task_free(&t);
    for (int i = 0; i < 2; i++)
        hg_tensor_free(cases[i].label), hg_tensor_free(cases[i].image);
}

int main(void)
{
    hg_tensor *lab = make_labels();
    test_index(lab);
    test_sampling(lab);
    hg_tensor_free(lab);
    test_plan_batch();
    return hg_test_finish("test_patch_classes");
}
