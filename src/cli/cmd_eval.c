/* hinge eval: PSNR, SSIM and NMSE of images against a reference. */
#include "cli.h"

#include "hinge/image.h"
#include "hinge/metrics.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: hinge eval --ref <reference> [options] <image>...\n\n"
    "Prints PSNR (dB), SSIM and NMSE of each image against the reference (fastMRI conventions):\n"
    "  PSNR = 10 log10(R^2 / MSE), NMSE = ||ref - x||^2 / ||ref||^2,\n"
    "  SSIM as scikit-image's structural_similarity on each 2-D slice (the x-y planes of the\n"
    "  file), averaged; 7x7 uniform window by default, K1 0.01, K2 0.03.\n"
    "  R, the data range, is max(reference) unless --data-range is given.\n"
    "Images must have the reference's dimensions. Nothing is printed unless all succeed.\n\n"
    "options:\n"
    "  --ref FILE          the reference image (required)\n"
    "  --data-range R      data range for PSNR and SSIM (default: max of the reference)\n"
    "  --ssim-window W     uniform (default) or gaussian (sigma 1.5, 11 taps)\n"
    "  --json              one JSON object on stdout\n"
    "  --png PATH          figure: reference | inputs (top), |input - reference| (bottom),\n"
    "                      middle slice for volumes; images in [min, max] of the reference,\n"
    "                      errors in [0, 20%% of the data range]\n"
    "  --csv               CSV with a header line on stdout\n"
    "  --threads N         worker threads (default: all cores)\n";

typedef struct result {
    const char *file;
    double psnr, ssim, nmse;
} result;

static int print_json(const char *ref, double range, const char *window, const result *r, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reference", ref);
    if (range > 0)
        cJSON_AddNumberToObject(o, "data_range", range);
    else
        cJSON_AddStringToObject(o, "data_range", "max(reference)");
    cJSON_AddStringToObject(o, "ssim_window", window);
    cJSON *a = cJSON_AddArrayToObject(o, "results");
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", r[i].file);
        /* JSON has no infinity: an identical image has PSNR null */
        if (isfinite(r[i].psnr))
            cJSON_AddNumberToObject(e, "psnr", r[i].psnr);
        else
            cJSON_AddNullToObject(e, "psnr");
        cJSON_AddNumberToObject(e, "ssim", r[i].ssim);
        cJSON_AddNumberToObject(e, "nmse", r[i].nmse);
        cJSON_AddItemToArray(a, e);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return hg_cli_fail("eval");
    printf("%s\n", text);
    cJSON_free(text);
    return HG_EXIT_OK;
}

