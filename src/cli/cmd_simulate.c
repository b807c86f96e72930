/* hinge simulate: CT sinograms (geometry, dose, noise) and multi-coil MRI k-space. */
#include "cli.h"

#include "hinge/ct.h"
#include "hinge/ct_sidecar.h"
#include "hinge/mri.h"

#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hinge simulate ct  [options] image.nii.gz -o sino.nii.gz\n"
            "       hinge simulate mri [options] image.nii.gz -o kspace.nii.gz\n\n"
            "CT: line integrals of the image through the geometry (Joseph projector), optional\n"
            "noise; the geometry goes to the sidecar sino.json for hinge recon. Simulate from a\n"
            "finer image than you reconstruct on (--recon-size) to avoid the inverse crime.\n"
            "  --geometry G       parallel | fan-flat | fan-arc | cone (default parallel)\n"
            "  --angles N         views (default 180)\n"
            "  --range DEG        angular range (default 180 parallel, 360 fan/cone)\n"
            "  --detectors D      detector columns (default ceil(sqrt(2) size) + 1, odd)\n"
            "  --rows R           cone-beam detector rows (default size)\n"
            "  --det-spacing DU   detector pitch (default: pixel, magnified for fan/cone)\n"
            "  --sod MM --sdd MM  source-isocentre / source-detector distance (default 2, 4 x width)\n"
            "  --noise gaussian:S | poisson:I0\n"
            "                     white noise of S x mean|y|, or Poisson counts with I0 photons\n"
            "  --mu-scale M       attenuation scale for Poisson noise (default 1)\n"
            "  --recon-size N     image size written to the sidecar (default: the input's)\n\n"
            "MRI: multi-coil Cartesian k-space = mask . FFT . (coil maps x image).\n"
            "  --coils C          simulated loop coils (default 8)\n"
            "  --mask KIND        random | equispaced | poisson (default random, fastMRI style)\n"
            "  --accel R          acceleration (default 4)\n"
            "  --center F         fully sampled centre fraction (default 0.08)\n"
            "  --noise S          complex Gaussian noise, S x max|k|\n"
            "  --sens-out PATH    also write the true coil maps (complex NIfTI)\n\n"
            "common: --seed S, --threads N, -o PATH\n");
}

typedef struct {
    const char *geometry, *noise, *mask, *sens_out, *out;
    int64_t angles, detectors, rows, recon_size, coils, seed, threads;
    double range, det_spacing, sod, sdd, mu_scale, accel, center;
    bool range_set;
} sim_opts;

static int parse_noise(const char *spec, char *kind, double *value)
{
    const char *colon = strchr(spec, ':');
    if (!colon || colon - spec > 15 || !hg_cli_parse_float(colon + 1, value) || *value < 0)
        return -1;
    snprintf(kind, 16, "%.*s", (int)(colon - spec), spec);
    return strcmp(kind, "gaussian") == 0 || strcmp(kind, "poisson") == 0 ? 0 : -1;
}

