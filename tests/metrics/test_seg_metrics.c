/* Segmentation / diagnosis metrics against scipy/numpy references (fixtures), hand-computed
 * cases, brute-force EDT, absent-structure conventions, bootstrap reproducibility, errors. */
#include "hinge/seg_metrics.h"
#include "test_util.h"

#include <omp.h>
#include <string.h>
#include <sys/stat.h>

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-12); }

static hg_metadata meta;

static int parse(const char *key, double *v, int n)
{
    const char *s = hg_metadata_get(&meta, key);
    REQUIRE(s);
    char *end = (char *)s;
    int k = 0;
    for (; k < n && *end; k++)
        v[k] = strtod(end, &end);
    return k;
}

static void check_fixture_case(const hg_params *fx, const char *name, int nsp)
{
    char k[64];
    snprintf(k, sizeof k, "%s.pred", name);
    hg_tensor *p = hg_test_get(fx, k);
    snprintf(k, sizeof k, "%s.truth", name);
    hg_tensor *t = hg_test_get(fx, k);
    double sp[3];
    snprintf(k, sizeof k, "%s.spacing", name);
    REQUIRE(parse(k, sp, 3) == nsp);
    for (int label = 1; label <= 2; label++) {
        double e[8];
        snprintf(k, sizeof k, "%s.label%d", name, label);
        REQUIRE(parse(k, e, 8) == 8);
        hg_seg_scores s;
        CHECK_OK(hg_seg_scores_compute(p, t, label, nsp, sp, &s));
        double got[8] = {s.dice, s.hd, s.hd95, s.assd, s.volume_pred, s.volume_truth,
                         (double)s.surface_pred, (double)s.surface_truth};
        const char *what[8] = {"dice", "hd", "hd95", "assd", "vol_pred", "vol_truth",
                               "surface_pred", "surface_truth"};
        double worst = 0;
        for (int i = 0; i < 8; i++) {
            CHECK_MSG(rel(got[i], e[i]) < 1e-12, "%s label %d %s: %.15g vs scipy %.15g", name,
                      label, what[i], got[i], e[i]);
            worst = fmax(worst, rel(got[i], e[i]));
        }
        printf("%s label %d: dice %.6f hd %.4f hd95 %.4f assd %.4f (max rel err vs scipy %.2g)\n",
               name, label, s.dice, s.hd, s.hd95, s.assd, worst);
        CHECK(s.flags == 0);
        CHECK_NEAR(s.volume_diff, e[4] - e[5], 1e-9);
    }
    double d3[3], e3[3];
    snprintf(k, sizeof k, "%s.dice3", name);
    REQUIRE(parse(k, e3, 3) == 3);
    CHECK_OK(hg_dice_multiclass(p, t, 3, d3));
    for (int c = 0; c < 3; c++)
        CHECK_MSG(rel(d3[c], e3[c]) < 1e-12, "%s dice class %d: %.15g vs %.15g", name, c, d3[c],
                  e3[c]);
}

static void test_edt(const hg_params *fx)
{
    hg_tensor *m = hg_test_get(fx, "edt.mask"), *ref = hg_test_get(fx, "edt.d2");
    double sp[3];
    REQUIRE(parse("edt.spacing_xyz", sp, 3) == 3);
    uint8_t *mask = malloc((size_t)m->numel);
    double *d2 = malloc(sizeof(double) * (size_t)m->numel);
    for (int64_t i = 0; i < m->numel; i++)
        mask[i] = m->data[i] != 0;
    CHECK_OK(hg_edt_squared(mask, 3, m->shape, sp, d2));
    double worst = 0;
    for (int64_t i = 0; i < m->numel; i++)
        worst = fmax(worst, rel(d2[i], ref->data[i]));
    printf("edt 3-D vs scipy distance_transform_edt: max rel err %.3g\n", worst);
    CHECK(worst < 1e-6); /* the fixture stores float32 */
    free(mask);
    free(d2);

    /* brute force on a random 2-D mask, anisotropic spacing */
    enum { H = 23, W = 31 };
    uint8_t mk[H * W];
    double out[H * W], s2[2] = {1.7, 0.6}; /* x, y */
    hg_rng r = hg_rng_new(5);
    for (int i = 0; i < H * W; i++)
        mk[i] = hg_rng_uniform(&r) < 0.03;
    CHECK_OK(hg_edt_squared(mk, 2, (const int64_t[]){H, W}, s2, out));
    double err = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double best = INFINITY;
            for (int yy = 0; yy < H; yy++)
                for (int xx = 0; xx < W; xx++)
                    if (mk[yy * W + xx]) {
                        double dx = (x - xx) * s2[0], dy = (y - yy) * s2[1];
                        best = fmin(best, dx * dx + dy * dy);
                    }
            err = fmax(err, fabs(out[y * W + x] - best));
        }
    CHECK_MSG(err < 1e-9, "edt vs brute force: %g", err);
    memset(mk, 0, sizeof mk);
    CHECK_OK(hg_edt_squared(mk, 2, (const int64_t[]){H, W}, s2, out));
    CHECK(isinf(out[0]) && isinf(out[H * W - 1]));
    CHECK_FAILS(hg_edt_squared(mk, 2, (const int64_t[]){H, W}, (double[]){1, -1}, out),
                HG_ERR_INVALID, "spacing[1] = -1");
}

