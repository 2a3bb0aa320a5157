/* dist.c — the collectives of a data-parallel job over MPI (dist.h): the
 * job's rank and size, broadcast, allreduce (blocking and not) and the
 * agreement on failures.  Built without MPI (meson -Dmpi=disabled, or no
 * MPI found), every function is the one-process case. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "dist.h"

#include <limits.h>
#include <sched.h>
#include <unistd.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef NR_HAVE_MPI
#include <mpi.h>
#endif

static int d_rank = 0, d_size = 1, d_local = 1, d_failed_together = 0;
static int d_sharing = 1; /* ranks on this machine whose cores overlap this one's, itself included */

int nr_dist_rank(void) { return d_rank; }
int nr_dist_size(void) { return d_size; }
int nr_dist_local_size(void) { return d_local; }
int nr_dist_failed_together(void) { return d_failed_together; }

int nr_dist_default_threads(void)
{
    if (d_size < 2)
        return 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    int mine = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)online;
    /* the cores this rank may run on (one with Open MPI's binding to cores,
     * a socket's, or all), shared evenly with the ranks that may run there */
    int t = mine / (d_sharing > 0 ? d_sharing : 1);
    return t > 0 ? t : 1;
}

#ifdef NR_HAVE_MPI
static int d_on = 0;

int nr_dist_built(void) { return 1; }

/* A launcher's environment: Open MPI's mpirun, PMIx, MPICH's hydra. */
static int launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int nr_dist_init(int *argc, char ***argv, char *err, size_t errlen)
{
    if (d_on || !launched())
        return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init_thread failed");
        return -1;
    }
    d_on = 1;
    atexit(nr_dist_finalize);
    MPI_Comm_rank(MPI_COMM_WORLD, &d_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d_size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &d_local);
        /* whose cores overlap ours: the ranks our threads would compete with */
        cpu_set_t mine, *all = malloc(sizeof *all * (size_t)d_local);
        if (all && sched_getaffinity(0, sizeof mine, &mine) == 0) {
            MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, local);
            d_sharing = 0;
            for (int r = 0; r < d_local; r++) {
                cpu_set_t both;
                CPU_AND(&both, &mine, &all[r]);
                d_sharing += CPU_COUNT(&both) > 0;
            }
        } else {
            d_sharing = d_local;
        }
        free(all);
        MPI_Comm_free(&local);
    }
    return 0;
}

void nr_dist_finalize(void)
{
    int done = 0;
    if (d_on && MPI_Finalized(&done) == MPI_SUCCESS && !done)
        MPI_Finalize();
}

void nr_dist_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (d_on && d_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void nr_dist_bcast(void *buf, size_t bytes)
{
    if (d_size < 2)
        return;
    for (size_t o = 0; o < bytes;) { /* counts are ints: 1 GiB at a time */
        size_t c = bytes - o < ((size_t)1 << 30) ? bytes - o : ((size_t)1 << 30);
        MPI_Bcast((char *)buf + o, (int)c, MPI_BYTE, 0, MPI_COMM_WORLD);
        o += c;
    }
}

void nr_dist_sum_f32(float *x, int64_t n)
{
    if (d_size < 2)
        return;
    for (int64_t o = 0; o < n;) {
        int64_t c = n - o < (1 << 28) ? n - o : (1 << 28);
        MPI_Allreduce(MPI_IN_PLACE, x + o, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        o += c;
    }
}

void nr_dist_sum_f64(double *x, int n)
{
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void nr_dist_sum_i64(int64_t *x, int n)
{
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
}

void nr_dist_max_f64(double *x, int n)
{
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
}

int nr_dist_agree(int rc)
{
    int bad = rc != 0;
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (bad && d_size > 1)
        d_failed_together = 1;
    return bad ? -1 : 0;
}

static_assert(sizeof(MPI_Request) <= sizeof(nr_dist_req), "nr_dist_req holds an MPI_Request");

void nr_dist_isum_f32(float *x, int64_t n, nr_dist_req *r)
{
    if (d_size < 2)
        return;
    MPI_Request q;
    MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q);
    memcpy(r->storage, &q, sizeof q);
}

int nr_dist_test(nr_dist_req *r)
{
    if (d_size < 2)
        return 1;
    MPI_Request q;
    int flag = 0;
    memcpy(&q, r->storage, sizeof q);
    MPI_Test(&q, &flag, MPI_STATUS_IGNORE);
    memcpy(r->storage, &q, sizeof q);
    return flag;
}

void nr_dist_wait(nr_dist_req *r)
{
    if (d_size < 2)
        return;
    MPI_Request q;
    memcpy(&q, r->storage, sizeof q);
    MPI_Wait(&q, MPI_STATUS_IGNORE);
    memcpy(r->storage, &q, sizeof q);
}

int nr_dist_same_u64(uint64_t h)
{
    if (d_size < 2)
        return 0;
    uint64_t lo = h, hi = h;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    d_failed_together |= lo != hi;
    return lo == hi ? 0 : -1;
}

#else /* one process: no MPI in this build */

int nr_dist_built(void) { return 0; }
int nr_dist_init(int *argc, char ***argv, char *err, size_t errlen)
{
    (void)argc, (void)argv, (void)err, (void)errlen;
    return 0;
}
void nr_dist_finalize(void) {}
void nr_dist_abort(int code)
{
    fflush(stdout);
    exit(code);
}
void nr_dist_bcast(void *buf, size_t bytes) { (void)buf, (void)bytes; }
void nr_dist_sum_f32(float *x, int64_t n) { (void)x, (void)n; }
void nr_dist_sum_f64(double *x, int n) { (void)x, (void)n; }
void nr_dist_sum_i64(int64_t *x, int n) { (void)x, (void)n; }
void nr_dist_max_f64(double *x, int n) { (void)x, (void)n; }
int nr_dist_agree(int rc) { return rc ? -1 : 0; }
void nr_dist_isum_f32(float *x, int64_t n, nr_dist_req *r) { (void)x, (void)n, (void)r; }
int nr_dist_test(nr_dist_req *r) { (void)r; return 1; }
void nr_dist_wait(nr_dist_req *r) { (void)r; }
int nr_dist_same_u64(uint64_t h) { (void)h; return 0; }

#endif

int nr_dist_shard(int64_t k, int per_rank, int n, int *first)
{
    int64_t f = k * (int64_t)per_rank * nr_dist_size() + (int64_t)nr_dist_rank() * per_rank;
    int64_t cnt = f >= n ? 0 : n - f < per_rank ? n - f : per_rank;
    *first = (int)(f < n ? f : n);
    return (int)cnt;
}
