/* hinge recon: classical reconstruction of CT sinograms and MRI k-space. The kind of data is
 * read from the input: a sidecar with a CT geometry (hinge simulate ct), or complex multi-coil
 * k-space [coils, H, W]. */
#include "cli.h"
#include "cli_dist.h"

#include "hinge/ct.h"
#include "hinge/ct_sidecar.h"
#include "hinge/learned.h"
#include "hinge/mri.h"
#include "hinge/mri_learned.h"

#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hinge recon --method M [options] input.nii.gz -o image.nii.gz\n\n"
            "CT (sinogram with a geometry sidecar from hinge simulate ct):\n"
            "  fbp | fdk      filtered backprojection (fan weights; FDK for cone beam)\n"
            "  cgls           least squares by CGLS (--iters 30, --lambda for Tikhonov)\n"
            "  sirt           SIRT (--iters 100, --nonneg)\n"
            "  tv             TV-regularized least squares by PDHG (--lambda, --iters 300)\n"
            "  --model M      learned reconstruction (lpd, lgd, fbpconvnet) with the trained\n"
            "                 model M: a path, or NAME for models/NAME.safetensors in the\n"
            "                 source tree (e.g. lpd-ellipse); the sinogram's geometry must\n"
            "                 match the model's\n"
            "MRI (complex multi-coil k-space [coils, H, W] from hinge simulate mri):\n"
            "  rss            zero-filled root sum of squares\n"
            "  cg-sense       CG-SENSE (--iters 30, --lambda)\n"
            "  l1-wavelet     l1-wavelet (db2) by FISTA (--lambda, --iters 100)\n"
            "  tv             TV by PDHG (--lambda, --iters 300)\n"
            "  --model M      learned reconstruction (modl, varnet) with the trained model M\n"
            "                 (a path or NAME as above); the k-space's coils, size and mask\n"
            "                 (and its sidecar's Coils, Mask, Acceleration, CenterFraction)\n"
            "                 must match the model's; writes the magnitude image\n\n"
            "options:\n"
            "  --filter NAME  ramp | shepp-logan | cosine | hamming | hann (default ramp)\n"
            "  --cutoff F     filter cutoff as a fraction of Nyquist, (0, 1] (default 1)\n"
            "  --iters N      iterations\n"
            "  --lambda L     regularization weight\n"
            "  --nonneg       constrain the image to be >= 0 (sirt, tv)\n"
            "  --sens PATH    coil maps (complex NIfTI); default: ESPIRiT from the k-space centre\n"
            "  --complex      keep the complex MRI image (default: magnitude)\n"
            "  --threads N, -o PATH\n"
            "  --list FILE    many studies (one input path per line): -o is then a folder,\n"
            "                 outputs <name>.nii.gz; finished outputs are skipped on restart,\n"
            "                 a failing study does not stop the others. Under mpirun -np N,\n"
            "                 rank 0 hands out the studies to the other ranks.\n");
}

typedef struct {
    const char *method, *filter, *sens, *out, *model;
    int64_t iters, threads;
    double lambda, cutoff;
    bool nonneg, complex_out, lambda_set;
} recon_opts;

static int progress_cb(int32_t iter, double residual, void *user)
{
    hg_progress *p = user;
    char extra[48];
    snprintf(extra, sizeof extra, "residual %.3e", residual);
    hg_progress_update(p, iter, extra);
    return 0;
}

/* Learned reconstruction: the model checks the sinogram's geometry against its own. */
static hg_status recon_learned(const recon_opts *o, const hg_ct_geometry *g, const hg_tensor *y,
                               hg_tensor *x)
{
    char path[4096];
    hg_cli_model_path(o->model, path, sizeof path);
    hg_model *m = hg_model_load(path, NULL);
    if (!m)
        return hg_error_status();
    hg_status s = hg_learned_check_geometry(m, g);
    hg_ctx *ctx = s == HG_OK ? hg_ctx_new() : NULL;
    if (s == HG_OK && !ctx)
        s = hg_error_status();
    if (s == HG_OK) {
        hg_ctx_set_grad(ctx, false);
        hg_ctx_set_training(ctx, false);
        hg_tensor *in = hg_new(ctx, 1, 1, g->n_angles, g->n_det);
        if (in)
            memcpy(in->data, y->data, (size_t)in->numel * sizeof(float));
        hg_tensor *out = in ? hg_model_forward(m, ctx, in) : NULL;
        if (out)
            memcpy(x->data, out->data, (size_t)x->numel * sizeof(float));
        else
            s = hg_error_context(hg_error_status(), "%s", path);
    }
    hg_ctx_free(ctx);
    hg_model_free(m);
    return s;
}

