/* NIfTI-1 / NIfTI-2 reading and writing.
 *
 * Reading: we first parse the raw header bytes ourselves and validate every field that sizes
 * an allocation or an access (dims, datatype/bitpix, vox_offset, the data size against the
 * file size), so a hostile header is refused with a message before nifti_clib or we allocate
 * anything it describes. nifti_clib then decodes the header into a nifti_image (qform from
 * the quaternion, sform, units, codes); the voxel data is streamed through zlib (which reads
 * plain and gzipped files alike) in fixed-size chunks, byte-swapped and converted to float32
 * with the scaling applied, straight into the output tensor.
 *
 * Writing: nifti_clib builds the header from a nifti_image (nifti_convert_nim2n{1,2}hdr); we
 * write header, the empty extension flag and the data ourselves through the atomic-file
 * helper, so that every write error is seen (nifti_image_write reports none) and the file
 * is fsynced before the rename.
 */
#include "hinge/image.h"
#include "hinge/io.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Refuse images above this many bytes of voxel data (a sanity bound, far above real scans). */
#define NIFTI_MAX_DATA_BYTES ((int64_t)64 << 30)
/* Deflate cannot compress better than about 1032:1, so a .gz file of n bytes holds at most
 * ~1032 n bytes: a header claiming more is hostile or truncated, refused before allocating. */
#define DEFLATE_MAX_RATIO 1040
#define CHUNK_ELEMS ((int64_t)1 << 18)

/* ---- raw header parsing ---------------------------------------------------------------- */

typedef struct raw_header {
    int version;      /* 1 or 2 */
    bool swapped;     /* opposite byte order to ours */
    bool single_file; /* n+1 / n+2 (data in the same file) vs ni1 / ni2 (.hdr + .img) */
    int64_t dim[8];
    int32_t datatype;
    int32_t bitpix;
    double vox_offset;
} raw_header;

static void swap_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned char t = b[i];
        b[i] = b[n - 1 - i];
        b[n - 1 - i] = t;
    }
}