static void test_hand_cases(void)
{
    /* one pixel each, 3 columns apart with x spacing 2: every distance is 6 */
    hg_tensor *p = hg_new(NULL, 1, 7, 7), *t = hg_new(NULL, 1, 7, 7);
    hg_tensor_set_name(p, "pred");
    hg_tensor_set_name(t, "truth");
    t->data[2 * 7 + 2] = 1;
    p->data[2 * 7 + 5] = 1;
    hg_seg_scores s;
    CHECK_OK(hg_seg_scores_compute(p, t, 1, 2, (double[]){2.0, 0.5}, &s));
    CHECK(s.dice == 0.0 && s.hd == 6.0 && s.hd95 == 6.0 && s.assd == 6.0);
    CHECK_NEAR(s.volume_pred, 1.0, 1e-15);
    /* a 3x3 square vs itself shifted by one row (y spacing 0.5): dice 2*6/18 */
    memset(p->data, 0, 49 * sizeof(float));
    memset(t->data, 0, 49 * sizeof(float));
    for (int y = 2; y < 5; y++)
        for (int x = 2; x < 5; x++) {
            t->data[y * 7 + x] = 3;
            p->data[(y + 1) * 7 + x] = 3;
        }
    CHECK_OK(hg_seg_scores_compute(p, t, 3, 2, (double[]){2.0, 0.5}, &s));
    CHECK_NEAR(s.dice, 12.0 / 18.0, 1e-15);
    /* surfaces are the 8 ring pixels each. On each ring the far row (3 pixels) and the middle
     * pixel of the row that lies inside the other square (its nearest ring point is one row
     * away, not 2 mm sideways) are 0.5 away; the 4 side pixels lie on the other ring. */
    CHECK_NEAR(s.hd, 0.5, 1e-15);
    CHECK_NEAR(s.hd95, 0.5, 1e-15);
    CHECK_NEAR(s.assd, (4 * 0.5 + 4 * 0.5) / 16.0, 1e-15);
    CHECK(s.surface_pred == 8 && s.surface_truth == 8);
    CHECK_OK(hg_seg_scores_compute(t, t, 3, 2, NULL, &s));
    CHECK(s.dice == 1.0 && s.hd == 0.0 && s.hd95 == 0.0 && s.assd == 0.0 && s.flags == 0);

    /* absent structures */
    CHECK_OK(hg_seg_scores_compute(p, t, 7, 2, NULL, &s));
    CHECK(s.flags == HG_SEG_BOTH_EMPTY && s.dice == 1.0 && s.hd95 == 0.0 &&
          s.volume_diff == 0.0);
    memset(p->data, 0, 49 * sizeof(float));
    CHECK_OK(hg_seg_scores_compute(p, t, 3, 2, NULL, &s));
    CHECK(s.flags == HG_SEG_PRED_EMPTY && s.dice == 0.0 && isinf(s.hd95) && isinf(s.assd));
    CHECK(s.rel_volume_diff == -1.0 && s.volume_diff == -9.0);
    CHECK_OK(hg_seg_scores_compute(t, p, 3, 2, NULL, &s));
    CHECK(s.flags == HG_SEG_TRUTH_EMPTY && isinf(s.hd) && isinf(s.rel_volume_diff));
    double v[3] = {1.0, INFINITY, 3.0};
    int64_t used;
    CHECK(hg_finite_mean(v, 3, &used) == 2.0 && used == 2);

    /* multi-class dice by hand */
    hg_tensor *a = hg_new(NULL, 4), *b = hg_new(NULL, 4);
    memcpy(a->data, (float[]){0, 1, 1, 2}, sizeof(float[4]));
    memcpy(b->data, (float[]){0, 1, 2, 2}, sizeof(float[4]));
    double d[4];
    CHECK_OK(hg_dice_multiclass(a, b, 4, d));
    CHECK(d[0] == 1.0 && d[3] == 1.0);
    CHECK_NEAR(d[1], 2.0 / 3.0, 1e-15);
    CHECK_NEAR(d[2], 2.0 / 3.0, 1e-15);

    /* errors name the tensor and the expectation */
    hg_tensor_set_name(a, "seg");
    a->data[1] = 1.5f;
    CHECK_FAILS(hg_dice_multiclass(a, b, 4, d), HG_ERR_INVALID,
                "'seg'[1] = 1.5, expected an integer label in [0, 4)");
    hg_tensor *q = hg_new(NULL, 2, 7, 7);
    hg_tensor_set_name(q, "batch");
    CHECK_FAILS(hg_seg_scores_compute(q, t, 1, 2, NULL, &s), HG_ERR_INVALID,
                "'batch' has shape [2, 7, 7]; axes before the last 2 must be 1");
    hg_tensor *r = hg_new(NULL, 1, 7, 6);
    CHECK_FAILS(hg_seg_scores_compute(p, r, 1, 2, NULL, &s), HG_ERR_INVALID,
                "'pred' has shape [1, 7, 7], truth 'tensor' has [1, 7, 6]");
    CHECK_FAILS(hg_seg_scores_compute(p, t, 1, 4, NULL, &s), HG_ERR_INVALID,
                "4 spatial dims, expected 2 or 3");
    hg_tensor_free(p), hg_tensor_free(t), hg_tensor_free(a), hg_tensor_free(b);
    hg_tensor_free(q), hg_tensor_free(r);
}

