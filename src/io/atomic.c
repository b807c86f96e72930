/* Atomic output files: temporary file + fsync + rename. */
#include "hinge/io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hg_status hg_atomic_open(hg_atomic_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    size_t n = strlen(path);
    f->path = strdup(path);
    f->tmp_path = malloc(n + 16);
    if (!f->path || !f->tmp_path) {
        free(f->path), free(f->tmp_path);
        return hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmp_path);
    if (fd < 0) {
        hg_status s = hg_error(HG_ERR_IO, "%s: cannot create a temporary file: %s", path,
                               strerror(errno));
        free(f->path), free(f->tmp_path);
        memset(f, 0, sizeof *f);
        return s;
    }
    fchmod(fd, 0644);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        unlink(f->tmp_path);
        free(f->path), free(f->tmp_path);
        memset(f, 0, sizeof *f);
        return hg_error(HG_ERR_IO, "%s: cannot open for writing", path);
    }
    return HG_OK;
}

static void sync_directory(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

hg_status hg_atomic_commit(hg_atomic_file *f)
{
    if (!f->fp)
        return hg_error(HG_ERR_STATE, "atomic file: not open");
    bool ok = !ferror(f->fp) && fflush(f->fp) == 0 && fsync(fileno(f->fp)) == 0;
    int err = errno;
    ok = (fclose(f->fp) == 0) && ok;
    f->fp = NULL;
    if (!ok) {
        hg_status s = hg_error(HG_ERR_IO, "%s: write failed: %s", f->path, strerror(err));
        hg_atomic_abort(f);
        return s;
    }
    if (rename(f->tmp_path, f->path) != 0) {
        hg_status s = hg_error(HG_ERR_IO, "%s: rename failed: %s", f->path, strerror(errno));
        hg_atomic_abort(f);
        return s;
    }
    sync_directory(f->path);
    free(f->path), free(f->tmp_path);
    memset(f, 0, sizeof *f);
    return HG_OK;
}

void hg_atomic_abort(hg_atomic_file *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->tmp_path)
        unlink(f->tmp_path);
    free(f->path), free(f->tmp_path);
    memset(f, 0, sizeof *f);
}

hg_status hg_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return hg_error(HG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return hg_error(HG_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(fp);
        return hg_error(HG_ERR_FORMAT, "%s: %lld bytes, more than the limit of %zu", path,
                        (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(fp);
        return hg_error(HG_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    if (fread(buf, 1, n, fp) != n) {
        free(buf);
        fclose(fp);
        return hg_error(HG_ERR_IO, "%s: short read", path);
    }
    fclose(fp);
    *data = buf;
    *size = n;
    return HG_OK;
}
