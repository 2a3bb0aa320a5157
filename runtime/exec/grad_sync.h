/* grad_sync.h — what keeps the ranks of a data-parallel job on the same
 * weights during training: the gradients of a train entry averaged in
 * buckets while the backward pass goes on, over the backend's collectives
 * (backend.h: ranks, sum, isum/test/wait). */
#ifndef NR_GRAD_SYNC_H
#define NR_GRAD_SYNC_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "netg.h"

/* --- the gradients of a train entry ------------------------------------
 * The tensors averaged across ranks are the gradients the optimizer reads:
 * the NG_ROLE_GRAD tensors that a node outside the backward pass reads (an
 * update, or a norm for clipping: a node whose output is not a gradient),
 * less those computed from such a tensor (a clipped gradient).  Each lives
 * in a bucket, not in the arena: its producer writes it there (the kernel's
 * output pointer redirected), it is divided by the ranks right after, and a
 * bucket is summed with the backend's isum when it is full
 * (NR_DIST_BUCKET_BYTES) or when a node is about to read one of its
 * tensors, while the backward pass goes on.
 * netc runs each update right after its gradient (compiler/entry.c), so the
 * executor holds back the updates whose inputs are persistent, averaged
 * gradients or a few small tensors (a scheduled learning rate, copied at
 * the update's place) and that no later node's inputs depend on: they run
 * after the last node, reading the averages from the buckets.  Any other
 * reader of an averaged gradient (a clipping norm) waits for its bucket and
 * reads the averages there.  Persistent
 * tensors written by an update that reads no gradient (batch_norm's running
 * statistics) are averaged after the run.  The plan is made once per entry;
 * NULL when there is nothing to reduce or one rank.
 * A run: nr_dist_begin_run; per node i, nr_dist_hold (1: skip it now), or
 * nr_dist_before_node, the kernel, nr_dist_after_node; nr_dist_end_run;
 * then the calls nr_dist_held gives, in order. */
#define NR_DIST_BUCKET_BYTES ((int64_t)4 << 20) /* NETRUN_DIST_BUCKET_MB overrides it */

typedef struct nr_dist_plan nr_dist_plan;
/* The storage of tensor t of the entry being run (exec.c's tensor_ptr). */
typedef void *(*nr_dist_ptr_fn)(void *ctx, int t);

/* The plan of entry en over be's ranks into *out (NULL: none needed); 0, or
 * -1 when out of memory. */
int nr_dist_plan_new(const ng_graph *g, const ng_entry *en, const nr_backend *be, nr_dist_plan **out);
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