static double mean_stat(const int64_t *idx, int64_t n, void *user)
{
    const double *x = user;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[idx[i]];
    return s / (double)n;
}

static void test_diagnosis(const hg_params *fx)
{
    hg_tensor *sc = hg_test_get(fx, "auc.score"), *lb = hg_test_get(fx, "auc.label");
    double auc, e;
    parse("auc.auc", &e, 1);
    CHECK_OK(hg_roc_auc(sc->data, lb->data, sc->numel, &auc));
    CHECK_MSG(rel(auc, e) < 1e-12, "auc %.15g vs scipy mannwhitneyu %.15g", auc, e);
    printf("auc with ties: %.12f (scipy %.12f)\n", auc, e);
    double op[4];
    parse("auc.op0.5", op, 4);
    hg_operating_point o;
    CHECK_OK(hg_operating_point_at(sc->data, lb->data, sc->numel, 0.5, &o));
    CHECK(o.tp == (int64_t)op[0] && o.fp == (int64_t)op[1] && o.tn == (int64_t)op[2] &&
          o.fn == (int64_t)op[3]);
    CHECK_NEAR(o.sensitivity, op[0] / (op[0] + op[3]), 1e-15);
    CHECK_NEAR(o.specificity, op[2] / (op[2] + op[1]), 1e-15);

    /* the ROC curve's trapezoidal area is the AUC (ties: diagonal segments) */
    int64_t n = sc->numel, np;
    size_t bytes = sizeof(double) * (size_t)(n + 1);
    double *fpr = malloc(bytes), *tpr = malloc(bytes), *thr = malloc(bytes);
    CHECK_OK(hg_roc_curve(sc->data, lb->data, n, fpr, tpr, thr, &np));
    double area = 0;
    for (int64_t i = 1; i < np; i++)
        area += (fpr[i] - fpr[i - 1]) * 0.5 * (tpr[i] + tpr[i - 1]);
    CHECK_NEAR(area, e, 1e-12);
    CHECK(fpr[np - 1] == 1.0 && tpr[np - 1] == 1.0 && isinf(thr[0]));
    /* sklearn roc_curve([0,0,1,1], [0.1,0.4,0.35,0.8], drop_intermediate=False) */
    CHECK_OK(hg_roc_curve((float[]){0.1f, 0.4f, 0.35f, 0.8f}, (float[]){0, 0, 1, 1}, 4, fpr, tpr,
                          thr, &np));
    double ef[5] = {0, 0, 0.5, 0.5, 1}, et[5] = {0, 0.5, 0.5, 1, 1};
    CHECK(np == 5);
    for (int i = 0; i < 5 && np == 5; i++)
        CHECK(fpr[i] == ef[i] && tpr[i] == et[i]);
    CHECK(thr[1] == (double)0.8f && thr[4] == (double)0.1f);
    free(fpr), free(tpr), free(thr);

    /* hand cases: sklearn's doc example, and a full tie */
    CHECK_OK(hg_roc_auc((float[]){0.1f, 0.4f, 0.35f, 0.8f}, (float[]){0, 0, 1, 1}, 4, &auc));
    CHECK(auc == 0.75);
    CHECK_OK(hg_roc_auc((float[]){1, 1, 1}, (float[]){0, 1, 1}, 3, &auc));
    CHECK(auc == 0.5);
    CHECK_FAILS(hg_roc_auc((float[]){1, 2}, (float[]){1, 1}, 2, &auc), HG_ERR_INVALID,
                "all one class");
    CHECK_FAILS(hg_roc_auc((float[]){1, 2}, (float[]){1, 2}, 2, &auc), HG_ERR_INVALID,
                "label[1] = 2, expected 0 or 1");

    /* bootstrap: reproducible, independent of the thread count, close to the normal theory */
    enum { N = 400 };
    double x[N];
    hg_rng r = hg_rng_new(11);
    for (int i = 0; i < N; i++)
        x[i] = hg_rng_normal(&r);
    hg_bootstrap_ci a, b;
    int threads = omp_get_max_threads();
    CHECK_OK(hg_bootstrap(N, mean_stat, x, 2000, 0.95, hg_rng_new(3), &a));
    omp_set_num_threads(1);
    CHECK_OK(hg_bootstrap(N, mean_stat, x, 2000, 0.95, hg_rng_new(3), &b));
    omp_set_num_threads(threads);
    CHECK(a.lo == b.lo && a.hi == b.hi && a.estimate == b.estimate);
    double sd = 0;
    for (int i = 0; i < N; i++)
        sd += (x[i] - a.estimate) * (x[i] - a.estimate);
    sd = sqrt(sd / (N - 1));
    double theory = 2 * 1.959964 * sd / sqrt(N);
    printf("bootstrap mean CI [%.4f, %.4f] width %.4f (normal theory %.4f)\n", a.lo, a.hi,
           a.hi - a.lo, theory);
    CHECK(rel(a.hi - a.lo, theory) < 0.1);
    CHECK(a.lo < a.estimate && a.estimate < a.hi);
    CHECK_OK(hg_bootstrap(N, mean_stat, x, 2000, 0.95, hg_rng_new(4), &b));
    CHECK(a.lo != b.lo);
    CHECK_OK(hg_roc_auc_ci(sc->data, lb->data, sc->numel, 1000, 0.95, hg_rng_new(1), &a));
    CHECK(a.lo < e && e < a.hi && a.estimate == e && a.replicates_used == 1000);
    printf("auc CI [%.4f, %.4f]\n", a.lo, a.hi);
    CHECK_FAILS(hg_bootstrap(N, mean_stat, x, 1000, 1.5, hg_rng_new(1), &a), HG_ERR_INVALID,
                "level 1.5");
}