static int simulate_ct(sim_opts *o, hg_image *in)
{
    hg_ct_kind kind;
    if (hg_ct_kind_parse(o->geometry, &kind) != HG_OK)
        return hg_cli_usage_error("simulate", "%s", hg_error_message());
    hg_tensor *x = in->data;
    bool cone = kind == HG_CT_CONE_FLAT;
    if (x->dtype != HG_F32 || x->ndim != (cone ? 3 : 2)) {
        char s[64];
        fprintf(stderr, "hinge simulate: %s geometry needs a real %d-D image, got %s%s\n",
                o->geometry, cone ? 3 : 2, x->dtype == HG_C64 ? "complex " : "",
                hg_shape_str(x, s, sizeof s));
        return HG_EXIT_FAIL;
    }
    int32_t nx = (int32_t)x->shape[x->ndim - 1], ny = (int32_t)x->shape[x->ndim - 2];
    int32_t nz = cone ? (int32_t)x->shape[0] : 1;
    float pixel = (float)in->spacing[0];
    if (fabs(in->spacing[1] - in->spacing[0]) > 1e-6 * in->spacing[0]) {
        fprintf(stderr, "hinge simulate: anisotropic pixels (%g x %g) are not supported\n",
                in->spacing[0], in->spacing[1]);
        return HG_EXIT_FAIL;
    }
    int32_t size = nx > ny ? nx : ny;
    double width = size * (double)pixel;
    double sod = o->sod > 0 ? o->sod : 2 * width, sdd = o->sdd > 0 ? o->sdd : 4 * width;
    double mag = kind == HG_CT_PARALLEL ? 1.0 : sdd / sod;
    int32_t ndet = o->detectors > 0 ? (int32_t)o->detectors
                                     : ((int32_t)ceil(sqrt(2.0) * size) | 1);
    double du = o->det_spacing > 0 ? o->det_spacing : pixel * mag;
    if (kind == HG_CT_FAN_ARC && o->det_spacing <= 0)
        du = pixel * mag; /* arc length at radius sdd, about the same as the flat pitch */
    double range = o->range_set ? o->range : (kind == HG_CT_PARALLEL ? 180 : 360);
    float *angles = malloc((size_t)o->angles * sizeof *angles);
    if (!angles)
        return hg_cli_fail("simulate");
    hg_ct_angles_uniform(angles, (int32_t)o->angles, 0.0, range * 3.14159265358979323846 / 180.0);
    int32_t rows = o->rows > 0 ? (int32_t)o->rows : nz;
    hg_ct_geometry g = cone ? hg_ct_cone(nx, ny, nz, pixel, (int32_t)o->angles, angles, ndet,
                                         rows, (float)du, (float)du, (float)sod, (float)sdd)
                            : hg_ct_fan(kind, nx, ny, pixel, (int32_t)o->angles, angles, ndet,
                                        (float)du, (float)sod, (float)sdd);
    hg_ct_info info;
    int rc = HG_EXIT_OK;
    hg_linop *A = NULL;
    hg_tensor *y = NULL;
    hg_image out;
    hg_image_init(&out);
    if (hg_ct_geometry_check(&g, &info) != HG_OK) {
        rc = hg_cli_fail("simulate");
        goto done;
    }
    if (info.warning[0])
        fprintf(stderr, "hinge simulate: warning: %s\n", info.warning);
    A = hg_ct_projector(&g);
    int64_t sshape[3];
    int snd = hg_ct_sino_shape(&g, sshape);
    y = A ? hg_tensor_new(NULL, HG_F32, snd, sshape) : NULL;
    if (!y || hg_linop_forward(A, x->data, y->data) != HG_OK) {
        rc = hg_cli_fail("simulate");
        goto done;
    }
    hg_rng rng = hg_rng_new((uint64_t)o->seed);
    char nkind[16] = "";
    double nval = 0;
    if (o->noise) {
        if (parse_noise(o->noise, nkind, &nval) != 0) {
            rc = hg_cli_usage_error("simulate", "--noise: expected gaussian:S or poisson:I0, "
                                    "got '%s'", o->noise);
            goto done;
        }
        hg_status s = strcmp(nkind, "gaussian") == 0
                          ? hg_ct_noise_gaussian(y->data, y->numel, (float)nval, &rng)
                          : hg_ct_noise_poisson(y->data, y->numel, nval, o->mu_scale, &rng);
        if (s != HG_OK) {
            rc = hg_cli_fail("simulate");
            goto done;
        }
    }
    /* The sidecar describes the reconstruction grid (possibly coarser than the input). */
    hg_ct_geometry rg = g;
    if (o->recon_size > 0) {
        double f = (double)size / (double)o->recon_size;
        rg.nx = (int32_t)lround(nx / f), rg.ny = (int32_t)lround(ny / f);
        rg.nz = cone ? (int32_t)lround(nz / f) : 1;
        rg.dx = rg.dy = rg.dz = (float)(pixel * f);
    }
    double spacing[3] = {du, 1, 1};
    cJSON *meta = NULL;
    hg_status st = hg_cli_image_centred(&out, y, spacing);
    y = NULL; /* owned by out from here on */
    if (st != HG_OK || hg_cli_image_sidecar_object(&out, &meta) != HG_OK ||
        hg_ct_geometry_to_json(&rg, meta) != HG_OK) {
        rc = hg_cli_fail("simulate");
        goto done;
    }
    if (o->noise) {
        cJSON_AddStringToObject(meta, "Noise", nkind);
        cJSON_AddNumberToObject(meta, strcmp(nkind, "gaussian") == 0 ? "NoiseRelativeSigma"
                                                                     : "PhotonsPerPixel",
                                nval);
        cJSON_AddNumberToObject(meta, "Seed", (double)o->seed);
    }
    if (hg_nifti_write(o->out, &out, NULL) != HG_OK)
        rc = hg_cli_fail("simulate");
done:
    hg_tensor_free(y);
    hg_image_free(&out);
    hg_linop_free(A);
    free(angles);
    return rc;
}

