/* Synthetic shapes, patch sampling and augmentation: reproducibility from the seed, image and
 * label consistency, exact flips/rotations, intensity transforms by hand, errors. */
#include "hinge/seg_data.h"
#include "hinge/seg_metrics.h"
#include "test_util.h"

#include <string.h>

static bool same(const hg_tensor *a, const hg_tensor *b)
{
    return a->numel == b->numel && !memcmp(a->data, b->data, sizeof(float) * (size_t)a->numel);
}

static void test_shapes(void)
{
    hg_shapes_opts o = {.ndim = 2, .size = {48, 40}, .classes = 3, .objects = 4, .noise = 0};
    hg_tensor *x1, *y1, *x2, *y2;
    CHECK_OK(hg_shapes_batch(&o, 7, 0, 4, NULL, &x1, &y1));
    CHECK_OK(hg_shapes_batch(&o, 7, 2, 2, NULL, &x2, &y2));
    REQUIRE(x1 && x2);
    CHECK(x1->ndim == 4 && x1->shape[1] == 1 && x1->shape[2] == 48 && x1->shape[3] == 40);
    CHECK(y1->ndim == 3 && y1->shape[0] == 4);
    /* sample 2 is the same whether drawn in a batch from 0 or from 2 */
    int64_t per = 48 * 40;
    CHECK(!memcmp(x1->data + 2 * per, x2->data, sizeof(float) * (size_t)(2 * per)));
    CHECK(!memcmp(y1->data + 2 * per, y2->data, sizeof(float) * (size_t)(2 * per)));
    CHECK(memcmp(x1->data, x1->data + per, sizeof(float) * (size_t)per) != 0);
    /* labels 0..2, every class present, intensities of class k within 0.2+0.4k +- 0.05 */
    int present[3] = {0};
    int bad = 0;
    for (int64_t i = 0; i < x1->numel; i++) {
        int k = (int)y1->data[i];
        CHECK(k >= 0 && k < 3 && (float)k == y1->data[i]);
        present[k]++;
        float expect = k ? 0.2f + 0.4f * (float)k : 0.0f;
        bad += fabsf(x1->data[i] - expect) > 0.0501f;
    }
    CHECK(present[0] && present[1] && present[2] && bad == 0);
    hg_tensor_free(x1), hg_tensor_free(y1), hg_tensor_free(x2), hg_tensor_free(y2);

    hg_shapes_opts o3 = {.ndim = 3, .size = {16, 20, 24}, .classes = 3, .objects = 2,
                         .noise = 0.1f};
    CHECK_OK(hg_shapes_batch(&o3, 1, 0, 2, NULL, &x1, &y1));
    REQUIRE(x1);
    CHECK(x1->ndim == 5 && x1->shape[2] == 16 && y1->shape[3] == 24);
    double fg = 0;
    for (int64_t i = 0; i < y1->numel; i++)
        fg += y1->data[i] > 0;
    CHECK(fg > 0.01 * (double)y1->numel);
    hg_tensor_free(x1), hg_tensor_free(y1);
    hg_shapes_opts badc = o;
    badc.classes = 1;
    CHECK_FAILS(hg_shapes_batch(&badc, 1, 0, 1, NULL, &x1, &y1), HG_ERR_INVALID,
                "1 classes, expected 2..255");
}

