/* hinge convert: between image formats (NIfTI-1/-2, .nii/.nii.gz; DICOM series and fastMRI
 * .h5 -> NIfTI). */
#include "cli.h"
#include "cli_fastmri.h"

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
    "--slice K; the file's attributes (acquisition, patient_id, max, norm) go to the sidecar.\n\n"
    "options:\n"
    "  --datatype T  stored type: same (default: the input's type when it is float32/64, or an\n"
    "                integer type without scaling; float32 otherwise), float32, float64, uint8,\n"
    "                int8, int16, uint16, int32, uint32 (integer types need integral values)\n"
    "  --nifti2      write NIfTI-2 (default NIfTI-1)\n"
    "  --series UID  the DICOM series to convert (or the --seg-source series)\n"
    "  --seg-source DIR  write a DICOM SEG for this DICOM series (file or directory)\n"
    "  --dataset D   fastMRI: kspace (default), reconstruction_rss or reconstruction_esc\n"
    "  --slice K     fastMRI: only slice K (from 0)\n"
    "  --threads N   worker threads (default: all cores)\n";

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

static int run_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *dtype = "same", *series = NULL, *seg_source = NULL;
    const char *dataset = NULL;
    int64_t slice = -1;
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
    hg_status s = hg_nifti_write(out, &img, &o);
    hg_image_free(&img);
    return s ? hg_cli_fail("convert") : HG_EXIT_OK;
}

const hg_cli_command hg_cmd_convert = {"convert", "convert between image formats (NIfTI, DICOM/fastMRI -> NIfTI)",
                                       run_convert};
