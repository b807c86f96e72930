/* Multi-site simulation, harmonization (z-score, percentile, Nyul) and grouped metrics: the
 * site gap of foreground intensity before and after harmonization, hand cases, errors. */
#include "hinge/seg_data.h"
#include "hinge/seg_metrics.h"
#include "test_util.h"

#include <string.h>

enum { SITES = 3, PER_SITE = 4, S = 48 };

static void test_sites_and_harmonization(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_shapes_opts o = {.ndim = 2, .size = {S, S}, .classes = 3, .objects = 3};
    hg_tensor *x, *y;
    CHECK_OK(hg_shapes_batch(&o, 21, 0, SITES * PER_SITE, NULL, &x, &y));
    REQUIRE(x);
    hg_rng base = hg_rng_new(8);
    hg_site site[SITES];
    for (int k = 0; k < SITES; k++) {
        site[k] = hg_site_random(hg_rng_split(&base, (uint64_t)k));
        hg_site again = hg_site_random(hg_rng_split(&base, (uint64_t)k));
        CHECK(!memcmp(&again, &site[k], sizeof again));
        CHECK(site[k].scale >= 0.5f && site[k].scale <= 2.0f && site[k].gamma >= 0.6f &&
              site[k].gamma <= 1.6f && site[k].slice_thickness >= 1 &&
              site[k].slice_thickness <= 3);
    }
    /* make the sites clearly different in scale so the test does not depend on the draw */
    site[0].scale = 0.6f, site[1].scale = 1.0f, site[2].scale = 1.8f;
    hg_tensor *img[SITES * PER_SITE];
    int32_t group[SITES * PER_SITE];
    double fg_before[SITES * PER_SITE], fg_after[SITES * PER_SITE];
    for (int i = 0; i < SITES * PER_SITE; i++) {
        group[i] = i % SITES;
        img[i] = hg_new(NULL, 1, S, S);
        memcpy(img[i]->data, x->data + i * S * S, sizeof(float) * S * S);
        CHECK_OK(hg_site_apply(&site[group[i]], 2, hg_rng_split(&base, 100 + (uint64_t)i),
                               img[i], ctx));
        hg_ctx_reset(ctx);
    }
    /* same seed -> same rendering */
    hg_tensor *again = hg_new(NULL, 1, S, S);
    memcpy(again->data, x->data, sizeof(float) * S * S);
    CHECK_OK(hg_site_apply(&site[0], 2, hg_rng_split(&base, 100), again, ctx));
    CHECK(!memcmp(again->data, img[0]->data, sizeof(float) * S * S));
    hg_nyul ny;
    CHECK_OK(hg_nyul_init(&ny, 1, 99, 0, 1));
    CHECK_OK(hg_nyul_fit(&ny, (const hg_tensor *const *)img, SITES * PER_SITE));
    for (int i = 0; i < SITES * PER_SITE; i++) {
        double a = 0, b = 0;
        int64_t m = 0;
        for (int64_t j = 0; j < S * S; j++)
            if (y->data[i * S * S + j] == 2)
                a += img[i]->data[j], m++;
        CHECK_OK(hg_nyul_apply(&ny, img[i]));
        for (int64_t j = 0; j < S * S; j++)
            if (y->data[i * S * S + j] == 2)
                b += img[i]->data[j];
        fg_before[i] = a / (double)m;
        fg_after[i] = b / (double)m;
    }
    hg_grouped g0, g1;
    CHECK_OK(hg_grouped_metric(fg_before, group, SITES * PER_SITE, SITES, 500, 0.95,
                               hg_rng_new(1), &g0));
    CHECK_OK(hg_grouped_metric(fg_after, group, SITES * PER_SITE, SITES, 500, 0.95,
                               hg_rng_new(1), &g1));
    printf("class-2 intensity gap between sites: %.4f [%.4f, %.4f] raw, %.4f [%.4f, %.4f] "
           "after Nyul (relative to the mean: %.3f -> %.3f)\n", g0.gap, g0.gap_lo, g0.gap_hi,
           g1.gap, g1.gap_lo, g1.gap_hi, g0.gap / fabs(g0.group[1].mean),
           g1.gap / fabs(g1.group[1].mean));
    CHECK(g0.worst == 0 && g0.best == 2); /* ordered by the site scale */
    CHECK(g1.gap / fabs(g1.group[1].mean) < 0.5 * g0.gap / fabs(g0.group[1].mean));
    hg_grouped_free(&g0);
    hg_grouped_free(&g1);
    for (int i = 0; i < SITES * PER_SITE; i++)
        hg_tensor_free(img[i]);
    hg_tensor_free(again), hg_tensor_free(x), hg_tensor_free(y);
    hg_ctx_free(ctx);
}

