/* Data sets, loaders and simulators (src/data/). */
#ifndef HINGE_DATA_H
#define HINGE_DATA_H

#include "hinge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An in-memory labelled image set: images [N, C, H, W] scaled to [0, 1], labels [N]. */
typedef struct hg_labelled_images {
    hg_tensor *images;
    hg_tensor *labels; /* class indices as floats */
    int32_t classes;
} hg_labelled_images;

/* Reads an IDX image file and its label file (MNIST / Fashion-MNIST format, gzip or plain).
 * Every header field is validated against the file size before allocation. */
hg_status hg_idx_load(const char *images_path, const char *labels_path, hg_labelled_images *out);
void hg_labelled_images_free(hg_labelled_images *d);

/* Copies the samples idx[0..n) into batch tensors x [n, C, H, W] and y [n] (allocated in
 * ctx). */
hg_status hg_labelled_images_batch(const hg_labelled_images *d, const int64_t *idx, int64_t n,
                                   hg_ctx *ctx, hg_tensor **x, hg_tensor **y);

#ifdef __cplusplus
}
#endif
#endif
