/* hinge infer: runs an ONNX model (exported from PyTorch etc.) on a NIfTI image. */
#include "cli.h"

#include "hinge/image.h"
#include "hinge/onnx.h"

#include <string.h>

static const char *usage =
    "usage: hinge infer --model model.onnx [options] <in.nii[.gz]> -o <out.nii[.gz]>\n\n"
    "Runs a single-input, single-output ONNX model (opsets 9 to 17) on an image. The image\n"
    "becomes the model's [1, C, (D,) H, W] input: a 2-D or 3-D image is one channel; a 4-D\n"
    "image's last NIfTI axis (t) holds the channels. The output [1, C', ...] is written with\n"
    "the input's geometry when its spatial size matches: one channel as an image, several as a\n"
    "4-D image (channels along t), or a label map with --argmax.\n\n"
    "options:\n"
    "  --model F     the ONNX model (required)\n"
    "  -o F          output NIfTI (required)\n"
    "  --argmax      write the index of the largest channel per voxel (segmentation)\n"
    "  --threads N   worker threads (default: all cores)\n";

/* The input tensor [1, C, *S] for a model of rank `rank` from the image tensor (a view). */
static hg_tensor *model_input(hg_ctx *ctx, const hg_tensor *img, int32_t rank)
{
    int32_t ns = rank - 2, nd = img->ndim;
    int64_t shape[HG_MAX_DIMS] = {1, 1};
    const int64_t *s = img->shape;
    while (nd > ns + 1 && s[0] == 1) /* strip leading singleton axes */
        s++, nd--;
    if (nd > ns + 1 || ns < 1 || ns > 3) {
        hg_error(HG_ERR_INVALID, "infer: an image of %d dimensions does not fit a model input "
                 "of rank %d", (int)img->ndim, (int)rank);
        return NULL;
    }
    if (nd == ns + 1)
        shape[1] = s[0], s++, nd--;
    for (int32_t d = 0; d < ns; d++)
        shape[2 + d] = d < ns - nd ? 1 : s[d - (ns - nd)];
    hg_tensor *x = hg_tensor_empty(ctx, HG_F32, rank, shape);
    if (x)
        memcpy(x->data, img->data, (size_t)img->numel * sizeof(float));
    return x;
}

static int run_infer(int argc, char **argv)
{
    const char *model_path = NULL, *in_path = NULL, *out_path = NULL;
    bool argmax = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s", usage);
            return HG_EXIT_OK;
        } else if (!strcmp(argv[i], "--model") || !strcmp(argv[i], "-o")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("infer", "%s needs a file", argv[i]);
            *(argv[i][1] == 'o' ? &out_path : &model_path) = argv[i + 1];
            i++;
        } else if (!strcmp(argv[i], "--argmax")) {
            argmax = true;
        } else if (!strcmp(argv[i], "--threads")) {
            int64_t n;
            if (i + 1 >= argc || !hg_cli_parse_int(argv[++i], 1, 4096, &n))
                return hg_cli_usage_error("infer", "--threads needs a number from 1 to 4096");
            hg_set_threads((int)n);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return hg_cli_usage_error("infer", "unknown option '%s'", argv[i]);
        } else if (in_path) {
            return hg_cli_usage_error("infer", "one input image ('%s' and '%s')", in_path, argv[i]);
        } else {
            in_path = argv[i];
        }
    }
    if (!model_path || !in_path || !out_path)
        return hg_cli_usage_error("infer", "--model, an input image and -o are required");
    hg_onnx_model *m = hg_onnx_load(model_path);
    if (!m)
        return hg_cli_fail("infer");
    int rc = HG_EXIT_FAIL;
    hg_image img, out;
    hg_image_init(&img);
    hg_image_init(&out);
    hg_ctx *ctx = hg_ctx_new();
    int64_t decl[8];
    int32_t rank = hg_onnx_num_inputs(m) == 1 ? hg_onnx_input_shape(m, 0, decl) : -2;
    if (rank == -2 || hg_onnx_num_outputs(m) != 1) {
        hg_error(HG_ERR_UNSUPPORTED, "infer: %s has %d inputs and %d outputs; one of each is "
                 "supported", model_path, (int)hg_onnx_num_inputs(m), (int)hg_onnx_num_outputs(m));
        goto done;
    }
    if (rank < 3) {
        hg_error(HG_ERR_UNSUPPORTED, "infer: %s input '%s' has rank %d; [N, C, ...] images of "
                 "rank 3 to 5 are supported", model_path, hg_onnx_input_name(m, 0), (int)rank);
        goto done;
    }
    if (!ctx || hg_nifti_read(in_path, &img) != HG_OK)
        goto done;
    if (img.data->dtype != HG_F32) {
        hg_error(HG_ERR_UNSUPPORTED, "infer: %s holds complex data", in_path);
        goto done;
    }
    hg_ctx_set_grad(ctx, false);
    hg_ctx_set_training(ctx, false);
    hg_tensor *x = model_input(ctx, img.data, rank), *y = NULL;
    if (!x || hg_onnx_run(m, ctx, &x, &y) != HG_OK)
        goto done;
    if (y->ndim != rank || y->shape[0] != 1) {
        char sh[96];
        hg_error(HG_ERR_UNSUPPORTED, "infer: the output %s is not a [1, C, ...] image of rank %d",
                 hg_shape_str(y, sh, sizeof sh), (int)rank);
        goto done;
    }
    int32_t ns = rank - 2;
    int64_t channels = y->shape[1], vox = y->numel / channels, shape[HG_MAX_DIMS];
    int32_t ond = 0;
    if (channels > 1 && !argmax)
        shape[ond++] = channels;
    for (int32_t d = 0; d < ns; d++)
        shape[ond++] = y->shape[2 + d];
    out.data = hg_tensor_empty(NULL, HG_F32, ond, shape);
    if (!out.data)
        goto done;
    if (argmax) {
        for (int64_t v = 0; v < vox; v++) {
            int64_t best = 0;
            for (int64_t c = 1; c < channels; c++)
                if (y->data[c * vox + v] > y->data[best * vox + v])
                    best = c;
            out.data->data[v] = (float)best;
        }
        out.intent_code = 1002; /* NIfTI label map */
    } else {
        memcpy(out.data->data, y->data, (size_t)y->numel * sizeof(float));
    }
    /* keep the input's geometry when the spatial grid is the same */
    bool same = true;
    for (int32_t d = 0; d < ns; d++)
        same = same && x->shape[2 + d] == y->shape[2 + d];
    if (same) {
        memcpy(out.spacing, img.spacing, sizeof out.spacing);
        memcpy(out.qform, img.qform, sizeof out.qform);
        memcpy(out.sform, img.sform, sizeof out.sform);
        out.qform_code = img.qform_code, out.sform_code = img.sform_code;
        out.xyz_units = img.xyz_units;
    }
    hg_nifti_write_opts wo = {.datatype = argmax ? HG_DT_UINT8 : 0};
    if (argmax && channels > 255)
        wo.datatype = HG_DT_INT16;
    if (hg_nifti_write(out_path, &out, &wo) != HG_OK)
        goto done;
    rc = HG_EXIT_OK;
done:
    if (rc != HG_EXIT_OK)
        rc = hg_cli_fail("infer");
    hg_ctx_free(ctx);
    hg_image_free(&img);
    hg_image_free(&out);
    hg_onnx_free(m);
    return rc;
}

const hg_cli_command hg_cmd_infer = {"infer", "run an ONNX model on an image", run_infer};
