/* Writing: a volume (label map, HU image) as a series of Secondary Capture files with full
 * patient geometry, explicit VR little endian, 16-bit signed. */
#include "dicom_internal.h"
#include "dicom_writer.h"

#include "hinge/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SC_SOP_CLASS "1.2.840.10008.5.1.4.1.1.7"
#define EXPLICIT_LE "1.2.840.10008.1.2.1"
#define IMPL_UID "2.25.255412981367093214755630298745917386012"

hg_status dcm_write_part10(const char *path, const char *sop_class, const char *sop,
                           const wbuf *ds)
{
    wbuf meta = {0}, rest = {0};
    uint8_t ver[2] = {0, 1};
    elem(&rest, DCM_TAG(2, 1), "OB", ver, 2);
    str(&rest, DCM_TAG(2, 2), "UI", sop_class);
    str(&rest, DCM_TAG(2, 3), "UI", sop);
    str(&rest, DCM_TAG(2, 0x10), "UI", EXPLICIT_LE);
    str(&rest, DCM_TAG(2, 0x12), "UI", IMPL_UID);
    str(&rest, DCM_TAG(2, 0x13), "SH", "HINGE");
    uint8_t pre[132] = {0};
    memcpy(pre + 128, "DICM", 4);
    put(&meta, pre, sizeof pre);
    uint8_t gl[4] = {(uint8_t)rest.n, (uint8_t)(rest.n >> 8), (uint8_t)(rest.n >> 16),
                     (uint8_t)(rest.n >> 24)};
    elem(&meta, DCM_TAG(2, 0), "UL", gl, 4);
    put(&meta, rest.p, rest.n);
    free(rest.p);
    hg_status s = HG_OK;
    hg_atomic_file af;
    if (meta.failed || rest.failed || ds->failed)
        s = hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    else if (!(s = hg_atomic_open(&af, path))) {
        if (fwrite(meta.p, 1, meta.n, af.fp) != meta.n || fwrite(ds->p, 1, ds->n, af.fp) != ds->n) {
            hg_atomic_abort(&af);
            s = hg_error(HG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        } else {
            s = hg_atomic_commit(&af);
        }
    }
    free(meta.p);
    return s;
}

typedef struct slice_geom {
    double iop[6], ipp0[3], step[3], dx, dy;
} slice_geom;

static hg_status plan_geometry(const hg_image *img, slice_geom *g)
{
    double a[4][4];
    hg_image_affine(img, a);
    double lps[3][4];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            lps[r][c] = r < 2 ? -a[r][c] : a[r][c];
    g->dx = sqrt(lps[0][0] * lps[0][0] + lps[1][0] * lps[1][0] + lps[2][0] * lps[2][0]);
    g->dy = sqrt(lps[0][1] * lps[0][1] + lps[1][1] * lps[1][1] + lps[2][1] * lps[2][1]);
    if (!(g->dx > 0) || !(g->dy > 0))
        return hg_error(HG_ERR_INVALID, "image affine has a zero column (dx %g, dy %g)", g->dx,
                        g->dy);
    for (int r = 0; r < 3; r++) {
        g->iop[r] = lps[r][0] / g->dx;
        g->iop[3 + r] = lps[r][1] / g->dy;
        g->ipp0[r] = lps[r][3];
        g->step[r] = lps[r][2];
    }
    return HG_OK;
}

static hg_status write_slice(const char *path, const hg_image *img, const slice_geom *g,
                             int64_t k, const char *uids[5], const hg_dicom_write_opts *o,
                             const float *values, int64_t ny, int64_t nx)
{
    char sop[65];
    hg_status s = new_uid(sop);
    if (s)
        return s;
    wbuf ds = {0};
    char num[32];
    str(&ds, DCM_TAG(0x0008, 0x0016), "UI", SC_SOP_CLASS);
    str(&ds, DCM_TAG(0x0008, 0x0018), "UI", sop);
    str(&ds, DCM_TAG(0x0008, 0x0060), "CS", o->modality ? o->modality : "OT");
    str(&ds, DCM_TAG(0x0008, 0x0064), "CS", "WSD");
    str(&ds, DCM_TAG(0x0008, 0x103E), "LO", o->series_description ? o->series_description : "");
    if (uids[3]) {
        /* ReferencedSeriesSequence: one item naming the source series. */
        wbuf item = {0};
        str(&item, DCM_TAG(0x0020, 0x000E), "UI", uids[3]);
        wbuf seq = {0};
        put16(&seq, 0xFFFE), put16(&seq, 0xE000), put32(&seq, (uint32_t)item.n);
        put(&seq, item.p, item.n);
        elem(&ds, DCM_TAG(0x0008, 0x1115), "SQ", seq.p, seq.n);
        bool bad = item.failed || seq.failed;
        free(item.p);
        free(seq.p);
        if (bad)
            ds.failed = true;
    }
    str(&ds, DCM_TAG(0x0010, 0x0010), "PN", "");
    str(&ds, DCM_TAG(0x0010, 0x0020), "LO", "");
    str(&ds, DCM_TAG(0x0020, 0x000D), "UI", uids[1]);
    str(&ds, DCM_TAG(0x0020, 0x000E), "UI", uids[0]);
    snprintf(num, sizeof num, "%d", o->series_number);
    str(&ds, DCM_TAG(0x0020, 0x0011), "IS", num);
    snprintf(num, sizeof num, "%lld", (long long)k + 1);
    str(&ds, DCM_TAG(0x0020, 0x0013), "IS", num);
    double ipp[3];
    for (int r = 0; r < 3; r++)
        ipp[r] = g->ipp0[r] + (double)k * g->step[r];
    ds_list(&ds, DCM_TAG(0x0020, 0x0032), ipp, 3);
    ds_list(&ds, DCM_TAG(0x0020, 0x0037), g->iop, 6);
    str(&ds, DCM_TAG(0x0020, 0x0052), "UI", uids[2]);
    us(&ds, DCM_TAG(0x0028, 0x0002), 1);
    str(&ds, DCM_TAG(0x0028, 0x0004), "CS", "MONOCHROME2");
    us(&ds, DCM_TAG(0x0028, 0x0010), (uint16_t)ny);
    us(&ds, DCM_TAG(0x0028, 0x0011), (uint16_t)nx);
    double ps[2] = {g->dy, g->dx};
    ds_list(&ds, DCM_TAG(0x0028, 0x0030), ps, 2);
    us(&ds, DCM_TAG(0x0028, 0x0100), 16);
    us(&ds, DCM_TAG(0x0028, 0x0101), 16);
    us(&ds, DCM_TAG(0x0028, 0x0102), 15);
    us(&ds, DCM_TAG(0x0028, 0x0103), 1);
    str(&ds, DCM_TAG(0x0028, 0x1052), "DS", "0");
    str(&ds, DCM_TAG(0x0028, 0x1053), "DS", "1");
    size_t npix = (size_t)(ny * nx);
    uint8_t *pix = malloc(2 * npix);
    if (!pix) {
        s = hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < npix; i++) {
        int16_t v = (int16_t)lrintf(values[i]);
        pix[2 * i] = (uint8_t)v, pix[2 * i + 1] = (uint8_t)((uint16_t)v >> 8);
    }
    elem(&ds, TAG_PIXEL_DATA, "OW", pix, 2 * npix);
    free(pix);
    s = dcm_write_part10(path, SC_SOP_CLASS, sop, &ds);
done:
    (void)img;
    free(ds.p);
    return s;
}

hg_status hg_dicom_write_series(const char *dir, const hg_image *img,
                                const hg_dicom_write_opts *opts)
{
    hg_dicom_write_opts o = {0};
    if (opts)
        o = *opts;
    const hg_tensor *t = img ? img->data : NULL;
    if (!t || t->dtype != HG_F32 || t->ndim < 2 || t->ndim > 3)
        return hg_error(HG_ERR_INVALID, "hg_dicom_write_series %s: expected a 2-D or 3-D float32 "
                        "image, got %d dims", dir, t ? t->ndim : 0);
    int64_t nz = t->ndim == 3 ? t->shape[0] : 1, ny = t->shape[t->ndim - 2],
            nx = t->shape[t->ndim - 1];
    if (ny > 65535 || nx > 65535)
        return hg_error(HG_ERR_INVALID, "hg_dicom_write_series %s: %lld x %lld pixels, at most "
                        "65535 per side", dir, (long long)nx, (long long)ny);
    for (int64_t i = 0; i < t->numel; i++) {
        float v = t->data[i];
        if (!(v >= -32768.0f && v <= 32767.0f) || v != rintf(v))
            return hg_error(HG_ERR_INVALID, "hg_dicom_write_series %s: value %g at index %lld of "
                            "%s is not an integer in the int16 range", dir, (double)v,
                            (long long)i, hg_tensor_label(t));
    }
    slice_geom g;
    hg_status s = plan_geometry(img, &g);
    if (s)
        return s;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hg_error(HG_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    char series[65], study[65], frame[65];
    if ((s = new_uid(series)) || (s = new_uid(study)) || (s = new_uid(frame)))
        return s;
    const char *uids[5] = {o.series_uid ? o.series_uid : series,
                           o.study_uid ? o.study_uid : study, frame, o.ref_series_uid, NULL};
    for (int i = 0; i < 2; i++)
        if (strlen(uids[i]) > 64)
            return hg_error(HG_ERR_INVALID, "hg_dicom_write_series: UID '%s' longer than 64",
                            uids[i]);
    size_t len = strlen(dir) + 32;
    char *path = malloc(len);
    if (!path)
        return hg_error(HG_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < nz && !s; k++) {
        snprintf(path, len, "%s/slice_%04lld.dcm", dir, (long long)k);
        s = write_slice(path, img, &g, k, uids, &o, t->data + k * ny * nx, ny, nx);
    }
    free(path);
    return s;
}
