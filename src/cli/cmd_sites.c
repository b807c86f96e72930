/* hinge sites: the multi-site domain-randomization experiment (tools/experiments/sites.sh).
 *   hinge sites train --train A|AB [--randomize] ... -o model.safetensors
 *   hinge sites eval --model LABEL=PATH ... -o results.md [--json-out results.json]
 * Anatomy: the synthetic shapes (2-D); sites A, B, C: fixed simulated scanners (hg_site) that
 * differ in contrast curve, intensity scale, noise, bias field and blur. C is never trained
 * on. Training images are acquired once at their site; domain randomization re-draws intensity
 * transforms (hg_augment) every step. Evaluation: per-case Dice at every site with bootstrap
 * CIs, and how much of the gap between two models another one closes at the unseen site. */
#include "cli.h"

#include "hinge/seg_metrics.h"
#include "hinge/sites.h"

#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The experiment's scanners: {scale, offset, gamma, noise, bias, blur, thickness}. A is clean
 * and linear; B is brighter with a flatter curve; C (unseen) is darker with a steeper curve,
 * a stronger bias field, more noise and blur. */
static const struct {
    char name;
    hg_site site;
} presets[] = {
    {'A', {1.0f, 0.0f, 1.0f, 0.02f, 0.0f, 0.0f, 1}},
    {'B', {1.5f, 0.1f, 0.7f, 0.05f, 0.2f, 0.6f, 1}},
    {'C', {0.7f, -0.1f, 1.6f, 0.07f, 0.3f, 1.0f, 1}},
};
enum { MAX_SITES = 3, MAX_MODELS = 8 };

static const hg_site *preset(char c)
{
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (presets[i].name == c)
            return &presets[i].site;
    return NULL;
}

/* Domain randomization: intensity transforms only (the anatomy is the same at every site). */
static const hg_augment_opts dr_default = {
    .p_gamma = 0.8f, .gamma_min = 0.5f, .gamma_max = 2.0f,
    .p_contrast = 0.5f, .contrast_min = 0.7f, .contrast_max = 1.4f,
    .p_noise = 0.8f, .noise_std = 0.1f,
    .p_bias = 0.8f, .bias_strength = 0.4f,
    .p_blur = 0.5f, .blur_sigma_max = 1.5f,
};

static const struct {
    const char *key;
    size_t offset;
} dr_keys[] = {
#define K(f) {#f, offsetof(hg_augment_opts, f)}
    K(p_gamma), K(gamma_min), K(gamma_max), K(p_contrast), K(contrast_min), K(contrast_max),
    K(p_noise), K(noise_std), K(p_bias), K(bias_strength), K(p_blur), K(blur_sigma_max),
    K(p_lowres), K(lowres_min), K(p_flip),
#undef K
};

