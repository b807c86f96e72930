/* The synthetic-lesion data options of the CLI (see cli_lesion.h). */
#include "cli_lesion.h"

#include "cli.h"

#include <stdio.h>
#include <string.h>

void hg_cli_lesion_init(hg_cli_lesion *l)
{
    memset(l, 0, sizeof *l);
    l->size = 128;
    l->synthetic_count = 60;
}

int hg_cli_lesion_option(hg_cli_lesion *l, const char *cmd, const char *name, const char *value)
{
    if (strcmp(name, "data") == 0) {
        l->t1 = value;
        return HG_EXIT_OK;
    }
    if (strcmp(name, "brain") == 0) {
        l->brain = value;
        return HG_EXIT_OK;
    }
    if (strcmp(name, "size") == 0) {
        if (!hg_cli_parse_int(value, 16, 1024, &l->size))
            return hg_cli_usage_error(cmd, "--size: expected an integer in [16, 1024], got '%s'",
                                      value);
        return HG_EXIT_OK;
    }
    if (strcmp(name, "lesion") == 0) {
        size_t at = strlen(l->keys);
        if (!strchr(value, '=') || at + strlen(value) + 2 > sizeof l->keys)
            return hg_cli_usage_error(cmd, "--lesion: expected KEY=VALUE, got '%s'", value);
        snprintf(l->keys + at, sizeof l->keys - at, "%s%s", at ? ";" : "", value);
        return HG_EXIT_OK;
    }
    return -1;
}

static int apply_keys(hg_cli_lesion *l, const char *cmd)
{
    l->opts = hg_lesion_opts_default(l->size);
    char buf[sizeof l->keys];
    snprintf(buf, sizeof buf, "%s", l->keys);
    struct {
        const char *key;
        float *dst;
    } table[] = {{"p", &l->opts.p_lesion},         {"radius_min", &l->opts.radius_min},
                 {"radius_max", &l->opts.radius_max}, {"contrast_min", &l->opts.contrast_min},
                 {"contrast_max", &l->opts.contrast_max}, {"edge", &l->opts.edge},
                 {"noise", &l->opts.noise}};
    for (char *save = NULL, *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        *eq = 0;
        double v;
        int k = 0, n = (int)(sizeof table / sizeof *table);
        while (k < n && strcmp(table[k].key, kv) != 0)
            k++;
        if (k == n)
            return hg_cli_usage_error(cmd, "--lesion: unknown key '%s' (known: p, radius_min, "
                                      "radius_max, contrast_min, contrast_max, edge, noise)", kv);
        if (!hg_cli_parse_float(eq + 1, &v))
            return hg_cli_usage_error(cmd, "--lesion %s: expected a number, got '%s'", kv, eq + 1);
        *table[k].dst = (float)v;
    }
    return HG_EXIT_OK;
}

int hg_cli_lesion_prepare(hg_cli_lesion *l, const char *cmd, hg_lesion_source *src)
{
    int rc = apply_keys(l, cmd);
    if (rc != HG_EXIT_OK)
        return rc;
    hg_status s = l->t1 && strcmp(l->t1, "synthetic") == 0
                      ? hg_lesion_source_synthetic(l->synthetic_count, l->size, 0, src)
                      : hg_lesion_source_nifti(l->t1 ? l->t1 : HG_LESION_T1,
                                               l->brain ? l->brain : HG_LESION_BRAIN, l->size,
                                               src);
    if (s != HG_OK) {
        if (!l->t1)
            hg_error_context(s, "the default background is Colin27 from the mricron-data "
                             "package (or give --data synthetic)");
        return hg_cli_fail(cmd);
    }
    return HG_EXIT_OK;
}

void hg_cli_lesion_describe(const hg_cli_lesion *l, hg_metadata *meta)
{
    char buf[64];
    hg_metadata_set(meta, "lesion.data", l->t1 ? l->t1 : HG_LESION_T1);
    snprintf(buf, sizeof buf, "%lld", (long long)l->size);
    hg_metadata_set(meta, "lesion.size", buf);
    const hg_lesion_opts *o = &l->opts;
    snprintf(buf, sizeof buf, "p=%g radius=%g..%g contrast=%g..%g edge=%g noise=%g",
             o->p_lesion, o->radius_min, o->radius_max, o->contrast_min, o->contrast_max,
             o->edge, o->noise);
    hg_metadata_set(meta, "lesion.options", buf);
}
