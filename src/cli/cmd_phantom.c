/* hinge phantom: analytic phantoms rasterized to NIfTI. */
#include "cli.h"

#include "hinge/ct.h"
#include "hinge/mri_learned.h"

#include <cJSON.h>
#include <getopt.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: hinge phantom shepp-logan|ellipses|chest|colin27 [options] -o out.nii.gz\n\n"
                 "Rasterizes an analytic phantom (the mean over supersample^dims points per pixel).\n"
                 "  shepp-logan   modified Shepp-Logan (Toft), 2-D or 3-D\n"
                 "  ellipses      random ellipses as in the learned primal-dual experiment\n"
                 "  chest         random anatomy-like chest slice (low-dose experiment), values\n"
                 "                in LoDoPaB-CT's attenuation units (water 0.2458)\n"
                 "  colin27       an axial slice (--slice Z) of the Colin27 T1 volume (--data FILE,\n"
                 "                default " HG_COLIN27_PATH "),\n"
                 "                resampled to --size and divided by its maximum: the images of\n"
                 "                the MRI training task (hinge train modl|varnet)\n\n"
                 "options:\n"
                 "  --size N          pixels per side (default 256)\n"
                 "  --dims 2|3        dimensions (default 2)\n"
                 "  --pixel MM        pixel spacing (default 1)\n"
                 "  --count M         mean number of random ellipses (default 50)\n"
                 "  --supersample S   sub-samples per pixel side (default 4)\n"
                 "  --seed S          random seed for ellipses and chest (default 0)\n"
                 "  --slice Z         colin27: axial slice index (default 100)\n"
                 "  --data FILE       colin27: the T1 volume\n"
                 "  -o, --output PATH output NIfTI (.nii or .nii.gz)\n");
}

/* One slice of the MRI training task's images, with its provenance in the sidecar. */
static int write_t1_slice(const char *data, int64_t size, int64_t slice, double pixel,
                          const char *out)
{
    hg_tensor *t = hg_mri_t1_slices(data, size, &slice, 1);
    hg_image img;
    hg_image_init(&img);
    cJSON *meta = NULL;
    int rc = HG_EXIT_OK;
    double spacing[3] = {pixel, pixel, pixel};
    if (t) { /* [1, size, size] -> [size, size]: same data */
        t->ndim = 2;
        t->shape[0] = t->shape[1] = size;
    }
    if (!t || hg_cli_image_centred(&img, t, spacing) != HG_OK ||
        hg_cli_image_sidecar_object(&img, &meta) != HG_OK) {
        rc = hg_cli_fail("phantom");
    } else {
        cJSON_AddStringToObject(meta, "Phantom", "colin27");
        cJSON_AddStringToObject(meta, "Source", data);
        cJSON_AddNumberToObject(meta, "Slice", (double)slice);
        if (hg_nifti_write(out, &img, NULL) != HG_OK)
            rc = hg_cli_fail("phantom");
    }
    if (!img.data)
        hg_tensor_free(t); /* otherwise owned by img */
    hg_image_free(&img);
    return rc;
}

