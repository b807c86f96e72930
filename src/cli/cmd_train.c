/* hinge train: train a model from the command line or a JSON config. */
#include "cli.h"
#include "cli_lesion.h"

#include "hinge/dist.h"
#include "hinge/learned.h"
#include "hinge/seg_plan.h"
#include "hinge/mri_learned.h"
#include "hinge/train.h"

#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FMNIST "/usr/share/datasets/fashion-mnist"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hinge train <arch> [options]\n\n"
            "Trains a model. Classification architectures (cnn, resnet18) train on an IDX\n"
            "data set (Fashion-MNIST by default) and report test accuracy. Reconstruction\n"
            "architectures (lpd, lgd, fbpconvnet) train on fresh random-ellipse phantoms\n"
            "simulated every step in the model's CT geometry (--set size=128 --set angles=30\n"
            "--set detectors=183; fan beam: --set geometry=fan-flat|fan-arc, sod, sdd, range)\n"
            "with 5%% Gaussian noise, MSE loss, and report the mean\n"
            "validation PSNR on held-out phantoms (batch 5 by default). With --task lesion,\n"
            "a classifier (resnet18, cnn) learns lesion present/absent and a unet learns\n"
            "to segment the lesion, on fresh synthetic lesions in brain slices every step\n"
            "(see hinge lesions); validation: ROC AUC or lesion Dice on held-out slices.\n"
            "Segmentation (unet with --data DIR --plan FILE) trains on a NIfTI data set as\n"
            "`hinge plan` planned it (patches, augmentation, Dice + CE, poly schedule,\n"
            "validation Dice every --eval-every steps (default 50); -o gets the best model,\n"
            "-o's .last the last). MRI architectures\n"
            "(modl, varnet) train on axial slices of the Colin27 T1 volume (--data FILE,\n"
            "default %s; training slices z 30-95 and 125-150) resampled to the model's\n"
            "size, with the model's coils (simulated loops), a fresh mask of its kind every\n"
            "sample (--set size=128 --set coils=8 --set mask=random --set acceleration=4\n"
            "--set center_fraction=0.08), Gaussian noise (--noise, default 0.01 of the peak\n"
            "k-space magnitude), MSE on the magnitude, and report the mean PSNR on the 10\n"
            "held-out test slices (z 100-118, even; batch 1 by default).\n\n"
            "options:\n"
            "  --data DIR            IDX data set folder (default %s)\n"
            "  --epochs E            passes over the training set (default 1)\n"
            "  --steps N             optimizer steps (overrides --epochs)\n"
            "  --batch B             batch size (default 64)\n"
            "  --lr X                learning rate (default 1e-3)\n"
            "  --optimizer NAME      adam | adamw | sgd (default adam)\n"
            "  --weight-decay X      L2 (adam, sgd) or decoupled (adamw) decay\n"
            "  --schedule NAME       constant | cosine | step | poly (default cosine)\n"
            "  --warmup N            linear warm-up steps\n"
            "  --clip X              clip the global gradient norm at X\n"
            "  --beta2 X             Adam's beta2 (default 0.999; LPD paper 0.99)\n"
            "  --set KEY=VALUE       model config (repeatable), e.g. --set features=32,64\n"
            "  --config FILE         JSON: {\"model\": {key: value}, option: value, ...}\n"
            "  --checkpoint PATH     checkpoint file (written atomically)\n"
            "  --checkpoint-every N  also checkpoint every N steps\n"
            "  --resume              continue from --checkpoint exactly\n"
            "  --eval-every N        evaluate every N steps (default: every epoch)\n"
            "  --train-limit N       use only the first N training samples\n"
            "  --val-limit N         use only the first N test samples\n"
            "  --val-count N         reconstruction: held-out phantoms; lesion: held-out\n"
            "                        samples (default 100)\n"
            "  --noise X             reconstruction: relative Gaussian noise (default 0.05;\n"
            "                        MRI 0.01)\n"
            "  --phantom NAME        reconstruction: ellipses (default) or chest (random\n"
            "                        anatomy-like chest slices, exact line integrals)\n"
            "  --photons N           reconstruction: pre-log Poisson noise with N photons per\n"
            "                        detector pixel instead of Gaussian (LoDoPaB-CT: 4096)\n"
            "  --plan FILE           segmentation: the plan of `hinge plan` (with --data DIR)\n"
            "  --val-fraction F      segmentation: validation cases when dataset.json lists none\n"
            "                        (every 1/F-th case; default 0.2)\n"
            "  --mirror P            segmentation: flip probability per axis (default 0.5; 0\n"
            "                        when the labels depend on side or direction)\n"
            "  --fg-sampling MODE    segmentation: the patches centred on foreground (a third\n"
            "                        of each batch, at least one) pick a class uniformly among\n"
            "                        those in the case, then one of its voxels (classes,\n"
            "                        default, nnU-Net), or any foreground voxel (any)\n"
            "  -o, --output PATH     write the trained model (safetensors)\n"
            "  --seed S              random seed (default 0)\n"
            "  --threads N           threads (default: all cores)\n"
            "  --json                print the result as JSON on stdout\n"
            "  --check-every K       under mpirun: compare weight hashes every K steps (50)\n"
            "  --bucket-mb M         under mpirun: gradient allreduce bucket size (4)\n"
            "  --sync-bn             under mpirun: batch norm with global-batch statistics\n"
            "  --no-overlap          under mpirun: reduce gradients after backward instead of\n"
            "                        during it (same result; for timing comparisons)\n\n"
            "Under mpirun -np N, each rank trains on 1/N of every global batch (--batch is the\n"
            "global batch and must be divisible by N); gradients are averaged, rank 0 writes\n"
            "checkpoints and the output, and --resume works with any rank count.\n"
            "  --quiet               no progress output\n\n"
            "lesion task (--data then names the background T1 volume):\n"
            "  --task lesion         train on fresh synthetic lesions (see hinge lesions)\n"
            HG_CLI_LESION_HELP,
            HG_COLIN27_PATH, DEFAULT_FMNIST);
}

