/* fastMRI HDF5 files through libhdf5 (no parsing of our own). libhdf5's automatic error
 * printing is switched off for the duration of every call (the library never prints) and the
 * innermost HDF5 error description is put into our message instead. Sizes are validated from
 * the dataspace and the stored size before any allocation. */
#include "hinge/fastmri.h"
#include "hinge/io.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_DIM ((int64_t)1 << 24)
#define MAX_BYTES ((int64_t)16 << 30)
#define MAX_TEXT ((size_t)16 << 20)
/* deflate cannot compress better than about 1032:1; a chunked dataset whose stored size is
 * smaller than this fraction of its data is refused rather than trusted with an allocation. */
#define MAX_RATIO 1100

struct hg_fastmri_file {
    hid_t file;
    char *path;
    hg_fastmri_info info;
};

/* ---- libhdf5 error handling ------------------------------------------------------------ */

typedef struct quiet {
    H5E_auto2_t fn;
    void *data;
} quiet;

static quiet quiet_begin(void)
{
    quiet q = {NULL, NULL};
    H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

static void quiet_end(quiet q)
{
    H5Eset_auto2(H5E_DEFAULT, q.fn, q.data);
}

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf((char *)data, 160, "%s", e->desc);
    return 0;
}

/* The innermost libhdf5 error of the current stack ("" when none). */
static const char *h5_reason(char buf[160])
{
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, buf);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

static hg_status h5_fail(hg_status s, const char *path, const char *what)
{
    char buf[160];
    const char *why = h5_reason(buf);
    return hg_error(s, "%s: %s%s%s", path, what, *why ? ": libhdf5: " : "", why);
}

static void close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = -1;
}

/* ---- types ------------------------------------------------------------------------------ */

/* The compound {r: float32, i: float32} h5py writes for complex64 (offsets 0 and 4). */
static bool is_complex(hid_t t, size_t member_size)
{
    if (H5Tget_class(t) != H5T_COMPOUND || H5Tget_nmembers(t) != 2 ||
        H5Tget_size(t) != 2 * member_size)
        return false;
    static const char *const names[2] = {"r", "i"};
    for (unsigned m = 0; m < 2; m++) {
        char *name = H5Tget_member_name(t, m);
        bool ok = name && strcmp(name, names[m]) == 0 &&
                  H5Tget_member_class(t, m) == H5T_FLOAT &&
                  H5Tget_member_offset(t, m) == m * member_size;
        H5free_memory(name);
        hid_t mt = ok ? H5Tget_member_type(t, m) : -1;
        ok = ok && mt >= 0 && H5Tget_size(mt) == member_size;
        if (mt >= 0)
            H5Tclose(mt);
        if (!ok)
            return false;
    }
    return true;
}

/* h5py's bool: an enum over int8 with FALSE = 0, TRUE = 1. Any 1-byte enum is accepted. */
static bool is_byte_enum(hid_t t)
{
    return H5Tget_class(t) == H5T_ENUM && H5Tget_size(t) == 1;
}

static void type_name(hid_t t, char *buf, size_t n)
{
    size_t size = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_FLOAT: snprintf(buf, n, "float%zu", 8 * size); break;
    case H5T_INTEGER:
        snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * size);
        break;
    case H5T_ENUM: snprintf(buf, n, "%s", is_byte_enum(t) ? "bool" : "enum"); break;
    case H5T_STRING: snprintf(buf, n, "string"); break;
    case H5T_COMPOUND:
        snprintf(buf, n, "%s", is_complex(t, 4)   ? "complex64"
                               : is_complex(t, 8) ? "complex128"
                                                  : "compound");
        break;
    default: snprintf(buf, n, "other"); break;
    }
}

static hid_t complex_mem_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, 2 * sizeof(float));
    if (t >= 0 && (H5Tinsert(t, "r", 0, H5T_NATIVE_FLOAT) < 0 ||
                   H5Tinsert(t, "i", sizeof(float), H5T_NATIVE_FLOAT) < 0))
        close_id(&t, H5Tclose);
    return t;
}

/* ---- shapes ----------------------------------------------------------------------------- */

