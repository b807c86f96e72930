/* Distributed inference over a list of studies with dynamic load balancing (hinge/dist.h).
 *
 * Protocol (several ranks): a worker sends rank 0 a report {index of the study it just
 * finished (-1 at first), outcome, message} and receives the index of its next study, or -1
 * to stop. Rank 0 only dispatches, so a slow study never holds up the hand-out. Outputs are
 * written atomically by the callback, hence "the output exists" means "finished": a restart
 * skips them. */
#include "dist_internal.h"

#include "hinge/io.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HINGE_HAVE_MPI
#include <mpi.h>
#endif

enum { TAG_REPORT = 7101, TAG_WORK = 7102 };

typedef struct study_report {
    int64_t index;
    int32_t outcome;
    char message[500];
} study_report;

void hg_study_list_free(char **inputs, int64_t count)
{
    if (!inputs)
        return;
    for (int64_t i = 0; i < count; i++)
        free(inputs[i]);
    free(inputs);
}

hg_status hg_study_list_read(const char *list_path, char ***inputs, int64_t *count)
{
    unsigned char *buf;
    size_t size;
    *inputs = NULL;
    *count = 0;
    hg_status s = hg_read_file(list_path, (size_t)1 << 28, &buf, &size);
    if (s != HG_OK)
        return hg_error_context(s, "study list");
    char **list = NULL;
    int64_t n = 0, cap = 0;
    char *text = (char *)buf;
    for (size_t at = 0; at < size && s == HG_OK;) {
        size_t end = at;
        while (end < size && text[end] != '\n')
            end++;
        size_t a = at, b = end;
        while (a < b && isspace((unsigned char)text[a]))
            a++;
        while (b > a && isspace((unsigned char)text[b - 1]))
            b--;
        at = end + 1;
        if (a == b || text[a] == '#')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(list, (size_t)cap * sizeof *list);
            if (!grown) {
                s = hg_error(HG_ERR_NOMEM, "study list %s: out of memory", list_path);
                break;
            }
            list = grown;
        }
        if (!(list[n] = strndup(text + a, b - a)))
            s = hg_error(HG_ERR_NOMEM, "study list %s: out of memory", list_path);
        else
            n++;
    }
    free(buf);
    if (s == HG_OK && n == 0)
        s = hg_error(HG_ERR_INVALID, "study list %s: no studies (one input path per line)",
                     list_path);
    if (s != HG_OK) {
        hg_study_list_free(list, n);
        return s;
    }
    *inputs = list;
    *count = n;
    return HG_OK;
}

hg_status hg_study_output_path(const char *input, const char *outdir, const char *suffix,
                               char *out, size_t out_size)
{
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    size_t len = strlen(base);
    static const char *const exts[] = {".nii.gz", ".nii", ".safetensors", ".cfl", ".hdr",
                                       ".png", NULL};
    for (int i = 0; exts[i]; i++) {
        size_t e = strlen(exts[i]);
        if (len > e && strcmp(base + len - e, exts[i]) == 0) {
            len -= e;
            break;
        }
    }
    if (len == 0)
        return hg_error(HG_ERR_INVALID, "study '%s': no file name to derive an output from",
                        input);
    int w = snprintf(out, out_size, "%s/%.*s%s", outdir, (int)len, base, suffix ? suffix : "");
    if (w < 0 || (size_t)w >= out_size)
        return hg_error(HG_ERR_INVALID, "study '%s': output path longer than %zu characters",
                        input, out_size - 1);
    return HG_OK;
}

typedef struct run_state {
    char **inputs;
    int64_t count, next;
    const char *outdir, *suffix;
    hg_study_fn fn;
    hg_study_report_fn report;
    void *user;
    hg_study_summary sum;
} run_state;

static void record(run_state *r, int64_t index, hg_study_outcome outcome, const char *message,
                   int rank)
{
    if (outcome == HG_STUDY_DONE)
        r->sum.done++;
    else if (outcome == HG_STUDY_SKIPPED)
        r->sum.skipped++;
    else
        r->sum.failed++;
    if (r->report) {
        char out[4096];
        if (hg_study_output_path(r->inputs[index], r->outdir, r->suffix, out, sizeof out) != HG_OK)
            out[0] = '\0';
        r->report(r->user, index, r->inputs[index], out, outcome, message, rank);
    }
}

