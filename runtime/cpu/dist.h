/* dist.h — the collectives of data-parallel training across processes
 * (MPI), and their no-op twins in a build without MPI: rank, size,
 * broadcast, allreduce (the CPU backend's collectives, cpu.h, with which
 * exec/grad_sync.h averages the gradients).
 *
 * Launched by mpirun (Open MPI, MPICH: the launcher's environment says
 * so), nr_dist_init joins the job; otherwise, or in a build without MPI,
 * netrun is one process: rank 0 of 1, and every function below returns at
 * once (the collectives leave their buffers as they are).  The collectives
 * are called by every rank in the same order (all ranks run the same train
 * entry on equal batches; the eval and infer entries call none, so the
 * ranks may run them different numbers of times), from netrun's main thread
 * only. */
#ifndef NR_DIST_H
#define NR_DIST_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "backend.h" /* nr_dist_req */

/* Joins the MPI job when a launcher started this process (else nothing).
 * 0, or -1 with a message in err. */
int nr_dist_init(int *argc, char ***argv, char *err, size_t errlen);
/* Leaves the job (MPI_Finalize); registered with atexit by nr_dist_init. */
void nr_dist_finalize(void);
/* Ends every rank of the job at once (MPI_Abort), for a failure the other
 * ranks cannot know about; in one process, exit(code). */
void nr_dist_abort(int code) __attribute__((noreturn));

int nr_dist_rank(void);       /* 0..size-1 */
int nr_dist_size(void);       /* ranks in the job; 1 without MPI */
int nr_dist_local_size(void); /* ranks on this machine (for the thread count) */
int nr_dist_built(void);      /* 1 when this netrun was built with MPI */
/* The threads per rank when --threads is not given (0: all cores, in one
 * process): the cores this process may run on, shared evenly by the ranks
 * on this machine that may run on the same ones, at least 1. */
int nr_dist_default_threads(void);

/* Collectives over all ranks, in place. */
void nr_dist_bcast(void *buf, size_t bytes);                /* from rank 0 */
void nr_dist_sum_f32(float *x, int64_t n);
void nr_dist_sum_f64(double *x, int n);
void nr_dist_sum_i64(int64_t *x, int n);
void nr_dist_max_f64(double *x, int n);

/* Every rank's rc (0 or not): returns 0 when all were 0, else -1 on every
 * rank, and then nr_dist_failed_together() is 1, so that the ranks can stop
 * cleanly (a rank that did not fail itself leaves err empty).  With one
 * process: rc != 0 ? -1 : 0. */
int nr_dist_agree(int rc);
int nr_dist_failed_together(void);

/* A sum over all ranks in place that goes on while the caller works
 * (MPI_Iallreduce, n < 2^31; r holds its MPI_Request): nr_dist_test polls
 * it (1: arrived; MPI moves a message only inside MPI calls), nr_dist_wait
 * waits for it.  With one process it is done at once. */
void nr_dist_isum_f32(float *x, int64_t n, nr_dist_req *r);
int nr_dist_test(nr_dist_req *r);
void nr_dist_wait(nr_dist_req *r);

/* 0 when every rank passed the same h, else -1 on every rank (and then
 * nr_dist_failed_together() is 1). */
int nr_dist_same_u64(uint64_t h);

/* The rank's share of global batch k (samples k*B*size .. of n, in order):
 * its first position into *first, and its count (0..per_rank). */
int nr_dist_shard(int64_t k, int per_rank, int n, int *first);

#endif
