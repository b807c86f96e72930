/* DICOM reading (single file, series with sorting and geometry), writing (Secondary Capture
 * round trip) and hostile input. Expected values come from pydicom + nibabel
 * (tools/fixtures/make_dicom_fixtures.py -> tests/fixtures/dicom/). */
#include "test_util.h"

#include "hinge/dicom.h"
#include "hinge/io.h"

#include <cJSON.h>
#include <dirent.h>
#include <string.h>

static double affine_err(const double a[4][4], const hg_tensor *want)
{
    double e = 0;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            e = fmax(e, fabs(a[r][c] - (double)want->data[4 * r + c]));
    return e;
}

static double max_abs_diff(const hg_tensor *a, const hg_tensor *b)
{
    double e = 0;
    for (int64_t i = 0; i < a->numel; i++)
        e = fmax(e, fabs((double)a->data[i] - (double)b->data[i]));
    return e;
}

static void test_single_file(const hg_params *fx)
{
    hg_image img;
    hg_image_init(&img);
    CHECK_OK(hg_dicom_read(hg_test_fixture("dicom/CT_small.dcm"), NULL, &img));
    REQUIRE(img.data);
    const hg_tensor *want = hg_test_get(fx, "ct.volume");
    CHECK(img.data->ndim == 3 && img.data->shape[0] == 1 && img.data->shape[1] == 128 &&
          img.data->shape[2] == 128);
    CHECK_NEAR(max_abs_diff(img.data, want), 0, 0); /* HU = 1 * stored - 1024, exact */
    double aff[4][4];
    hg_image_affine(&img, aff);
    double e = affine_err(aff, hg_test_get(fx, "ct.affine"));
    printf("CT_small: HU exact, affine max error vs nibabel %.3g\n", e);
    CHECK_NEAR(e, 0, 1e-4);
    CHECK(img.qform_code == HG_XFORM_SCANNER && img.sform_code == HG_XFORM_SCANNER);
    CHECK(!strcmp(img.format, "dicom") && img.datatype == HG_DT_INT16);
    CHECK(img.scl_slope == 1 && img.scl_inter == -1024);
    const char *mod = hg_image_meta_string(&img, "Modality");
    CHECK(mod && !strcmp(mod, "CT"));
    char code[4];
    hg_image_orientation(&img, code);
    CHECK_MSG(!strcmp(code, "LPS"), "orientation %s", code); /* axial DICOM: i->L, j->P */
    hg_image_free(&img);
}

static const char *series_a = "1.2.826.0.1.3680043.8.498.1";
static const char *series_b = "1.2.826.0.1.3680043.8.498.2";

static void test_series(const hg_params *fx)
{
    const char *dir = hg_test_fixture("dicom/series");
    hg_dicom_series_info *info;
    int n;
    CHECK_OK(hg_dicom_list(dir, &info, &n));
    REQUIRE(n == 2);
    int ia = strcmp(info[0].series_uid, series_a) ? 1 : 0;
    CHECK(!strcmp(info[ia].series_uid, series_a) && !strcmp(info[1 - ia].series_uid, series_b));
    CHECK(info[ia].slices == 5 && info[ia].rows == 16 && info[ia].cols == 16 &&
          info[ia].nfiles == 5 && !info[ia].irregular);
    CHECK_NEAR(info[ia].spacing[0], 0.6, 1e-6);
    CHECK_NEAR(info[ia].spacing[1], 0.8, 1e-6);
    CHECK_NEAR(info[ia].spacing[2], 2.5, 1e-4);
    CHECK(info[1 - ia].slices == 3 && info[1 - ia].irregular);
    CHECK(!strcmp(info[ia].modality, "CT"));
    free(info);

    hg_image img;
    hg_image_init(&img);
    CHECK_FAILS(hg_dicom_read(dir, NULL, &img), HG_ERR_INVALID, "several series");
    CHECK(hg_test_contains(hg_error_message(), series_a) &&
          hg_test_contains(hg_error_message(), series_b));
    CHECK_FAILS(hg_dicom_read(dir, "1.2.3", &img), HG_ERR_INVALID, "no series with");
    const char *tags[2] = {"a", "b"};
    const char *uids[2] = {series_a, series_b};
    for (int s = 0; s < 2; s++) {
        char name[32];
        CHECK_OK(hg_dicom_read(dir, uids[s], &img));
        REQUIRE(img.data);
        snprintf(name, sizeof name, "%s.volume", tags[s]);
        const hg_tensor *want = hg_test_get(fx, name);
        CHECK(img.data->numel == want->numel && img.data->shape[0] == want->shape[0]);
        double dv = max_abs_diff(img.data, want);
        double aff[4][4];
        hg_image_affine(&img, aff);
        snprintf(name, sizeof name, "%s.affine", tags[s]);
        double e = affine_err(aff, hg_test_get(fx, name));
        printf("series %s: values max |diff| %g (sorted by position), affine max error %.3g\n",
               tags[s], dv, e);
        CHECK_NEAR(dv, 0, 0);
        CHECK_NEAR(e, 0, 1e-4);
        bool has = cJSON_IsTrue(cJSON_GetObjectItem(img.sidecar, "SliceSpacingIrregular"));
        CHECK(has == (s == 1));
        hg_image_free(&img);
    }
}

