/* NIfTI reading against nibabel (fixtures written and read by nibabel), round trips through
 * our writer, sidecars, and hostile or truncated files. */
#include "hinge/image.h"
#include "test_util.h"

#include <cJSON.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define NIB_DATA "/usr/lib/python3/dist-packages/nibabel/tests/data/"

static hg_params fx;
static hg_metadata fx_meta;

static const hg_tensor *fx_get(const char *name, const char *what)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", name, what);
    return hg_test_get(&fx, key);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static double mat_err(const double a[4][4], const float *b)
{
    double e = 0;
    for (int i = 0; i < 16; i++)
        e = fmax(e, fabs(a[i / 4][i % 4] - (double)b[i]));
    return e;
}

/* Geometry and header codes against nibabel's reading. */
static void check_geometry(const char *name, const hg_image *img)
{
    const hg_tensor *shape = fx_get(name, "shape");
    REQUIRE(img->data);
    CHECK_MSG(img->data->ndim == shape->numel, "%s: ndim %d vs %lld", name, img->data->ndim,
              (long long)shape->numel);
    for (int i = 0; i < shape->numel && i < img->data->ndim; i++)
        CHECK_MSG(img->data->shape[i] == (int64_t)shape->data[i], "%s: shape[%d]", name, i);
    const hg_tensor *codes = fx_get(name, "codes");
    CHECK_MSG(img->qform_code == (int)codes->data[0], "%s qform_code", name);
    CHECK_MSG(img->sform_code == (int)codes->data[1], "%s sform_code", name);
    CHECK_MSG(img->datatype == (int)codes->data[2], "%s datatype %d", name, img->datatype);
    /* example4d's quaternion has b^2 + c^2 + d^2 within 2e-8 of 1, so a = sqrt(1 - ...) is
     * ill-conditioned and nifti_clib and nibabel (different thresholds) differ by 1.4e-4. */
    double qtol = strstr(name, "nib.example") ? 2e-4 : 1e-5;
    if (img->qform_code > 0)
        CHECK_MSG(mat_err(img->qform, fx_get(name, "qform")->data) < qtol, "%s qform err %g",
                  name, mat_err(img->qform, fx_get(name, "qform")->data));
    if (img->sform_code > 0)
        CHECK_MSG(mat_err(img->sform, fx_get(name, "sform")->data) < 1e-5, "%s sform", name);
    double aff[4][4];
    hg_image_affine(img, aff);
    CHECK_MSG(mat_err(aff, fx_get(name, "affine")->data) < 1e-5, "%s affine err %g", name,
              mat_err(aff, fx_get(name, "affine")->data));
    const hg_tensor *sp = fx_get(name, "spacing");
    for (int i = 0; i < sp->numel; i++)
        CHECK_NEAR(img->spacing[i], sp->data[i], 1e-6);
    char key[256], code[4];
    snprintf(key, sizeof key, "%s.axcodes", name);
    hg_image_orientation(img, code);
    const char *want = hg_metadata_get(&fx_meta, key);
    CHECK_MSG(want && strcmp(code, want) == 0, "%s: orientation %s, nibabel %s", name, code,
              want ? want : "?");
}

static const char *fixture_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "nifti/%s", name);
    return buf;
}