/* Rank and sizes of a simple dataspace; -1 when not simple or too many dimensions. */
static int space_shape(hid_t space, int64_t shape[HG_MAX_DIMS])
{
    if (H5Sget_simple_extent_type(space) != H5S_SIMPLE)
        return H5Sget_simple_extent_type(space) == H5S_SCALAR ? 0 : -1;
    int nd = H5Sget_simple_extent_ndims(space);
    if (nd < 0 || nd > HG_MAX_DIMS)
        return -1;
    hsize_t d[HG_MAX_DIMS];
    H5Sget_simple_extent_dims(space, d, NULL);
    for (int i = 0; i < nd; i++)
        shape[i] = d[i] > (hsize_t)INT64_MAX ? INT64_MAX : (int64_t)d[i];
    return nd;
}

/* Checks a dataset's rank against [min_nd, max_nd], every size, the total and the stored
 * size, so that reading it later allocates a bounded, plausible amount. */
static hg_status check_dataset(const char *path, const char *name, hid_t d, int min_nd,
                               int max_nd, int *nd_out, int64_t shape[HG_MAX_DIMS])
{
    hid_t space = H5Dget_space(d), type = H5Dget_type(d), dcpl = H5Dget_create_plist(d);
    hg_status s = HG_OK;
    int nd = space >= 0 ? space_shape(space, shape) : -1;
    size_t esize = type >= 0 ? H5Tget_size(type) : 0;
    int64_t bytes = (int64_t)esize;
    if (space < 0 || type < 0 || dcpl < 0 || esize == 0) {
        s = h5_fail(HG_ERR_FORMAT, path, "cannot read the dataspace of a dataset");
        goto done;
    }
    if (nd < min_nd || nd > max_nd) {
        s = min_nd == max_nd
                ? hg_error(HG_ERR_FORMAT, "%s: dataset '%s' has %d dimensions, expected %d", path,
                           name, nd, min_nd)
                : hg_error(HG_ERR_FORMAT, "%s: dataset '%s' has %d dimensions, expected %d to %d",
                           path, name, nd, min_nd, max_nd);
        goto done;
    }
    for (int i = 0; i < nd; i++) {
        if (shape[i] < 1 || shape[i] > MAX_DIM) {
            s = hg_error(HG_ERR_FORMAT, "%s: dataset '%s' dimension %d is %lld, expected 1 to %lld",
                         path, name, i, (long long)shape[i], (long long)MAX_DIM);
            goto done;
        }
        if (bytes > MAX_BYTES / shape[i]) {
            s = hg_error(HG_ERR_FORMAT, "%s: dataset '%s' holds more than %lld bytes", path,
                         name, (long long)MAX_BYTES);
            goto done;
        }
        bytes *= shape[i];
    }
    int64_t stored = (int64_t)H5Dget_storage_size(d);
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if ((layout == H5D_CONTIGUOUS && stored < bytes) ||
        (layout == H5D_CHUNKED && stored < bytes / MAX_RATIO)) {
        s = hg_error(HG_ERR_FORMAT, "%s: dataset '%s' stores %lld bytes for %lld bytes of data "
                     "(not written or truncated)", path, name, (long long)stored,
                     (long long)bytes);
        goto done;
    }
    if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) {
        s = hg_error(HG_ERR_UNSUPPORTED, "%s: dataset '%s' has an unsupported storage layout",
                     path, name);
        goto done;
    }
    *nd_out = nd;
done:
    close_id(&space, H5Sclose), close_id(&type, H5Tclose), close_id(&dcpl, H5Pclose);
    return s;
}

/* Opens a root dataset; *d = -1 (and HG_OK) when it does not exist. */
static hg_status open_optional(hid_t file, const char *path, const char *name, hid_t *d)
{
    *d = -1;
    htri_t e = H5Lexists(file, name, H5P_DEFAULT);
    if (e < 0)
        return h5_fail(HG_ERR_FORMAT, path, "cannot read the root group");
    if (e == 0)
        return HG_OK;
    /* Only hard links: a soft or external link could make libhdf5 open another file. */
    H5L_info_t li;
    if (H5Lget_info(file, name, &li, H5P_DEFAULT) < 0 || li.type != H5L_TYPE_HARD)
        return hg_error(HG_ERR_FORMAT, "%s: '%s' is a soft or external link, not a dataset", path,
                        name);
    *d = H5Dopen2(file, name, H5P_DEFAULT);
    if (*d < 0) {
        char what[96];
        snprintf(what, sizeof what, "'%s' is not a readable dataset", name);
        return h5_fail(HG_ERR_FORMAT, path, what);
    }
    return HG_OK;
}

/* ---- strings and numbers ---------------------------------------------------------------- */