typedef struct {
    /* common */
    int64_t size, classes, objects, threads, seed;
    bool json;
    const char *out;
    /* train */
    const char *train_sites;
    bool randomize;
    hg_augment_opts dr;
    int64_t steps, batch, train_samples, val_samples, eval_every;
    double lr;
    /* eval */
    int nmodels;
    char *label[MAX_MODELS];
    const char *path[MAX_MODELS];
    const char *test_sites, *json_out, *examples, *closure;
    int64_t count, reps;
} sites_cli;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hinge sites train --train SITES [--randomize] [options] -o model.safetensors\n"
            "       hinge sites eval --model LABEL=PATH... [options] -o results.md\n\n"
            "The multi-site experiment on synthetic shapes (2-D, z-scored images). Sites:\n"
            "  A: scale 1.0, offset 0, gamma 1.0, noise 0.02, no bias, no blur\n"
            "  B: scale 1.5, offset 0.1, gamma 0.7, noise 0.05, bias 0.2, blur 0.6\n"
            "  C: scale 0.7, offset -0.1, gamma 1.6, noise 0.07, bias 0.3, blur 1.0 (unseen)\n\n"
            "common options:\n"
            "  --size N            image side (default 64)\n"
            "  --classes K         labels incl. background (default 4)\n"
            "  --objects N         shapes per image (default 6)\n"
            "  --seed S            weights, data order and randomization (default 0)\n"
            "  --threads N         worker threads (default: all cores)\n"
            "train options:\n"
            "  --train SITES       sites of the training images, e.g. A or AB (image i at\n"
            "                      SITES[i mod len]; the anatomies are the same for every choice)\n"
            "  --randomize         domain randomization: gamma, contrast, noise, bias field\n"
            "                      and blur re-drawn every step\n"
            "  --dr KEY=VALUE      change one randomization setting (hg_augment_opts field:\n"
            "                      p_gamma gamma_min gamma_max p_contrast contrast_min\n"
            "                      contrast_max p_noise noise_std p_bias bias_strength p_blur\n"
            "                      blur_sigma_max p_lowres lowres_min p_flip)\n"
            "  --steps N (400), --batch N (8), --lr X (2e-3, Adam, cosine decay)\n"
            "  --train-samples N   training images (default 200)\n"
            "  --val-samples N     validation images at site A (default 20)\n"
            "  --eval-every N      validation period (default: at the end)\n"
            "  --json              result as one JSON object\n"
            "eval options:\n"
            "  --model LABEL=PATH  a trained model (repeat, at most 8)\n"
            "  --sites SITES       test sites (default ABC)\n"
            "  --count N           test images per site (default 50; anatomies unseen in\n"
            "                      training, the same at every site)\n"
            "  --bootstrap N       replicates for the 95%% CIs (default 2000)\n"
            "  --closure L,M,H     report (M - L) / (H - L) of the mean Dice at the last test\n"
            "                      site with a paired bootstrap CI (models by label)\n"
            "  --json-out PATH     also write the numbers as JSON\n"
            "  --examples PNG      one test image at every site, and the label map\n");
}

static int bad(const char *opt, const char *v, const char *want)
{
    return hg_cli_usage_error("sites", "--%s '%s': expected %s", opt, v, want);
}

static int parse_sites(const char *opt, const char *s, const hg_site **out, int *n)
{
    *n = 0;
    for (const char *p = s; *p; p++) {
        if (*n == MAX_SITES || !preset(*p))
            return bad(opt, s, "1 to 3 of the letters A, B, C");
        out[(*n)++] = preset(*p);
    }
    return *n ? HG_EXIT_OK : bad(opt, s, "1 to 3 of the letters A, B, C");
}

static int set_dr(hg_augment_opts *o, const char *kv)
{
    const char *eq = strchr(kv, '=');
    double v;
    if (!eq || !hg_cli_parse_float(eq + 1, &v))
        return bad("dr", kv, "KEY=NUMBER");
    for (size_t i = 0; i < sizeof dr_keys / sizeof *dr_keys; i++)
        if (strlen(dr_keys[i].key) == (size_t)(eq - kv) &&
            strncmp(dr_keys[i].key, kv, (size_t)(eq - kv)) == 0) {
            *(float *)((char *)o + dr_keys[i].offset) = (float)v;
            return HG_EXIT_OK;
        }
    return bad("dr", kv, "a key listed in --help");
}

static int set_option(sites_cli *c, const char *name, const char *v)
{
    static const struct {
        const char *name;
        size_t offset;
        int64_t lo, hi;
    } ints[] = {
        {"size", offsetof(sites_cli, size), 16, 1024},
        {"classes", offsetof(sites_cli, classes), 2, 16},
        {"objects", offsetof(sites_cli, objects), 1, 100},
        {"seed", offsetof(sites_cli, seed), 0, INT64_MAX},
        {"threads", offsetof(sites_cli, threads), 0, 1024},
        {"steps", offsetof(sites_cli, steps), 1, 10000000},
        {"batch", offsetof(sites_cli, batch), 1, 4096},
        {"train-samples", offsetof(sites_cli, train_samples), 1, 1000000},
        {"val-samples", offsetof(sites_cli, val_samples), 0, 100000},
        {"eval-every", offsetof(sites_cli, eval_every), 0, 10000000},
        {"count", offsetof(sites_cli, count), 2, 100000},
        {"bootstrap", offsetof(sites_cli, reps), 0, 1000000},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (strcmp(name, ints[i].name) == 0)
            return hg_cli_parse_int(v, ints[i].lo, ints[i].hi,
                                    (int64_t *)((char *)c + ints[i].offset))
                       ? HG_EXIT_OK
                       : bad(name, v, "an integer in range");
    if (strcmp(name, "lr") == 0)
        return hg_cli_parse_float(v, &c->lr) && c->lr > 0 ? HG_EXIT_OK
                                                         : bad(name, v, "a positive number");
    if (strcmp(name, "dr") == 0)
        return set_dr(&c->dr, v);
    if (strcmp(name, "train") == 0) c->train_sites = v;
    else if (strcmp(name, "sites") == 0) c->test_sites = v;
    else if (strcmp(name, "examples") == 0) c->examples = v;
    else if (strcmp(name, "closure") == 0) c->closure = v;
    else if (strcmp(name, "json-out") == 0) c->json_out = v;
    else if (strcmp(name, "model") == 0) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1])
            return bad(name, v, "LABEL=PATH");
        if (c->nmodels == MAX_MODELS)
            return hg_cli_usage_error("sites", "at most %d models", MAX_MODELS);
        c->label[c->nmodels] = strndup(v, (size_t)(eq - v));
        c->path[c->nmodels++] = eq + 1;
    } else
        return hg_cli_usage_error("sites", "unknown option '--%s'", name);
    return HG_EXIT_OK;
}

