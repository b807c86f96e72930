/* NIfTI segmentation data sets (nnU-Net-like layout): listing, dataset.json, loading, and the
 * checks that turn bad cases into errors naming the case and the mismatch. */
#include "hinge/seg_plan.h"

#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One file of imagesTr: the case it belongs to and its channel. */
typedef struct {
    char name[128];
    int channel;
    char file[256];
} entry;

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->channel - y->channel;
}

/* "case_0001.nii.gz" -> ("case", 1); "case.nii.gz" -> ("case", 0). False for non-NIfTI. */
static bool parse_name(const char *file, entry *e)
{
    size_t n = strlen(file), stem;
    if (n > 7 && strcmp(file + n - 7, ".nii.gz") == 0)
        stem = n - 7;
    else if (n > 4 && strcmp(file + n - 4, ".nii") == 0)
        stem = n - 4;
    else
        return false;
    if (stem == 0 || stem >= sizeof e->name)
        return false;
    snprintf(e->file, sizeof e->file, "%s", file);
    e->channel = 0;
    bool nn = stem > 5 && file[stem - 5] == '_';
    for (size_t i = stem - 4; nn && i < stem; i++)
        nn = file[i] >= '0' && file[i] <= '9';
    if (nn) {
        e->channel = atoi(file + stem - 4);
        stem -= 5;
    }
    memcpy(e->name, file, stem);
    e->name[stem] = 0;
    return true;
}

static hg_status list_images(const char *dir, entry **out, int *count)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/imagesTr", dir);
    DIR *d = opendir(path);
    if (!d)
        return hg_error(HG_ERR_IO, "dataset %s: no imagesTr folder (%s cannot be opened)", dir,
                        path);
    int n = 0, cap = 0;
    entry *list = NULL;
    struct dirent *de;
    hg_status s = HG_OK;
    while ((de = readdir(d)) && s == HG_OK) {
        entry e;
        if (de->d_name[0] == '.' || !parse_name(de->d_name, &e))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            entry *grown = realloc(list, sizeof *list * (size_t)cap);
            if (!grown) {
                s = hg_error(HG_ERR_NOMEM, "dataset %s: out of memory listing imagesTr", dir);
                break;
            }
            list = grown;
        }
        list[n++] = e;
    }
    closedir(d);
    if (s == HG_OK && n == 0)
        s = hg_error(HG_ERR_INVALID, "dataset %s: imagesTr holds no .nii/.nii.gz images", dir);
    if (s != HG_OK) {
        free(list);
        return s;
    }
    qsort(list, (size_t)n, sizeof *list, entry_cmp);
    *out = list;
    *count = n;
    return HG_OK;
}

/* dataset.json: labels (v2 {"name": value} or v1 {"value": "name"}), modality, sites,
 * validation. A missing file is fine. */
static hg_status read_dataset_json(const char *dir, hg_seg_dataset *ds, cJSON **json)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    *json = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return HG_OK;
    fclose(f);
    unsigned char *buf;
    size_t size;
    hg_status s = hg_read_file(path, 1 << 24, &buf, &size);
    if (s)
        return s;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, size);
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return hg_error(HG_ERR_FORMAT, "%s: not a JSON object", path);
    }
    *json = j;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "labels"), *e;
    if (labels && !cJSON_IsObject(labels))
        return hg_error(HG_ERR_FORMAT, "%s: \"labels\" must be an object", path);
    cJSON_ArrayForEach(e, labels)
    {
        const char *name;
        double v;
        char *end;
        if (cJSON_IsNumber(e)) { /* v2: "brain": 1 */
            name = e->string, v = e->valuedouble;
        } else if (cJSON_IsString(e)) { /* v1: "1": "brain" */
            name = e->valuestring, v = strtod(e->string, &end);
            if (*end || end == e->string)
                return hg_error(HG_ERR_FORMAT, "%s: label key '%s' is not a number", path,
                                e->string);
        } else {
            return hg_error(HG_ERR_FORMAT, "%s: label '%s' must be a number or a name", path,
                            e->string);
        }
        if (!(v >= 0 && v < HG_SEG_MAX_CLASSES && v == floor(v)))
            return hg_error(HG_ERR_FORMAT, "%s: label '%s' has value %g, expected an integer "
                            "in [0, %d)", path, name, v, HG_SEG_MAX_CLASSES);
        int k = (int)v;
        snprintf(ds->label_names[k], sizeof ds->label_names[k], "%s", name[0] ? name : "?");
        if (k + 1 > ds->classes)
            ds->classes = k + 1;
        ds->labels_declared = true;
    }
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(j, "modality");
    if (!mod)
        mod = cJSON_GetObjectItemCaseSensitive(j, "channel_names");
    if (cJSON_IsObject(mod))
        mod = cJSON_GetObjectItemCaseSensitive(mod, "0");
    if (cJSON_IsString(mod))
        snprintf(ds->modality, sizeof ds->modality, "%s", mod->valuestring);
    ds->validation_listed = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "validation"));
    return HG_OK;
}

