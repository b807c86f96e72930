/* Private helpers of src/dist. */
#ifndef HINGE_DIST_INTERNAL_H
#define HINGE_DIST_INTERNAL_H

#include "hinge/dist.h"

double hg_dist_now(void);
/* An hg_error for a failed MPI call, with MPI's own message. */
hg_status hg_dist_mpi_error(int code, const char *what);

#endif