typedef struct {
    hg_train_opts train;
    hg_metadata model_config;
    const char *data_dir, *output, *config_file, *task;
    hg_cli_lesion lesion;
    const char *plan_file;
    double val_fraction, mirror;
    hg_fg_sampling fg_sampling;
    bool schedule_given;
    /* segmentation: the best validation model is written as it appears */
    hg_model *best_model;
    hg_metadata *best_extra;
    double best_metric;
    int64_t best_step;
    hg_status best_status;
    int64_t batch, epochs, train_limit, val_limit, check_every, bucket_mb, val_count;
    double noise, photons;
    hg_recon_phantom phantom;
    bool noise_given, data_given;
    const char *metric_name; /* printed with validation results */
    double t_last, step_time; /* training time of steps without evaluation, after the first */
    int64_t timed_steps;
    bool json, quiet, steps_given, batch_given, sync_bn, no_overlap;
    int threads;
    hg_progress progress;
    char extra[160];
    char *owned[16]; /* strings copied from a config file */
    int n_owned;
} train_cli;

static const char *keep(train_cli *c, const char *value)
{
    char *copy = strdup(value);
    if (copy && c->n_owned < 16)
        c->owned[c->n_owned++] = copy;
    return copy;
}

static int set_option(train_cli *c, const char *name, const char *value);