static bool same_affine(const double a[4][4], const double b[4][4])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            if (fabs(a[i][j] - b[i][j]) > 1e-3 * fmax(1.0, fabs(a[i][j])))
                return false;
    return true;
}

/* The spatial shape [D, H, W] of a file's tensor (2-D -> D = 1; a trailing t axis of 1 is
 * allowed). */
static hg_status spatial_of(const char *cas, const char *file, const hg_tensor *t, int64_t d[3])
{
    int nd = t->ndim;
    while (nd > 3 && t->shape[t->ndim - nd] == 1)
        nd--;
    if (nd > 3 || nd < 2)
        return hg_error(HG_ERR_INVALID, "case %s: %s has %d dimensions, expected a 2-D or 3-D "
                        "image", cas, file, (int)t->ndim);
    const int64_t *s = t->shape + t->ndim - nd;
    d[0] = nd == 3 ? s[0] : 1, d[1] = s[nd - 2], d[2] = s[nd - 1];
    return HG_OK;
}

static void spacing_of(const hg_image *img, double sp[3])
{
    /* tensor order D, H, W = NIfTI z, y, x */
    for (int a = 0; a < 3; a++) {
        double v = img->spacing[2 - a];
        sp[a] = v > 0 && isfinite(v) ? v : 1.0;
    }
}

static hg_status check_image_values(const char *cas, const char *file, const float *x,
                                    int64_t n)
{
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return hg_error(HG_ERR_INVALID, "case %s: %s has a non-finite value at voxel %lld",
                            cas, file, (long long)i);
        lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    }
    if (n == 0 || lo == hi)
        return hg_error(HG_ERR_INVALID, "case %s: %s is empty (all %lld voxels are %g)", cas,
                        file, (long long)n, n ? (double)lo : 0.0);
    return HG_OK;
}

static hg_status check_labels(const hg_seg_dataset *ds, const char *cas, const float *y,
                              int64_t n, int32_t *max_label)
{
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        if (!(v >= 0 && v == floorf(v) && v < HG_SEG_MAX_CLASSES))
            return hg_error(HG_ERR_INVALID, "case %s: label value %g at voxel %lld is not an "
                            "integer in [0, %d)", cas, (double)v, (long long)i,
                            HG_SEG_MAX_CLASSES);
        int k = (int)v;
        if (ds->labels_declared && (k >= ds->classes || !ds->label_names[k][0])) {
            char known[256] = "";
            size_t at = 0;
            for (int c = 0; c < ds->classes && at < sizeof known - 8; c++)
                if (ds->label_names[c][0])
                    at += (size_t)snprintf(known + at, sizeof known - at, "%s%d", at ? ", " : "",
                                           c);
            return hg_error(HG_ERR_INVALID, "case %s: unexpected label %d at voxel %lld "
                            "(dataset.json declares %s)", cas, k, (long long)i, known);
        }
        if (k > *max_label)
            *max_label = k;
    }
    return HG_OK;
}

/* Loads channels [first, first + nch) of the listing as case c. */
static hg_status load_case(const char *dir, const entry *files, int nch, hg_seg_dataset *ds,
                           hg_seg_case *c, int32_t *max_label)
{
    char path[1200], rel[400];
    snprintf(c->name, sizeof c->name, "%s", files[0].name);
    hg_image lab, img;
    hg_image_init(&lab);
    hg_image_init(&img);
    snprintf(rel, sizeof rel, "labelsTr/%s.nii.gz", c->name);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(rel, sizeof rel, "labelsTr/%s.nii", c->name);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        f = fopen(path, "rb");
    }
    if (!f)
        return hg_error(HG_ERR_INVALID, "case %s: no label map (expected %s/labelsTr/%s.nii.gz)",
                        c->name, dir, c->name);
    fclose(f);
    hg_status s = hg_nifti_read(path, &lab);
    int64_t ls[3] = {0, 0, 0}, is[3] = {0, 0, 0};
    if (s == HG_OK)
        s = spatial_of(c->name, rel, lab.data, ls);
    if (s == HG_OK) {
        hg_image_affine(&lab, c->affine);
        spacing_of(&lab, c->spacing);
        c->label = hg_tensor_empty(NULL, HG_F32, 3, ls);
        s = c->label ? HG_OK : hg_error_status();
    }
    if (s == HG_OK) {
        memcpy(c->label->data, lab.data->data, sizeof(float) * (size_t)c->label->numel);
        s = check_labels(ds, c->name, c->label->data, c->label->numel, max_label);
    }
    if (s == HG_OK) {
        c->image = hg_tensor_empty(NULL, HG_F32, 4, (int64_t[]){nch, ls[0], ls[1], ls[2]});
        s = c->image ? HG_OK : hg_error_status();
    }
    for (int ch = 0; ch < nch && s == HG_OK; ch++) {
        snprintf(rel, sizeof rel, "imagesTr/%s", files[ch].file);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (files[ch].channel != ch) {
            s = hg_error(HG_ERR_INVALID, "case %s: channel files must be numbered _0000.._%04d; "
                         "found %s", c->name, nch - 1, files[ch].file);
            break;
        }
        if ((s = hg_nifti_read(path, &img)) || (s = spatial_of(c->name, rel, img.data, is)))
            break;
        double sp[3], aff[4][4];
        spacing_of(&img, sp);
        hg_image_affine(&img, aff);
        if (is[0] != ls[0] || is[1] != ls[1] || is[2] != ls[2])
            s = hg_error(HG_ERR_INVALID, "case %s: image %s has %lld x %lld x %lld voxels, its "
                         "label map %lld x %lld x %lld (D x H x W)", c->name, rel,
                         (long long)is[0], (long long)is[1], (long long)is[2], (long long)ls[0],
                         (long long)ls[1], (long long)ls[2]);
        else if (!same_affine(aff, c->affine))
            s = hg_error(HG_ERR_INVALID, "case %s: image %s and its label map differ in "
                         "geometry: spacing (x, y, z) %g, %g, %g mm vs %g, %g, %g mm, origin "
                         "%g, %g, %g vs %g, %g, %g", c->name, rel, sp[2], sp[1], sp[0],
                         c->spacing[2], c->spacing[1], c->spacing[0], aff[0][3], aff[1][3],
                         aff[2][3], c->affine[0][3], c->affine[1][3], c->affine[2][3]);
        else
            s = check_image_values(c->name, rel, img.data->data, img.data->numel);
        if (s == HG_OK)
            memcpy(c->image->data + ch * c->label->numel, img.data->data,
                   sizeof(float) * (size_t)c->label->numel);
        hg_image_free(&img);
    }
    hg_image_free(&img);
    hg_image_free(&lab);
    return s;
}

