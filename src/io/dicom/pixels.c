/* Pixel data: the image pixel module's description, native (uncompressed) values and the
 * split of encapsulated pixel data into frames handed to the codecs. */
#include "dicom_internal.h"

#include <stdlib.h>
#include <string.h>

/* Compressed frames may expand at most this much (bounded allocations for hostile headers:
 * RLE expands at most 64x; JPEG/J2K of flat images more, hence the floor). */
#define DCM_MAX_RATIO 512
#define DCM_MIN_CAP ((size_t)64 << 20)
#define DCM_MAX_PIXELS_BYTES ((size_t)4 << 30)

void hg_dicom_pixels_free(hg_dicom_pixels *p)
{
    if (p) {
        free(p->data);
        p->data = NULL;
    }
}

static hg_status describe(const hg_dicom_file *f, hg_dicom_pixels *p, int32_t *planar)
{
    int64_t rows = 0, cols = 0, spp = 1, ba = 0, bs = 0, rep = 0, pc = 0;
    if (!f->has_pixels)
        return hg_error(HG_ERR_FORMAT, "%s: no pixel data (7FE0,0010)", f->name);
    if (!hg_dicom_file_int(f, DCM_TAG(0x0028, 0x0010), &rows) ||
        !hg_dicom_file_int(f, DCM_TAG(0x0028, 0x0011), &cols) ||
        !hg_dicom_file_int(f, DCM_TAG(0x0028, 0x0100), &ba))
        return hg_error(HG_ERR_FORMAT, "%s: pixel data without Rows, Columns or BitsAllocated",
                        f->name);
    hg_dicom_file_int(f, DCM_TAG(0x0028, 0x0002), &spp);
    if (!hg_dicom_file_int(f, DCM_TAG(0x0028, 0x0101), &bs))
        bs = ba;
    hg_dicom_file_int(f, DCM_TAG(0x0028, 0x0103), &rep);
    hg_dicom_file_int(f, DCM_TAG(0x0028, 0x0006), &pc);
    char s[32] = "1";
    int64_t frames = 1;
    if (hg_dicom_file_string(f, DCM_TAG(0x0028, 0x0008), s, sizeof s) && s[0]) {
        char *e;
        long long v = strtoll(s, &e, 10);
        if (e == s || *e || v < 1 || v > (1 << 24))
            return hg_error(HG_ERR_FORMAT, "%s: NumberOfFrames '%s' is not in 1..%d", f->name, s,
                            1 << 24);
        frames = v;
    }
    if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535)
        return hg_error(HG_ERR_FORMAT, "%s: Rows x Columns %lld x %lld out of 1..65535", f->name,
                        (long long)rows, (long long)cols);
    if (spp != 1 && spp != 3)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: SamplesPerPixel %lld (expected 1 or 3)", f->name,
                        (long long)spp);
    if (ba != 1 && ba != 8 && ba != 16 && ba != 32)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: BitsAllocated %lld (supported: 1, 8, 16, 32)",
                        f->name, (long long)ba);
    if (bs < 1 || bs > ba)
        return hg_error(HG_ERR_FORMAT, "%s: BitsStored %lld not in 1..BitsAllocated %lld",
                        f->name, (long long)bs, (long long)ba);
    memset(p, 0, sizeof *p);
    p->frames = frames, p->rows = rows, p->cols = cols, p->samples = spp;
    p->bits_allocated = (int32_t)ba, p->bits_stored = (int32_t)bs, p->bytes = ba == 1 ? 1 : (int32_t)ba / 8;
    p->is_signed = rep == 1;
    hg_dicom_file_string(f, DCM_TAG(0x0028, 0x0004), p->photometric, sizeof p->photometric);
    double v;
    /* Top level, else the (shared) Pixel Value Transformation of enhanced multi-frame files. */
    const dcm_elem *es = dcm_find_any(f, DCM_TAG(0x0028, 0x1053));
    const dcm_elem *ei = dcm_find_any(f, DCM_TAG(0x0028, 0x1052));
    p->slope = dcm_elem_numbers(f, es, &v, 1) == 1 && v != 0 ? v : 1;
    p->intercept = dcm_elem_numbers(f, ei, &v, 1) == 1 ? v : 0;
    *planar = spp > 1 && pc == 1;
    return HG_OK;
}

static void swap_bytes(uint8_t *p, size_t n, int bytes)
{
    for (size_t i = 0; i + (size_t)bytes <= n; i += (size_t)bytes)
        for (int a = 0, b = bytes - 1; a < b; a++, b--) {
            uint8_t t = p[i + (size_t)a];
            p[i + (size_t)a] = p[i + (size_t)b], p[i + (size_t)b] = t;
        }
}