static int recon_ct(const recon_opts *o, hg_image *in)
{
    if (!in->sidecar)
        return fprintf(stderr, "hinge recon: %s has no geometry sidecar (.json)\n",
                       in->format), HG_EXIT_FAIL;
    hg_ct_geometry g;
    float *angles = NULL;
    if (hg_ct_geometry_from_json(in->sidecar, &g, &angles) != HG_OK)
        return hg_cli_fail("recon");
    int rc = HG_EXIT_OK;
    hg_linop *A = NULL;
    hg_tensor *x = NULL;
    hg_image out;
    hg_image_init(&out);
    int64_t sshape[3], ishape[3];
    int snd = hg_ct_sino_shape(&g, sshape), ind = hg_ct_image_shape(&g, ishape);
    if (hg_check_shape(in->data, snd, sshape) != HG_OK) {
        hg_error_context(HG_ERR_INVALID, "sinogram does not match its geometry sidecar");
        rc = hg_cli_fail("recon");
        goto done;
    }
    x = hg_tensor_new(NULL, HG_F32, ind, ishape);
    if (!x) {
        rc = hg_cli_fail("recon");
        goto done;
    }
    const char *m = o->method;
    hg_status s = HG_OK;
    hg_progress bar;
    hg_progress_begin(&bar, m, o->iters, false);
    hg_solver_opts so = {.max_iter = (int32_t)o->iters, .nonneg = o->nonneg,
                         .callback = progress_cb, .user = &bar};
    if (o->model) {
        s = recon_learned(o, &g, in->data, x);
    } else if (strcmp(m, "fbp") == 0 || strcmp(m, "fdk") == 0) {
        hg_ct_filter f;
        if (hg_ct_filter_parse(o->filter, &f) != HG_OK) {
            rc = hg_cli_usage_error("recon", "%s", hg_error_message());
            goto done;
        }
        A = hg_ct_fbp(&g, f, (float)o->cutoff);
        s = A ? hg_linop_forward(A, in->data->data, x->data) : hg_error_status();
    } else {
        A = hg_ct_projector(&g);
        if (!A)
            s = hg_error_status();
        else if (strcmp(m, "cgls") == 0)
            s = hg_cgls(A, in->data->data, x->data, o->lambda, &so, NULL);
        else if (strcmp(m, "sirt") == 0)
            s = hg_sirt(A, in->data->data, x->data, &so, NULL);
        else if (strcmp(m, "tv") == 0)
            s = hg_pdhg_tv(A, in->data->data, x->data, o->lambda, &so, NULL);
        else {
            rc = hg_cli_usage_error("recon", "method '%s' is not a CT method (fbp, fdk, cgls, "
                                    "sirt, tv)", m);
            goto done;
        }
        hg_progress_end(&bar, NULL);
    }
    if (s != HG_OK) {
        rc = hg_cli_fail("recon");
        goto done;
    }
    double spacing[3] = {g.dx, g.dy, g.dz};
    hg_status st = hg_cli_image_centred(&out, x, spacing);
    x = NULL;
    cJSON *meta = NULL;
    if (st != HG_OK || hg_cli_image_sidecar_object(&out, &meta) != HG_OK) {
        rc = hg_cli_fail("recon");
        goto done;
    }
    cJSON_AddStringToObject(meta, "ReconstructionMethod", m);
    if (o->model)
        cJSON_AddStringToObject(meta, "ReconstructionModel", o->model);
    if (hg_nifti_write(o->out, &out, NULL) != HG_OK)
        rc = hg_cli_fail("recon");
done:
    hg_tensor_free(x);
    hg_image_free(&out);
    hg_linop_free(A);
    free(angles);
    return rc;
}