/* The next study to process (skipping and recording the finished ones), or -1. */
static int64_t next_study(run_state *r)
{
    char out[4096];
    while (r->next < r->count) {
        int64_t i = r->next++;
        if (hg_study_output_path(r->inputs[i], r->outdir, r->suffix, out, sizeof out) != HG_OK)
            return i; /* the worker reports the error */
        if (access(out, F_OK) == 0) {
            record(r, i, HG_STUDY_SKIPPED, "output exists", 0);
            continue;
        }
        return i;
    }
    return -1;
}

static void process(run_state *r, int64_t i, study_report *rep)
{
    char out[4096];
    rep->index = i;
    rep->outcome = HG_STUDY_DONE;
    rep->message[0] = '\0';
    hg_error_clear();
    hg_status s = hg_study_output_path(r->inputs[i], r->outdir, r->suffix, out, sizeof out);
    if (s == HG_OK)
        s = r->fn(r->user, r->inputs[i], out);
    if (s != HG_OK) {
        rep->outcome = HG_STUDY_FAILED;
        snprintf(rep->message, sizeof rep->message, "%s",
                 hg_error_message()[0] ? hg_error_message() : "failed (no message)");
    }
}

#ifdef HINGE_HAVE_MPI
static hg_status dispatch(run_state *r)
{
    int workers = hg_dist_world() - 1;
    study_report rep;
    while (workers > 0) {
        MPI_Status st;
        int rc = MPI_Recv(&rep, (int)sizeof rep, MPI_BYTE, MPI_ANY_SOURCE, TAG_REPORT,
                          MPI_COMM_WORLD, &st);
        if (rc != MPI_SUCCESS)
            return hg_dist_mpi_error(rc, "study report receive");
        if (rep.index >= 0 && rep.index < r->count)
            record(r, rep.index, (hg_study_outcome)rep.outcome, rep.message, st.MPI_SOURCE);
        int64_t next = next_study(r);
        rc = MPI_Send(&next, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_WORK, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return hg_dist_mpi_error(rc, "study hand-out");
        if (next < 0)
            workers--;
    }
    return HG_OK;
}

static hg_status work(run_state *r)
{
    study_report rep = {-1, 0, ""};
    for (;;) {
        int rc = MPI_Send(&rep, (int)sizeof rep, MPI_BYTE, 0, TAG_REPORT, MPI_COMM_WORLD);
        int64_t next = -1;
        if (rc == MPI_SUCCESS)
            rc = MPI_Recv(&next, 1, MPI_INT64_T, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return hg_dist_mpi_error(rc, "study request");
        if (next < 0)
            return HG_OK;
        process(r, next, &rep);
    }
}
#endif

hg_status hg_dist_run_studies(const char *list_path, const char *outdir, const char *suffix,
                              hg_study_fn fn, hg_study_report_fn report, void *user,
                              hg_study_summary *summary)
{
    double t0 = hg_dist_now();
    run_state r = {.outdir = outdir, .suffix = suffix, .fn = fn, .report = report, .user = user};
    hg_status s = hg_study_list_read(list_path, &r.inputs, &r.count);
    /* Every rank reads the list; all must agree it is usable before any waits on another. */
    int ok = s == HG_OK, all_ok = ok;
#ifdef HINGE_HAVE_MPI
    if (hg_dist_active())
        MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
#endif
    if (!all_ok) {
        hg_study_list_free(r.inputs, r.count);
        return ok ? hg_error(HG_ERR_IO, "study list %s: unreadable on another rank", list_path)
                  : s;
    }
    r.sum.total = r.count;
    if (!hg_dist_active()) {
        study_report rep;
        for (int64_t i; (i = next_study(&r)) >= 0;) {
            process(&r, i, &rep);
            record(&r, i, (hg_study_outcome)rep.outcome, rep.message, 0);
        }
    }
#ifdef HINGE_HAVE_MPI
    else {
        s = hg_dist_rank() == 0 ? dispatch(&r) : work(&r);
        int64_t counts[4] = {r.sum.total, r.sum.done, r.sum.skipped, r.sum.failed};
        MPI_Bcast(counts, 4, MPI_INT64_T, 0, MPI_COMM_WORLD);
        r.sum.done = counts[1];
        r.sum.skipped = counts[2];
        r.sum.failed = counts[3];
    }
#endif
    hg_study_list_free(r.inputs, r.count);
    r.sum.seconds = hg_dist_now() - t0;
    if (summary)
        *summary = r.sum;
    if (s == HG_OK && r.sum.failed > 0)
        s = hg_error(HG_ERR_IO, "%lld of %lld studies failed", (long long)r.sum.failed,
                     (long long)r.sum.total);
    return s;
}
