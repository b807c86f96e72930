/* hinge convert: between image formats (NIfTI-1/-2, .nii/.nii.gz; DICOM series and fastMRI
 * .h5 -> NIfTI). */
#include "cli.h"
#include "cli_fastmri.h"
#include "cli_onnx_convert.h"

#include "hinge/dicom.h"
#include "hinge/image.h"

#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: hinge convert [options] <in> <out>\n\n"
    "Converts between NIfTI-1 and NIfTI-2, .nii and .nii.gz (by the output name), keeping the\n"
    "geometry (qform/sform and codes, spacing, units) and the JSON sidecar. Float32 data comes\n"
    "back bit-exact. The output is written atomically: on any error no file is created.\n"
    "A DICOM input (a file, or a directory with one series, or --series UID) becomes a NIfTI\n"
    "volume in RAS+ world coordinates (slices sorted along the normal, rescale applied) with a\n"
    "JSON sidecar of key DICOM fields (Modality, UIDs, TransferSyntaxUID, RescaleSlope, ...).\n"
    "With --seg-source, <in> is a label map (NIfTI, integer labels 0..255 on the grid of the\n"
    "source series) and <out> a DICOM Segmentation (BINARY, label s = segment s) referencing\n"
    "the source series, its study and frame of reference (for sending back to a PACS).\n"
    "A fastMRI .h5 input: --dataset (default kspace, complex64 NIfTI) as a NIfTI volume, the\n"
    "tensor [slices, coils, H, W] (NIfTI x = W, y = H, z = coils, t = slices) or one slice with\n"
    "--slice K; the file's attributes (acquisition, patient_id, max, norm) go to the sidecar.\n"
    "An ONNX input (model.onnx) and --arch A: its weights become a native model of that\n"
    "architecture (configured by --set, as for train) saved as <out> (.safetensors), mapped by\n"
    "graph structure (exporters rename parameters and fold batch norms into convs) and checked\n"
    "by running both on the same random input: e.g.\n"
    "  hinge convert unet.onnx unet.safetensors --arch unet --set features=32,64,128,256\n\n"
    "options:\n"
    "  --datatype T  stored type: same (default: the input's type when it is float32/64, or an\n"
    "                integer type without scaling; float32 otherwise), float32, float64, uint8,\n"
    "                int8, int16, uint16, int32, uint32 (integer types need integral values)\n"
    "  --nifti2      write NIfTI-2 (default NIfTI-1)\n"
    "  --series UID  the DICOM series to convert (or the --seg-source series)\n"
    "  --seg-source DIR  write a DICOM SEG for this DICOM series (file or directory)\n"
    "  --dataset D   fastMRI: kspace (default), reconstruction_rss or reconstruction_esc\n"
    "  --slice K     fastMRI: only slice K (from 0)\n"
    "  --threads N   worker threads (default: all cores)\n"
    "  --arch A      ONNX input: the native architecture (unet, ...)\n"
    "  --set K=V     ONNX input: native model config (repeatable), e.g. --set classes=3\n"
    "  --shape S     ONNX input: the check input's shape (default: the declared one), 1,1,64,64\n"
    "  --window W    for a .png output: brain, subdural, lung, bone, abdomen (CT presets in HU)\n"
    "                or CENTER:WIDTH; default: the image's min..max. Volumes give their middle\n"
    "                slice.\n";

static const struct {
    const char *name;
    int32_t code;
} types[] = {{"float32", HG_DT_FLOAT32}, {"float64", HG_DT_FLOAT64}, {"uint8", HG_DT_UINT8},
             {"int8", HG_DT_INT8},       {"int16", HG_DT_INT16},     {"uint16", HG_DT_UINT16},
             {"int32", HG_DT_INT32},     {"uint32", HG_DT_UINT32}};

