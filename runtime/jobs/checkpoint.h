/* checkpoint.h — a model's state in safetensors files, and where a run
 * stood.  Each returns 0, or -1 with a one-line message in err. */
#ifndef NR_CHECKPOINT_H
#define NR_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "safetensors.h"

/* Where a run stands, kept in its checkpoints' metadata so that --resume
 * continues exactly where it stopped, mid-epoch too: the data order comes
 * from the seed and the step, dropout from the seed and the step,
 * augmentation from the seed and the samples seen, and the epoch's mean
 * training loss from the sum so far. */
typedef struct {
    int epoch;             /* epochs completed */
    double best;           /* the best score so far (-inf: none yet) */
    double epoch_loss;     /* sum of the training losses of this epoch's steps so far */
    int64_t epoch_steps;   /* how many those were */
    uint64_t seed;         /* the run's --seed, shuffle (0/1) and augment (0/1): */
    int shuffle, augment;  /* a resumed run must use the same */
    int has_options;       /* set by nr_ckpt_load when the file holds the three */
    int ranks;             /* processes of the run (mpirun -np; dist.h), 1 if not recorded */
    char options[1024];    /* the TRAIN options of the run (options.h), "" if not recorded */
    int64_t total_steps;   /* the run's planned steps (0: not recorded): a run whose step
                              reached it is finished, and --steps extends it (train.h) */
    int stale;             /* validations since the best score improved (--patience) */
} nr_run_state;

/* Checkpoints (safetensors): parameters under their graph names; with
 * opt_state also the optimizer tensors, the step and rs (metadata: step,
 * epoch, best_score, epoch_loss_sum, epoch_steps, seed, shuffle, augment,
 * ranks, train_options: the options that change the batches, options.h,
 * total_steps, validations_since_best), for --resume.  Refused when a
 * tensor is not finite (nr_ckpt_check_finite).  Written atomically and
 * durably (ng_atomic_*): on failure the file at path is as it was. */
int nr_ckpt_save(nr_model *m, const char *path, int opt_state, const nr_run_state *rs,
                 char *err, size_t errlen);
/* The same with n_extra more tensors after the model's (names distinct from
 * the graph's; their data the caller's, checked finite too): the raw
 * weights under EMA (ema.h). */
int nr_ckpt_save_with(nr_model *m, const char *path, int opt_state, const nr_run_state *rs,
                      const nr_st_tensor *extra, int n_extra, char *err, size_t errlen);
/* Whether checkpoints hold tensor x: parameters, the constants computed from
 * the training masks (class weights, priors) and, with opt_state, the
 * optimizer state. */
int nr_ckpt_holds(const ng_tensor *x, int opt_state);
/* 0 when every tensor nr_ckpt_save would write (opt_state: the optimizer's
 * too) is finite; else -1 with "WHEREtensor 'NAME' holds NaN at element I
 * of N" in err.  One pass over the state: nr_train runs it after every
 * step (opt_state 0), nr_ckpt_save before writing. */
int nr_ckpt_check_finite(nr_model *m, int opt_state, const char *where, char *err, size_t errlen);
/* 0 when the n floats at x are finite; else -1 with "WHEREtensor 'NAME'
 * holds NaN at element I of N" in err. */
int nr_ckpt_finite(const char *where, const char *name, const void *x, int64_t n, char *err, size_t errlen);
/* Load parameters (and, with opt_state, the optimizer state, the step and,
 * when rs is not NULL, the run state) by name; every parameter must be
 * present with its shape and finite.  Metadata an older checkpoint lacks reads as zero
 * (best: -inf). */
/* The training set's pixel counts per class (classes entries) that a
 * checkpoint keeps in its metadata (class_counts), for class priors at
 * inference.  -1 with a message when it has none or they do not fit. */
int nr_ckpt_class_counts(const char *path, int64_t *counts, int classes, char *err, size_t errlen);
int nr_ckpt_load(nr_model *m, const char *path, int opt_state, nr_run_state *rs,
                 char *err, size_t errlen);

#endif
