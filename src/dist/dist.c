/* MPI start-up, collectives on parameters, and the data-parallel trainer (see hinge/dist.h).
 * Compiled without MPI (HINGE_MPI off) every call behaves as a world of one rank. */
#include "dist_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HINGE_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_world = 1;
static bool g_initialized = false; /* MPI_Init was called by us */

bool hg_dist_compiled(void)
{
#ifdef HINGE_HAVE_MPI
    return true;
#else
    return false;
#endif
}

#ifdef HINGE_HAVE_MPI
/* True when an MPI launcher started this process: Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE,
 * PMIx launchers PMIX_RANK, Hydra (MPICH) and Slurm's PMI PMI_RANK. */
static bool launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static void finalize_at_exit(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Finalize();
}
#endif

hg_status hg_dist_init(void)
{
#ifdef HINGE_HAVE_MPI
    if (g_initialized || !launched_by_mpi())
        return HG_OK;
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        /* Only the calling thread talks to MPI; OpenMP threads never do. */
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return hg_error(HG_ERR_STATE, "dist: MPI_Init_thread failed");
        atexit(finalize_at_exit);
    }
    /* Errors come back as codes (turned into hg_error) instead of aborting every rank. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world);
    g_initialized = true;
#endif
    return HG_OK;
}

bool hg_dist_active(void) { return g_initialized && g_world > 1; }
int hg_dist_rank(void) { return g_rank; }
int hg_dist_world(void) { return g_world; }

void hg_dist_barrier(void)
{
#ifdef HINGE_HAVE_MPI
    if (g_initialized)
        MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void hg_dist_abort(int code)
{
#ifdef HINGE_HAVE_MPI
    if (hg_dist_active())
        MPI_Abort(MPI_COMM_WORLD, code);
#endif
    (void)code;
}

double hg_dist_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

hg_status hg_dist_mpi_error(int code, const char *what)
{
#ifdef HINGE_HAVE_MPI
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return hg_error(HG_ERR_IO, "dist: %s failed on rank %d of %d: %s", what, g_rank, g_world,
                    msg);
#else
    return hg_error(HG_ERR_STATE, "dist: %s failed (code %d)", what, code);
#endif
}

/* ---- parameter hash and broadcast --------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t hg_params_hash(const hg_params *p)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int32_t i = 0; i < p->count; i++) {
        const hg_tensor *t = p->items[i].tensor;
        h = fnv1a(h, p->items[i].name, strlen(p->items[i].name) + 1);
        h = fnv1a(h, t->shape, (size_t)t->ndim * sizeof *t->shape);
        h = fnv1a(h, t->data, (size_t)hg_tensor_nfloats(t) * sizeof(float));
    }
    return h;
}

hg_status hg_dist_check_identical(const hg_params *p, int64_t step)
{
    if (!hg_dist_active())
        return HG_OK;
#ifdef HINGE_HAVE_MPI
    uint64_t mine = hg_params_hash(p);
    uint64_t stack[64], *all = g_world <= 64 ? stack : malloc((size_t)g_world * sizeof *all);
    if (!all)
        return hg_error(HG_ERR_NOMEM, "dist: weight check: no memory for %d hashes", g_world);
    int rc = MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    hg_status s = rc == MPI_SUCCESS ? HG_OK : hg_dist_mpi_error(rc, "weight check allgather");
    for (int r = 1; s == HG_OK && r < g_world; r++)
        if (all[r] != all[0])
            s = hg_error(HG_ERR_STATE,
                         "dist: weights diverged after step %lld: rank 0 hash %016llx, rank %d "
                         "hash %016llx (the ranks no longer train the same model)",
                         (long long)step, (unsigned long long)all[0], r,
                         (unsigned long long)all[r]);
    if (all != stack)
        free(all);
    return s;
#else
    (void)p;
    (void)step;
    return HG_OK;
#endif
}

hg_status hg_dist_broadcast_params(hg_params *p)
{
#ifdef HINGE_HAVE_MPI
    if (!hg_dist_active())
        return HG_OK;
    for (int32_t i = 0; i < p->count; i++) {
        hg_tensor *t = p->items[i].tensor;
        int64_t n = hg_tensor_nfloats(t);
        for (int64_t at = 0; at < n; at += 1 << 30) {
            int chunk = (int)(n - at < (1 << 30) ? n - at : (1 << 30));
            int rc = MPI_Bcast(t->data + at, chunk, MPI_FLOAT, 0, MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS)
                return hg_dist_mpi_error(rc, "parameter broadcast");
        }
    }
#else
    (void)p;
#endif
    return HG_OK;
}

double hg_dist_allreduce_double(double v, bool average)
{
#ifdef HINGE_HAVE_MPI
    if (hg_dist_active()) {
        double sum = v;
        if (MPI_Allreduce(&v, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS)
            return average ? sum / g_world : sum;
    }
#endif
    (void)average;
    return v;
}
