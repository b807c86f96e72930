/* The --list mode shared by the inference commands (recon, segment, classify):
 * `mpirun -np N hinge <cmd> --list studies.txt -o outdir [options]`. */
#ifndef HINGE_CLI_DIST_H
#define HINGE_CLI_DIST_H

#include "hinge/dist.h"

/* Runs fn over the studies of `list` (hg_dist_run_studies, MPI when launched by mpirun),
 * creating outdir, printing one line per study and a summary on rank 0. Returns the exit
 * code: 0 when every study is done or skipped, 1 when any failed. */
int hg_cli_run_list(const char *cmd, const char *list, const char *outdir, const char *suffix,
                    hg_study_fn fn, void *user);

#endif
