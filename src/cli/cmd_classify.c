/* hinge classify: a trained image classifier ("cnn", "resnet18" or ONNX model file) on NIfTI
 * images: softmax scores per image; with reference labels, the ROC AUC (bootstrap CI), the
 * sensitivity/specificity at an operating point and the calibration (ECE, reliability
 * diagram); class activation map overlays for resnet18; and a --list mode for many studies
 * under mpirun. */
#include "cli.h"
#include "cli_dist.h"

#include "hinge/image.h"
#include "hinge/nn.h"
#include "hinge/seg_metrics.h"

#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hinge classify --model M [options] <img.nii[.gz]> ...\n"
            "       hinge classify --model M [options] --list studies.txt -o outdir\n\n"
            "Runs an image classifier (a \"cnn\" or \"resnet18\" model file, or an ONNX file)\n"
            "on each image and prints the softmax score of every class and the predicted\n"
            "class. Images are fed as stored (no resampling, no normalization): for 2-D\n"
            "models a 2-D image (of the model's size for cnn), or a 3-D one whose first axis\n"
            "(NIfTI z) holds the model's channels; for 3-D resnet18 models a volume, or a 4-D\n"
            "image whose first axis holds the channels.\n\n"
            "options:\n"
            "  --model M        the model: a path, or NAME for models/NAME.safetensors in the\n"
            "                   source tree\n"
            "  --json | --csv   machine-readable output (default: a table)\n"
            "  --labels F       reference labels, a CSV of 'file,label' (0/1; file matched by\n"
            "                   path or base name; a header line is allowed): prints the ROC\n"
            "                   AUC of the class-1 score with a bootstrap 95%% CI, and the\n"
            "                   sensitivity and specificity at score >= 0.5 (two-class models)\n"
            "                   and the expected calibration error (ECE, 10 equal bins)\n"
            "  --threshold T    the operating point: score >= T is positive (default 0.5)\n"
            "  --reliability P  with --labels: write the reliability diagram to PNG P\n"
            "  --overlay DIR    resnet18, 2-D: write DIR/<image>.png, the image with the class\n"
            "                   activation map of class 1 (CAM, Zhou et al. 2016) in red,\n"
            "                   its opacity scaled by the class-1 score\n"
            "  --list FILE      many studies (one input per line) under mpirun -np N, with\n"
            "                   dynamic load balancing: -o is a folder that receives one\n"
            "                   <name>.json per study (scores and prediction); studies whose\n"
            "                   output exists are skipped, a failing study is reported and\n"
            "                   the others continue\n"
            "  -o DIR           the output folder of --list\n"
            "  --replicates N   bootstrap replicates (default 2000)\n"
            "  --seed N         bootstrap seed (default 0)\n"
            "  --threads N      worker threads (default: all cores)\n");
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

typedef struct classifier {
    hg_model *m;
    char path[4096];
    int64_t dims, channels, classes, size; /* size: the fixed side of cnn models, else 0 */
    hg_ctx *ctx;
    hg_tensor *x; /* the last input (in ctx), for overlays */
} classifier;

static hg_status load_classifier(const char *model_arg, classifier *c)
{
    memset(c, 0, sizeof *c);
    hg_cli_model_path(model_arg, c->path, sizeof c->path);
    c->m = hg_model_load(c->path, NULL);
    if (!c->m)
        return hg_error_status();
    const char *arch = c->m->arch->name;
    bool resnet = strcmp(arch, "resnet18") == 0;
    if (strcmp(arch, "cnn") != 0 && strcmp(arch, "onnx") != 0 && !resnet)
        return hg_error(HG_ERR_INVALID, "classify: %s is a '%s' model, expected 'cnn', "
                        "'resnet18' or an ONNX file", c->path, arch);
    c->dims = 2, c->channels = 1, c->classes = resnet ? 2 : 10, c->size = resnet ? 0 : 28;
    hg_status s = hg_config_int(&c->m->config, "in_channels", 1, 4096, &c->channels);
    if (s == HG_OK) s = hg_config_int(&c->m->config, "classes", 1, 100000, &c->classes);
    if (s == HG_OK && !resnet) s = hg_config_int(&c->m->config, "size", 1, 1 << 20, &c->size);
    if (s == HG_OK && resnet) s = hg_config_int(&c->m->config, "dims", 2, 3, &c->dims);
    c->ctx = s == HG_OK ? hg_ctx_new() : NULL;
    if (s == HG_OK && !c->ctx)
        s = hg_error_status();
    if (s == HG_OK) {
        hg_ctx_set_grad(c->ctx, false);
        hg_ctx_set_training(c->ctx, false);
    }
    return s;
}

