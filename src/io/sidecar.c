/* BIDS-style JSON sidecars: x.json next to x.nii.gz carries acquisition geometry. */
#include "hinge/image.h"
#include "hinge/io.h"

#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SIDECAR_MAX_BYTES ((size_t)16 << 20)

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

char *hg_sidecar_path(const char *image_path)
{
    static const char *const exts[] = {".nii.gz", ".nii", ".hdr.gz", ".hdr", ".img.gz", ".img"};
    size_t n = strlen(image_path);
    for (size_t e = 0; e < sizeof exts / sizeof *exts; e++) {
        if (!ends_with(image_path, n, exts[e]))
            continue;
        size_t base = n - strlen(exts[e]);
        char *out = malloc(base + 6);
        if (!out) {
            hg_error(HG_ERR_NOMEM, "%s: out of memory", image_path);
            return NULL;
        }
        memcpy(out, image_path, base);
        memcpy(out + base, ".json", 6);
        return out;
    }
    hg_error(HG_ERR_INVALID, "%s: no NIfTI extension to derive a sidecar name from", image_path);
    return NULL;
}

hg_status hg_sidecar_read(const char *json_path, struct cJSON **out)
{
    *out = NULL;
    struct stat st;
    if (stat(json_path, &st) != 0 && errno == ENOENT)
        return HG_OK;
    unsigned char *buf;
    size_t n;
    hg_status s = hg_read_file(json_path, SIDECAR_MAX_BYTES, &buf, &n);
    if (s)
        return s;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    if (!j)
        return hg_error(HG_ERR_FORMAT, "%s: not valid JSON", json_path);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return hg_error(HG_ERR_FORMAT, "%s: expected a JSON object at the top level", json_path);
    }
    *out = j;
    return HG_OK;
}

hg_status hg_sidecar_write(const char *json_path, const struct cJSON *json)
{
    if (!cJSON_IsObject(json))
        return hg_error(HG_ERR_INVALID, "%s: sidecar must be a JSON object", json_path);
    char *text = cJSON_Print(json);
    if (!text)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory printing JSON", json_path);
    hg_atomic_file f;
    hg_status s = hg_atomic_open(&f, json_path);
    if (!s) {
        size_t n = strlen(text);
        if (fwrite(text, 1, n, f.fp) != n || fputc('\n', f.fp) == EOF) {
            s = hg_error(HG_ERR_IO, "%s: write failed: %s", json_path, strerror(errno));
            hg_atomic_abort(&f);
        } else {
            s = hg_atomic_commit(&f);
        }
    }
    cJSON_free(text);
    return s;
}

/* The sidecar object, created on demand. */
static cJSON *sidecar_of(hg_image *img)
{
    if (!img->sidecar)
        img->sidecar = cJSON_CreateObject();
    if (!img->sidecar)
        hg_error(HG_ERR_NOMEM, "image sidecar: out of memory");
    return img->sidecar;
}

static hg_status set_item(hg_image *img, const char *key, cJSON *item)
{
    cJSON *root = item ? sidecar_of(img) : NULL;
    if (!root) {
        cJSON_Delete(item);
        return hg_error(HG_ERR_NOMEM, "image sidecar: out of memory setting '%s'", key);
    }
    if (cJSON_HasObjectItem(root, key))
        cJSON_ReplaceItemInObjectCaseSensitive(root, key, item);
    else
        cJSON_AddItemToObject(root, key, item);
    return HG_OK;
}

hg_status hg_image_meta_set_number(hg_image *img, const char *key, double value)
{
    return set_item(img, key, cJSON_CreateNumber(value));
}

hg_status hg_image_meta_set_string(hg_image *img, const char *key, const char *value)
{
    return set_item(img, key, cJSON_CreateString(value));
}

hg_status hg_image_meta_set_numbers(hg_image *img, const char *key, const double *v, int n)
{
    if (n < 0)
        return hg_error(HG_ERR_INVALID, "image sidecar '%s': %d values", key, n);
    return set_item(img, key, cJSON_CreateDoubleArray(v, n));
}

bool hg_image_meta_number(const hg_image *img, const char *key, double *value)
{
    const cJSON *it = img->sidecar ? cJSON_GetObjectItemCaseSensitive(img->sidecar, key) : NULL;
    if (!cJSON_IsNumber(it))
        return false;
    *value = it->valuedouble;
    return true;
}

const char *hg_image_meta_string(const hg_image *img, const char *key)
{
    const cJSON *it = img->sidecar ? cJSON_GetObjectItemCaseSensitive(img->sidecar, key) : NULL;
    return cJSON_IsString(it) ? it->valuestring : NULL;
}
