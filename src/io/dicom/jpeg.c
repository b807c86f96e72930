/* JPEG baseline / extended (8-bit) frames through libjpeg-turbo. libjpeg's default colour
 * conversion applies (YCbCr -> RGB for 3-component images, as Pillow/pydicom do). 12-bit
 * JPEG is refused: Debian's libjpeg-turbo 2.1 is built for 8-bit samples only. */
#include "dicom_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <string.h>

typedef struct err_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} err_mgr;

static void on_error(j_common_ptr cinfo)
{
    err_mgr *e = (err_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
    (void)cinfo, (void)level; /* warnings (e.g. premature end) are not printed */
}

hg_status dcm_jpeg_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out)
{
    struct jpeg_decompress_struct cinfo;
    err_mgr err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    err.msg[0] = 0;
    volatile hg_status s = HG_OK;
    if (setjmp(err.jump)) {
        int code = err.pub.msg_code, prec = err.pub.msg_parm.i[0];
        jpeg_destroy_decompress(&cinfo);
        if (code == JERR_BAD_PRECISION)
            return hg_error(HG_ERR_UNSUPPORTED, "%s: %d-bit JPEG is not supported (libjpeg-turbo "
                            "2.1 decodes 8-bit samples only)", d->name, prec);
        return hg_error(HG_ERR_FORMAT, "%s: JPEG frame: %s", d->name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, src, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.data_precision != 8) {
        s = hg_error(HG_ERR_UNSUPPORTED, "%s: %d-bit JPEG is not supported (libjpeg-turbo 2.1 "
                     "decodes 8-bit samples only)", d->name, cinfo.data_precision);
    } else if ((int64_t)cinfo.image_width != d->cols || (int64_t)cinfo.image_height != d->rows ||
               cinfo.num_components != d->samples || d->bytes != 1) {
        s = hg_error(HG_ERR_FORMAT, "%s: JPEG frame is %ux%u with %d components, the header "
                     "says %lldx%lld with %lld samples of %d bits", d->name, cinfo.image_width,
                     cinfo.image_height, cinfo.num_components, (long long)d->cols,
                     (long long)d->rows, (long long)d->samples, d->bits_allocated);
    }
    if (s) {
        jpeg_destroy_decompress(&cinfo);
        return s;
    }
    /* The photometric interpretation describes the decoded values: YBR_* data stays YCbCr,
     * and RGB data without an Adobe marker was stored untransformed (pydicom does the same). */
    if (d->samples == 3 && d->photometric &&
        (strstr(d->photometric, "YBR") || (!strcmp(d->photometric, "RGB") &&
                                           !cinfo.saw_Adobe_marker)))
        cinfo.out_color_space = cinfo.jpeg_color_space;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)(d->cols * d->samples);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return HG_OK;
}
