/* Shared by the file-format harnesses whose readers take a path: the input bytes are written
 * to a private temporary file first (tmpfs when available). */
#ifndef HINGE_FUZZ_FILES_H
#define HINGE_FUZZ_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline const char *fuzz_tmp_path(const char *suffix)
{
    static char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/hinge-fuzz-%d%s", dir, (int)getpid(), suffix);
    return path;
}

static inline int fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, size, f);
    fclose(f);
    return n == size ? 0 : -1;
}

#endif
