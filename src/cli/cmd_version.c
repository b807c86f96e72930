/* hinge version: the version and the libraries it was built with. */
#include "cli.h"

#include <cblas.h>
#include <fftw3.h>
#include <string.h>

static int run_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: hinge version\n\nPrints the hinge version and its libraries' versions.\n");
        return HG_EXIT_OK;
    }
    printf("hinge %s\n", HINGE_VERSION);
    printf("openblas: %s\n", openblas_get_config());
    printf("fftw: %s\n", fftwf_version);
    printf("threads: %d\n", hg_get_threads());
    return HG_EXIT_OK;
}

const hg_cli_command hg_cmd_version = {"version", "print version and library information",
                                       run_version};
