/* One place that sets the thread count of both OpenMP and the BLAS. */
#include "hinge/core.h"

#include <cblas.h>
#include <omp.h>

void hg_set_threads(int n)
{
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int hg_get_threads(void) { return omp_get_max_threads(); }

const char *hg_version(void) { return "0.1.0"; }
