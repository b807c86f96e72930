/* CLI helpers for images: reading with the command's error prefix, and wrapping a result
 * tensor into an image on a centred grid (the convention of the physics: row 0 at the top). */
#include "cli.h"

#include <cJSON.h>
#include <string.h>

int hg_cli_read_image(const char *cmd, const char *path, hg_image *img)
{
    hg_image_init(img);
    if (hg_nifti_read(path, img) != HG_OK)
        return hg_cli_fail(cmd);
    return HG_EXIT_OK;
}

hg_status hg_cli_image_centred(hg_image *img, hg_tensor *data, const double *spacing)
{
    hg_image_init(img);
    img->data = data;
    int n = data->ndim < 3 ? data->ndim : 3;
    hg_status s = hg_image_set_spacing(img, n, spacing);
    if (s != HG_OK)
        return s;
    /* x = (i - (nx-1)/2) dx, y = ((ny-1)/2 - j) dy, z = (k - (nz-1)/2) dz: rows run from the
     * top (anterior/up) down, as in the projectors and in skimage. */
    double sizes[3] = {1, 1, 1};
    for (int d = 0; d < n; d++)
        sizes[d] = (double)data->shape[data->ndim - 1 - d];
    double aff[4][4] = {{spacing[0], 0, 0, -(sizes[0] - 1) / 2 * spacing[0]},
                        {0, n > 1 ? -spacing[1] : 1, 0, n > 1 ? (sizes[1] - 1) / 2 * spacing[1] : 0},
                        {0, 0, n > 2 ? spacing[2] : 1, n > 2 ? -(sizes[2] - 1) / 2 * spacing[2] : 0},
                        {0, 0, 0, 1}};
    memcpy(img->sform, aff, sizeof aff);
    img->sform_code = HG_XFORM_SCANNER;
    img->qform_code = 0;
    return HG_OK;
}

hg_status hg_cli_image_sidecar_object(hg_image *img, cJSON **obj)
{
    if (!img->sidecar) {
        img->sidecar = cJSON_CreateObject();
        if (!img->sidecar)
            return hg_error(HG_ERR_NOMEM, "out of memory");
    }
    *obj = img->sidecar;
    return HG_OK;
}