static void test_harmonizers(void)
{
    hg_tensor *t = hg_new(NULL, 100), *m = hg_new(NULL, 100);
    for (int i = 0; i < 100; i++)
        t->data[i] = (float)i, m->data[i] = i < 50;
    /* numpy: percentile(arange(100), 1) = 0.99, (.., 99) = 98.01 */
    CHECK_OK(hg_harmonize_percentile(t, 1, 99));
    CHECK_NEAR(t->data[0], -0.99 / 97.02, 1e-6);
    CHECK_NEAR(t->data[99], (99 - 0.99) / 97.02, 1e-6);
    for (int i = 0; i < 100; i++)
        t->data[i] = (float)i;
    CHECK_OK(hg_harmonize_zscore(t, m)); /* mean 24.5, population std of 0..49 */
    double sd = sqrt((50.0 * 50.0 - 1.0) / 12.0);
    CHECK_NEAR(t->data[0], -24.5 / sd, 1e-5);
    CHECK_NEAR(t->data[99], 74.5 / sd, 1e-5);
    /* Nyul: affine copies of one image become the same image */
    hg_tensor *a[3];
    hg_rng r = hg_rng_new(2);
    float scale[3] = {1.0f, 3.0f, 0.25f}, off[3] = {0.0f, -5.0f, 2.0f};
    for (int k = 0; k < 3; k++)
        a[k] = hg_new(NULL, 1, 30, 30);
    for (int i = 0; i < 900; i++) {
        float v = (float)hg_rng_normal(&r);
        for (int k = 0; k < 3; k++)
            a[k]->data[i] = scale[k] * v + off[k];
    }
    hg_nyul ny;
    CHECK_OK(hg_nyul_init(&ny, 2, 98, 0, 100));
    CHECK_OK(hg_nyul_fit(&ny, (const hg_tensor *const *)a, 3));
    CHECK_NEAR(ny.standard[0], 0.0, 1e-9);
    CHECK_NEAR(ny.standard[HG_NYUL_LANDMARKS - 1], 100.0, 1e-9);
    for (int k = 0; k < 3; k++)
        CHECK_OK(hg_nyul_apply(&ny, a[k]));
    double err = 0;
    for (int i = 0; i < 900; i++)
        err = fmax(err, fmax(fabs(a[1]->data[i] - a[0]->data[i]),
                             fabs(a[2]->data[i] - a[0]->data[i])));
    CHECK_MSG(err < 1e-3, "nyul of affine copies differ by %g (of 100)", err);
    hg_nyul fresh;
    CHECK_OK(hg_nyul_init(&fresh, 1, 99, 0, 1));
    CHECK_FAILS(hg_nyul_apply(&fresh, a[0]), HG_ERR_STATE, "apply before fit");
    hg_tensor_fill(t, 3.0f);
    hg_tensor_set_name(t, "flat");
    CHECK_FAILS(hg_harmonize_zscore(t, NULL), HG_ERR_NUMERIC, "'flat' is constant");
    CHECK_FAILS(hg_nyul_apply(&ny, t), HG_ERR_NUMERIC, "repeated landmarks");
    for (int k = 0; k < 3; k++)
        hg_tensor_free(a[k]);
    hg_tensor_free(t), hg_tensor_free(m);
}