/* Enhanced multi-frame: geometry and rescale from the functional groups, frames sorted. */
static void test_enhanced(const hg_params *fx)
{
    hg_image img;
    hg_image_init(&img);
    CHECK_OK(hg_dicom_read(hg_test_fixture("dicom/enhanced_ct.dcm"), NULL, &img));
    REQUIRE(img.data);
    const hg_tensor *want = hg_test_get(fx, "enh.volume");
    CHECK(img.data->numel == want->numel && img.data->shape[0] == 4);
    double dv = max_abs_diff(img.data, want), aff[4][4];
    hg_image_affine(&img, aff);
    double e = affine_err(aff, hg_test_get(fx, "enh.affine"));
    printf("enhanced multi-frame: values max |diff| %g (frames sorted), affine max error %.3g\n",
           dv, e);
    CHECK_NEAR(dv, 0, 0);
    CHECK_NEAR(e, 0, 1e-4);
    CHECK_NEAR(img.spacing[2], 1.5, 1e-4);
    hg_image_free(&img);
}

static void test_write_roundtrip(void)
{
    const char *dir = hg_test_fixture("dicom/series");
    hg_image img, back;
    hg_image_init(&img);
    hg_image_init(&back);
    CHECK_OK(hg_dicom_read(dir, series_a, &img));
    REQUIRE(img.data);
    /* A label map derived from the image (what a segmentation would write back). */
    for (int64_t i = 0; i < img.data->numel; i++)
        img.data->data[i] = img.data->data[i] > 0 ? 1.0f : img.data->data[i] > -500 ? 2.0f : 0;
    const char *out = hg_test_tmp("seg_out");
    hg_dicom_write_opts o = {.ref_series_uid = series_a, .series_description = "hinge seg",
                             .modality = "SEG", .series_number = 99};
    CHECK_OK(hg_dicom_write_series(out, &img, &o));
    CHECK_OK(hg_dicom_read(out, NULL, &back));
    REQUIRE(back.data);
    CHECK(back.data->numel == img.data->numel);
    CHECK_NEAR(max_abs_diff(back.data, img.data), 0, 0);
    double a[4][4], b[4][4], e = 0;
    hg_image_affine(&img, a);
    hg_image_affine(&back, b);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            e = fmax(e, fabs(a[r][c] - b[r][c]));
    printf("write round trip: labels exact, affine max error %.3g\n", e);
    CHECK_NEAR(e, 0, 1e-5);
    char path[1024], s[80];
    snprintf(path, sizeof path, "%s/slice_0000.dcm", out);
    hg_dicom_file *f = hg_dicom_file_open(path);
    REQUIRE(f);
    CHECK(hg_dicom_file_string(f, 0x00080016, s, sizeof s) &&
          !strcmp(s, "1.2.840.10008.5.1.4.1.1.7"));
    CHECK(hg_dicom_file_string(f, 0x0008103E, s, sizeof s) && !strcmp(s, "hinge seg"));
    CHECK(hg_dicom_file_string(f, 0x00080060, s, sizeof s) && !strcmp(s, "SEG"));
    hg_dicom_file_close(f);
    /* The referenced series UID is inside the ReferencedSeriesSequence item. */
    unsigned char *bytes;
    size_t size;
    REQUIRE(hg_read_file(path, 1 << 20, &bytes, &size) == HG_OK);
    bool found = false;
    for (size_t i = 0; i + strlen(series_a) <= size && !found; i++)
        found = !memcmp(bytes + i, series_a, strlen(series_a));
    CHECK(found);
    free(bytes);
    /* Non-integral values cannot be stored as int16. */
    img.data->data[3] = 0.5f;
    CHECK_FAILS(hg_dicom_write_series(out, &img, NULL), HG_ERR_INVALID, "not an integer");
    hg_image_free(&img);
    hg_image_free(&back);
}