static void test_calibration(const hg_params *fx)
{
    hg_tensor *p = hg_test_get(fx, "cal.prob"), *y = hg_test_get(fx, "cal.label");
    hg_calibration c;
    CHECK_OK(hg_calibration_compute(p->data, y->data, p->numel, 10, &c));
    double ece, mce, cnt[10];
    parse("cal.ece", &ece, 1);
    parse("cal.mce", &mce, 1);
    parse("cal.count", cnt, 10);
    for (int b = 0; b < 10; b++)
        CHECK_MSG(c.count[b] == (int64_t)cnt[b], "bin %d: %lld vs numpy %g", b,
                  (long long)c.count[b], cnt[b]);
    CHECK_MSG(rel(c.ece, ece) < 1e-9, "ece %.12g vs %.12g", c.ece, ece);
    CHECK_MSG(rel(c.mce, mce) < 1e-9, "mce %.12g vs %.12g", c.mce, mce);
    printf("ece %.6f (numpy %.6f), mce %.6f\n", c.ece, ece, c.mce);
    /* in a subdirectory: CLI tests count temporary files of atomic writes in the shared one */
    char png[1100];
    snprintf(png, sizeof png, "%s", hg_test_tmp("seg_metrics"));
    mkdir(png, 0755);
    strcat(png, "/reliability.png");
    CHECK_OK(hg_calibration_png(png, &c, 200));
    FILE *f = fopen(png, "rb");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    /* hand: always 0.8 confident, always right -> ECE 0.2 */
    CHECK_OK(hg_calibration_compute((float[]){0.8f, 0.8f}, (float[]){1, 1}, 2, 5, &c));
    CHECK_NEAR(c.ece, 0.2, 1e-7);
    CHECK(c.count[4] == 2);
    CHECK_FAILS(hg_calibration_compute((float[]){1.2f}, (float[]){1}, 1, 5, &c), HG_ERR_INVALID,
                "probability[0] = 1.2");
}

int main(void)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_metadata_init(&meta);
    REQUIRE(hg_safetensors_load(hg_test_fixture("seg/seg_metrics.safetensors"), &fx, &meta) ==
            HG_OK);
    check_fixture_case(&fx, "c2d", 2);
    check_fixture_case(&fx, "c3d", 3);
    test_edt(&fx);
    test_hand_cases();
    test_diagnosis(&fx);
    test_calibration(&fx);
    hg_params_free(&fx);
    hg_metadata_free(&meta);
    return hg_test_finish("seg_metrics");
}
