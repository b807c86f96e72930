/* Synthetic lesions in real brain slices (see include/hinge/lesion.h). */
#include "hinge/image.h"
#include "hinge/lesion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void hg_lesion_source_free(hg_lesion_source *s)
{
    if (!s)
        return;
    hg_tensor_free(s->slices);
    hg_tensor_free(s->brain);
    free(s->train);
    free(s->test);
    memset(s, 0, sizeof *s);
}

static hg_status source_alloc(hg_lesion_source *s, int64_t count, int64_t size)
{
    memset(s, 0, sizeof *s);
    s->slices = hg_new(NULL, count, size, size);
    s->brain = hg_new(NULL, count, size, size);
    s->train = calloc((size_t)count, sizeof *s->train);
    s->test = calloc((size_t)count, sizeof *s->test);
    if (!s->slices || !s->brain || !s->train || !s->test) {
        hg_lesion_source_free(s);
        return hg_error(HG_ERR_NOMEM, "lesion source: no memory for %lld slices of %lld^2",
                        (long long)count, (long long)size);
    }
    return HG_OK;
}

/* ---- backgrounds from a T1 volume ------------------------------------------------------- */

/* The q-quantile of the values of v where mask > 0, from a 4096-bin histogram. */
static float masked_quantile(const float *v, const float *mask, int64_t n, double q)
{
    float lo = INFINITY, hi = -INFINITY;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++)
        if (mask[i] > 0) {
            lo = fminf(lo, v[i]), hi = fmaxf(hi, v[i]);
            count++;
        }
    if (count == 0 || !(hi > lo))
        return hi;
    enum { BINS = 4096 };
    int64_t *hist = calloc(BINS, sizeof *hist);
    if (!hist)
        return hi;
    for (int64_t i = 0; i < n; i++)
        if (mask[i] > 0) {
            int b = (int)((v[i] - lo) / (hi - lo) * (BINS - 1));
            hist[b]++;
        }
    int64_t want = (int64_t)(q * (double)count), seen = 0;
    int b = 0;
    while (b < BINS - 1 && seen + hist[b] <= want)
        seen += hist[b++];
    free(hist);
    return lo + (hi - lo) * (float)(b + 1) / (BINS - 1);
}

/* Box average of the [h, w] slice zero-padded (centred) to a square of side max(h, w), onto
 * size x size; rows reversed when flip_rows (anterior at the top for NIfTI y). */
static void resample_square(const float *src, int64_t h, int64_t w, int64_t size, bool flip_rows,
                            float *dst)
{
    int64_t side = h > w ? h : w, oy = (side - h) / 2, ox = (side - w) / 2;
    double f = (double)side / (double)size;
    for (int64_t i = 0; i < size; i++) {
        int64_t r0 = (int64_t)floor((double)i * f), r1 = (int64_t)floor((double)(i + 1) * f);
        if (r1 <= r0)
            r1 = r0 + 1;
        for (int64_t j = 0; j < size; j++) {
            int64_t c0 = (int64_t)floor((double)j * f), c1 = (int64_t)floor((double)(j + 1) * f);
            if (c1 <= c0)
                c1 = c0 + 1;
            double sum = 0;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) {
                    int64_t y = r - oy, x = c - ox;
                    if (y >= 0 && y < h && x >= 0 && x < w)
                        sum += src[(flip_rows ? h - 1 - y : y) * w + x];
                }
            dst[i * size + j] = (float)(sum / (double)((r1 - r0) * (c1 - c0)));
        }
    }
}

static hg_status read_volume(const char *path, const char *what, hg_image *img)
{
    hg_image_init(img);
    hg_status s = hg_nifti_read(path, img);
    if (s != HG_OK)
        return hg_error_context(s, "lesion source: %s", what);
    if (img->data->ndim != 3 || img->data->dtype != HG_F32) {
        char got[96];
        s = hg_error(HG_ERR_INVALID, "lesion source: %s %s is %s, expected a real 3-D volume",
                     what, path, hg_shape_str(img->data, got, sizeof got));
        hg_image_free(img);
    }
    return s;
}

