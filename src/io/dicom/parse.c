/* DICOM Part 10 parsing: preamble, file meta group, data set (implicit/explicit VR, little/big
 * endian, deflated), sequences of any length encoding, encapsulated pixel data fragments.
 * Every read is checked against the end of the enclosing value; nothing is allocated by a
 * length field before that check. */
#include "dicom_internal.h"

#include "hinge/io.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DCM_MAX_FILE ((size_t)2 << 30)     /* 2 GiB */
#define DCM_MAX_INFLATED ((size_t)1 << 30) /* deflated data sets inflate to at most 1 GiB */

typedef struct cursor {
    hg_dicom_file *f;
    bool explicit_vr, big;
} cursor;

static uint16_t rd16(const uint8_t *p, bool big)
{
    return big ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t rd32(const uint8_t *p, bool big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* VRs whose explicit encoding has 2 reserved bytes and a 32-bit length. */
static bool long_vr(const char *vr)
{
    static const char *const l[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV",
                                    "UC", "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof l / sizeof *l; i++)
        if (vr[0] == l[i][0] && vr[1] == l[i][1])
            return true;
    return false;
}

static bool known_vr(const uint8_t *b)
{
    static const char all[] = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";
    for (size_t i = 0; i + 1 < sizeof all; i += 2)
        if (b[0] == (uint8_t)all[i] && b[1] == (uint8_t)all[i + 1])
            return true;
    return false;
}

static hg_status add_elem(hg_dicom_file *f, uint32_t tag, const char *vr, uint32_t len, size_t off,
                          int depth)
{
    if (f->nel == f->cap) {
        int32_t cap = f->cap ? 2 * f->cap : 64;
        dcm_elem *e = realloc(f->el, (size_t)cap * sizeof *e);
        if (!e)
            return hg_error(HG_ERR_NOMEM, "%s: out of memory for %d elements", f->name, cap);
        f->el = e, f->cap = cap;
    }
    dcm_elem *e = &f->el[f->nel++];
    e->tag = tag, e->len = len, e->off = off, e->depth = depth;
    memcpy(e->vr, vr, 2);
    e->vr[2] = 0;
    return HG_OK;
}

static hg_status add_frag(hg_dicom_file *f, size_t off, size_t len)
{
    if (f->nfrag == f->frag_cap) {
        int32_t cap = f->frag_cap ? 2 * f->frag_cap : 16;
        size_t *o = realloc(f->frag_off, (size_t)cap * sizeof *o);
        if (!o)
            return hg_error(HG_ERR_NOMEM, "%s: out of memory for fragments", f->name);
        f->frag_off = o;
        size_t *l = realloc(f->frag_len, (size_t)cap * sizeof *l);
        if (!l)
            return hg_error(HG_ERR_NOMEM, "%s: out of memory for fragments", f->name);
        f->frag_len = l, f->frag_cap = cap;
    }
    f->frag_off[f->nfrag] = off, f->frag_len[f->nfrag] = len, f->nfrag++;
    return HG_OK;
}

static hg_status parse_dataset(cursor *c, size_t *pos, size_t end, int depth, bool in_item);

/* Items of a sequence in [*pos, end) (end = value end, or buffer end when undefined). */
static hg_status parse_sequence(cursor *c, size_t *pos, size_t end, bool undefined, int depth)
{
    hg_dicom_file *f = c->f;
    if (depth > DCM_MAX_DEPTH)
        return hg_error(HG_ERR_FORMAT, "%s: sequences nested deeper than %d at offset %zu",
                        f->name, DCM_MAX_DEPTH, *pos);
    while (*pos < end) {
        if (end - *pos < 8)
            return hg_error(HG_ERR_FORMAT, "%s: truncated item header at offset %zu", f->name,
                            *pos);
        const uint8_t *p = f->buf + *pos;
        uint32_t tag = (uint32_t)rd16(p, c->big) << 16 | rd16(p + 2, c->big);
        uint32_t len = rd32(p + 4, c->big);
        *pos += 8;
        if (tag == TAG_SEQ_END) {
            if (undefined)
                return HG_OK;
            continue; /* tolerated inside a defined-length sequence */
        }
        if (tag != TAG_ITEM)
            return hg_error(HG_ERR_FORMAT,
                            "%s: expected an item tag (FFFE,E000) in a sequence at offset %zu, "
                            "got (%04X,%04X)", f->name, *pos - 8, tag >> 16, tag & 0xFFFF);
        if (len == DCM_UNDEF) {
            hg_status s = parse_dataset(c, pos, end, depth + 1, true);
            if (s)
                return s;
        } else {
            if (len > end - *pos)
                return hg_error(HG_ERR_FORMAT, "%s: item of %u bytes at offset %zu overruns its "
                                "sequence (%zu bytes left)", f->name, len, *pos, end - *pos);
            size_t item_end = *pos + len;
            hg_status s = parse_dataset(c, pos, item_end, depth + 1, false);
            if (s)
                return s;
            *pos = item_end;
        }
    }
    if (undefined)
        return hg_error(HG_ERR_FORMAT, "%s: sequence of undefined length has no delimiter",
                        f->name);
    return HG_OK;
}

/* Encapsulated pixel data: the basic offset table item, then one item per fragment. Nested
 * ones (an icon image inside a sequence) are only skipped (record false). */
static hg_status parse_fragments(cursor *c, size_t *pos, size_t end, bool record)
{
    hg_dicom_file *f = c->f;
    bool first = true;
    while (*pos < end) {
        if (end - *pos < 8)
            return hg_error(HG_ERR_FORMAT, "%s: truncated pixel data item at offset %zu",
                            f->name, *pos);
        const uint8_t *p = f->buf + *pos;
        uint32_t tag = (uint32_t)rd16(p, c->big) << 16 | rd16(p + 2, c->big);
        uint32_t len = rd32(p + 4, c->big);
        *pos += 8;
        if (tag == TAG_SEQ_END)
            return HG_OK;
        if (tag != TAG_ITEM)
            return hg_error(HG_ERR_FORMAT, "%s: expected a pixel data item at offset %zu, got "
                            "(%04X,%04X)", f->name, *pos - 8, tag >> 16, tag & 0xFFFF);
        if (len == DCM_UNDEF || len > end - *pos)
            return hg_error(HG_ERR_FORMAT, "%s: pixel data fragment of %u bytes at offset %zu "
                            "overruns the file (%zu bytes left)", f->name, len, *pos, end - *pos);
        if (!record) {
            /* skipped */
        } else if (first) {
            if (len % 4)
                return hg_error(HG_ERR_FORMAT, "%s: basic offset table length %u is not a "
                                "multiple of 4", f->name, len);
            f->nbot = (int32_t)(len / 4);
            if (f->nbot) {
                f->bot = malloc((size_t)f->nbot * sizeof *f->bot);
                if (!f->bot)
                    return hg_error(HG_ERR_NOMEM, "%s: out of memory", f->name);
                for (int32_t i = 0; i < f->nbot; i++)
                    f->bot[i] = rd32(f->buf + *pos + 4 * (size_t)i, c->big);
            }
            first = false;
        } else {
            hg_status s = add_frag(f, *pos, len);
            if (s)
                return s;
        }
        *pos += len;
    }
    return hg_error(HG_ERR_FORMAT, "%s: encapsulated pixel data has no sequence delimiter",
                    f->name);
}

static hg_status parse_dataset(cursor *c, size_t *pos, size_t end, int depth, bool in_item)
{
    hg_dicom_file *f = c->f;
    while (*pos < end) {
        size_t start = *pos;
        if (end - start < 8) {
            /* Trailing padding shorter than an element header is ignored at the top level. */
            if (depth == 0 && !in_item)
                return HG_OK;
            return hg_error(HG_ERR_FORMAT, "%s: truncated element header at offset %zu",
                            f->name, start);
        }
        const uint8_t *p = f->buf + start;
        uint32_t tag = (uint32_t)rd16(p, c->big) << 16 | rd16(p + 2, c->big);
        if (tag == TAG_ITEM_END) {
            *pos += 8;
            if (in_item)
                return HG_OK;
            continue; /* a stray delimiter in a defined-length item: skip */
        }
        if (tag == TAG_SEQ_END && depth == 0)
            return hg_error(HG_ERR_FORMAT, "%s: sequence delimiter outside a sequence at offset "
                            "%zu", f->name, start);
        char vr[3] = "UN";
        uint32_t len;
        size_t hdr;
        bool explicit_vr = c->explicit_vr && (tag >> 16) != 0xFFFE;
        if (explicit_vr) {
            vr[0] = (char)p[4], vr[1] = (char)p[5];
            if (!isupper((unsigned char)vr[0]) || !isupper((unsigned char)vr[1]))
                return hg_error(HG_ERR_FORMAT, "%s: invalid VR bytes 0x%02X 0x%02X for tag "
                                "(%04X,%04X) at offset %zu", f->name, p[4], p[5], tag >> 16,
                                tag & 0xFFFF, start);
            if (long_vr(vr)) {
                if (end - start < 12)
                    return hg_error(HG_ERR_FORMAT, "%s: truncated element header at offset %zu",
                                    f->name, start);
                len = rd32(p + 8, c->big), hdr = 12;
            } else {
                len = rd16(p + 6, c->big), hdr = 8;
            }
        } else {
            len = rd32(p + 4, c->big), hdr = 8;
            if (tag == TAG_PIXEL_DATA)
                memcpy(vr, "OW", 2);
        }
        *pos += hdr;
        bool is_seq = (vr[0] == 'S' && vr[1] == 'Q') ||
                      (len == DCM_UNDEF && tag != TAG_PIXEL_DATA);
        if (tag == TAG_PIXEL_DATA && len == DCM_UNDEF) {
            bool top = depth == 0;
            if (top && f->has_pixels)
                return hg_error(HG_ERR_FORMAT, "%s: second Pixel Data element at offset %zu",
                                f->name, start);
            hg_status s = add_elem(f, tag, vr, len, *pos, depth);
            if (!s)
                s = parse_fragments(c, pos, end, top);
            if (s)
                return s;
            if (top)
                f->has_pixels = f->encapsulated = true;
            continue;
        }
        if (is_seq) {
            hg_status s = add_elem(f, tag, "SQ", len, *pos, depth);
            if (s)
                return s;
            /* An undefined-length UN is an implicit VR LE sequence (PS3.5 6.2.2). */
            cursor sub = *c;
            if (!(vr[0] == 'S' && vr[1] == 'Q'))
                sub.explicit_vr = false, sub.big = false;
            if (len == DCM_UNDEF) {
                s = parse_sequence(&sub, pos, end, true, depth + 1);
            } else {
                if (len > end - *pos)
                    return hg_error(HG_ERR_FORMAT, "%s: sequence (%04X,%04X) of %u bytes at "
                                    "offset %zu overruns its container (%zu bytes left)",
                                    f->name, tag >> 16, tag & 0xFFFF, len, *pos, end - *pos);
                size_t seq_end = *pos + len;
                s = parse_sequence(&sub, pos, seq_end, false, depth + 1);
                *pos = seq_end;
            }
            if (s)
                return s;
            continue;
        }
        if (len > end - *pos)
            return hg_error(HG_ERR_FORMAT, "%s: element (%04X,%04X) %s of %u bytes at offset %zu "
                            "overruns the %s (%zu bytes left)", f->name, tag >> 16, tag & 0xFFFF,
                            vr, len, start, depth ? "item" : "file", end - *pos);
        hg_status s = add_elem(f, tag, vr, len, *pos, depth);
        if (s)
            return s;
        if (tag == TAG_PIXEL_DATA && depth == 0) {
            if (f->has_pixels)
                return hg_error(HG_ERR_FORMAT, "%s: second Pixel Data element at offset %zu",
                                f->name, start);
            f->has_pixels = true, f->pix_off = *pos, f->pix_len = len;
        }
        *pos += len;
    }
    if (in_item)
        return hg_error(HG_ERR_FORMAT, "%s: item of undefined length has no delimiter", f->name);
    return HG_OK;
}

const dcm_elem *dcm_find_any(const hg_dicom_file *f, uint32_t tag)
{
    for (int32_t i = 0; i < f->nel; i++)
        if (f->el[i].tag == tag)
            return &f->el[i];
    return NULL;
}

const dcm_elem *dcm_find(const hg_dicom_file *f, uint32_t tag)
{
    for (int32_t i = 0; i < f->nel; i++)
        if (f->el[i].depth == 0 && f->el[i].tag == tag)
            return &f->el[i];
    return NULL;
}

/* The file meta group (explicit VR LE, group 0002) starting at *pos; sets the syntax UID. */
static hg_status parse_meta(hg_dicom_file *f, size_t *pos)
{
    size_t end = *pos;
    /* The group is parsed element by element: its length element is often missing or wrong. */
    while (f->size - end >= 8 && rd16(f->buf + end, false) == 0x0002) {
        const uint8_t *h = f->buf + end;
        char vr[3] = {(char)h[4], (char)h[5], 0};
        size_t hdr = 8, len;
        if (!isupper((unsigned char)vr[0]) || !isupper((unsigned char)vr[1]))
            return hg_error(HG_ERR_FORMAT, "%s: invalid VR in the file meta group at offset %zu",
                            f->name, end);
        if (long_vr(vr)) {
            if (f->size - end < 12)
                return hg_error(HG_ERR_FORMAT, "%s: truncated file meta group", f->name);
            len = rd32(h + 8, false), hdr = 12;
        } else {
            len = rd16(h + 6, false);
        }
        if (len > f->size - end - hdr)
            return hg_error(HG_ERR_FORMAT, "%s: file meta element (0002,%04X) of %zu bytes "
                            "overruns the file", f->name, rd16(h + 2, false), len);
        hg_status s = add_elem(f, DCM_TAG(0x0002, rd16(h + 2, false)), vr, (uint32_t)len,
                               end + hdr, 0);
        if (s)
            return s;
        end += hdr + len;
    }
    *pos = end;
    return HG_OK;
}

static void copy_trimmed(const uint8_t *v, size_t len, char *out, size_t n)
{
    while (len && (v[len - 1] == ' ' || v[len - 1] == 0))
        len--;
    while (len && v[0] == ' ')
        v++, len--;
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = 0;
}

/* Raw deflate (RFC 1951, no zlib header) of the data set after the meta group. */
static hg_status inflate_dataset(hg_dicom_file *f, size_t start)
{
    size_t cap = (f->size - start) * 4 + 4096, n = 0;
    uint8_t *out = malloc(start + cap);
    if (!out)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory inflating", f->name);
    memcpy(out, f->buf, start);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK) {
        free(out);
        return hg_error(HG_ERR_NOMEM, "%s: inflateInit2 failed", f->name);
    }
    z.next_in = f->buf + start;
    z.avail_in = (uInt)(f->size - start);
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (n == cap) {
            if (cap >= DCM_MAX_INFLATED) {
                inflateEnd(&z);
                free(out);
                return hg_error(HG_ERR_FORMAT, "%s: deflated data set inflates to more than "
                                "%zu bytes", f->name, DCM_MAX_INFLATED);
            }
            cap *= 2;
            uint8_t *o = realloc(out, start + cap);
            if (!o) {
                inflateEnd(&z);
                free(out);
                return hg_error(HG_ERR_NOMEM, "%s: out of memory inflating", f->name);
            }
            out = o;
        }
        z.next_out = out + start + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        if (rc == Z_BUF_ERROR && z.avail_in == 0)
            break; /* truncated stream: keep what was inflated, the parser checks lengths */
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            inflateEnd(&z);
            free(out);
            return hg_error(HG_ERR_FORMAT, "%s: corrupt deflated data set (zlib: %s)", f->name,
                            z.msg ? z.msg : "error");
        }
    }
    inflateEnd(&z);
    free(f->buf);
    f->buf = out, f->size = start + n;
    return HG_OK;
}

