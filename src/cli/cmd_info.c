/* hinge info: header, geometry and value range of an image file (NIfTI) or of the DICOM
 * series in a file or directory; ONNX models and fastMRI .h5 files have their own hooks. */
#include "cli.h"

#include "hinge/dicom.h"
#include "hinge/image.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: hinge info [--json] [--series UID] <file or DICOM directory>\n\n"
    "For DICOM (a file, or a directory searched recursively) it first lists every series:\n"
    "SeriesInstanceUID, modality, description, dims (columns x rows x slices), spacing,\n"
    "orientation and transfer syntax; when there is one series (or --series picks one) the\n"
    "volume is then read and described like a NIfTI file.\n"
    "Prints the format, dimensions (NIfTI x, y, z, t order and the tensor shape, which is the\n"
    "reverse), voxel spacing, orientation (e.g. RAS, LPS: where the i, j, k axes point), the\n"
    "qform/sform codes and affine, the stored datatype and scaling, the value range and the\n"
    "keys of the JSON sidecar (x.json next to x.nii.gz).\n"
    "A fastMRI .h5 file: its datasets (name, type, shape) and attributes.\n"
    "A model (.safetensors from hinge train or convert): architecture, config (a learned\n"
    "reconstruction model's geometry included), parameter count and training record.\n"
    "An ONNX model (.onnx): inputs, outputs, opset and operators.\n\n"
    "options:\n"
    "  --json        one JSON object on stdout\n"
    "  --series UID  the DICOM series to describe in full\n"
    "  --threads N   worker threads (default: all cores)\n";

static const char *xform_name(int code)
{
    static const char *const names[] = {"unknown", "scanner", "aligned", "talairach", "mni152",
                                        "template"};
    return code >= 0 && code <= 5 ? names[code] : "invalid";
}

static const char *units_name(int code)
{
    switch (code) {
    case 1: return "m";
    case 2: return "mm";
    case 3: return "um";
    case 8: return "s";
    case 16: return "ms";
    case 24: return "us";
    default: return "unknown";
    }
}

static const char *dtype_name(int dt)
{
    switch (dt) {
    case HG_DT_UINT8: return "uint8";
    case HG_DT_INT8: return "int8";
    case HG_DT_INT16: return "int16";
    case HG_DT_UINT16: return "uint16";
    case HG_DT_INT32: return "int32";
    case HG_DT_UINT32: return "uint32";
    case HG_DT_INT64: return "int64";
    case HG_DT_UINT64: return "uint64";
    case HG_DT_FLOAT32: return "float32";
    case HG_DT_FLOAT64: return "float64";
    case HG_DT_COMPLEX64: return "complex64";
    case HG_DT_COMPLEX128: return "complex128";
    default: return "unknown";
    }
}

typedef struct stats {
    double min, max, mean;
    int64_t nonfinite;
} stats;

static stats value_stats(const hg_tensor *t)
{
    stats s = {INFINITY, -INFINITY, 0, 0};
    int64_t n = hg_tensor_nfloats(t), finite = 0;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = t->data[i];
        if (!isfinite(v)) {
            s.nonfinite++;
            continue;
        }
        s.min = fmin(s.min, v), s.max = fmax(s.max, v), sum += v, finite++;
    }
    s.mean = finite ? sum / (double)finite : NAN;
    if (!finite)
        s.min = s.max = NAN;
    return s;
}

static cJSON *json_numbers(const double *v, int n)
{
    return cJSON_CreateDoubleArray(v, n);
}