/* DICOM SEG of a series: written, read back to the same label map and geometry. */
static void test_seg(void)
{
    const char *dir = hg_test_fixture("dicom/series");
    hg_image src, back;
    hg_image_init(&src);
    hg_image_init(&back);
    CHECK_OK(hg_dicom_read(dir, series_a, &src));
    REQUIRE(src.data);
    hg_tensor *lab = hg_tensor_new(NULL, HG_F32, 3, src.data->shape);
    REQUIRE(lab);
    int64_t counts[3] = {0};
    for (int64_t i = 0; i < lab->numel; i++) {
        float v = src.data->data[i];
        lab->data[i] = v > 1500 ? 2.0f : v > 1200 ? 1.0f : 0.0f;
        counts[(int)lab->data[i]]++;
    }
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] > 0); /* all three labels occur */
    const char *names[] = {"soft tissue", "bone"};
    hg_dicom_seg_opts o = {.segment_labels = names, .nsegment_labels = 2, .series_number = 7};
    const char *path = hg_test_tmp("seg.dcm");
    char seg_path[1024];
    snprintf(seg_path, sizeof seg_path, "%s", path);
    CHECK_OK(hg_dicom_write_seg(seg_path, lab, &src, &o));
    CHECK_OK(hg_dicom_read_seg(seg_path, &back));
    REQUIRE(back.data);
    CHECK(back.data->numel == lab->numel && back.data->shape[0] == lab->shape[0]);
    double dv = 0, da = 0, a[4][4], b[4][4];
    for (int64_t i = 0; i < lab->numel && back.data->numel == lab->numel; i++)
        dv = fmax(dv, fabs((double)back.data->data[i] - (double)lab->data[i]));
    hg_image_affine(&src, a);
    hg_image_affine(&back, b);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            da = fmax(da, fabs(a[r][c] - b[r][c]));
    printf("SEG round trip: labels max |diff| %g, affine max |diff| %.3g\n", dv, da);
    CHECK_NEAR(dv, 0, 0);
    CHECK_NEAR(da, 0, 1e-5);
    /* The SEG references the source study and series. */
    hg_dicom_file *f = hg_dicom_file_open(seg_path);
    REQUIRE(f);
    char v[80];
    CHECK(hg_dicom_file_string(f, 0x0020000D, v, sizeof v) &&
          !strcmp(v, hg_image_meta_string(&src, "StudyInstanceUID")));
    CHECK(hg_dicom_file_string(f, 0x00080060, v, sizeof v) && !strcmp(v, "SEG"));
    hg_dicom_file_close(f);
    /* Wrong shapes and non-label values are refused. */
    lab->data[5] = 0.5f;
    CHECK_FAILS(hg_dicom_write_seg(seg_path, lab, &src, NULL), HG_ERR_INVALID, "0..255");
    CHECK_FAILS(hg_dicom_read_seg(hg_test_fixture("dicom/CT_small.dcm"), &back), HG_ERR_FORMAT,
                "not Segmentation Storage");
    hg_tensor_free(lab);
    hg_image_free(&src);
    hg_image_free(&back);
}

/* A minimal Part 10 file: meta with the given syntax, then `body` (explicit VR LE). */
static size_t make_file(uint8_t *buf, const char *ts, const uint8_t *body, size_t n)
{
    memset(buf, 0, 128);
    memcpy(buf + 128, "DICM", 4);
    size_t k = 132, len = strlen(ts) + (strlen(ts) & 1);
    uint8_t h[8] = {2, 0, 0x10, 0, 'U', 'I', (uint8_t)len, 0};
    memcpy(buf + k, h, 8);
    memset(buf + k + 8, 0, len);
    memcpy(buf + k + 8, ts, strlen(ts));
    k += 8 + len;
    memcpy(buf + k, body, n);
    return k + n;
}

