/* sampler.h — what training draws from a dataset beyond the plain shuffle,
 * on the class location index of the training masks (class_index.h):
 * foreground oversampling (images drawn by class, their crops centred on
 * the class: a crop hook for the batcher) and LVIS's
 * repeat-factor image sampling (the sample stream of the epochs).  Functions
 * return 0 / a pointer, or -1 / NULL with a one-line message in err naming
 * the file or the value. */
#ifndef NR_SAMPLER_H
#define NR_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "batcher.h"
#include "class_index.h"
#include "netg.h"

/* ---- foreground oversampling (nnU-Net) ---------------------------------- */

/* The forced-foreground rule.  LAST: in every batch of `batch` samples, slot j
 * is forced when j >= round(batch * (1 - fraction)) (round half to even, as
 * Python's round in nnU-Net's _oversample_last_XX_percent), so the last
 * third for 0.33; RANDOM: each sample independently with probability
 * fraction (nnUNetTrainer_probabilisticOversampling). */
enum { NR_FG_LAST, NR_FG_RANDOM };

typedef struct {
    const nr_class_index *ix;
    double fraction; /* 0..1 */
    int mode;        /* NR_FG_LAST or NR_FG_RANDOM */
    int jitter;      /* centre offset, pixels, uniform in [-j, j] per axis; -1: crop / 4 */
    int batch;       /* batch size (for NR_FG_LAST) */
    /* counters, added to by nr_fg_images: samples, and those whose image
     * was drawn by class */
    int64_t drawn, forced;
    int by_image; /* option foreground_draw = image: the class among the
                   * image's own, the image not replaced */
} nr_fg_sampler;

/* Whether the sample in batch slot `slot` is forced, for the rule; draw is
 * that sample's random value. */
int nr_fg_forced(const nr_fg_sampler *s, int slot, uint64_t draw);

/* The effective share of forced samples per batch (LAST: the quantized one;
 * RANDOM: fraction). */
double nr_fg_effective(const nr_fg_sampler *s);

/* The class-aware draw of a forced sample (the rule of the issue's
 * nnU-Net-style recipe): a foreground class uniform among those the index's
 * images hold (nr_class_index_fg), so a rare class comes as often as a
 * common one, then an image holding it uniform among those
 * (nr_class_index_holders), into *image.  Returns the class; -1, *image
 * untouched, when the sample is not forced or no image holds foreground.
 * A function of slot and draw alone. */
int nr_fg_draw(const nr_fg_sampler *s, int slot, uint64_t draw, int *image);

/* The images of a batch: idx[j] (slot j, j < count) is the sample at
 * position pos + j of the stream seeded by seed; where nr_fg_draw forces
 * slot j with that sample's draw (nr_batcher_draw(seed, pos + j), the value
 * the crop hook gets), idx[j] becomes the drawn image.  Adds to the
 * counters. */
void nr_fg_images(nr_fg_sampler *s, uint64_t seed, uint64_t pos, int count, int *idx);

/* The crop window (top-left y0, x0; crop_h x crop_w) of image `image` (of
 * img_h x img_w) in batch slot `slot`, from draw alone.  Offsets range over
 * lo..hi per axis, lo = min(0, img - crop), hi = max(0, img - crop) (a
 * negative offset pads).  When nr_fg_draw forces the sample and `image`
 * holds the drawn class (it is the drawn image, nr_fg_images): one of the
 * class's stored pixels in it uniformly, the centre at that pixel plus a
 * uniform jitter in [-j, j] (j = jitter, -1: crop / 4; at most (crop - 1) /
 * 2, so the pixel stays inside the window), clamped to the range.
 * Otherwise uniform over the range.  When the image's size differs from the
 * index's (a resize policy), positions are scaled.  Returns the class
 * centred on (-1 when none) and, when cy/cx are not NULL, its pixel. */
int nr_fg_choose(const nr_fg_sampler *s, int image, int slot, uint64_t draw, int img_h, int img_w, int crop_h,
                 int crop_w, int *y0, int *x0, int *cy, int *cx);

/* ---- repeat-factor sampling (LVIS, Gupta et al. 2019) -------------------- */

