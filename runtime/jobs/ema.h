/* ema.h — an exponential moving average of a model's weights during
 * training (`option ema = DECAY`): validation and the checkpoints see the
 * average, the raw weights go on training and are kept in the checkpoints
 * as raw.NAME so that --resume continues exactly. */
#ifndef NR_EMA_H
#define NR_EMA_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "exec.h"

typedef struct nr_ema nr_ema;

/* The average of m's parameters (every NG_ROLE_PARAM tensor: weights and
 * the batch-norm running statistics) when the graph's option ema is above
 * 0; NULL without error when it is 0.  *ok is 0 (and err set) on failure.
 * The average starts at the weights m holds when nr_ema_share runs, unless
 * nr_ema_resume read it from a checkpoint first. */
nr_ema *nr_ema_new(nr_model *m, int *ok, char *err, size_t errlen);
void nr_ema_free(nr_ema *e);

/* After nr_ckpt_load of path into m (m holds the file's parameters, the
 * average when it was written under EMA): the average becomes those, and
 * the parameters the file's raw.NAME tensors.  A file without them (written
 * without EMA) starts the average at its weights.  0, or -1 with err. */
int nr_ema_resume(nr_ema *e, nr_model *m, const char *path, char *err, size_t errlen);
/* On every rank, after the model's state was shared (replicas.h): rank 0's
 * average when it resumed one, else the weights m holds now. */
void nr_ema_share(nr_ema *e);

/* After a training step that left m at step t (1, 2, ...): average =
 * d * average + (1 - d) * weights, d = min(decay, (1 + t) / (10 + t)), the
 * warm-up of TensorFlow's ExponentialMovingAverage(num_updates), so the
 * random initial weights fade within the first few hundred steps. */
void nr_ema_update(nr_ema *e, int64_t t);
/* Exchange the model's weights and the average (twice: as before).  A NULL
 * e does nothing. */
void nr_ema_swap(nr_ema *e);
/* nr_ckpt_save of m (holding the raw weights) with the average under the
 * parameters' names and the raw weights as raw.NAME; a NULL e: nr_ckpt_save. */
int nr_ema_save(nr_ema *e, nr_model *m, const char *path, int opt_state, const nr_run_state *rs, char *err,
                size_t errlen);

#endif