/* The length a variable-length string dataset declares, read from the file itself: its
 * contiguous storage holds {u32 length, heap address, u32 index} (HDF5 format spec, "Variable
 * length data"). libhdf5 allocates a conversion buffer of that length before it looks at the
 * heap, so a file declaring 2^31 bytes costs gigabytes and tens of seconds (fuzzer finding);
 * checking it first avoids that. -1 when the storage is not contiguous (then unchecked). */
static int64_t vlen_declared_length(const char *path, hid_t d)
{
    haddr_t off = H5Dget_offset(d);
    if (off == HADDR_UNDEF)
        return -1;
    FILE *fp = fopen(path, "rb");
    unsigned char b[4];
    bool ok = fp && fseeko(fp, (off_t)off, SEEK_SET) == 0 && fread(b, 1, 4, fp) == 4;
    if (fp)
        fclose(fp);
    return ok ? (int64_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                          (uint32_t)b[3] << 24)
              : INT64_MAX;
}

/* A scalar (or 1-element) string, from an attribute (is_attr) or a dataset; heap copy. */
static char *read_string(hid_t obj, bool is_attr)
{
    hid_t ft = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    hid_t mt = -1;
    char *out = NULL;
    if (ft < 0 || space < 0 || H5Tget_class(ft) != H5T_STRING ||
        H5Sget_simple_extent_npoints(space) != 1)
        goto done;
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        H5Tset_size(mt, H5T_VARIABLE);
        herr_t r = is_attr ? H5Aread(obj, mt, &v) : H5Dread(obj, mt, H5S_ALL, H5S_ALL,
                                                            H5P_DEFAULT, &v);
        if (r >= 0 && v && strlen(v) < MAX_TEXT)
            out = strdup(v);
        if (r >= 0 && v)
            H5free_memory(v); /* one string: the buffer libhdf5 allocated */
    } else {
        size_t n = H5Tget_size(ft);
        if (n == 0 || n > MAX_TEXT)
            goto done;
        H5Tset_size(mt, n);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        out = calloc(n + 1, 1);
        herr_t r = !out ? -1
                   : is_attr ? H5Aread(obj, mt, out)
                             : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
        if (r < 0)
            free(out), out = NULL;
    }
done:
    close_id(&mt, H5Tclose), close_id(&ft, H5Tclose), close_id(&space, H5Sclose);
    return out;
}

static void read_string_attr(hid_t file, const char *name, char *buf, size_t n)
{
    buf[0] = 0;
    if (H5Aexists(file, name) <= 0)
        return;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    char *v = a >= 0 ? read_string(a, true) : NULL;
    if (v)
        snprintf(buf, n, "%s", v);
    free(v);
    close_id(&a, H5Aclose);
}

static bool read_number_attr(hid_t file, const char *name, double *v)
{
    if (H5Aexists(file, name) <= 0)
        return false;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1, space = a >= 0 ? H5Aget_space(a) : -1;
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    bool ok = space >= 0 && H5Sget_simple_extent_npoints(space) == 1 &&
              (c == H5T_FLOAT || c == H5T_INTEGER) && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    close_id(&t, H5Tclose), close_id(&space, H5Sclose), close_id(&a, H5Aclose);
    return ok;
}

/* ---- listing ---------------------------------------------------------------------------- */

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *li, void *op)
{
    hg_fastmri_info *info = op;
    if (li->type != H5L_TYPE_HARD)
        return 0; /* never follow soft or external links */
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0; /* a group or a dangling link: not listed */
    }
    if (info->ndatasets < HG_FASTMRI_MAX_DATASETS) {
        hg_fastmri_dataset *e = &info->datasets[info->ndatasets];
        snprintf(e->name, sizeof e->name, "%s", name);
        hid_t t = H5Dget_type(d), s = H5Dget_space(d);
        if (t >= 0)
            type_name(t, e->type, sizeof e->type);
        e->ndim = s >= 0 ? space_shape(s, e->shape) : -1;
        close_id(&t, H5Tclose), close_id(&s, H5Sclose);
    }
    info->ndatasets++;
    H5Dclose(d);
    return 0;
}

/* ---- open ------------------------------------------------------------------------------- */

