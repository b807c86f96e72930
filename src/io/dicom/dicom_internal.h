/* Private to src/io/dicom: the parsed data set and the codec entry points. */
#ifndef HINGE_DICOM_INTERNAL_H
#define HINGE_DICOM_INTERNAL_H

#include "hinge/dicom.h"

#include <stddef.h>
#include <stdint.h>

#define DCM_UNDEF 0xFFFFFFFFu
#define DCM_MAX_DEPTH 16
#define DCM_TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))

enum {
    TAG_TRANSFER_SYNTAX = DCM_TAG(0x0002, 0x0010),
    TAG_ITEM = DCM_TAG(0xFFFE, 0xE000),
    TAG_ITEM_END = DCM_TAG(0xFFFE, 0xE00D),
    TAG_SEQ_END = DCM_TAG(0xFFFE, 0xE0DD),
    TAG_PIXEL_DATA = DCM_TAG(0x7FE0, 0x0010),
};

/* What a transfer syntax means for the parser and the pixel decoder. */
typedef enum dcm_codec {
    DCM_NATIVE, DCM_RLE, DCM_JPEG, DCM_JPEG_LOSSLESS, DCM_J2K, DCM_JLS, DCM_NONE
} dcm_codec;

typedef struct dcm_ts {
    const char *uid;
    const char *name;
    bool explicit_vr, big_endian, deflated;
    dcm_codec codec; /* DCM_NONE: refused */
} dcm_ts;

/* The transfer syntax of uid; an entry with codec DCM_NONE for unknown/unsupported ones
 * (name "unknown" when the UID is not in the table). */
const dcm_ts *dcm_ts_find(const char *uid);

typedef struct dcm_elem {
    uint32_t tag;
    char vr[3];
    uint32_t len;  /* value length (DCM_UNDEF for undefined-length sequences) */
    size_t off;    /* value offset in the buffer */
    int32_t depth; /* 0: top-level data set */
} dcm_elem;

struct hg_dicom_file {
    char name[256];
    uint8_t *buf; /* meta + data set (inflated for deflated syntaxes) */
    size_t size;
    bool big_endian;   /* the data set's byte order */
    char ts_uid[65];
    const dcm_ts *ts;
    dcm_elem *el;
    int32_t nel, cap;
    /* pixel data: native (pix_len bytes at pix_off) or encapsulated fragments */
    bool has_pixels, encapsulated;
    size_t pix_off, pix_len;
    size_t *frag_off, *frag_len;
    int32_t nfrag, frag_cap;
    size_t *bot;   /* basic offset table entries (offsets into the fragment stream) */
    int32_t nbot;
};

const dcm_elem *dcm_find(const hg_dicom_file *f, uint32_t tag);
/* The first element with this tag at any depth (functional groups of multi-frame objects). */
const dcm_elem *dcm_find_any(const hg_dicom_file *f, uint32_t tag);
/* Values of any element (also inside sequences): integers (US/SS/UL/SL/IS), DS/IS lists. */
bool dcm_elem_int(const hg_dicom_file *f, const dcm_elem *e, int64_t *value);
int dcm_elem_numbers(const hg_dicom_file *f, const dcm_elem *e, double *v, int n);

/* Codecs: decode one compressed frame (bytes) into out (rows*cols*samples values of `bytes`
 * each, interleaved, host order). Return HG_OK or an error naming the file. */
typedef struct dcm_frame_desc {
    const char *name;
    int64_t rows, cols, samples;
    int32_t bits_allocated, bits_stored, bytes;
    bool is_signed;
    const char *photometric;
} dcm_frame_desc;

hg_status dcm_rle_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out);
hg_status dcm_jpeg_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out);
hg_status dcm_j2k_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out);
hg_status dcm_jls_decode(const dcm_frame_desc *d, const uint8_t *src, size_t n, uint8_t *out);

#endif
