/* Beyond one machine: MPI data-parallel training and distributed inference over study lists.
 *
 * Launch model: MPI is initialized only when the process was started by an MPI launcher
 * (mpirun/mpiexec of Open MPI, or a PMI/PMIx launcher such as srun), detected from the
 * environment. A plain `hinge ...` never touches MPI, so the single-process binary keeps
 * working on machines without a launcher, and Open MPI's singleton start-up (which forks an
 * orted and can be slow or fail in containers) is never used. Without MPI (HINGE_MPI off, or
 * not launched by mpirun) every function here behaves as a world of one rank.
 *
 * Training: each rank computes the gradient of its shard of every global batch; the
 * gradients are averaged in buckets with MPI_Iallreduce, each bucket started during backward
 * as soon as its gradients are final (the tape's gradient-ready hook), so all ranks apply the
 * same update and keep identical weights. A
 * hash of the parameters is compared every `check_every` steps; divergence is an error. */
#ifndef HINGE_DIST_H
#define HINGE_DIST_H

#include "hinge/core.h"
#include "hinge/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initializes MPI when launched by an MPI launcher (idempotent; registers MPI_Finalize at
 * exit). Returns HG_OK in single-process mode too. */
hg_status hg_dist_init(void);
bool hg_dist_active(void);        /* MPI initialized and world size > 1 */
int hg_dist_rank(void);           /* 0 without MPI */
int hg_dist_world(void);          /* 1 without MPI */
bool hg_dist_compiled(void);      /* built with MPI support (HINGE_MPI) */
void hg_dist_barrier(void);
/* Aborts every rank (MPI_Abort) after a fatal error on one; no-op without MPI. For the CLI
 * only: the library itself never exits. */
void hg_dist_abort(int code);

/* 64-bit FNV-1a hash of every parameter and buffer (names, shapes and float bits). */
uint64_t hg_params_hash(const hg_params *p);
/* Compares the parameter hash across ranks; HG_ERR_STATE naming the step and the hashes of
 * rank 0 and of the first diverging rank when they differ. Collective. */
hg_status hg_dist_check_identical(const hg_params *p, int64_t step);
/* Copies rank 0's parameters and buffers to every rank. Collective. */
hg_status hg_dist_broadcast_params(hg_params *p);
/* Averages every non-trainable buffer (batch-norm running statistics) over ranks. Without
 * synchronized batch norm each rank normalizes with its own shard's statistics; averaging the
 * running statistics after every step keeps all ranks identical (running means then equal
 * the single-process ones up to rounding; running variances miss the between-shard part). */
hg_status hg_dist_average_buffers(hg_params *p);
/* Sum (average=false) or mean of a double over ranks. Collective. */
double hg_dist_allreduce_double(double v, bool average);

/* ---- data-parallel training -------------------------------------------------------------- */

typedef struct hg_dist_trainer hg_dist_trainer;

typedef struct hg_dist_stats {
    int64_t steps;           /* gradient reductions done */
    int64_t bytes_per_step;  /* gradient payload of one reduction (float32) */
    int32_t buckets;         /* buckets per reduction */
    /* total time in hg_dist_allreduce_grads, i.e. after backward: pack, reduce, wait, unpack
     * when not overlapped; with overlap, the part not hidden behind backward plus unpack */
    double allreduce_seconds;
    int64_t hash_checks;
    bool overlap;               /* buckets start during backward (hg_dist_trainer_set_overlap) */
    double overlapped_seconds;  /* total time in the gradient-ready hook during backward
                                 * (packing, starting buckets, polling MPI) */
    int64_t buckets_overlapped; /* buckets started before backward ended, over all steps */
} hg_dist_stats;

/* A trainer for the trainable parameters of `params`: bucket buffers of about bucket_bytes
 * (0: 4 MiB) are allocated here, once. check_every: steps between weight hash checks (0: 50;
 * < 0: never). */
hg_dist_trainer *hg_dist_trainer_new(hg_params *params, size_t bucket_bytes,
                                     int64_t check_every);
void hg_dist_trainer_free(hg_dist_trainer *t);
/* Overlap of the reduction with backward: on by default. Results are bitwise the same
 * either way (same buffer, same buckets, same calls); only the timing differs. */