static hg_status validate(hg_fastmri_file *f)
{
    hg_fastmri_info *info = &f->info;
    const char *path = f->path;
    hid_t d = -1, t = -1;
    int64_t shape[HG_MAX_DIMS];
    int nd = 0;
    hg_status s = open_optional(f->file, path, "kspace", &d);
    if (s == HG_OK && d < 0)
        s = hg_error(HG_ERR_FORMAT, "%s: no 'kspace' dataset (not a fastMRI file)", path);
    if (s)
        goto done;
    t = H5Dget_type(d);
    if (t < 0 || !is_complex(t, 4)) {
        char name[32] = "unreadable";
        if (t >= 0)
            type_name(t, name, sizeof name);
        s = hg_error(HG_ERR_FORMAT, "%s: dataset 'kspace' has type %s, expected complex64 "
                     "(compound {r: float32, i: float32})", path, name);
        goto done;
    }
    if ((s = check_dataset(path, "kspace", d, 3, 4, &nd, shape)))
        goto done;
    info->multicoil = nd == 4;
    info->slices = shape[0];
    info->coils = nd == 4 ? shape[1] : 1;
    info->height = shape[nd - 2];
    info->width = shape[nd - 1];
    close_id(&d, H5Dclose), close_id(&t, H5Tclose);

    static const char *const recon[2] = {"reconstruction_rss", "reconstruction_esc"};
    for (int r = 0; r < 2; r++) {
        if ((s = open_optional(f->file, path, recon[r], &d)))
            goto done;
        if (d < 0)
            continue;
        t = H5Dget_type(d);
        if (t < 0 || H5Tget_class(t) != H5T_FLOAT) {
            s = hg_error(HG_ERR_FORMAT, "%s: dataset '%s' is not floating point", path, recon[r]);
            goto done;
        }
        if ((s = check_dataset(path, recon[r], d, 3, 3, &nd, shape)))
            goto done;
        memcpy(r ? info->esc_shape : info->rss_shape, shape, 3 * sizeof *shape);
        *(r ? &info->has_esc : &info->has_rss) = true;
        close_id(&d, H5Dclose), close_id(&t, H5Tclose);
    }

    if ((s = open_optional(f->file, path, "mask", &d)))
        goto done;
    if (d >= 0) {
        t = H5Dget_type(d);
        H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
        if (c != H5T_FLOAT && c != H5T_INTEGER && !is_byte_enum(t)) {
            s = hg_error(HG_ERR_FORMAT, "%s: dataset 'mask' is not bool, integer or float", path);
            goto done;
        }
        if ((s = check_dataset(path, "mask", d, 1, 1, &nd, shape)))
            goto done;
        info->has_mask = true;
        info->mask_len = shape[0];
        close_id(&d, H5Dclose), close_id(&t, H5Tclose);
    }

    if ((s = open_optional(f->file, path, "ismrmrd_header", &d)))
        goto done;
    if (d >= 0) {
        hid_t ht = H5Dget_type(d);
        int64_t n = ht >= 0 && H5Tis_variable_str(ht) > 0 ? vlen_declared_length(path, d) : -1;
        close_id(&ht, H5Tclose);
        if (n > (int64_t)MAX_TEXT) {
            s = hg_error(HG_ERR_FORMAT, "%s: dataset 'ismrmrd_header' declares a string of %lld "
                         "bytes (at most %lld read)", path, (long long)n, (long long)MAX_TEXT);
            goto done;
        }
        info->ismrmrd_header = read_string(d, false);
        if (!info->ismrmrd_header) {
            s = h5_fail(HG_ERR_FORMAT, path, "dataset 'ismrmrd_header' is not a readable string");
            goto done;
        }
        close_id(&d, H5Dclose);
    }
    read_string_attr(f->file, "acquisition", info->acquisition, sizeof info->acquisition);
    read_string_attr(f->file, "patient_id", info->patient_id, sizeof info->patient_id);
    info->has_max = read_number_attr(f->file, "max", &info->max);
    info->has_norm = read_number_attr(f->file, "norm", &info->norm);
    H5Eclear2(H5E_DEFAULT);
    if (H5Literate(f->file, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, list_cb, info) < 0)
        s = h5_fail(HG_ERR_FORMAT, path, "cannot list the root group");
done:
    close_id(&d, H5Dclose), close_id(&t, H5Tclose);
    return s;
}