static int64_t get_int(const unsigned char *buf, size_t off, size_t size, bool swapped)
{
    unsigned char tmp[8];
    memcpy(tmp, buf + off, size);
    if (swapped)
        swap_bytes(tmp, size);
    if (size == 2) {
        int16_t v;
        memcpy(&v, tmp, 2);
        return v;
    }
    if (size == 4) {
        int32_t v;
        memcpy(&v, tmp, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, tmp, 8);
    return v;
}

static double get_real(const unsigned char *buf, size_t off, size_t size, bool swapped)
{
    unsigned char tmp[8];
    memcpy(tmp, buf + off, size);
    if (swapped)
        swap_bytes(tmp, size);
    if (size == 4) {
        float v;
        memcpy(&v, tmp, 4);
        return v;
    }
    double v;
    memcpy(&v, tmp, 8);
    return v;
}

static hg_status parse_raw_header(const char *path, const unsigned char *buf, int n,
                                  raw_header *h)
{
    memset(h, 0, sizeof *h);
    if (n < 4)
        return hg_error(HG_ERR_FORMAT, "%s: truncated NIfTI header: %d bytes, expected 348 or "
                        "540", path, n);
    int32_t sz;
    memcpy(&sz, buf, 4);
    int32_t szs = sz;
    swap_bytes(&szs, 4);
    if (sz == 348 || sz == 540)
        h->swapped = false;
    else if (szs == 348 || szs == 540)
        h->swapped = true, sz = szs;
    else
        return hg_error(HG_ERR_FORMAT, "%s: not a NIfTI file: sizeof_hdr is %d, expected 348 "
                        "(NIfTI-1) or 540 (NIfTI-2)", path, (int)sz);
    if (n < sz)
        return hg_error(HG_ERR_FORMAT, "%s: truncated NIfTI header: %d bytes, expected %d",
                        path, n, (int)sz);
    const char *magic;
    if (sz == 348) {
        h->version = 1;
        magic = (const char *)buf + 344;
        for (int i = 0; i < 8; i++)
            h->dim[i] = get_int(buf, 40 + 2 * (size_t)i, 2, h->swapped);
        h->datatype = (int32_t)get_int(buf, 70, 2, h->swapped);
        h->bitpix = (int32_t)get_int(buf, 72, 2, h->swapped);
        h->vox_offset = get_real(buf, 108, 4, h->swapped);
        if (memcmp(magic, "n+1", 4) == 0)
            h->single_file = true;
        else if (memcmp(magic, "ni1", 4) != 0)
            return hg_error(HG_ERR_UNSUPPORTED, "%s: no NIfTI-1 magic (an ANALYZE 7.5 file?): "
                            "expected 'n+1' or 'ni1'", path);
    } else {
        h->version = 2;
        magic = (const char *)buf + 4;
        h->datatype = (int32_t)get_int(buf, 12, 2, h->swapped);
        h->bitpix = (int32_t)get_int(buf, 14, 2, h->swapped);
        for (int i = 0; i < 8; i++)
            h->dim[i] = get_int(buf, 16 + 8 * (size_t)i, 8, h->swapped);
        h->vox_offset = (double)get_int(buf, 168, 8, h->swapped);
        if (memcmp(magic, "n+2\0\r\n\032\n", 8) == 0)
            h->single_file = true;
        else if (memcmp(magic, "ni2\0\r\n\032\n", 8) != 0)
            return hg_error(HG_ERR_FORMAT, "%s: bad NIfTI-2 magic: expected 'n+2' or 'ni2'",
                            path);
    }
    return HG_OK;
}

/* Bytes per voxel of the datatypes we read; 0 for the others. */
static int datatype_bytes(int32_t dt)
{
    switch (dt) {
    case DT_UINT8: case DT_INT8: return 1;
    case DT_INT16: case DT_UINT16: return 2;
    case DT_INT32: case DT_UINT32: case DT_FLOAT32: return 4;
    case DT_INT64: case DT_UINT64: case DT_FLOAT64: case DT_COMPLEX64: return 8;
    case DT_COMPLEX128: return 16;
    default: return 0;
    }
}

static bool is_complex(int32_t dt) { return dt == DT_COMPLEX64 || dt == DT_COMPLEX128; }

/* The tensor rank: dim[0], with trailing size-1 dims beyond HG_MAX_DIMS dropped. */
static hg_status check_dims(const char *path, const raw_header *h, int *ndim, int64_t *nvox)
{
    int64_t nd = h->dim[0];
    if (nd < 1 || nd > 7)
        return hg_error(HG_ERR_FORMAT, "%s: dim[0] = %lld, expected 1..7", path, (long long)nd);
    int64_t total = 1;
    for (int i = 1; i <= nd; i++) {
        if (h->dim[i] < 1)
            return hg_error(HG_ERR_FORMAT, "%s: dim[%d] = %lld, expected >= 1", path, i,
                            (long long)h->dim[i]);
        if (h->dim[i] > NIFTI_MAX_DATA_BYTES || total > NIFTI_MAX_DATA_BYTES / h->dim[i])
            return hg_error(HG_ERR_FORMAT, "%s: dims give more than %lld voxels (dim[%d] = "
                            "%lld)", path, (long long)NIFTI_MAX_DATA_BYTES, i,
                            (long long)h->dim[i]);
        total *= h->dim[i];
    }
    int keep = (int)nd;
    while (keep > HG_MAX_DIMS && h->dim[keep] == 1)
        keep--;
    if (keep > HG_MAX_DIMS)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: %lld-D image with dim[%d] = %lld; at most %d "
                        "dimensions are supported", path, (long long)nd, keep,
                        (long long)h->dim[keep], HG_MAX_DIMS);
    *ndim = keep;
    *nvox = total;
    return HG_OK;
}

