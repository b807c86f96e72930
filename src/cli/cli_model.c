/* See cli_model.h. */
#include "cli_model.h"

#include <stdio.h>
#include <string.h>

void hg_cli_model_path(const char *arg, char *path, size_t size)
{
    FILE *f = fopen(arg, "rb");
    if (f || strchr(arg, '/') || strstr(arg, ".safetensors")) {
        if (f)
            fclose(f);
        snprintf(path, size, "%s", arg);
        return;
    }
    snprintf(path, size, "%s/models/%s.safetensors", HINGE_SOURCE_DIR, arg);
}