static hg_shapes_opts anatomy(const sites_cli *c)
{
    hg_shapes_opts o = {.ndim = 2, .size = {c->size, c->size}, .classes = (int32_t)c->classes,
                        .objects = (int32_t)c->objects};
    return o;
}

/* Data sets of the experiment: training anatomies, validation (+1), test (TEST_SEED). */
enum { TRAIN_SEED = 1, TEST_SEED = 0x7e57, TRAIN_SITE_SEED = 100, TEST_SITE_SEED = 200 };

static void meta_num(hg_metadata *m, const char *key, const char *fmt, double v)
{
    char b[64];
    snprintf(b, sizeof b, fmt, v);
    hg_metadata_set(m, key, b);
}

static int train(sites_cli *c)
{
    const hg_site *sites[MAX_SITES], *val[1];
    int n, nv;
    if (!c->train_sites)
        return hg_cli_usage_error("sites", "train needs --train SITES (e.g. A or AB)");
    if (!c->out)
        return hg_cli_usage_error("sites", "train needs -o model.safetensors");
    if (parse_sites("train", c->train_sites, sites, &n) || parse_sites("train", "A", val, &nv))
        return HG_EXIT_USAGE;
    hg_site chosen[MAX_SITES];
    for (int i = 0; i < n; i++)
        chosen[i] = *sites[i];
    hg_sites_task t = {.seg = {.shapes = anatomy(c), .data_seed = TRAIN_SEED,
                               .train_samples = c->train_samples, .batch = c->batch,
                               .val_samples = c->val_samples},
                       .sites = chosen, .nsites = n, .site_seed = TRAIN_SITE_SEED,
                       .randomize = c->randomize ? &c->dr : NULL, .val_site = val[0]};
    hg_metadata cfg;
    hg_metadata_init(&cfg);
    hg_metadata_set(&cfg, "dims", "2");
    hg_metadata_set(&cfg, "in_channels", "1");
    meta_num(&cfg, "classes", "%.0f", (double)c->classes);
    hg_metadata_set(&cfg, "features", "16,32,64");
    hg_metadata_set(&cfg, "norm", "instance");
    hg_metadata_set(&cfg, "activation", "leaky_relu");
    hg_model *m = hg_model_create("unet", &cfg, (uint64_t)c->seed);
    hg_metadata_free(&cfg);
    if (!m)
        return hg_cli_fail("sites");
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = c->steps;
    o.lr = c->lr;
    o.seed = (uint64_t)c->seed;
    o.schedule.kind = HG_SCHED_COSINE;
    o.eval_every = c->eval_every;
    hg_task task = hg_sites_task_make(&t);
    hg_train_result r;
    double t0 = hg_cli_now();
    hg_status s = hg_train(m, &task, &o, &r);
    double secs = hg_cli_now() - t0;
    if (s == HG_OK) {
        hg_metadata extra;
        hg_metadata_init(&extra);
        hg_metadata_set(&extra, "sites.train", c->train_sites);
        hg_metadata_set(&extra, "sites.randomize", c->randomize ? "1" : "0");
        meta_num(&extra, "train.steps", "%.0f", (double)r.steps_done);
        meta_num(&extra, "train.batch", "%.0f", (double)c->batch);
        meta_num(&extra, "train.seconds", "%.1f", secs);
        meta_num(&extra, "train.threads", "%.0f", (double)hg_get_threads());
        meta_num(&extra, "train.val_dice_A", "%.4f", r.metric);
        s = hg_model_save(m, c->out, &extra);
        hg_metadata_free(&extra);
    }
    hg_model_free(m);
    if (s != HG_OK)
        return hg_cli_fail("sites");
    if (c->json)
        printf("{\"train\": \"%s\", \"randomize\": %s, \"steps\": %lld, \"batch\": %lld, "
               "\"final_loss\": %.6g, \"val_dice_A\": %.6g, \"seconds\": %.2f, \"threads\": %d}\n",
               c->train_sites, c->randomize ? "true" : "false", (long long)r.steps_done,
               (long long)c->batch, r.final_loss, r.metric, secs, hg_get_threads());
    else
        printf("sites %s%s: %lld steps of batch %lld, final loss %.4f, validation Dice at A "
               "%.4f, %.1f s\n", c->train_sites, c->randomize ? " + randomization" : "",
               (long long)r.steps_done, (long long)c->batch, r.final_loss, r.metric, secs);
    return HG_EXIT_OK;
}

