/* hinge info / convert for fastMRI HDF5 files (called from cmd_info.c and cmd_convert.c). */
#include "cli_fastmri.h"
#include "cli.h"

#include "hinge/fastmri.h"

#include <cJSON.h>
#include <string.h>

bool hg_cli_is_h5(const char *path)
{
    size_t n = strlen(path);
    return (n > 3 && strcmp(path + n - 3, ".h5") == 0) ||
           (n > 5 && strcmp(path + n - 5, ".hdf5") == 0);
}

static void shape_text(const hg_fastmri_dataset *d, char *buf, size_t size)
{
    if (d->ndim < 0) {
        snprintf(buf, size, "(unreadable)");
        return;
    }
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < d->ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "",
                                (long long)d->shape[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

static int info_json(const char *path, const hg_fastmri_info *in)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "format", "fastmri-hdf5");
    cJSON_AddStringToObject(o, "kind", in->multicoil ? "multicoil" : "singlecoil");
    cJSON_AddNumberToObject(o, "slices", (double)in->slices);
    cJSON_AddNumberToObject(o, "coils", (double)in->coils);
    cJSON_AddNumberToObject(o, "height", (double)in->height);
    cJSON_AddNumberToObject(o, "width", (double)in->width);
    cJSON *ds = cJSON_AddArrayToObject(o, "datasets");
    for (int i = 0; i < in->ndatasets && i < HG_FASTMRI_MAX_DATASETS; i++) {
        const hg_fastmri_dataset *d = &in->datasets[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", d->name);
        cJSON_AddStringToObject(e, "type", d->type);
        cJSON *sh = d->ndim < 0 ? cJSON_CreateNull() : cJSON_CreateArray();
        for (int k = 0; k < d->ndim; k++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)d->shape[k]));
        cJSON_AddItemToObject(e, "shape", sh);
        cJSON_AddItemToArray(ds, e);
    }
    cJSON *a = cJSON_AddObjectToObject(o, "attributes");
    if (in->acquisition[0])
        cJSON_AddStringToObject(a, "acquisition", in->acquisition);
    if (in->patient_id[0])
        cJSON_AddStringToObject(a, "patient_id", in->patient_id);
    if (in->has_max)
        cJSON_AddNumberToObject(a, "max", in->max);
    if (in->has_norm)
        cJSON_AddNumberToObject(a, "norm", in->norm);
    if (in->ismrmrd_header)
        cJSON_AddStringToObject(o, "ismrmrd_header", in->ismrmrd_header);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return HG_EXIT_FAIL;
    printf("%s\n", text);
    cJSON_free(text);
    return HG_EXIT_OK;
}

static void info_text(const char *path, const hg_fastmri_info *in)
{
    printf("file:        %s\n", path);
    printf("format:      fastMRI HDF5, %s\n", in->multicoil ? "multi-coil" : "single-coil");
    printf("k-space:     %lld slices x %lld coils x %lld x %lld (complex64)\n",
           (long long)in->slices, (long long)in->coils, (long long)in->height,
           (long long)in->width);
    for (int i = 0; i < in->ndatasets && i < HG_FASTMRI_MAX_DATASETS; i++) {
        char shape[96];
        shape_text(&in->datasets[i], shape, sizeof shape);
        printf("%-12s %-20s %-10s %s\n", i ? "" : "datasets:", in->datasets[i].name,
               in->datasets[i].type, shape);
    }
    if (in->ndatasets > HG_FASTMRI_MAX_DATASETS)
        printf("             (%d more not listed)\n", in->ndatasets - HG_FASTMRI_MAX_DATASETS);
    printf("acquisition: %s\n", in->acquisition[0] ? in->acquisition : "(none)");
    printf("patient_id:  %s\n", in->patient_id[0] ? in->patient_id : "(none)");
    if (in->has_max)
        printf("max:         %g\n", in->max);
    if (in->has_norm)
        printf("norm:        %g\n", in->norm);
    printf("ismrmrd_header: %s", in->ismrmrd_header ? "" : "(none)\n");
    if (in->ismrmrd_header)
        printf("%zu characters\n", strlen(in->ismrmrd_header));
}

int hg_cli_fastmri_info(const char *path, bool json)
{
    if (!hg_cli_is_h5(path))
        return -1;
    hg_fastmri_file *f = hg_fastmri_open_untrusted(path);
    if (!f)
        return hg_cli_fail("info");
    int rc = HG_EXIT_OK;
    if (json)
        rc = info_json(path, hg_fastmri_get_info(f));
    else
        info_text(path, hg_fastmri_get_info(f));
    hg_fastmri_close(f);
    return rc;
}

hg_status hg_cli_fastmri_image(const char *path, const char *dataset, int64_t slice,
                               hg_image *img)
{
    hg_fastmri_file *f = hg_fastmri_open_untrusted(path);
    if (!f)
        return hg_error_status();
    const hg_fastmri_info *in = hg_fastmri_get_info(f);
    bool kspace = strcmp(dataset, "kspace") == 0;
    hg_tensor *t = kspace ? hg_fastmri_read_kspace(f, slice)
                          : hg_fastmri_read_recon(f, dataset, slice);
    hg_status s = t ? HG_OK : hg_error_status();
    if (t) {
        img->data = t;
        img->datatype = kspace ? HG_DT_COMPLEX64 : HG_DT_FLOAT32;
        s = hg_image_meta_set_string(img, "Source", "fastMRI");
        if (!s)
            s = hg_image_meta_set_string(img, "Dataset", dataset);
        if (!s && slice >= 0)
            s = hg_image_meta_set_number(img, "Slice", (double)slice);
        if (!s && in->acquisition[0])
            s = hg_image_meta_set_string(img, "acquisition", in->acquisition);
        if (!s && in->patient_id[0])
            s = hg_image_meta_set_string(img, "patient_id", in->patient_id);
        if (!s && in->has_max)
            s = hg_image_meta_set_number(img, "max", in->max);
        if (!s && in->has_norm)
            s = hg_image_meta_set_number(img, "norm", in->norm);
    }
    hg_fastmri_close(f);
    return s;
}
