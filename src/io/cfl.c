/* BART .cfl/.hdr files. The header is validated completely (sizes parsed with overflow
 * checks, the data file's size compared with the header) before anything is allocated from
 * it. */
#include "hinge/cfl.h"
#include "hinge/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CFL_MAX_HEADER 65536

/* base + ext with a trailing ".cfl"/".hdr" of name removed. */
static hg_status cfl_path(const char *name, const char *ext, char **out)
{
    if (!name || !*name)
        return hg_error(HG_ERR_INVALID, "cfl: empty file name");
    size_t n = strlen(name);
    if (n > 4 && (strcmp(name + n - 4, ".cfl") == 0 || strcmp(name + n - 4, ".hdr") == 0))
        n -= 4;
    *out = malloc(n + 5);
    if (!*out)
        return hg_error(HG_ERR_NOMEM, "cfl: out of memory");
    memcpy(*out, name, n);
    memcpy(*out + n, ext, 5);
    return HG_OK;
}

/* Parses the sizes line: 1..16 positive integers separated by blanks. */
static hg_status parse_dims(const char *path, const char *line, int64_t dims[HG_CFL_DIMS])
{
    int count = 0;
    const char *p = line;
    int64_t total = 1;
    for (int i = 0; i < HG_CFL_DIMS; i++)
        dims[i] = 1;
    while (*p && *p != '\n') {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (!*p || *p == '\n')
            break;
        if (count == HG_CFL_DIMS)
            return hg_error(HG_ERR_FORMAT, "%s: more than %d dimensions", path, HG_CFL_DIMS);
        if (*p < '0' || *p > '9')
            return hg_error(HG_ERR_FORMAT, "%s: dimension %d is not a positive integer ('%.16s')",
                            path, count, p);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno == ERANGE || (*end && *end != ' ' && *end != '\t' && *end != '\n' &&
                                *end != '\r'))
            return hg_error(HG_ERR_FORMAT, "%s: dimension %d is not a valid integer ('%.16s')",
                            path, count, p);
        if (v < 1)
            return hg_error(HG_ERR_FORMAT, "%s: dimension %d is %lld, expected >= 1", path, count,
                            v);
        if (total > (INT64_MAX / 8) / v)
            return hg_error(HG_ERR_FORMAT, "%s: the dimensions' product overflows", path);
        total *= v;
        dims[count++] = v;
        p = end;
    }
    if (count == 0)
        return hg_error(HG_ERR_FORMAT, "%s: no dimensions after '# Dimensions'", path);
    return HG_OK;
}

hg_status hg_cfl_read_dims(const char *name, int64_t dims[HG_CFL_DIMS])
{
    char *path;
    hg_status s = cfl_path(name, ".hdr", &path);
    if (s != HG_OK)
        return s;
    unsigned char *raw = NULL;
    size_t size = 0;
    s = hg_read_file(path, CFL_MAX_HEADER, &raw, &size);
    char *text = s == HG_OK ? malloc(size + 1) : NULL;
    if (s == HG_OK && !text)
        s = hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    if (s == HG_OK) {
        memcpy(text, raw, size);
        text[size] = '\0';
        if (strlen(text) != size)
            s = hg_error(HG_ERR_FORMAT, "%s: a NUL byte in a text header", path);
    }
    /* The sizes are the first line after "# Dimensions"; other "#" sections are ignored. */
    const char *line = NULL;
    for (char *p = text; s == HG_OK && p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "# Dimensions", 12) == 0) {
            char *next = strchr(p, '\n');
            line = next ? next + 1 : "";
            break;
        }
    }
    if (s == HG_OK && !line)
        s = hg_error(HG_ERR_FORMAT, "%s: no '# Dimensions' line: not a BART header", path);
    if (s == HG_OK)
        s = parse_dims(path, line, dims);
    free(raw), free(text), free(path);
    return s;
}

hg_tensor *hg_cfl_read(const char *name, int64_t dims_out[HG_CFL_DIMS])
{
    int64_t dims[HG_CFL_DIMS];
    if (hg_cfl_read_dims(name, dims) != HG_OK)
        return NULL;
    int nd = 1;
    for (int i = 0; i < HG_CFL_DIMS; i++)
        if (dims[i] != 1)
            nd = i + 1;
    char *path;
    if (cfl_path(name, ".cfl", &path) != HG_OK)
        return NULL;
    if (nd > HG_MAX_DIMS) {
        hg_error(HG_ERR_UNSUPPORTED, "%s: %d dimensions up to the last non-singleton, at most %d",
                 path, nd, HG_MAX_DIMS);
        free(path);
        return NULL;
    }
    int64_t shape[HG_MAX_DIMS], count = 1;
    for (int i = 0; i < nd; i++) {
        shape[i] = dims[nd - 1 - i];
        count *= shape[i];
    }
    FILE *fp = fopen(path, "rb");
    struct stat st;
    hg_tensor *t = NULL;
    if (!fp) {
        hg_error(HG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    } else if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        hg_error(HG_ERR_IO, "%s: not a regular file", path);
    } else if ((uint64_t)st.st_size != (uint64_t)count * 8) {
        hg_error(HG_ERR_FORMAT, "%s: %lld bytes, the header's %lld complex values need %lld",
                 path, (long long)st.st_size, (long long)count, (long long)count * 8);
    } else if ((t = hg_tensor_empty(NULL, HG_C64, nd, shape)) != NULL) {
        if (fread(t->data, 8, (size_t)count, fp) != (size_t)count) {
            hg_error(HG_ERR_IO, "%s: short read", path);
            hg_tensor_free(t);
            t = NULL;
        }
    }
    if (fp)
        fclose(fp);
    free(path);
    if (t && dims_out)
        memcpy(dims_out, dims, sizeof dims);
    return t;
}

static hg_status write_data(const char *path, const hg_tensor *t)
{
    hg_atomic_file f;
    hg_status s = hg_atomic_open(&f, path);
    if (s != HG_OK)
        return s;
    bool ok = true;
    if (t->dtype == HG_C64) {
        ok = fwrite(t->data, 8, (size_t)t->numel, f.fp) == (size_t)t->numel;
    } else {
        for (int64_t i = 0; ok && i < t->numel; i++) {
            float v[2] = {t->data[i], 0.0f};
            ok = fwrite(v, sizeof v, 1, f.fp) == 1;
        }
    }
    if (!ok) {
        hg_atomic_abort(&f);
        return hg_error(HG_ERR_IO, "%s: write failed", path);
    }
    return hg_atomic_commit(&f);
}

static hg_status write_header(const char *path, const hg_tensor *t)
{
    hg_atomic_file f;
    hg_status s = hg_atomic_open(&f, path);
    if (s != HG_OK)
        return s;
    fprintf(f.fp, "# Dimensions\n");
    for (int i = 0; i < HG_CFL_DIMS; i++)
        fprintf(f.fp, "%lld ", (long long)(i < t->ndim ? t->shape[t->ndim - 1 - i] : 1));
    fprintf(f.fp, "\n");
    return hg_atomic_commit(&f);
}

hg_status hg_cfl_write(const char *name, const hg_tensor *t)
{
    if (!t)
        return hg_error(HG_ERR_INVALID, "cfl write: NULL tensor");
    char *data = NULL, *hdr = NULL;
    hg_status s = cfl_path(name, ".cfl", &data);
    if (s == HG_OK)
        s = cfl_path(name, ".hdr", &hdr);
    if (s == HG_OK)
        s = write_data(data, t);
    if (s == HG_OK) /* header last: a reader never sees a header without its data */
        s = write_header(hdr, t);
    free(data), free(hdr);
    return s;
}