static int print_json(const char *path, const hg_image *img, const stats *st, const char *orient,
                      const double aff[4][4], cJSON *o)
{
    const hg_tensor *t = img->data;
    if (!o)
        o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "format", img->format);
    cJSON_AddBoolToObject(o, "gzip", strlen(path) > 3 && !strcmp(path + strlen(path) - 3, ".gz"));
    cJSON_AddStringToObject(o, "datatype", dtype_name(img->datatype));
    cJSON_AddNumberToObject(o, "scl_slope", img->scl_slope);
    cJSON_AddNumberToObject(o, "scl_inter", img->scl_inter);
    double dims[HG_MAX_DIMS], shape[HG_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++)
        dims[i] = (double)t->shape[t->ndim - 1 - i], shape[i] = (double)t->shape[i];
    cJSON_AddItemToObject(o, "dims", json_numbers(dims, t->ndim));
    cJSON_AddItemToObject(o, "tensor_shape", json_numbers(shape, t->ndim));
    cJSON_AddItemToObject(o, "spacing", json_numbers(img->spacing, t->ndim));
    cJSON_AddStringToObject(o, "xyz_units", units_name(img->xyz_units));
    cJSON_AddStringToObject(o, "time_units", units_name(img->time_units));
    cJSON_AddStringToObject(o, "orientation", orient);
    cJSON_AddNumberToObject(o, "qform_code", img->qform_code);
    cJSON_AddNumberToObject(o, "sform_code", img->sform_code);
    cJSON *a = cJSON_AddArrayToObject(o, "affine");
    for (int r = 0; r < 4; r++)
        cJSON_AddItemToArray(a, json_numbers(aff[r], 4));
    cJSON *r = cJSON_AddObjectToObject(o, "range");
    if (isfinite(st->min)) {
        cJSON_AddNumberToObject(r, "min", st->min);
        cJSON_AddNumberToObject(r, "max", st->max);
        cJSON_AddNumberToObject(r, "mean", st->mean);
    }
    cJSON_AddNumberToObject(r, "nonfinite", (double)st->nonfinite);
    cJSON_AddStringToObject(o, "descrip", img->descrip);
    cJSON *keys = cJSON_AddArrayToObject(o, "sidecar_keys");
    const cJSON *it;
    if (img->sidecar)
        cJSON_ArrayForEach(it, img->sidecar)
            cJSON_AddItemToArray(keys, cJSON_CreateString(it->string));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return hg_cli_fail("info");
    printf("%s\n", text);
    cJSON_free(text);
    return HG_EXIT_OK;
}

static void print_text(const char *path, const hg_image *img, const stats *st, const char *orient,
                       const double aff[4][4])
{
    const hg_tensor *t = img->data;
    static const char axes[] = "xyztu";
    size_t n = strlen(path);
    printf("file:        %s\n", path);
    if (!strcmp(img->format, "dicom"))
        printf("format:      DICOM (%s)\n", hg_image_meta_string(img, "TransferSyntaxUID")
                                                 ? hg_image_meta_string(img, "TransferSyntaxUID")
                                                 : "?");
    else
        printf("format:      %s%s\n", strcmp(img->format, "nifti2") ? "NIfTI-1" : "NIfTI-2",
               n > 3 && !strcmp(path + n - 3, ".gz") ? " (gzip)" : "");
    printf("datatype:    %s", dtype_name(img->datatype));
    if (img->scl_slope != 1.0 || img->scl_inter != 0.0)
        printf(" (scaled: x * %g %+g)", img->scl_slope, img->scl_inter);
    printf("%s\n", t->dtype == HG_C64 ? ", read as complex float32" : ", read as float32");
    printf("dims:        ");
    for (int i = 0; i < t->ndim; i++)
        printf("%s%lld", i ? " x " : "", (long long)t->shape[t->ndim - 1 - i]);
    printf(" (");
    for (int i = 0; i < t->ndim; i++)
        printf("%s%c", i ? ", " : "", axes[i]);
    printf(")   tensor [");
    for (int i = 0; i < t->ndim; i++)
        printf("%s%lld", i ? ", " : "", (long long)t->shape[i]);
    printf("]\n");
    printf("spacing:     ");
    for (int i = 0; i < t->ndim; i++)
    {
        int u = i < 3 ? img->xyz_units : img->time_units;
        printf("%s%g%s%s", i ? " x " : "", img->spacing[i], u ? " " : "", u ? units_name(u) : "");
    }
    printf("\n");
    printf("orientation: %s\n", orient);
    printf("qform:       code %d (%s)\n", img->qform_code, xform_name(img->qform_code));
    printf("sform:       code %d (%s)\n", img->sform_code, xform_name(img->sform_code));
    printf("affine:      ");
    for (int r = 0; r < 4; r++)
        printf("%s[%10.4f %10.4f %10.4f %10.4f]\n", r ? "             " : "", aff[r][0], aff[r][1],
               aff[r][2], aff[r][3]);
    printf("range:       min %g max %g mean %g", st->min, st->max, st->mean);
    if (st->nonfinite)
        printf(" (%lld NaN/Inf values)", (long long)st->nonfinite);
    printf("\n");
    if (img->descrip[0])
        printf("description: %s\n", img->descrip);
    printf("sidecar:     ");
    if (!img->sidecar) {
        printf("none\n");
        return;
    }
    const cJSON *it;
    int k = 0;
    cJSON_ArrayForEach(it, img->sidecar) printf("%s%s", k++ ? ", " : "", it->string);
    printf("%s\n", k ? "" : "(empty)");
}

static bool is_nifti(const char *path)
{
    char *sidecar = hg_sidecar_path(path); /* NULL unless .nii, .nii.gz or .hdr */
    free(sidecar);
    return sidecar != NULL;
}