static void test_patches(void)
{
    hg_shapes_opts o = {.ndim = 2, .size = {64, 64}, .classes = 2, .objects = 1,
                        .radius_min = 4, .radius_max = 5};
    hg_tensor *x, *y;
    CHECK_OK(hg_shapes_batch(&o, 3, 0, 1, NULL, &x, &y));
    REQUIRE(x);
    hg_tensor img = *x, lab = *y; /* [1, 1, H, W] viewed as [1, H, W] / [H, W] */
    img.ndim = 3;
    img.shape[0] = 1, img.shape[1] = 64, img.shape[2] = 64;
    lab.ndim = 2;
    lab.shape[0] = 64, lab.shape[1] = 64;
    hg_tensor *pi = hg_new(NULL, 1, 16, 16), *pl = hg_new(NULL, 16, 16);
    hg_tensor *qi = hg_new(NULL, 1, 16, 16), *ql = hg_new(NULL, 16, 16);
    int with_fg[2] = {0, 0};
    hg_rng base = hg_rng_new(9);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 200; i++) {
            hg_rng rr = hg_rng_split(&base, (uint64_t)i);
            CHECK_OK(hg_patch_sample(&img, &lab, 2, (int64_t[]){16, 16}, r ? 1.0f : 0.0f, rr, pi,
                                     pl));
            bool any = false;
            for (int j = 0; j < 256; j++)
                any |= pl->data[j] > 0;
            with_fg[r] += any;
            if (i == 5) { /* reproducible; image patch matches the label patch */
                CHECK_OK(hg_patch_sample(&img, &lab, 2, (int64_t[]){16, 16}, r ? 1.0f : 0.0f,
                                         rr, qi, ql));
                CHECK(same(pi, qi) && same(pl, ql));
                for (int j = 0; j < 256; j++)
                    CHECK((pl->data[j] > 0) == (pi->data[j] > 0.1f));
            }
        }
    printf("patches with foreground: %d/200 at ratio 0, %d/200 at ratio 1\n", with_fg[0],
           with_fg[1]);
    CHECK(with_fg[1] == 200);
    CHECK(with_fg[0] < 120);
    /* a patch bigger than the image is padded and centred */
    hg_tensor *bi = hg_new(NULL, 1, 70, 64), *bl = hg_new(NULL, 70, 64);
    CHECK_OK(hg_patch_sample(&img, &lab, 2, (int64_t[]){70, 64}, 0.0f, base, bi, bl));
    CHECK(bi->data[0] == 0 && !memcmp(bi->data + 3 * 64, img.data, sizeof(float) * 64 * 64));
    CHECK_FAILS(hg_patch_sample(&img, &lab, 2, (int64_t[]){8, 8}, 0.5f, base, pi, pl),
                HG_ERR_INVALID, "expected 1 channels and 1 x 8 x 8");
    hg_tensor_free(x), hg_tensor_free(y), hg_tensor_free(pi), hg_tensor_free(pl);
    hg_tensor_free(qi), hg_tensor_free(ql), hg_tensor_free(bi), hg_tensor_free(bl);
}

/* image = 10 * label, so spatial transforms must keep image and labels aligned */
static void test_augment_consistency(int ndim)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_shapes_opts o = {.ndim = ndim, .size = {24, 32, 32}, .classes = 3, .objects = 3};
    if (ndim == 2)
        o.size[0] = 32, o.size[1] = 32;
    hg_tensor *x, *y;
    CHECK_OK(hg_shapes_batch(&o, 5, 0, 1, NULL, &x, &y));
    REQUIRE(x);
    int64_t sz[4] = {1, o.size[0], o.size[1], o.size[2]};
    hg_tensor *img = hg_tensor_new(NULL, HG_F32, ndim + 1, sz);
    hg_tensor *lab = hg_tensor_new(NULL, HG_F32, ndim, sz + 1);
    hg_tensor *img2 = hg_tensor_like(NULL, img), *lab2 = hg_tensor_like(NULL, lab);
    hg_augment_opts a = {.p_flip = 0.5f, .p_rot90 = 1, .p_scale = 1, .scale_min = 0.8f,
                         .scale_max = 1.25f, .p_elastic = 1, .elastic_alpha = 1.5f,
                         .elastic_grid = 8};
    hg_rng base = hg_rng_new(77);
    double agree = 0, total = 0;
    for (int rep = 0; rep < 6; rep++) {
        memcpy(lab->data, y->data, sizeof(float) * (size_t)lab->numel);
        for (int64_t i = 0; i < img->numel; i++)
            img->data[i] = 10.0f * y->data[i];
        memcpy(img2->data, img->data, sizeof(float) * (size_t)img->numel);
        memcpy(lab2->data, lab->data, sizeof(float) * (size_t)lab->numel);
        hg_rng r = hg_rng_split(&base, (uint64_t)rep);
        CHECK_OK(hg_augment(&a, ndim, r, img, lab, ctx));
        CHECK_OK(hg_augment(&a, ndim, r, img2, lab2, ctx));
        CHECK(same(img, img2) && same(lab, lab2)); /* reproducible */
        bool changed = memcmp(lab->data, y->data, sizeof(float) * (size_t)lab->numel) != 0;
        CHECK(changed);
        for (int64_t i = 0; i < lab->numel; i++) {
            float l = lab->data[i];
            CHECK(l == 0 || l == 1 || l == 2); /* nearest keeps labels */
            agree += fabsf(img->data[i] - 10.0f * l) < 5.0f;
            total++;
        }
        hg_ctx_reset(ctx);
    }
    printf("augment %d-D: image/label agreement %.4f\n", ndim, agree / total);
    CHECK(agree / total > 0.97);
    hg_tensor_free(x), hg_tensor_free(y), hg_tensor_free(img), hg_tensor_free(lab);
    hg_tensor_free(img2), hg_tensor_free(lab2);
    hg_ctx_free(ctx);
}

