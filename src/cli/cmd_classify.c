/* hinge classify: a trained image classifier ("cnn" model file) on NIfTI images: softmax
 * scores per image and, with reference labels, the ROC AUC (bootstrap CI) and the
 * sensitivity/specificity at 0.5. */
#include "cli.h"

#include "hinge/image.h"
#include "hinge/nn.h"
#include "hinge/seg_metrics.h"

#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hinge classify --model M [options] <img.nii[.gz]> ...\n\n"
            "Runs an image classifier (a \"cnn\" model file) on each image and prints the\n"
            "softmax score of every class and the predicted class. Images are fed as stored\n"
            "(no resampling, no normalization): a 2-D image of the model's size, or a 3-D one\n"
            "whose first axis (NIfTI z) holds the model's channels.\n\n"
            "options:\n"
            "  --model M        the model: a path, or NAME for models/NAME.safetensors in the\n"
            "                   source tree\n"
            "  --json | --csv   machine-readable output (default: a table)\n"
            "  --labels F       reference labels, a CSV of 'file,label' (0/1; file matched by\n"
            "                   path or base name; a header line is allowed): prints the ROC\n"
            "                   AUC of the class-1 score with a bootstrap 95%% CI, and the\n"
            "                   sensitivity and specificity at score >= 0.5 (two-class models)\n"
            "  --replicates N   bootstrap replicates (default 2000)\n"
            "  --seed N         bootstrap seed (default 0)\n"
            "  --threads N      worker threads (default: all cores)\n");
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Softmax scores [classes] of one image. The image must be [size, size] (one channel) or
 * [C, size, size] after dropping leading singleton axes. */
static hg_status classify_one(hg_model *m, int64_t channels, int64_t classes, int64_t size,
                              const char *path, hg_ctx *ctx, double *prob)
{
    hg_image img;
    hg_image_init(&img);
    hg_status s = hg_nifti_read(path, &img);
    if (s != HG_OK)
        return s;
    const hg_tensor *t = img.data;
    int nd = t->ndim;
    const int64_t *sh = t->shape;
    while (nd > 2 && sh[0] == 1)
        sh++, nd--;
    int64_t c = nd == 3 ? sh[0] : 1;
    if (t->dtype != HG_F32 || nd < 2 || nd > 3 || c != channels || sh[nd - 2] != size ||
        sh[nd - 1] != size) {
        char got[96];
        hg_shape_str(t, got, sizeof got);
        s = hg_error(HG_ERR_INVALID, "classify: %s is %s%s; the model takes [%lld, %lld, %lld] "
                     "(channels, H, W) images", path, got, t->dtype == HG_F32 ? "" : " complex",
                     (long long)channels, (long long)size, (long long)size);
        hg_image_free(&img);
        return s;
    }
    hg_ctx_reset(ctx);
    hg_tensor *x = hg_tensor_empty(ctx, HG_F32, 4, (const int64_t[]){1, c, size, size});
    if (x)
        memcpy(x->data, t->data, (size_t)x->numel * sizeof(float));
    hg_image_free(&img);
    hg_tensor *y = x ? hg_model_forward(m, ctx, x) : NULL;
    if (!y)
        return hg_error_status();
    if (y->numel != classes)
        return hg_error(HG_ERR_INVALID, "classify: the model gave %lld outputs, expected %lld",
                        (long long)y->numel, (long long)classes);
    double mx = y->data[0], sum = 0;
    for (int64_t k = 1; k < classes; k++)
        mx = fmax(mx, y->data[k]);
    for (int64_t k = 0; k < classes; k++)
        sum += prob[k] = exp(y->data[k] - mx);
    for (int64_t k = 0; k < classes; k++)
        prob[k] /= sum;
    return HG_OK;
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
    int32_t replicates;
} evaluation;

