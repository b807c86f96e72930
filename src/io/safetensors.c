/* safetensors reading and writing (format: github.com/huggingface/safetensors).
 * Every header field is validated before it sizes an allocation or an access. */
#include "hinge/io.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20)
#define ST_MAX_FILE ((size_t)16 << 30)

/* ---- metadata -------------------------------------------------------------------------- */

void hg_metadata_init(hg_metadata *m) { memset(m, 0, sizeof *m); }

void hg_metadata_free(hg_metadata *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->count; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

const char *hg_metadata_get(const hg_metadata *m, const char *key)
{
    for (int i = 0; m && i < m->count; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->values[i];
    return NULL;
}

hg_status hg_metadata_set(hg_metadata *m, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return hg_error(HG_ERR_NOMEM, "metadata: out of memory");
    for (int i = 0; i < m->count; i++)
        if (strcmp(m->keys[i], key) == 0) {
            free(m->values[i]);
            m->values[i] = v;
            return HG_OK;
        }
    char **keys = realloc(m->keys, (size_t)(m->count + 1) * sizeof *keys);
    if (keys)
        m->keys = keys;
    char **values = realloc(m->values, (size_t)(m->count + 1) * sizeof *values);
    if (values)
        m->values = values;
    char *k = strdup(key);
    if (!keys || !values || !k) {
        free(v), free(k);
        return hg_error(HG_ERR_NOMEM, "metadata: out of memory");
    }
    m->keys[m->count] = k;
    m->values[m->count] = v;
    m->count++;
    return HG_OK;
}

/* ---- writing --------------------------------------------------------------------------- */

hg_status hg_safetensors_save(const char *path, const hg_params *tensors,
                              const hg_metadata *meta)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    if (meta && meta->count > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < meta->count; i++)
            cJSON_AddStringToObject(m, meta->keys[i], meta->values[i]);
    }
    uint64_t offset = 0;
    for (int i = 0; i < tensors->count; i++) {
        const hg_tensor *t = tensors->items[i].tensor;
        cJSON *e = cJSON_AddObjectToObject(root, tensors->items[i].name);
        if (!e) {
            cJSON_Delete(root);
            return hg_error(HG_ERR_INVALID, "%s: cannot add tensor '%s' (duplicate name?)", path,
                            tensors->items[i].name);
        }
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        if (t->dtype == HG_C64)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(2));
        uint64_t bytes = (uint64_t)hg_tensor_nfloats(t) * sizeof(float);
        cJSON *off = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    size_t jlen = strlen(json);
    size_t padded = (jlen + 7) / 8 * 8; /* the data starts 8-byte aligned */
    hg_atomic_file f;
    hg_status s = hg_atomic_open(&f, path);
    if (s != HG_OK) {
        free(json);
        return s;
    }
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    fwrite(len, 1, 8, f.fp);
    fwrite(json, 1, jlen, f.fp);
    for (size_t i = jlen; i < padded; i++)
        fputc(' ', f.fp);
    free(json);
    for (int i = 0; i < tensors->count; i++) {
        const hg_tensor *t = tensors->items[i].tensor;
        /* Data are written as stored: this library only targets little-endian hosts. */
        fwrite(t->data, sizeof(float), (size_t)hg_tensor_nfloats(t), f.fp);
    }
    return hg_atomic_commit(&f);
}

