/* postprocess.h — post-processing of predicted masks chosen on a validation
 * set by nnU-Net's rule (postprocessing/remove_connected_components.py):
 * per foreground class, keep only its largest 8-connected component, or
 * remove its components below a size (their pixels become class 0); a step
 * is kept only when it raises the foreground mean Dice (per image, nnU-Net's
 * semantics: per_image.h) and lowers no class's mean Dice.  The choice lives
 * in RUNDIR/postprocessing.json (docs/usage.md has its format), which
 * `netrun eval` and `netrun predict` apply with --postprocess FILE. */
#ifndef NR_POSTPROCESS_H
#define NR_POSTPROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    int k;                          /* classes */
    uint8_t largest[256];           /* class c: keep only its largest component */
    int64_t min_size[256];          /* class c: remove its components of fewer pixels (0: none) */
    double dice_before, dice_after; /* the foreground mean Dice on the set it was chosen on (NAN: unknown) */
} nr_postprocess;

/* Apply pp to pred (h, w) in place.  0, or -1 when out of memory. */
int nr_post_apply(const nr_postprocess *pp, uint8_t *pred, int h, int w);

/* The validation predictions the choice is made on: each image's labels
 * and prediction (kept by nr_post_keep during an evaluation). */
typedef struct {
    int n;           /* images */
    int *h, *w;      /* (n) */
    int32_t **truth; /* (n) arrays (h, w) */
    uint8_t **pred;  /* (n) arrays (h, w) */
} nr_post_set;

/* set for n images: 0, or -1 when out of memory; nr_post_set_free(NULL) is a no-op. */
int nr_post_set_init(nr_post_set *set, int n);
void nr_post_set_free(nr_post_set *set);
/* Keep copies of image idx's labels and prediction.  0, or -1 (memory). */
int nr_post_keep(nr_post_set *set, int idx, const int32_t *truth, const uint8_t *pred, int h, int w);

/* Choose pp for k classes on set (ignore: the labels' ignore value),
 * printing each step tried and whether it was kept on log (may be NULL).
 * 0, or -1 when out of memory. */
int nr_post_choose(const nr_post_set *set, int k, int ignore, nr_postprocess *pp, FILE *log);

/* pp as JSON into path (atomically); from: the data it was chosen on. */
int nr_post_save(const char *path, const nr_postprocess *pp, const char *from, char *err, size_t errlen);
/* Read path for a model of k classes into pp.  0, or -1 with "PATH: ..."
 * naming the key at fault in err. */
int nr_post_load(const char *path, int k, nr_postprocess *pp, char *err, size_t errlen);
/* The reader of nr_post_load on the file's text (n bytes), path naming it
 * in messages: on success, pp->largest[c] and pp->min_size[c] (1..2^40) are
 * set only for classes c in 1..k-1. */
int nr_post_parse(const char *text, size_t n, const char *path, int k, nr_postprocess *pp, char *err,
                  size_t errlen);
/* The members of pp for eval --json, each preceded by a comma. */
void nr_post_print_json(FILE *out, const nr_postprocess *pp);

#endif