/* A neutral site is the identity on [0, 1]; slice thickness averages along D only. */
static void test_site_by_hand(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *v = hg_new(NULL, 1, 8, 4, 4), *ref = hg_new(NULL, 1, 8, 4, 4);
    for (int64_t i = 0; i < v->numel; i++)
        ref->data[i] = v->data[i] = (float)(i / 16 >= 4); /* a step along D */
    hg_site neutral = {.scale = 1, .gamma = 1, .slice_thickness = 1};
    CHECK_OK(hg_site_apply(&neutral, 3, hg_rng_new(1), v, ctx));
    CHECK(!memcmp(v->data, ref->data, sizeof(float) * 128));
    hg_site thick = neutral;
    thick.slice_thickness = 3;
    thick.scale = 2, thick.offset = 0.5f;
    CHECK_OK(hg_site_apply(&thick, 3, hg_rng_new(1), v, ctx));
    /* slices 3 and 4 see (0 + 0 + 1) / 3 and (0 + 1 + 1) / 3; then 2 x + 0.5 */
    CHECK_NEAR(v->data[0], 0.5, 1e-6);
    CHECK_NEAR(v->data[3 * 16 + 5], 2.0 / 3.0 + 0.5, 1e-6);
    CHECK_NEAR(v->data[4 * 16 + 5], 4.0 / 3.0 + 0.5, 1e-6);
    CHECK_NEAR(v->data[7 * 16 + 15], 2.5, 1e-6);
    hg_site bad = neutral;
    bad.gamma = 0;
    CHECK_FAILS(hg_site_apply(&bad, 3, hg_rng_new(1), v, ctx), HG_ERR_INVALID, "gamma > 0");
    hg_tensor_free(v), hg_tensor_free(ref);
    hg_ctx_free(ctx);
}

static void test_grouped_hand(void)
{
    double v[6] = {1, 2, 3, 10, 20, NAN};
    int32_t g[6] = {0, 0, 0, 1, 1, 1};
    hg_grouped a, b;
    CHECK_OK(hg_grouped_metric(v, g, 6, 3, 1000, 0.9, hg_rng_new(5), &a));
    CHECK(a.groups == 3 && a.group[0].count == 3 && a.group[1].count == 2 &&
          a.group[1].skipped == 1 && a.group[2].count == 0 && isnan(a.group[2].mean));
    CHECK(a.group[0].mean == 2.0 && a.group[1].mean == 15.0 && a.gap == 13.0);
    CHECK(a.worst == 0 && a.best == 1);
    CHECK(a.group[0].lo >= 1.0 && a.group[0].hi <= 3.0 && a.group[0].lo < 2 &&
          a.group[0].hi > 2);
    CHECK(a.group[1].lo >= 10.0 && a.group[1].hi <= 20.0);
    CHECK(a.gap_lo >= 7.0 && a.gap_hi <= 19.0 && a.gap_lo < 13 && a.gap_hi > 13);
    CHECK_OK(hg_grouped_metric(v, g, 6, 3, 1000, 0.9, hg_rng_new(5), &b));
    CHECK(a.gap_lo == b.gap_lo && a.group[0].lo == b.group[0].lo);
    hg_grouped_free(&a);
    hg_grouped_free(&b);
    g[2] = 3;
    CHECK_FAILS(hg_grouped_metric(v, g, 6, 3, 1000, 0.9, hg_rng_new(5), &a), HG_ERR_INVALID,
                "group[2] = 3, expected 0..2");
}

int main(void)
{
    test_harmonizers();
    test_grouped_hand();
    test_site_by_hand();
    test_sites_and_harmonization();
    return hg_test_finish("seg_sites");
}
