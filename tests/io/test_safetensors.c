/* safetensors: round trip, metadata, strict loading into a model, and malformed files. */
#include "test_util.h"

#include <string.h>

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_header_file(const char *path, const char *json, size_t data_bytes)
{
    size_t n = strlen(json);
    unsigned char *buf = calloc(1, 8 + n + data_bytes);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    write_bytes(path, buf, 8 + n + data_bytes);
    free(buf);
}

int main(void)
{
    const char *path = hg_test_tmp("roundtrip.safetensors");
    hg_params p;
    hg_params_init(&p);
    hg_tensor *w = hg_params_add(&p, "conv.weight", true, HG_SHAPE(4, 2, 3, 3));
    hg_tensor *b = hg_params_add(&p, "conv.bias", true, HG_SHAPE(4));
    hg_test_fill(w, 1, -1, 1);
    hg_test_fill(b, 2, -1, 1);
    hg_metadata m;
    hg_metadata_init(&m);
    CHECK_OK(hg_metadata_set(&m, "step", "1234"));
    CHECK_OK(hg_safetensors_save(path, &p, &m));
    hg_metadata_free(&m);

    hg_params q;
    hg_params_init(&q);
    hg_metadata_init(&m);
    CHECK_OK(hg_safetensors_load(path, &q, &m));
    CHECK(q.count == 2);
    hg_tensor *w2 = hg_params_get(&q, "conv.weight");
    REQUIRE(w2);
    CHECK(hg_shape_equal(w, w2) && memcmp(w->data, w2->data, 72 * 4) == 0);
    CHECK(hg_metadata_get(&m, "step") && strcmp(hg_metadata_get(&m, "step"), "1234") == 0);
    hg_metadata_free(&m);
    hg_params_free(&q);

    /* load_into: shapes must match; a mismatch changes nothing */
    hg_params other;
    hg_params_init(&other);
    hg_tensor *ow = hg_params_add(&other, "conv.weight", true, HG_SHAPE(4, 2, 5, 5));
    hg_params_add(&other, "conv.bias", true, HG_SHAPE(4));
    hg_tensor_fill(ow, 7.0f);
    CHECK_FAILS(hg_safetensors_load_into(path, &other, true, NULL), HG_ERR_FORMAT,
                "tensor 'conv.weight': expected shape [4, 2, 5, 5], file has [4, 2, 3, 3]");
    CHECK(ow->data[0] == 7.0f);
    hg_params_free(&other);
    hg_params_init(&other);
    hg_params_add(&other, "conv.weight", true, HG_SHAPE(4, 2, 3, 3));
    CHECK_FAILS(hg_safetensors_load_into(path, &other, true, NULL), HG_ERR_FORMAT,
                "unexpected tensor 'conv.bias'");
    CHECK_OK(hg_safetensors_load_into(path, &other, false, NULL));
    hg_params_add(&other, "fc.weight", true, HG_SHAPE(2));
    CHECK_FAILS(hg_safetensors_load_into(path, &other, false, NULL), HG_ERR_FORMAT,
                "tensor 'fc.weight' is missing");
    hg_params_free(&other);

    /* Truncated at every length: always a clean error. */
    unsigned char *full;
    size_t size;
    CHECK_OK(hg_read_file(path, 1 << 20, &full, &size));
    const char *cut = hg_test_tmp("truncated.safetensors");
    for (size_t n = 0; n < size; n += (n < 200 ? 1 : 37)) {
        write_bytes(cut, full, n);
        hg_params_init(&q);
        hg_error_clear();
        CHECK_MSG(hg_safetensors_load(cut, &q, NULL) != HG_OK, "truncated at %zu loaded", n);
        CHECK(q.count == 0);
        hg_params_free(&q);
    }
    free(full);

    /* Hostile headers. */
    const char *bad = hg_test_tmp("bad.safetensors");
    write_header_file(bad, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1000000000,1000000000],"
                           "\"data_offsets\":[0,4]}}", 4);
    hg_params_init(&q);
    CHECK_FAILS(hg_safetensors_load(bad, &q, NULL), HG_ERR_FORMAT, "data_offsets");
    write_header_file(bad, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    CHECK_FAILS(hg_safetensors_load(bad, &q, NULL), HG_ERR_FORMAT, "already exists");
    write_header_file(bad, "{\"x\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    CHECK_FAILS(hg_safetensors_load(bad, &q, NULL), HG_ERR_UNSUPPORTED, "unsupported dtype 'Q4'");
    write_header_file(bad, "{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
    CHECK_OK(hg_safetensors_load(bad, &q, NULL));
    hg_params_free(&q);
    hg_params_init(&q);
    write_header_file(bad, "[1,2]", 0);
    CHECK_FAILS(hg_safetensors_load(bad, &q, NULL), HG_ERR_FORMAT, "not a JSON object");
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    write_bytes(bad, huge, sizeof huge);
    CHECK_FAILS(hg_safetensors_load(bad, &q, NULL), HG_ERR_FORMAT, "header length");
    hg_params_free(&q);

    /* A failed save leaves an existing file untouched. */
    CHECK(hg_safetensors_save("/nonexistent-dir/x.safetensors", &p, NULL) == HG_ERR_IO);
    hg_params_free(&p);
    return hg_test_finish("test_safetensors");
}