static void free_classifier(classifier *c)
{
    hg_ctx_free(c->ctx);
    hg_model_free(c->m);
}

/* Softmax scores [classes] of one image. After dropping leading singleton axes the image
 * must be [*S] (one channel) or [C, *S] with dims spatial axes (of the model's size for
 * cnn). c->x keeps the input until the next call. */
static hg_status classify_one(classifier *c, const char *path, double *prob)
{
    hg_image img;
    hg_image_init(&img);
    hg_status s = hg_nifti_read(path, &img);
    if (s != HG_OK)
        return s;
    const hg_tensor *t = img.data;
    int nd = t->ndim, dims = (int)c->dims;
    const int64_t *sh = t->shape;
    while (nd > dims && sh[0] == 1)
        sh++, nd--;
    int64_t ch = nd == dims + 1 ? sh[0] : 1;
    const int64_t *sp = sh + (nd - dims);
    bool ok = t->dtype == HG_F32 && nd >= dims && nd <= dims + 1 && ch == c->channels;
    for (int d = 0; ok && c->size && d < dims; d++)
        ok = sp[d] == c->size;
    if (!ok) {
        char got[96];
        if (c->size)
            s = hg_error(HG_ERR_INVALID, "classify: %s is %s%s; the model takes [%lld, %lld, "
                         "%lld] (channels, H, W) images", path, hg_shape_str(t, got, sizeof got),
                         t->dtype == HG_F32 ? "" : " complex", (long long)c->channels,
                         (long long)c->size, (long long)c->size);
        else
            s = hg_error(HG_ERR_INVALID, "classify: %s is %s%s; the model takes %d-D images "
                         "with %lld channel(s) ([%s] or [C, %s])", path,
                         hg_shape_str(t, got, sizeof got), t->dtype == HG_F32 ? "" : " complex",
                         dims, (long long)c->channels, dims == 2 ? "H, W" : "D, H, W",
                         dims == 2 ? "H, W" : "D, H, W");
        hg_image_free(&img);
        return s;
    }
    hg_ctx_reset(c->ctx);
    int64_t xs[5] = {1, ch, sp[0], sp[1], dims == 3 ? sp[2] : 1};
    c->x = hg_tensor_empty(c->ctx, HG_F32, 2 + dims, xs);
    if (c->x)
        memcpy(c->x->data, t->data, (size_t)c->x->numel * sizeof(float));
    hg_image_free(&img);
    hg_tensor *y = c->x ? hg_model_forward(c->m, c->ctx, c->x) : NULL;
    if (!y)
        return hg_error_context(hg_error_status(), "classify: %s", path);
    if (y->numel != c->classes)
        return hg_error(HG_ERR_INVALID, "classify: the model gave %lld outputs, expected %lld",
                        (long long)y->numel, (long long)c->classes);
    double mx = y->data[0], sum = 0;
    for (int64_t k = 1; k < c->classes; k++)
        mx = fmax(mx, y->data[k]);
    for (int64_t k = 0; k < c->classes; k++)
        sum += prob[k] = exp(y->data[k] - mx);
    for (int64_t k = 0; k < c->classes; k++)
        prob[k] /= sum;
    return HG_OK;
}

