/* metrics.h — honest segmentation metrics from a confusion matrix.
 * Rows are the true class, columns the predicted one; ignored pixels are
 * not counted.  A class absent from both truth and prediction has no IoU
 * (NAN), reported as absent rather than as 0 or 1. */
#ifndef NR_METRICS_H
#define NR_METRICS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    int k;               /* classes */
    int64_t *m;          /* (k, k): m[truth * k + pred] pixel counts */
} nr_confusion;

typedef struct {
    int k;
    double pixel_acc;    /* correct / counted pixels */
    double miou_fg;      /* mean IoU over foreground classes (1..k-1) present */
    double miou;         /* mean IoU over all present classes */
    double fw_iou;       /* frequency-weighted IoU */
    double mdice_fg;     /* mean Dice over foreground classes present */
    double worst_iou_fg; /* lowest IoU of a foreground class present in the truth */
    double *iou, *dice, *precision, *recall; /* (k); NAN when undefined */
    int64_t *truth, *pred;                   /* (k) pixel counts */
    void *mem;                               /* the one block the six arrays are carved from */
    double pred_share0, true_share0;         /* share of class 0 */
    int fg_present, fg_never_predicted;      /* foreground classes in truth; of them never predicted */
} nr_metrics;

int nr_confusion_init(nr_confusion *c, int k);
void nr_confusion_reset(nr_confusion *c);
void nr_confusion_free(nr_confusion *c);
/* Count n pixels: truth labels (ignore skipped) against predictions. */
void nr_confusion_add(nr_confusion *c, const int32_t *truth, const uint8_t *pred, int64_t n, int ignore);

/* Every figure of c into m (which it overwrites); 0, or -1 when out of
 * memory.  nr_metrics_free releases m's arrays and zeroes it. */
int nr_metrics_compute(const nr_confusion *c, nr_metrics *m);
void nr_metrics_free(nr_metrics *m);
/* Per-class table (IoU, Dice, precision, recall, pixel shares) and totals. */
void nr_metrics_print(FILE *out, const nr_metrics *m);
/* One JSON object with every figure and the confusion matrix. */
void nr_metrics_print_json(FILE *out, const nr_metrics *m, const nr_confusion *c, double loss);
/* That object's opening brace and members without its closing brace (the
 * caller adds members: per_image.h) */
void nr_metrics_json_members(FILE *out, const nr_metrics *m, const nr_confusion *c, double loss);
/* eval --json's numbers: %.6g, null when not finite; "key":[v[0],...] */
void nr_metrics_json_num(FILE *out, double v);
void nr_metrics_json_array(FILE *out, const char *key, const double *v, int k);
/* Plain-words warning when predictions collapse toward class 0; returns 1
 * when it printed one. */
int nr_metrics_warn_collapse(FILE *out, const nr_metrics *m);

/* The score a checkpoint is chosen by (higher is better): name is one of
 * nr_metric_names; loss is the validation loss ("val_loss" scores -loss).
 * NAN-valued scores become -INFINITY.  -1 for an unknown name. */
int nr_metrics_score(const nr_metrics *m, double loss, const char *name, double *score);
extern const char *const nr_metric_names[]; /* NULL-terminated */

/* argmax over C of probs (N, C, HW) into pred (N, HW). */
void nr_argmax_c(int n, int c, int64_t hw, const float *probs, uint8_t *pred);

#endif
