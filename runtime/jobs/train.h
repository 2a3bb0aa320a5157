/* train.h — netrun train: the training loop over a dataset, with
 * validation, logs and checkpoints.  Returns 0, or -1 with a one-line
 * message in err. */
#ifndef NR_TRAIN_H
#define NR_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "checkpoint.h"
#include "evaluate.h"
#include "exec.h"

typedef struct {
    const char *data;     /* training set folder */
    const char *val;      /* validation set folder or NULL */
    const char *out;      /* run folder: checkpoints and log.csv */
    int epochs;           /* used when steps == 0 */
    int64_t steps;        /* total optimizer steps, 0: epochs decide */
    uint64_t seed;        /* shuffling, dropout, augmentation */
    int shuffle;
    int augment;
    const char *init;     /* start from these weights (params only) */
    const char *resume;   /* continue this run: params, optimizer, step */
    const char *best_metric; /* validation metric best.safetensors is chosen by
                                (nr_metric_names; NULL: miou_fg) */
    int quiet;
    int64_t checkpoint_every; /* also write last.safetensors every this many
                                 steps (0: at epoch ends only) */
    const char *graph;    /* the .netg path, recorded in RUNDIR/run.json for
                             netrun report (NULL: not recorded) */
    const char *split;    /* VOC layout: the split of data (NULL: "train") */
    const char *val_split; /* and of val (NULL: "val") */
    int profile;          /* print the data wait per step at the end */
    int overwrite;        /* a fresh run may replace an earlier one in out
                             (run_folder.h); else out must be empty */
    int init_strict;      /* --init needs every parameter with its shape (else
                             what matches by name and shape: transfer.h) */
    const char *const *freeze; /* --freeze glob patterns (transfer.h) */
    int n_freeze;
    int patience;         /* stop after this many validations without a better
                             best score (0: never) */
    int folds, fold;      /* cross-validation (folds.h): validate on fold
                             `fold` of `folds` of data (folds 0: off) */
} nr_train_opts;

/* Train.  Returns 0 when every step ran, -1 with a message in err, or
 * NR_TRAIN_STOPPED when a signal caught by nr_train_catch_signals stopped it:
 * the step under way was finished and last.safetensors written, and a line
 * on stderr says where it stopped.  Before it starts, the run folder loses
 * the temporaries that killed runs left there (ng_atomic_remove_stale); with
 * --resume, log.csv and metrics.jsonl lose the rows of steps after the
 * checkpoint's, which the resumed run computes again.  The run folder is
 * made only once the data, --init, --resume, --freeze and the folds are
 * checked: a failure there writes nothing.  --resume of a finished run (its
 * step is its total_steps) with --steps MORE extends it by MORE steps: the
 * schedule's total_steps becomes the sum, the step counts on.  With
 * --patience N the run ends after N validations in a row without a better
 * best score, as if its steps were done (return 0; run.json says why). */
int nr_train(nr_model *m, const nr_train_opts *o, char *err, size_t errlen);
#define NR_TRAIN_STOPPED 1

/* From now on the first SIGINT or SIGTERM asks nr_train to stop after the
 * current step (it returns NR_TRAIN_STOPPED); a second one ends the process
 * at once, by the signal's default action. */
void nr_train_catch_signals(void);
/* The signal that asked to stop (SIGINT, SIGTERM), 0 if none came. */
int nr_train_stop_signal(void);

#endif