static void apply_json_case_fields(const cJSON *json, hg_seg_case *c)
{
    const cJSON *sites = cJSON_GetObjectItemCaseSensitive(json, "sites");
    const cJSON *site = cJSON_IsObject(sites) ? cJSON_GetObjectItemCaseSensitive(sites, c->name)
                                              : NULL;
    if (cJSON_IsString(site))
        snprintf(c->site, sizeof c->site, "%s", site->valuestring);
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(json, "validation"), *e;
    cJSON_ArrayForEach(e, val)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, c->name) == 0)
            c->validation = true;
    }
}

hg_status hg_seg_dataset_load(const char *dir, hg_seg_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    entry *files = NULL;
    int nfiles = 0;
    cJSON *json = NULL;
    hg_status s = read_dataset_json(dir, ds, &json);
    if (s == HG_OK)
        s = list_images(dir, &files, &nfiles);
    int ncases = 0;
    for (int i = 0; s == HG_OK && i < nfiles; i++)
        ncases += i == 0 || strcmp(files[i].name, files[i - 1].name) != 0;
    if (s == HG_OK && !(ds->cases = calloc((size_t)ncases, sizeof *ds->cases)))
        s = hg_error(HG_ERR_NOMEM, "dataset %s: out of memory for %d cases", dir, ncases);
    int32_t max_label = 0;
    ds->ndim = 2;
    for (int i = 0; s == HG_OK && i < nfiles;) {
        int nch = 1;
        while (i + nch < nfiles && strcmp(files[i + nch].name, files[i].name) == 0)
            nch++;
        if (ds->count == 0)
            ds->channels = nch;
        else if (nch != ds->channels) {
            s = hg_error(HG_ERR_INVALID, "case %s: %d channel files, case %s has %d", files[i].name,
                         nch, ds->cases[0].name, ds->channels);
            break;
        }
        if (nch > HG_SEG_MAX_CHANNELS) {
            s = hg_error(HG_ERR_UNSUPPORTED, "case %s: %d channels, at most %d are supported",
                         files[i].name, nch, HG_SEG_MAX_CHANNELS);
            break;
        }
        hg_seg_case *c = &ds->cases[ds->count++];
        s = load_case(dir, files + i, nch, ds, c, &max_label);
        if (s == HG_OK && json)
            apply_json_case_fields(json, c);
        if (s == HG_OK && c->label->shape[0] > 1)
            ds->ndim = 3;
        i += nch;
    }
    if (s == HG_OK && !ds->labels_declared)
        ds->classes = max_label + 1 < 2 ? 2 : max_label + 1;
    if (s == HG_OK && ds->classes < 2)
        s = hg_error(HG_ERR_INVALID, "dataset %s: dataset.json declares %d label, expected "
                     "background and at least one class", dir, ds->classes);
    cJSON_Delete(json);
    free(files);
    if (s != HG_OK)
        hg_seg_dataset_free(ds);
    return s;
}

void hg_seg_dataset_free(hg_seg_dataset *ds)
{
    for (int i = 0; ds->cases && i < ds->count; i++) {
        hg_tensor_free(ds->cases[i].image);
        hg_tensor_free(ds->cases[i].label);
    }
    free(ds->cases);
    memset(ds, 0, sizeof *ds);
}