/* Blocks of 10 usable slices; every 5th block held out; 2 guard slices on each side of a
 * held-out block belong to neither split. */
static void split_blocks(hg_lesion_source *s, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        int64_t group = i / 50; /* 5 blocks of 10; the last block of a group is held out */
        int64_t held_start = group * 50 + 40, prev_held_end = group * 50 - 1;
        if (i >= held_start) {
            s->test[s->n_test++] = i;
            continue;
        }
        bool guard = (held_start < count && held_start - i <= 2) ||
                     (group > 0 && i - prev_held_end <= 2);
        if (!guard)
            s->train[s->n_train++] = i;
    }
}

hg_status hg_lesion_source_nifti(const char *t1_path, const char *brain_path, int64_t size,
                                 hg_lesion_source *out)
{
    if (size < 16 || size > 1024)
        return hg_error(HG_ERR_INVALID, "lesion source: size %lld outside [16, 1024]",
                        (long long)size);
    hg_image t1, bet;
    hg_status s = read_volume(t1_path, "T1", &t1);
    if (s != HG_OK)
        return s;
    if ((s = read_volume(brain_path, "brain", &bet)) != HG_OK) {
        hg_image_free(&t1);
        return s;
    }
    const hg_tensor *v = t1.data, *b = bet.data;
    if (!hg_shape_equal(v, b)) {
        char a[96], c[96];
        s = hg_error(HG_ERR_INVALID, "lesion source: T1 %s is %s but the brain volume %s is %s",
                     t1_path, hg_shape_str(v, a, sizeof a), brain_path,
                     hg_shape_str(b, c, sizeof c));
        goto done;
    }
    int64_t nz = v->shape[0], h = v->shape[1], w = v->shape[2], plane = h * w;
    float *mask = malloc((size_t)v->numel * sizeof *mask);
    int64_t *area = calloc((size_t)nz, sizeof *area);
    if (!mask || !area) {
        free(mask), free(area);
        s = hg_error(HG_ERR_NOMEM, "lesion source: no memory for the brain mask");
        goto done;
    }
    int64_t max_area = 0;
    for (int64_t z = 0; z < nz; z++) {
        for (int64_t i = 0; i < plane; i++) {
            mask[z * plane + i] = b->data[z * plane + i] > 0 ? 1.0f : 0.0f;
            area[z] += b->data[z * plane + i] > 0;
        }
        max_area = area[z] > max_area ? area[z] : max_area;
    }
    float scale = masked_quantile(v->data, mask, v->numel, 0.99);
    int64_t count = 0;
    for (int64_t z = 0; z < nz; z++)
        count += max_area > 0 && area[z] * 4 >= max_area;
    if (count < 10 || !(scale > 0)) {
        free(mask), free(area);
        s = hg_error(HG_ERR_INVALID, "lesion source: %s has %lld slices with a brain (need 10) "
                     "or no positive brain intensity", brain_path, (long long)count);
        goto done;
    }
    if ((s = source_alloc(out, count, size)) != HG_OK) {
        free(mask), free(area);
        goto done;
    }
    int64_t k = 0, n2 = size * size;
    for (int64_t z = 0; z < nz; z++) {
        if (area[z] * 4 < max_area)
            continue;
        float *img = out->slices->data + k * n2, *br = out->brain->data + k * n2;
        resample_square(v->data + z * plane, h, w, size, true, img);
        resample_square(mask + z * plane, h, w, size, true, br);
        for (int64_t i = 0; i < n2; i++) {
            img[i] /= scale;
            br[i] = br[i] >= 0.5f ? 1.0f : 0.0f;
        }
        k++;
    }
    free(mask), free(area);
    split_blocks(out, count);
done:
    hg_image_free(&t1);
    hg_image_free(&bet);
    return s;
}

