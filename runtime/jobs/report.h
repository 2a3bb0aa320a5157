/* report.h — netrun report: one self-contained HTML page of a run folder
 * (no network, no JavaScript; charts as inline SVG drawn by report_svg.c,
 * overlays as PNG data URIs): training and validation curves, the best
 * checkpoint's per-class IoU and confusion matrix, the class weights, the
 * collapse warnings and a gallery of the best and worst validation images.
 * It reads what train leaves in RUNDIR (log.csv, metrics.jsonl, run.json;
 * formats in runtime/README.md).  Functions return 0, or -1 with a one-line
 * message in err. */
#ifndef NR_REPORT_H
#define NR_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "exec.h"

/* What train knows at its start and the report shows: written to
 * RUNDIR/run.json (atomically). */
typedef struct {
    const char *graph;        /* the .netg trained (made absolute when it exists), or NULL */
    const char *source;       /* the model file it was compiled from, or NULL */
    const char *data, *val;   /* training and validation folders (val may be NULL) */
    const char *val_split;    /* val's VOC split, or NULL */
    int classes, ignore;
    int batch, steps_per_epoch;
    int64_t total_steps;
    const char *best_metric;  /* nr_metric_names */
    const int64_t *class_pixels; /* (classes) labelled pixels of the training masks, or NULL */
    const float *class_weights;  /* (classes) the loss's class weights, or NULL */
    const char *weight_scheme;   /* "balanced", ..., "given in the model", or NULL */
    double clip_lo, clip_hi;     /* clip_hi > 0: weights were clipped to [clip_lo, clip_hi] */
    const char *stopped_early;   /* why the run ended before total_steps (--patience), or NULL */
} nr_run_info;

int nr_report_write_run_info(const char *run_dir, const nr_run_info *ri, char *err, size_t errlen);

typedef struct {
    nr_model *model;   /* NULL: the report from the run folder's files alone */
    const char *data;  /* validation folder with masks (NULL: run.json's val) */
    const char *split; /* its split when it is a VOC root (NULL: run.json's
                          val_split, else "val") */
    const char *out;   /* the page (NULL: RUNDIR/report.html) */
    int evaluate;      /* with a model: evaluate best.safetensors on data, the
                          figures `netrun eval --json` prints for them (else
                          the best epoch's line of metrics.jsonl) */
    int live;          /* the run goes on: the page reloads itself every 30 s */
} nr_report_opts;

/* Write the report of run_dir, atomically.  Without a model it is cheap
 * (train writes it after every epoch, live).  With one, best.safetensors is
 * loaded into it (its weights are replaced) and run over the validation
 * images, and the page shows overlays of the best and worst of them. */
int nr_report_make(const char *run_dir, const nr_report_opts *o, char *err, size_t errlen);

/* The graph run.json names (in buf), or NULL when there is none. */
const char *nr_report_run_graph(const char *run_dir, char *buf, size_t len);

#endif
