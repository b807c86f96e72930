/* Multi-site segmentation training: the shapes task (train_seg.c) renders the anatomy; this
 * file acquires every image at its site, randomizes it (domain randomization) and z-scores
 * it, so the network sees what a scanner of that site would deliver. */
#include "hinge/sites.h"

#include <string.h>

/* Sample i of a batch tensor [N, ...] as a tensor [1, ...] (keep_n) or [...]. */
static hg_tensor sample(const hg_tensor *t, int64_t i, bool keep_n)
{
    hg_tensor v = *t;
    v.numel = t->numel / t->shape[0];
    v.data = t->data + i * v.numel;
    v.grad = NULL;
    v.node = NULL;
    v.requires_grad = false;
    v.shape[0] = 1;
    if (!keep_n) {
        v.ndim--;
        memmove(v.shape, v.shape + 1, sizeof(int64_t) * (size_t)v.ndim);
    }
    return v;
}

/* Acquisition at a site, then the optional randomization, then the z-score. */
static hg_status acquire(const hg_site *site, hg_rng acq, const hg_augment_opts *randomize,
                         hg_rng dr, int ndim, hg_tensor *image, hg_tensor *label, hg_ctx *ctx)
{
    hg_status s = hg_site_apply(site, ndim, acq, image, ctx);
    if (!s && randomize)
        s = hg_augment(randomize, ndim, dr, image, label, ctx);
    return s ? s : hg_harmonize_zscore(image, NULL);
}

static hg_status sites_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                             hg_tensor **y)
{
    hg_sites_task *t = self;
    if (!t->sites || t->nsites < 1 || t->seg.patch[0] != 0 || t->seg.augment)
        return hg_error(HG_ERR_INVALID, "sites task: needs >= 1 site (got %d), whole images "
                        "(patch 0) and no seg.augment", t->sites ? t->nsites : 0);
    hg_status s = t->inner.batch(t->inner.self, step, rng, ctx, x, y);
    hg_rng base = hg_rng_new(t->site_seed);
    for (int64_t i = 0; !s && i < t->seg.batch; i++) {
        int64_t idx = (step * t->seg.batch + i) % t->seg.train_samples;
        hg_tensor xi = sample(*x, i, false), yi = sample(*y, i, false);
        /* split ids 1000+ stay clear of the shapes task's per-sample streams */
        s = acquire(&t->sites[idx % t->nsites], hg_rng_split(&base, (uint64_t)idx),
                    t->randomize, hg_rng_split(rng, 1000 + (uint64_t)i), t->seg.shapes.ndim,
                    &xi, &yi, ctx);
    }
    return s;
}

static hg_tensor *sites_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    hg_sites_task *t = self;
    return t->inner.loss(t->inner.self, m, ctx, x, y);
}

hg_status hg_sites_render(const hg_shapes_opts *o, uint64_t seed, const hg_site *site,
                          uint64_t site_seed, int64_t first, int64_t n, hg_tensor **x,
                          hg_tensor **y)
{
    if (!site || !x || !y)
        return hg_error(HG_ERR_INVALID, "sites_render: NULL site or output");
    hg_status s = hg_shapes_batch(o, seed, first, n, NULL, x, y);
    if (s)
        return s;
    hg_ctx *ctx = hg_ctx_new();
    if (!ctx)
        s = hg_error_status();
    hg_rng base = hg_rng_new(site_seed);
    for (int64_t i = 0; !s && i < n; i++) {
        hg_ctx_reset(ctx);
        hg_tensor xi = sample(*x, i, false);
        s = acquire(site, hg_rng_split(&base, (uint64_t)(first + i)), NULL, base, o->ndim, &xi,
                    NULL, ctx);
    }
    hg_ctx_free(ctx);
    if (s) {
        hg_tensor_free(*x), hg_tensor_free(*y);
        *x = *y = NULL;
    }
    return s;
}

hg_status hg_seg_evaluate_cases(hg_model *m, const hg_tensor *x, const hg_tensor *y, int ndim,
                                double *dice)
{
    if (!x || !y || !dice || x->ndim != ndim + 2 || y->ndim != ndim + 1 ||
        x->shape[0] != y->shape[0])
        return hg_error(HG_ERR_INVALID, "seg_evaluate_cases: expected x [N, C, S], y [N, S] "
                        "with %d spatial dims and an output array", ndim);
    hg_status s = HG_OK;
    for (int64_t i = 0; !s && i < x->shape[0]; i++) {
        hg_tensor xi = sample(x, i, true), yi = sample(y, i, true);
        s = hg_seg_evaluate(m, &xi, &yi, ndim, &dice[i]);
    }
    return s;
}

static hg_status sites_eval(void *self, hg_model *m, double *metric)
{
    hg_sites_task *t = self;
    hg_tensor *x, *y;
    hg_status s = hg_sites_render(&t->seg.shapes, t->seg.data_seed + 1, t->val_site,
                                  t->site_seed + 1, 0, t->seg.val_samples, &x, &y);
    if (s)
        return s;
    s = hg_seg_evaluate(m, x, y, t->seg.shapes.ndim, metric);
    hg_tensor_free(x);
    hg_tensor_free(y);
    return s;
}

hg_task hg_sites_task_make(hg_sites_task *t)
{
    /* the anatomy comes from the shapes task; its own validation is never called (it would
     * skip the acquisition) */
    t->inner = hg_seg_task_make(&t->seg);
    hg_task task = {"multi-site segmentation", "dice", true, sites_batch, sites_loss,
                    t->val_site && t->seg.val_samples > 0 ? sites_eval : NULL, t};
    return task;
}
