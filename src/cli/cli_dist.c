/* The --list mode of the inference commands (see cli_dist.h). */
#include "cli_dist.h"

#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

typedef struct list_cli {
    const char *cmd;
    int64_t total, seen;
    hg_study_fn fn; /* the command's per-study function and its user pointer */
    void *user;
} list_cli;

static hg_status run_study(void *user, const char *input, const char *output)
{
    list_cli *l = user;
    return l->fn(l->user, input, output);
}

static void on_study(void *user, int64_t index, const char *input, const char *output,
                     hg_study_outcome outcome, const char *message, int rank)
{
    list_cli *l = user;
    l->seen++;
    (void)index;
    if (outcome == HG_STUDY_FAILED)
        fprintf(stderr, "hinge %s: [%lld/%lld] FAILED %s (rank %d): %s\n", l->cmd,
                (long long)l->seen, (long long)l->total, input, rank, message);
    else
        fprintf(stderr, "hinge %s: [%lld/%lld] %s %s -> %s (rank %d)\n", l->cmd,
                (long long)l->seen, (long long)l->total,
                outcome == HG_STUDY_SKIPPED ? "skipped (exists)" : "done", input, output, rank);
}

int hg_cli_run_list(const char *cmd, const char *list, const char *outdir, const char *suffix,
                    hg_study_fn fn, void *user)
{
    if (hg_dist_init() != HG_OK)
        return hg_cli_fail(cmd);
    if (hg_dist_rank() == 0 && mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "hinge %s: cannot create output folder %s: %s\n", cmd, outdir,
                strerror(errno));
        hg_dist_abort(HG_EXIT_FAIL);
        return HG_EXIT_FAIL;
    }
    hg_dist_barrier();
    /* Only rank 0 reports; it needs the count for "[i/n]". */
    list_cli l = {cmd, 0, 0, fn, user};
    char **inputs;
    if (hg_dist_rank() == 0 && hg_study_list_read(list, &inputs, &l.total) == HG_OK)
        hg_study_list_free(inputs, l.total);
    hg_study_summary sum;
    hg_status s = hg_dist_run_studies(list, outdir, suffix, run_study, on_study, &l, &sum);
    if (hg_dist_rank() != 0)
        return s == HG_OK || sum.failed > 0 ? HG_EXIT_OK : hg_cli_fail(cmd);
    if (s != HG_OK && sum.total == 0)
        return hg_cli_fail(cmd);
    fprintf(stderr, "hinge %s: %lld studies on %d rank%s: %lld done, %lld skipped (already "
                    "done), %lld failed, %.1f s\n", cmd, (long long)sum.total, hg_dist_world(),
            hg_dist_world() > 1 ? "s" : "", (long long)sum.done, (long long)sum.skipped,
            (long long)sum.failed, sum.seconds);
    return sum.failed > 0 ? HG_EXIT_FAIL : HG_EXIT_OK;
}