/* [samples][rows*cols] planes -> interleaved, per frame. */
static hg_status interleave(const hg_dicom_pixels *p, uint8_t *data, const char *name)
{
    size_t plane = (size_t)(p->rows * p->cols) * (size_t)p->bytes;
    size_t fsize = plane * (size_t)p->samples, bytes = (size_t)p->bytes;
    uint8_t *tmp = malloc(fsize);
    if (!tmp)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory", name);
    for (int64_t fr = 0; fr < p->frames; fr++) {
        uint8_t *d = data + (size_t)fr * fsize;
        memcpy(tmp, d, fsize);
        for (size_t i = 0; i < (size_t)(p->rows * p->cols); i++)
            for (size_t s = 0; s < (size_t)p->samples; s++)
                memcpy(d + (i * (size_t)p->samples + s) * bytes, tmp + s * plane + i * bytes,
                       bytes);
    }
    free(tmp);
    return HG_OK;
}

/* BitsAllocated 1 (segmentations, overlays): bits packed LSB first across frames -> 0/1. */
static hg_status native_bits(const hg_dicom_file *f, hg_dicom_pixels *p, size_t total)
{
    if (f->pix_len < (total + 7) / 8)
        return hg_error(HG_ERR_FORMAT, "%s: pixel data has %zu bytes, %zu one-bit values need "
                        "%zu", f->name, f->pix_len, total, (total + 7) / 8);
    uint8_t *d = malloc(total ? total : 1);
    if (!d)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory for %zu pixels", f->name, total);
    const uint8_t *src = f->buf + f->pix_off;
    for (size_t i = 0; i < total; i++)
        d[i] = (uint8_t)((src[i >> 3] >> (i & 7)) & 1);
    p->data = d;
    return HG_OK;
}

/* YBR_FULL_422 (8-bit): Y1 Y2 Cb Cr per pixel pair -> full YCbCr triplets, as pydicom. */
static hg_status native_ybr422(const hg_dicom_file *f, hg_dicom_pixels *p, size_t total)
{
    size_t stored = total / 3 * 2;
    if (p->bytes != 1 || p->cols % 2)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: YBR_FULL_422 needs 8-bit values and an even "
                        "number of columns (got %d bits, %lld columns)", f->name,
                        p->bits_allocated, (long long)p->cols);
    if (f->pix_len < stored)
        return hg_error(HG_ERR_FORMAT, "%s: pixel data has %zu bytes, YBR_FULL_422 needs %zu",
                        f->name, f->pix_len, stored);
    uint8_t *d = malloc(total);
    if (!d)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory for %zu bytes", f->name, total);
    const uint8_t *s = f->buf + f->pix_off;
    for (size_t i = 0; i < stored / 4; i++, s += 4) {
        uint8_t *o = d + 6 * i;
        o[0] = s[0], o[1] = s[2], o[2] = s[3], o[3] = s[1], o[4] = s[2], o[5] = s[3];
    }
    p->data = d;
    return HG_OK;
}

static hg_status native(const hg_dicom_file *f, hg_dicom_pixels *p, size_t total, int32_t planar)
{
    if (p->bits_allocated == 1)
        return native_bits(f, p, total);
    if (p->samples == 3 && !strcmp(p->photometric, "YBR_FULL_422"))
        return native_ybr422(f, p, total);
    if (f->pix_len < total)
        return hg_error(HG_ERR_FORMAT, "%s: pixel data has %zu bytes, %lld frame(s) of %lld x %lld "
                        "x %lld samples x %d bytes need %zu", f->name, f->pix_len,
                        (long long)p->frames, (long long)p->rows, (long long)p->cols,
                        (long long)p->samples, p->bytes, total);
    p->data = malloc(total);
    if (!p->data)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory for %zu bytes of pixels", f->name, total);
    memcpy(p->data, f->buf + f->pix_off, total);
    if (f->big_endian && p->bytes > 1)
        swap_bytes(p->data, total, p->bytes);
    return planar ? interleave(p, p->data, f->name) : HG_OK;
}

static bool frame_start(dcm_codec c, const uint8_t *b, size_t n)
{
    if (n < 4)
        return false;
    if (c == DCM_J2K)
        return (b[0] == 0xFF && b[1] == 0x4F) || (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 12);
    return b[0] == 0xFF && b[1] == 0xD8;
}

/* Fragment range [first[i], first[i+1]) of each frame. */
static hg_status split_frames(const hg_dicom_file *f, int64_t frames, int32_t *first)
{
    int32_t n = f->nfrag;
    if (n < 1)
        return hg_error(HG_ERR_FORMAT, "%s: encapsulated pixel data has no fragments", f->name);
    first[frames] = n;
    if (frames == 1) {
        first[0] = 0;
        return HG_OK;
    }
    if (n == frames) {
        for (int32_t i = 0; i < n; i++)
            first[i] = i;
        return HG_OK;
    }
    if (n < frames)
        return hg_error(HG_ERR_FORMAT, "%s: %d fragments for %lld frames", f->name, n,
                        (long long)frames);
    if (f->nbot == frames) { /* offsets of each frame's first item from the first item */
        int64_t k = 0;
        for (int32_t i = 0; i < n && k <= frames; i++) {
            size_t rel = f->frag_off[i] - 8 - (f->frag_off[0] - 8);
            if (k < frames && rel == f->bot[k])
                first[k++] = i;
        }
        if (k == frames && first[0] == 0)
            return HG_OK;
    }
    int64_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (frame_start(f->ts->codec, f->buf + f->frag_off[i], f->frag_len[i])) {
            if (k == frames)
                return hg_error(HG_ERR_FORMAT, "%s: more frame starts than NumberOfFrames %lld",
                                f->name, (long long)frames);
            first[k++] = i;
        }
    if (k != frames || first[0] != 0)
        return hg_error(HG_ERR_FORMAT, "%s: cannot split %d fragments into %lld frames",
                        f->name, n, (long long)frames);
    return HG_OK;
}