/* Sampling mask [H, W]: where any coil has data. */
static hg_tensor *mask_from_kspace(hg_ctx *ctx, const hg_tensor *k)
{
    int64_t c = k->shape[0], n = k->shape[1] * k->shape[2];
    hg_tensor *mask = hg_tensor_new(ctx, HG_F32, 2, k->shape + 1);
    if (!mask)
        return NULL;
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = 0; i < n; i++)
            if (k->data[2 * (j * n + i)] != 0 || k->data[2 * (j * n + i) + 1] != 0)
                mask->data[i] = 1;
    return mask;
}

/* Writes an MRI result (owned from here on) with the input's in-plane spacing and a sidecar
 * naming the method (and model). */
static int write_mri_image(const recon_opts *o, const hg_image *in, hg_tensor *result,
                           const char *method, const char *model)
{
    hg_image out;
    double spacing[3] = {in->spacing[0], in->spacing[1], 1};
    hg_status st = hg_cli_image_centred(&out, result, spacing);
    cJSON *meta = NULL;
    int rc = HG_EXIT_OK;
    if (st != HG_OK || hg_cli_image_sidecar_object(&out, &meta) != HG_OK) {
        rc = hg_cli_fail("recon");
    } else {
        cJSON_AddStringToObject(meta, "ReconstructionMethod", method);
        if (model)
            cJSON_AddStringToObject(meta, "ReconstructionModel", model);
        if (hg_nifti_write(o->out, &out, NULL) != HG_OK)
            rc = hg_cli_fail("recon");
    }
    hg_image_free(&out);
    return rc;
}

static int recon_mri(const recon_opts *o, hg_image *in)
{
    hg_tensor *k = in->data;
    if (k->dtype != HG_C64 || k->ndim != 3) {
        char s[64];
        fprintf(stderr, "hinge recon: MRI methods need complex k-space [coils, H, W], got %s%s\n",
                k->dtype == HG_C64 ? "complex " : "real ", hg_shape_str(k, s, sizeof s));
        return HG_EXIT_FAIL;
    }
    int rc = HG_EXIT_OK;
    hg_ctx *ctx = hg_ctx_new();
    hg_linop *A = NULL, *W = NULL;
    hg_image sens_img;
    hg_image_init(&sens_img);
    hg_tensor *img = hg_tensor_new(NULL, HG_C64, 2, k->shape + 1), *result = NULL;
    hg_tensor *mask = ctx ? mask_from_kspace(ctx, k) : NULL, *sens = NULL;
    if (!img || !mask) {
        rc = hg_cli_fail("recon");
        goto done;
    }
    const char *m = o->method;
    hg_status s = HG_OK;
    if (strcmp(m, "rss") == 0) {
        hg_linop *F = hg_linop_fft(3, k->shape, 2);
        hg_tensor *coil = F ? hg_tensor_new(ctx, HG_C64, 3, k->shape) : NULL;
        if (!coil || hg_linop_adjoint(F, k->data, coil->data) != HG_OK ||
            !(result = hg_mri_rss(NULL, coil))) {
            hg_linop_free(F);
            rc = hg_cli_fail("recon");
            goto done;
        }
        hg_linop_free(F);
    } else {
        if (o->sens) {
            if (hg_cli_read_image("recon", o->sens, &sens_img) != HG_EXIT_OK) {
                rc = HG_EXIT_FAIL;
                goto done;
            }
            sens = sens_img.data;
        } else {
            sens = hg_mri_espirit(ctx, k, NULL, NULL);
        }
        A = sens ? hg_linop_sense(sens, mask) : NULL;
        if (!A) {
            rc = hg_cli_fail("recon");
            goto done;
        }
        hg_progress bar;
        hg_progress_begin(&bar, m, o->iters, false);
        hg_solver_opts so = {.max_iter = (int32_t)o->iters, .callback = progress_cb,
                             .user = &bar};
        if (strcmp(m, "cg-sense") == 0) {
            s = hg_mri_cg_sense(k, sens, mask, o->lambda, &so, img, NULL);
        } else if (strcmp(m, "l1-wavelet") == 0) {
            int levels = 0;
            while (levels < 4 && k->shape[1] % (4 << levels) == 0 && k->shape[2] % (4 << levels) == 0)
                levels++;
            W = levels ? hg_linop_wavelet(HG_C64, 2, k->shape + 1, 2, levels, 4) : NULL;
            s = W ? hg_fista_l1(A, W, k->data, img->data, o->lambda, &so, NULL)
                  : hg_error(HG_ERR_INVALID, "l1-wavelet: image size %lld x %lld must be "
                             "divisible by 4", (long long)k->shape[1], (long long)k->shape[2]);
        } else if (strcmp(m, "tv") == 0) {
            s = hg_pdhg_tv(A, k->data, img->data, o->lambda, &so, NULL);
        } else {
            rc = hg_cli_usage_error("recon", "method '%s' is not an MRI method (rss, cg-sense, "
                                    "l1-wavelet, tv)", m);
            goto done;
        }
        hg_progress_end(&bar, NULL);
        if (s != HG_OK) {
            rc = hg_cli_fail("recon");
            goto done;
        }
        if (o->complex_out) {
            result = img;
            img = NULL;
        } else if (!(result = hg_tensor_new(NULL, HG_F32, 2, k->shape + 1))) {
            rc = hg_cli_fail("recon");
            goto done;
        } else {
            for (int64_t i = 0; i < result->numel; i++)
                result->data[i] = hypotf(img->data[2 * i], img->data[2 * i + 1]);
        }
    }
    rc = write_mri_image(o, in, result, m, NULL);
    result = NULL;
done:
    hg_tensor_free(img);
    hg_tensor_free(result);
    hg_image_free(&sens_img);
    hg_linop_free(A);
    hg_linop_free(W);
    hg_ctx_free(ctx);
    return rc;
}

