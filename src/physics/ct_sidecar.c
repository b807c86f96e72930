/* CT geometry <-> JSON sidecar. */
#include "hinge/ct_sidecar.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"parallel", "fan-flat", "fan-arc", "cone"};

const char *hg_ct_kind_name(hg_ct_kind kind)
{
    return (unsigned)kind < 4 ? kind_names[kind] : "unknown";
}

hg_status hg_ct_kind_parse(const char *name, hg_ct_kind *kind)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *kind = (hg_ct_kind)i;
            return HG_OK;
        }
    return hg_error(HG_ERR_INVALID,
                    "CT geometry: expected parallel, fan-flat, fan-arc or cone, got '%s'", name);
}

hg_status hg_ct_filter_parse(const char *name, hg_ct_filter *filter)
{
    static const char *const names[] = {"ramp", "shepp-logan", "cosine", "hamming", "hann"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) {
            *filter = (hg_ct_filter)i;
            return HG_OK;
        }
    return hg_error(HG_ERR_INVALID,
                    "FBP filter: expected ramp, shepp-logan, cosine, hamming or hann, got '%s'",
                    name);
}

static void put(cJSON *obj, const char *key, cJSON *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddItemToObject(obj, key, value);
}

static cJSON *numbers(const double *v, int n)
{
    return cJSON_CreateDoubleArray(v, n);
}

hg_status hg_ct_geometry_to_json(const hg_ct_geometry *g, cJSON *obj)
{
    bool cone = g->kind == HG_CT_CONE_FLAT;
    int n = cone ? 3 : 2, m = cone ? 2 : 1;
    double size[3] = {g->nx, g->ny, g->nz}, sp[3] = {g->dx, g->dy, g->dz};
    double det[2] = {g->n_det, g->n_rows}, dsp[2] = {g->du, g->dv};
    double off[2] = {g->offset_u, g->offset_v};
    double *angles = malloc((size_t)g->n_angles * sizeof *angles);
    if (!angles)
        return hg_error(HG_ERR_NOMEM, "CT geometry: out of memory");
    for (int i = 0; i < g->n_angles; i++)
        angles[i] = g->angles[i];
    put(obj, "CTGeometry", cJSON_CreateString(hg_ct_kind_name(g->kind)));
    put(obj, "ImageSize", numbers(size, n));
    put(obj, "PixelSpacing", numbers(sp, n));
    put(obj, "ViewAngles", numbers(angles, g->n_angles));
    put(obj, "DetectorCount", numbers(det, m));
    put(obj, "DetectorSpacing", numbers(dsp, m));
    put(obj, "DetectorOffset", numbers(off, m));
    free(angles);
    if (g->kind != HG_CT_PARALLEL) {
        put(obj, "SourceToIsocenter", cJSON_CreateNumber(g->sod));
        put(obj, "SourceToDetector", cJSON_CreateNumber(g->sdd));
    }
    return HG_OK;
}

/* Reads `want` numbers (or at least min_count and at most max) from array `key`. */
static hg_status read_array(const cJSON *obj, const char *key, int min_count, int max_count,
                            double *out, int *count)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(a))
        return hg_error(HG_ERR_FORMAT, "CT sidecar: '%s' is missing or not an array", key);
    int n = cJSON_GetArraySize(a);
    if (n < min_count || n > max_count)
        return hg_error(HG_ERR_FORMAT, "CT sidecar: '%s' has %d entries, expected %d%s%d", key,
                        n, min_count, min_count == max_count ? "" : " to ",
                        min_count == max_count ? 0 : max_count);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return hg_error(HG_ERR_FORMAT, "CT sidecar: '%s'[%d] is not a finite number", key, i);
        out[i++] = e->valuedouble;
    }
    if (count)
        *count = n;
    return HG_OK;
}

static hg_status read_int(double v, const char *key, int32_t *out)
{
    if (v < 1 || v > 1e6 || v != floor(v))
        return hg_error(HG_ERR_FORMAT, "CT sidecar: '%s' must be a positive integer, got %g", key,
                        v);
    *out = (int32_t)v;
    return HG_OK;
}