/* ---- synthetic backgrounds -------------------------------------------------------------- */

hg_status hg_lesion_source_synthetic(int64_t count, int64_t size, uint64_t seed,
                                     hg_lesion_source *out)
{
    if (count < 2 || size < 16 || size > 1024)
        return hg_error(HG_ERR_INVALID, "lesion source: synthetic needs count >= 2 and size in "
                        "[16, 1024], got %lld and %lld", (long long)count, (long long)size);
    hg_status s = source_alloc(out, count, size);
    if (s != HG_OK)
        return s;
    hg_rng base = hg_rng_new(seed);
    int64_t n2 = size * size;
    for (int64_t k = 0; k < count; k++) {
        hg_rng r = hg_rng_split(&base, (uint64_t)k);
        float *img = out->slices->data + k * n2, *br = out->brain->data + k * n2;
        double ay = 0.42 + 0.04 * hg_rng_uniform(&r), ax = 0.34 + 0.04 * hg_rng_uniform(&r);
        /* low-frequency texture: a few random cosines */
        double fy[4], fx[4], ph[4], amp[4];
        for (int t = 0; t < 4; t++) {
            fy[t] = 1 + 5 * hg_rng_uniform(&r), fx[t] = 1 + 5 * hg_rng_uniform(&r);
            ph[t] = 6.283 * hg_rng_uniform(&r), amp[t] = 0.05 * hg_rng_uniform(&r);
        }
        double vy = 0.06 + 0.04 * hg_rng_uniform(&r), vx = 0.03 + 0.02 * hg_rng_uniform(&r);
        for (int64_t i = 0; i < size; i++)
            for (int64_t j = 0; j < size; j++) {
                double y = ((double)i + 0.5) / (double)size - 0.5;
                double x = ((double)j + 0.5) / (double)size - 0.5;
                double rr = sqrt((y / ay) * (y / ay) + (x / ax) * (x / ax));
                double v = 0;
                if (rr < 1.0 && rr >= 0.88)
                    v = 0.35; /* skull and scalp */
                if (rr < 0.86) {
                    v = 0.7;
                    for (int t = 0; t < 4; t++)
                        v += amp[t] * cos(6.283 * (fy[t] * y + fx[t] * x) + ph[t]);
                    double ry = y / vy, rx1 = (x - 0.05) / vx, rx2 = (x + 0.05) / vx;
                    if (ry * ry + rx1 * rx1 < 1 || ry * ry + rx2 * rx2 < 1)
                        v = 0.2; /* ventricles */
                    br[i * size + j] = 1.0f;
                }
                img[i * size + j] = (float)v;
            }
    }
    for (int64_t k = 0; k < count; k++) {
        if (k % 5 == 4)
            out->test[out->n_test++] = k;
        else
            out->train[out->n_train++] = k;
    }
    return HG_OK;
}

/* ---- samples ---------------------------------------------------------------------------- */

hg_lesion_opts hg_lesion_opts_default(int64_t size)
{
    hg_lesion_opts o = {.p_lesion = 0.5f, .radius_min = (float)size / 40.0f,
                        .radius_max = (float)size / 10.0f, .contrast_min = 0.15f,
                        .contrast_max = 0.6f, .edge = 1.0f, .noise = 0.02f};
    return o;
}

static hg_status check_opts(const hg_lesion_opts *o)
{
    if (!(o->p_lesion >= 0 && o->p_lesion <= 1) || !(o->radius_min > 0) ||
        !(o->radius_max >= o->radius_min) || !(o->contrast_min >= 0) ||
        !(o->contrast_max >= o->contrast_min) || !(o->edge > 0) || !(o->noise >= 0))
        return hg_error(HG_ERR_INVALID, "lesion options: need p_lesion in [0, 1], 0 < "
                        "radius_min <= radius_max, 0 <= contrast_min <= contrast_max, edge > 0, "
                        "noise >= 0; got p %g, radius %g..%g, contrast %g..%g, edge %g, noise %g",
                        o->p_lesion, o->radius_min, o->radius_max, o->contrast_min,
                        o->contrast_max, o->edge, o->noise);
    return HG_OK;
}