static int run_classify(int argc, char **argv)
{
    const char *model_arg = NULL, *labels_path = NULL;
    bool json = false, csv = false;
    int64_t threads = 0, replicates = 2000, seed = 0;
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},         {"model", required_argument, 0, 'M'},
        {"json", no_argument, 0, 'j'},         {"csv", no_argument, 0, 'c'},
        {"labels", required_argument, 0, 'l'}, {"replicates", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 's'},   {"threads", required_argument, 0, 't'},
        {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'M': model_arg = optarg; break;
        case 'j': json = true; break;
        case 'c': csv = true; break;
        case 'l': labels_path = optarg; break;
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
    int n = argc - optind;
    if (n < 1)
        return hg_cli_usage_error("classify", "no input images");
    hg_set_threads((int)threads);
    char path[4096];
    hg_cli_model_path(model_arg, path, sizeof path);
    hg_model *m = hg_model_load(path, NULL);
    if (!m)
        return hg_cli_fail("classify");
    int64_t channels = 1, classes = 10, size = 28;
    hg_status s = strcmp(m->arch->name, "cnn") != 0 && strcmp(m->arch->name, "onnx") != 0
                      ? hg_error(HG_ERR_INVALID, "classify: %s is a '%s' model, expected 'cnn'",
                                 path, m->arch->name)
                      : HG_OK;
    if (s == HG_OK) s = hg_config_int(&m->config, "in_channels", 1, 4096, &channels);
    if (s == HG_OK) s = hg_config_int(&m->config, "classes", 1, 100000, &classes);
    if (s == HG_OK) s = hg_config_int(&m->config, "size", 1, 1 << 20, &size);
    if (s == HG_OK && labels_path && classes != 2)
        s = hg_error(HG_ERR_INVALID, "classify: --labels needs a two-class model; %s has %lld "
                     "classes", path, (long long)classes);
    double *prob = calloc((size_t)n * (size_t)classes, sizeof *prob);
    float *score = calloc((size_t)n, sizeof *score), *label = calloc((size_t)n, sizeof *label);
    hg_ctx *ctx = hg_ctx_new();
    if (s == HG_OK && (!prob || !score || !label || !ctx))
        s = hg_error(HG_ERR_NOMEM, "classify: no memory for %d images", n);
    if (s == HG_OK) {
        hg_ctx_set_grad(ctx, false);
        hg_ctx_set_training(ctx, false);
    }
    for (int i = 0; i < n && s == HG_OK; i++)
        s = classify_one(m, channels, classes, size, argv[optind + i], ctx,
                         prob + (size_t)i * (size_t)classes);
    evaluation ev = {.replicates = (int32_t)replicates};
    if (s == HG_OK && labels_path) {
        s = read_labels(labels_path, argv + optind, n, label);
        for (int i = 0; i < n; i++)
            score[i] = (float)prob[2 * i + 1];
        if (s == HG_OK)
            s = hg_roc_auc_ci(score, label, n, ev.replicates, 0.95, hg_rng_new((uint64_t)seed),
                              &ev.auc);
        if (s == HG_OK)
            s = hg_operating_point_at(score, label, n, 0.5, &ev.op);
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
            cJSON_AddNumberToObject(e, "threshold", 0.5);
            cJSON_AddNumberToObject(e, "sensitivity", ev.op.sensitivity);
            cJSON_AddNumberToObject(e, "specificity", ev.op.specificity);
            cJSON_AddNumberToObject(e, "tp", (double)ev.op.tp);
            cJSON_AddNumberToObject(e, "fp", (double)ev.op.fp);
            cJSON_AddNumberToObject(e, "tn", (double)ev.op.tn);
            cJSON_AddNumberToObject(e, "fn", (double)ev.op.fn);
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
                    "0.5: sensitivity %.4f (%lld/%lld), specificity %.4f (%lld/%lld)\n",
                    ev.auc.estimate, ev.auc.lo, ev.auc.hi, (int)ev.auc.replicates_used,
                    (int)ev.replicates, ev.op.sensitivity, (long long)ev.op.tp,
                    (long long)(ev.op.tp + ev.op.fn), ev.op.specificity, (long long)ev.op.tn,
                    (long long)(ev.op.tn + ev.op.fp));
    }
    hg_ctx_free(ctx);
    free(prob), free(score), free(label);
    hg_model_free(m);
    return rc;
}

const hg_cli_command hg_cmd_classify = {"classify", "classify images with a trained CNN "
                                        "(scores, ROC AUC with bootstrap CI)", run_classify};