/* Without a meta group: guess the encoding from the first element (group 0008 is typical). */
static const char *guess_syntax(const hg_dicom_file *f, size_t pos)
{
    if (f->size - pos < 8)
        return "1.2.840.10008.1.2";
    const uint8_t *p = f->buf + pos;
    bool vr = isupper(p[4]) && isupper(p[5]);
    if (vr && rd16(p, false) > 0x00FF && rd16(p, true) <= 0x00FF)
        return "1.2.840.10008.1.2.2";
    return vr ? "1.2.840.10008.1.2.1" : "1.2.840.10008.1.2";
}

static hg_dicom_file *parse_buffer(hg_dicom_file *f)
{
    size_t pos = 0;
    if (f->size >= 132 && !memcmp(f->buf + 128, "DICM", 4))
        pos = 132;
    hg_status s = parse_meta(f, &pos);
    if (s)
        goto fail;
    const dcm_elem *ts = dcm_find(f, TAG_TRANSFER_SYNTAX);
    if (ts)
        copy_trimmed(f->buf + ts->off, ts->len, f->ts_uid, sizeof f->ts_uid);
    else
        snprintf(f->ts_uid, sizeof f->ts_uid, "%s", guess_syntax(f, pos));
    if (pos == 0 && f->nel == 0 && f->size < 8) {
        s = hg_error(HG_ERR_FORMAT, "%s: %zu bytes is too short for a DICOM file", f->name,
                     f->size);
        goto fail;
    }
    f->ts = dcm_ts_find(f->ts_uid);
    if (!strcmp(f->ts->name, "unknown")) {
        s = hg_error(HG_ERR_UNSUPPORTED, "%s: unsupported transfer syntax %s (unknown)", f->name,
                     f->ts_uid);
        goto fail;
    }
    if (f->ts->deflated && (s = inflate_dataset(f, pos)))
        goto fail;
    f->big_endian = f->ts->big_endian;
    cursor c = {f, f->ts->explicit_vr, f->ts->big_endian};
    /* Some writers encode the data set in the other VR mode than the syntax says; the first
     * element tells (pydicom does the same). */
    if (f->size - pos >= 8 && c.explicit_vr != known_vr(f->buf + pos + 4))
        c.explicit_vr = !c.explicit_vr;
    if ((s = parse_dataset(&c, &pos, f->size, 0, false)))
        goto fail;
    if (f->nel == 0 || (pos == 0 && !dcm_find(f, TAG_TRANSFER_SYNTAX) && f->nel < 1)) {
        hg_error(HG_ERR_FORMAT, "%s: not a DICOM file (no elements)", f->name);
        goto fail;
    }
    return f;
fail:
    hg_dicom_file_close(f);
    return NULL;
}