hg_fastmri_file *hg_fastmri_open(const char *path)
{
    if (!path) {
        hg_error(HG_ERR_INVALID, "fastmri: NULL path");
        return NULL;
    }
    hg_fastmri_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    quiet q = quiet_begin();
    f->file = -1;
    hg_status s = HG_OK;
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        FILE *probe = fopen(path, "rb");
        s = probe ? hg_error(HG_ERR_FORMAT, "%s: not an HDF5 file (no HDF5 signature)", path)
                  : hg_error(HG_ERR_IO, "%s: cannot open", path);
        if (probe)
            fclose(probe);
        H5Eclear2(H5E_DEFAULT);
    } else if ((f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        s = h5_fail(HG_ERR_FORMAT, path, "cannot open the HDF5 file");
    } else {
        s = validate(f);
    }
    quiet_end(q);
    if (s) {
        hg_fastmri_close(f);
        return NULL;
    }
    return f;
}

void hg_fastmri_close(hg_fastmri_file *f)
{
    if (!f)
        return;
    if (f->file >= 0) {
        quiet q = quiet_begin();
        H5Fclose(f->file);
        H5Eclear2(H5E_DEFAULT);
        quiet_end(q);
    }
    free(f->info.ismrmrd_header);
    free(f->path);
    free(f);
}

const hg_fastmri_info *hg_fastmri_get_info(const hg_fastmri_file *f)
{
    return f ? &f->info : NULL;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Reads dataset `name` (validated at open) or its slice `slice` into a new heap tensor. */
static hg_tensor *read_array(hg_fastmri_file *f, const char *name, hg_dtype dtype, hid_t mt,
                             int64_t slice)
{
    int64_t shape[HG_MAX_DIMS];
    hid_t d = H5Dopen2(f->file, name, H5P_DEFAULT);
    hid_t fs = d >= 0 ? H5Dget_space(d) : -1, ms = -1;
    hg_tensor *t = NULL;
    int nd = fs >= 0 ? space_shape(fs, shape) : -1;
    if (nd < 1) {
        h5_fail(HG_ERR_FORMAT, f->path, "cannot reopen a dataset");
        goto done;
    }
    if (slice >= shape[0]) {
        hg_error(HG_ERR_INVALID, "%s: slice %lld of dataset '%s' requested, it has %lld slices",
                 f->path, (long long)slice, name, (long long)shape[0]);
        goto done;
    }
    if (slice >= 0) {
        hsize_t start[HG_MAX_DIMS] = {0}, count[HG_MAX_DIMS], mdims[HG_MAX_DIMS];
        for (int i = 0; i < nd; i++)
            count[i] = (hsize_t)shape[i];
        start[0] = (hsize_t)slice, count[0] = 1;
        for (int i = 1; i < nd; i++)
            mdims[i - 1] = count[i];
        if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            (ms = H5Screate_simple(nd - 1, mdims, NULL)) < 0) {
            h5_fail(HG_ERR_FORMAT, f->path, "cannot select a slice");
            goto done;
        }
        t = hg_tensor_empty(NULL, dtype, nd - 1, shape + 1);
    } else {
        t = hg_tensor_empty(NULL, dtype, nd, shape);
    }
    if (!t)
        goto done;
    if (H5Dread(d, mt, slice >= 0 ? ms : H5S_ALL, slice >= 0 ? fs : H5S_ALL, H5P_DEFAULT,
                t->data) < 0) {
        char what[96];
        snprintf(what, sizeof what, "cannot read dataset '%s'", name);
        h5_fail(HG_ERR_FORMAT, f->path, what);
        hg_tensor_free(t);
        t = NULL;
    }
done:
    close_id(&ms, H5Sclose), close_id(&fs, H5Sclose), close_id(&d, H5Dclose);
    return t;
}

hg_tensor *hg_fastmri_read_kspace(hg_fastmri_file *f, int64_t slice)
{
    if (!f) {
        hg_error(HG_ERR_INVALID, "fastmri: NULL file");
        return NULL;
    }
    quiet q = quiet_begin();
    hid_t mt = complex_mem_type();
    hg_tensor *t = mt >= 0 ? read_array(f, "kspace", HG_C64, mt, slice) : NULL;
    if (mt < 0)
        h5_fail(HG_ERR_NOMEM, f->path, "cannot create the complex type");
    close_id(&mt, H5Tclose);
    quiet_end(q);
    return t;
}