static void test_hostile(void)
{
    uint8_t buf[4096];
    size_t n;
    /* An element longer than the file. */
    const uint8_t big[] = {0x08, 0, 0x60, 0, 'C', 'S', 0xFF, 0x7F, 'C', 'T'};
    n = make_file(buf, "1.2.840.10008.1.2.1", big, sizeof big);
    CHECK_NULL_WITH(hg_dicom_file_parse(buf, n, "big.dcm"), "overruns");
    CHECK(hg_test_contains(hg_error_message(), "big.dcm") &&
          hg_test_contains(hg_error_message(), "(0008,0060)"));
    /* Sequences nested 40 deep (undefined lengths). */
    uint8_t deep[40 * 20 + 64];
    size_t k = 0;
    for (int i = 0; i < 40; i++) {
        const uint8_t sq[] = {0x08, 0, 0x15, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                              0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF};
        memcpy(deep + k, sq, sizeof sq);
        k += sizeof sq;
    }
    n = make_file(buf, "1.2.840.10008.1.2.1", deep, k);
    CHECK_NULL_WITH(hg_dicom_file_parse(buf, n, "deep.dcm"), "nested deeper than 16");
    /* An icon image (encapsulated pixel data nested in a sequence) is skipped, not taken
     * for the image's pixel data. */
    const uint8_t icon[] = {0x88, 0, 0x00, 0x02, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                            0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF,
                            0xE0, 0x7F, 0x10, 0, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                            0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0,
                            0xFE, 0xFF, 0x00, 0xE0, 2, 0, 0, 0, 0xFF, 0xD8,
                            0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0,
                            0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0,
                            0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0,
                            0x08, 0, 0x60, 0, 'C', 'S', 2, 0, 'M', 'R'};
    n = make_file(buf, "1.2.840.10008.1.2.1", icon, sizeof icon);
    hg_dicom_file *fi = hg_dicom_file_parse(buf, n, "icon.dcm");
    CHECK_MSG(fi != NULL, "%s", hg_error_message());
    if (fi) {
        char mod[8];
        CHECK(hg_dicom_file_string(fi, 0x00080060, mod, sizeof mod) && !strcmp(mod, "MR"));
        hg_dicom_pixels ip;
        CHECK_FAILS(hg_dicom_file_pixels(fi, &ip), HG_ERR_FORMAT, "no pixel data");
        hg_dicom_file_close(fi);
    }
    /* Two Pixel Data elements (found in code review: the second leaked the first's offset
     * table): refused. */
    const uint8_t two[] = {0xE0, 0x7F, 0x10, 0, 'O', 'B', 0, 0, 2, 0, 0, 0, 1, 2,
                           0xE0, 0x7F, 0x10, 0, 'O', 'B', 0, 0, 2, 0, 0, 0, 1, 2};
    n = make_file(buf, "1.2.840.10008.1.2.1", two, sizeof two);
    CHECK_NULL_WITH(hg_dicom_file_parse(buf, n, "two.dcm"), "second Pixel Data");
    /* A NumberOfFrames that would overflow the slice table of a series: refused by name. */
    const uint8_t frames[] = {0x28, 0, 0x08, 0, 'I', 'S', 12, 0, '2', '3', '0', '5', '8', '4',
                              '3', '0', '0', '9', '2', '1',
                              0x28, 0, 0x10, 0, 'U', 'S', 2, 0, 1, 0,
                              0x28, 0, 0x11, 0, 'U', 'S', 2, 0, 1, 0,
                              0x28, 0, 0x00, 1, 'U', 'S', 2, 0, 8, 0,
                              0xE0, 0x7F, 0x10, 0, 'O', 'B', 0, 0, 2, 0, 0, 0, 1, 2};
    n = make_file(buf, "1.2.840.10008.1.2.1", frames, sizeof frames);
    char fpath[1024];
    snprintf(fpath, sizeof fpath, "%s", hg_test_tmp("frames.dcm"));
    FILE *fp = fopen(fpath, "wb");
    REQUIRE(fp && fwrite(buf, 1, n, fp) == n);
    fclose(fp);
    hg_image img;
    hg_image_init(&img);
    CHECK_FAILS(hg_dicom_read(fpath, NULL, &img), HG_ERR_FORMAT,
                "NumberOfFrames '230584300921' is not in 1..16777216");
    /* An unsupported transfer syntax is refused by name. */
    const uint8_t px[] = {0xE0, 0x7F, 0x10, 0, 'O', 'B', 0, 0, 2, 0, 0, 0, 1, 2};
    n = make_file(buf, "1.2.840.10008.1.2.4.100", px, sizeof px);
    hg_dicom_file *f = hg_dicom_file_parse(buf, n, "mpeg.dcm");
    REQUIRE(f);
    hg_dicom_pixels p;
    CHECK_FAILS(hg_dicom_file_pixels(f, &p), HG_ERR_UNSUPPORTED,
                "unsupported transfer syntax 1.2.840.10008.1.2.4.100 (MPEG2 Main Profile");
    hg_dicom_file_close(f);
    n = make_file(buf, "1.2.3.4", px, sizeof px);
    CHECK_NULL_WITH(hg_dicom_file_parse(buf, n, "odd.dcm"), "unsupported transfer syntax 1.2.3.4");
    /* Rows x Columns far beyond the pixel data: refused before allocating. */
    const uint8_t hdr[] = {0x28, 0, 0x10, 0, 'U', 'S', 2, 0, 0xFF, 0xFF,
                           0x28, 0, 0x11, 0, 'U', 'S', 2, 0, 0xFF, 0xFF,
                           0x28, 0, 0x00, 1, 'U', 'S', 2, 0, 16, 0,
                           0xE0, 0x7F, 0x10, 0, 'O', 'W', 0, 0, 2, 0, 0, 0, 1, 2};
    n = make_file(buf, "1.2.840.10008.1.2.1", hdr, sizeof hdr);
    REQUIRE((f = hg_dicom_file_parse(buf, n, "huge.dcm")));
    CHECK_FAILS(hg_dicom_file_pixels(f, &p), HG_ERR_FORMAT, "pixel data has 2 bytes");
    hg_dicom_file_close(f);
    /* Every truncation of a real file: a clean error or a clean success, never a crash
     * (run under ASan in the sanitizer build). */
    unsigned char *ct;
    size_t ct_n;
    REQUIRE(hg_read_file(hg_test_fixture("dicom/MR_small_RLE.dcm"), 1 << 20, &ct, &ct_n) == HG_OK);
    int refused = 0;
    for (size_t cut = 0; cut < ct_n; cut += 37) {
        f = hg_dicom_file_parse(ct, cut, "cut.dcm");
        if (!f) {
            refused++;
            CHECK(hg_test_contains(hg_error_message(), "cut.dcm"));
            continue;
        }
        if (hg_dicom_file_pixels(f, &p) == HG_OK)
            hg_dicom_pixels_free(&p);
        else
            refused++;
        hg_dicom_file_close(f);
    }
    CHECK(refused > 0);
    free(ct);
}

/* Inputs the fuzzer (tools/fuzz) once found crashing: each must now parse or fail cleanly. */
static void test_fuzz_regressions(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", hg_test_fixture("dicom/fuzz"));
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hg_dicom_file *f = hg_dicom_file_open(path);
        hg_dicom_pixels p;
        if (f && hg_dicom_file_pixels(f, &p) == HG_OK)
            hg_dicom_pixels_free(&p);
        else
            CHECK(hg_error_message()[0] != 0);
        hg_dicom_file_close(f);
        n++;
    }
    if (d)
        closedir(d);
    printf("fuzz regression inputs: %d\n", n);
}

int main(void)
{
    hg_params fx;
    hg_params_init(&fx);
    hg_test_load_fixture("dicom/series_expected.safetensors", &fx);
    test_single_file(&fx);
    test_series(&fx);
    test_enhanced(&fx);
    test_write_roundtrip();
    test_seg();
    test_hostile();
    test_fuzz_regressions();
    hg_params_free(&fx);
    return hg_test_finish("dicom");
}