static int run_phantom(int argc, char **argv)
{
    int64_t size = 256, dims = 2, count = 50, super = 4, seed = 0, slice = 100;
    const char *data = HG_COLIN27_PATH;
    double pixel = 1.0;
    const char *out = NULL;
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},          {"output", required_argument, 0, 'o'},
        {"size", required_argument, 0, 's'},    {"dims", required_argument, 0, 'd'},
        {"pixel", required_argument, 0, 'p'},   {"count", required_argument, 0, 'c'},
        {"supersample", required_argument, 0, 'u'}, {"seed", required_argument, 0, 'e'},
        {"threads", required_argument, 0, 't'}, {"slice", required_argument, 0, 'z'},
        {"data", required_argument, 0, 'D'},    {0, 0, 0, 0}};
    int opt;
    int64_t threads = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'o': out = optarg; break;
        case 's': ok = hg_cli_parse_int(optarg, 2, 4096, &size); break;
        case 'd': ok = hg_cli_parse_int(optarg, 2, 3, &dims); break;
        case 'p': ok = hg_cli_parse_float(optarg, &pixel) && pixel > 0; break;
        case 'c': ok = hg_cli_parse_int(optarg, 0, 100000, &count); break;
        case 'u': ok = hg_cli_parse_int(optarg, 1, 16, &super); break;
        case 'e': ok = hg_cli_parse_int(optarg, 0, INT64_MAX, &seed); break;
        case 't': ok = hg_cli_parse_int(optarg, 0, 1024, &threads); break;
        case 'z': ok = hg_cli_parse_int(optarg, 0, 100000, &slice); break;
        case 'D': data = optarg; break;
        default: return hg_cli_usage_error("phantom", "invalid option");
        }
        if (!ok)
            return hg_cli_usage_error("phantom", "invalid value '%s'", optarg);
    }
    if (optind != argc - 1)
        return hg_cli_usage_error("phantom",
                                  "expected one phantom name (shepp-logan, ellipses, chest or colin27)");
    if (!out)
        return hg_cli_usage_error("phantom", "missing -o output path");
    hg_set_threads((int)threads);
    const char *name = argv[optind];
    if (strcmp(name, "colin27") == 0)
        return write_t1_slice(data, size, slice, pixel, out);
    float scale = (float)(size * pixel / 2);
    hg_ct_phantom *ph = NULL;
    if (strcmp(name, "shepp-logan") == 0) {
        ph = hg_ct_phantom_shepp_logan((int)dims, scale);
    } else if (strcmp(name, "ellipses") == 0) {
        if (dims != 2)
            return hg_cli_usage_error("phantom", "ellipses are 2-D only");
        hg_rng rng = hg_rng_new((uint64_t)seed);
        ph = hg_ct_phantom_random_ellipses(&rng, (double)count, false, scale);
    } else if (strcmp(name, "chest") == 0) {
        if (dims != 2)
            return hg_cli_usage_error("phantom", "chest phantoms are 2-D only");
        hg_rng rng = hg_rng_new((uint64_t)seed);
        ph = hg_ct_phantom_random_chest(&rng, scale);
    } else {
        return hg_cli_usage_error("phantom", "unknown phantom '%s' (shepp-logan, ellipses, chest)",
                                  name);
    }
    if (!ph)
        return hg_cli_fail("phantom");
    float angle = 0;
    hg_ct_geometry g = dims == 3 ? hg_ct_cone((int32_t)size, (int32_t)size, (int32_t)size,
                                              (float)pixel, 1, &angle, (int32_t)size,
                                              (int32_t)size, (float)pixel, (float)pixel,
                                              (float)(4 * size * pixel), (float)(8 * size * pixel))
                                 : hg_ct_parallel((int32_t)size, (int32_t)size, (float)pixel, 1,
                                                  &angle, (int32_t)size, (float)pixel);
    int64_t shape[3];
    int nd = hg_ct_image_shape(&g, shape);
    hg_tensor *t = hg_tensor_new(NULL, HG_F32, nd, shape);
    hg_image img;
    hg_image_init(&img);
    int rc = HG_EXIT_OK;
    double spacing[3] = {pixel, pixel, pixel};
    cJSON *meta = NULL;
    if (!t || hg_ct_phantom_rasterize(ph, &g, (int32_t)super, t->data) != HG_OK ||
        hg_cli_image_centred(&img, t, spacing) != HG_OK ||
        hg_cli_image_sidecar_object(&img, &meta) != HG_OK) {
        if (!img.data)
            hg_tensor_free(t);
        rc = hg_cli_fail("phantom");
    } else {
        cJSON_AddStringToObject(meta, "Phantom", name);
        if (strcmp(name, "shepp-logan") != 0) {
            cJSON_AddNumberToObject(meta, "Seed", (double)seed);
            cJSON_AddNumberToObject(meta, "EllipseCount", ph->count);
        }
        cJSON_AddNumberToObject(meta, "Supersample", (double)super);
        if (hg_nifti_write(out, &img, NULL) != HG_OK)
            rc = hg_cli_fail("phantom");
    }
    hg_image_free(&img);
    hg_ct_phantom_free(ph);
    return rc;
}

const hg_cli_command hg_cmd_phantom = {"phantom", "phantoms (Shepp-Logan, ellipses, chest, Colin27 slice)",
                                       run_phantom};