hg_tensor *hg_fastmri_read_recon(hg_fastmri_file *f, const char *dataset, int64_t slice)
{
    if (!f || !dataset) {
        hg_error(HG_ERR_INVALID, "fastmri: NULL file or dataset");
        return NULL;
    }
    bool rss = strcmp(dataset, "reconstruction_rss") == 0;
    if (!rss && strcmp(dataset, "reconstruction_esc") != 0) {
        hg_error(HG_ERR_INVALID, "%s: dataset '%s' is not a reconstruction (expected "
                 "reconstruction_rss or reconstruction_esc)", f->path, dataset);
        return NULL;
    }
    if (!(rss ? f->info.has_rss : f->info.has_esc)) {
        hg_error(HG_ERR_INVALID, "%s: no '%s' dataset", f->path, dataset);
        return NULL;
    }
    quiet q = quiet_begin();
    hg_tensor *t = read_array(f, dataset, HG_F32, H5T_NATIVE_FLOAT, slice);
    quiet_end(q);
    return t;
}

hg_tensor *hg_fastmri_read_mask(hg_fastmri_file *f)
{
    if (!f) {
        hg_error(HG_ERR_INVALID, "fastmri: NULL file");
        return NULL;
    }
    if (!f->info.has_mask) {
        hg_error(HG_ERR_INVALID, "%s: no 'mask' dataset", f->path);
        return NULL;
    }
    quiet q = quiet_begin();
    hid_t d = H5Dopen2(f->file, "mask", H5P_DEFAULT);
    hid_t ft = d >= 0 ? H5Dget_type(d) : -1, mt = -1;
    int64_t n = f->info.mask_len;
    hg_tensor *t = d >= 0 && ft >= 0 ? hg_tensor_empty(NULL, HG_F32, 1, &n) : NULL;
    unsigned char *bytes = t && is_byte_enum(ft) ? malloc((size_t)n) : NULL;
    herr_t r = -1;
    if (bytes) { /* enum -> number is no libhdf5 conversion: read the raw bytes */
        mt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
        r = mt >= 0 ? H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes) : -1;
        for (int64_t i = 0; r >= 0 && i < n; i++)
            t->data[i] = bytes[i] != 0;
    } else if (t && !is_byte_enum(ft)) {
        r = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data);
        for (int64_t i = 0; r >= 0 && i < n; i++)
            t->data[i] = t->data[i] != 0;
    }
    if (r < 0 && t) {
        h5_fail(HG_ERR_FORMAT, f->path, "cannot read dataset 'mask'");
        hg_tensor_free(t);
        t = NULL;
    }
    free(bytes);
    close_id(&mt, H5Tclose), close_id(&ft, H5Tclose), close_id(&d, H5Dclose);
    quiet_end(q);
    return t;
}

/* ---- untrusted files: a disposable checking process ------------------------------------- */

/* The child's memory allowance beyond what it had at the start: the largest single read (one
 * slice, the mask, the header text) four times over, plus 256 MiB for libhdf5's caches. */
#define CHECK_SLACK_BYTES ((int64_t)256 << 20)
#define EXIT_TOO_MUCH_MEMORY 3

static int64_t peak_rss_bytes(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? (int64_t)u.ru_maxrss * 1024 : 0;
}

/* What the checking child does: every call a reader of this file makes (open, validation,
 * listing, attributes, every slice of every dataset, the mask), one slice at a time so that
 * memory stays at one slice. Returns the exit code: 0 if libhdf5 survived all of it within
 * the memory the data justify (a lying variable-length attribute makes libhdf5 allocate
 * gigabytes, and the caller would do the same), EXIT_TOO_MUCH_MEMORY otherwise. */
static int exercise(const char *path)
{
    int64_t base = peak_rss_bytes(), largest = 0;
    hg_fastmri_file *f = hg_fastmri_open(path);
    if (f) {
        const hg_fastmri_info *in = hg_fastmri_get_info(f);
        largest = in->coils * in->height * in->width * 8;
        for (int64_t s = 0; s < in->slices; s++)
            hg_tensor_free(hg_fastmri_read_kspace(f, s));
        static const char *const recon[2] = {"reconstruction_rss", "reconstruction_esc"};
        for (int r = 0; r < 2; r++) {
            const int64_t *sh = r ? in->esc_shape : in->rss_shape;
            if (!(r ? in->has_esc : in->has_rss))
                continue;
            largest = sh[1] * sh[2] * 4 > largest ? sh[1] * sh[2] * 4 : largest;
            for (int64_t s = 0; s < sh[0]; s++)
                hg_tensor_free(hg_fastmri_read_recon(f, recon[r], s));
        }
        if (in->has_mask) {
            largest = in->mask_len * 4 > largest ? in->mask_len * 4 : largest;
            hg_tensor_free(hg_fastmri_read_mask(f));
        }
        if (in->ismrmrd_header && (int64_t)strlen(in->ismrmrd_header) > largest)
            largest = (int64_t)strlen(in->ismrmrd_header);
        hg_fastmri_close(f);
    } /* else a clean refusal: the parent's own open reports it */
    return peak_rss_bytes() - base > CHECK_SLACK_BYTES + 4 * largest ? EXIT_TOO_MUCH_MEMORY : 0;
}