/* The image of c->x (2-D, channel 0) in gray (its min..max), with the class-1 CAM
 * (bilinearly upsampled, min..max mapped to 0..1 as in Zhou et al.'s figures) in red at
 * opacity 0.7 * p1 * heat: images scored negative stay nearly gray. */
static hg_status write_overlay(classifier *c, const char *dir, const char *image_path, double p1)
{
    if (c->dims != 2 || strcmp(c->m->arch->name, "resnet18") != 0)
        return hg_error(HG_ERR_INVALID, "classify --overlay: needs a 2-D resnet18 model");
    hg_tensor *cam = hg_resnet_cam(c->m, c->ctx, c->x, c->classes > 1 ? 1 : 0);
    int64_t h = c->x->shape[2], w = c->x->shape[3];
    hg_tensor *up = cam ? hg_upsample(c->ctx, cam, (const int64_t[]){h, w}, HG_UPSAMPLE_LINEAR,
                                      false) : NULL;
    uint8_t *gray = hg_ctx_alloc(c->ctx, (size_t)(h * w)), *rgb = hg_ctx_alloc(c->ctx,
                                                                                (size_t)(3 * h * w));
    if (!up || !gray || !rgb)
        return hg_error_status();
    float lo = INFINITY, hi = -INFINITY, cmin = INFINITY, cmax = -INFINITY;
    for (int64_t i = 0; i < h * w; i++) {
        lo = fminf(lo, c->x->data[i]), hi = fmaxf(hi, c->x->data[i]);
        cmin = fminf(cmin, up->data[i]), cmax = fmaxf(cmax, up->data[i]);
    }
    hg_window win = {0.5f * (lo + hi), hi - lo > 0 ? hi - lo : 1.0f};
    hg_status s = hg_window_apply(c->x->data, h * w, &win, gray);
    for (int64_t i = 0; s == HG_OK && i < h * w; i++) {
        float heat = cmax > cmin ? (up->data[i] - cmin) / (cmax - cmin) : 0.0f;
        float a = 0.7f * (float)p1 * heat, g = gray[i];
        rgb[3 * i] = (uint8_t)lrintf(g * (1 - a) + 255.0f * a);
        rgb[3 * i + 1] = rgb[3 * i + 2] = (uint8_t)lrintf(g * (1 - a));
    }
    char out[4096], name[1024];
    snprintf(name, sizeof name, "%s", base_name(image_path));
    char *dot = strstr(name, ".nii");
    if (dot)
        *dot = 0;
    snprintf(out, sizeof out, "%s/%s.png", dir, name);
    return s == HG_OK ? hg_png_write(out, rgb, h, w, 3) : s;
}

/* --list: one study in, <outdir>/<name>.json out. */
static hg_status classify_study(void *user, const char *input, const char *output)
{
    classifier *c = user;
    double *prob = calloc((size_t)c->classes, sizeof *prob);
    if (!prob)
        return hg_error(HG_ERR_NOMEM, "classify: no memory");
    hg_status s = classify_one(c, input, prob);
    cJSON *o = s == HG_OK ? cJSON_CreateObject() : NULL;
    if (s == HG_OK && !o)
        s = hg_error(HG_ERR_NOMEM, "classify: no memory");
    if (s == HG_OK) {
        int64_t best = 0;
        for (int64_t k = 1; k < c->classes; k++)
            best = prob[k] > prob[best] ? k : best;
        cJSON_AddStringToObject(o, "file", input);
        cJSON_AddStringToObject(o, "model", c->path);
        cJSON_AddNumberToObject(o, "prediction", (double)best);
        cJSON_AddItemToObject(o, "scores", cJSON_CreateDoubleArray(prob, (int)c->classes));
        s = hg_sidecar_write(output, o);
    }
    cJSON_Delete(o);
    free(prob);
    return s;
}

