/* hinge plan: data-set fingerprint -> training plan (self-configuration). */
#include "cli.h"

#include "hinge/seg_plan.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hinge plan <dataset_dir> [options] -o plan.json\n\n"
            "Reads a segmentation data set (imagesTr/, labelsTr/, optional dataset.json; see\n"
            "docs/segment.md), checks every case, computes its fingerprint (spacings, shapes,\n"
            "foreground intensity statistics, class frequencies) and writes a training plan\n"
            "(target spacing, normalization, patch size, U-Net depth and features, batch size)\n"
            "that fits the memory and CPU budget. `hinge train unet --data DIR --plan FILE`\n"
            "follows it.\n\n"
            "options:\n"
            "  -o FILE              the plan (JSON: {\"fingerprint\": ..., \"plan\": ...})\n"
            "  --memory MB          training memory budget (default 2048)\n"
            "  --threads N          cores for training (default: all)\n"
            "  --step-seconds S     target seconds per training step (default 2)\n"
            "  --gflops G           assumed training GFLOP/s per core (default 8)\n"
            "  --dims 2|3           force a 2-D or 3-D U-Net (default: 3 for volumes)\n"
            "  --features N         base features (default 32, halved to fit)\n"
            "  --max-features N     feature cap of the deepest levels (default 320)\n"
            "  --batch N            smallest batch (default 2)\n"
            "  --json               print the plan file's JSON on stdout\n");
}

static void print_summary(const hg_seg_fingerprint *fp, const hg_seg_plan *p)
{
    fprintf(stderr, "fingerprint: %d cases, %d channel(s), %d classes, %s, median spacing "
                    "%.3g x %.3g x %.3g mm, median shape %lld x %lld x %lld (D x H x W)\n",
            fp->cases, fp->channels, fp->classes, fp->modality[0] ? fp->modality : "modality ?",
            fp->median_spacing[0], fp->median_spacing[1], fp->median_spacing[2],
            (long long)fp->median_shape[0], (long long)fp->median_shape[1],
            (long long)fp->median_shape[2]);
    fprintf(stderr, "plan: %d-D U-Net, spacing %.3g x %.3g x %.3g mm, %s normalization, patch "
                    "%lld x %lld x %lld, %d levels, features %d..%d, batch %d: %.0f MB, %.1f "
                    "GFLOP (%.2f s) per step\n",
            (int)p->dims, p->target_spacing[0], p->target_spacing[1], p->target_spacing[2],
            p->normalization, (long long)p->patch[0], (long long)p->patch[1],
            (long long)p->patch[2], (int)p->levels, (int)p->features[0],
            (int)p->features[p->levels - 1], (int)p->batch, p->memory_mb, p->step_gflop,
            p->step_seconds);
}

static int run_plan(int argc, char **argv)
{
    hg_seg_plan_opts po = {0};
    const char *out = NULL;
    bool json = false;
    int64_t v;
    double d;
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},           {"output", required_argument, 0, 'o'},
        {"memory", required_argument, 0, 'm'},   {"threads", required_argument, 0, 't'},
        {"step-seconds", required_argument, 0, 's'}, {"gflops", required_argument, 0, 'g'},
        {"dims", required_argument, 0, 'd'},     {"features", required_argument, 0, 'f'},
        {"max-features", required_argument, 0, 'F'}, {"batch", required_argument, 0, 'b'},
        {"json", no_argument, 0, 'j'},           {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'o': out = optarg; break;
        case 'j': json = true; break;
        case 'm': ok = hg_cli_parse_float(optarg, &d) && d > 0; po.memory_mb = d; break;
        case 's': ok = hg_cli_parse_float(optarg, &d) && d > 0; po.step_seconds = d; break;
        case 'g': ok = hg_cli_parse_float(optarg, &d) && d > 0; po.gflops_per_thread = d; break;
        case 't': ok = hg_cli_parse_int(optarg, 1, 4096, &v); po.threads = (int32_t)v; break;
        case 'd': ok = hg_cli_parse_int(optarg, 2, 3, &v); po.dims = (int32_t)v; break;
        case 'f': ok = hg_cli_parse_int(optarg, 1, 1024, &v); po.base_features = (int32_t)v; break;
        case 'F': ok = hg_cli_parse_int(optarg, 1, 4096, &v); po.max_features = (int32_t)v; break;
        case 'b': ok = hg_cli_parse_int(optarg, 1, 1024, &v); po.min_batch = (int32_t)v; break;
        default: return hg_cli_usage_error("plan", "invalid option");
        }
        if (!ok)
            return hg_cli_usage_error("plan", "invalid value '%s'", optarg);
    }
    if (optind != argc - 1)
        return hg_cli_usage_error("plan", "expected one data set folder");
    if (!out)
        return hg_cli_usage_error("plan", "missing -o plan.json");
    hg_seg_dataset ds;
    if (hg_seg_dataset_load(argv[optind], &ds) != HG_OK)
        return hg_cli_fail("plan");
    hg_seg_fingerprint fp;
    hg_seg_plan p;
    hg_status s = hg_seg_fingerprint_compute(&ds, &fp);
    if (s == HG_OK)
        s = hg_seg_plan_make(&fp, &po, &p);
    if (s == HG_OK)
        s = hg_seg_plan_write(out, &fp, &p);
    hg_seg_dataset_free(&ds);
    if (s != HG_OK)
        return hg_cli_fail("plan");
    print_summary(&fp, &p);
    if (json) {
        unsigned char *text;
        size_t n;
        if (hg_read_file(out, 1 << 24, &text, &n) != HG_OK)
            return hg_cli_fail("plan");
        fwrite(text, 1, n, stdout);
        free(text);
    }
    return HG_EXIT_OK;
}

const hg_cli_command hg_cmd_plan = {"plan", "data-set fingerprint -> segmentation training plan",
                                    run_plan};
