/* CLI options of the synthetic-lesion data (shared by `hinge lesions` and
 * `hinge train <arch> --task lesion`). */
#ifndef HINGE_CLI_LESION_H
#define HINGE_CLI_LESION_H

#include "hinge/lesion.h"

typedef struct hg_cli_lesion {
    const char *t1, *brain; /* NULL: Colin27 from mricron-data; t1 "synthetic": synthetic */
    int64_t size;           /* image side (default 128) */
    int64_t synthetic_count;
    hg_lesion_opts opts;    /* filled from the defaults of `size` and the --lesion options */
    char keys[512];         /* the --lesion KEY=VALUE options, applied after size is known */
} hg_cli_lesion;

#define HG_CLI_LESION_HELP                                                                    \
    "  --data T1|synthetic   background T1 volume (default: Colin27,\n"                      \
    "                        " HG_LESION_T1 ")\n"                                              \
    "  --brain PATH          its skull-stripped version (default\n"                           \
    "                        " HG_LESION_BRAIN ")\n"                                           \
    "  --size N              image side in pixels (default 128)\n"                             \
    "  --lesion KEY=VALUE    lesion option (repeatable): p (0.5), radius_min (size/40),\n"     \
    "                        radius_max (size/10), contrast_min (0.15), contrast_max (0.6),\n" \
    "                        edge (1), noise (0.02)\n"

void hg_cli_lesion_init(hg_cli_lesion *l);
/* Handles data, brain, size and lesion; returns -1 when `name` is none of them, else an
 * exit code (usage errors printed for cmd). */
int hg_cli_lesion_option(hg_cli_lesion *l, const char *cmd, const char *name, const char *value);
/* Applies the --lesion keys to the defaults of the size and loads the source. */
int hg_cli_lesion_prepare(hg_cli_lesion *l, const char *cmd, hg_lesion_source *src);
/* The options and the source as "lesion.*" metadata (written into model files). */
void hg_cli_lesion_describe(const hg_cli_lesion *l, hg_metadata *meta);

#endif
