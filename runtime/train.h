/* train.h — the jobs netrun runs on a model: train, evaluate, predict, and
 * checkpoints.  Each returns 0, or -1 with a one-line message in err. */
#ifndef NR_TRAIN_H
#define NR_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "exec.h"
#include "metrics.h"

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
} nr_train_opts;

/* Train.  Returns 0 when every step ran, -1 with a message in err, or
 * NR_TRAIN_STOPPED when a signal caught by nr_train_catch_signals stopped it:
 * the step under way was finished and last.safetensors written, and a line
 * on stderr says where it stopped.  Before it starts, the run folder loses
 * the temporaries that killed runs left there (ng_atomic_remove_stale); with
 * --resume, log.csv and metrics.jsonl lose the rows of steps after the
 * checkpoint's, which the resumed run computes again. */
int nr_train(nr_model *m, const nr_train_opts *o, char *err, size_t errlen);
#define NR_TRAIN_STOPPED 1

/* From now on the first SIGINT or SIGTERM asks nr_train to stop after the
 * current step (it returns NR_TRAIN_STOPPED); a second one ends the process
 * at once, by the signal's default action. */
void nr_train_catch_signals(void);
/* The signal that asked to stop (SIGINT, SIGTERM), 0 if none came. */
int nr_train_stop_signal(void);

/* Run the eval entry over a dataset (with masks): fills conf and the mean
 * loss per batch. */
int nr_evaluate(nr_model *m, const nr_dataset *ds, nr_confusion *conf, double *loss,
                char *err, size_t errlen);

/* Run the infer entry over every image of ds and write DIR/NAME palette
 * masks (value = class).  overlay: also DIR/overlays/NAME, the image with
 * the prediction blended over it (overlay.h), four panels wide (image |
 * truth | prediction | errors) when ds has masks, in their palette. */
int nr_predict(nr_model *m, const nr_dataset *ds, const char *out_dir, int quiet, int overlay,
               char *err, size_t errlen);

/* What nr_infer_each shows every image of ds: sample idx, the image as fed
 * (C,H,W) in [0,1], the predicted classes (H,W) and the labels (H,W) or
 * NULL.  Returns 0, or -1 with a message in err to stop. */
typedef int (*nr_image_visit)(void *ctx, const nr_dataset *ds, int idx, const float *image, int c, int h,
                              int w, const uint8_t *pred, const int32_t *truth, char *err, size_t errlen);
/* Run the infer entry over every image of ds (with_masks: ds has masks and
 * visit gets them) and call visit for each (the report's gallery). */
int nr_infer_each(nr_model *m, const nr_dataset *ds, int with_masks, nr_image_visit visit, void *ctx,
                  char *err, size_t errlen);

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
} nr_run_state;

/* Checkpoints (safetensors): parameters under their graph names; with
 * opt_state also the optimizer tensors, the step and rs (metadata: step,
 * epoch, best_score, epoch_loss_sum, epoch_steps, seed, shuffle, augment,
 * ranks, train_options: the options that change the batches, options.h),
 * for --resume.  Written atomically and durably (ng_atomic_*): on failure
 * the file at path is as it was. */
int nr_ckpt_save(nr_model *m, const char *path, int opt_state, const nr_run_state *rs,
                 char *err, size_t errlen);
/* Load parameters (and, with opt_state, the optimizer state, the step and,
 * when rs is not NULL, the run state) by name; every parameter must be
 * present with its shape.  Metadata an older checkpoint lacks reads as zero
 * (best: -inf). */
/* The training set's pixel counts per class (classes entries) that a
 * checkpoint keeps in its metadata (class_counts), for class priors at
 * inference.  -1 with a message when it has none or they do not fit. */
int nr_ckpt_class_counts(const char *path, int64_t *counts, int classes, char *err, size_t errlen);
int nr_ckpt_load(nr_model *m, const char *path, int opt_state, nr_run_state *rs,
                 char *err, size_t errlen);

#endif
