/* File formats. Every writer is atomic: it writes a temporary file beside the target, fsyncs
 * and renames, so a crash or an error never leaves a partial or corrupt output. */
#ifndef HINGE_IO_H
#define HINGE_IO_H

#include "hinge/core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- atomic output --------------------------------------------------------------------- */
typedef struct hg_atomic_file {
    FILE *fp;           /* write here */
    char *path;         /* final path */
    char *tmp_path;     /* path.tmp.XXXXXX */
} hg_atomic_file;

hg_status hg_atomic_open(hg_atomic_file *f, const char *path);
/* Flushes, fsyncs and renames over path. On any failure the temporary file is removed. */
hg_status hg_atomic_commit(hg_atomic_file *f);
/* Removes the temporary file; the target is untouched. Safe after a failed commit. */
void hg_atomic_abort(hg_atomic_file *f);

/* Reads a whole file (at most max_bytes; larger files are refused) into a heap buffer. */
hg_status hg_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *size);

/* ---- safetensors ----------------------------------------------------------------------- */
/* The format of Hugging Face's safetensors: u64 little-endian header length, a JSON header
 * {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__":
 * {string: string}}, then the raw little-endian data. Readable by the Python ecosystem. */

typedef struct hg_metadata {
    int32_t count;
    char **keys;
    char **values;
} hg_metadata;

void hg_metadata_init(hg_metadata *m);
void hg_metadata_free(hg_metadata *m);
hg_status hg_metadata_set(hg_metadata *m, const char *key, const char *value);
const char *hg_metadata_get(const hg_metadata *m, const char *key);

/* Writes every tensor of `tensors` (F32; complex as F32 with a trailing dimension of 2) and
 * the metadata (may be NULL), atomically. */
hg_status hg_safetensors_save(const char *path, const hg_params *tensors,
                              const hg_metadata *meta);
/* Reads every tensor into `out` (initialized by the caller; new heap tensors, not trainable)
 * and the metadata into meta (may be NULL). F32, F64, F16, BF16, I64, I32, I16, I8, U8 and
 * BOOL data are converted to float32. Malformed files are refused with the reason. */
hg_status hg_safetensors_load(const char *path, hg_params *out, hg_metadata *meta);
/* Copies the file's tensors into existing parameters: every parameter must be present with
 * the same shape, and (strict) the file must hold nothing else. Nothing is modified unless
 * everything matches. */
hg_status hg_safetensors_load_into(const char *path, hg_params *params, bool strict,
                                   hg_metadata *meta);

#ifdef __cplusplus
}
#endif
#endif
