/* JPEG 2000 frames (raw codestream or JP2) through OpenJPEG, from a memory stream. */
#include "dicom_internal.h"

#include <openjpeg.h>
#include <string.h>

typedef struct mem_stream {
    const uint8_t *p;
    size_t n, pos;
} mem_stream;

static OPJ_SIZE_T mem_read(void *buf, OPJ_SIZE_T n, void *user)
{
    mem_stream *m = user;
    if (m->pos >= m->n)
        return (OPJ_SIZE_T)-1;
    size_t k = m->n - m->pos < n ? m->n - m->pos : n;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user)
{
    mem_stream *m = user;
    if (n < 0)
        n = -(OPJ_OFF_T)m->pos < n ? n : -(OPJ_OFF_T)m->pos;
    else if ((size_t)n > m->n - m->pos)
        n = (OPJ_OFF_T)(m->n - m->pos);
    m->pos = (size_t)((OPJ_OFF_T)m->pos + n);
    return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T n, void *user)
{
    mem_stream *m = user;
    if (n < 0 || (size_t)n > m->n)
        return OPJ_FALSE;
    m->pos = (size_t)n;
    return OPJ_TRUE;
}

static void quiet(const char *msg, void *user)
{
    (void)msg, (void)user;
}

hg_status dcm_j2k_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out)
{
    if (n < 4)
        return hg_error(HG_ERR_FORMAT, "%s: JPEG 2000 frame of %zu bytes", d->name, n);
    bool jp2 = !(src[0] == 0xFF && src[1] == 0x4F);
    opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    mem_stream m = {src, n, 0};
    opj_stream_t *st = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_image_t *img = NULL;
    hg_status s = HG_OK;
    if (!codec || !st) {
        s = hg_error(HG_ERR_NOMEM, "%s: cannot create a JPEG 2000 decoder", d->name);
        goto done;
    }
    opj_set_info_handler(codec, quiet, NULL);
    opj_set_warning_handler(codec, quiet, NULL);
    opj_set_error_handler(codec, quiet, NULL);
    opj_stream_set_user_data(st, &m, NULL);
    opj_stream_set_user_data_length(st, n);
    opj_stream_set_read_function(st, mem_read);
    opj_stream_set_skip_function(st, mem_skip);
    opj_stream_set_seek_function(st, mem_seek);
    opj_dparameters_t par;
    opj_set_default_decoder_parameters(&par);
    if (!opj_setup_decoder(codec, &par) || !opj_read_header(st, codec, &img)) {
        s = hg_error(HG_ERR_FORMAT, "%s: invalid JPEG 2000 header", d->name);
        goto done;
    }
    /* Check the size before decoding: a hostile header must not drive the allocation. */
    if (img->numcomps != (OPJ_UINT32)d->samples || img->x1 - img->x0 != (OPJ_UINT32)d->cols ||
        img->y1 - img->y0 != (OPJ_UINT32)d->rows) {
        s = hg_error(HG_ERR_FORMAT, "%s: JPEG 2000 frame is %ux%u with %u components, the header "
                     "says %lldx%lld with %lld samples", d->name, img->x1 - img->x0,
                     img->y1 - img->y0, img->numcomps, (long long)d->cols, (long long)d->rows,
                     (long long)d->samples);
        goto done;
    }
    if (!opj_decode(codec, st, img) || !opj_end_decompress(codec, st)) {
        s = hg_error(HG_ERR_FORMAT, "%s: corrupt JPEG 2000 frame", d->name);
        goto done;
    }
    size_t npix = (size_t)(d->rows * d->cols);
    for (int64_t c = 0; c < d->samples; c++) {
        opj_image_comp_t *comp = &img->comps[c];
        if (comp->w != (OPJ_UINT32)d->cols || comp->h != (OPJ_UINT32)d->rows || !comp->data ||
            comp->prec > 32) {
            s = hg_error(HG_ERR_UNSUPPORTED, "%s: JPEG 2000 component %lld is %ux%u (subsampled "
                         "components are not supported)", d->name, (long long)c, comp->w, comp->h);
            goto done;
        }
        /* Unsigned J2K data in a signed (PixelRepresentation 1) image is the two's complement
         * of prec bits (the correction pydicom and GDCM apply). */
        bool extend = !comp->sgnd && d->is_signed && comp->prec >= 1 && comp->prec < 32;
        uint32_t sign = extend ? 1u << (comp->prec - 1) : 0;
        for (size_t i = 0; i < npix; i++) {
            int32_t v = comp->data[i];
            if (extend)
                v = (int32_t)(((uint32_t)v ^ sign) - sign);
            uint8_t *o = out + (i * (size_t)d->samples + (size_t)c) * (size_t)d->bytes;
            if (d->bytes == 1) {
                o[0] = (uint8_t)v;
            } else if (d->bytes == 2) {
                uint16_t u = (uint16_t)v;
                memcpy(o, &u, 2);
            } else {
                uint32_t u = (uint32_t)v;
                memcpy(o, &u, 4);
            }
        }
    }
done:
    if (img)
        opj_image_destroy(img);
    if (st)
        opj_stream_destroy(st);
    if (codec)
        opj_destroy_codec(codec);
    return s;
}