/* The reference label of every image from a 'file,label' CSV. */
static hg_status read_labels(const char *csv, char **files, int n, float *label)
{
    unsigned char *buf;
    size_t len;
    hg_status s = hg_read_file(csv, 64u << 20, &buf, &len);
    if (s != HG_OK)
        return s;
    char *text = realloc(buf, len + 1);
    if (!text) {
        free(buf);
        return hg_error(HG_ERR_NOMEM, "classify: no memory for %s", csv);
    }
    text[len] = 0;
    bool *exact = calloc((size_t)n, sizeof *exact);
    if (!exact) {
        free(text);
        return hg_error(HG_ERR_NOMEM, "classify: no memory for %d labels", n);
    }
    for (int i = 0; i < n; i++)
        label[i] = NAN;
    int line = 0;
    for (char *save = NULL, *l = strtok_r(text, "\r\n", &save); l && s == HG_OK;
         l = strtok_r(NULL, "\r\n", &save)) {
        line++;
        char *comma = strrchr(l, ',');
        double v;
        if (!comma || !hg_cli_parse_float(comma + 1, &v) || (v != 0 && v != 1)) {
            if (line == 1)
                continue; /* a header */
            s = hg_error(HG_ERR_FORMAT, "classify: %s line %d is not 'file,label' with a 0/1 "
                         "label: '%s'", csv, line, l);
            break;
        }
        *comma = 0;
        /* an exact path match wins over a base-name match from another line */
        for (int i = 0; i < n; i++)
            if (!strcmp(l, files[i]))
                label[i] = (float)v, exact[i] = true;
            else if (!exact[i] && !strcmp(base_name(l), base_name(files[i])))
                label[i] = (float)v;
    }
    for (int i = 0; i < n && s == HG_OK; i++)
        if (isnan(label[i]))
            s = hg_error(HG_ERR_INVALID, "classify: %s has no label for %s", csv, files[i]);
    free(exact);
    free(text);
    return s;
}

typedef struct evaluation {
    hg_bootstrap_ci auc;
    hg_operating_point op;
    hg_calibration cal;
    int32_t replicates;
    double threshold;
} evaluation;