static void test_augment_exact(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_tensor *img = hg_new(NULL, 1, 4, 4), *lab = hg_new(NULL, 4, 4);
    hg_tensor *ref = hg_new(NULL, 1, 4, 4);
    for (int i = 0; i < 16; i++)
        ref->data[i] = img->data[i] = lab->data[i] = (float)i;
    /* flip every axis: a 180-degree turn, exact for image and labels */
    hg_augment_opts a = {.p_flip = 1};
    CHECK_OK(hg_augment(&a, 2, hg_rng_new(1), img, lab, ctx));
    for (int i = 0; i < 16; i++)
        CHECK(img->data[i] == (float)(15 - i) && lab->data[i] == (float)(15 - i));
    /* a quarter turn (k in 1..3) three more times of the same draw returns to the start */
    hg_augment_opts r = {.p_rot90 = 1};
    memcpy(img->data, ref->data, 64);
    int back = 0;
    for (int t = 1; t <= 4; t++) {
        CHECK_OK(hg_augment(&r, 2, hg_rng_new(3), img, lab, ctx));
        bool is_ref = !memcmp(img->data, ref->data, 64);
        if (is_ref && !back)
            back = t;
        for (int i = 0; i < 16; i++)
            CHECK(img->data[i] == (float)(int)img->data[i]); /* a permutation, no blending */
    }
    CHECK(back == 4 || back == 2);
    /* gamma 2 on values 0..15: lo + (hi-lo) ((x-lo)/(hi-lo))^2 */
    memcpy(img->data, ref->data, 64);
    memcpy(lab->data, ref->data, 64);
    hg_augment_opts g = {.p_gamma = 1, .gamma_min = 2, .gamma_max = 2};
    CHECK_OK(hg_augment(&g, 2, hg_rng_new(1), img, lab, ctx));
    for (int i = 0; i < 16; i++)
        CHECK_NEAR(img->data[i], 15.0 * (i / 15.0) * (i / 15.0), 1e-5);
    CHECK(!memcmp(lab->data, ref->data, 64)); /* intensity transforms leave labels alone */
    /* noise: std within 5% of the drawn value range on a large image */
    hg_tensor *big = hg_new(NULL, 1, 200, 200);
    hg_augment_opts n = {.p_noise = 1, .noise_std = 0.5f};
    CHECK_OK(hg_augment(&n, 2, hg_rng_new(4), big, NULL, ctx));
    double s2 = 0;
    for (int64_t i = 0; i < big->numel; i++)
        s2 += big->data[i] * big->data[i];
    double sd = sqrt(s2 / (double)big->numel);
    CHECK(sd > 0.0 && sd <= 0.5 * 1.05);
    /* bias, blur, lowres, contrast keep a constant image's structure sensible */
    hg_tensor_fill(big, 1.0f);
    hg_augment_opts b = {.p_blur = 1, .blur_sigma_max = 2, .p_lowres = 1, .lowres_min = 0.5f};
    CHECK_OK(hg_augment(&b, 2, hg_rng_new(5), big, NULL, ctx));
    double err = 0;
    for (int64_t i = 0; i < big->numel; i++)
        err = fmax(err, fabs(big->data[i] - 1.0));
    CHECK_MSG(err < 1e-5, "blur + lowres of a constant image moved it by %g", err);
    hg_augment_opts bias = {.p_bias = 1, .bias_strength = 0.3f};
    CHECK_OK(hg_augment(&bias, 2, hg_rng_new(6), big, NULL, ctx));
    float lo = 1e9f, hi = -1e9f;
    for (int64_t i = 0; i < big->numel; i++)
        lo = fminf(lo, big->data[i]), hi = fmaxf(hi, big->data[i]);
    CHECK(lo >= expf(-0.3f) - 1e-4f && hi <= expf(0.3f) + 1e-4f && hi - lo > 0.05f);
    hg_augment_opts bad = {.p_flip = 2};
    CHECK_FAILS(hg_augment(&bad, 2, hg_rng_new(1), img, lab, ctx), HG_ERR_INVALID,
                "probability #0 is 2");
    hg_tensor *wrong = hg_new(NULL, 4, 5);
    hg_tensor_set_name(wrong, "seg");
    CHECK_FAILS(hg_augment(&a, 2, hg_rng_new(1), img, wrong, ctx), HG_ERR_INVALID,
                "label 'seg' has shape [4, 5]");
    hg_tensor_free(img), hg_tensor_free(lab), hg_tensor_free(ref), hg_tensor_free(big);
    hg_tensor_free(wrong);
    hg_ctx_free(ctx);
}