/* ---- reading --------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int size;
} st_dtype;

static const st_dtype st_dtypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2},
                                     {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
                                     {"U8", 1},  {"BOOL", 1}};

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 0)
        v = ldexpf((float)man, -24);
    else if (exp == 31)
        v = man ? NAN : INFINITY;
    else
        v = ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

static float convert_one(const unsigned char *p, int kind)
{
    switch (kind) {
    case 0: { float v; memcpy(&v, p, 4); return v; }
    case 1: { double v; memcpy(&v, p, 8); return (float)v; }
    case 2: { uint16_t v; memcpy(&v, p, 2); return half_to_float(v); }
    case 3: { uint16_t v; memcpy(&v, p, 2); uint32_t u = (uint32_t)v << 16; float f; memcpy(&f, &u, 4); return f; }
    case 4: { int64_t v; memcpy(&v, p, 8); return (float)v; }
    case 5: { int32_t v; memcpy(&v, p, 4); return (float)v; }
    case 6: { int16_t v; memcpy(&v, p, 2); return (float)v; }
    case 7: return (float)(int8_t)p[0];
    default: return (float)p[0];
    }
}

/* Parses and validates one tensor entry; on success *t is a new heap tensor. */
static hg_status parse_entry(const char *path, const cJSON *e, const unsigned char *data,
                             uint64_t data_size, hg_tensor **t)
{
    const char *name = e->string;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return hg_error(HG_ERR_FORMAT,
                        "%s: tensor '%s': expected dtype, shape and data_offsets[2]", path, name);
    int kind = -1;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(dtype->valuestring, st_dtypes[i].name) == 0)
            kind = (int)i;
    if (kind < 0)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported dtype '%s'", path, name,
                        dtype->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > HG_MAX_DIMS)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions, at most %d", path,
                        name, nd, HG_MAX_DIMS);
    int64_t dims[HG_MAX_DIMS] = {1};
    int d = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, shape)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 9.0e15 ||
            it->valuedouble != floor(it->valuedouble))
            return hg_error(HG_ERR_FORMAT, "%s: tensor '%s': invalid shape entry %d", path, name,
                            d);
        dims[d++] = (int64_t)it->valuedouble;
    }
    if (nd == 0)
        nd = 1; /* a scalar is stored as [1] */
    int64_t numel = hg_shape_numel(nd, dims);
    const cJSON *b = cJSON_GetArrayItem(offs, 0), *en = cJSON_GetArrayItem(offs, 1);
    if (numel < 0 || !cJSON_IsNumber(b) || !cJSON_IsNumber(en) || b->valuedouble < 0 ||
        en->valuedouble < b->valuedouble || en->valuedouble > (double)data_size)
        return hg_error(HG_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets outside the %" PRIu64 "-byte data section",
                        path, name, data_size);
    uint64_t begin = (uint64_t)b->valuedouble, end = (uint64_t)en->valuedouble;
    uint64_t expect = (uint64_t)numel * (uint64_t)st_dtypes[kind].size;
    if (end - begin != expect)
        return hg_error(HG_ERR_FORMAT,
                        "%s: tensor '%s': shape needs %" PRIu64 " bytes, data_offsets give %" PRIu64,
                        path, name, expect, end - begin);
    hg_tensor *out = hg_tensor_empty(NULL, HG_F32, nd, dims);
    if (!out)
        return hg_error_context(HG_ERR_NOMEM, "%s: tensor '%s'", path, name);
    const unsigned char *src = data + begin;
    int sz = st_dtypes[kind].size;
    for (int64_t i = 0; i < numel; i++)
        out->data[i] = convert_one(src + i * sz, kind);
    *t = out;
    return HG_OK;
}

