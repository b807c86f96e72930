/* The multi-site segmentation experiment (src/nn/train_sites.c): the same synthetic anatomy
 * acquired at simulated sites (hg_site), training on some sites with or without domain
 * randomization, and per-case Dice at every site, seen or not.
 *
 * An image is "acquired" by rendering the shapes sample (no noise of its own), applying the
 * site (hg_site_apply) with the image's own acquisition stream, and z-scoring it over the
 * whole image (as `hinge segment --normalize zscore`). Image i of a data set at a site always
 * gets the same acquisition (stream hg_rng_split(hg_rng_new(site_seed), i)), so a site's data
 * set is fixed, like scans that were taken once. */
#ifndef HINGE_SITES_H
#define HINGE_SITES_H

#include "hinge/segment.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_sites_task {
    /* Anatomy, batch size, training images, loss weights, validation count. Whole images
     * only: seg.patch must be zeros and seg.augment NULL (randomization is below). */
    hg_seg_task seg;
    const hg_site *sites;   /* training image i is acquired at sites[i % nsites] */
    int32_t nsites;
    uint64_t site_seed;     /* acquisition streams of the training images */
    /* Domain randomization: applied to each drawn training image after its acquisition and
     * before the z-score, with a fresh draw every step; NULL: none. */
    const hg_augment_opts *randomize;
    /* Validation: mean Dice over seg.val_samples images of data set seg.data_seed + 1
     * acquired at val_site (stream seed site_seed + 1); NULL or val_samples 0: none. */
    const hg_site *val_site;
    hg_task inner;          /* private: the shapes task that renders the anatomy */
} hg_sites_task;

/* The training task (metric: validation Dice at val_site); t must outlive it. Invalid
 * settings (no site, patches, seg.augment) are reported by the first batch. */
hg_task hg_sites_task_make(hg_sites_task *t);

/* Renders images first..first+n-1 of the shapes data set `seed` acquired at `site`
 * (acquisition streams from site_seed), z-scored: x [n, 1, S] and y [n, S] on the heap. */
hg_status hg_sites_render(const hg_shapes_opts *o, uint64_t seed, const hg_site *site,
                          uint64_t site_seed, int64_t first, int64_t n, hg_tensor **x,
                          hg_tensor **y);

/* Per-case mean foreground Dice of argmax(model(x)) against y (as hg_seg_evaluate, one value
 * per image): x [N, C, S], y [N, S], dice [N]. */
hg_status hg_seg_evaluate_cases(hg_model *m, const hg_tensor *x, const hg_tensor *y, int ndim,
                                double *dice);

#ifdef __cplusplus
}
#endif
#endif
