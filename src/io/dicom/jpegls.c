/* JPEG-LS frames (lossless and near-lossless) through CharLS's C API. */
#include "dicom_internal.h"

#include <charls/charls.h>
#include <stdlib.h>
#include <string.h>

hg_status dcm_jls_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out)
{
    charls_jpegls_decoder *dec = charls_jpegls_decoder_create();
    if (!dec)
        return hg_error(HG_ERR_NOMEM, "%s: cannot create a JPEG-LS decoder", d->name);
    hg_status s = HG_OK;
    charls_frame_info fi;
    charls_interleave_mode mode = CHARLS_INTERLEAVE_MODE_NONE;
    size_t size = 0;
    charls_jpegls_errc e = charls_jpegls_decoder_set_source_buffer(dec, src, n);
    if (!e)
        e = charls_jpegls_decoder_read_header(dec);
    if (!e)
        e = charls_jpegls_decoder_get_frame_info(dec, &fi);
    if (!e)
        e = charls_jpegls_decoder_get_interleave_mode(dec, &mode);
    if (e) {
        s = hg_error(HG_ERR_FORMAT, "%s: JPEG-LS header: %s", d->name, charls_get_error_message(e));
        goto done;
    }
    int bytes = fi.bits_per_sample <= 8 ? 1 : 2;
    if ((int64_t)fi.width != d->cols || (int64_t)fi.height != d->rows ||
        (int64_t)fi.component_count != d->samples || bytes != d->bytes) {
        s = hg_error(HG_ERR_FORMAT, "%s: JPEG-LS frame is %ux%u with %d components of %d bits, "
                     "the header says %lldx%lld with %lld samples of %d bits", d->name, fi.width,
                     fi.height, fi.component_count, fi.bits_per_sample, (long long)d->cols,
                     (long long)d->rows, (long long)d->samples, d->bits_allocated);
        goto done;
    }
    size = (size_t)(d->rows * d->cols * d->samples) * (size_t)d->bytes;
    if (mode == CHARLS_INTERLEAVE_MODE_NONE && d->samples > 1) {
        /* Planes come out one after another: decode aside, then interleave. */
        uint8_t *tmp = malloc(size);
        if (!tmp) {
            s = hg_error(HG_ERR_NOMEM, "%s: out of memory", d->name);
            goto done;
        }
        e = charls_jpegls_decoder_decode_to_buffer(dec, tmp, size, 0);
        size_t plane = (size_t)(d->rows * d->cols), b = (size_t)d->bytes;
        for (size_t i = 0; !e && i < plane; i++)
            for (size_t c = 0; c < (size_t)d->samples; c++)
                memcpy(out + (i * (size_t)d->samples + c) * b, tmp + (c * plane + i) * b, b);
        free(tmp);
    } else {
        e = charls_jpegls_decoder_decode_to_buffer(dec, out, size, 0);
    }
    if (e)
        s = hg_error(HG_ERR_FORMAT, "%s: JPEG-LS frame: %s", d->name, charls_get_error_message(e));
done:
    charls_jpegls_decoder_destroy(dec);
    return s;
}
