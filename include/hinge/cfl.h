/* BART's .cfl/.hdr files: name.hdr is text ("# Dimensions" then up to 16 sizes on one line),
 * name.cfl the raw little-endian complex float data, first dimension fastest (column-major).
 *
 * Mapping to hinge tensors (row-major, last dimension fastest): the BART dimensions are
 * reversed and trailing singleton BART dimensions dropped, so BART [x, y, z, coils] =
 * [128, 128, 1, 8] becomes the HG_C64 tensor [8, 1, 128, 128] with the same bytes. At most
 * HG_MAX_DIMS (5) dimensions remain; more is refused (HG_ERR_UNSUPPORTED). */
#ifndef HINGE_CFL_H
#define HINGE_CFL_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HG_CFL_DIMS 16

/* `name` is the common base ("data" for data.cfl + data.hdr); a trailing ".cfl" or ".hdr" is
 * ignored. */

/* Parses name.hdr into dims[HG_CFL_DIMS] (missing sizes = 1). Refuses a header over 64 KiB,
 * without the "# Dimensions" line, with non-integer, zero, negative or more than 16 sizes,
 * or whose element count overflows. */
hg_status hg_cfl_read_dims(const char *name, int64_t dims[HG_CFL_DIMS]);
/* Reads name.hdr + name.cfl into a new complex heap tensor (see the mapping above); the
 * .cfl size must match the header exactly. dims (may be NULL) gets the BART dimensions. */
hg_tensor *hg_cfl_read(const char *name, int64_t dims[HG_CFL_DIMS]);
/* Writes a tensor (HG_C64; HG_F32 is written with zero imaginary parts) as name.cfl +
 * name.hdr, each atomically (data first, header last). */
hg_status hg_cfl_write(const char *name, const hg_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