/* The stored type for --datatype same: keep the input's when that loses nothing. */
static int32_t same_type(const hg_image *img)
{
    if (img->data->dtype == HG_C64)
        return img->datatype == HG_DT_COMPLEX128 ? HG_DT_COMPLEX128 : HG_DT_COMPLEX64;
    bool unscaled = img->scl_slope == 1.0 && img->scl_inter == 0.0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (types[i].code == img->datatype && (unscaled || img->datatype == HG_DT_FLOAT32 ||
                                               img->datatype == HG_DT_FLOAT64))
            return img->datatype == HG_DT_FLOAT64 && !unscaled ? HG_DT_FLOAT32 : img->datatype;
    return HG_DT_FLOAT32;
}

/* A PNG of the image (the middle slice of a volume) through a display window. */
static hg_status write_png(const char *path, const hg_tensor *t, const char *window)
{
    if (t->dtype != HG_F32)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: PNG export needs a real image", path);
    int64_t w = t->shape[t->ndim - 1], h = t->ndim > 1 ? t->shape[t->ndim - 2] : 1;
    int64_t planes = t->numel / (w * h);
    hg_tensor *slice = hg_tensor_new(NULL, HG_F32, 2, (const int64_t[]){h, w});
    if (!slice)
        return hg_error_status();
    memcpy(slice->data, t->data + (planes / 2) * h * w, (size_t)(h * w) * sizeof(float));
    hg_window win;
    hg_status s = HG_OK;
    double c, wd;
    char *colon = window ? strchr(window, ':') : NULL;
    if (!window) {
        float lo = slice->data[0], hi = lo;
        for (int64_t i = 0; i < slice->numel; i++) {
            lo = slice->data[i] < lo ? slice->data[i] : lo;
            hi = slice->data[i] > hi ? slice->data[i] : hi;
        }
        win.center = 0.5f * (lo + hi);
        win.width = hi > lo ? hi - lo : 1.0f;
    } else if (colon) {
        char head[64];
        snprintf(head, sizeof head, "%.*s", (int)(colon - window), window);
        if (!hg_cli_parse_float(head, &c) || !hg_cli_parse_float(colon + 1, &wd) || wd <= 0)
            s = hg_error(HG_ERR_INVALID, "--window: expected CENTER:WIDTH with WIDTH > 0, got '%s'",
                         window);
        win.center = (float)c;
        win.width = (float)wd;
    } else {
        s = hg_window_preset(window, &win);
    }
    if (s == HG_OK)
        s = hg_png_write_image(path, slice, &win, NULL, 0);
    hg_tensor_free(slice);
    return s;
}

