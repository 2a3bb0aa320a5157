/* entry.h — entry points and their memory plans.
 * An entry is the list of graph nodes one netrun call executes: `train`
 * (forward with dropout, loss, backward, updates), `eval` (forward without
 * dropout, loss and output) and `infer` (forward to the output).  Dead
 * nodes are dropped; the order is the graph's creation order, which is
 * topological.  plan.c then gives every arena tensor an offset.  An entry's
 * arrays live in the compile arena of its graph (g->arena). */
#ifndef NC_ENTRY_H
#define NC_ENTRY_H

#include "graph.h"

typedef struct {
    const char *name;
    int n_nodes;
    ng_node *nodes;      /* copies, inputs renamed past removed dropout */
    int *src;            /* graph node index of each */
    /* memory plan (plan.c); per graph tensor, -1 when not in the arena */
    int64_t *offset;
    int *first, *last;   /* step of first definition and last use */
    int *alias;          /* storage group: the tensor whose storage it lies in
                            (itself, unless written in place over another or
                            placed in a concat's output or a slice's input) */
    int64_t *delta;      /* its byte position in the group's storage */
    int64_t arena;       /* planned bytes */
    int64_t naive;       /* sum of all arena tensors' bytes */
    int64_t lower;       /* max bytes live at one step (liveness bound) */
} nc_entry;

#define NC_MAX_ENTRIES 3

/* Build and plan the entries of g into e[]; returns how many (1 without a
 * loss).  With recompute, the train entry recomputes cheap activations
 * (upsample, concat, maxpool, dropout) in the backward pass instead of
 * keeping them from the forward pass; the copies are new tensors of g. */
int nc_entries_build(nc_graph *g, nc_entry *e, int recompute);
/* The gradient checks' entry: a "train" entry whose roots are the loss and
 * the gradient of every parameter (a graph without optimizer updates),
 * built and planned like the others. */
void nc_entry_build_gradients(nc_graph *g, nc_entry *e);

/* Lifetimes and offsets (greedy by size, best fit), see plan.c. */
void nc_plan(const nc_graph *g, nc_entry *e);

#define NC_ALIGN 64

#endif