/* r_i = max(1, max over classes c present in image i of sqrt(t / f_c)), f_c =
 * the fraction of images containing class c (any labelled pixel of it, class
 * 0 included); 1 for an image without labelled pixels.  t > 0. */
void nr_repeat_factors(const nr_class_index *ix, double t, double *r /* (images) */);

typedef struct nr_repeat nr_repeat;

/* The sample stream of repeat-factor sampling: round k (k = 0, 1, ...) holds
 * image i floor(r_i) times plus once more when u(seed, k, i) < frac(r_i),
 * shuffled (Fisher-Yates seeded by seed and k) or, without shuffle, in file
 * order; the rounds follow one another.  An epoch is the next
 * nr_repeat_epoch_len = round(sum r_i) samples of the stream, so every
 * epoch has the same number of steps and a run resumes from its step alone.
 * r is copied.  Free with nr_repeat_free. */
nr_repeat *nr_repeat_new(const double *r, int n, uint64_t seed, int shuffle, char *err, size_t errlen);
void nr_repeat_free(nr_repeat *rp);
int64_t nr_repeat_epoch_len(const nr_repeat *rp);
/* Samples pos .. pos + count - 1 of the stream into idx.  Fastest when
 * called with increasing positions; any position works (it replays the
 * round lengths from the start).  0, or -1 when out of memory. */
int nr_repeat_get(nr_repeat *rp, int64_t pos, int count, int *idx);

/* ---- a training run's sampling: the options and the pieces above ---------- */

/* Read from the model's options (runtime/graph/options.def, `option KEY = VALUE`,
 * `netrun train --set KEY=VALUE`): foreground, foreground_mode,
 * foreground_jitter, repeat. */
typedef struct nr_sampling nr_sampling;

/* Index ds (the cache is RUNDIR/class_stats.bin when rundir is not NULL),
 * set up foreground oversampling for a model input of model_h x model_w and
 * batches of `batch` (per process), and the repeat stream (seeded by seed;
 * shuffled or not).  With both, the forced slots take images drawn by
 * class and the others the repeat stream's.  out (NULL: quiet) gets what
 * was set up, and a warning when foreground oversampling is asked for but
 * the training masks hold no foreground class (it does nothing).  Free with
 * nr_sampling_free. */
nr_sampling *nr_sampling_new(const ng_graph *g, const nr_dataset *ds, const char *rundir, int batch,
                             int model_h, int model_w, uint64_t seed, int shuffle, FILE *out, char *err,
                             size_t errlen);
void nr_sampling_free(nr_sampling *s);
/* Labelled pixels per class over the training masks (classes). */
void nr_sampling_class_counts(const nr_sampling *s, int64_t *counts);
/* Samples per epoch: the images, or the repeat stream's epoch length. */
int nr_sampling_epoch_len(const nr_sampling *s);
/* With repeat factors: the samples of `epoch` into order
 * (nr_sampling_epoch_len of them) and 1; without: 0 (the caller shuffles). */
int nr_sampling_order(nr_sampling *s, int epoch, int *order);
/* The forced samples' images (nr_fg_images; nothing when foreground is 0):
 * call on every batch's idx before submitting it, seed and pos those of
 * the batcher's stream (nr_batcher_set_stream). */
void nr_sampling_images(nr_sampling *s, uint64_t seed, uint64_t pos, int count, int *idx);
/* Install the foreground crop hook on b (nothing when foreground is 0). */
void nr_sampling_attach(nr_sampling *s, nr_batcher *b);
/* One line on out: samples drawn, and those drawn by class (nothing when
 * foreground oversampling is off). */
void nr_sampling_print_counts(const nr_sampling *s, FILE *out);
/* The foreground sampler (its counters), or NULL when off. */
const nr_fg_sampler *nr_sampling_foreground(const nr_sampling *s);

/* The batcher's crop hook (nr_crop_fn) over an nr_fg_sampler ctx: a forced
 * sample's window from nr_fg_choose; other samples keep the batcher's
 * uniform window. */
void nr_fg_crop_hook(void *ctx, int sample, int slot, uint64_t draw, int img_h, int img_w, int crop_h,
                     int crop_w, int *y0, int *x0);

#endif
