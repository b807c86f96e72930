/* DICOM Segmentation (BINARY) writing and reading; see include/hinge/dicom.h. */
#include "dicom_internal.h"
#include "dicom_writer.h"

#include <cJSON.h>
#include <time.h>

#define SEG_SOP_CLASS "1.2.840.10008.5.1.4.1.1.66.4"

static const char *meta_str(const hg_image *img, const char *key)
{
    const char *s = hg_image_meta_string(img, key);
    return s && strlen(s) <= 64 ? s : NULL;
}

/* Geometry of the source in LPS: unit row/column directions, spacings, slice origins. */
typedef struct seg_geom {
    double iop[6], origin[3], step[3], dx, dy, dz;
} seg_geom;

static hg_status source_geometry(const hg_image *src, seg_geom *g)
{
    double a[4][4];
    hg_image_affine(src, a);
    double l[3][4];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            l[r][c] = r < 2 ? -a[r][c] : a[r][c];
    g->dx = sqrt(l[0][0] * l[0][0] + l[1][0] * l[1][0] + l[2][0] * l[2][0]);
    g->dy = sqrt(l[0][1] * l[0][1] + l[1][1] * l[1][1] + l[2][1] * l[2][1]);
    g->dz = sqrt(l[0][2] * l[0][2] + l[1][2] * l[1][2] + l[2][2] * l[2][2]);
    if (!(g->dx > 0 && g->dy > 0 && g->dz > 0))
        return hg_error(HG_ERR_INVALID, "hg_dicom_write_seg: source affine has a zero column");
    for (int r = 0; r < 3; r++) {
        g->iop[r] = l[r][0] / g->dx, g->iop[3 + r] = l[r][1] / g->dy;
        g->origin[r] = l[r][3], g->step[r] = l[r][2];
    }
    return HG_OK;
}

static void today(char date[9], char tim[7])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, 9, "%Y%m%d", &tm);
    strftime(tim, 7, "%H%M%S", &tm);
}

static void at(wbuf *b, uint32_t tag, uint32_t value)
{
    uint8_t v[4] = {(uint8_t)(value >> 16), (uint8_t)(value >> 24), (uint8_t)value,
                    (uint8_t)(value >> 8)};
    elem(b, tag, "AT", v, 4);
}

static void ul2(wbuf *b, uint32_t tag, uint32_t x, uint32_t y)
{
    uint8_t v[8] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24),
                    (uint8_t)y, (uint8_t)(y >> 8), (uint8_t)(y >> 16), (uint8_t)(y >> 24)};
    elem(b, tag, "UL", v, 8);
}

