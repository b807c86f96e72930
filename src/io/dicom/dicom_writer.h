/* Private to src/io/dicom: a growing byte buffer and explicit VR LE element writers. */
#ifndef HINGE_DICOM_WRITER_H
#define HINGE_DICOM_WRITER_H

#include "dicom_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool failed;
} wbuf;

static inline void put(wbuf *b, const void *src, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void put16(wbuf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}

static inline void put32(wbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

/* One explicit VR LE element; the value is padded to even length (UI with NUL, text with
 * space, binary with 0). */
static inline void elem(wbuf *b, uint32_t tag, const char *vr, const void *v, size_t n)
{
    bool lng = !strcmp(vr, "OB") || !strcmp(vr, "OW") || !strcmp(vr, "SQ") || !strcmp(vr, "UN");
    size_t padded = n + (n & 1);
    put16(b, (uint16_t)(tag >> 16));
    put16(b, (uint16_t)tag);
    put(b, vr, 2);
    if (lng) {
        put16(b, 0);
        put32(b, (uint32_t)padded);
    } else {
        put16(b, (uint16_t)padded);
    }
    put(b, v, n);
    if (n & 1) {
        uint8_t pad = (!strcmp(vr, "UI") || !strcmp(vr, "OB")) ? 0 : ' ';
        put(b, &pad, 1);
    }
}

static inline void str(wbuf *b, uint32_t tag, const char *vr, const char *s)
{
    elem(b, tag, vr, s, strlen(s));
}

static inline void us(wbuf *b, uint32_t tag, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    elem(b, tag, "US", x, 2);
}

/* A DS value in at most 16 characters. */
static inline void ds_fmt(char *out, double v)
{
    if (fabs(v) < 1e-9)
        v = 0;
    for (int digits = 10; digits > 2; digits--) {
        snprintf(out, 17, "%.*g", digits, v);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*g", digits, v);
        if (strlen(tmp) <= 16)
            return;
    }
}

static inline void ds_list(wbuf *b, uint32_t tag, const double *v, int n)
{
    char s[17 * 8] = "";
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        char one[17];
        ds_fmt(one, v[i]);
        k += (size_t)snprintf(s + k, sizeof s - k, "%s%s", i ? "\\" : "", one);
    }
    str(b, tag, "DS", s);
}

/* "2.25." + a random 128-bit integer in decimal (PS3.5 B.2). */
static inline hg_status new_uid(char out[65])
{
    unsigned __int128 x = 0;
    FILE *fp = fopen("/dev/urandom", "rb");
    uint8_t r[16];
    bool ok = fp && fread(r, 1, 16, fp) == 16;
    if (fp)
        fclose(fp);
    if (!ok)
        return hg_error(HG_ERR_IO, "cannot read /dev/urandom for a DICOM UID");
    for (int i = 0; i < 16; i++)
        x = x << 8 | r[i];
    char digits[48];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(x % 10));
        x /= 10;
    } while (x);
    int k = snprintf(out, 65, "2.25.");
    while (n)
        out[k++] = digits[--n];
    out[k] = 0;
    return HG_OK;
}

/* Sequences and items of undefined length (delimited), so nesting needs no back-patching. */
static inline void sq_open(wbuf *b, uint32_t tag)
{
    put16(b, (uint16_t)(tag >> 16));
    put16(b, (uint16_t)tag);
    put(b, "SQ", 2);
    put16(b, 0);
    put32(b, DCM_UNDEF);
}

static inline void item_open(wbuf *b)
{
    put16(b, 0xFFFE), put16(b, 0xE000), put32(b, DCM_UNDEF);
}

static inline void item_close(wbuf *b)
{
    put16(b, 0xFFFE), put16(b, 0xE00D), put32(b, 0);
}

static inline void sq_close(wbuf *b)
{
    put16(b, 0xFFFE), put16(b, 0xE0DD), put32(b, 0);
}

/* A code sequence with one item (CodeValue, CodingSchemeDesignator, CodeMeaning). */
static inline void code_seq(wbuf *b, uint32_t tag, const char *value, const char *scheme,
                            const char *meaning)
{
    sq_open(b, tag);
    item_open(b);
    str(b, DCM_TAG(0x0008, 0x0100), "SH", value);
    str(b, DCM_TAG(0x0008, 0x0102), "SH", scheme);
    str(b, DCM_TAG(0x0008, 0x0104), "LO", meaning);
    item_close(b);
    sq_close(b);
}

/* Preamble, file meta group (explicit VR LE) and the data set, written atomically. */
hg_status dcm_write_part10(const char *path, const char *sop_class, const char *sop,
                           const wbuf *ds);

#endif