static int simulate_mri(sim_opts *o, hg_image *in)
{
    hg_tensor *x = in->data;
    if (x->ndim != 2) {
        char s[64];
        fprintf(stderr, "hinge simulate: mri needs a 2-D image, got %s\n",
                hg_shape_str(x, s, sizeof s));
        return HG_EXIT_FAIL;
    }
    int64_t ny = x->shape[0], nx = x->shape[1];
    int rc = HG_EXIT_OK;
    hg_ctx *ctx = hg_ctx_new();
    hg_linop *A = NULL;
    hg_tensor *k = NULL;
    hg_image out, sens_img;
    hg_image_init(&out);
    hg_image_init(&sens_img);
    hg_rng rng = hg_rng_new((uint64_t)o->seed);
    hg_tensor *img = x->dtype == HG_C64 ? x : hg_tensor_new(ctx, HG_C64, 2, x->shape);
    if (!ctx || !img) {
        rc = hg_cli_fail("simulate");
        goto done;
    }
    if (img != x)
        for (int64_t i = 0; i < x->numel; i++)
            img->data[2 * i] = x->data[i];
    hg_tensor *sens = hg_mri_coils_sim(ctx, 2, x->shape, (int)o->coils, NULL);
    hg_tensor *mask = NULL;
    if (!sens) {
        rc = hg_cli_fail("simulate");
        goto done;
    }
    if (strcmp(o->mask, "poisson") == 0) {
        mask = hg_tensor_new(ctx, HG_F32, 2, x->shape);
        double actual;
        if (!mask || hg_mri_mask_poisson(ny, nx, o->accel, (int64_t)(o->center * ny),
                                         (int64_t)(o->center * nx), false, 0.1,
                                         (uint64_t)o->seed, mask->data, &actual) != HG_OK) {
            rc = hg_cli_fail("simulate");
            goto done;
        }
    } else {
        hg_mask_kind kind;
        if (strcmp(o->mask, "random") == 0)
            kind = HG_MASK_RANDOM;
        else if (strcmp(o->mask, "equispaced") == 0)
            kind = HG_MASK_EQUISPACED;
        else {
            rc = hg_cli_usage_error("simulate", "--mask: expected random, equispaced or poisson, "
                                    "got '%s'", o->mask);
            goto done;
        }
        float *lines = hg_ctx_alloc(ctx, (size_t)nx * sizeof *lines);
        int64_t low;
        if (!lines || hg_mri_mask_lines(kind, nx, o->center, o->accel, -1, &rng, lines, &low) !=
                          HG_OK ||
            !(mask = hg_mri_mask_expand(ctx, 2, x->shape, lines))) {
            rc = hg_cli_fail("simulate");
            goto done;
        }
    }
    A = hg_linop_sense(sens, mask);
    k = A ? hg_tensor_new(NULL, HG_C64, 3, (const int64_t[]){o->coils, ny, nx}) : NULL;
    if (!k || hg_linop_forward(A, img->data, k->data) != HG_OK) {
        rc = hg_cli_fail("simulate");
        goto done;
    }
    if (o->noise) {
        double sigma;
        if (!hg_cli_parse_float(o->noise, &sigma) || sigma < 0) {
            rc = hg_cli_usage_error("simulate", "--noise: expected a number for mri, got '%s'",
                                    o->noise);
            goto done;
        }
        double peak = 0;
        for (int64_t i = 0; i < k->numel; i++)
            peak = fmax(peak, hypot(k->data[2 * i], k->data[2 * i + 1]));
        /* Noise only where sampled, so the mask stays readable from the data. */
        for (int64_t c = 0; c < o->coils; c++)
            for (int64_t i = 0; i < ny * nx; i++)
                if (mask->data[i] != 0) {
                    float *v = k->data + 2 * (c * ny * nx + i);
                    v[0] += (float)(sigma * peak * hg_rng_normal(&rng));
                    v[1] += (float)(sigma * peak * hg_rng_normal(&rng));
                }
    }
    double spacing[3] = {in->spacing[0], in->spacing[1], 1};
    cJSON *meta = NULL;
    hg_status st = hg_cli_image_centred(&out, k, spacing);
    k = NULL; /* owned by out from here on */
    if (st != HG_OK || hg_cli_image_sidecar_object(&out, &meta) != HG_OK) {
        rc = hg_cli_fail("simulate");
        goto done;
    }
    cJSON_AddStringToObject(meta, "MRIData", "kspace");
    cJSON_AddNumberToObject(meta, "Coils", (double)o->coils);
    cJSON_AddStringToObject(meta, "Mask", o->mask);
    cJSON_AddNumberToObject(meta, "Acceleration", o->accel);
    cJSON_AddNumberToObject(meta, "CenterFraction", o->center);
    cJSON_AddNumberToObject(meta, "Seed", (double)o->seed);
    if (o->sens_out) {
        hg_tensor *s_copy = hg_tensor_clone(NULL, sens);
        if (!s_copy || hg_cli_image_centred(&sens_img, s_copy, spacing) != HG_OK ||
            hg_nifti_write(o->sens_out, &sens_img, NULL) != HG_OK) {
            rc = hg_cli_fail("simulate");
            goto done;
        }
    }
    if (hg_nifti_write(o->out, &out, NULL) != HG_OK)
        rc = hg_cli_fail("simulate");
done:
    hg_tensor_free(k);
    hg_image_free(&out);
    hg_image_free(&sens_img);
    hg_linop_free(A);
    hg_ctx_free(ctx);
    return rc;
}