/* ---- evaluation ------------------------------------------------------------------------- */

typedef struct {
    int nmodels, nsites;
    int64_t count;
    double *dice;                 /* [model][site][case] */
    hg_grouped g[MAX_MODELS];     /* per model: groups = sites */
    char info[MAX_MODELS][160];   /* training provenance from the model file */
} results;

static double *dice_of(const results *r, int m, int s)
{
    return r->dice + ((int64_t)m * r->nsites + s) * r->count;
}

static void provenance(const hg_metadata *e, char *out, size_t size)
{
    const char *steps = hg_metadata_get(e, "train.steps"), *b = hg_metadata_get(e, "train.batch");
    const char *sec = hg_metadata_get(e, "train.seconds"), *th = hg_metadata_get(e, "train.threads");
    snprintf(out, size, "%s steps x %s, %s s, %s threads", steps ? steps : "?", b ? b : "?",
             sec ? sec : "?", th ? th : "?");
}

static hg_status evaluate(const sites_cli *c, const hg_site *const *sites, results *r)
{
    hg_shapes_opts o = anatomy(c);
    hg_tensor *x[MAX_SITES] = {0}, *y[MAX_SITES] = {0};
    hg_status s = HG_OK;
    for (int k = 0; k < r->nsites && !s; k++)
        s = hg_sites_render(&o, TEST_SEED, sites[k], TEST_SITE_SEED + (uint64_t)k, 0, r->count,
                            &x[k], &y[k]);
    int32_t *gid = calloc((size_t)(r->nsites * r->count), sizeof *gid);
    if (!s && !gid)
        s = hg_error(HG_ERR_NOMEM, "sites: out of memory");
    for (int64_t i = 0; gid && i < r->nsites * r->count; i++)
        gid[i] = (int32_t)(i / r->count);
    for (int m = 0; m < r->nmodels && !s; m++) {
        hg_metadata extra;
        hg_metadata_init(&extra);
        hg_model *model = hg_model_load(c->path[m], &extra);
        if (!model)
            s = hg_error_status();
        provenance(&extra, r->info[m], sizeof r->info[m]);
        hg_metadata_free(&extra);
        for (int k = 0; k < r->nsites && !s; k++)
            s = hg_seg_evaluate_cases(model, x[k], y[k], 2, dice_of(r, m, k));
        hg_model_free(model);
        if (!s)
            s = hg_grouped_metric(dice_of(r, m, 0), gid, r->nsites * r->count, r->nsites,
                                  (int32_t)c->reps, 0.95, hg_rng_new((uint64_t)c->seed), &r->g[m]);
    }
    free(gid);
    for (int k = 0; k < r->nsites; k++)
        hg_tensor_free(x[k]), hg_tensor_free(y[k]);
    return s;
}