hg_status hg_dicom_write_seg(const char *path, const hg_tensor *labels, const hg_image *source,
                             const hg_dicom_seg_opts *opts)
{
    hg_dicom_seg_opts o = {0};
    if (opts)
        o = *opts;
    const hg_tensor *st = source ? source->data : NULL;
    if (!labels || !st || labels->dtype != HG_F32 || labels->ndim != 3 || st->ndim != 3 ||
        labels->shape[0] != st->shape[0] || labels->shape[1] != st->shape[1] ||
        labels->shape[2] != st->shape[2])
        return hg_error(HG_ERR_INVALID, "hg_dicom_write_seg %s: labels %s must be float32 "
                        "[nz, ny, nx] like the source image", path,
                        labels ? hg_tensor_label(labels) : "(null)");
    int64_t nz = st->shape[0], ny = st->shape[1], nx = st->shape[2];
    if (ny > 65535 || nx > 65535)
        return hg_error(HG_ERR_INVALID, "hg_dicom_write_seg %s: %lld x %lld pixels", path,
                        (long long)nx, (long long)ny);
    int nseg = 0;
    for (int64_t i = 0; i < labels->numel; i++) {
        float v = labels->data[i];
        if (!(v >= 0 && v <= 255) || v != rintf(v))
            return hg_error(HG_ERR_INVALID, "hg_dicom_write_seg %s: label %g at index %lld of %s "
                            "is not an integer in 0..255", path, (double)v, (long long)i,
                            hg_tensor_label(labels));
        nseg = (int)v > nseg ? (int)v : nseg;
    }
    if (nseg == 0)
        return hg_error(HG_ERR_INVALID, "hg_dicom_write_seg %s: %s has no foreground label", path,
                        hg_tensor_label(labels));
    seg_geom g;
    hg_status s = source_geometry(source, &g);
    if (s)
        return s;
    const char *study = meta_str(source, "StudyInstanceUID");
    const char *ref_series = meta_str(source, "SeriesInstanceUID");
    const char *ref_class = meta_str(source, "SOPClassUID");
    const char *for_uid = meta_str(source, "FrameOfReferenceUID");
    const cJSON *sops = source->sidecar ? cJSON_GetObjectItem(source->sidecar, "SOPInstanceUIDs")
                                        : NULL;
    bool per_slice = ref_class && cJSON_GetArraySize(sops) == nz;
    char sop[65], series[65], new_study[65], new_for[65], dim_uid[65], date[9], tim[7];
    if ((s = new_uid(sop)) || (s = new_uid(series)) || (s = new_uid(new_study)) ||
        (s = new_uid(new_for)) || (s = new_uid(dim_uid)))
        return s;
    today(date, tim);
    int64_t frames = (int64_t)nseg * nz;
    size_t npix = (size_t)(ny * nx), nbits = (size_t)frames * npix;
    wbuf b = {0};
    char num[32];
    str(&b, DCM_TAG(0x0008, 0x0008), "CS", "DERIVED\\PRIMARY");
    str(&b, DCM_TAG(0x0008, 0x0016), "UI", SEG_SOP_CLASS);
    str(&b, DCM_TAG(0x0008, 0x0018), "UI", sop);
    str(&b, DCM_TAG(0x0008, 0x0020), "DA", "");
    str(&b, DCM_TAG(0x0008, 0x0023), "DA", date);
    str(&b, DCM_TAG(0x0008, 0x0030), "TM", "");
    str(&b, DCM_TAG(0x0008, 0x0033), "TM", tim);
    str(&b, DCM_TAG(0x0008, 0x0050), "SH", "");
    str(&b, DCM_TAG(0x0008, 0x0060), "CS", "SEG");
    str(&b, DCM_TAG(0x0008, 0x0070), "LO", "hinge");
    str(&b, DCM_TAG(0x0008, 0x0090), "PN", "");
    str(&b, DCM_TAG(0x0008, 0x103E), "LO",
        o.series_description ? o.series_description : "hinge segmentation");
    str(&b, DCM_TAG(0x0008, 0x1090), "LO", "hinge");
    if (ref_series) {
        sq_open(&b, DCM_TAG(0x0008, 0x1115)); /* ReferencedSeriesSequence */
        item_open(&b);
        if (per_slice) {
            sq_open(&b, DCM_TAG(0x0008, 0x114A)); /* ReferencedInstanceSequence */
            for (int64_t k = 0; k < nz; k++) {
                item_open(&b);
                str(&b, DCM_TAG(0x0008, 0x1150), "UI", ref_class);
                str(&b, DCM_TAG(0x0008, 0x1155), "UI",
                    cJSON_GetArrayItem(sops, (int)k)->valuestring);
                item_close(&b);
            }
            sq_close(&b);
        }
        str(&b, DCM_TAG(0x0020, 0x000E), "UI", ref_series);
        item_close(&b);
        sq_close(&b);
    }
    str(&b, DCM_TAG(0x0010, 0x0010), "PN", o.patient_name ? o.patient_name : "");
    str(&b, DCM_TAG(0x0010, 0x0020), "LO", o.patient_id ? o.patient_id : "");
    str(&b, DCM_TAG(0x0010, 0x0030), "DA", "");
    str(&b, DCM_TAG(0x0010, 0x0040), "CS", "");
    str(&b, DCM_TAG(0x0018, 0x1000), "LO", "0");
    str(&b, DCM_TAG(0x0018, 0x1020), "LO", "hinge");
    str(&b, DCM_TAG(0x0020, 0x000D), "UI", study ? study : new_study);
    str(&b, DCM_TAG(0x0020, 0x000E), "UI", series);
    str(&b, DCM_TAG(0x0020, 0x0010), "SH", "");
    snprintf(num, sizeof num, "%d", o.series_number);
    str(&b, DCM_TAG(0x0020, 0x0011), "IS", num);
    str(&b, DCM_TAG(0x0020, 0x0013), "IS", "1");
    str(&b, DCM_TAG(0x0020, 0x0052), "UI", for_uid ? for_uid : new_for);
    str(&b, DCM_TAG(0x0020, 0x1040), "LO", "");
    sq_open(&b, DCM_TAG(0x0020, 0x9221)); /* DimensionOrganizationSequence */
    item_open(&b);
    str(&b, DCM_TAG(0x0020, 0x9164), "UI", dim_uid);
    item_close(&b);
    sq_close(&b);
    sq_open(&b, DCM_TAG(0x0020, 0x9222)); /* DimensionIndexSequence: segment, then position */
    item_open(&b);
    str(&b, DCM_TAG(0x0020, 0x9164), "UI", dim_uid);
    at(&b, DCM_TAG(0x0020, 0x9165), DCM_TAG(0x0062, 0x000B));
    at(&b, DCM_TAG(0x0020, 0x9167), DCM_TAG(0x0062, 0x000A));
    item_close(&b);
    item_open(&b);
    str(&b, DCM_TAG(0x0020, 0x9164), "UI", dim_uid);
    at(&b, DCM_TAG(0x0020, 0x9165), DCM_TAG(0x0020, 0x0032));
    at(&b, DCM_TAG(0x0020, 0x9167), DCM_TAG(0x0020, 0x9113));
    item_close(&b);
    sq_close(&b);
    us(&b, DCM_TAG(0x0028, 0x0002), 1);
    str(&b, DCM_TAG(0x0028, 0x0004), "CS", "MONOCHROME2");
    snprintf(num, sizeof num, "%lld", (long long)frames);
    str(&b, DCM_TAG(0x0028, 0x0008), "IS", num);
    us(&b, DCM_TAG(0x0028, 0x0010), (uint16_t)ny);
    us(&b, DCM_TAG(0x0028, 0x0011), (uint16_t)nx);
    us(&b, DCM_TAG(0x0028, 0x0100), 1);
    us(&b, DCM_TAG(0x0028, 0x0101), 1);
    us(&b, DCM_TAG(0x0028, 0x0102), 0);
    us(&b, DCM_TAG(0x0028, 0x0103), 0);
    str(&b, DCM_TAG(0x0028, 0x2110), "CS", "00");
    str(&b, DCM_TAG(0x0062, 0x0001), "CS", "BINARY");
    sq_open(&b, DCM_TAG(0x0062, 0x0002)); /* SegmentSequence */
    for (int sgi = 1; sgi <= nseg; sgi++) {
        char label[64];
        if (sgi <= o.nsegment_labels && o.segment_labels && o.segment_labels[sgi - 1])
            snprintf(label, sizeof label, "%s", o.segment_labels[sgi - 1]);
        else
            snprintf(label, sizeof label, "segment %d", sgi);
        item_open(&b);
        code_seq(&b, DCM_TAG(0x0062, 0x0003), "85756007", "SCT", "Tissue");
        us(&b, DCM_TAG(0x0062, 0x0004), (uint16_t)sgi);
        str(&b, DCM_TAG(0x0062, 0x0005), "LO", label);
        str(&b, DCM_TAG(0x0062, 0x0008), "CS", "AUTOMATIC");
        str(&b, DCM_TAG(0x0062, 0x0009), "LO", "hinge");
        code_seq(&b, DCM_TAG(0x0062, 0x000F), "85756007", "SCT", "Tissue");
        item_close(&b);
    }
    sq_close(&b);
    str(&b, DCM_TAG(0x0070, 0x0080), "CS", "HINGE_SEG");
    str(&b, DCM_TAG(0x0070, 0x0081), "LO", "segmentation by hinge");
    str(&b, DCM_TAG(0x0070, 0x0084), "PN", "");
    sq_open(&b, DCM_TAG(0x5200, 0x9229)); /* SharedFunctionalGroupsSequence */
    item_open(&b);
    sq_open(&b, DCM_TAG(0x0020, 0x9116)); /* PlaneOrientationSequence */
    item_open(&b);
    ds_list(&b, DCM_TAG(0x0020, 0x0037), g.iop, 6);
    item_close(&b);
    sq_close(&b);
    sq_open(&b, DCM_TAG(0x0028, 0x9110)); /* PixelMeasuresSequence */
    item_open(&b);
    ds_list(&b, DCM_TAG(0x0018, 0x0050), &g.dz, 1);
    ds_list(&b, DCM_TAG(0x0018, 0x0088), &g.dz, 1);
    double ps[2] = {g.dy, g.dx};
    ds_list(&b, DCM_TAG(0x0028, 0x0030), ps, 2);
    item_close(&b);
    sq_close(&b);
    item_close(&b);
    sq_close(&b);
    sq_open(&b, DCM_TAG(0x5200, 0x9230)); /* PerFrameFunctionalGroupsSequence */
    for (int sgi = 1; sgi <= nseg; sgi++)
        for (int64_t k = 0; k < nz; k++) {
            item_open(&b);
            if (per_slice) {
                sq_open(&b, DCM_TAG(0x0008, 0x9124)); /* DerivationImageSequence */
                item_open(&b);
                sq_open(&b, DCM_TAG(0x0008, 0x2112)); /* SourceImageSequence */
                item_open(&b);
                str(&b, DCM_TAG(0x0008, 0x1150), "UI", ref_class);
                str(&b, DCM_TAG(0x0008, 0x1155), "UI",
                    cJSON_GetArrayItem(sops, (int)k)->valuestring);
                code_seq(&b, DCM_TAG(0x0040, 0xA170), "121322", "DCM",
                         "Source image for image processing operation");
                item_close(&b);
                sq_close(&b);
                code_seq(&b, DCM_TAG(0x0008, 0x9215), "113076", "DCM", "Segmentation");
                item_close(&b);
                sq_close(&b);
            }
            sq_open(&b, DCM_TAG(0x0020, 0x9111)); /* FrameContentSequence */
            item_open(&b);
            ul2(&b, DCM_TAG(0x0020, 0x9157), (uint32_t)sgi, (uint32_t)k + 1);
            item_close(&b);
            sq_close(&b);
            sq_open(&b, DCM_TAG(0x0020, 0x9113)); /* PlanePositionSequence */
            item_open(&b);
            double ipp[3];
            for (int r = 0; r < 3; r++)
                ipp[r] = g.origin[r] + (double)k * g.step[r];
            ds_list(&b, DCM_TAG(0x0020, 0x0032), ipp, 3);
            item_close(&b);
            sq_close(&b);
            sq_open(&b, DCM_TAG(0x0062, 0x000A)); /* SegmentIdentificationSequence */
            item_open(&b);
            us(&b, DCM_TAG(0x0062, 0x000B), (uint16_t)sgi);
            item_close(&b);
            sq_close(&b);
            item_close(&b);
        }
    sq_close(&b);
    /* Pixel data: frames back to back, one bit per pixel, LSB first, padded to even bytes. */
    size_t nbytes = (nbits + 7) / 8;
    uint8_t *bits = calloc(nbytes + 1, 1);
    if (!bits) {
        free(b.p);
        return hg_error(HG_ERR_NOMEM, "%s: out of memory for %zu bytes of pixels", path, nbytes);
    }
    size_t bit = 0;
    for (int sgi = 1; sgi <= nseg; sgi++)
        for (size_t i = 0; i < (size_t)labels->numel; i++, bit++)
            if ((int)labels->data[i] == sgi)
                bits[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    elem(&b, TAG_PIXEL_DATA, "OB", bits, nbytes);
    free(bits);
    s = dcm_write_part10(path, SEG_SOP_CLASS, sop, &b);
    free(b.p);
    return s;
}

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct seg_frame {
    double pos, ipp[3];
    int64_t seg;
} seg_frame;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

hg_status hg_dicom_read_seg(const char *path, hg_image *labels)
{
    hg_dicom_file *f = hg_dicom_file_open(path);
    if (!f)
        return hg_error_status();
    hg_dicom_pixels px = {0};
    seg_frame *fr = NULL;
    double *pos = NULL;
    hg_tensor *t = NULL;
    hg_image out;
    hg_image_init(&out);
    char cls[65] = "", type[17] = "";
    hg_status s = HG_OK;
    hg_dicom_file_string(f, DCM_TAG(0x0008, 0x0016), cls, sizeof cls);
    hg_dicom_file_string(f, DCM_TAG(0x0062, 0x0001), type, sizeof type);
    if (strcmp(cls, SEG_SOP_CLASS)) {
        s = hg_error(HG_ERR_FORMAT, "%s: SOPClassUID %s is not Segmentation Storage (%s)", path,
                     cls, SEG_SOP_CLASS);
        goto done;
    }
    if (strcmp(type, "BINARY")) {
        s = hg_error(HG_ERR_UNSUPPORTED, "%s: SegmentationType '%s' (only BINARY is read)", path,
                     type);
        goto done;
    }
    if ((s = hg_dicom_file_pixels(f, &px)))
        goto done;
    int64_t nf = px.frames;
    fr = calloc((size_t)nf, sizeof *fr);
    if (!fr) {
        s = hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    /* Per-frame values in frame order: every nested ImagePositionPatient and
     * ReferencedSegmentNumber belongs to the next frame item. */
    int64_t npos = 0, nseg = 0;
    for (int32_t i = 0; i < f->nel; i++) {
        const dcm_elem *e = &f->el[i];
        if (e->depth == 0)
            continue;
        if (e->tag == DCM_TAG(0x0020, 0x0032) && npos < nf)
            npos += dcm_elem_numbers(f, e, fr[npos].ipp, 3) == 3;
        else if (e->tag == DCM_TAG(0x0062, 0x000B) && nseg < nf)
            nseg += dcm_elem_int(f, e, &fr[nseg].seg);
    }
    double iop[6], ps[2], thick = 1;
    const dcm_elem *eo = dcm_find_any(f, DCM_TAG(0x0020, 0x0037));
    const dcm_elem *ep = dcm_find_any(f, DCM_TAG(0x0028, 0x0030));
    if (npos != nf || nseg != nf || dcm_elem_numbers(f, eo, iop, 6) != 6 ||
        dcm_elem_numbers(f, ep, ps, 2) != 2) {
        s = hg_error(HG_ERR_UNSUPPORTED, "%s: %lld frames but %lld plane positions and %lld "
                     "segment numbers (or no orientation/spacing)", path, (long long)nf,
                     (long long)npos, (long long)nseg);
        goto done;
    }
    dcm_elem_numbers(f, dcm_find_any(f, DCM_TAG(0x0018, 0x0050)), &thick, 1);
    double nrm[3] = {iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5],
                     iop[0] * iop[4] - iop[1] * iop[3]};
    pos = malloc((size_t)nf * sizeof *pos);
    if (!pos) {
        s = hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int64_t i = 0; i < nf; i++)
        pos[i] = fr[i].pos = nrm[0] * fr[i].ipp[0] + nrm[1] * fr[i].ipp[1] + nrm[2] * fr[i].ipp[2];
    qsort(pos, (size_t)nf, sizeof *pos, cmp_double);
    int64_t nz = 0;
    for (int64_t i = 0; i < nf; i++)
        if (nz == 0 || pos[i] - pos[nz - 1] > 1e-3)
            pos[nz++] = pos[i];
    int64_t shape[3] = {nz, px.rows, px.cols};
    if (!(t = hg_tensor_new(NULL, HG_F32, 3, shape))) {
        s = hg_error_status();
        goto done;
    }
    size_t plane = (size_t)(px.rows * px.cols);
    double first[3] = {0}, last[3] = {0};
    for (int64_t i = 0; i < nf; i++) {
        int64_t k = 0;
        while (k < nz - 1 && fabs(pos[k] - fr[i].pos) > 1e-3)
            k++;
        if (k == 0)
            memcpy(first, fr[i].ipp, sizeof first);
        if (k == nz - 1)
            memcpy(last, fr[i].ipp, sizeof last);
        const uint8_t *src = (const uint8_t *)px.data + (size_t)i * plane;
        float *dst = t->data + (size_t)k * plane;
        for (size_t p = 0; p < plane; p++)
            if (src[p] && (float)fr[i].seg > dst[p])
                dst[p] = (float)fr[i].seg;
    }
    double step[3];
    for (int r = 0; r < 3; r++)
        step[r] = nz > 1 ? (last[r] - first[r]) / (double)(nz - 1) : nrm[r] * thick;
    double lps[4][4] = {{0}};
    for (int r = 0; r < 3; r++) {
        lps[r][0] = iop[r] * ps[1];
        lps[r][1] = iop[3 + r] * ps[0];
        lps[r][2] = step[r];
        lps[r][3] = first[r];
    }
    lps[3][3] = 1;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            out.sform[r][c] = out.qform[r][c] = (r < 2 ? -lps[r][c] : lps[r][c]) + 0.0;
    out.qform_code = out.sform_code = HG_XFORM_SCANNER;
    out.spacing[0] = ps[1], out.spacing[1] = ps[0];
    out.spacing[2] = sqrt(step[0] * step[0] + step[1] * step[1] + step[2] * step[2]);
    out.intent_code = 1002; /* NIfTI label map */
    snprintf(out.format, sizeof out.format, "dicom");
    out.datatype = HG_DT_UINT8;
    out.data = t, t = NULL;
    char uid[65];
    if (hg_dicom_file_string(f, DCM_TAG(0x0020, 0x000E), uid, sizeof uid))
        s = hg_image_meta_set_string(&out, "SeriesInstanceUID", uid);
    if (!s)
        s = hg_image_meta_set_string(&out, "Modality", "SEG");
    if (s)
        goto done;
    hg_image_free(labels);
    *labels = out;
    hg_image_init(&out);
done:
    hg_image_free(&out);
    hg_tensor_free(t);
    free(pos);
    free(fr);
    hg_dicom_pixels_free(&px);
    hg_dicom_file_close(f);
    return s;
}
