/* bench.h — netrun bench: step times of one entry on synthetic inputs, and
 * where the time goes, op kind by op kind. */
#ifndef NR_BENCH_H
#define NR_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "exec.h"

typedef struct {
    const char *entry;    /* "train" (forward, backward, update) or "infer" */
    int steps;            /* timed steps (>= 1) */
    int warmup;           /* untimed steps first (arena first touch, caches) */
    int threads;          /* for the report */
    int json;             /* one JSON object instead of the table */
    uint64_t seed;        /* the synthetic image and labels */
    double *median_s;     /* when not NULL: the median step time, seconds (netrun plan) */
} nr_bench_opts;

/* Fill the model's inputs with a random image in [0, 1) and random labels
 * (uniform over the classes; computed class weights from their counts),
 * run warmup + steps runs of the entry, and print to out the median, min
 * and max step time, the flops per step (2 per multiply-add of the
 * convolutions, 1 per output element of the other arithmetic ops, 0 for
 * data movement) and GFLOP/s, and per op kind its time per step, share,
 * calls per step and GFLOP/s (nothing when out is NULL).  0, or -1 with a
 * message in err. */
int nr_bench(nr_model *m, const nr_bench_opts *o, FILE *out, char *err, size_t errlen);

/* The flops of one node by the rule above. */
double nr_node_flops(const ng_graph *g, const ng_node *n);

#endif
