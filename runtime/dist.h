/* dist.h — data-parallel training across processes (MPI), and its no-op
 * twin in a build without MPI: rank, size, broadcast, allreduce, and the
 * gradient allreduce that the executor runs in the backward pass.
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

#include "dispatch.h"
#include "netg.h"

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

/* Rank 0's parameters, optimizer state, constants and step, to every rank. */
struct nr_model;
void nr_dist_bcast_model(struct nr_model *m);
/* A checksum of the parameters and optimizer state into *sum; -1 when the
 * ranks' checksums differ (the weights are no longer the same), else 0. */
int nr_dist_check_model(struct nr_model *m, uint64_t *sum);
/* The rank's share of global batch k (samples k*B*size .. of n, in order):
 * its first position into *first, and its count (0..per_rank). */
int nr_dist_shard(int64_t k, int per_rank, int n, int *first);

/* --- the gradients of a train entry ------------------------------------
 * The tensors averaged across ranks are the gradients the optimizer reads:
 * the NG_ROLE_GRAD tensors that a node outside the backward pass reads (an
 * update, or a norm for clipping: a node whose output is not a gradient),
 * less those computed from such a tensor (a clipped gradient).  Each lives
 * in a bucket, not in the arena: its producer writes it there (the kernel's
 * output pointer redirected), it is divided by the ranks right after, and a
 * bucket is summed
 * with MPI_Iallreduce when it is full (NR_DIST_BUCKET_BYTES) or when a node
 * is about to read one of its tensors, while the backward pass goes on.
 * netc runs each update right after its gradient (compiler/entry.c), so the
 * executor holds back the updates whose inputs are persistent, averaged
 * gradients or a few small tensors (a scheduled learning rate, copied at
 * the update's place) and that no later node's inputs depend on: they run
 * after the last node, reading the averages from the buckets.  Any other
 * reader of an averaged gradient (a clipping norm) waits for its bucket and
 * reads the averages there.  Persistent
 * tensors written by an update that reads no gradient (batch_norm's running
 * statistics) are averaged after the run.  The plan is made once per entry;
 * NULL when there is nothing to reduce or one process.
 * A run: nr_dist_begin_run; per node i, nr_dist_hold (1: skip it now), or
 * nr_dist_before_node, the kernel, nr_dist_after_node; nr_dist_end_run;
 * then the calls nr_dist_held gives, in order. */
#define NR_DIST_BUCKET_BYTES ((int64_t)4 << 20) /* NETRUN_DIST_BUCKET_MB overrides it */

typedef struct nr_dist_plan nr_dist_plan;
/* The storage of tensor t of the entry being run (exec.c's tensor_ptr). */
typedef void *(*nr_dist_ptr_fn)(void *ctx, int t);

nr_dist_plan *nr_dist_plan_new(const ng_graph *g, const ng_entry *en);
void nr_dist_plan_free(nr_dist_plan *p);
void nr_dist_begin_run(nr_dist_plan *p);
/* Node i is a held update: its call k is kept (reading the averages) for
 * after nr_dist_end_run; returns 1, or 0 to run the node now. */
int nr_dist_hold(nr_dist_plan *p, int i, const nr_kctx *k);
/* The j-th held call of this run and its node index, or NULL after the last. */
const nr_kctx *nr_dist_held(const nr_dist_plan *p, int j, int *node);
/* Before node i runs: wait for the buckets it reads, and point k's inputs
 * and output that are reduced gradients at their place in the buckets. */
void nr_dist_before_node(nr_dist_plan *p, int i, nr_kctx *k);
/* After node i ran: divide its output by the ranks when it is a reduced
 * gradient, and send its bucket when that was the bucket's last. */
void nr_dist_after_node(nr_dist_plan *p, int i);
/* After the last node: finish every bucket, average the statistics. */
void nr_dist_end_run(nr_dist_plan *p, nr_dist_ptr_fn ptr, void *ctx);
/* netrun train --profile, several ranks: per step of steps, the seconds
 * this process spent on the gradient allreduce outside the kernels (waiting
 * for buckets, polling those in flight, dividing by the ranks), against
 * run_s in the train entry. */
void nr_dist_print_profile(FILE *f, double run_s, int64_t steps);
/* Counts of the plan (for netrun info and the tests). */
int nr_dist_plan_tensors(const nr_dist_plan *p);
int64_t nr_dist_plan_bytes(const nr_dist_plan *p);

#endif
