/* IDX files (the MNIST family): big-endian magic 0x0000 0x08 <ndim>, dims, then uint8 data.
 * Read through zlib's gzread, which also reads uncompressed files transparently. */
#include "hinge/data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((int64_t)1 << 32)

static hg_status read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r <= 0) {
            int err;
            const char *msg = gzerror(f, &err);
            return hg_error(HG_ERR_FORMAT, "%s: truncated %s (%zu of %zu bytes)%s%s", path, what,
                            got, n, err ? ": " : "", err ? msg : "");
        }
        got += (size_t)r;
    }
    return HG_OK;
}

/* Reads an IDX uint8 file with the expected rank; returns the dims and the data (malloc). */
static hg_status read_idx(const char *path, int want_ndim, int64_t *dims, uint8_t **data)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return hg_error(HG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[4];
    hg_status s = read_exact(f, path, head, 4, "header");
    if (s == HG_OK && (head[0] || head[1] || head[2] != 0x08 || head[3] != want_ndim))
        s = hg_error(HG_ERR_FORMAT,
                     "%s: expected an IDX uint8 file of rank %d (magic 00 00 08 %02x), got %02x "
                     "%02x %02x %02x",
                     path, want_ndim, want_ndim, head[0], head[1], head[2], head[3]);
    int64_t total = 1;
    for (int i = 0; s == HG_OK && i < want_ndim; i++) {
        unsigned char b[4];
        s = read_exact(f, path, b, 4, "dimensions");
        if (s != HG_OK)
            break;
        dims[i] = ((int64_t)b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
        if (dims[i] <= 0 || dims[i] > IDX_MAX_BYTES / total)
            s = hg_error(HG_ERR_FORMAT, "%s: dimension %d is %lld (invalid or too large)", path,
                         i, (long long)dims[i]);
        else
            total *= dims[i];
    }
    if (s == HG_OK) {
        /* The buffer grows with the data actually read (16 MiB at a time), so a header that
         * declares more than the file holds fails as truncated without a huge allocation. */
        size_t cap = 0, got = 0, want = (size_t)total;
        uint8_t *buf = NULL;
        while (s == HG_OK && got < want) {
            size_t chunk = want - got < ((size_t)16 << 20) ? want - got : ((size_t)16 << 20);
            if (got + chunk > cap) {
                uint8_t *nb = realloc(buf, got + chunk);
                if (!nb) {
                    s = hg_error(HG_ERR_NOMEM, "%s: out of memory at %zu bytes", path, got + chunk);
                    break;
                }
                buf = nb;
                cap = got + chunk;
            }
            s = read_exact(f, path, buf + got, chunk, "data");
            got += chunk;
        }
        if (s == HG_OK)
            *data = buf;
        else
            free(buf);
    }
    gzclose(f);
    return s;
}

hg_status hg_idx_load(const char *images_path, const char *labels_path, hg_labelled_images *out)
{
    memset(out, 0, sizeof *out);
    int64_t idims[3], ldims[1];
    uint8_t *img = NULL, *lab = NULL;
    hg_status s = read_idx(images_path, 3, idims, &img);
    if (s == HG_OK)
        s = read_idx(labels_path, 1, ldims, &lab);
    if (s == HG_OK && ldims[0] != idims[0])
        s = hg_error(HG_ERR_FORMAT, "%s: %lld labels, but %s holds %lld images", labels_path,
                     (long long)ldims[0], images_path, (long long)idims[0]);
    if (s == HG_OK) {
        out->images = hg_tensor_empty(NULL, HG_F32, 4,
                                      (const int64_t[]){idims[0], 1, idims[1], idims[2]});
        out->labels = hg_tensor_empty(NULL, HG_F32, 1, ldims);
        if (!out->images || !out->labels)
            s = HG_ERR_NOMEM;
    }
    if (s == HG_OK) {
        for (int64_t i = 0; i < out->images->numel; i++)
            out->images->data[i] = (float)img[i] / 255.0f;
        int maxlab = 0;
        for (int64_t i = 0; i < ldims[0]; i++) {
            out->labels->data[i] = (float)lab[i];
            if (lab[i] > maxlab)
                maxlab = lab[i];
        }
        out->classes = maxlab + 1;
    }
    free(img);
    free(lab);
    if (s != HG_OK)
        hg_labelled_images_free(out);
    return s;
}

void hg_labelled_images_free(hg_labelled_images *d)
{
    hg_tensor_free(d->images);
    hg_tensor_free(d->labels);
    memset(d, 0, sizeof *d);
}

hg_status hg_labelled_images_batch(const hg_labelled_images *d, const int64_t *idx, int64_t n,
                                   hg_ctx *ctx, hg_tensor **x, hg_tensor **y)
{
    const hg_tensor *im = d->images;
    int64_t per = im->numel / im->shape[0];
    *x = hg_tensor_empty(ctx, HG_F32, 4,
                         (const int64_t[]){n, im->shape[1], im->shape[2], im->shape[3]});
    *y = hg_tensor_empty(ctx, HG_F32, 1, (const int64_t[]){n});
    if (!*x || !*y)
        return hg_error_status();
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= im->shape[0])
            return hg_error(HG_ERR_INVALID, "batch: sample index %lld outside [0, %lld)",
                            (long long)idx[i], (long long)im->shape[0]);
        memcpy((*x)->data + i * per, im->data + idx[i] * per, (size_t)per * sizeof(float));
        (*y)->data[i] = d->labels->data[idx[i]];
    }
    return HG_OK;
}
