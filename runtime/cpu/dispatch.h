/* dispatch.h — from a graph node to its kernel call.
 * One small adapter per op (the kernel column of ops.def) reads the node's
 * tensors and attributes and calls the kernel of kernels.h with explicit
 * pointers and sizes.  Shapes were validated at load (ng_graph_check). */
#ifndef NR_DISPATCH_H
#define NR_DISPATCH_H

#include <stdint.h>
#include "kernels.h"
#include "netg.h"

/* Everything a kernel call needs: the node, its graph (for tensor shapes)
 * and the storage of its inputs, output and workspace. */
typedef struct {
    const ng_graph *g;
    const ng_node *n;
    float *in[NG_MAX_IN];   /* per input slot; NULL for an absent one */
    float *y;               /* output; NULL for update ops */
    float *ws;              /* workspace or NULL */
    float *scratch;         /* the fast convolutions' workspace: at least
                               nr_conv_fast_ws_elems of every conv node */
    uint64_t seed;          /* the run's seed (dropout) */
    int64_t step;           /* updates done before this run (Adam's t - 1) */
    int rank;               /* data-parallel rank (dist.h): dropout draws the
                               entries rank*size.. of one batch of all ranks' */
    int collective;         /* a train entry over several ranks: the loss sums
                               (cross_entropy, batch_sum) are over all ranks;
                               0 in eval/infer, whose ranks run different
                               numbers of batches (window.c) */
} nr_kctx;

void nr_dispatch(const nr_kctx *k);

/* The geometry of a conv2d, conv2d_bwd_data or conv2d_bwd_filter node. */
void nr_node_conv_geom(const ng_graph *g, const ng_node *n, nr_conv_geom *geom);

#endif
