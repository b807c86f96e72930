/* hinge lesions: writes a synthetic-lesion data set (brain slices with and without an
 * inserted lesion) as NIfTI images, lesion masks and a labels CSV for `hinge classify`. */
#include "cli.h"
#include "cli_lesion.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hinge lesions -o DIR [options]\n\n"
            "Writes N samples of the synthetic-lesion data (include/hinge/lesion.h): axial\n"
            "brain slices, half of them (--lesion p=...) with an inserted ellipsoidal lesion\n"
            "of random size, contrast sign and strength, with a smooth edge. Output:\n"
            "  DIR/images/lesion_NNNN.nii.gz   the 2-D images\n"
            "  DIR/masks/lesion_NNNN.nii.gz    lesion masks (0/1)\n"
            "  DIR/labels.csv                  file,label (1 = lesion present), for\n"
            "                                  hinge classify --labels\n"
            "  DIR/lesions.csv                 every sample's slice, centre, semi-axes, angle,\n"
            "                                  contrast and area\n"
            "Samples come from the held-out slices (--split test, default) or the training\n"
            "slices, and are a pure function of (options, --seed, index).\n\n"
            "options:\n"
            "  -o DIR                output folder (created)\n"
            "  --count N             samples (default 200)\n"
            "  --split test|train    which slices (default test)\n"
            "  --seed S              data set seed (default 12345; training uses others)\n"
            HG_CLI_LESION_HELP);
}

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "hinge lesions: cannot create %s: %s\n", path, strerror(errno));
        return HG_EXIT_FAIL;
    }
    return HG_EXIT_OK;
}

static hg_status write_2d(const char *path, const float *data, int64_t size)
{
    hg_tensor *t = hg_new(NULL, size, size);
    if (!t)
        return hg_error_status();
    memcpy(t->data, data, (size_t)t->numel * sizeof(float));
    hg_image img;
    const double spacing[2] = {1.0, 1.0};
    hg_status s = hg_cli_image_centred(&img, t, spacing);
    if (s == HG_OK)
        s = hg_nifti_write(path, &img, NULL);
    hg_image_free(&img);
    return s;
}

static int write_set(const char *dir, const hg_cli_lesion *l, const hg_lesion_source *src,
                     bool test, int64_t seed, int64_t count)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/images", dir);
    int rc = mkdir_p(dir) || mkdir_p(path);
    snprintf(path, sizeof path, "%s/masks", dir);
    if (rc || mkdir_p(path))
        return HG_EXIT_FAIL;
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    FILE *labels = fopen(path, "w");
    snprintf(path, sizeof path, "%s/lesions.csv", dir);
    FILE *info = fopen(path, "w");
    int64_t size = l->size;
    hg_tensor *x = hg_new(NULL, 1, size, size), *m = hg_new(NULL, size, size);
    if (!labels || !info || !x || !m) {
        fprintf(stderr, "hinge lesions: cannot write into %s\n", dir);
        rc = HG_EXIT_FAIL;
        goto done;
    }
    fprintf(labels, "file,label\n");
    fprintf(info, "file,label,slice,flipped,cy,cx,ry,rx,angle,contrast,area\n");
    int64_t positives = 0;
    for (int64_t i = 0; i < count && rc == HG_EXIT_OK; i++) {
        hg_lesion_info li;
        char name[64];
        snprintf(name, sizeof name, "lesion_%04lld.nii.gz", (long long)i);
        hg_status s = hg_lesion_sample(&l->opts, src, test, (uint64_t)seed, i, x, m, &li);
        snprintf(path, sizeof path, "%s/images/%s", dir, name);
        if (s == HG_OK)
            s = write_2d(path, x->data, size);
        snprintf(path, sizeof path, "%s/masks/%s", dir, name);
        if (s == HG_OK)
            s = write_2d(path, m->data, size);
        if (s != HG_OK) {
            rc = hg_cli_fail("lesions");
            break;
        }
        positives += li.present;
        fprintf(labels, "images/%s,%d\n", name, li.present ? 1 : 0);
        fprintf(info, "images/%s,%d,%lld,%d,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%lld\n", name,
                li.present ? 1 : 0, (long long)li.slice, li.flipped ? 1 : 0, li.cy, li.cx,
                li.ry, li.rx, li.angle, li.contrast, (long long)li.area);
    }
    if (rc == HG_EXIT_OK)
        fprintf(stderr, "hinge lesions: %lld %s samples (%lld with a lesion) of %lldx%lld from "
                        "%lld slices in %s\n", (long long)count, test ? "held-out" : "training",
                (long long)positives, (long long)size, (long long)size,
                (long long)(test ? src->n_test : src->n_train), dir);
done:
    if (labels && fclose(labels) != 0)
        rc = HG_EXIT_FAIL;
    if (info && fclose(info) != 0)
        rc = HG_EXIT_FAIL;
    hg_tensor_free(x), hg_tensor_free(m);
    return rc;
}

static int run_lesions(int argc, char **argv)
{
    hg_cli_lesion l;
    hg_cli_lesion_init(&l);
    const char *out = NULL;
    int64_t count = 200, seed = 12345;
    bool test = true;
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'},       {"output", required_argument, 0, 'o'},
        {"count", required_argument, 0, 'n'}, {"split", required_argument, 0, 'p'},
        {"seed", required_argument, 0, 's'},  {"data", required_argument, 0, 1},
        {"brain", required_argument, 0, 1},  {"size", required_argument, 0, 1},
        {"lesion", required_argument, 0, 1}, {0, 0, 0, 0}};
    int opt, idx;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", lo, &idx)) != -1) {
        int rc = HG_EXIT_OK;
        switch (opt) {
        case 'h': usage(stdout); return HG_EXIT_OK;
        case 'o': out = optarg; break;
        case 'n':
            if (!hg_cli_parse_int(optarg, 1, 1000000, &count))
                return hg_cli_usage_error("lesions", "--count: expected 1..1000000, got '%s'",
                                          optarg);
            break;
        case 's':
            if (!hg_cli_parse_int(optarg, 0, INT64_MAX, &seed))
                return hg_cli_usage_error("lesions", "--seed: expected a non-negative integer, "
                                          "got '%s'", optarg);
            break;
        case 'p':
            if (strcmp(optarg, "test") != 0 && strcmp(optarg, "train") != 0)
                return hg_cli_usage_error("lesions", "--split: expected test or train, got "
                                          "'%s'", optarg);
            test = strcmp(optarg, "test") == 0;
            break;
        case 1: rc = hg_cli_lesion_option(&l, "lesions", lo[idx].name, optarg); break;
        default: return hg_cli_usage_error("lesions", "invalid option");
        }
        if (rc != HG_EXIT_OK)
            return rc;
    }
    if (!out)
        return hg_cli_usage_error("lesions", "missing -o DIR");
    if (optind != argc)
        return hg_cli_usage_error("lesions", "unexpected argument '%s'", argv[optind]);
    hg_lesion_source src;
    int rc = hg_cli_lesion_prepare(&l, "lesions", &src);
    if (rc != HG_EXIT_OK)
        return rc;
    rc = write_set(out, &l, &src, test, seed, count);
    hg_lesion_source_free(&src);
    return rc;
}

const hg_cli_command hg_cmd_lesions = {"lesions", "write a synthetic-lesion data set (slices, "
                                       "masks, labels)", run_lesions};