static hg_status encapsulated(const hg_dicom_file *f, hg_dicom_pixels *p, size_t total,
                              int32_t planar)
{
    const dcm_ts *ts = f->ts;
    if (p->bits_allocated == 1)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: encapsulated 1-bit pixel data", f->name);
    if (ts->codec == DCM_NATIVE)
        return hg_error(HG_ERR_FORMAT, "%s: encapsulated pixel data in the uncompressed transfer "
                        "syntax %s", f->name, f->ts_uid);
    size_t compressed = 0;
    for (int32_t i = 0; i < f->nfrag; i++)
        compressed += f->frag_len[i];
    size_t cap = compressed * DCM_MAX_RATIO;
    if (cap < DCM_MIN_CAP)
        cap = DCM_MIN_CAP;
    if (total > cap)
        return hg_error(HG_ERR_FORMAT, "%s: header promises %zu bytes of pixels from %zu "
                        "compressed bytes (more than %dx)", f->name, total, compressed,
                        DCM_MAX_RATIO);
    int32_t *first = malloc((size_t)(p->frames + 1) * sizeof *first);
    uint8_t *tmp = malloc(compressed ? compressed : 1);
    p->data = malloc(total);
    hg_status s = HG_OK;
    if (!first || !tmp || !p->data) {
        s = hg_error(HG_ERR_NOMEM, "%s: out of memory for %zu bytes of pixels", f->name, total);
        goto done;
    }
    if ((s = split_frames(f, p->frames, first)))
        goto done;
    dcm_frame_desc d = {f->name, p->rows, p->cols, p->samples, p->bits_allocated,
                        p->bits_stored, p->bytes, p->is_signed, p->photometric};
    size_t fsize = total / (size_t)p->frames;
    for (int64_t fr = 0; fr < p->frames && !s; fr++) {
        size_t n = 0;
        for (int32_t i = first[fr]; i < first[fr + 1]; i++) {
            memcpy(tmp + n, f->buf + f->frag_off[i], f->frag_len[i]);
            n += f->frag_len[i];
        }
        uint8_t *out = (uint8_t *)p->data + (size_t)fr * fsize;
        switch (ts->codec) {
        case DCM_RLE: s = dcm_rle_decode(&d, tmp, n, out); break;
        case DCM_JPEG: s = dcm_jpeg_decode(&d, tmp, n, out); break;
        case DCM_J2K: s = dcm_j2k_decode(&d, tmp, n, out); break;
        case DCM_JLS: s = dcm_jls_decode(&d, tmp, n, out); break;
        default:
            s = hg_error(HG_ERR_UNSUPPORTED, "%s: unsupported transfer syntax %s (%s)", f->name,
                         f->ts_uid, ts->name);
        }
    }
    (void)planar; /* codecs return interleaved samples (RLE is planar by definition) */
done:
    free(first);
    free(tmp);
    if (s) {
        free(p->data);
        p->data = NULL;
    }
    return s;
}

hg_status hg_dicom_file_pixels(const hg_dicom_file *f, hg_dicom_pixels *out)
{
    hg_dicom_pixels p;
    int32_t planar = 0;
    if (!f->has_pixels)
        return hg_error(HG_ERR_FORMAT, "%s: no pixel data (7FE0,0010)", f->name);
    if (f->ts->codec == DCM_NONE || f->ts->codec == DCM_JPEG_LOSSLESS)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: unsupported transfer syntax %s (%s)%s", f->name,
                        f->ts_uid, f->ts->name,
                        f->ts->codec == DCM_JPEG_LOSSLESS
                            ? ": JPEG lossless needs libjpeg-turbo >= 3.0 (this build has 2.1)"
                            : "");
    hg_status s = describe(f, &p, &planar);
    if (s)
        return s;
    size_t total = (size_t)(p.frames * p.rows * p.cols * p.samples) * (size_t)p.bytes;
    /* Native data is bounded by the file (checked in native()); decoded data by this cap. */
    if (f->encapsulated && total > DCM_MAX_PIXELS_BYTES)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: %zu bytes of pixels (limit %zu)", f->name, total,
                        DCM_MAX_PIXELS_BYTES);
    s = f->encapsulated ? encapsulated(f, &p, total, planar) : native(f, &p, total, planar);
    if (s)
        return s;
    *out = p;
    return HG_OK;
}
