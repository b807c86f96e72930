/* Grouped evaluation tables for `hinge eval --by KEY` (e.g. the site of each image, from its
 * JSON sidecar): the mean of each metric per group with a bootstrap CI, and the gap between
 * the best and the worst group with a stratified bootstrap CI. */
#include "cli_eval_groups.h"

#include "hinge/seg_metrics.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* JSON has no NaN/inf: an undefined mean or CI is null */
static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

int hg_cli_eval_groups(const char *key, const char *const *group, int n, int nmetrics,
                       const char *const *names, const double *const *metrics, int32_t reps,
                       uint64_t seed, cJSON *json)
{
    const char **gname = calloc((size_t)n, sizeof *gname);
    int32_t *gid = calloc((size_t)n, sizeof *gid);
    int ng = 0, rc = HG_EXIT_OK;
    if (!gname || !gid) {
        free(gname);
        free(gid);
        fprintf(stderr, "hinge eval: out of memory\n");
        return HG_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) { /* groups in order of first appearance */
        int g = 0;
        while (g < ng && strcmp(gname[g], group[i]))
            g++;
        if (g == ng)
            gname[ng++] = group[i];
        gid[i] = g;
    }
    cJSON *jg = json ? cJSON_AddObjectToObject(json, "groups") : NULL;
    if (jg) {
        cJSON_AddStringToObject(jg, "by", key);
        cJSON_AddNumberToObject(jg, "bootstrap_replicates", reps);
        cJSON_AddStringToObject(jg, "ci", "95% percentile bootstrap");
    } else {
        printf("\nby %s (mean [95%% bootstrap CI], n):\n", key);
    }
    for (int m = 0; m < nmetrics && rc == HG_EXIT_OK; m++) {
        hg_grouped gr;
        if (hg_grouped_metric(metrics[m], gid, n, ng, reps, 0.95, hg_rng_new(seed), &gr)) {
            rc = hg_cli_fail("eval");
            break;
        }
        cJSON *jm = jg ? cJSON_AddObjectToObject(jg, names[m]) : NULL;
        if (!jm)
            printf("%s\n", names[m]);
        for (int g = 0; g < ng; g++) {
            const hg_group_summary *s = &gr.group[g];
            if (jm) {
                cJSON *e = cJSON_AddObjectToObject(jm, gname[g]);
                cJSON_AddItemToObject(e, "mean", num_or_null(s->mean));
                cJSON_AddItemToObject(e, "ci_lo", num_or_null(s->lo));
                cJSON_AddItemToObject(e, "ci_hi", num_or_null(s->hi));
                cJSON_AddNumberToObject(e, "n", (double)s->count);
                cJSON_AddNumberToObject(e, "skipped", (double)s->skipped);
            } else {
                printf("  %-16s %10.4f [%10.4f, %10.4f]  n=%lld%s\n", gname[g], s->mean, s->lo,
                       s->hi, (long long)s->count, s->skipped ? " (non-finite skipped)" : "");
            }
        }
        if (jm) {
            cJSON *e = cJSON_AddObjectToObject(jm, "gap");
            cJSON_AddItemToObject(e, "value", num_or_null(gr.gap));
            cJSON_AddItemToObject(e, "ci_lo", num_or_null(gr.gap_lo));
            cJSON_AddItemToObject(e, "ci_hi", num_or_null(gr.gap_hi));
            cJSON_AddStringToObject(e, "worst", gname[gr.worst]);
            cJSON_AddStringToObject(e, "best", gname[gr.best]);
        } else {
            printf("  %-16s %10.4f [%10.4f, %10.4f]  (%s lowest, %s highest)\n", "gap", gr.gap,
                   gr.gap_lo, gr.gap_hi, gname[gr.worst], gname[gr.best]);
        }
        hg_grouped_free(&gr);
    }
    free(gname);
    free(gid);
    return rc;
}