/* Draws the ellipse and writes w (the lesion weight) and the mask; returns the mask area. */
static int64_t draw_ellipse(const hg_lesion_info *l, const float *brain, int64_t size, float edge,
                            float *w, float *mask)
{
    float c = cosf(l->angle), s = sinf(l->angle), rbar = 0.5f * (l->ry + l->rx);
    int64_t area = 0;
    for (int64_t i = 0; i < size; i++)
        for (int64_t j = 0; j < size; j++) {
            float dy = (float)i - l->cy, dx = (float)j - l->cx;
            float u = (c * dy + s * dx) / l->ry, v = (-s * dy + c * dx) / l->rx;
            float r = sqrtf(u * u + v * v);
            float in = brain[i * size + j] > 0;
            float z = (r - 1.0f) * rbar / edge * 4.0f; /* 4: logistic 12%-88% over `edge` px */
            w[i * size + j] = in * (z > 30 ? 0.0f : 1.0f / (1.0f + expf(z)));
            bool inside = r <= 1.0f && in;
            if (mask)
                mask[i * size + j] = inside ? 1.0f : 0.0f;
            area += inside;
        }
    return area;
}

hg_status hg_lesion_sample(const hg_lesion_opts *o, const hg_lesion_source *src, bool test,
                           uint64_t seed, int64_t index, hg_tensor *image, hg_tensor *mask,
                           hg_lesion_info *info)
{
    hg_status s = check_opts(o);
    if (s != HG_OK)
        return s;
    int64_t size = src->slices->shape[1], n2 = size * size;
    int64_t n_split = test ? src->n_test : src->n_train;
    if (n_split == 0)
        return hg_error(HG_ERR_INVALID, "lesion sample: the %s split has no slices",
                        test ? "test" : "training");
    if (!image || image->numel != n2 || (mask && mask->numel != n2)) {
        char a[96];
        return hg_error(HG_ERR_INVALID, "lesion sample: image %s (and mask) must hold %lld x "
                        "%lld pixels", image ? hg_shape_str(image, a, sizeof a) : "NULL",
                        (long long)size, (long long)size);
    }
    hg_rng base = hg_rng_new(seed), r = hg_rng_split(&base, (uint64_t)index);
    hg_lesion_info l = {0};
    l.slice = (test ? src->test : src->train)[hg_rng_below(&r, (uint64_t)n_split)];
    l.flipped = hg_rng_uniform(&r) < 0.5;
    l.present = hg_rng_uniform(&r) < o->p_lesion;
    const float *bg = src->slices->data + l.slice * n2, *bsrc = src->brain->data + l.slice * n2;
    float *img = image->data;
    float *brain = malloc((size_t)n2 * 2 * sizeof *brain);
    if (!brain)
        return hg_error(HG_ERR_NOMEM, "lesion sample: no memory");
    float *w = brain + n2;
    double brain_sum = 0;
    int64_t brain_n = 0;
    for (int64_t i = 0; i < size; i++)
        for (int64_t j = 0; j < size; j++) {
            int64_t from = i * size + (l.flipped ? size - 1 - j : j);
            img[i * size + j] = bg[from];
            brain[i * size + j] = bsrc[from];
            if (bsrc[from] > 0)
                brain_sum += bg[from], brain_n++;
        }
    if (mask)
        memset(mask->data, 0, (size_t)n2 * sizeof(float));
    if (l.present && brain_n > 0) {
        double mean = brain_sum / (double)brain_n;
        for (int attempt = 0; attempt < 50; attempt++) {
            int64_t at = (int64_t)hg_rng_below(&r, (uint64_t)brain_n), seen = -1, p = 0;
            for (p = 0; p < n2; p++)
                if (brain[p] > 0 && ++seen == at)
                    break;
            l.cy = (float)(p / size) + (float)hg_rng_uniform(&r) - 0.5f;
            l.cx = (float)(p % size) + (float)hg_rng_uniform(&r) - 0.5f;
            l.ry = o->radius_min + (o->radius_max - o->radius_min) * (float)hg_rng_uniform(&r);
            l.rx = o->radius_min + (o->radius_max - o->radius_min) * (float)hg_rng_uniform(&r);
            l.angle = (float)(3.14159265358979 * hg_rng_uniform(&r));
            float c = o->contrast_min + (o->contrast_max - o->contrast_min) *
                                            (float)hg_rng_uniform(&r);
            l.contrast = hg_rng_uniform(&r) < 0.5 ? -c : c;
            l.area = draw_ellipse(&l, brain, size, o->edge, w, mask ? mask->data : NULL);
            /* most of the ellipse inside the brain (and at least one pixel) */
            if (l.area >= 1 && (double)l.area >= 0.5 * 3.14159265 * l.ry * l.rx)
                break;
        }
        if (l.area == 0) { /* no draw fitted (a sliver of brain): an honest negative */
            l = (hg_lesion_info){.slice = l.slice, .flipped = l.flipped};
            if (mask)
                memset(mask->data, 0, (size_t)n2 * sizeof(float));
        } else {
            for (int64_t i = 0; i < n2; i++)
                img[i] += l.contrast * (float)mean * w[i];
        }
    }
    free(brain);
    if (o->noise > 0) {
        hg_rng nr = hg_rng_split(&r, 1);
        for (int64_t i = 0; i < n2; i++)
            img[i] += o->noise * (float)hg_rng_normal(&nr);
    }
    if (info)
        *info = l;
    return HG_OK;
}

