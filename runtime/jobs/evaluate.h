/* evaluate.h — the eval and infer entries of a model over a dataset:
 * evaluation (a confusion matrix), prediction (mask files), and a visit of
 * every prediction (the report).  Each returns 0, or -1 with a one-line
 * message in err. */
#ifndef NR_EVALUATE_H
#define NR_EVALUATE_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "ensemble.h"
#include "exec.h"
#include "metrics.h"
#include "calibration.h"
#include "per_image.h"
#include "postprocess.h"

/* Run the eval entry over a dataset (with masks): fills conf and the mean
 * loss per batch.  ens: the members whose probabilities are averaged
 * (ensemble.h; the loss is the mean of theirs), or NULL: the model's
 * weights; the same in nr_predict. */
int nr_evaluate(nr_model *m, const nr_ensemble *ens, const nr_dataset *ds, nr_confusion *conf, double *loss, char *err,
                size_t errlen);
/* What an evaluation does besides the confusion matrix; each NULL: not that. */
typedef struct {
    const nr_postprocess *post; /* applied to each prediction before anything counts it */
    nr_per_image *per_image;    /* each image's figures (initialized for ds) */
    nr_post_set *keep;          /* each image's labels and prediction, for nr_post_choose */
    nr_calibration *calib;      /* the probabilities' reliability bins (and the fit's sample) */
} nr_eval_more;

/* nr_evaluate and what more asks for (or NULL), per_image and calib's bins
 * gathered from every rank, keep and calib's sample this rank's. */
int nr_evaluate_with(nr_model *m, const nr_ensemble *ens, const nr_dataset *ds, nr_confusion *conf, double *loss,
                     const nr_eval_more *more, char *err, size_t errlen);

/* Run the infer entry over every image of ds and write DIR/NAME palette
 * masks (value = class), post-processed by post unless NULL.  overlay: also DIR/overlays/NAME, the image with
 * the prediction blended over it (overlay.h), four panels wide (image |
 * truth | prediction | errors) when ds has masks, in their palette, post
 * (or NULL) applied to each mask.  probabilities: also DIR/STEM.npy, the
 * probabilities the mask was taken from (float32 K x H x W, window.h's
 * nr_window_probs; before post-processing, which changes masks only). */
int nr_predict(nr_model *m, const nr_ensemble *ens, const nr_dataset *ds, const char *out_dir, int quiet, int overlay,
               int probabilities, const nr_postprocess *post, char *err, size_t errlen);

/* What nr_infer_each shows every image of ds: sample idx, the image as fed
 * (C,H,W) in [0,1], the predicted classes (H,W) and the labels (H,W) or
 * NULL.  Returns 0, or -1 with a message in err to stop. */
typedef int (*nr_image_visit)(void *ctx, const nr_dataset *ds, int idx, const float *image, int c, int h,
                              int w, const uint8_t *pred, const int32_t *truth, char *err, size_t errlen);
/* Run the infer entry over every image of ds (with_masks: ds has masks and
 * visit gets them) and call visit for each (the report's gallery). */
int nr_infer_each(nr_model *m, const nr_dataset *ds, int with_masks, nr_image_visit visit, void *ctx,
                  char *err, size_t errlen);

#endif