hg_status hg_fastmri_check(const char *path, int timeout_s)
{
    if (!path)
        return hg_error(HG_ERR_INVALID, "fastmri check: NULL path");
    if (timeout_s <= 0)
        timeout_s = 60;
    fflush(NULL); /* the child must not flush the parent's buffered output a second time */
    pid_t pid = fork();
    if (pid < 0)
        return hg_error(HG_ERR_IO, "%s: cannot start the checking process: %s", path,
                        strerror(errno));
    if (pid == 0) {
        /* libhdf5 may print (e.g. "infinite loop closing library"); the caller's terminal
         * is not the place. alarm() ends a child that loops. */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1), dup2(null, 2), close(null);
        /* The default action, whatever the caller (or a fuzzer) installed, so that the
         * time limit does end the child. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGALRM, &dfl, NULL);
        alarm((unsigned)timeout_s);
        _exit(exercise(path));
    }
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return hg_error(HG_ERR_IO, "%s: lost the checking process: %s", path, strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return HG_OK;
    if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_TOO_MUCH_MEMORY)
        return hg_error(HG_ERR_FORMAT, "%s: refused: libhdf5 needed more than 256 MiB beyond "
                        "four times its largest dataset slice to read it (checked in a separate "
                        "process)", path);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        return hg_error(HG_ERR_FORMAT, "%s: refused: libhdf5 did not finish reading it within "
                        "%d s (checked in a separate process)", path, timeout_s);
    if (WIFSIGNALED(st))
        return hg_error(HG_ERR_FORMAT, "%s: refused: libhdf5 crashed reading it (signal %d, %s; "
                        "checked in a separate process)", path, WTERMSIG(st),
                        strsignal(WTERMSIG(st)));
    return hg_error(HG_ERR_FORMAT, "%s: refused: libhdf5 aborted reading it (exit status %d; "
                    "checked in a separate process)", path, WEXITSTATUS(st));
}

hg_fastmri_file *hg_fastmri_open_untrusted(const char *path)
{
    return hg_fastmri_check(path, 0) == HG_OK ? hg_fastmri_open(path) : NULL;
}

/* ---- writing ---------------------------------------------------------------------------- */

static hg_status check_input(const hg_fastmri_data *d)
{
    const hg_tensor *k = d ? d->kspace : NULL;
    if (!k)
        return hg_error(HG_ERR_INVALID, "fastmri write: no kspace tensor");
    if (k->dtype != HG_C64 || (k->ndim != 3 && k->ndim != 4))
        return hg_error(HG_ERR_INVALID, "fastmri write: kspace '%s' must be complex 3-d or 4-d, "
                        "got %s %d-d", hg_tensor_label(k), k->dtype == HG_C64 ? "complex" : "real",
                        k->ndim);
    const hg_tensor *r[2] = {d->rss, d->esc};
    for (int i = 0; i < 2; i++)
        if (r[i] && (r[i]->dtype != HG_F32 || r[i]->ndim != 3))
            return hg_error(HG_ERR_INVALID, "fastmri write: %s '%s' must be real 3-d, got %s %d-d",
                            i ? "esc" : "rss", hg_tensor_label(r[i]),
                            r[i]->dtype == HG_F32 ? "real" : "complex", r[i]->ndim);
    if (d->mask && (d->mask->dtype != HG_F32 || d->mask->ndim != 1 ||
                    d->mask->shape[0] != k->shape[k->ndim - 1]))
        return hg_error(HG_ERR_INVALID, "fastmri write: mask '%s' must be real 1-d of length "
                        "%lld (the k-space width)", hg_tensor_label(d->mask),
                        (long long)k->shape[k->ndim - 1]);
    return HG_OK;
}

static herr_t write_array(hid_t file, const char *name, hid_t ft, hid_t mt, int nd,
                          const int64_t *shape, const void *data)
{
    hsize_t dims[HG_MAX_DIMS];
    for (int i = 0; i < nd; i++)
        dims[i] = (hsize_t)shape[i];
    hid_t s = H5Screate_simple(nd, dims, NULL);
    hid_t d = s >= 0 ? H5Dcreate2(file, name, ft, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t r = d >= 0 ? H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
    close_id(&d, H5Dclose), close_id(&s, H5Sclose);
    return r;
}

/* A scalar variable-length UTF-8 string, as h5py writes str: an attribute or a dataset. */
static herr_t write_string(hid_t file, const char *name, const char *v, bool attr)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), o = -1;
    herr_t r = -1;
    if (t >= 0 && s >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0) {
        o = attr ? H5Acreate2(file, name, t, s, H5P_DEFAULT, H5P_DEFAULT)
                 : H5Dcreate2(file, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        r = o < 0 ? -1 : attr ? H5Awrite(o, t, &v) : H5Dwrite(o, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
    }
    if (o >= 0)
        (attr ? H5Aclose : H5Dclose)(o);
    close_id(&t, H5Tclose), close_id(&s, H5Sclose);
    return r;
}

static herr_t write_number(hid_t file, const char *name, double v)
{
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = s >= 0 ? H5Acreate2(file, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t r = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &v) : -1;
    close_id(&a, H5Aclose), close_id(&s, H5Sclose);
    return r;
}

/* The mask as h5py's bool (enum FALSE = 0, TRUE = 1 over int8). */
static herr_t write_mask(hid_t file, const hg_tensor *m)
{
    int64_t n = m->shape[0];
    signed char *b = malloc((size_t)n), f = 0, tr = 1;
    hid_t t = H5Tenum_create(H5T_NATIVE_SCHAR);
    herr_t r = -1;
    if (b && t >= 0 && H5Tenum_insert(t, "FALSE", &f) >= 0 && H5Tenum_insert(t, "TRUE", &tr) >= 0) {
        for (int64_t i = 0; i < n; i++)
            b[i] = m->data[i] != 0;
        r = write_array(file, "mask", t, t, 1, m->shape, b);
    }
    free(b);
    close_id(&t, H5Tclose);
    return r;
}

static herr_t write_all(hid_t file, const hg_fastmri_data *d)
{
    hid_t ft = H5Tcreate(H5T_COMPOUND, 8), mt = complex_mem_type();
    herr_t r = ft >= 0 && mt >= 0 && H5Tinsert(ft, "r", 0, H5T_IEEE_F32LE) >= 0 &&
                       H5Tinsert(ft, "i", 4, H5T_IEEE_F32LE) >= 0
                   ? write_array(file, "kspace", ft, mt, d->kspace->ndim, d->kspace->shape,
                                 d->kspace->data)
                   : -1;
    close_id(&ft, H5Tclose), close_id(&mt, H5Tclose);
    if (r >= 0 && d->rss)
        r = write_array(file, "reconstruction_rss", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3,
                        d->rss->shape, d->rss->data);
    if (r >= 0 && d->esc)
        r = write_array(file, "reconstruction_esc", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3,
                        d->esc->shape, d->esc->data);
    if (r >= 0 && d->mask)
        r = write_mask(file, d->mask);
    if (r >= 0 && d->ismrmrd_header)
        r = write_string(file, "ismrmrd_header", d->ismrmrd_header, false);
    if (r >= 0 && d->acquisition)
        r = write_string(file, "acquisition", d->acquisition, true);
    if (r >= 0 && d->patient_id)
        r = write_string(file, "patient_id", d->patient_id, true);
    if (r >= 0 && d->has_max)
        r = write_number(file, "max", d->max);
    if (r >= 0 && d->has_norm)
        r = write_number(file, "norm", d->norm);
    return r;
}

hg_status hg_fastmri_write(const char *path, const hg_fastmri_data *d)
{
    hg_status s = check_input(d);
    if (s)
        return s;
    hg_atomic_file af;
    if ((s = hg_atomic_open(&af, path)))
        return s;
    /* libhdf5 writes the temporary file by name; af.fp stays open on the same file so that
     * hg_atomic_commit's fsync + rename covers what libhdf5 wrote. */
    quiet q = quiet_begin();
    hid_t file = H5Fcreate(af.tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = file >= 0 ? write_all(file, d) : -1;
    if (file >= 0 && H5Fclose(file) < 0)
        r = -1;
    if (r < 0)
        s = h5_fail(HG_ERR_IO, path, "cannot write the HDF5 file");
    quiet_end(q);
    if (s) {
        hg_atomic_abort(&af);
        return s;
    }
    return hg_atomic_commit(&af);
}