hg_status hg_ct_geometry_from_json(const cJSON *obj, hg_ct_geometry *g, float **angles_out)
{
    memset(g, 0, sizeof *g);
    *angles_out = NULL;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "CTGeometry");
    if (!cJSON_IsString(k))
        return hg_error(HG_ERR_FORMAT, "CT sidecar: 'CTGeometry' is missing (is this a sinogram "
                                       "written by hinge simulate?)");
    hg_status s = hg_ct_kind_parse(k->valuestring, &g->kind);
    if (s != HG_OK)
        return s;
    bool cone = g->kind == HG_CT_CONE_FLAT;
    int n = cone ? 3 : 2, m = cone ? 2 : 1;
    double size[3] = {1, 1, 1}, sp[3] = {1, 1, 1}, det[2] = {1, 1}, dsp[2] = {1, 1},
           off[2] = {0, 0};
    if ((s = read_array(obj, "ImageSize", n, n, size, NULL)) != HG_OK ||
        (s = read_array(obj, "PixelSpacing", n, n, sp, NULL)) != HG_OK ||
        (s = read_array(obj, "DetectorCount", m, m, det, NULL)) != HG_OK ||
        (s = read_array(obj, "DetectorSpacing", m, m, dsp, NULL)) != HG_OK)
        return s;
    if (cJSON_GetObjectItemCaseSensitive(obj, "DetectorOffset") &&
        (s = read_array(obj, "DetectorOffset", m, m, off, NULL)) != HG_OK)
        return s;
    if ((s = read_int(size[0], "ImageSize", &g->nx)) != HG_OK ||
        (s = read_int(size[1], "ImageSize", &g->ny)) != HG_OK ||
        (s = read_int(size[2], "ImageSize", &g->nz)) != HG_OK ||
        (s = read_int(det[0], "DetectorCount", &g->n_det)) != HG_OK ||
        (s = read_int(det[1], "DetectorCount", &g->n_rows)) != HG_OK)
        return s;
    g->dx = (float)sp[0], g->dy = (float)sp[1], g->dz = (float)sp[2];
    g->du = (float)dsp[0], g->dv = (float)dsp[1];
    g->offset_u = (float)off[0], g->offset_v = (float)off[1];
    if (g->kind != HG_CT_PARALLEL) {
        const cJSON *sod = cJSON_GetObjectItemCaseSensitive(obj, "SourceToIsocenter");
        const cJSON *sdd = cJSON_GetObjectItemCaseSensitive(obj, "SourceToDetector");
        if (!cJSON_IsNumber(sod) || !cJSON_IsNumber(sdd))
            return hg_error(HG_ERR_FORMAT, "CT sidecar: a %s geometry needs SourceToIsocenter "
                                           "and SourceToDetector",
                            k->valuestring);
        g->sod = (float)sod->valuedouble;
        g->sdd = (float)sdd->valuedouble;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "ViewAngles");
    int na = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    if (na < 1 || na > 1000000)
        return hg_error(HG_ERR_FORMAT, "CT sidecar: 'ViewAngles' must list 1 to 1000000 angles, "
                                       "got %d",
                        na);
    double *tmp = malloc((size_t)na * sizeof *tmp);
    float *angles = malloc((size_t)na * sizeof *angles);
    if (!tmp || !angles) {
        free(tmp), free(angles);
        return hg_error(HG_ERR_NOMEM, "CT sidecar: out of memory");
    }
    s = read_array(obj, "ViewAngles", na, na, tmp, NULL);
    for (int i = 0; s == HG_OK && i < na; i++)
        angles[i] = (float)tmp[i];
    free(tmp);
    if (s != HG_OK) {
        free(angles);
        return s;
    }
    g->n_angles = na;
    g->angles = angles;
    *angles_out = angles;
    s = hg_ct_geometry_check(g, NULL);
    if (s != HG_OK) {
        free(angles);
        *angles_out = NULL;
        g->angles = NULL;
    }
    return s;
}