/* Learned MRI: the model checks the sidecar's acquisition and the data's mask. */
static int recon_mri_model(const recon_opts *o, hg_image *in)
{
    hg_tensor *k = in->data;
    char path[4096];
    hg_cli_model_path(o->model, path, sizeof path);
    hg_model *m = hg_model_load(path, NULL);
    if (!m)
        return hg_cli_fail("recon");
    int64_t coils = -1;
    double accel = -1, cf = -1;
    const char *mask = NULL;
    const cJSON *sc = in->sidecar, *v;
    if (sc && cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(sc, "Coils")))
        coils = (int64_t)v->valuedouble;
    if (sc && cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(sc, "Acceleration")))
        accel = v->valuedouble;
    if (sc && cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(sc, "CenterFraction")))
        cf = v->valuedouble;
    if (sc && cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(sc, "Mask")))
        mask = v->valuestring;
    int rc = HG_EXIT_OK;
    hg_ctx *ctx = NULL;
    hg_tensor *result = NULL;
    if (hg_mri_check_acquisition(m, coils, mask, accel, cf) != HG_OK || !(ctx = hg_ctx_new())) {
        hg_error_context(hg_error_status(), "%s", path);
        rc = hg_cli_fail("recon");
        goto done;
    }
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_tensor *x = k->ndim == 3 ? hg_reshape(ctx, k, 4, (const int64_t[]){1, k->shape[0],
                                                                         k->shape[1], k->shape[2]})
                                : k;
    hg_tensor_set_name(x, "kspace");
    hg_tensor *y = x ? hg_model_forward(m, ctx, x) : NULL;
    result = y ? hg_tensor_new(NULL, HG_F32, 2, y->shape + 2) : NULL;
    if (!result) {
        hg_error_context(hg_error_status(), "%s", path);
        rc = hg_cli_fail("recon");
        goto done;
    }
    memcpy(result->data, y->data, (size_t)result->numel * sizeof(float));
    rc = write_mri_image(o, in, result, m->arch->name, o->model);
    result = NULL;
done:
    hg_tensor_free(result);
    hg_ctx_free(ctx);
    hg_model_free(m);
    return rc;
}

static int recon_one(const recon_opts *o, const char *input)
{
    hg_image in;
    if (hg_cli_read_image("recon", input, &in) != HG_EXIT_OK)
        return HG_EXIT_FAIL;
    bool ct = in.sidecar && cJSON_GetObjectItemCaseSensitive(in.sidecar, "CTGeometry");
    int rc = ct ? recon_ct(o, &in) : o->model ? recon_mri_model(o, &in) : recon_mri(o, &in);
    hg_image_free(&in);
    return rc;
}

/* One study of --list: the options of the command line, this study's output. The image and
 * its sidecar are written under a ".partial" name and renamed sidecar first, image last: the
 * image's existence (what a restart checks) then implies its sidecar is complete. */
