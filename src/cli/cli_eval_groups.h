/* `hinge eval --by KEY`: per-group metric means with bootstrap CIs and the between-group gap. */
#ifndef HINGE_CLI_EVAL_GROUPS_H
#define HINGE_CLI_EVAL_GROUPS_H

#include "cli.h"

struct cJSON;

/* n cases, group[i] their group names; metrics[m][i] the value of metric m (names[m]) for case
 * i. Prints a table to stdout, or adds a "groups" object to json when it is not NULL. Returns
 * an exit code (failures printed). */
int hg_cli_eval_groups(const char *key, const char *const *group, int n, int nmetrics,
                       const char *const *names, const double *const *metrics, int32_t reps,
                       uint64_t seed, struct cJSON *json);

#endif