static int run_simulate(int argc, char **argv)
{
    sim_opts o = {.geometry = "parallel", .mask = "random", .angles = 180, .coils = 8,
                  .mu_scale = 1, .accel = 4, .center = 0.08};
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},           {"output", required_argument, 0, 'o'},
        {"geometry", required_argument, 0, 'g'}, {"angles", required_argument, 0, 'a'},
        {"range", required_argument, 0, 'r'},    {"detectors", required_argument, 0, 'd'},
        {"rows", required_argument, 0, 'R'},     {"det-spacing", required_argument, 0, 'u'},
        {"sod", required_argument, 0, 'S'},      {"sdd", required_argument, 0, 'D'},
        {"noise", required_argument, 0, 'n'},    {"mu-scale", required_argument, 0, 'm'},
        {"recon-size", required_argument, 0, 'z'}, {"coils", required_argument, 0, 'c'},
        {"mask", required_argument, 0, 'k'},     {"accel", required_argument, 0, 'A'},
        {"center", required_argument, 0, 'C'},   {"sens-out", required_argument, 0, 'E'},
        {"seed", required_argument, 0, 'e'},     {"threads", required_argument, 0, 't'},
        {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'o': o.out = optarg; break;
        case 'g': o.geometry = optarg; break;
        case 'a': ok = hg_cli_parse_int(optarg, 1, 100000, &o.angles); break;
        case 'r': ok = hg_cli_parse_float(optarg, &o.range) && o.range > 0; o.range_set = true; break;
        case 'd': ok = hg_cli_parse_int(optarg, 1, 100000, &o.detectors); break;
        case 'R': ok = hg_cli_parse_int(optarg, 1, 100000, &o.rows); break;
        case 'u': ok = hg_cli_parse_float(optarg, &o.det_spacing) && o.det_spacing > 0; break;
        case 'S': ok = hg_cli_parse_float(optarg, &o.sod) && o.sod > 0; break;
        case 'D': ok = hg_cli_parse_float(optarg, &o.sdd) && o.sdd > 0; break;
        case 'n': o.noise = optarg; break;
        case 'm': ok = hg_cli_parse_float(optarg, &o.mu_scale) && o.mu_scale > 0; break;
        case 'z': ok = hg_cli_parse_int(optarg, 1, 100000, &o.recon_size); break;
        case 'c': ok = hg_cli_parse_int(optarg, 1, 128, &o.coils); break;
        case 'k': o.mask = optarg; break;
        case 'A': ok = hg_cli_parse_float(optarg, &o.accel) && o.accel >= 1; break;
        case 'C': ok = hg_cli_parse_float(optarg, &o.center) && o.center > 0 && o.center <= 1; break;
        case 'E': o.sens_out = optarg; break;
        case 'e': ok = hg_cli_parse_int(optarg, 0, INT64_MAX, &o.seed); break;
        case 't': ok = hg_cli_parse_int(optarg, 0, 1024, &o.threads); break;
        default: return hg_cli_usage_error("simulate", "invalid option");
        }
        if (!ok)
            return hg_cli_usage_error("simulate", "invalid value '%s'", optarg);
    }
    if (optind != argc - 2 || (strcmp(argv[optind], "ct") != 0 && strcmp(argv[optind], "mri") != 0))
        return hg_cli_usage_error("simulate", "expected 'ct' or 'mri' and one input image");
    if (!o.out)
        return hg_cli_usage_error("simulate", "missing -o output path");
    hg_set_threads((int)o.threads);
    hg_image in;
    if (hg_cli_read_image("simulate", argv[optind + 1], &in) != HG_EXIT_OK)
        return HG_EXIT_FAIL;
    int rc = strcmp(argv[optind], "ct") == 0 ? simulate_ct(&o, &in) : simulate_mri(&o, &in);
    hg_image_free(&in);
    return rc;
}

const hg_cli_command hg_cmd_simulate = {"simulate", "simulate CT sinograms or MRI k-space",
                                        run_simulate};
