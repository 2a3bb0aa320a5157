/* backend.h — the seam between the model runner (exec/) and what runs a
 * graph: one nr_backend, a struct of functions, per backend (cpu/ is the
 * first: nr_backend_cpu in cpu.h), as ggml keeps each backend behind one
 * struct and QBE each machine behind one Target.  A new backend is a new
 * folder beside cpu/ that fills this struct; exec/ sees this header and
 * nothing of cpu/, so it cannot call a backend any other way.
 *
 * Who calls what.  The program picks the backend (netrun's main.c, a test)
 * and hands it to nr_model_new (exec.h), which keeps it for the model's
 * life; then exec/ alone calls it:
 *   supports  once per node of every entry at nr_model_new: a graph with a
 *             node the backend cannot run is refused there, never mid-run;
 *   alloc     the persistent state, each entry's arena (or, in exec's
 *   free      unshared debug mode, each tensor's buffer) and the scratch of
 *             scratch_bytes; exec frees each with free at nr_model_free;
 *   upload    every host -> state copy: parameter initialization, the step
 *   download  counters, class weights, nr_model_write; nr_model_read the
 *             other way;
 *   run       each node of an entry, in the entry's order;
 *   rank,     the gradient averaging of a data-parallel train entry
 *   ranks,    (exec/grad_sync.h): sum, isum/test/wait over the ranks, in
 *   sum ...   the same order on every rank, and scale for the division by
 *             the ranks; nothing of it with one rank;
 *   sync      at the end of every nr_model_run, before the caller reads a
 *             result.
 * The host may still read and write the state and arena pointers that
 * nr_model_state and nr_model_tensor give (checkpoints, the jobs): on a
 * backend whose memory the host cannot address those need download and
 * upload first (not done yet; cpu/ memory is host memory).
 *
 * Ownership: the struct is the backend's (static, never freed); memory from
 * alloc is the caller's until it passes it to free.  Each function is
 * called from one thread at a time (netrun's main thread). */
#ifndef NR_BACKEND_H
#define NR_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "netg.h"

/* The precisions a node may run at: f32, or bf16 (inputs and weights
 * rounded to bfloat16, sums in f32: the convolutions of a backend that has
 * them).  A precision is a ceiling on the error: exec runs a node at bf16
 * only where supports says so, every other node at f32. */
typedef enum { NR_PREC_F32, NR_PREC_BF16 } nr_precision;

/* Everything a kernel call needs: the node, its graph (for tensor shapes)
 * and the storage of its inputs, output and workspace, all in memory of
 * the backend that runs it. */
typedef struct {
    const ng_graph *g;
    const ng_node *n;
    float *in[NG_MAX_IN];   /* per input slot; NULL for an absent one */
    float *y;               /* output; NULL for update ops */
    float *ws;              /* workspace or NULL */
    float *scratch;         /* the backend's own workspace: at least
                               scratch_bytes of every node of the entry */
    int precision;          /* nr_precision of this node: NR_PREC_BF16 only
                               where supports(n, NR_PREC_BF16) */
    uint64_t seed;          /* the run's seed (dropout) */
    int64_t step;           /* updates done before this run (Adam's t - 1) */
    int rank;               /* data-parallel rank (the backend's rank()):
                               dropout draws the entries rank*size.. of one
                               batch of all ranks' */
    int collective;         /* a train entry over several ranks: the loss sums
                               (cross_entropy, batch_sum) are over all ranks;
                               0 in eval/infer, whose ranks run different
                               numbers of batches (window.c) */
} nr_kctx;

/* A sum over the ranks in flight (isum .. wait): the backend's handle, an
 * MPI_Request on the CPU backend. */
typedef struct {
    uint64_t storage[2];
} nr_dist_req;

typedef struct nr_backend {
    const char *name; /* "cpu": in messages */
    /* bytes of backend memory (0 reads as 1), 64-byte aligned; NULL when
     * out of memory.  free(NULL) does nothing. */
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    /* host src -> backend dst, backend src -> host dst; bytes within one
     * block from alloc */
    void (*upload)(void *dst, const void *src, size_t bytes);
    void (*download)(void *dst, const void *src, size_t bytes);
    /* 1 when run handles node n (of any graph that passed ng_graph_check)
     * at precision (nr_precision), else 0; defined for every op row */
    int (*supports)(const ng_node *n, int precision);
    /* NULL when this machine runs precision's fast kernels, else the one
     * line saying why not (exec then runs f32 and prints it); a NULL
     * function: the backend has f32 only */
    const char *(*precision_missing)(int precision);
    /* Bytes of k->scratch that run needs for node n of g run at precision
     * (0: none). */
    int64_t (*scratch_bytes)(const ng_graph *g, const ng_node *n, int precision);
    /* Runs node k->n.  May queue it: work is done in call order, and by the
     * time sync, download or a collective on its output returns. */
    void (*run)(const nr_kctx *k);
    /* This process's rank among those the collectives span, and their
     * number (1: every collective leaves its buffer as it is). */
    int (*rank)(void);
    int (*ranks)(void);
    /* x[0..n) summed over the ranks in place, blocking */
    void (*sum)(float *x, int64_t n);
    /* The same, going on while the caller works (n < 2^31): test polls it
     * (1: arrived; also what moves it on, on some backends), wait waits. */
    void (*isum)(float *x, int64_t n, nr_dist_req *r);
    int (*test)(nr_dist_req *r);
    void (*wait)(nr_dist_req *r);
    /* x[i] *= a for i < n, each a float product (the averages) */
    void (*scale)(float *x, int64_t n, float a);
    /* Waits until every queued run is done (the CPU queues nothing). */
    void (*sync)(void);
} nr_backend;

#endif