static int parse_config_file(train_cli *c, const char *path)
{
    unsigned char *buf;
    size_t size;
    if (hg_read_file(path, 1 << 20, &buf, &size) != HG_OK)
        return hg_cli_fail("train");
    cJSON *root = cJSON_ParseWithLength((const char *)buf, size);
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        fprintf(stderr, "hinge train: %s: not a JSON object\n", path);
        return HG_EXIT_FAIL;
    }
    int rc = HG_EXIT_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        char value[256];
        if (strcmp(e->string, "model") == 0 && cJSON_IsObject(e)) {
            const cJSON *kv;
            cJSON_ArrayForEach(kv, e)
            {
                if (cJSON_IsString(kv))
                    snprintf(value, sizeof value, "%s", kv->valuestring);
                else if (cJSON_IsNumber(kv))
                    snprintf(value, sizeof value, "%.17g", kv->valuedouble);
                else {
                    fprintf(stderr, "hinge train: %s: model.%s must be a string or number\n",
                            path, kv->string);
                    rc = HG_EXIT_FAIL;
                    break;
                }
                hg_metadata_set(&c->model_config, kv->string, value);
            }
            continue;
        }
        if (cJSON_IsString(e))
            snprintf(value, sizeof value, "%s", e->valuestring);
        else if (cJSON_IsNumber(e))
            snprintf(value, sizeof value, "%.17g", e->valuedouble);
        else if (cJSON_IsBool(e))
            snprintf(value, sizeof value, "%s", cJSON_IsTrue(e) ? "true" : "false");
        else {
            fprintf(stderr, "hinge train: %s: '%s' must be a string, number or boolean\n", path,
                    e->string);
            rc = HG_EXIT_FAIL;
            break;
        }
        rc = set_option(c, e->string, value);
        if (rc != HG_EXIT_OK) {
            fprintf(stderr, "hinge train: in %s\n", path);
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

static int bad_value(const char *name, const char *value, const char *want)
{
    return hg_cli_usage_error("train", "--%s: expected %s, got '%s'", name, want, value);
}

static int set_option(train_cli *c, const char *name, const char *value)
{
    int64_t i;
    double f;
    hg_train_opts *t = &c->train;
#define INT_OPT(opt, lo, hi, dst)                                                              \
    if (strcmp(name, opt) == 0) {                                                              \
        if (!hg_cli_parse_int(value, lo, hi, &i))                                              \
            return bad_value(name, value, "an integer in [" #lo ", " #hi "]");                 \
        dst = i;                                                                               \
        return HG_EXIT_OK;                                                                     \
    }
#define FLOAT_OPT(opt, dst)                                                                    \
    if (strcmp(name, opt) == 0) {                                                              \
        if (!hg_cli_parse_float(value, &f) || f < 0)                                           \
            return bad_value(name, value, "a non-negative number");                            \
        dst = f;                                                                               \
        return HG_EXIT_OK;                                                                     \
    }
    INT_OPT("epochs", 1, 100000, c->epochs)
    if (strcmp(name, "batch") == 0)
        c->batch_given = true;
    INT_OPT("batch", 1, 65536, c->batch)
    INT_OPT("val-count", 0, 1000000, c->val_count)
    if (strcmp(name, "noise") == 0)
        c->noise_given = true;
    if (strcmp(name, "data") == 0)
        c->data_given = true;
    FLOAT_OPT("noise", c->noise)
    FLOAT_OPT("photons", c->photons)
    if (strcmp(name, "phantom") == 0) {
        if (hg_recon_phantom_parse(value, &c->phantom) != HG_OK)
            return bad_value(name, value, "ellipses or chest");
        return HG_EXIT_OK;
    }
    INT_OPT("warmup", 0, 1000000000, t->schedule.warmup_steps)
    INT_OPT("checkpoint-every", 0, 1000000000, t->checkpoint_every)
    INT_OPT("eval-every", 0, 1000000000, t->eval_every)
    INT_OPT("train-limit", 1, 1000000000, c->train_limit)
    INT_OPT("val-limit", 1, 1000000000, c->val_limit)
    INT_OPT("threads", 0, 1024, c->threads)
    INT_OPT("check-every", 0, 1000000000, c->check_every)
    INT_OPT("bucket-mb", 1, 4096, c->bucket_mb)
    FLOAT_OPT("lr", t->lr)
    FLOAT_OPT("weight-decay", t->weight_decay)
    FLOAT_OPT("clip", t->clip)
    FLOAT_OPT("beta2", t->beta2)
    FLOAT_OPT("val-fraction", c->val_fraction)
    FLOAT_OPT("mirror", c->mirror)
    if (strcmp(name, "steps") == 0) {
        if (!hg_cli_parse_int(value, 1, 1000000000, &i))
            return bad_value(name, value, "a positive integer");
        t->steps = i;
        c->steps_given = true;
        return HG_EXIT_OK;
    }
    if (strcmp(name, "seed") == 0) {
        if (!hg_cli_parse_int(value, 0, INT64_MAX, &i))
            return bad_value(name, value, "a non-negative integer");
        t->seed = (uint64_t)i;
        return HG_EXIT_OK;
    }
    if (strcmp(name, "optimizer") == 0) {
        if (strcmp(value, "adam") == 0) t->optimizer = HG_OPTIM_ADAM;
        else if (strcmp(value, "adamw") == 0) t->optimizer = HG_OPTIM_ADAMW;
        else if (strcmp(value, "sgd") == 0) t->optimizer = HG_OPTIM_SGD;
        else return bad_value(name, value, "adam, adamw or sgd");
        return HG_EXIT_OK;
    }
    if (strcmp(name, "schedule") == 0) {
        c->schedule_given = true;
        if (strcmp(value, "constant") == 0) t->schedule.kind = HG_SCHED_CONSTANT;
        else if (strcmp(value, "cosine") == 0) t->schedule.kind = HG_SCHED_COSINE;
        else if (strcmp(value, "step") == 0) t->schedule.kind = HG_SCHED_STEP;
        else if (strcmp(value, "poly") == 0) t->schedule.kind = HG_SCHED_POLY;
        else return bad_value(name, value, "constant, cosine, step or poly");
        return HG_EXIT_OK;
    }
    if (strcmp(name, "data") == 0) {
        c->data_dir = keep(c, value);
        c->lesion.t1 = c->data_dir;
        return HG_EXIT_OK;
    }
    if (strcmp(name, "plan") == 0) { c->plan_file = keep(c, value); return HG_EXIT_OK; }
    if (strcmp(name, "fg-sampling") == 0) {
        if (strcmp(value, "classes") == 0) c->fg_sampling = HG_FG_CLASSES;
        else if (strcmp(value, "any") == 0) c->fg_sampling = HG_FG_ANY;
        else return bad_value(name, value, "classes or any");
        return HG_EXIT_OK;
    }
    if (strcmp(name, "task") == 0) {
        if (strcmp(value, "lesion") != 0)
            return bad_value(name, value, "lesion");
        c->task = keep(c, value);
        return HG_EXIT_OK;
    }
    if (strcmp(name, "brain") == 0 || strcmp(name, "size") == 0 || strcmp(name, "lesion") == 0) {
        if (strcmp(name, "brain") == 0)
            value = keep(c, value);
        return hg_cli_lesion_option(&c->lesion, "train", name, value);
    }
    if (strcmp(name, "checkpoint") == 0) { t->checkpoint = keep(c, value); return HG_EXIT_OK; }
    if (strcmp(name, "output") == 0) { c->output = keep(c, value); return HG_EXIT_OK; }
    if (strcmp(name, "sync-bn") == 0) {
        c->sync_bn = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
        if (!c->sync_bn && strcmp(value, "false") != 0 && strcmp(value, "0") != 0)
            return bad_value(name, value, "true or false");
        return HG_EXIT_OK;
    }
    if (strcmp(name, "resume") == 0 || strcmp(name, "json") == 0 || strcmp(name, "quiet") == 0) {
        bool on = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
        if (!on && strcmp(value, "false") != 0 && strcmp(value, "0") != 0)
            return bad_value(name, value, "true or false");
        if (name[0] == 'r') t->resume = on;
        else if (name[0] == 'j') c->json = on;
        else c->quiet = on;
        return HG_EXIT_OK;
    }
    if (strcmp(name, "set") == 0) {
        if (!hg_cli_metadata_set_kv(&c->model_config, value))
            return bad_value(name, value, "KEY=VALUE");
        return HG_EXIT_OK;
    }
    return hg_cli_usage_error("train", "unknown option '%s'", name);
#undef INT_OPT
#undef FLOAT_OPT
}

static void on_event(const hg_train_event *e, void *user)
{
    train_cli *c = user;
    /* Per-step time without the first step (warm-up) and without evaluations/checkpoints,
     * which run before the event of their step. */
    double t = hg_cli_now();
    if (c->t_last > 0 && !e->evaluated && !e->checkpointed)
        c->step_time += t - c->t_last, c->timed_steps++;
    c->t_last = t;
    if (e->evaluated)
        snprintf(c->extra, sizeof c->extra, "loss %.4f lr %.2e val %.4f", e->loss, e->lr,
                 e->metric);
    else {
        char *at = strstr(c->extra, " val ");
        char val[32] = "";
        if (at)
            snprintf(val, sizeof val, "%s", at);
        snprintf(c->extra, sizeof c->extra, "loss %.4f lr %.2e%s", e->loss, e->lr, val);
    }
    if (e->evaluated && !c->progress.tty && !c->quiet)
        fprintf(stderr, "step %lld/%lld: validation %s %.4f\n", (long long)e->step,
                (long long)e->total, c->metric_name ? c->metric_name : "accuracy", e->metric);
    hg_progress_update(&c->progress, e->step, c->extra);
    if (c->best_model && e->evaluated && c->output && c->best_status == HG_OK &&
        (c->best_step == 0 || e->metric > c->best_metric)) {
        char v[64];
        c->best_metric = e->metric, c->best_step = e->step;
        snprintf(v, sizeof v, "%lld", (long long)e->step);
        hg_metadata_set(c->best_extra, "train.best_step", v);
        snprintf(v, sizeof v, "%.6f", e->metric);
        hg_metadata_set(c->best_extra, "train.val_dice", v);
        c->best_status = hg_model_save(c->best_model, c->output, c->best_extra);
    }
}

static void limit_set(hg_labelled_images *d, int64_t limit)
{
    if (limit <= 0 || limit >= d->images->shape[0])
        return;
    int64_t per = d->images->numel / d->images->shape[0];
    d->images->shape[0] = limit;
    d->images->numel = limit * per;
    d->labels->shape[0] = limit;
    d->labels->numel = limit;
}

static bool is_recon_arch(const char *arch)
{
    return strcmp(arch, "lpd") == 0 || strcmp(arch, "lgd") == 0 ||
           strcmp(arch, "fbpconvnet") == 0;
}

static void free_cli(train_cli *c)
{
    hg_metadata_free(&c->model_config);
    for (int i = 0; i < c->n_owned; i++)
        free(c->owned[i]);
}

static double step_seconds(const train_cli *c, const hg_train_result *r)
{
    if (c->timed_steps > 0)
        return c->step_time / (double)c->timed_steps;
    return r->seconds / (double)(r->steps_done ? r->steps_done : 1);
}

/* With -o, writes the model and its training record: steps, the validation metric under
 * metric_key, seconds per step, and the entries of more (may be NULL). */
static hg_status save_output(train_cli *c, hg_model *m, const hg_train_result *r,
                             const char *metric_key, const hg_metadata *more)
{
    if (!c->output)
        return HG_OK;
    hg_metadata extra;
    hg_metadata_init(&extra);
    char buf[64];
    snprintf(buf, sizeof buf, "%lld", (long long)r->steps_done);
    hg_metadata_set(&extra, "train.steps", buf);
    /* The metric and time of the whole run (a resumed run's checkpoint carries them from
     * before the resume); a record without them (an older checkpoint resumed at its last
     * step) leaves them out rather than writing 0 s and NaN. */
    if (isfinite(r->metric)) {
        snprintf(buf, sizeof buf, "%.6g", r->metric);
        hg_metadata_set(&extra, metric_key, buf);
    }
    if (step_seconds(c, r) > 0) {
        snprintf(buf, sizeof buf, "%.3f", step_seconds(c, r));
        hg_metadata_set(&extra, "train.seconds_per_step", buf);
    }
    for (int i = 0; more && i < more->count; i++)
        hg_metadata_set(&extra, more->keys[i], more->values[i]);
    hg_status s = hg_model_save(m, c->output, &extra);
    hg_metadata_free(&extra);
    return s;
}

/* The result of a ellipse or lesion run as one JSON line (task NULL: not printed). */
static void print_json(const train_cli *c, const char *arch, const char *task,
                       const char *metric_key, const hg_model *m, const hg_train_result *r)
{
    printf("{\"arch\": \"%s\", ", arch);
    if (task)
        printf("\"task\": \"%s\", ", task);
    printf("\"steps\": %lld, \"final_loss\": %.6g, \"%s\": %.6g, \"seconds\": %.3f, "
           "\"seconds_per_step\": %.4f, \"parameters\": %lld, \"threads\": %d, \"seed\": "
           "%llu}\n", (long long)r->steps_done, r->final_loss, metric_key, r->metric, r->seconds,
           step_seconds(c, r), (long long)hg_params_count_trainable(&m->params),
           hg_get_threads(), (unsigned long long)c->train.seed);
}

/* Reconstruction and MRI: train, save with the training summary (and `more`), report. */
static int run_recon_training(train_cli *c, const char *arch, hg_model *m, const hg_task *task,
                              const char *val_label, const hg_metadata *more)
{
    hg_progress_begin(&c->progress, "train", c->train.steps, c->quiet);
    hg_train_result r;
    hg_status s = hg_train(m, task, &c->train, &r);
    hg_progress_end(&c->progress, c->extra);
    if (s == HG_OK)
        s = save_output(c, m, &r, "train.val_psnr", more);
    if (s != HG_OK)
        return hg_cli_fail("train");
    if (c->json)
        print_json(c, arch, NULL, "val_psnr", m, &r);
    else
        printf("steps %lld  final loss %.6f  %s PSNR %.2f dB  time %.1f s\n",
               (long long)r.steps_done, r.final_loss, val_label, r.metric, r.seconds);
    return HG_EXIT_OK;
}

/* Reconstruction: the ellipse task in the model's own geometry (include/hinge/learned.h). */
static int train_recon(train_cli *c, const char *arch)
{
    int rc = HG_EXIT_OK;
    hg_recon_task t = {.batch = c->batch_given ? c->batch : 5,
                       .protocol = {.phantom = c->phantom, .rel_noise = (float)c->noise,
                                    .photons = c->photons},
                       .val_count = c->val_count, .val_seed = 0x7e57u};
    if (!c->steps_given)
        c->train.steps = 1000;
    hg_model *m = hg_model_create(arch, &c->model_config, c->train.seed);
    if (!m || hg_recon_task_init(&t, m) != HG_OK) {
        rc = hg_cli_fail("train");
        hg_model_free(m);
        free_cli(c);
        return rc;
    }
    hg_task task = hg_recon_task_make(&t);
    c->metric_name = "PSNR (dB)";
    c->train.on_event = on_event;
    c->train.user = c;
    if (!c->quiet)
        fprintf(stderr, "hinge train: %s, %lld parameters, %dx%d images, %d angles, %d "
                        "detectors, %lld steps of batch %lld, %lld validation phantoms, %d "
                        "threads\n",
                arch, (long long)hg_params_count_trainable(&m->params), t.geometry.nx,
                t.geometry.ny, t.geometry.n_angles, t.geometry.n_det, (long long)c->train.steps,
                (long long)t.batch, (long long)t.val_count, hg_get_threads());
    hg_metadata more;
    hg_metadata_init(&more);
    char buf[64];
    hg_metadata_set(&more, "train.phantom", hg_recon_phantom_name(t.protocol.phantom));
    if (t.protocol.photons > 0)
        snprintf(buf, sizeof buf, "poisson %g photons", t.protocol.photons);
    else
        snprintf(buf, sizeof buf, "gaussian %g", (double)t.protocol.rel_noise);
    hg_metadata_set(&more, "train.noise", buf);
    rc = run_recon_training(c, arch, m, &task, "validation", &more);
    hg_metadata_free(&more);
    hg_recon_task_free(&t);
    hg_model_free(m);
    free_cli(c);
    return rc;
}

/* The lesion task: a classifier (present/absent) or a U-Net (lesion mask) on fresh samples. */
static int train_lesion(train_cli *c, const char *arch)
{
    bool seg = strcmp(arch, "unet") == 0;
    if (!seg && strcmp(arch, "resnet18") != 0 && strcmp(arch, "cnn") != 0) {
        free_cli(c);
        return hg_cli_usage_error("train", "--task lesion trains resnet18, cnn or unet, not "
                                  "'%s'", arch);
    }
    hg_lesion_source src;
    int rc = hg_cli_lesion_prepare(&c->lesion, "train", &src);
    if (rc != HG_EXIT_OK) {
        free_cli(c);
        return rc;
    }
    char buf[64];
    if (!hg_metadata_get(&c->model_config, "classes"))
        hg_metadata_set(&c->model_config, "classes", "2");
    snprintf(buf, sizeof buf, "%lld", (long long)c->lesion.size);
    if (strcmp(arch, "cnn") == 0 && !hg_metadata_get(&c->model_config, "size"))
        hg_metadata_set(&c->model_config, "size", buf);
    hg_lesion_task t = {.src = &src, .opts = c->lesion.opts,
                        .data_seed = 1000 + 2 * c->train.seed, .batch = c->batch_given ? c->batch : 16,
                        .val_count = c->val_count, .segmentation = seg};
    if (!c->steps_given)
        c->train.steps = 500;
    hg_model *m = hg_model_create(arch, &c->model_config, c->train.seed);
    if (!m) {
        rc = hg_cli_fail("train");
        goto done;
    }
    hg_task task = hg_lesion_task_make(&t);
    c->metric_name = seg ? "lesion Dice" : "AUC";
    c->train.on_event = on_event;
    c->train.user = c;
    if (!c->quiet)
        fprintf(stderr, "hinge train: %s on lesions (%s), %lld parameters, %lldx%lld slices "
                        "(%lld training, %lld held out), %lld steps of batch %lld, %lld "
                        "validation samples, %d threads\n",
                arch, seg ? "segmentation" : "present/absent",
                (long long)hg_params_count_trainable(&m->params), (long long)c->lesion.size,
                (long long)c->lesion.size, (long long)src.n_train, (long long)src.n_test,
                (long long)c->train.steps, (long long)t.batch, (long long)t.val_count,
                hg_get_threads());
    hg_progress_begin(&c->progress, "train", c->train.steps, c->quiet);
    hg_train_result r;
    hg_status s = hg_train(m, &task, &c->train, &r);
    hg_progress_end(&c->progress, c->extra);
    if (s == HG_OK) {
        hg_metadata more;
        hg_metadata_init(&more);
        hg_cli_lesion_describe(&c->lesion, &more);
        s = save_output(c, m, &r, seg ? "train.val_dice" : "train.val_auc", &more);
        hg_metadata_free(&more);
    }
    if (s != HG_OK)
        rc = hg_cli_fail("train");
    else if (c->json)
        print_json(c, arch, "lesion", seg ? "val_dice" : "val_auc", m, &r);
    else
        printf("steps %lld  final loss %.4f  held-out %s %.4f  time %.1f s\n",
               (long long)r.steps_done, r.final_loss, seg ? "lesion Dice" : "AUC", r.metric,
               r.seconds);
done:
    hg_model_free(m);
    hg_lesion_source_free(&src);
    free_cli(c);
    return rc;
}

/* "<stem>.last.safetensors" for "<stem>.safetensors" (or "<path>.last"). */
static void last_path(const char *out, char *buf, size_t size)
{
    size_t n = strlen(out), k = strlen(".safetensors");
    if (n > k && strcmp(out + n - k, ".safetensors") == 0)
        snprintf(buf, size, "%.*s.last.safetensors", (int)(n - k), out);
    else
        snprintf(buf, size, "%s.last", out);
}

/* Segmentation on a NIfTI data set, following a plan (include/hinge/seg_plan.h). */
static int train_plan(train_cli *c)
{
    hg_augment_opts aug = {
        .p_flip = 0.5f, .p_scale = 0.2f, .scale_min = 0.85f, .scale_max = 1.25f,
        .p_gamma = 0.3f, .gamma_min = 0.7f, .gamma_max = 1.5f, .p_contrast = 0.15f,
        .contrast_min = 0.75f, .contrast_max = 1.25f, .p_noise = 0.1f, .noise_std = 0.1f,
        .p_bias = 0.1f, .bias_strength = 0.3f, .p_blur = 0.1f, .blur_sigma_max = 1.0f};
    if (c->mirror >= 0)
        aug.p_flip = (float)fmin(c->mirror, 1.0);
    hg_plan_task t = {.augment = &aug, .fg_sampling = c->fg_sampling};
    hg_seg_dataset ds;
    hg_metadata extra;
    hg_metadata_init(&extra);
    hg_model *m = NULL;
    int rc = HG_EXIT_OK;
    if (hg_seg_plan_read(c->plan_file, &t.plan) != HG_OK ||
        hg_seg_dataset_load(c->data_dir, &ds) != HG_OK) {
        free_cli(c);
        return hg_cli_fail("train");
    }
    hg_status s = hg_plan_task_init(&t, &ds, c->val_fraction > 0 ? c->val_fraction : 0.2);
    hg_seg_dataset_free(&ds);
    if (s == HG_OK && c->batch_given)
        t.plan.batch = (int32_t)c->batch;
    if (s == HG_OK)
        s = hg_seg_plan_model_config(&t.plan, &c->model_config);
    if (s == HG_OK && !(m = hg_model_create("unet", &c->model_config, c->train.seed)))
        s = hg_error_status();
    if (s == HG_OK)
        s = hg_seg_plan_to_metadata(&t.plan, &extra);
    if (s != HG_OK) {
        rc = hg_cli_fail("train");
        goto done;
    }
    if (c->train.eval_every == 0)
        c->train.eval_every = 50;
    if (!c->steps_given)
        c->train.steps = c->epochs * c->train.eval_every;
    if (!c->schedule_given)
        c->train.schedule.kind = HG_SCHED_POLY;
    hg_task task = hg_plan_task_make(&t);
    c->metric_name = "Dice";
    c->train.on_event = on_event;
    c->train.user = c;
    c->best_model = m, c->best_extra = &extra;
    if (!c->quiet)
        fprintf(stderr, "hinge train: unet %lld-D, %lld parameters, %d training / %d validation "
                        "cases, patch %lld x %lld x %lld, %lld steps of batch %d, %d threads\n",
                (long long)t.plan.dims, (long long)hg_params_count_trainable(&m->params),
                (int)t.n_train, (int)t.n_val, (long long)t.plan.patch[0],
                (long long)t.plan.patch[1], (long long)t.plan.patch[2],
                (long long)c->train.steps, (int)t.plan.batch, hg_get_threads());
    hg_progress_begin(&c->progress, "train", c->train.steps, c->quiet);
    hg_train_result r;
    s = hg_train(m, &task, &c->train, &r);
    hg_progress_end(&c->progress, c->extra);
    if (s == HG_OK)
        s = c->best_status;
    char buf[1200];
    if (s == HG_OK && c->output) {
        snprintf(buf, sizeof buf, "%lld", (long long)r.steps_done);
        hg_metadata_set(&extra, "train.steps", buf);
        last_path(c->output, buf, sizeof buf);
        s = hg_model_save(m, buf, &extra);
        if (s == HG_OK && c->best_step == 0) /* no validation: the last is the best */
            s = hg_model_save(m, c->output, &extra);
    }
    if (s != HG_OK)
        rc = hg_cli_fail("train");
    else if (c->json)
        printf("{\"arch\": \"unet\", \"steps\": %lld, \"final_loss\": %.6g, \"val_dice\": %.6g, "
               "\"best_val_dice\": %.6g, \"best_step\": %lld, \"seconds\": %.3f, "
               "\"seconds_per_step\": %.4f, \"parameters\": %lld, \"threads\": %d, "
               "\"seed\": %llu}\n",
               (long long)r.steps_done, r.final_loss, r.metric, c->best_metric,
               (long long)c->best_step, r.seconds, step_seconds(c, &r),
               (long long)hg_params_count_trainable(&m->params), hg_get_threads(),
               (unsigned long long)c->train.seed);
    else
        printf("steps %lld  final loss %.4f  validation Dice %.4f (best %.4f at step %lld)  "
               "time %.1f s\n", (long long)r.steps_done, r.final_loss, r.metric, c->best_metric,
               (long long)c->best_step, r.seconds);
done:
    hg_plan_task_free(&t);
    hg_model_free(m);
    hg_metadata_free(&extra);
    free_cli(c);
    return rc;
}

static bool is_mri_arch(const char *arch)
{
    return strcmp(arch, "modl") == 0 || strcmp(arch, "varnet") == 0;
}

/* MRI: Colin27 T1 slices in the model's acquisition (include/hinge/mri_learned.h). */
static int train_mri(train_cli *c, const char *arch)
{
    int rc = HG_EXIT_OK;
    if (!c->steps_given)
        c->train.steps = 1000;
    const char *volume = c->data_given ? c->data_dir : HG_COLIN27_PATH;
    hg_model *m = hg_model_create(arch, &c->model_config, c->train.seed);
    hg_mri_geometry g;
    hg_tensor *train = NULL, *test = NULL;
    hg_mri_task t = {.batch = c->batch_given ? c->batch : 1,
                     .noise = c->noise_given ? c->noise : 0.01, .val_seed = 0x7e57u};
    int64_t zs[256];
    if (m && hg_mri_model_geometry(m, &g) == HG_OK) {
        int64_t n = hg_mri_colin27_split(false, zs, 256);
        train = hg_mri_t1_slices(volume, g.size, zs, n);
        n = hg_mri_colin27_split(true, zs, 256);
        test = train ? hg_mri_t1_slices(volume, g.size, zs, n) : NULL;
    }
    t.train_images = train, t.val_images = test;
    if (!test || hg_mri_task_init(&t, m) != HG_OK) {
        rc = hg_cli_fail("train");
        hg_model_free(m);
        hg_tensor_free(train), hg_tensor_free(test);
        free_cli(c);
        return rc;
    }
    hg_task task = hg_mri_task_make(&t);
    c->metric_name = "PSNR (dB)";
    c->train.on_event = on_event;
    c->train.user = c;
    if (!c->quiet)
        fprintf(stderr, "hinge train: %s, %lld parameters, %lldx%lld, %lld coils, %s mask at "
                        "%gx (centre %g), %lld training / %lld test slices of %s, %lld steps of "
                        "batch %lld, %d threads\n",
                arch, (long long)hg_params_count_trainable(&m->params), (long long)g.size,
                (long long)g.size, (long long)g.coils,
                g.mask == HG_MASK_RANDOM ? "random" : "equispaced", g.acceleration,
                g.center_fraction, (long long)train->shape[0], (long long)test->shape[0], volume,
                (long long)c->train.steps, (long long)t.batch, hg_get_threads());
    rc = run_recon_training(c, arch, m, &task, "test-slice", NULL);
    hg_mri_task_free(&t);
    hg_tensor_free(train), hg_tensor_free(test);
    hg_model_free(m);
    free_cli(c);
    return rc;
}

static int run_train(int argc, char **argv)
{
    train_cli c;
    memset(&c, 0, sizeof c);
    hg_train_opts_defaults(&c.train);
    c.train.schedule.kind = HG_SCHED_COSINE;
    c.batch = 64;
    c.epochs = 1;
    c.threads = 0;
    c.data_dir = DEFAULT_FMNIST;
    c.val_count = 100;
    c.noise = 0.05;
    hg_cli_lesion_init(&c.lesion);
    c.mirror = -1;
    hg_metadata_init(&c.model_config);
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},       {"output", required_argument, 0, 'o'},
        {"resume", no_argument, 0, 'r'},     {"json", no_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'q'},      {"config", required_argument, 0, 'c'},
        {"data", required_argument, 0, 1},   {"epochs", required_argument, 0, 1},
        {"steps", required_argument, 0, 1},  {"batch", required_argument, 0, 1},
        {"lr", required_argument, 0, 1},     {"optimizer", required_argument, 0, 1},
        {"weight-decay", required_argument, 0, 1}, {"schedule", required_argument, 0, 1},
        {"warmup", required_argument, 0, 1}, {"clip", required_argument, 0, 1},
        {"set", required_argument, 0, 1},    {"checkpoint", required_argument, 0, 1},
        {"checkpoint-every", required_argument, 0, 1},
        {"eval-every", required_argument, 0, 1}, {"train-limit", required_argument, 0, 1},
        {"val-limit", required_argument, 0, 1},  {"seed", required_argument, 0, 1},
        {"threads", required_argument, 0, 1},    {"check-every", required_argument, 0, 1},
        {"bucket-mb", required_argument, 0, 1},  {"sync-bn", no_argument, 0, 'S'},
        {"no-overlap", no_argument, 0, 'O'},
        {"val-count", required_argument, 0, 1},  {"noise", required_argument, 0, 1},
        {"beta2", required_argument, 0, 1},  {"phantom", required_argument, 0, 1},
        {"photons", required_argument, 0, 1},
        {"task", required_argument, 0, 1},   {"brain", required_argument, 0, 1},
        {"size", required_argument, 0, 1},   {"lesion", required_argument, 0, 1},
        {"plan", required_argument, 0, 1},
        {"val-fraction", required_argument, 0, 1}, {"mirror", required_argument, 0, 1},
        {"fg-sampling", required_argument, 0, 1},
        {0, 0, 0, 0}};
    /* First pass: --config, so that command-line options override the file. */
    optind = 1;
    int opt, idx;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "ho:", longopts, &idx)) != -1)
        if (opt == 'c' && parse_config_file(&c, optarg) != HG_EXIT_OK)
            return HG_EXIT_USAGE;
    optind = 1;
    opterr = 1;
    while ((opt = getopt_long(argc, argv, "ho:", longopts, &idx)) != -1) {
        int rc = HG_EXIT_OK;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'o': c.output = optarg; break;
        case 'r': c.train.resume = true; break;
        case 'j': c.json = true; break;
        case 'q': c.quiet = true; break;
        case 'S': c.sync_bn = true; break;
        case 'O': c.no_overlap = true; break;
        case 'c': break;
        case 1: rc = set_option(&c, longopts[idx].name, optarg); break;
        default: return hg_cli_usage_error("train", "invalid option");
        }
        if (rc != HG_EXIT_OK)
            return rc;
    }
    if (optind != argc - 1)
        return hg_cli_usage_error("train", "expected one architecture name (e.g. cnn)");
    const char *arch = argv[optind];
    hg_set_threads(c.threads);
    if (hg_dist_init() != HG_OK)
        return hg_cli_fail("train");

    const hg_model_arch *a = hg_model_arch_find(arch);
    if (a && c.task)
        return train_lesion(&c, arch);
    if (a && c.plan_file && strcmp(arch, "unet") == 0)
        return train_plan(&c);
    if (a && is_recon_arch(arch))
        return train_recon(&c, arch);
    if (a && is_mri_arch(arch))
        return train_mri(&c, arch);
    if (a && strcmp(arch, "unet") == 0)
        return hg_cli_usage_error("train", "unet trains on a segmentation data set (--data DIR "
                                  "--plan FILE; make the plan with `hinge plan DIR -o FILE`) "
                                  "or on lesions (--task lesion)");
    bool resnet = strcmp(arch, "resnet18") == 0;
    if (a && strcmp(arch, "cnn") != 0 && !resnet)
        return hg_cli_usage_error("train", "architecture '%s' has no training task in this "
                                  "command yet (classification: cnn, resnet18; reconstruction: "
                                  "lpd, lgd, fbpconvnet; MRI: modl, varnet; segmentation: unet "
                                  "--plan; --task lesion: resnet18, cnn, unet)", arch);
    char ti[1024], tl[1024], vi[1024], vl[1024];
    snprintf(ti, sizeof ti, "%s/train-images-idx3-ubyte.gz", c.data_dir);
    snprintf(tl, sizeof tl, "%s/train-labels-idx1-ubyte.gz", c.data_dir);
    snprintf(vi, sizeof vi, "%s/t10k-images-idx3-ubyte.gz", c.data_dir);
    snprintf(vl, sizeof vl, "%s/t10k-labels-idx1-ubyte.gz", c.data_dir);
    hg_labelled_images train, val;
    if (hg_idx_load(ti, tl, &train) != HG_OK)
        return hg_cli_fail("train");
    if (hg_idx_load(vi, vl, &val) != HG_OK) {
        hg_labelled_images_free(&train);
        return hg_cli_fail("train");
    }
    limit_set(&train, c.train_limit);
    limit_set(&val, c.val_limit);
    char buf[64];
    if (!hg_metadata_get(&c.model_config, "classes")) {
        snprintf(buf, sizeof buf, "%d", train.classes);
        hg_metadata_set(&c.model_config, "classes", buf);
    }
    if (!resnet && !hg_metadata_get(&c.model_config, "size")) { /* resnet18: any size */
        snprintf(buf, sizeof buf, "%lld", (long long)train.images->shape[2]);
        hg_metadata_set(&c.model_config, "size", buf);
    }
    int rc = HG_EXIT_OK;
    hg_dist_trainer *dt = NULL;
    hg_train_dist dist;
    hg_model *m = hg_model_create(arch, &c.model_config, c.train.seed);
    if (!m) {
        rc = hg_cli_fail("train");
        goto done;
    }
    int64_t per_epoch = train.images->shape[0] / c.batch;
    if (!c.steps_given)
        c.train.steps = c.epochs * (per_epoch > 0 ? per_epoch : 1);
    if (c.train.eval_every == 0)
        c.train.eval_every = per_epoch;
    /* Data parallelism: identical initial weights are checked, not assumed. */
    if (hg_dist_active()) {
        if (c.batch % hg_dist_world() != 0) {
            rc = hg_cli_usage_error("train", "--batch %lld is not divisible by the %d ranks",
                                    (long long)c.batch, hg_dist_world());
            goto done;
        }
        dt = hg_dist_trainer_new(&m->params, (size_t)(c.bucket_mb ? c.bucket_mb : 4) << 20,
                                 c.check_every ? c.check_every : 50);
        if (!dt || hg_dist_check_identical(&m->params, 0) != HG_OK) {
            rc = hg_cli_fail("train");
            goto done;
        }
        hg_dist_trainer_set_overlap(dt, !c.no_overlap);
        hg_dist_train_hooks(dt, &dist);
        hg_dist_set_sync_batch_norm(c.sync_bn);
        c.train.dist = &dist;
        if (hg_dist_rank() != 0)
            c.quiet = true;
    }
    hg_classification_task ct = {&train, &val, c.batch};
    hg_task task = hg_classification_task_make(&ct);
    c.train.on_event = on_event;
    c.train.user = &c;
    if (!c.quiet && dt)
        fprintf(stderr, "hinge train: %d ranks, %lld-sample shards, %lld gradient bytes per "
                        "step in %d buckets\n", hg_dist_world(), (long long)c.batch /
                        hg_dist_world(), (long long)hg_dist_trainer_stats(dt).bytes_per_step,
                (int)hg_dist_trainer_stats(dt).buckets);
    if (!c.quiet)
        fprintf(stderr, "hinge train: %s, %lld parameters, %lld training / %lld test images, %lld "
                        "steps of batch %lld, %d threads\n",
                arch, (long long)hg_params_count_trainable(&m->params),
                (long long)train.images->shape[0], (long long)val.images->shape[0],
                (long long)c.train.steps, (long long)c.batch, hg_get_threads());
    hg_progress_begin(&c.progress, "train", c.train.steps, c.quiet);
    hg_train_result r;
    hg_status s = hg_train(m, &task, &c.train, &r);
    hg_progress_end(&c.progress, c.extra);
    if (s == HG_OK && dt)
        s = hg_dist_check_identical(&m->params, r.steps_done);
    if (s != HG_OK) {
        rc = hg_cli_fail("train");
        if (dt) /* the other ranks may be blocked in a collective */
            hg_dist_abort(rc);
        goto done;
    }
    if (dt && hg_dist_rank() != 0)
        goto done; /* rank 0 writes the output and prints the result */
    if (c.output) {
        hg_metadata extra;
        hg_metadata_init(&extra);
        snprintf(buf, sizeof buf, "%lld", (long long)r.steps_done);
        hg_metadata_set(&extra, "train.steps", buf);
        snprintf(buf, sizeof buf, "%.6f", r.metric);
        hg_metadata_set(&extra, "train.val_accuracy", buf);
        s = hg_model_save(m, c.output, &extra);
        hg_metadata_free(&extra);
        if (s != HG_OK) {
            rc = hg_cli_fail("train");
            goto done;
        }
    }
    hg_dist_stats ds = dt ? hg_dist_trainer_stats(dt) : (hg_dist_stats){0};
    if (c.json)
        printf("{\"arch\": \"%s\", \"steps\": %lld, \"final_loss\": %.6g, \"val_accuracy\": %.6g, "
               "\"seconds\": %.3f, \"threads\": %d, \"seed\": %llu, \"ranks\": %d, "
               "\"allreduce_bytes_per_step\": %lld, \"allreduce_seconds\": %.4f, "
               "\"overlap\": %s, \"overlapped_seconds\": %.4f, \"buckets_overlapped\": %lld}\n",
               arch, (long long)r.steps_done, r.final_loss, r.metric, r.seconds,
               hg_get_threads(), (unsigned long long)c.train.seed, hg_dist_world(),
               (long long)ds.bytes_per_step, ds.allreduce_seconds,
               ds.overlap ? "true" : "false", ds.overlapped_seconds,
               (long long)ds.buckets_overlapped);
    else
        printf("steps %lld  final loss %.4f  test accuracy %.4f  time %.1f s\n",
               (long long)r.steps_done, r.final_loss, r.metric, r.seconds);
done:
    hg_dist_trainer_free(dt);
    hg_model_free(m);
    hg_labelled_images_free(&train);
    hg_labelled_images_free(&val);
    hg_metadata_free(&c.model_config);
    for (int i = 0; i < c.n_owned; i++)
        free(c.owned[i]);
    return rc;
}

const hg_cli_command hg_cmd_train = {"train", "train a model (classification, CT/MRI reconstruction, segmentation)",
                                     run_train};