static bool is_gzip_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char m[2] = {0, 0};
    if (f) {
        if (fread(m, 1, 2, f) != 2)
            m[0] = 0;
        fclose(f);
    }
    return m[0] == 0x1f && m[1] == 0x8b;
}

static hg_status file_size(const char *path, int64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return hg_error(HG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return hg_error(HG_ERR_IO, "%s: not a regular file", path);
    *size = (int64_t)st.st_size;
    return HG_OK;
}

/* Whether `size` bytes of the (maybe gzipped) data file can hold `need` bytes from `offset`. */
static hg_status check_data_fits(const char *path, int64_t offset, int64_t need)
{
    int64_t size = 0;
    hg_status s = file_size(path, &size);
    if (s)
        return s;
    if (is_gzip_file(path)) {
        if (need + offset > size * DEFLATE_MAX_RATIO + (1 << 20))
            return hg_error(HG_ERR_FORMAT, "%s: the header promises %lld bytes of voxel data "
                            "but the compressed file of %lld bytes cannot hold them (truncated "
                            "or corrupt)", path, (long long)need, (long long)size);
    } else if (offset + need > size) {
        return hg_error(HG_ERR_FORMAT, "%s: truncated: the header promises %lld bytes of voxel "
                        "data at offset %lld, the file has %lld bytes", path, (long long)need,
                        (long long)offset, (long long)size);
    }
    return HG_OK;
}

/* Reads and validates the raw header of `path`. */
static hg_status read_raw_header(const char *path, raw_header *h)
{
    int64_t size = 0;
    hg_status s = file_size(path, &size);
    if (s)
        return s;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return hg_error(HG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char buf[540];
    int n = gzread(gz, buf, sizeof buf);
    gzclose(gz);
    if (n < 0)
        return hg_error(HG_ERR_FORMAT, "%s: cannot read the header (corrupt gzip stream)", path);
    return parse_raw_header(path, buf, n, h);
}

/* ---- data conversion ------------------------------------------------------------------- */

/* Converts n voxels of type dt (native byte order after swapping) to float32, applying
 * v * slope + inter in double precision. Complex types give 2 floats per voxel. Serial on
 * purpose: it is memory-bound and runs per 1 MiB chunk, where thread start-up costs more
 * than it saves (measured: 45 ms for 47 MB single-threaded, slower with 2 threads). */
static void convert_to_f32(const void *src, int32_t dt, int64_t n, double slope, double inter,
                           float *dst)
{
#define CONVERT(T)                                                                             \
    do {                                                                                       \
        const T *p = (const T *)src;                                                           \
        for (int64_t i = 0; i < n; i++)                                                        \
            dst[i] = (float)((double)p[i] * slope + inter);                                    \
    } while (0)
    switch (dt) {
    case DT_UINT8: CONVERT(uint8_t); break;
    case DT_INT8: CONVERT(int8_t); break;
    case DT_INT16: CONVERT(int16_t); break;
    case DT_UINT16: CONVERT(uint16_t); break;
    case DT_INT32: CONVERT(int32_t); break;
    case DT_UINT32: CONVERT(uint32_t); break;
    case DT_INT64: CONVERT(int64_t); break;
    case DT_UINT64: CONVERT(uint64_t); break;
    case DT_FLOAT32: CONVERT(float); break;
    case DT_FLOAT64: CONVERT(double); break;
    case DT_COMPLEX64: n *= 2; CONVERT(float); break;
    case DT_COMPLEX128: n *= 2; CONVERT(double); break;
    default: break;
    }
#undef CONVERT
}

static hg_status read_voxels(const char *data_path, int64_t offset, const raw_header *h,
                             int64_t nvox, double slope, double inter, float *out)
{
    int nb = datatype_bytes(h->datatype);
    int swap_size = is_complex(h->datatype) ? nb / 2 : nb;
    gzFile gz = gzopen(data_path, "rb");
    if (!gz)
        return hg_error(HG_ERR_IO, "%s: cannot open: %s", data_path, strerror(errno));
    gzbuffer(gz, 1 << 18);
    hg_status s = HG_OK;
    unsigned char *buf = NULL;
    if (gzseek(gz, (z_off_t)offset, SEEK_SET) != (z_off_t)offset) {
        s = hg_error(HG_ERR_FORMAT, "%s: truncated: cannot seek to the voxel data at offset "
                     "%lld", data_path, (long long)offset);
        goto done;
    }
    buf = hg_malloc((size_t)(CHUNK_ELEMS * nb));
    if (!buf) {
        s = hg_error_status();
        goto done;
    }
    int floats_per_voxel = is_complex(h->datatype) ? 2 : 1;
    for (int64_t at = 0; at < nvox; at += CHUNK_ELEMS) {
        int64_t m = nvox - at < CHUNK_ELEMS ? nvox - at : CHUNK_ELEMS;
        int got = gzread(gz, buf, (unsigned)(m * nb));
        if (got != (int)(m * nb)) {
            int zerr = 0;
            const char *msg = gzerror(gz, &zerr);
            s = hg_error(HG_ERR_FORMAT, "%s: truncated or corrupt voxel data: expected %lld "
                         "bytes, read %lld%s%s", data_path, (long long)(nvox * nb),
                         (long long)(at * nb + (got > 0 ? got : 0)), zerr ? ": " : "",
                         zerr ? msg : "");
            goto done;
        }
        if (h->swapped && swap_size > 1)
            nifti_swap_Nbytes(m * nb / swap_size, swap_size, buf);
        convert_to_f32(buf, h->datatype, m, slope, inter, out + at * floats_per_voxel);
    }
    /* Reading on to the end makes zlib check the gzip trailer (CRC and length), so a file
     * cut inside its trailer or with a corrupted stream is refused too. */
    while (gzread(gz, buf, (unsigned)(CHUNK_ELEMS * nb)) > 0) {
    }
    int zerr = 0;
    const char *zmsg = gzerror(gz, &zerr);
    if (zerr != Z_OK)
        s = hg_error(HG_ERR_FORMAT, "%s: corrupt or truncated gzip stream after the voxel data: "
                     "%s", data_path, zmsg);
done:
    hg_free(buf);
    gzclose(gz);
    return s;
}

/* ---- reading --------------------------------------------------------------------------- */

static void copy_dmat(double dst[4][4], const nifti_dmat44 *m)
{
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            dst[r][c] = m->m[r][c];
}

static void fill_geometry(hg_image *img, const nifti_image *nim, int ndim)
{
    for (int i = 0; i < HG_MAX_DIMS; i++)
        img->spacing[i] = i < ndim ? nim->pixdim[i + 1] : 1.0;
    copy_dmat(img->qform, &nim->qto_xyz);
    img->qform_code = nim->qform_code;
    img->sform_code = nim->sform_code;
    if (nim->sform_code > 0)
        copy_dmat(img->sform, &nim->sto_xyz);
    else
        copy_dmat(img->sform, &nim->qto_xyz); /* nifti_clib leaves sto_xyz unset then */
    img->xyz_units = nim->xyz_units;
    img->time_units = nim->time_units;
    img->toffset = nim->toffset;
    img->cal_min = nim->cal_min;
    img->cal_max = nim->cal_max;
    img->intent_code = nim->intent_code;
    memcpy(img->intent_name, nim->intent_name, sizeof img->intent_name);
    img->intent_name[sizeof img->intent_name - 1] = 0;
    memcpy(img->descrip, nim->descrip, sizeof img->descrip);
    img->descrip[sizeof img->descrip - 1] = 0;
}

hg_status hg_nifti_read(const char *path, hg_image *img)
{
    raw_header h;
    int ndim = 0;
    int64_t nvox = 0;
    hg_status s = read_raw_header(path, &h);
    if (!s)
        s = check_dims(path, &h, &ndim, &nvox);
    if (s)
        return s;
    int nb = datatype_bytes(h.datatype);
    if (nb == 0)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: datatype %d (%s) is not supported; expected "
                        "an integer, float or complex type", path, (int)h.datatype,
                        nifti_datatype_string(h.datatype));
    if (h.bitpix != 8 * nb)
        return hg_error(HG_ERR_FORMAT, "%s: bitpix = %d but datatype %s has %d bits", path,
                        (int)h.bitpix, nifti_datatype_string(h.datatype), 8 * nb);
    if (nvox > NIFTI_MAX_DATA_BYTES / nb)
        return hg_error(HG_ERR_FORMAT, "%s: %lld voxels of %d bytes exceed the limit of %lld "
                        "bytes", path, (long long)nvox, nb, (long long)NIFTI_MAX_DATA_BYTES);
    int hdr_size = h.version == 1 ? 348 : 540;
    if (!isfinite(h.vox_offset) || h.vox_offset != floor(h.vox_offset) ||
        (h.single_file && h.vox_offset < hdr_size) || h.vox_offset < 0 ||
        h.vox_offset > (double)NIFTI_MAX_DATA_BYTES)
        return hg_error(HG_ERR_FORMAT, "%s: bad vox_offset %g: expected an integer >= %d", path,
                        h.vox_offset, h.single_file ? hdr_size : 0);

    /* Header decoding by nifti_clib (qform/sform/units); it must stay silent. */
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim)
        return hg_error(HG_ERR_FORMAT, "%s: nifti_clib could not decode the header", path);
    int64_t offset = nim->iname_offset;
    const char *data_path = nim->iname ? nim->iname : path;
    if (offset != (int64_t)h.vox_offset && h.single_file) {
        s = hg_error(HG_ERR_FORMAT, "%s: vox_offset %lld disagrees with nifti_clib's %lld", path,
                     (long long)h.vox_offset, (long long)offset);
        goto fail;
    }
    if ((s = check_data_fits(data_path, offset, nvox * nb)))
        goto fail;

    int64_t shape[HG_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        shape[i] = h.dim[ndim - i];
    hg_tensor *t = hg_tensor_empty(NULL, is_complex(h.datatype) ? HG_C64 : HG_F32, ndim, shape);
    if (!t) {
        s = hg_error_context(hg_error_status(), "%s", path);
        goto fail;
    }
    /* nibabel's rule: a zero or non-finite slope means "no scaling". */
    double slope = nim->scl_slope, inter = nim->scl_inter;
    if (!isfinite(slope) || slope == 0.0)
        slope = 1.0, inter = 0.0;
    if (!isfinite(inter))
        inter = 0.0;
    if ((s = read_voxels(data_path, offset, &h, nvox, slope, inter, t->data))) {
        hg_tensor_free(t);
        goto fail;
    }
    struct cJSON *sidecar = NULL;
    char *json_path = hg_sidecar_path(path);
    s = json_path ? hg_sidecar_read(json_path, &sidecar) : HG_OK;
    free(json_path);
    if (s) {
        hg_tensor_free(t);
        goto fail;
    }

    hg_image_free(img);
    img->data = t;
    fill_geometry(img, nim, ndim);
    snprintf(img->format, sizeof img->format, "nifti%d", h.version);
    img->datatype = h.datatype;
    img->scl_slope = slope;
    img->scl_inter = inter;
    img->sidecar = sidecar;
    nifti_image_free(nim);
    return HG_OK;
fail:
    nifti_image_free(nim);
    return s;
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct out_stream {
    FILE *fp;  /* plain .nii */
    gzFile gz; /* .nii.gz */
    const char *path;
} out_stream;

static hg_status out_write(out_stream *o, const void *buf, size_t n)
{
    if (o->gz) {
        if (n > 0 && gzwrite(o->gz, buf, (unsigned)n) != (int)n) {
            int zerr;
            const char *msg = gzerror(o->gz, &zerr);
            return hg_error(HG_ERR_IO, "%s: write failed: %s", o->path,
                            zerr == Z_ERRNO ? strerror(errno) : msg);
        }
    } else if (fwrite(buf, 1, n, o->fp) != n) {
        return hg_error(HG_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    }
    return HG_OK;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Range of an integer output type; false for float types. */
static bool int_range(int32_t dt, double *lo, double *hi)
{
    switch (dt) {
    case DT_UINT8: *lo = 0, *hi = 255; return true;
    case DT_INT8: *lo = -128, *hi = 127; return true;
    case DT_INT16: *lo = -32768, *hi = 32767; return true;
    case DT_UINT16: *lo = 0, *hi = 65535; return true;
    case DT_INT32: *lo = -2147483648.0, *hi = 2147483647.0; return true;
    case DT_UINT32: *lo = 0, *hi = 4294967295.0; return true;
    default: return false;
    }
}

/* Converts n floats from src to dt into dst. Integer types must receive integral values in
 * range; the first offender's index (relative to src) is returned in *bad, else -1. */
static void convert_from_f32(const float *src, int64_t n, int32_t dt, void *dst, int64_t *bad)
{
    double lo = 0, hi = 0;
    *bad = -1;
    if (int_range(dt, &lo, &hi))
        for (int64_t i = 0; i < n; i++) {
            double v = src[i];
            if (!(v >= lo && v <= hi && v == floor(v))) {
                *bad = i;
                return;
            }
        }
#define STORE(T)                                                                               \
    do {                                                                                       \
        T *q = (T *)dst;                                                                       \
        for (int64_t i = 0; i < n; i++)                                                        \
            q[i] = (T)src[i];                                                                  \
    } while (0)
    switch (dt) {
    case DT_UINT8: STORE(uint8_t); break;
    case DT_INT8: STORE(int8_t); break;
    case DT_INT16: STORE(int16_t); break;
    case DT_UINT16: STORE(uint16_t); break;
    case DT_INT32: STORE(int32_t); break;
    case DT_UINT32: STORE(uint32_t); break;
    case DT_FLOAT64: case DT_COMPLEX128: STORE(double); break;
    default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    }
#undef STORE
}

static hg_status check_write_opts(const char *path, const hg_image *img,
                                  const hg_nifti_write_opts *o, int32_t *dt, bool *gz)
{
    if (!img || !img->data)
        return hg_error(HG_ERR_INVALID, "%s: image has no data", path);
    bool cplx = img->data->dtype == HG_C64;
    *gz = has_suffix(path, ".nii.gz");
    if (!*gz && !has_suffix(path, ".nii"))
        return hg_error(HG_ERR_INVALID, "%s: expected a .nii or .nii.gz file name", path);
    if (o->version != 1 && o->version != 2)
        return hg_error(HG_ERR_INVALID, "%s: NIfTI version %d, expected 1 or 2", path,
                        (int)o->version);
    if (o->compress_level < 1 || o->compress_level > 9)
        return hg_error(HG_ERR_INVALID, "%s: compress_level %d, expected 1..9", path,
                        (int)o->compress_level);
    *dt = o->datatype ? o->datatype : (cplx ? DT_COMPLEX64 : DT_FLOAT32);
    double lo, hi;
    bool ok = cplx ? (*dt == DT_COMPLEX64 || *dt == DT_COMPLEX128)
                   : (*dt == DT_FLOAT32 || *dt == DT_FLOAT64 || int_range(*dt, &lo, &hi));
    if (!ok)
        return hg_error(HG_ERR_UNSUPPORTED, "%s: cannot write %s data of tensor '%s' as %s", path,
                        cplx ? "complex" : "real", hg_tensor_label(img->data),
                        nifti_datatype_string(*dt));
    return HG_OK;
}

/* The nifti_image describing img (no data); nifti_clib turns it into a header. */
static nifti_image *make_nim(const hg_image *img, int32_t dt, int version)
{
    const hg_tensor *t = img->data;
    int64_t dims[8] = {t->ndim, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < t->ndim; i++)
        dims[i + 1] = t->shape[t->ndim - 1 - i];
    nifti_image *nim = nifti_make_new_nim(dims, dt, 0);
    if (!nim)
        return NULL;
    for (int i = 0; i < t->ndim; i++)
        nim->pixdim[i + 1] = img->spacing[i];
    nifti_dmat44 q, sf;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            q.m[r][c] = img->qform[r][c], sf.m[r][c] = img->sform[r][c];
    nim->qform_code = img->qform_code;
    nim->sform_code = img->sform_code;
    if (img->qform_code > 0) {
        /* The quaternion encodes rotation + offsets; the voxel sizes come from the qform's
         * column norms (as nibabel's set_qform does), so qform and pixdim agree. */
        double dx, dy, dz;
        nifti_dmat44_to_quatern(q, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d,
                                &nim->qoffset_x, &nim->qoffset_y, &nim->qoffset_z, &dx, &dy, &dz,
                                &nim->qfac);
        if (t->ndim >= 1)
            nim->pixdim[1] = dx;
        if (t->ndim >= 2)
            nim->pixdim[2] = dy;
        if (t->ndim >= 3)
            nim->pixdim[3] = dz;
    }
    nim->pixdim[0] = nim->qfac;
    nim->dx = nim->pixdim[1], nim->dy = nim->pixdim[2], nim->dz = nim->pixdim[3];
    nim->dt = nim->pixdim[4], nim->du = nim->pixdim[5];
    nim->sto_xyz = sf;
    nim->scl_slope = 1.0;
    nim->scl_inter = 0.0;
    nim->xyz_units = img->xyz_units;
    nim->time_units = img->time_units;
    nim->toffset = img->toffset;
    nim->cal_min = img->cal_min;
    nim->cal_max = img->cal_max;
    nim->intent_code = img->intent_code;
    memcpy(nim->intent_name, img->intent_name, sizeof nim->intent_name);
    nim->intent_name[sizeof nim->intent_name - 1] = 0;
    memcpy(nim->descrip, img->descrip, sizeof nim->descrip);
    nim->descrip[sizeof nim->descrip - 1] = 0;
    nim->nifti_type = version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
    nim->iname_offset = version == 2 ? 544 : 352;
    return nim;
}

/* Header bytes (native byte order) of img: 348 or 540 bytes into buf. */
static hg_status build_header(const char *path, const hg_image *img, int32_t dt, int version,
                              unsigned char *buf, size_t *n)
{
    nifti_set_debug_level(0);
    nifti_image *nim = make_nim(img, dt, version);
    if (!nim)
        return hg_error(HG_ERR_NOMEM, "%s: nifti_clib could not create the header", path);
    int rc;
    if (version == 1) {
        nifti_1_header h1;
        rc = nifti_convert_nim2n1hdr(nim, &h1);
        for (int i = h1.dim[0] + 1; i < 8; i++) /* unused dims are 1, as nibabel writes */
            h1.dim[i] = 1, h1.pixdim[i] = 1.0f;
        h1.vox_offset = 352.0f;
        memcpy(h1.magic, "n+1", 4);
        memcpy(buf, &h1, sizeof h1);
        *n = sizeof h1;
    } else {
        nifti_2_header h2;
        rc = nifti_convert_nim2n2hdr(nim, &h2);
        for (int64_t i = h2.dim[0] + 1; i < 8; i++)
            h2.dim[i] = 1, h2.pixdim[i] = 1.0;
        h2.vox_offset = 544;
        memcpy(h2.magic, "n+2\0\r\n\032\n", 8);
        memcpy(buf, &h2, sizeof h2);
        *n = sizeof h2;
    }
    nifti_image_free(nim);
    if (rc != 0)
        return hg_error(HG_ERR_INVALID, "%s: nifti_clib could not encode the header", path);
    return HG_OK;
}

static hg_status write_voxels(out_stream *o, const hg_tensor *t, int32_t dt)
{
    int nb = datatype_bytes(dt);
    int per_voxel = t->dtype == HG_C64 ? 2 : 1;
    int elem_bytes = nb / per_voxel; /* bytes per float written */
    int64_t nf = hg_tensor_nfloats(t);
    if (dt == DT_FLOAT32 || dt == DT_COMPLEX64)
        return out_write(o, t->data, (size_t)nf * sizeof(float)); /* bit-exact, no copy */
    unsigned char *buf = hg_malloc((size_t)(CHUNK_ELEMS * elem_bytes));
    if (!buf)
        return hg_error_status();
    hg_status s = HG_OK;
    for (int64_t at = 0; at < nf && !s; at += CHUNK_ELEMS) {
        int64_t m = nf - at < CHUNK_ELEMS ? nf - at : CHUNK_ELEMS;
        int64_t bad;
        convert_from_f32(t->data + at, m, dt, buf, &bad);
        if (bad >= 0)
            s = hg_error(HG_ERR_INVALID, "%s: tensor '%s' element %lld = %g cannot be stored "
                         "as %s exactly", o->path, hg_tensor_label(t), (long long)(at + bad),
                         (double)t->data[at + bad], nifti_datatype_string(dt));
        else
            s = out_write(o, buf, (size_t)(m * elem_bytes));
    }
    hg_free(buf);
    return s;
}

hg_status hg_nifti_write(const char *path, const hg_image *img, const hg_nifti_write_opts *opts)
{
    hg_nifti_write_opts o = opts ? *opts : (hg_nifti_write_opts){0};
    if (o.version == 0)
        o.version = 1;
    if (o.compress_level == 0)
        o.compress_level = 1;
    int32_t dt = 0;
    bool gz = false;
    hg_status s = check_write_opts(path, img, &o, &dt, &gz);
    if (s)
        return s;
    unsigned char hdr[544];
    size_t hn = 0;
    if ((s = build_header(path, img, dt, o.version, hdr, &hn)))
        return s;
    memset(hdr + hn, 0, 4); /* extension flag: no extensions */
    hn += 4;

    hg_atomic_file af;
    if ((s = hg_atomic_open(&af, path)))
        return s;
    out_stream out = {.fp = af.fp, .gz = NULL, .path = path};
    if (gz) {
        char mode[8];
        snprintf(mode, sizeof mode, "wb%d", (int)o.compress_level);
        int fd = dup(fileno(af.fp));
        out.gz = fd >= 0 ? gzdopen(fd, mode) : NULL;
        if (!out.gz) {
            if (fd >= 0)
                close(fd);
            hg_atomic_abort(&af);
            return hg_error(HG_ERR_IO, "%s: cannot start gzip compression", path);
        }
        gzbuffer(out.gz, 1 << 18);
    }
    s = out_write(&out, hdr, hn);
    if (!s)
        s = write_voxels(&out, img->data, dt);
    if (out.gz) {
        int rc = gzclose(out.gz);
        if (!s && rc != Z_OK)
            s = hg_error(HG_ERR_IO, "%s: finishing the gzip stream failed (%d)", path, rc);
    }
    if (s) {
        hg_atomic_abort(&af);
        return s;
    }
    if ((s = hg_atomic_commit(&af)))
        return s;
    if (o.skip_sidecar)
        return HG_OK;
    /* The sidecar belongs to the image file: a stale one from an earlier file of the same
     * name would attach wrong acquisition geometry to this image, so it is removed. */
    char *json_path = hg_sidecar_path(path);
    if (!json_path)
        return hg_error_status();
    if (img->sidecar)
        s = hg_sidecar_write(json_path, img->sidecar);
    else if (unlink(json_path) != 0 && errno != ENOENT)
        s = hg_error(HG_ERR_IO, "%s: cannot remove the stale sidecar: %s", json_path,
                     strerror(errno));
    free(json_path);
    return s;
}
