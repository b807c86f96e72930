/* fastMRI .h5 files in `hinge info` and `hinge convert` (cli_fastmri.c). */
#ifndef HINGE_CLI_FASTMRI_H
#define HINGE_CLI_FASTMRI_H

#include "hinge/image.h"

#include <stdbool.h>
#include <stdint.h>

/* True for a name ending in .h5 or .hdf5. */
bool hg_cli_is_h5(const char *path);
/* Describes a fastMRI file (datasets, shapes, attributes); -1 when path is not .h5. */
int hg_cli_fastmri_info(const char *path, bool json);
/* Reads `dataset` (kspace, reconstruction_rss or reconstruction_esc; slice < 0: all) into
 * img (complex for kspace), with the file's attributes in the sidecar. */
hg_status hg_cli_fastmri_image(const char *path, const char *dataset, int64_t slice,
                               hg_image *img);

#endif