static int run_convert(int argc, char **argv)
{
    const char *window = NULL, *in = NULL, *out = NULL, *dtype = "same", *series = NULL;
    const char *seg_source = NULL, *dataset = NULL, *arch = NULL, *shape = NULL;
    int64_t slice = -1;
    hg_metadata config; /* --set, for an ONNX input */
    hg_metadata_init(&config);
    hg_nifti_write_opts o = {.version = 1};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s", usage);
            return HG_EXIT_OK;
        } else if (!strcmp(argv[i], "--nifti2")) {
            o.version = 2;
        } else if (!strcmp(argv[i], "--series")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("convert", "--series needs a SeriesInstanceUID");
            series = argv[++i];
        } else if (!strcmp(argv[i], "--seg-source")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("convert", "--seg-source needs a DICOM series");
            seg_source = argv[++i];
        } else if (!strcmp(argv[i], "--window")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("convert", "--window needs a preset or CENTER:WIDTH");
            window = argv[++i];
        } else if (!strcmp(argv[i], "--dataset")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("convert", "--dataset needs a name");
            dataset = argv[++i];
            if (strcmp(dataset, "kspace") && strcmp(dataset, "reconstruction_rss") &&
                strcmp(dataset, "reconstruction_esc"))
                return hg_cli_usage_error("convert", "--dataset '%s': expected kspace, "
                                          "reconstruction_rss or reconstruction_esc", dataset);
        } else if (!strcmp(argv[i], "--slice")) {
            if (i + 1 >= argc || !hg_cli_parse_int(argv[++i], 0, INT32_MAX, &slice))
                return hg_cli_usage_error("convert", "--slice needs a slice number (from 0)");
        } else if (!strcmp(argv[i], "--datatype")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("convert", "--datatype needs a type");
            dtype = argv[++i];
        } else if (!strcmp(argv[i], "--threads")) {
            int64_t n;
            if (i + 1 >= argc || !hg_cli_parse_int(argv[++i], 1, 4096, &n))
                return hg_cli_usage_error("convert", "--threads needs a number from 1 to 4096");
            hg_set_threads((int)n);
        } else if (!strcmp(argv[i], "--arch") || !strcmp(argv[i], "--shape")) {
            if (i + 1 >= argc)
                return hg_cli_usage_error("convert", "%s needs a value", argv[i]);
            *(argv[i][2] == 'a' ? &arch : &shape) = argv[i + 1];
            i++;
        } else if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= argc || !hg_cli_metadata_set_kv(&config, argv[i + 1]))
                return hg_cli_usage_error("convert", "--set needs KEY=VALUE");
            i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return hg_cli_usage_error("convert", "unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return hg_cli_usage_error("convert", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!in || !out)
        return hg_cli_usage_error("convert", "expected an input and an output file");
    if (hg_cli_is_onnx(in)) {
        int rc = hg_cli_onnx_convert(in, out, arch, &config, shape);
        hg_metadata_free(&config);
        return rc;
    }
    bool set = config.count > 0;
    hg_metadata_free(&config);
    if (arch || shape || set)
        return hg_cli_usage_error("convert", "--arch, --set and --shape are for an ONNX input");
    int32_t code = -1;
    if (strcmp(dtype, "same") == 0)
        code = 0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcmp(dtype, types[i].name))
            code = types[i].code;
    if (code < 0)
        return hg_cli_usage_error("convert", "unknown --datatype '%s'", dtype);
    hg_image img;
    hg_image_init(&img);
    if (seg_source) {
        hg_image src;
        hg_image_init(&src);
        if (hg_nifti_read(in, &img) || hg_dicom_read(seg_source, series, &src)) {
            hg_image_free(&img);
            return hg_cli_fail("convert");
        }
        hg_tensor_set_name(img.data, in);
        /* The label map must be on the source grid: same shape (the affine is the source's). */
        hg_status ws = hg_dicom_write_seg(out, img.data, &src, NULL);
        hg_image_free(&img);
        hg_image_free(&src);
        return ws ? hg_cli_fail("convert") : HG_EXIT_OK;
    }
    bool h5 = hg_cli_is_h5(in);
    if (!h5 && (dataset || slice >= 0))
        return hg_cli_usage_error("convert", "--dataset and --slice are for fastMRI .h5 input");
    char *sidecar = hg_sidecar_path(in); /* NULL: not a NIfTI name, so DICOM (or .h5) */
    hg_status rs = h5         ? hg_cli_fastmri_image(in, dataset ? dataset : "kspace", slice, &img)
                   : sidecar ? hg_nifti_read(in, &img)
                             : hg_dicom_read(in, series, &img);
    free(sidecar);
    if (rs)
        return hg_cli_fail("convert");
    hg_tensor_set_name(img.data, in);
    o.datatype = code ? code : same_type(&img);
    size_t olen = strlen(out);
    hg_status s = olen > 4 && strcmp(out + olen - 4, ".png") == 0
                      ? write_png(out, img.data, window)
                      : hg_nifti_write(out, &img, &o);
    hg_image_free(&img);
    return s ? hg_cli_fail("convert") : HG_EXIT_OK;
}

const hg_cli_command hg_cmd_convert = {"convert", "convert between image formats (NIfTI, DICOM/fastMRI -> NIfTI)",
                                       run_convert};
