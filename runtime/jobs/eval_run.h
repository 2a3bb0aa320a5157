/* eval_run.h — `netrun eval` after the model is loaded: the pooled figures
 * (metrics.h), each image's (per_image.h), the calibration of the
 * probabilities (calibration.h), with post-processing and a temperature
 * applied from their files, or chosen and fitted on this data and written
 * to the run folder (postprocess.h, calibration.h). */
#ifndef NR_EVAL_RUN_H
#define NR_EVAL_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "ensemble.h"
#include "exec.h"

typedef struct {
    const char *data, *split; /* the dataset (split: of a VOC root, or NULL) */
    const char *run_dir;      /* where the choices are written */
    const char *postprocess;  /* --postprocess FILE, or NULL */
    const char *temperature;  /* --temperature FILE, or NULL */
    int json, pooled_only, choose_postprocessing, fit_temperature;
    const nr_ensemble *ens;   /* the members to average (ensemble.h), or NULL: m's weights */
} nr_eval_opts;

/* Evaluate m (weights loaded, or o->ens's) as o says and print on out (rank 0).  0, or
 * -1 with err. */
int nr_eval_run(nr_model *m, const nr_eval_opts *o, FILE *out, char *err, size_t errlen);

#endif
