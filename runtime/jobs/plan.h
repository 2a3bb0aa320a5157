/* plan.h — netrun plan: from a dataset's fingerprint (fingerprint.h) and a
 * memory budget to a configuration of a model file (the patch SIZE, DEPTH,
 * BASE, BATCH, CLASSES), whose cost is read from the compiled graph, not
 * estimated; the step count that fits a time budget from a short bench; a
 * model file with the chosen consts and why.  docs/usage.md, "plan". */
#ifndef NR_PLAN_H
#define NR_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* The consts netrun plan sets (-D NAME=VALUE of netc). */
typedef struct {
    int size, depth, base, batch, classes;
} nr_plan_cfg;

/* The bytes one training process needs for the model of cfg: 0, or -1
 * with err (a model that does not compile).  The netc-backed one compiles
 * and reads the graph (plan.c); tests give their own. */
typedef int (*nr_plan_cost_fn)(void *ctx, const nr_plan_cfg *cfg, int64_t *bytes, char *err, size_t errlen);

/* What the search starts from. */
typedef struct {
    int target;             /* the patch side wanted: the median image side, rounded up to 16 */
    int classes;            /* CLASSES */
    int64_t batch_cap;      /* largest BATCH (nnU-Net: 5% of the dataset's pixels), >= 2 */
    int64_t memory;         /* the budget, bytes */
    int64_t reserve;        /* bytes besides the model's (process, class index, decoding, validation) */
} nr_plan_need;

typedef struct {
    nr_plan_cfg cfg;
    int64_t model_bytes;    /* cost_fn's bytes for cfg */
    int compiles;           /* calls of cost_fn */
} nr_plan_choice;

/* The bases tried, largest first (nnU-Net's 32 first). */
#define NR_PLAN_BASES {32, 16, 8}
/* The deepest U tried: the library models double the channels at every
 * level without nnU-Net's cap of 512, so 5 levels (1024 channels at BASE
 * 32) is as deep as they go. */
#define NR_PLAN_MAX_DEPTH 5
/* The time's rule (plan.c's fit_time): a configuration must afford this
 * many optimizer steps and passes over the data in --time, or a smaller
 * BATCH, then BASE, is taken.  The project's measured runs: the quickstart's
 * 1000 steps of batch 8 over 400 images (20 passes) reached foreground mIoU
 * 0.60; the memory's choice alone on its data, 179 steps of batch 20 at BASE
 * 32 (9 passes) in the same time, 0.21 (README.md, "Planning from the data"). */
#define NR_PLAN_MIN_STEPS 1000
#define NR_PLAN_MIN_EPOCHS 20
/* The smallest patch side tried. */
#define NR_PLAN_MIN_SIZE 16

/* nnU-Net's depth rule: the number of 2x2 poolings while the features stay
 * >= 4 px and size stays divisible, at most NR_PLAN_MAX_DEPTH. */
int nr_plan_depth(int size);

/* The search (plain words in docs/usage.md, "plan"):
 *   1. the largest patch side from need->target down by 16 at which BATCH
 *      2 fits with some BASE, the largest of NR_PLAN_BASES that fits;
 *   2. at that patch and BASE, the largest BATCH up to need->batch_cap
 *      that fits (bisection: the cost grows with the batch);
 *   3. when no patch fits BATCH 2, step 1 with BATCH 1.
 * A configuration fits when cost + need->reserve <= need->memory.  0; -1
 * with err when cost_fn fails, or, when nothing fits, "no configuration
 * fits ...: the smallest (...) needs N bytes". */
int nr_plan_search(const nr_plan_need *need, nr_plan_cost_fn cost, void *ctx, nr_plan_choice *out, char *err,
                   size_t errlen);

/* netrun plan DATA [options] (argv[0] = "plan"): the command, its usage
 * errors (2) and failures (1); nothing is written on failure.  be runs the
 * bench. */
int nr_plan_main(int argc, char **argv, const nr_backend *be);

#endif
