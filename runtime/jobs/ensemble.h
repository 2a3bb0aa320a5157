/* ensemble.h — several checkpoints of one graph run as one model, their
 * class probabilities averaged (nnU-Net's fold ensembles; seeds): the
 * window runner (window.h) runs every tile batch once per member, with
 * that member's tensors written into the model, and averages the outputs
 * before windows and TTA add them up.  One model, one arena: a member
 * costs a copy of the tensors its checkpoint sets. */
#ifndef NR_ENSEMBLE_H
#define NR_ENSEMBLE_H

#include <stddef.h>

#include "exec.h"

typedef struct nr_ensemble nr_ensemble;

/* Load the n checkpoints (n >= 1) into m, each checked against m's graph as
 * nr_ckpt_load does (every parameter by name with its shape: a checkpoint
 * of another graph is an error naming the file and the tensor), and keep
 * the tensors each sets (checkpoint.h's nr_ckpt_holds).  With option
 * prior_correction the class priors come from the training class counts
 * of all members, summed (each must hold them).  With one checkpoint
 * nothing is copied: the model holds its weights, as after nr_ckpt_load.
 * NULL with a message in err. */
nr_ensemble *nr_ensemble_load(nr_model *m, const char *const *paths, int n, char *err, size_t errlen);
/* The same from one comma-separated list ("A.safetensors,B.safetensors"). */
nr_ensemble *nr_ensemble_load_list(nr_model *m, const char *list, char *err, size_t errlen);
void nr_ensemble_free(nr_ensemble *e);

/* Members (1 for NULL: the model's own weights). */
int nr_ensemble_size(const nr_ensemble *e);
/* Write member k's tensors into m (nothing with one member). */
void nr_ensemble_use(const nr_ensemble *e, nr_model *m, int k);

#endif