static int run_classify(int argc, char **argv)
{
    const char *model_arg = NULL, *labels_path = NULL, *reliability = NULL, *overlay = NULL;
    const char *list = NULL, *outdir = NULL;
    bool json = false, csv = false;
    int64_t threads = 0, replicates = 2000, seed = 0;
    double threshold = 0.5;
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},         {"model", required_argument, 0, 'M'},
        {"json", no_argument, 0, 'j'},         {"csv", no_argument, 0, 'c'},
        {"labels", required_argument, 0, 'l'}, {"replicates", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 's'},   {"threads", required_argument, 0, 't'},
        {"threshold", required_argument, 0, 'T'}, {"reliability", required_argument, 0, 'R'},
        {"overlay", required_argument, 0, 'O'}, {"list", required_argument, 0, 'L'},
        {"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'M': model_arg = optarg; break;
        case 'j': json = true; break;
        case 'c': csv = true; break;
        case 'l': labels_path = optarg; break;
        case 'R': reliability = optarg; break;
        case 'O': overlay = optarg; break;
        case 'L': list = optarg; break;
        case 'o': outdir = optarg; break;
        case 'T': ok = hg_cli_parse_float(optarg, &threshold) && threshold >= 0 &&
                       threshold <= 1; break;
        case 'r': ok = hg_cli_parse_int(optarg, 10, 1000000, &replicates); break;
        case 's': ok = hg_cli_parse_int(optarg, 0, INT64_MAX, &seed); break;
        case 't': ok = hg_cli_parse_int(optarg, 0, 4096, &threads); break;
        default: return hg_cli_usage_error("classify", "invalid option");
        }
        if (!ok)
            return hg_cli_usage_error("classify", "invalid value '%s'", optarg);
    }
    if (!model_arg)
        return hg_cli_usage_error("classify", "missing --model");
    if (json && csv)
        return hg_cli_usage_error("classify", "give --json or --csv, not both");
    if (reliability && !labels_path)
        return hg_cli_usage_error("classify", "--reliability needs --labels");
    if (list && (!outdir || labels_path || overlay || json || csv))
        return hg_cli_usage_error("classify", "--list needs -o DIR and takes none of --labels, "
                                  "--overlay, --json, --csv");
    if (!list && outdir)
        return hg_cli_usage_error("classify", "-o is the output folder of --list");
    int n = argc - optind;
    if (list && n > 0)
        return hg_cli_usage_error("classify", "--list takes the inputs from the list, not the "
                                  "command line");
    if (!list && n < 1)
        return hg_cli_usage_error("classify", "no input images");
    hg_set_threads((int)threads);
    classifier cl;
    hg_status s = load_classifier(model_arg, &cl);
    if (s == HG_OK && overlay && (cl.dims != 2 || strcmp(cl.m->arch->name, "resnet18") != 0))
        s = hg_error(HG_ERR_INVALID, "classify --overlay: %s is not a 2-D resnet18 model",
                     cl.path);
    if (s != HG_OK) {
        free_classifier(&cl);
        return hg_cli_fail("classify");
    }
    if (list) {
        int lrc = hg_cli_run_list("classify", list, outdir, ".json", classify_study, &cl);
        free_classifier(&cl);
        return lrc;
    }
    const char *path = cl.path;
    int64_t classes = cl.classes;
    if (s == HG_OK && labels_path && classes != 2)
        s = hg_error(HG_ERR_INVALID, "classify: --labels needs a two-class model; %s has %lld "
                     "classes", path, (long long)classes);
    double *prob = calloc((size_t)n * (size_t)classes, sizeof *prob);
    float *score = calloc((size_t)n, sizeof *score), *label = calloc((size_t)n, sizeof *label);
    if (s == HG_OK && (!prob || !score || !label))
        s = hg_error(HG_ERR_NOMEM, "classify: no memory for %d images", n);
    if (s == HG_OK && overlay && mkdir(overlay, 0777) != 0 && errno != EEXIST)
        s = hg_error(HG_ERR_IO, "classify: cannot create %s: %s", overlay, strerror(errno));
    for (int i = 0; i < n && s == HG_OK; i++) {
        double *p = prob + (size_t)i * (size_t)classes;
        s = classify_one(&cl, argv[optind + i], p);
        if (s == HG_OK && overlay)
            s = write_overlay(&cl, overlay, argv[optind + i], classes > 1 ? p[1] : p[0]);
    }
    evaluation ev = {.replicates = (int32_t)replicates, .threshold = threshold};
    if (s == HG_OK && labels_path) {
        s = read_labels(labels_path, argv + optind, n, label);
        for (int i = 0; i < n; i++)
            score[i] = (float)prob[2 * i + 1];
        if (s == HG_OK)
            s = hg_roc_auc_ci(score, label, n, ev.replicates, 0.95, hg_rng_new((uint64_t)seed),
                              &ev.auc);
        if (s == HG_OK)
            s = hg_operating_point_at(score, label, n, threshold, &ev.op);
        if (s == HG_OK)
            s = hg_calibration_compute(score, label, n, 10, &ev.cal);
        if (s == HG_OK && reliability)
            s = hg_calibration_png(reliability, &ev.cal, 256);
    }
    int rc = s == HG_OK ? HG_EXIT_OK : hg_cli_fail("classify");
    if (rc == HG_EXIT_OK && json) {
        cJSON *top = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(top, "images");
        cJSON_AddStringToObject(top, "model", path);
        cJSON_AddNumberToObject(top, "classes", (double)classes);
        for (int i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            const double *p = prob + (size_t)i * (size_t)classes;
            int64_t best = 0;
            for (int64_t k = 1; k < classes; k++)
                best = p[k] > p[best] ? k : best;
            cJSON_AddStringToObject(o, "file", argv[optind + i]);
            cJSON_AddNumberToObject(o, "prediction", (double)best);
            cJSON_AddItemToObject(o, "scores", cJSON_CreateDoubleArray(p, (int)classes));
            if (labels_path)
                cJSON_AddNumberToObject(o, "label", label[i]);
            cJSON_AddItemToArray(arr, o);
        }
        if (labels_path) {
            cJSON *e = cJSON_AddObjectToObject(top, "evaluation");
            cJSON_AddNumberToObject(e, "auc", ev.auc.estimate);
            cJSON_AddNumberToObject(e, "auc_ci_lo", ev.auc.lo);
            cJSON_AddNumberToObject(e, "auc_ci_hi", ev.auc.hi);
            cJSON_AddNumberToObject(e, "ci_level", 0.95);
            cJSON_AddNumberToObject(e, "replicates_used", ev.auc.replicates_used);
            cJSON_AddNumberToObject(e, "threshold", threshold);
            cJSON_AddNumberToObject(e, "sensitivity", ev.op.sensitivity);
            cJSON_AddNumberToObject(e, "specificity", ev.op.specificity);
            cJSON_AddNumberToObject(e, "tp", (double)ev.op.tp);
            cJSON_AddNumberToObject(e, "fp", (double)ev.op.fp);
            cJSON_AddNumberToObject(e, "tn", (double)ev.op.tn);
            cJSON_AddNumberToObject(e, "fn", (double)ev.op.fn);
            cJSON_AddNumberToObject(e, "ece", ev.cal.ece);
            cJSON_AddNumberToObject(e, "mce", ev.cal.mce);
            cJSON_AddNumberToObject(e, "calibration_bins", ev.cal.bins);
        }
        char *text = cJSON_Print(top);
        cJSON_Delete(top);
        if (text)
            printf("%s\n", text);
        free(text);
    } else if (rc == HG_EXIT_OK) {
        /* table or CSV: file, prediction, one score per class */
        printf(csv ? "file,prediction" : "%-40s %10s", "file", "prediction");
        for (int64_t k = 0; k < classes; k++) {
            char h[32];
            snprintf(h, sizeof h, "p%lld", (long long)k);
            printf(csv ? ",%s" : " %10s", h);
        }
        printf("\n");
        for (int i = 0; i < n; i++) {
            const double *p = prob + (size_t)i * (size_t)classes;
            int64_t best = 0;
            for (int64_t k = 1; k < classes; k++)
                best = p[k] > p[best] ? k : best;
            printf(csv ? "%s,%lld" : "%-40s %10lld", argv[optind + i], (long long)best);
            for (int64_t k = 0; k < classes; k++)
                printf(csv ? ",%.9g" : " %10.6f", p[k]);
            printf("\n");
        }
        if (labels_path)
            fprintf(csv ? stderr : stdout,
                    "AUC %.4f (95%% CI %.4f-%.4f, %d of %d bootstrap replicates); at score >= "
                    "%g: sensitivity %.4f (%lld/%lld), specificity %.4f (%lld/%lld); ECE %.4f "
                    "(10 bins)\n",
                    ev.auc.estimate, ev.auc.lo, ev.auc.hi, (int)ev.auc.replicates_used,
                    (int)ev.replicates, threshold, ev.op.sensitivity, (long long)ev.op.tp,
                    (long long)(ev.op.tp + ev.op.fn), ev.op.specificity, (long long)ev.op.tn,
                    (long long)(ev.op.tn + ev.op.fp), ev.cal.ece);
    }
    free(prob), free(score), free(label);
    free_classifier(&cl);
    return rc;
}

const hg_cli_command hg_cmd_classify = {"classify", "classify images with a CNN or ResNet "
                                        "(scores, AUC with CI, calibration, CAM)",
                                        run_classify};
