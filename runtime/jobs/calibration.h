/* calibration.h — how far the predicted probabilities are from the observed
 * frequencies, and temperature scaling fitted on a validation set.
 *
 * The probabilities: q_c per pixel, the class probabilities the prediction is
 * the argmax of (window.h: blended over tiles and TTA, after the prior
 * correction), at temperature T: q_c = p_c^(1/T) / sum_j p_j^(1/T), i.e.
 * softmax(log p / T), which leaves the argmax unchanged.  The pairs binned:
 * (q_c, [label == c]) for every foreground class c (1..k-1) at every
 * counted pixel (label not the ignore value).  ECE = sum over 15 equal-width
 * bins of confidence ([0, 1/15), ..., [14/15, 1]) of n_b / N * |mean of q
 * in b - fraction of hits in b| (Guo et al. 2017; pooled over the
 * foreground classes, Kull et al. 2019's classwise ECE).  The fit: T
 * minimizing the mean negative log-likelihood -log q_label over a sample of
 * the counted pixels (every pixel when the set has at most 65536 counted
 * pixels, else a regular stride per image), by golden-section search on 1/T
 * in [0.05, 20] (the NLL is convex in 1/T).  The fitted T lives in
 * RUNDIR/temperature.json. */
#ifndef NR_CALIBRATION_H
#define NR_CALIBRATION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { NR_CALIB_BINS = 15, NR_CALIB_SAMPLES = 65536 };

typedef struct {
    int k;
    double temperature;           /* T applied before binning */
    int64_t count[NR_CALIB_BINS]; /* pairs per bin */
    double conf[NR_CALIB_BINS];   /* sum of q per bin */
    double hits[NR_CALIB_BINS];   /* pairs with label == c per bin */
    /* the fit's sample (fit set): log p (n, k) and labels (n) */
    int fit;
    int per_image; /* most pixels kept per image */
    float *logp;
    int32_t *label;
    size_t n, cap;
} nr_calibration;

/* For k classes at temperature t; fit: keep the sample for nr_calib_fit,
 * images: how many the set has.  0, or -1 when out of memory;
 * nr_calib_free(NULL) is a no-op. */
int nr_calib_init(nr_calibration *cal, int k, double t, int fit, int images);
void nr_calib_free(nr_calibration *cal);
/* One image: probs (k, h, w) summing to 1 per pixel, labels (h, w).  0, or
 * -1 when out of memory. */
int nr_calib_add(nr_calibration *cal, const float *probs, const int32_t *truth, int h, int w, int ignore);
/* Every rank's bins into every rank's cal (dist.h); the sample stays each rank's. */
void nr_calib_gather(nr_calibration *cal);
/* The ECE of the bins. */
double nr_calib_ece(const nr_calibration *cal);

/* What nr_calib_fit found on the sample. */
typedef struct {
    double temperature, nll_before, nll_after, ece_before, ece_after;
    size_t pixels;
} nr_calib_fit_result;
/* Fit T on cal's sample (nothing to fit on: temperature 1). */
void nr_calib_fit(const nr_calibration *cal, nr_calib_fit_result *r);

/* The temperature file: save (atomically; from: the data it was fitted on)
 * and load (0 < T <= 100; errors name path and key). */
int nr_calib_save(const char *path, const nr_calib_fit_result *r, const char *from, char *err, size_t errlen);
int nr_calib_load(const char *path, double *t, char *err, size_t errlen);
/* The reader of nr_calib_load on the file's text (n bytes), path naming it. */
int nr_calib_parse(const char *text, size_t n, const char *path, double *t, char *err, size_t errlen);

/* The members of eval --json, each preceded by a comma: "calibration" with
 * the ECE, temperature and reliability bins; with r, the fit. */
void nr_calib_print_json(FILE *out, const nr_calibration *cal, const nr_calib_fit_result *r);

#endif