static double mean_at(const double *v, const int64_t *idx, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += v[idx ? idx[i] : i];
    return s / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* (mean M - mean L) / (mean H - mean L) at one site, with a paired percentile bootstrap over
 * the cases (the same test images for the three models). */
static void closure(const results *r, int site, const int *lmh, int64_t reps, uint64_t seed,
                    double out[3])
{
    const double *v[3];
    for (int j = 0; j < 3; j++)
        v[j] = dice_of(r, lmh[j], site);
    int64_t n = r->count;
    out[0] = (mean_at(v[1], NULL, n) - mean_at(v[0], NULL, n)) /
             (mean_at(v[2], NULL, n) - mean_at(v[0], NULL, n));
    out[1] = out[2] = NAN;
    int64_t *idx = malloc(sizeof *idx * (size_t)n);
    double *b = malloc(sizeof *b * (size_t)(reps ? reps : 1));
    hg_rng rng = hg_rng_new(seed + 1);
    int64_t kept = 0;
    for (int64_t k = 0; idx && b && k < reps; k++) {
        for (int64_t i = 0; i < n; i++)
            idx[i] = (int64_t)hg_rng_below(&rng, (uint64_t)n);
        double l = mean_at(v[0], idx, n);
        double q = (mean_at(v[1], idx, n) - l) / (mean_at(v[2], idx, n) - l);
        if (isfinite(q))
            b[kept++] = q;
    }
    if (kept > 1) {
        qsort(b, (size_t)kept, sizeof *b, cmp_double);
        out[1] = b[(int64_t)floor(0.025 * (double)(kept - 1))];
        out[2] = b[(int64_t)ceil(0.975 * (double)(kept - 1))];
    }
    free(idx);
    free(b);
}

static int find_label(const sites_cli *c, const char *s, size_t len)
{
    for (int m = 0; m < c->nmodels; m++)
        if (strlen(c->label[m]) == len && strncmp(c->label[m], s, len) == 0)
            return m;
    return -1;
}

static int parse_closure(const sites_cli *c, int lmh[3])
{
    const char *p = c->closure;
    for (int j = 0; j < 3; j++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if ((j < 2) != (e != NULL) || (lmh[j] = find_label(c, p, len)) < 0)
            return bad("closure", c->closure, "three model labels L,M,H");
        p = e ? e + 1 : p;
    }
    return HG_EXIT_OK;
}

static hg_status write_markdown(const sites_cli *c, const results *r, const double *clo,
                                const int *lmh)
{
    FILE *f = fopen(c->out, "w");
    if (!f)
        return hg_error(HG_ERR_IO, "sites: cannot write '%s'", c->out);
    fprintf(f, "| model | training |");
    for (int k = 0; k < r->nsites; k++)
        fprintf(f, " Dice at %c%s |", c->test_sites[k], k == r->nsites - 1 ? " (unseen)" : "");
    fprintf(f, "\n|---|---|");
    for (int k = 0; k < r->nsites; k++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (int m = 0; m < r->nmodels; m++) {
        fprintf(f, "| %s | %s |", c->label[m], r->info[m]);
        for (int k = 0; k < r->nsites; k++) {
            const hg_group_summary *g = &r->g[m].group[k];
            fprintf(f, " %.3f [%.3f, %.3f] |", g->mean, g->lo, g->hi);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nMean foreground Dice over %lld test images per site (95%% percentile bootstrap "
               "CI, %lld replicates).\n", (long long)r->count, (long long)c->reps);
    if (clo)
        fprintf(f, "\nGap closed at %c: (%s - %s) / (%s - %s) = %.2f [%.2f, %.2f] (paired "
                   "bootstrap over the test images).\n", c->test_sites[r->nsites - 1],
                c->label[lmh[1]], c->label[lmh[0]], c->label[lmh[2]], c->label[lmh[0]], clo[0],
                clo[1], clo[2]);
    fclose(f);
    return HG_OK;
}

static hg_status write_json(const sites_cli *c, const results *r, const double *clo,
                            const int *lmh)
{
    cJSON *o = cJSON_CreateObject(), *ms = cJSON_AddArrayToObject(o, "models");
    cJSON_AddNumberToObject(o, "count", (double)r->count);
    cJSON_AddNumberToObject(o, "bootstrap", (double)c->reps);
    cJSON_AddStringToObject(o, "sites", c->test_sites);
    for (int m = 0; m < r->nmodels; m++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "label", c->label[m]);
        cJSON_AddStringToObject(e, "training", r->info[m]);
        cJSON *d = cJSON_AddObjectToObject(e, "dice");
        for (int k = 0; k < r->nsites; k++) {
            const hg_group_summary *g = &r->g[m].group[k];
            char key[2] = {c->test_sites[k], 0};
            cJSON *gs = cJSON_AddObjectToObject(d, key);
            cJSON_AddNumberToObject(gs, "mean", g->mean);
            cJSON_AddNumberToObject(gs, "ci_lo", isfinite(g->lo) ? g->lo : g->mean);
            cJSON_AddNumberToObject(gs, "ci_hi", isfinite(g->hi) ? g->hi : g->mean);
        }
        cJSON_AddItemToArray(ms, e);
    }
    if (clo) {
        cJSON *e = cJSON_AddObjectToObject(o, "closure");
        cJSON_AddStringToObject(e, "low", c->label[lmh[0]]);
        cJSON_AddStringToObject(e, "mid", c->label[lmh[1]]);
        cJSON_AddStringToObject(e, "high", c->label[lmh[2]]);
        cJSON_AddNumberToObject(e, "value", isfinite(clo[0]) ? clo[0] : 0);
        cJSON_AddNumberToObject(e, "ci_lo", isfinite(clo[1]) ? clo[1] : 0);
        cJSON_AddNumberToObject(e, "ci_hi", isfinite(clo[2]) ? clo[2] : 0);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    FILE *f = text ? fopen(c->json_out, "w") : NULL;
    if (f) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
    cJSON_free(text);
    return f ? HG_OK : hg_error(HG_ERR_IO, "sites: cannot write '%s'", c->json_out);
}

/* Test image 0 at every site (each min..max windowed) and its label map, side by side. */
static hg_status examples(const sites_cli *c, const hg_site *const *sites, int n)
{
    hg_shapes_opts o = anatomy(c);
    hg_tensor *x[MAX_SITES + 1] = {0}, *y = NULL, *plane[MAX_SITES + 1];
    hg_status s = HG_OK;
    for (int k = 0; k < n && !s; k++) {
        hg_tensor *yk = NULL;
        s = hg_sites_render(&o, TEST_SEED, sites[k], TEST_SITE_SEED + (uint64_t)k, 0, 1, &x[k],
                            &yk);
        if (!s) {
            float lo = x[k]->data[0], hi = lo; /* to [0, 1] for one shared window */
            for (int64_t i = 0; i < x[k]->numel; i++)
                lo = fminf(lo, x[k]->data[i]), hi = fmaxf(hi, x[k]->data[i]);
            for (int64_t i = 0; i < x[k]->numel; i++)
                x[k]->data[i] = (x[k]->data[i] - lo) / (hi - lo);
            x[k]->ndim = 2, x[k]->shape[0] = x[k]->shape[1] = c->size;
            plane[k] = x[k];
        }
        if (y)
            hg_tensor_free(yk);
        else
            y = yk;
    }
    if (!s) {
        for (int64_t i = 0; i < y->numel; i++)
            y->data[i] /= (float)(c->classes - 1);
        y->ndim = 2, y->shape[0] = y->shape[1] = c->size;
        plane[n] = y;
        hg_tensor *mont = hg_montage((const hg_tensor *const *)plane, n + 1, 4, 1.0f);
        hg_window w = {0.5f, 1.0f};
        s = mont ? hg_png_write_image(c->examples, mont, &w, NULL, 0) : hg_error_status();
        hg_tensor_free(mont);
    }
    for (int k = 0; k < n; k++)
        hg_tensor_free(x[k]);
    hg_tensor_free(y);
    return s;
}

static int eval(sites_cli *c)
{
    const hg_site *sites[MAX_SITES];
    int n, lmh[3];
    if (!c->out || c->nmodels < 1)
        return hg_cli_usage_error("sites", "eval needs --model LABEL=PATH and -o results.md");
    if (parse_sites("sites", c->test_sites, sites, &n) ||
        (c->closure && parse_closure(c, lmh)))
        return HG_EXIT_USAGE;
    results r = {.nmodels = c->nmodels, .nsites = n, .count = c->count};
    r.dice = calloc((size_t)(c->nmodels * n * c->count), sizeof *r.dice);
    hg_status s = r.dice ? evaluate(c, sites, &r) : hg_error(HG_ERR_NOMEM, "out of memory");
    double clo[3];
    if (!s && c->closure)
        closure(&r, n - 1, lmh, c->reps, (uint64_t)c->seed, clo);
    if (!s)
        s = write_markdown(c, &r, c->closure ? clo : NULL, lmh);
    if (!s && c->json_out)
        s = write_json(c, &r, c->closure ? clo : NULL, lmh);
    if (!s && c->examples)
        s = examples(c, sites, n);
    if (!s) {
        for (int m = 0; m < r.nmodels; m++) {
            printf("%-10s", c->label[m]);
            for (int k = 0; k < n; k++)
                printf("  %c %.3f", c->test_sites[k], r.g[m].group[k].mean);
            printf("\n");
        }
        if (c->closure)
            printf("gap closed at %c: %.2f [%.2f, %.2f]\n", c->test_sites[n - 1], clo[0],
                   clo[1], clo[2]);
    }
    for (int m = 0; m < r.nmodels; m++)
        hg_grouped_free(&r.g[m]);
    free(r.dice);
    return s ? hg_cli_fail("sites") : HG_EXIT_OK;
}

static int run_sites(int argc, char **argv)
{
    sites_cli c = {.size = 64, .classes = 4, .objects = 6, .dr = dr_default, .steps = 400,
                   .batch = 8, .train_samples = 200, .val_samples = 20, .lr = 2e-3,
                   .test_sites = "ABC", .count = 50, .reps = 2000};
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'}, {"output", required_argument, 0, 'o'},
        {"randomize", no_argument, 0, 'R'}, {"json", no_argument, 0, 'j'},
        {"size", required_argument, 0, 1}, {"classes", required_argument, 0, 1},
        {"objects", required_argument, 0, 1}, {"seed", required_argument, 0, 1},
        {"threads", required_argument, 0, 1}, {"train", required_argument, 0, 1},
        {"dr", required_argument, 0, 1}, {"steps", required_argument, 0, 1},
        {"batch", required_argument, 0, 1}, {"lr", required_argument, 0, 1},
        {"train-samples", required_argument, 0, 1}, {"val-samples", required_argument, 0, 1},
        {"eval-every", required_argument, 0, 1}, {"model", required_argument, 0, 1},
        {"sites", required_argument, 0, 1}, {"count", required_argument, 0, 1},
        {"bootstrap", required_argument, 0, 1}, {"closure", required_argument, 0, 1},
        {"examples", required_argument, 0, 1}, {"json-out", required_argument, 0, 1},
        {0, 0, 0, 0}};
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return HG_EXIT_OK;
    }
    if (argc < 2 || (strcmp(argv[1], "train") && strcmp(argv[1], "eval")))
        return hg_cli_usage_error("sites", "expected 'train' or 'eval'");
    bool is_train = strcmp(argv[1], "train") == 0;
    optind = 2;
    int opt, idx, rc = HG_EXIT_OK;
    while (rc == HG_EXIT_OK && (opt = getopt_long(argc, argv, "ho:", longopts, &idx)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); goto out;
        case 'o': c.out = optarg; break;
        case 'R': c.randomize = true; break;
        case 'j': c.json = true; break;
        case 1: rc = set_option(&c, longopts[idx].name, optarg); break;
        default: rc = hg_cli_usage_error("sites", "invalid option");
        }
    }
    if (rc == HG_EXIT_OK && optind != argc)
        rc = hg_cli_usage_error("sites", "unexpected argument '%s'", argv[optind]);
    if (rc == HG_EXIT_OK) {
        hg_set_threads((int)c.threads);
        rc = is_train ? train(&c) : eval(&c);
    }
out:
    for (int m = 0; m < c.nmodels; m++)
        free(c.label[m]);
    return rc;
}

const hg_cli_command hg_cmd_sites = {"sites", "the multi-site domain-randomization experiment",
                                     run_sites};