void hg_dist_trainer_set_overlap(hg_dist_trainer *t, bool on);
/* Call right before hg_backward(ctx, ...) of a step: installs ctx's gradient-ready hook so
 * that each bucket's reduction starts as soon as its gradients are final. No-op when overlap
 * is off or with one rank. Must be followed by hg_dist_allreduce_grads. */
hg_status hg_dist_trainer_begin_backward(hg_dist_trainer *t, hg_ctx *ctx);
/* Averages every trainable gradient over ranks (missing gradients count as zeros). After
 * hg_dist_trainer_begin_backward it finishes the buckets started during backward (and
 * removes the hook). If a backward fails after buckets started, the trainer cannot be reused
 * and hg_dist_trainer_free leaves its in-flight buffer allocated (abort the job). */
hg_status hg_dist_allreduce_grads(hg_dist_trainer *t);
hg_dist_stats hg_dist_trainer_stats(const hg_dist_trainer *t);
/* Fills o->dist with hooks that shard batches by rank, average gradients, buffers and the
 * reported loss, check weights every check_every steps, and let only rank 0 write checkpoints. `d`
 * must outlive the training. */
void hg_dist_train_hooks(hg_dist_trainer *t, hg_train_dist *d);

/* ---- synchronized batch norm ------------------------------------------------------------- */

/* hg_batch_norm whose training-mode statistics are those of the global batch (all ranks);
 * gamma/beta gradients are this rank's share (the trainer averages them). Collective in
 * forward and backward. With one rank or in eval mode it is hg_batch_norm. */
hg_tensor *hg_sync_batch_norm(hg_ctx *ctx, hg_tensor *x, hg_tensor *gamma, hg_tensor *beta,
                              hg_tensor *running_mean, hg_tensor *running_var, float momentum,
                              float eps);
/* Process-wide switch read by the batch-norm layers of the models (hg_norm_layer_forward):
 * on, they use hg_sync_batch_norm. Off by default. */
void hg_dist_set_sync_batch_norm(bool on);
bool hg_dist_sync_batch_norm(void);

/* ---- distributed inference over a study list --------------------------------------------- */

typedef enum hg_study_outcome {
    HG_STUDY_DONE = 0,     /* processed now */
    HG_STUDY_SKIPPED = 1,  /* output already existed (restart) */
    HG_STUDY_FAILED = 2
} hg_study_outcome;

/* Processes one study: read `input`, write `output` atomically (e.g. hg_nifti_write or
 * hg_atomic_open/commit). Return HG_OK, or an error with a message naming the problem. */
typedef hg_status (*hg_study_fn)(void *user, const char *input, const char *output);
/* Called on rank 0 as each study finishes (for progress/logging); may be NULL. fn and
 * report receive the same user pointer. */
typedef void (*hg_study_report_fn)(void *user, int64_t index, const char *input,
                                   const char *output, hg_study_outcome outcome,
                                   const char *message, int rank);

typedef struct hg_study_summary {
    int64_t total, done, skipped, failed;
    double seconds;
} hg_study_summary;

/* Reads the list (one input path per line; blank lines and lines starting with '#' are
 * ignored). The output of input "dir/name.ext" is "<outdir>/name<suffix>" (suffix e.g.
 * ".nii.gz"; the input's extension .nii.gz/.nii/.safetensors/.cfl is dropped). */
hg_status hg_study_list_read(const char *list_path, char ***inputs, int64_t *count);
void hg_study_list_free(char **inputs, int64_t count);
hg_status hg_study_output_path(const char *input, const char *outdir, const char *suffix,
                               char *out, size_t out_size);

/* Runs fn over every study of the list. With several ranks, rank 0 hands out the next
 * unfinished study to whichever worker asks (dynamic load balancing) and the workers run
 * fn; alone, the rank runs everything itself. Studies whose output exists are skipped. A
 * failing study is reported and the others continue. The summary is valid on every rank;
 * returns HG_OK when no study failed, else HG_ERR_IO naming the count. Collective. */
hg_status hg_dist_run_studies(const char *list_path, const char *outdir, const char *suffix,
                              hg_study_fn fn, hg_study_report_fn report, void *user,
                              hg_study_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