static cJSON *series_json(const hg_dicom_series_info *info, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        const hg_dicom_series_info *s = &info[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "series_uid", s->series_uid);
        cJSON_AddStringToObject(o, "study_uid", s->study_uid);
        cJSON_AddStringToObject(o, "modality", s->modality);
        cJSON_AddStringToObject(o, "description", s->description);
        cJSON_AddStringToObject(o, "transfer_syntax", s->transfer_syntax);
        double dims[3] = {(double)s->cols, (double)s->rows, (double)s->slices};
        cJSON_AddItemToObject(o, "dims", json_numbers(dims, 3));
        cJSON_AddItemToObject(o, "spacing", json_numbers(s->spacing, 3));
        cJSON_AddStringToObject(o, "orientation", s->orientation);
        cJSON_AddNumberToObject(o, "files", s->nfiles);
        cJSON_AddBoolToObject(o, "irregular_spacing", s->irregular);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static void series_text(const char *path, const hg_dicom_series_info *info, int n)
{
    printf("DICOM:       %s, %d series\n", path, n);
    for (int i = 0; i < n; i++) {
        const hg_dicom_series_info *s = &info[i];
        printf("series %d:    %s  %s \"%s\"\n", i + 1, s->series_uid, s->modality,
               s->description);
        printf("             dims %lld x %lld x %lld (%d files), spacing %g x %g x %g mm, %s%s\n",
               (long long)s->cols, (long long)s->rows, (long long)s->slices, s->nfiles,
               s->spacing[0], s->spacing[1], s->spacing[2], s->orientation,
               s->irregular ? ", IRREGULAR slice spacing" : "");
        printf("             transfer syntax %s\n", s->transfer_syntax);
    }
}

int hg_cli_onnx_info(const char *path, bool json); /* cli_onnx_info.c: -1 if not ONNX */
int hg_cli_model_info(const char *path, bool json); /* cli_model_info.c: -1 if not a model */
int hg_cli_fastmri_info(const char *path, bool json); /* cli_fastmri.c: -1 if not .h5 */

static int run_info(int argc, char **argv)
{
    bool json = false;
    const char *path = NULL, *series = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s", usage);
            return HG_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--series")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("info", "--series needs a SeriesInstanceUID");
            series = argv[++i];
        } else if (!strcmp(argv[i], "--threads")) {
            int64_t n;
            if (i + 1 >= argc || !hg_cli_parse_int(argv[++i], 1, 4096, &n))
                return hg_cli_usage_error("info", "--threads needs a number from 1 to 4096");
            hg_set_threads((int)n);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return hg_cli_usage_error("info", "unknown option '%s'", argv[i]);
        } else if (path) {
            return hg_cli_usage_error("info", "one file at a time ('%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return hg_cli_usage_error("info", "no input file");
    int onnx_rc = hg_cli_onnx_info(path, json);
    if (onnx_rc >= 0)
        return onnx_rc;
    int model_rc = hg_cli_model_info(path, json);
    if (model_rc >= 0)
        return model_rc;
    int h5_rc = hg_cli_fastmri_info(path, json);
    if (h5_rc >= 0)
        return h5_rc;
    hg_image img;
    hg_image_init(&img);
    cJSON *top = NULL;
    if (!is_nifti(path)) {
        hg_dicom_series_info *info;
        int n;
        if (hg_dicom_list(path, &info, &n))
            return hg_cli_fail("info");
        if (json) {
            top = cJSON_CreateObject();
            cJSON_AddItemToObject(top, "series", series_json(info, n));
        } else {
            series_text(path, info, n);
        }
        free(info);
        if (n > 1 && !series) {
            if (json) {
                char *text = cJSON_Print(top);
                printf("%s\n", text ? text : "{}");
                cJSON_free(text);
                cJSON_Delete(top);
            } else {
                printf("(several series: choose one with --series UID for details)\n");
            }
            return HG_EXIT_OK;
        }
        if (!json)
            printf("\n");
        if (hg_dicom_read(path, series, &img)) {
            cJSON_Delete(top);
            return hg_cli_fail("info");
        }
    } else if (hg_nifti_read(path, &img)) {
        return hg_cli_fail("info");
    }
    stats st = value_stats(img.data);
    char orient[4];
    hg_image_orientation(&img, orient);
    double aff[4][4];
    hg_image_affine(&img, aff);
    int rc = HG_EXIT_OK;
    if (json)
        rc = print_json(path, &img, &st, orient, aff, top);
    else
        print_text(path, &img, &st, orient, aff);
    hg_image_free(&img);
    return rc;
}

const hg_cli_command hg_cmd_info = {"info", "header, geometry and value range of an image file",
                                    run_info};