static void check_case(const char *name)
{
    hg_image img;
    hg_image_init(&img);
    CHECK_OK(hg_nifti_read(hg_test_fixture(fixture_path(name)), &img));
    if (!img.data)
        return;
    check_geometry(name, &img);
    const hg_tensor *want = fx_get(name, "data");
    REQUIRE(want->numel == hg_tensor_nfloats(img.data));
    double err = hg_test_rel_err(img.data->data, want->data, want->numel);
    CHECK_MSG(err == 0.0, "%s: max rel err vs nibabel %g", name, err);

    /* Round trips: v1/v2, .nii/.nii.gz; float data must come back bit-exact. */
    const char *outs[] = {"rt.nii", "rt.nii.gz"};
    for (int v = 1; v <= 2; v++)
        for (int k = 0; k < 2; k++) {
            const char *out = hg_test_tmp(outs[k]);
            hg_nifti_write_opts o = {.version = v};
            CHECK_OK(hg_nifti_write(out, &img, &o));
            hg_image back;
            hg_image_init(&back);
            CHECK_OK(hg_nifti_read(out, &back));
            REQUIRE(back.data);
            CHECK(hg_shape_equal(back.data, img.data) && back.data->dtype == img.data->dtype);
            CHECK_MSG(memcmp(back.data->data, img.data->data,
                             (size_t)hg_tensor_nfloats(img.data) * 4) == 0,
                      "%s: round trip v%d %s not bit-exact", name, v, outs[k]);
            CHECK(back.qform_code == img.qform_code && back.sform_code == img.sform_code);
            CHECK(strcmp(back.format, v == 1 ? "nifti1" : "nifti2") == 0);
            double a[4][4], b[4][4];
            hg_image_affine(&img, a);
            hg_image_affine(&back, b);
            float bf[16];
            for (int i = 0; i < 16; i++)
                bf[i] = (float)b[i / 4][i % 4];
            CHECK_MSG(mat_err(a, bf) < 1e-5, "%s: affine changed by round trip (%g)", name,
                      mat_err(a, bf));
            hg_image_free(&back);
        }
    hg_image_free(&img);
}

/* nibabel's own test files: stats + strided sample (they are large). Skipped when absent. */
static void check_nibabel_file(const char *file)
{
    char path[512], name[256], key[300];
    snprintf(path, sizeof path, NIB_DATA "%s", file);
    snprintf(name, sizeof name, "nib.%s", file);
    if (!exists(path)) {
        printf("skip %s (nibabel test data not installed)\n", path);
        return;
    }
    hg_image img;
    hg_image_init(&img);
    CHECK_OK(hg_nifti_read(path, &img));
    if (!img.data)
        return;
    check_geometry(name, &img);
    snprintf(key, sizeof key, "%s.sample_every", name);
    const char *every_s = hg_metadata_get(&fx_meta, key);
    int64_t n = img.data->numel;
    if (every_s) {
        int64_t every = atoll(every_s);
        const hg_tensor *sample = fx_get(name, "sample");
        const hg_tensor *stats = fx_get(name, "stats");
        double sum = 0, mn = INFINITY, mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            sum += img.data->data[i];
            mn = fmin(mn, img.data->data[i]);
            mx = fmax(mx, img.data->data[i]);
        }
        CHECK_NEAR(sum, stats->data[0], 1e-6 * fabs(stats->data[0]) + 1e-3);
        CHECK(mn == stats->data[1] && mx == stats->data[2]);
        int64_t bad = 0;
        for (int64_t i = 0, j = 0; i < n && j < sample->numel; i += every, j++)
            bad += img.data->data[i] != sample->data[j];
        CHECK_MSG(bad == 0, "%s: %lld sampled voxels differ from nibabel", file, (long long)bad);
    } else {
        const hg_tensor *want = fx_get(name, "data");
        CHECK(want->numel == n && hg_test_rel_err(img.data->data, want->data, n) == 0.0);
    }
    hg_image_free(&img);
}

static unsigned char *load(const char *path, size_t *n)
{
    unsigned char *buf;
    REQUIRE(hg_read_file(path, 1 << 24, &buf, n) == HG_OK);
    return buf;
}

static void save_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fwrite(buf, 1, n, f);
    fclose(f);
}

static void save_gz(const char *path, const void *buf, size_t n)
{
    gzFile g = gzopen(path, "wb");
    REQUIRE(g);
    gzwrite(g, buf, (unsigned)n);
    gzclose(g);
}

static void put16(unsigned char *b, size_t off, int16_t v) { memcpy(b + off, &v, 2); }

/* Patches a copy of u8_2d.nii (NIfTI-1, little-endian, 9 x 7 uint8) and expects a refusal. */
static void check_hostile(void (*patch)(unsigned char *), hg_status status, const char *needle)
{
    size_t n;
    unsigned char *b = load(hg_test_fixture("nifti/u8_2d.nii"), &n);
    patch(b);
    const char *p = hg_test_tmp("hostile.nii");
    save_bytes(p, b, n);
    hg_image img;
    hg_image_init(&img);
    CHECK_FAILS(hg_nifti_read(p, &img), status, needle);
    CHECK(img.data == NULL);
    /* The same header gzipped: still refused before allocating. */
    const char *pg = hg_test_tmp("hostile.nii.gz");
    save_gz(pg, b, n);
    CHECK_FAILS(hg_nifti_read(pg, &img), status, "");
    free(b);
}

