/* RLE Lossless (PS3.5 Annex G): a 64-byte header with up to 15 segment offsets, one PackBits
 * segment per byte plane (samples x bytes, most significant byte first). */
#include "dicom_internal.h"

#include <string.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Decodes one PackBits segment into every `stride`-th byte of out (npix bytes). */
static hg_status unpack(const char *name, const uint8_t *src, size_t n, uint8_t *out, size_t npix,
                        size_t stride, int seg)
{
    size_t i = 0, o = 0;
    while (o < npix && i < n) {
        int c = (int8_t)src[i++];
        if (c >= 0) {
            size_t run = (size_t)c + 1;
            if (run > n - i)
                return hg_error(HG_ERR_FORMAT, "%s: RLE segment %d: literal run of %zu bytes "
                                "overruns the segment", name, seg, run);
            for (size_t k = 0; k < run && o < npix; k++)
                out[(o++) * stride] = src[i + k];
            i += run;
        } else if (c != -128) {
            if (i >= n)
                return hg_error(HG_ERR_FORMAT, "%s: RLE segment %d: truncated repeat run", name,
                                seg);
            size_t run = (size_t)(1 - c);
            for (size_t k = 0; k < run && o < npix; k++)
                out[(o++) * stride] = src[i];
            i++;
        }
    }
    if (o < npix)
        return hg_error(HG_ERR_FORMAT, "%s: RLE segment %d decodes to %zu bytes, expected %zu",
                        name, seg, o, npix);
    return HG_OK;
}

hg_status dcm_rle_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out)
{
    if (n < 64)
        return hg_error(HG_ERR_FORMAT, "%s: RLE frame of %zu bytes is shorter than its 64-byte "
                        "header", d->name, n);
    uint32_t nseg = le32(src);
    uint32_t want = (uint32_t)(d->samples * d->bytes);
    if (nseg != want)
        return hg_error(HG_ERR_FORMAT, "%s: RLE frame has %u segments, %lld samples x %d bytes "
                        "need %u", d->name, nseg, (long long)d->samples, d->bytes, want);
    size_t npix = (size_t)(d->rows * d->cols), stride = (size_t)(d->samples * d->bytes);
    for (uint32_t s = 0; s < nseg; s++) {
        size_t start = le32(src + 4 + 4 * s);
        size_t end = s + 1 < nseg ? le32(src + 8 + 4 * s) : n;
        if (start < 64 || start > end || end > n)
            return hg_error(HG_ERR_FORMAT, "%s: RLE segment %u spans bytes %zu..%zu of a %zu-byte "
                            "frame", d->name, s, start, end, n);
        size_t sample = s / (uint32_t)d->bytes, byte = s % (uint32_t)d->bytes;
        /* Host (little-endian) position of this byte plane: MSB plane first in the stream. */
        size_t pos = sample * (size_t)d->bytes + ((size_t)d->bytes - 1 - byte);
        hg_status st = unpack(d->name, src + start, end - start, out + pos, npix, stride, (int)s);
        if (st)
            return st;
    }
    return HG_OK;
}