static hg_status recon_study(void *user, const char *input, const char *output)
{
    recon_opts o = *(const recon_opts *)user;
    size_t len = strlen(output), ext = strlen(".nii.gz");
    if (len <= ext || strcmp(output + len - ext, ".nii.gz") != 0)
        return hg_error(HG_ERR_INVALID, "recon --list: output %s is not .nii.gz", output);
    char partial[4200];
    snprintf(partial, sizeof partial, "%.*s.partial.nii.gz", (int)(len - ext), output);
    o.out = partial;
    if (recon_one(&o, input) != HG_EXIT_OK)
        return hg_error_status() ? hg_error_status()
                                 : hg_error(HG_ERR_INVALID, "recon of %s failed", input);
    char *pj = hg_sidecar_path(partial), *fj = hg_sidecar_path(output);
    hg_status s = pj && fj ? HG_OK : hg_error_status();
    if (s == HG_OK && rename(pj, fj) != 0 && errno != ENOENT)
        s = hg_error(HG_ERR_IO, "%s: cannot rename to %s: %s", pj, fj, strerror(errno));
    if (s == HG_OK && rename(partial, output) != 0)
        s = hg_error(HG_ERR_IO, "%s: cannot rename to %s: %s", partial, output, strerror(errno));
    free(pj);
    free(fj);
    return s;
}

static int run_recon(int argc, char **argv)
{
    recon_opts o = {.filter = "ramp", .cutoff = 1.0};
    const char *list = NULL;
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},          {"output", required_argument, 0, 'o'},
        {"method", required_argument, 0, 'm'},  {"filter", required_argument, 0, 'f'},
        {"cutoff", required_argument, 0, 'c'},  {"iters", required_argument, 0, 'i'},
        {"lambda", required_argument, 0, 'l'},  {"nonneg", no_argument, 0, 'n'},
        {"sens", required_argument, 0, 's'},    {"complex", no_argument, 0, 'C'},
        {"threads", required_argument, 0, 't'}, {"list", required_argument, 0, 'L'},
        {"model", required_argument, 0, 'M'},
        {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'o': o.out = optarg; break;
        case 'm': o.method = optarg; break;
        case 'f': o.filter = optarg; break;
        case 'c': ok = hg_cli_parse_float(optarg, &o.cutoff) && o.cutoff > 0 && o.cutoff <= 1; break;
        case 'i': ok = hg_cli_parse_int(optarg, 1, 1000000, &o.iters); break;
        case 'l': ok = hg_cli_parse_float(optarg, &o.lambda) && o.lambda >= 0; o.lambda_set = true; break;
        case 'n': o.nonneg = true; break;
        case 's': o.sens = optarg; break;
        case 'C': o.complex_out = true; break;
        case 'M': o.model = optarg; break;
        case 't': ok = hg_cli_parse_int(optarg, 0, 1024, &o.threads); break;
        case 'L': list = optarg; break;
        default: return hg_cli_usage_error("recon", "invalid option");
        }
        if (!ok)
            return hg_cli_usage_error("recon", "invalid value '%s'", optarg);
    }
    if (optind != argc - (list ? 0 : 1))
        return hg_cli_usage_error("recon", list ? "--list takes the inputs from the list, "
                                  "not the command line" : "expected one input file");
    if (o.model && o.method)
        return hg_cli_usage_error("recon", "give either --method or --model, not both");
    if (o.model)
        o.method = "learned";
    if (!o.method)
        return hg_cli_usage_error("recon", "missing --method (or --model)");
    if (!o.out)
        return hg_cli_usage_error("recon", "missing -o output path");
    if (o.iters == 0)
        o.iters = strcmp(o.method, "sirt") == 0 || strcmp(o.method, "l1-wavelet") == 0 ? 100
                  : strcmp(o.method, "tv") == 0                                         ? 300
                                                                                        : 30;
    if (!o.lambda_set)
        o.lambda = strcmp(o.method, "tv") == 0 || strcmp(o.method, "l1-wavelet") == 0 ? 0.01 : 0;
    hg_set_threads((int)o.threads);
    if (list)
        return hg_cli_run_list("recon", list, o.out, ".nii.gz", recon_study, &o);
    return recon_one(&o, argv[optind]);
}

const hg_cli_command hg_cmd_recon = {"recon", "reconstruct CT or MRI data (fbp, tv, cg-sense, ...)",
                                     run_recon};
