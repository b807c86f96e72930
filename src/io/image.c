/* hg_image: initialization, geometry helpers (best affine, orientation codes). */
#include "hinge/image.h"

#include <cJSON.h>
#include <math.h>
#include <nifti2_io.h>
#include <string.h>

static void set_diag(double m[4][4], const double *spacing)
{
    memset(m, 0, 16 * sizeof(double));
    for (int i = 0; i < 3; i++)
        m[i][i] = spacing[i];
    m[3][3] = 1.0;
}

void hg_image_init(hg_image *img)
{
    memset(img, 0, sizeof *img);
    for (int i = 0; i < HG_MAX_DIMS; i++)
        img->spacing[i] = 1.0;
    set_diag(img->qform, img->spacing);
    set_diag(img->sform, img->spacing);
    img->xyz_units = NIFTI_UNITS_MM;
    img->time_units = NIFTI_UNITS_SEC;
    img->scl_slope = 1.0;
}

void hg_image_free(hg_image *img)
{
    if (!img)
        return;
    hg_tensor_free(img->data);
    cJSON_Delete(img->sidecar);
    hg_image_init(img);
}

hg_status hg_image_set_spacing(hg_image *img, int n, const double *spacing)
{
    if (n < 1 || n > HG_MAX_DIMS)
        return hg_error(HG_ERR_INVALID, "image spacing: %d values, expected 1..%d", n,
                        HG_MAX_DIMS);
    for (int i = 0; i < n; i++)
        if (!(isfinite(spacing[i]) && spacing[i] > 0))
            return hg_error(HG_ERR_INVALID, "image spacing[%d] = %g, expected finite and > 0", i,
                            spacing[i]);
    for (int i = 0; i < n; i++)
        img->spacing[i] = spacing[i];
    set_diag(img->qform, img->spacing);
    set_diag(img->sform, img->spacing);
    img->qform_code = img->sform_code = HG_XFORM_SCANNER;
    return HG_OK;
}

void hg_image_affine(const hg_image *img, double affine[4][4])
{
    if (img->sform_code > 0)
        memcpy(affine, img->sform, 16 * sizeof(double));
    else if (img->qform_code > 0)
        memcpy(affine, img->qform, 16 * sizeof(double));
    else
        set_diag(affine, img->spacing);
}

void hg_image_orientation(const hg_image *img, char code[4])
{
    double a[4][4];
    hg_image_affine(img, a);
    nifti_dmat44 m;
    memcpy(m.m, a, sizeof m.m);
    int icod = 0, jcod = 0, kcod = 0;
    nifti_dmat44_to_orientation(m, &icod, &jcod, &kcod);
    /* nifti_clib names the direction an axis runs, e.g. L2R; we keep its destination. */
    static const char letters[] = "?RLAPSI";
    int c[3] = {icod, jcod, kcod};
    for (int i = 0; i < 3; i++)
        code[i] = c[i] >= 1 && c[i] <= 6 ? letters[c[i]] : '?';
    code[3] = 0;
}
