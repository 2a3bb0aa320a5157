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
} nr_train_opts;

int nr_train(nr_model *m, const nr_train_opts *o, char *err, size_t errlen);

/* Run the eval entry over a dataset (with masks): fills conf and the mean
 * loss per batch. */
int nr_evaluate(nr_model *m, const nr_dataset *ds, nr_confusion *conf, double *loss,
                char *err, size_t errlen);

/* Run the infer entry over every image of ds and write DIR/NAME palette
 * masks (value = class). */
int nr_predict(nr_model *m, const nr_dataset *ds, const char *out_dir, int quiet,
               char *err, size_t errlen);

/* Checkpoints (safetensors): parameters under their graph names; with
 * opt_state also the optimizer tensors and the step, for --resume; best is
 * the run's best validation score (metadata "best_score"). */
int nr_ckpt_save(nr_model *m, const char *path, int opt_state, int epoch, double best,
                 char *err, size_t errlen);
/* Load parameters (and, with opt_state, the optimizer state, the step, the
 * epoch and the best score so far) by name; every parameter must be present
 * with its shape.  epoch and best may be NULL. */
int nr_ckpt_load(nr_model *m, const char *path, int opt_state, int *epoch, double *best,
                 char *err, size_t errlen);

#endif