static hg_status load_all(const char *path, hg_params *out, hg_metadata *meta)
{
    unsigned char *buf;
    size_t size;
    hg_status s = hg_read_file(path, ST_MAX_FILE, &buf, &size);
    if (s != HG_OK)
        return s;
    if (size < 8) {
        free(buf);
        return hg_error(HG_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file", path,
                        size);
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)buf[i] << (8 * i);
    if (hlen > ST_MAX_HEADER || hlen > size - 8) {
        free(buf);
        return hg_error(HG_ERR_FORMAT,
                        "%s: header length %" PRIu64 " exceeds the file (%zu bytes) or limit",
                        path, hlen, size);
    }
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        free(buf);
        return hg_error(HG_ERR_FORMAT, "%s: the header is not a JSON object", path);
    }
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    const cJSON *e;
    s = HG_OK;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0) {
            const cJSON *kv;
            if (!cJSON_IsObject(e)) {
                s = hg_error(HG_ERR_FORMAT, "%s: __metadata__ is not an object", path);
                break;
            }
            cJSON_ArrayForEach(kv, e)
            {
                if (!cJSON_IsString(kv)) {
                    s = hg_error(HG_ERR_FORMAT, "%s: metadata '%s' is not a string", path,
                                 kv->string);
                    break;
                }
                if (meta && (s = hg_metadata_set(meta, kv->string, kv->valuestring)) != HG_OK)
                    break;
            }
            if (s != HG_OK)
                break;
            continue;
        }
        if (!cJSON_IsObject(e)) {
            s = hg_error(HG_ERR_FORMAT, "%s: entry '%s' is not an object", path, e->string);
            break;
        }
        hg_tensor *t = NULL;
        if ((s = parse_entry(path, e, data, data_size, &t)) != HG_OK)
            break;
        if ((s = hg_params_adopt(out, e->string, t)) != HG_OK) {
            hg_tensor_free(t);
            s = hg_error_context(HG_ERR_FORMAT, "%s", path);
            break;
        }
    }
    cJSON_Delete(root);
    free(buf);
    return s;
}

hg_status hg_safetensors_load(const char *path, hg_params *out, hg_metadata *meta)
{
    hg_params tmp;
    hg_params_init(&tmp);
    hg_metadata mtmp;
    hg_metadata_init(&mtmp);
    hg_status s = load_all(path, &tmp, &mtmp);
    if (s != HG_OK) {
        hg_params_free(&tmp);
        hg_metadata_free(&mtmp);
        return s;
    }
    for (int i = 0; i < tmp.count && s == HG_OK; i++) {
        s = hg_params_adopt(out, tmp.items[i].name, tmp.items[i].tensor);
        if (s == HG_OK)
            tmp.items[i].tensor = NULL;
    }
    for (int i = 0; i < tmp.count; i++)
        free(tmp.items[i].name), hg_tensor_free(tmp.items[i].tensor);
    free(tmp.items);
    if (meta)
        for (int i = 0; i < mtmp.count && s == HG_OK; i++)
            s = hg_metadata_set(meta, mtmp.keys[i], mtmp.values[i]);
    hg_metadata_free(&mtmp);
    return s;
}

hg_status hg_safetensors_load_into(const char *path, hg_params *params, bool strict,
                                   hg_metadata *meta)
{
    hg_params file;
    hg_params_init(&file);
    hg_status s = hg_safetensors_load(path, &file, meta);
    if (s != HG_OK) {
        hg_params_free(&file);
        return s;
    }
    /* Validate everything before touching the model. */
    for (int i = 0; i < params->count && s == HG_OK; i++) {
        hg_tensor *p = params->items[i].tensor;
        hg_tensor *f = hg_params_get(&file, params->items[i].name);
        char a[96], b[96];
        if (!f)
            s = hg_error(HG_ERR_FORMAT, "%s: tensor '%s' is missing (is this a checkpoint of "
                         "another model?)", path, params->items[i].name);
        else if (hg_tensor_nfloats(f) != hg_tensor_nfloats(p) ||
                 (p->dtype == HG_F32 && !hg_shape_equal(f, p)))
            s = hg_error(HG_ERR_FORMAT, "%s: tensor '%s': expected shape %s, file has %s", path,
                         params->items[i].name, hg_shape_str(p, a, sizeof a),
                         hg_shape_str(f, b, sizeof b));
    }
    if (s == HG_OK && strict)
        for (int i = 0; i < file.count && s == HG_OK; i++)
            if (!hg_params_get(params, file.items[i].name))
                s = hg_error(HG_ERR_FORMAT, "%s: unexpected tensor '%s' (not in the model)", path,
                             file.items[i].name);
    for (int i = 0; i < params->count && s == HG_OK; i++) {
        hg_tensor *p = params->items[i].tensor;
        const hg_tensor *f = hg_params_get(&file, params->items[i].name);
        memcpy(p->data, f->data, (size_t)hg_tensor_nfloats(p) * sizeof(float));
    }
    hg_params_free(&file);
    return s;
}
