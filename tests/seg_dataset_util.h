/* Test helper: writes small synthetic segmentation data sets in the nnU-Net-like layout of
 * include/hinge/seg_plan.h (imagesTr/<case>_0000.nii.gz, labelsTr/<case>.nii.gz). */
#ifndef HINGE_SEG_DATASET_UTIL_H
#define HINGE_SEG_DATASET_UTIL_H

#include "test_util.h"

#include <string.h>
#include <sys/stat.h>

/* One case: an ellipsoid of label 1 (and a box of label 2 when classes > 2) in a volume of
 * nz x ny x nx voxels with spacing (sx, sy, sz) mm; image = 100 + 50 * label + noise. The
 * ellipsoid's centre and radii are in millimetres, so cases of different spacings show the
 * same anatomy. */
typedef struct {
    int64_t nx, ny, nz;
    double sx, sy, sz;
    int classes;
    uint64_t seed;
} hg_test_case_spec;

static inline void hg_test_render_case(const hg_test_case_spec *c, hg_tensor *img,
                                       hg_tensor *lab)
{
    hg_rng r = hg_rng_new(c->seed);
    double ex = c->nx * c->sx, ey = c->ny * c->sy, ez = c->nz * c->sz;
    double cx = ex * (0.45 + 0.1 * hg_rng_uniform(&r)), cy = ey * (0.45 + 0.1 * hg_rng_uniform(&r));
    double cz = ez * 0.5, rx = ex * 0.25, ry = ey * 0.3, rz = ez * 0.3;
    for (int64_t z = 0; z < c->nz; z++)
        for (int64_t y = 0; y < c->ny; y++)
            for (int64_t x = 0; x < c->nx; x++) {
                double px = (x + 0.5) * c->sx, py = (y + 0.5) * c->sy, pz = (z + 0.5) * c->sz;
                double d = (px - cx) * (px - cx) / (rx * rx) + (py - cy) * (py - cy) / (ry * ry) +
                           (pz - cz) * (pz - cz) / (rz * rz);
                float l = d <= 1 ? 1.0f : 0.0f;
                if (c->classes > 2 && px > cx && py > cy && d <= 1)
                    l = 2.0f;
                int64_t i = (z * c->ny + y) * c->nx + x;
                lab->data[i] = l;
                img->data[i] = 100.0f + 50.0f * l + (float)(8.0 * hg_rng_normal(&r));
            }
}

static inline void hg_test_write_nifti(const char *path, hg_tensor *t, const double sp[3])
{
    hg_image im;
    hg_image_init(&im);
    im.data = t;
    REQUIRE(hg_image_set_spacing(&im, 3, sp) == HG_OK);
    hg_nifti_write_opts wo = {.skip_sidecar = true};
    REQUIRE(hg_nifti_write(path, &im, &wo) == HG_OK);
    im.data = NULL;
    hg_image_free(&im);
}

/* Writes case `name` under dir (creating imagesTr/labelsTr). */
static inline void hg_test_write_case(const char *dir, const char *name,
                                      const hg_test_case_spec *c)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/imagesTr", dir);
    mkdir(dir, 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/labelsTr", dir);
    mkdir(p, 0755);
    int64_t shape[3] = {c->nz, c->ny, c->nx};
    hg_tensor *img = hg_tensor_new(NULL, HG_F32, 3, shape);
    hg_tensor *lab = hg_tensor_new(NULL, HG_F32, 3, shape);
    REQUIRE(img && lab);
    hg_test_render_case(c, img, lab);
    double sp[3] = {c->sx, c->sy, c->sz};
    snprintf(p, sizeof p, "%s/imagesTr/%s_0000.nii.gz", dir, name);
    hg_test_write_nifti(p, img, sp);
    snprintf(p, sizeof p, "%s/labelsTr/%s.nii.gz", dir, name);
    hg_test_write_nifti(p, lab, sp);
    hg_tensor_free(img);
    hg_tensor_free(lab);
}

static inline void hg_test_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

#endif
