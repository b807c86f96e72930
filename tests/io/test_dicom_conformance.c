/* Every file of pydicom's test set decodes to pydicom's pixel_array (CRC-32 of the values,
 * shape, min/max/mean) or is refused with the expected message
 * (tests/fixtures/dicom/pydicom_expected.json, made by tools/fixtures/make_dicom_fixtures.py).
 * The pydicom files are read from the Debian package when installed, else skipped. */
#include "test_util.h"

#include "hinge/dicom.h"
#include "hinge/io.h"

#include <cJSON.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define PYDICOM_FILES "/usr/lib/python3/dist-packages/pydicom/data/test_files"

static double value_at(const hg_dicom_pixels *p, size_t i)
{
    const uint8_t *b = (const uint8_t *)p->data + i * (size_t)p->bytes;
    if (p->bytes == 1)
        return p->is_signed ? (double)(int8_t)b[0] : (double)b[0];
    if (p->bytes == 2) {
        uint16_t u;
        memcpy(&u, b, 2);
        return p->is_signed ? (double)(int16_t)u : (double)u;
    }
    uint32_t u;
    memcpy(&u, b, 4);
    return p->is_signed ? (double)(int32_t)u : (double)u;
}

static void check_ok(const char *name, const hg_dicom_pixels *p, const cJSON *e)
{
    const cJSON *shape = cJSON_GetObjectItem(e, "shape");
    int64_t want[4] = {p->frames, p->rows, p->cols, p->samples}, dims[4];
    int nd = 0;
    for (int i = 0; i < 4; i++)
        if (want[i] > 1 || i == 1 || i == 2)
            dims[nd++] = want[i];
    CHECK_MSG(cJSON_GetArraySize(shape) == nd, "%s: %d dims, pydicom %d", name, nd,
              cJSON_GetArraySize(shape));
    for (int i = 0; i < nd && i < cJSON_GetArraySize(shape); i++)
        CHECK_MSG(dims[i] == (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble,
                  "%s: dim %d is %lld", name, i, (long long)dims[i]);
    size_t n = (size_t)(p->frames * p->rows * p->cols * p->samples);
    int itemsize = (int)cJSON_GetObjectItem(e, "itemsize")->valuedouble;
    CHECK_MSG(itemsize == p->bytes, "%s: %d bytes per value, pydicom %d", name, p->bytes,
              itemsize);
    uint32_t crc = (uint32_t)crc32(0, p->data, (uInt)(n * (size_t)p->bytes));
    double mn = 1e300, mx = -1e300, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double v = value_at(p, i);
        mn = v < mn ? v : mn, mx = v > mx ? v : mx, sum += v;
    }
    CHECK_MSG(crc == (uint32_t)cJSON_GetObjectItem(e, "crc32")->valuedouble,
              "%s: CRC-32 %u, pydicom %u (min %g/%g max %g/%g mean %g/%g)", name, crc,
              (uint32_t)cJSON_GetObjectItem(e, "crc32")->valuedouble, mn,
              cJSON_GetObjectItem(e, "min")->valuedouble, mx,
              cJSON_GetObjectItem(e, "max")->valuedouble, sum / (double)n,
              cJSON_GetObjectItem(e, "mean")->valuedouble);
    CHECK_NEAR(mn, cJSON_GetObjectItem(e, "min")->valuedouble, 0);
    CHECK_NEAR(mx, cJSON_GetObjectItem(e, "max")->valuedouble, 0);
    CHECK_NEAR(sum / (double)n, cJSON_GetObjectItem(e, "mean")->valuedouble, 1e-6 * (1 + mx));
}

static int check_file(const char *dir, const char *name, const cJSON *e, bool verbose)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *status = cJSON_GetObjectItem(e, "status")->valuestring;
    hg_error_clear();
    hg_dicom_file *f = hg_dicom_file_open(path);
    hg_dicom_pixels p = {0};
    hg_status s = f ? hg_dicom_file_pixels(f, &p) : hg_error_status();
    if (verbose)
        printf("%-44s %-9s -> %s %s\n", name, status, s ? hg_status_name(s) : "ok",
               s ? hg_error_message() : "");
    if (!strcmp(status, "ok")) {
        CHECK_MSG(s == HG_OK, "%s: %s", name, hg_error_message());
        if (!s)
            check_ok(name, &p, e);
    } else if (!strcmp(status, "decodes")) {
        CHECK_MSG(s == HG_OK, "%s: %s", name, hg_error_message());
    } else if (!strcmp(status, "nopixels")) {
        /* pydicom reads these lazily; hinge either parses them (then: no pixel data) or
         * refuses a damaged one with a message naming it. */
        CHECK_MSG(s != HG_OK && hg_test_contains(hg_error_message(), name) &&
                      (!f || hg_test_contains(hg_error_message(), "no pixel data")),
                  "%s: expected no pixel data, got %s", name, s ? hg_error_message() : "pixels");
    } else {
        const char *msg = cJSON_GetObjectItem(e, "message")->valuestring;
        CHECK_MSG(s != HG_OK && hg_test_contains(hg_error_message(), msg) &&
                      hg_test_contains(hg_error_message(), name),
                  "%s: expected an error naming the file with '%s', got %s", name, msg,
                  s ? hg_error_message() : "success");
    }
    hg_dicom_pixels_free(&p);
    hg_dicom_file_close(f);
    return 1;
}

int main(int argc, char **argv)
{
    bool verbose = argc > 1 && !strcmp(argv[1], "-v");
    unsigned char *text;
    size_t size;
    REQUIRE(hg_read_file(hg_test_fixture("dicom/pydicom_expected.json"), 1 << 20, &text, &size) ==
            HG_OK);
    cJSON *all = cJSON_ParseWithLength((const char *)text, size);
    free(text);
    REQUIRE(all != NULL);
    /* The committed copies always run; the full set when pydicom's data is installed. */
    const char *fixture_dir = hg_test_fixture("dicom");
    char fixdir[1024];
    snprintf(fixdir, sizeof fixdir, "%s", fixture_dir);
    int n = 0;
    const char *local[] = {"CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm"};
    for (int i = 0; i < 3; i++)
        n += check_file(fixdir, local[i], cJSON_GetObjectItem(all, local[i]), verbose);
    if (access(PYDICOM_FILES "/CT_small.dcm", R_OK) == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, all) n += check_file(PYDICOM_FILES, e->string, e, verbose);
    } else {
        printf("pydicom's test files not installed (%s): skipped\n", PYDICOM_FILES);
    }
    printf("%d files checked\n", n);
    cJSON_Delete(all);
    return hg_test_finish("dicom_conformance");
}