hg_dicom_file *hg_dicom_file_parse(const void *bytes, size_t size, const char *name)
{
    hg_dicom_file *f = calloc(1, sizeof *f);
    if (!f) {
        hg_error(HG_ERR_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    f->buf = malloc(size ? size : 1);
    if (!f->buf) {
        free(f);
        hg_error(HG_ERR_NOMEM, "%s: out of memory for %zu bytes", name, size);
        return NULL;
    }
    if (size)
        memcpy(f->buf, bytes, size);
    f->size = size;
    return parse_buffer(f);
}

hg_dicom_file *hg_dicom_file_open(const char *path)
{
    unsigned char *data;
    size_t size;
    if (hg_read_file(path, DCM_MAX_FILE, &data, &size))
        return NULL;
    hg_dicom_file *f = calloc(1, sizeof *f);
    if (!f) {
        free(data);
        hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    snprintf(f->name, sizeof f->name, "%s", path);
    f->buf = data, f->size = size;
    return parse_buffer(f);
}

void hg_dicom_file_close(hg_dicom_file *f)
{
    if (!f)
        return;
    free(f->buf);
    free(f->el);
    free(f->frag_off);
    free(f->frag_len);
    free(f->bot);
    free(f);
}

const char *hg_dicom_file_transfer_syntax(const hg_dicom_file *f)
{
    return f->ts_uid;
}

bool hg_dicom_file_string(const hg_dicom_file *f, uint32_t tag, char *out, size_t n)
{
    const dcm_elem *e = dcm_find(f, tag);
    if (!e || e->len == DCM_UNDEF || n == 0)
        return false;
    copy_trimmed(f->buf + e->off, e->len, out, n);
    return true;
}

bool hg_dicom_file_int(const hg_dicom_file *f, uint32_t tag, int64_t *value)
{
    return dcm_elem_int(f, dcm_find(f, tag), value);
}

bool dcm_elem_int(const hg_dicom_file *f, const dcm_elem *e, int64_t *value)
{
    if (!e || e->len == DCM_UNDEF)
        return false;
    const uint8_t *p = f->buf + e->off;
    bool sign = e->vr[0] == 'S';
    if (e->len == 2) {
        uint16_t u = rd16(p, f->big_endian);
        *value = sign ? (int64_t)(int16_t)u : (int64_t)u;
        return true;
    }
    if (e->len >= 4 && (e->vr[0] == 'U' || e->vr[0] == 'S') && e->vr[1] == 'L') {
        uint32_t u = rd32(p, f->big_endian);
        *value = sign ? (int64_t)(int32_t)u : (int64_t)u;
        return true;
    }
    if (e->len == 4 && !strcmp(e->vr, "UN")) { /* implicit VR: UL/SL by length */
        *value = rd32(p, f->big_endian);
        return true;
    }
    if (e->len >= 2 && e->len % 2 == 0 && (e->vr[0] == 'U' || e->vr[0] == 'S') &&
        e->vr[1] == 'S') { /* multi-valued US: first value */
        uint16_t u = rd16(p, f->big_endian);
        *value = sign ? (int64_t)(int16_t)u : (int64_t)u;
        return true;
    }
    char s[32];
    if ((!strcmp(e->vr, "IS") || !strcmp(e->vr, "DS")) && e->len < sizeof s) {
        copy_trimmed(f->buf + e->off, e->len, s, sizeof s);
        char *endp;
        long long v = strtoll(s, &endp, 10);
        if (endp != s) {
            *value = v;
            return true;
        }
    }
    return false;
}

int hg_dicom_file_numbers(const hg_dicom_file *f, uint32_t tag, double *v, int n)
{
    return dcm_elem_numbers(f, dcm_find(f, tag), v, n);
}

int dcm_elem_numbers(const hg_dicom_file *f, const dcm_elem *e, double *v, int n)
{
    if (!e || e->len == DCM_UNDEF || e->len == 0 || e->len > 65536)
        return 0;
    char buf[65537];
    copy_trimmed(f->buf + e->off, e->len, buf, sizeof buf);
    int k = 0;
    char *s = buf;
    while (k < n && *s) {
        char *endp;
        double x = strtod(s, &endp);
        if (endp == s)
            return 0;
        v[k++] = x;
        while (*endp == ' ')
            endp++;
        if (*endp == '\\')
            endp++;
        else if (*endp)
            return 0;
        s = endp;
    }
    return k;
}
