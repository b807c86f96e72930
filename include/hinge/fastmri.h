/* fastMRI files (HDF5, read and written through libhdf5): one volume per file.
 *   "kspace"             complex64 [slices, coils, H, W] (multi-coil) or [slices, H, W]
 *                        (single-coil), stored as h5py stores complex64: the compound type
 *                        {r: float32, i: float32}. Any other type is refused.
 *   "reconstruction_rss" / "reconstruction_esc"   float32 [slices, h, w] (optional)
 *   "mask"               [W] (optional; bool, integer or float; read as 0/1 floats)
 *   "ismrmrd_header"     string (optional; kept as text)
 *   attributes "acquisition", "patient_id" (strings), "max", "norm" (numbers), all optional.
 * K-space comes back as an HG_C64 tensor (interleaved re, im: the same bytes as the file) with
 * the file's shape, or one slice without the slice axis. Every size is checked (rank, each
 * dimension >= 1, overflow, a 16 GiB cap, the stored size) before anything is allocated.
 * Soft and external links are not followed. Not thread-safe (Debian's serial libhdf5 is not):
 * use from one thread at a time. libhdf5 1.10 itself can crash on hostile files (see
 * docs/fastmri.md): open untrusted files with hg_fastmri_open_untrusted. */
#ifndef HINGE_FASTMRI_H
#define HINGE_FASTMRI_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HG_FASTMRI_MAX_DATASETS 16

/* One dataset at the root of the file (any dataset, for listing). */
typedef struct hg_fastmri_dataset {
    char name[64];
    char type[32];  /* "complex64", "float32", "bool", "int8", "string", "compound", ... */
    int32_t ndim;   /* -1: more than HG_MAX_DIMS dimensions (or not readable) */
    int64_t shape[HG_MAX_DIMS];
} hg_fastmri_dataset;

typedef struct hg_fastmri_info {
    bool multicoil;                     /* kspace is 4-d */
    int64_t slices, coils, height, width; /* coils = 1 for single-coil */
    bool has_rss, has_esc, has_mask;
    int64_t rss_shape[3], esc_shape[3]; /* [slices, h, w] when present */
    int64_t mask_len;
    char acquisition[64];               /* "" when absent */
    char patient_id[128];
    bool has_max, has_norm;
    double max, norm;
    char *ismrmrd_header;               /* NUL-terminated heap copy, NULL when absent */
    int32_t ndatasets;                  /* every root dataset (at most 16 listed) */
    hg_fastmri_dataset datasets[HG_FASTMRI_MAX_DATASETS];
} hg_fastmri_info;

typedef struct hg_fastmri_file hg_fastmri_file;

/* Opens and validates a file: "kspace" must be present with a supported type and rank; the
 * optional datasets are checked too (rss/esc float 3-d, mask 1-d). Errors name the file and
 * the dataset, with libhdf5's own reason for unreadable files. */
hg_fastmri_file *hg_fastmri_open(const char *path);
void hg_fastmri_close(hg_fastmri_file *f);
const hg_fastmri_info *hg_fastmri_get_info(const hg_fastmri_file *f);

/* Files from elsewhere. libhdf5 1.10 is not memory-safe on hostile files (heap overflows in
 * H5HG_read and H5MM_strdup, 2^62-byte allocations, endless loops: docs/fastmri.md), and the
 * faults are inside its own parsing, before hinge sees any value. hg_fastmri_check runs every
 * read a user of the file can make (open, validation, attributes, the listing, each slice of
 * each dataset, the mask) in a forked child process with a time limit (timeout_s <= 0: 60 s)
 * and returns HG_OK only if that child finished, without growing by more than 256 MiB plus
 * four times the largest single read (libhdf5 allocates whatever a variable-length attribute
 * declares); a crash, an abort, the time limit or that memory gives an error naming what
 * happened, and the calling process is unharmed. Since libhdf5 is
 * deterministic, the same reads in the caller are then safe. Costs one extra read of the file
 * (then page-cached). POSIX only (fork). hg_fastmri_open_untrusted = check, then open. */
hg_status hg_fastmri_check(const char *path, int timeout_s);
hg_fastmri_file *hg_fastmri_open_untrusted(const char *path);

/* K-space: slice >= 0 reads one slice ([coils, H, W] or [H, W]); slice < 0 the whole array. */
hg_tensor *hg_fastmri_read_kspace(hg_fastmri_file *f, int64_t slice);
/* dataset = "reconstruction_rss" or "reconstruction_esc"; float32 [h, w] or [slices, h, w]. */
hg_tensor *hg_fastmri_read_recon(hg_fastmri_file *f, const char *dataset, int64_t slice);
/* The mask as a float32 [W] tensor of 0/1 (NULL with an error when absent). */
hg_tensor *hg_fastmri_read_mask(hg_fastmri_file *f);

/* What hg_fastmri_write stores; NULL / empty members are omitted (kspace is required). */
typedef struct hg_fastmri_data {
    const hg_tensor *kspace;  /* HG_C64, 3-d or 4-d */
    const hg_tensor *rss;     /* HG_F32 3-d, or NULL */
    const hg_tensor *esc;     /* HG_F32 3-d, or NULL */
    const hg_tensor *mask;    /* HG_F32 1-d (stored as uint8 0/1: nonzero -> 1), or NULL */
    const char *acquisition, *patient_id, *ismrmrd_header; /* NULL: omitted */
    bool has_max, has_norm;
    double max, norm;
} hg_fastmri_data;

/* Writes the fastMRI layout (kspace as the {r, i} compound, readable by h5py as complex64),
 * atomically: a temporary file beside path, fsync, rename; nothing is left on error. */
hg_status hg_fastmri_write(const char *path, const hg_fastmri_data *d);

#ifdef __cplusplus
}
#endif
#endif