/* Every transform at once on a 3-D volume gives the same bytes with 1 and 2 threads. */
static void test_augment_threads(void)
{
    hg_ctx *ctx = hg_ctx_new();
    hg_shapes_opts o = {.ndim = 3, .size = {40, 40, 40}, .classes = 3, .objects = 3,
                        .noise = 0.05f};
    hg_tensor *x, *y;
    CHECK_OK(hg_shapes_batch(&o, 2, 0, 1, NULL, &x, &y));
    REQUIRE(x);
    hg_tensor img = *x, lab = *y;
    img.ndim = 4;
    memmove(img.shape, x->shape + 1, 4 * sizeof(int64_t));
    lab.ndim = 3;
    memmove(lab.shape, y->shape + 1, 3 * sizeof(int64_t));
    hg_tensor *i1 = hg_tensor_clone(NULL, &img), *l1 = hg_tensor_clone(NULL, &lab);
    hg_augment_opts a = {.p_flip = 0.5f, .p_rot90 = 1, .p_scale = 1, .scale_min = 0.9f,
                         .scale_max = 1.1f, .p_elastic = 1, .elastic_alpha = 1, .p_gamma = 1,
                         .gamma_min = 0.8f, .gamma_max = 1.2f, .p_contrast = 1,
                         .contrast_min = 0.9f, .contrast_max = 1.1f, .p_noise = 1,
                         .noise_std = 0.1f, .p_bias = 1, .bias_strength = 0.2f, .p_blur = 1,
                         .blur_sigma_max = 1.0f, .p_lowres = 1, .lowres_min = 0.6f};
    int threads = hg_get_threads();
    hg_set_threads(1);
    CHECK_OK(hg_augment(&a, 3, hg_rng_new(12), i1, l1, ctx));
    hg_set_threads(2);
    CHECK_OK(hg_augment(&a, 3, hg_rng_new(12), &img, &lab, ctx));
    hg_set_threads(threads);
    CHECK(same(i1, &img) && same(l1, &lab));
    hg_tensor_free(i1), hg_tensor_free(l1), hg_tensor_free(x), hg_tensor_free(y);
    hg_ctx_free(ctx);
}

int main(void)
{
    test_shapes();
    test_patches();
    test_augment_consistency(2);
    test_augment_consistency(3);
    test_augment_exact();
    test_augment_threads();
    return hg_test_finish("seg_data");
}
