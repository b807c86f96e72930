/* The hinge command-line tool: one file per command (cmd_<name>.c defines hg_cmd_<name>). */
#ifndef HINGE_CLI_H
#define HINGE_CLI_H

#include "hinge/hinge.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct hg_cli_command {
    const char *name;
    const char *summary; /* one line for `hinge --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns the exit code */
} hg_cli_command;

/* Exit codes: 0 ok, 1 failure (library error), 2 usage error. */
enum { HG_EXIT_OK = 0, HG_EXIT_FAIL = 1, HG_EXIT_USAGE = 2 };

/* Prints "hinge <cmd>: <library message>" to stderr and returns HG_EXIT_FAIL. */
int hg_cli_fail(const char *cmd);
/* Prints "hinge <cmd>: <message>" and a hint to use --help; returns HG_EXIT_USAGE. */
int hg_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number in range. */
bool hg_cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);
bool hg_cli_parse_float(const char *s, double *out);
/* Whether s ends with suffix (a file name's extension, case-sensitive). */
bool hg_cli_ends_with(const char *s, const char *suffix);
/* "KEY=VALUE" into m (--set options, model configs); false for a missing '=' or key, or when
 * the entry cannot be stored (error set). */
bool hg_cli_metadata_set_kv(hg_metadata *m, const char *kv);

/* Progress reporting on stderr: a bar with rate and ETA on a TTY, plain lines (at most one
 * every few seconds) otherwise. `extra` is a short status such as "loss 0.312". */
typedef struct hg_progress {
    const char *label;
    int64_t total;
    int64_t done;
    double start;
    double last_print;
    int64_t base_done; /* units done at the first update: the rate counts from there, so a
                        * resumed run (steps done before this process) and a warm-up first
                        * step do not distort the rate and ETA; -1 before the first update */
    double base_time;
    bool tty;
    bool quiet;
} hg_progress;

void hg_progress_begin(hg_progress *p, const char *label, int64_t total, bool quiet);
void hg_progress_update(hg_progress *p, int64_t done, const char *extra);
void hg_progress_end(hg_progress *p, const char *extra);
double hg_cli_now(void); /* monotonic seconds */

/* Resolves a --model argument: an existing file or a path as given; else a shipped model by
 * name: $HINGE_MODELS/NAME.safetensors, the installed share/hinge/models, the source tree's
 * models/. */
void hg_cli_model_path(const char *arg, char *path, size_t size);
/* Reads a NIfTI image (initializing img); on failure prints and returns HG_EXIT_FAIL. */
int hg_cli_read_image(const char *cmd, const char *path, hg_image *img);
/* Wraps data (taking ownership) in an image with the given spacing (x first) and the centred
 * affine of the physics convention (row 0 at the top). */
hg_status hg_cli_image_centred(hg_image *img, hg_tensor *data, const double *spacing);
/* The image's sidecar object, created if absent. */
struct cJSON;
hg_status hg_cli_image_sidecar_object(hg_image *img, struct cJSON **obj);

#endif