static void csv_field(const char *s)
{
    bool quote = strpbrk(s, ",\"\n") != NULL;
    if (!quote) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_table(const result *r, int n, bool csv)
{
    if (csv) {
        printf("file,psnr,ssim,nmse\n");
        for (int i = 0; i < n; i++) {
            csv_field(r[i].file);
            printf(",%.6f,%.6f,%.6e\n", r[i].psnr, r[i].ssim, r[i].nmse);
        }
        return;
    }
    int w = 4;
    for (int i = 0; i < n; i++)
        w = (int)strlen(r[i].file) > w ? (int)strlen(r[i].file) : w;
    printf("%-*s  %9s  %7s  %10s\n", w, "file", "PSNR (dB)", "SSIM", "NMSE");
    for (int i = 0; i < n; i++)
        printf("%-*s  %9.3f  %7.4f  %10.4e\n", w, r[i].file, r[i].psnr, r[i].ssim, r[i].nmse);
}

static hg_status evaluate(const hg_image *ref, const char *file, double range,
                          const hg_ssim_opts *so, result *r)
{
    hg_image img;
    hg_image_init(&img);
    hg_status s = hg_nifti_read(file, &img);
    if (s)
        return s;
    hg_tensor_set_name(img.data, file);
    r->file = file;
    if (!(s = hg_psnr(img.data, ref->data, range, &r->psnr)) &&
        !(s = hg_ssim(img.data, ref->data, so, &r->ssim)))
        s = hg_nmse(img.data, ref->data, &r->nmse);
    hg_image_free(&img);
    return s;
}

/* A 2-D view of an image: the middle slice of the leading dimensions (heap tensor). */
static hg_tensor *middle_slice(const hg_tensor *t)
{
    int64_t h = t->shape[t->ndim - 2 >= 0 ? t->ndim - 2 : 0], w = t->shape[t->ndim - 1];
    if (t->ndim < 2)
        h = 1;
    int64_t planes = t->numel / (h * w);
    hg_tensor *s = hg_tensor_new(NULL, HG_F32, 2, (const int64_t[]){h, w});
    if (s)
        memcpy(s->data, t->data + (planes / 2) * h * w, (size_t)(h * w) * sizeof(float));
    return s;
}

/* Scales x in place from [lo, hi] to [0, 1] (clamped). */
static void normalize(hg_tensor *x, float lo, float hi)
{
    float span = hi > lo ? hi - lo : 1.0f;
    for (int64_t i = 0; i < x->numel; i++) {
        float v = (x->data[i] - lo) / span;
        x->data[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

static hg_status write_figure(const char *path, const hg_image *ref, const char **files, int n,
                              double range)
{
    hg_tensor *top[17] = {0}, *bottom[17] = {0}, *rows[2] = {0}, *fig = NULL;
    if (n > 16)
        n = 16;
    hg_status s = HG_OK;
    top[0] = middle_slice(ref->data);
    if (!top[0])
        return hg_error_status();
    float lo = top[0]->data[0], hi = lo;
    for (int64_t i = 0; i < top[0]->numel; i++) {
        lo = fminf(lo, top[0]->data[i]);
        hi = fmaxf(hi, top[0]->data[i]);
    }
    float err_hi = (float)(0.2 * (range > 0 ? range : hi - lo));
    bottom[0] = hg_tensor_like(NULL, top[0]);
    for (int i = 0; s == HG_OK && i < n; i++) {
        hg_image img;
        hg_image_init(&img);
        if ((s = hg_nifti_read(files[i], &img)) != HG_OK)
            break;
        top[i + 1] = middle_slice(img.data);
        hg_image_free(&img);
        if (!top[i + 1] || !hg_shape_equal(top[i + 1], top[0])) {
            s = hg_error(HG_ERR_INVALID, "%s: slice shape differs from the reference", files[i]);
            break;
        }
        bottom[i + 1] = hg_tensor_like(NULL, top[0]);
        if (!bottom[i + 1]) {
            s = hg_error_status();
            break;
        }
        for (int64_t k = 0; k < top[0]->numel; k++)
            bottom[i + 1]->data[k] = fabsf(top[i + 1]->data[k] - top[0]->data[k]);
        normalize(bottom[i + 1], 0, err_hi);
    }
    if (s == HG_OK) {
        for (int i = 0; i <= n; i++)
            normalize(top[i], lo, hi);
        rows[0] = hg_montage((const hg_tensor *const *)top, n + 1, 4, 1.0f);
        rows[1] = hg_montage((const hg_tensor *const *)bottom, n + 1, 4, 1.0f);
        if (!rows[0] || !rows[1])
            s = hg_error_status();
    }
    if (s == HG_OK) {
        int64_t h = rows[0]->shape[0], w = rows[0]->shape[1];
        fig = hg_tensor_new(NULL, HG_F32, 2, (const int64_t[]){2 * h + 4, w});
        if (!fig)
            s = hg_error_status();
        else {
            hg_tensor_fill(fig, 1.0f);
            memcpy(fig->data, rows[0]->data, (size_t)(h * w) * sizeof(float));
            memcpy(fig->data + (h + 4) * w, rows[1]->data, (size_t)(h * w) * sizeof(float));
            hg_window win = {0.5f, 1.0f};
            s = hg_png_write_image(path, fig, &win, NULL, 0);
        }
    }
    for (int i = 0; i <= n; i++)
        hg_tensor_free(top[i]), hg_tensor_free(bottom[i]);
    hg_tensor_free(rows[0]), hg_tensor_free(rows[1]), hg_tensor_free(fig);
    return s;
}

static int run_eval(int argc, char **argv)
{
    const char *ref_path = NULL, *window = "uniform", *png = NULL;
    bool json = false, csv = false;
    double range = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    result *res = calloc((size_t)argc, sizeof *res);
    int nfiles = 0, rc = HG_EXIT_OK;
    if (!files || !res) {
        fprintf(stderr, "hinge eval: out of memory\n");
        rc = HG_EXIT_FAIL;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s", usage);
            goto done;
        } else if (!strcmp(argv[i], "--ref")) {
            if (i + 1 >= argc) {
                rc = hg_cli_usage_error("eval", "--ref needs a file");
                goto done;
            }
            ref_path = argv[++i];
        } else if (!strcmp(argv[i], "--data-range")) {
            if (i + 1 >= argc || !hg_cli_parse_float(argv[++i], &range) || !(range > 0)) {
                rc = hg_cli_usage_error("eval", "--data-range needs a number > 0");
                goto done;
            }
        } else if (!strcmp(argv[i], "--ssim-window")) {
            const char *wname = i + 1 < argc ? argv[i + 1] : "";
            if (strcmp(wname, "uniform") && strcmp(wname, "gaussian")) {
                rc = hg_cli_usage_error("eval", "--ssim-window needs 'uniform' or 'gaussian'");
                goto done;
            }
            window = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--png")) {
            if (i + 1 >= argc) {
                rc = hg_cli_usage_error("eval", "--png needs a file");
                goto done;
            }
            png = argv[++i];
        } else if (!strcmp(argv[i], "--csv")) {
            csv = true;
        } else if (!strcmp(argv[i], "--threads")) {
            int64_t n;
            if (i + 1 >= argc || !hg_cli_parse_int(argv[++i], 1, 4096, &n)) {
                rc = hg_cli_usage_error("eval", "--threads needs a number from 1 to 4096");
                goto done;
            }
            hg_set_threads((int)n);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = hg_cli_usage_error("eval", "unknown option '%s'", argv[i]);
            goto done;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (!ref_path || nfiles == 0 || (json && csv)) {
        rc = hg_cli_usage_error("eval", !ref_path ? "--ref is required"
                                        : nfiles == 0 ? "no images to evaluate"
                                                      : "--json and --csv exclude each other");
        goto done;
    }
    hg_image ref;
    hg_image_init(&ref);
    if (hg_nifti_read(ref_path, &ref)) {
        rc = hg_cli_fail("eval");
        goto done;
    }
    hg_tensor_set_name(ref.data, ref_path);
    hg_ssim_opts so = {.window = strcmp(window, "gaussian") ? HG_SSIM_UNIFORM : HG_SSIM_GAUSSIAN,
                       .data_range = range};
    for (int i = 0; i < nfiles && rc == HG_EXIT_OK; i++)
        if (evaluate(&ref, files[i], range, &so, &res[i]))
            rc = hg_cli_fail("eval");
    if (rc == HG_EXIT_OK && png && write_figure(png, &ref, files, nfiles, range) != HG_OK)
        rc = hg_cli_fail("eval");
    hg_image_free(&ref);
    if (rc == HG_EXIT_OK) {
        if (json)
            rc = print_json(ref_path, range, window, res, nfiles);
        else
            print_table(res, nfiles, csv);
    }
done:
    free(files);
    free(res);
    return rc;
}

const hg_cli_command hg_cmd_eval = {"eval", "PSNR, SSIM and NMSE of images against a reference",
                                    run_eval};