static void p_dim0(unsigned char *b) { put16(b, 40, 9); }
static void p_dim_zero(unsigned char *b) { put16(b, 42, 0); }
static void p_dim_neg(unsigned char *b) { put16(b, 44, -5); }
static void p_dim_huge(unsigned char *b)
{
    put16(b, 40, 7);
    for (int i = 1; i <= 7; i++)
        put16(b, 40 + 2 * (size_t)i, 32767);
}
static void p_dim_big(unsigned char *b) { put16(b, 42, 30000), put16(b, 44, 30000); }
static void p_rgb(unsigned char *b) { put16(b, 70, 128), put16(b, 72, 24); }
static void p_bitpix(unsigned char *b) { put16(b, 72, 16); }
static void p_vox_small(unsigned char *b)
{
    float v = 100.0f;
    memcpy(b + 108, &v, 4);
}
static void p_vox_frac(unsigned char *b)
{
    float v = 352.5f;
    memcpy(b + 108, &v, 4);
}
static void p_vox_far(unsigned char *b)
{
    float v = 1e9f;
    memcpy(b + 108, &v, 4);
}
static void p_dim6_ones(unsigned char *b)
{
    put16(b, 40, 6);
    for (int i = 3; i <= 6; i++)
        put16(b, 40 + 2 * (size_t)i, 1);
}
static void p_dim6(unsigned char *b) { p_dim6_ones(b), put16(b, 52, 2); }
static void p_sizeof(unsigned char *b) { b[0] = 'G', b[1] = 'I', b[2] = 'F', b[3] = '8'; }
static void p_magic(unsigned char *b) { memcpy(b + 344, "xx1", 4); }

static void check_truncations(const char *fixture, const char *ext)
{
    size_t n;
    unsigned char *b = load(hg_test_fixture(fixture), &n);
    char name[64];
    snprintf(name, sizeof name, "cut%s", ext);
    const char *p = hg_test_tmp(name);
    int loaded = 0;
    for (size_t k = 0; k < n; k += (k < 400 ? 1 : 7)) {
        save_bytes(p, b, k);
        hg_image img;
        hg_image_init(&img);
        hg_error_clear();
        if (hg_nifti_read(p, &img) == HG_OK)
            loaded++;
        else
            CHECK_MSG(strlen(hg_error_message()) > 0, "no message at %zu", k);
        hg_image_free(&img);
    }
    CHECK_MSG(loaded == 0, "%s: %d truncated copies loaded", fixture, loaded);
    free(b);
}

/* Random byte corruption of the header and the first data bytes: every outcome is either a
 * clean load or an error with a message (the sanitizer build checks memory safety). */
static void check_random_corruption(const char *fixture, const char *ext, uint64_t seed)
{
    size_t n;
    unsigned char *orig = load(hg_test_fixture(fixture), &n);
    unsigned char *b = malloc(n);
    char name[64];
    snprintf(name, sizeof name, "fuzz%s", ext);
    const char *p = hg_test_tmp(name);
    hg_rng r = hg_rng_new(seed);
    int failed = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(b, orig, n);
        int flips = 1 + (int)hg_rng_below(&r, 4);
        for (int k = 0; k < flips; k++)
            b[hg_rng_below(&r, n < 400 ? n : 400)] = (unsigned char)hg_rng_u32(&r);
        save_bytes(p, b, n);
        hg_image img;
        hg_image_init(&img);
        hg_error_clear();
        if (hg_nifti_read(p, &img) != HG_OK) {
            failed++;
            CHECK_MSG(strlen(hg_error_message()) > 0, "fuzz %d: error without a message", it);
        }
        hg_image_free(&img);
    }
    printf("%s: %d of 300 corrupted copies refused\n", fixture, failed);
    free(b);
    free(orig);
}