hg_status hg_lesion_batch(const hg_lesion_opts *o, const hg_lesion_source *src, bool test,
                          uint64_t seed, int64_t first, int64_t n, hg_ctx *ctx, hg_tensor **x,
                          hg_tensor **label, hg_tensor **mask)
{
    if (n < 1)
        return hg_error(HG_ERR_INVALID, "lesion batch: n must be >= 1, got %lld", (long long)n);
    int64_t size = src->slices->shape[1], n2 = size * size;
    hg_tensor *X = hg_tensor_new(ctx, HG_F32, 4, (const int64_t[]){n, 1, size, size});
    hg_tensor *L = label ? hg_tensor_new(ctx, HG_F32, 1, (const int64_t[]){n}) : NULL;
    hg_tensor *M = mask ? hg_tensor_new(ctx, HG_F32, 3, (const int64_t[]){n, size, size}) : NULL;
    hg_status s = !X || (label && !L) || (mask && !M) ? hg_error_status() : HG_OK;
    for (int64_t i = 0; i < n && s == HG_OK; i++) {
        hg_tensor xi = *X, mi = M ? *M : *X;
        xi.ndim = 2, xi.shape[0] = xi.shape[1] = size, xi.numel = n2;
        xi.data = X->data + i * n2;
        mi.ndim = 2, mi.shape[0] = mi.shape[1] = size, mi.numel = n2;
        mi.data = M ? M->data + i * n2 : NULL;
        hg_lesion_info info;
        s = hg_lesion_sample(o, src, test, seed, first + i, &xi, M ? &mi : NULL, &info);
        if (L)
            L->data[i] = info.present ? 1.0f : 0.0f;
    }
    if (s != HG_OK) {
        if (!ctx) /* heap tensors: nobody else will free them */
            hg_tensor_free(X), hg_tensor_free(L), hg_tensor_free(M);
        return s;
    }
    *x = X;
    if (label)
        *label = L;
    if (mask)
        *mask = M;
    return HG_OK;
}
