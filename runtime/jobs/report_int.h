/* report_int.h — netrun report's internals, shared by its files: report.c
 * (the page, its text writers and nr_report_make), report_run.c (the run
 * folder's files: run.json, log.csv, metrics.jsonl), report_gallery.c (the
 * best and worst validation images), report_svg.c (the charts) and
 * report_eval.c (the per-image, boundary and calibration figures).  Private
 * to them; report.h is the API. */
#ifndef NR_REPORT_INT_H
#define NR_REPORT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "exec.h"
#include "json.h"
#include "netg.h"
#include "overlay.h"

/* ---- text (report.c) ---------------------------------------------------- */

/* Strings from the run folder or from file names are trusted by neither:
 * bytes that are not UTF-8 become U+FFFD (the replacement character) in
 * both escapes, so the page and its JSON stay valid whatever a name holds. */
/* s with & < > " ' escaped for HTML text and attribute values */
void rp_esc(FILE *f, const char *s);
/* a JSON number (%.17g), null when not finite */
void rp_jnum(FILE *f, double v);
/* the tree j as JSON, written anew (never its source text): strings by
 * nr_json_put_str, numbers at the shortest precision that reads back the same;
 * NULL as null */
void rp_jvalue(FILE *f, const nr_json *j);
/* a figure for people: 4 decimals, "-" when undefined */
void rp_num4(FILE *f, double v);
/* "#rrggbb" of c into buf (8 bytes) */
void rp_rgb_hex(char *buf, const uint8_t c[3]);

/* ---- what the run folder holds (report_run.c) ------------------------------ */

/* The most pixels a count of the run's files may hold (confusion cells,
 * class pixels): past any real data set, and 256 x 256 of them sum within
 * int64.  The figures are read for at most NG_MAX_CLASSES classes. */
#define RP_MAX_PIXELS ((long long)1 << 46)

typedef struct {
    int epoch;
    long long step;
    double train_loss, val_loss, acc, miou_fg, worst, seconds;
} log_row;

typedef struct {
    int epoch;
    long long step;
    int best;               /* 1/0 as metrics.jsonl says, -1 when the line has no "best" */
    nr_json *line;          /* the line of metrics.jsonl, parsed */
    const nr_json *v;       /* its "validation" object, as eval --json prints it */
    char *collapse;         /* the collapse warning metrics.c prints for it, or NULL */
} epoch_rec;

typedef struct {
    const char *dir;
    log_row *rows;
    int n_rows;
    epoch_rec *ep;
    int n_ep;
    nr_json *info;          /* run.json or NULL */
    int best;               /* index into ep of the best checkpoint's epoch, -1 none */
    char *eval;             /* the best checkpoint evaluated now (eval --json text), or NULL */
    nr_json *ev;
    const char *eval_data;  /* where */
    const nr_json *bj;      /* the best figures shown: ev, or ep[best].v, or NULL */
} run;

/* Read r->dir's run.json (when there is one), log.csv and metrics.jsonl
 * into r and find the best epoch (r->best).  0, or -1 with err; r holds
 * what was read either way, for rp_run_free. */
int rp_run_read(run *r, char *err, size_t errlen);
void rp_run_free(run *r);

/* ---- the gallery (report_gallery.c) ----------------------------------------- */

/* One image of the gallery, rendered: image | truth | prediction | errors. */
typedef struct {
    char *name;
    double score, acc;
    int worst;               /* which side */
    unsigned char *png;
    size_t len;
    int w, h;
} shot;

/* Run m over ds (with masks) and render the best and the worst images by
 * their own foreground mIoU, 4 of each side (an image on both sides shows
 * once, as a best one), overlays in palette pal: *shots (n_shots of them),
 * which the caller frees with rp_shots_free also on failure.  No image
 * with foreground: none.  0, or nonzero with err. */
int rp_gallery(nr_model *m, const nr_dataset *ds, const nr_palette *pal, int classes, int ignore, shot **shots,
               int *n_shots, char *err, size_t errlen);
void rp_shots_free(shot *s, int n);

/* ---- SVG charts (report_svg.c) ----------------------------------------------- */

typedef struct {
    const char *name, *color;
    const double *x, *y;
    int n;
    int dashed;
} series;

typedef struct {
    double x;
    const char *label, *color;
} marker;

/* A line chart, x and y linear; NAN values break a line.  ymin/ymax NAN:
 * from the data (y from 0 when all values are positive).  Markers: dashed
 * vertical lines at x. */
void rp_line_chart(FILE *f, const char *title, const char *xlabel, const series *s, int ns, double ymin,
                   double ymax, const marker *mk, int nm);
/* The per-class IoU of evaluation object v as horizontal bars, sorted by
 * IoU (highest first), with the class's share of the truth's pixels;
 * absent classes listed after. */
void rp_iou_bars(FILE *f, const nr_json *v, const nr_palette *pal);
/* The confusion matrix of v, each row (truth) divided by its sum, coloured
 * on a log scale from 1e-4 (and below) to 1; zero cells stay white. */
void rp_confusion_map(FILE *f, const nr_json *v);

/* ---- eval --json's per-image figures (report_eval.c) -------------------------- */

/* The section on what v (an eval --json object) has beyond the pooled
 * figures: per class HD95, NSD, boundary IoU and per-image Dice, the
 * per-image foreground Dice (strip and box), the reliability diagram; and
 * the post-processing and temperature of run_dir's files. */
void rp_eval_sections(FILE *f, const nr_json *v, const nr_palette *pal, const char *run_dir);

#endif