static void check_write_errors(void)
{
    hg_image img;
    hg_image_init(&img);
    img.data = hg_new(NULL, 3, 4);
    REQUIRE(img.data);
    hg_tensor_set_name(img.data, "labels");
    for (int i = 0; i < 12; i++)
        img.data->data[i] = (float)(i % 5);
    const char *p = hg_test_tmp("labels.nii.gz");
    unlink(p);
    hg_nifti_write_opts o = {.datatype = HG_DT_UINT8};
    CHECK_OK(hg_nifti_write(p, &img, &o));
    hg_image back;
    hg_image_init(&back);
    CHECK_OK(hg_nifti_read(p, &back));
    CHECK(back.datatype == HG_DT_UINT8 && back.data && back.data->data[11] == 1.0f);
    hg_image_free(&back);
    /* A value that uint8 cannot hold exactly: refused, the old file untouched. */
    img.data->data[7] = 2.5f;
    size_t before_n, after_n;
    unsigned char *before = load(p, &before_n);
    CHECK_FAILS(hg_nifti_write(p, &img, &o), HG_ERR_INVALID,
                "tensor 'labels' element 7 = 2.5 cannot be stored as UINT8");
    unsigned char *after = load(p, &after_n);
    CHECK(before_n == after_n && memcmp(before, after, before_n) == 0);
    free(before), free(after);
    const char *q = hg_test_tmp("never.nii");
    unlink(q);
    CHECK_FAILS(hg_nifti_write(q, &img, &o), HG_ERR_INVALID, "element 7");
    CHECK(!exists(q));
    CHECK_FAILS(hg_nifti_write(hg_test_tmp("x.png"), &img, NULL), HG_ERR_INVALID,
                "expected a .nii or .nii.gz");
    CHECK_FAILS(hg_nifti_write("/nonexistent-dir/x.nii", &img, NULL), HG_ERR_IO, "x.nii");
    hg_nifti_write_opts v3 = {.version = 3};
    CHECK_FAILS(hg_nifti_write(q, &img, &v3), HG_ERR_INVALID, "version 3");
    hg_image_free(&img);
    CHECK_FAILS(hg_nifti_write(q, &img, NULL), HG_ERR_INVALID, "no data");
    CHECK_FAILS(hg_nifti_read(hg_test_tmp("missing.nii"), &img), HG_ERR_IO, "missing.nii");
}

static void check_sidecars(void)
{
    hg_image img;
    hg_image_init(&img);
    CHECK_OK(hg_nifti_read(hg_test_fixture("nifti/f64_4d.nii"), &img));
    double tr = 0;
    CHECK(hg_image_meta_number(&img, "RepetitionTime", &tr) && tr == 2.0);
    CHECK(hg_image_meta_string(&img, "Modality") &&
          strcmp(hg_image_meta_string(&img, "Modality"), "MR") == 0);
    CHECK(!hg_image_meta_number(&img, "Modality", &tr));
    double angles[3] = {0, 60, 120};
    CHECK_OK(hg_image_meta_set_numbers(&img, "Angles", angles, 3));
    CHECK_OK(hg_image_meta_set_number(&img, "RepetitionTime", 3.5));
    const char *p = hg_test_tmp("side.nii.gz");
    CHECK_OK(hg_nifti_write(p, &img, NULL));
    hg_image back;
    hg_image_init(&back);
    CHECK_OK(hg_nifti_read(p, &back));
    CHECK(hg_image_meta_number(&back, "RepetitionTime", &tr) && tr == 3.5);
    const cJSON *a = back.sidecar ? cJSON_GetObjectItem(back.sidecar, "Angles") : NULL;
    CHECK(cJSON_GetArraySize(a) == 3 && cJSON_GetArrayItem(a, 2)->valuedouble == 120.0);
    hg_image_free(&back);
    /* Rewriting without a sidecar removes the stale one; skip_sidecar leaves files alone. */
    cJSON_Delete(img.sidecar);
    img.sidecar = NULL;
    const char *js = hg_test_tmp("side.json");
    CHECK(exists(js));
    hg_nifti_write_opts keep = {.skip_sidecar = true};
    CHECK_OK(hg_nifti_write(p, &img, &keep));
    CHECK(exists(js));
    CHECK_OK(hg_nifti_write(p, &img, NULL));
    CHECK(!exists(js));
    hg_image_free(&img);

    char *sp = hg_sidecar_path("/a/b/x.nii.gz");
    CHECK(sp && strcmp(sp, "/a/b/x.json") == 0);
    free(sp);
    CHECK_NULL_WITH(hg_sidecar_path("x.png"), "no NIfTI extension");
    /* A broken sidecar fails the read with its name. */
    const char *bad = hg_test_tmp("badside.json");
    save_bytes(bad, "{\"a\": [1,", 9);
    cJSON *j = NULL;
    CHECK_FAILS(hg_sidecar_read(bad, &j), HG_ERR_FORMAT, "badside.json: not valid JSON");
    save_bytes(bad, "[1]", 3);
    CHECK_FAILS(hg_sidecar_read(bad, &j), HG_ERR_FORMAT, "expected a JSON object");
    CHECK_OK(hg_sidecar_read(hg_test_tmp("nope.json"), &j));
    CHECK(j == NULL);
}

int main(void)
{
    hg_params_init(&fx);
    hg_metadata_init(&fx_meta);
    if (hg_safetensors_load(hg_test_fixture("nifti/expected.safetensors"), &fx, &fx_meta)) {
        fprintf(stderr, "cannot load fixtures: %s\n", hg_error_message());
        return 1;
    }
    const char *cases[] = {"i16_scaled.nii.gz", "f64_4d.nii", "u8_2d.nii", "f32_be.nii",
                           "i32_5d_nifti2.nii.gz", "u16.nii.gz", "i8.nii", "c64.nii", "c128.nii.gz", "pair.hdr"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(cases[i]);
    const char *nib[] = {"anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz",
                         "functional.nii", "reoriented_anat_moved.nii", "standard.nii.gz"};
    for (size_t i = 0; i < sizeof nib / sizeof *nib; i++)
        check_nibabel_file(nib[i]);

    check_hostile(p_dim0, HG_ERR_FORMAT, "dim[0] = 9, expected 1..7");
    check_hostile(p_dim_zero, HG_ERR_FORMAT, "dim[1] = 0, expected >= 1");
    check_hostile(p_dim_neg, HG_ERR_FORMAT, "dim[2] = -5, expected >= 1");
    check_hostile(p_dim_huge, HG_ERR_FORMAT, "voxels");
    check_hostile(p_dim_big, HG_ERR_FORMAT, "promises 900000000 bytes");
    check_hostile(p_rgb, HG_ERR_UNSUPPORTED, "datatype 128 (RGB24) is not supported");
    check_hostile(p_bitpix, HG_ERR_FORMAT, "bitpix = 16 but datatype UINT8 has 8 bits");
    check_hostile(p_vox_small, HG_ERR_FORMAT, "bad vox_offset 100");
    check_hostile(p_vox_frac, HG_ERR_FORMAT, "bad vox_offset 352.5");
    check_hostile(p_vox_far, HG_ERR_FORMAT, "promises");
    check_hostile(p_dim6, HG_ERR_UNSUPPORTED, "6-D image with dim[6] = 2; at most 5");
    check_hostile(p_sizeof, HG_ERR_FORMAT, "not a NIfTI file");
    check_hostile(p_magic, HG_ERR_UNSUPPORTED, "no NIfTI-1 magic");
    {
        /* 6-D with trailing ones: read as 5-D [1, 1, 1, 7, 9] */
        size_t n;
        unsigned char *b = load(hg_test_fixture("nifti/u8_2d.nii"), &n);
        p_dim6_ones(b);
        const char *p = hg_test_tmp("dim6.nii");
        save_bytes(p, b, n);
        free(b);
        hg_image img;
        hg_image_init(&img);
        CHECK_OK(hg_nifti_read(p, &img));
        CHECK(img.data && img.data->ndim == 5 && img.data->shape[0] == 1 &&
              img.data->shape[3] == 7 && img.data->shape[4] == 9);
        hg_image_free(&img);
    }
    check_truncations("nifti/u8_2d.nii", ".nii");
    check_truncations("nifti/i16_scaled.nii.gz", ".nii.gz");
    check_truncations("nifti/i32_5d_nifti2.nii.gz", ".nii.gz");
    check_random_corruption("nifti/u8_2d.nii", ".nii", 11);
    check_random_corruption("nifti/i16_scaled.nii.gz", ".nii.gz", 12);
    check_write_errors();
    check_sidecars();

    hg_params_free(&fx);
    hg_metadata_free(&fx_meta);
    return hg_test_finish("test_nifti");
}
