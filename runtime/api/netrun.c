/* netrun.c — the embedding library (netrun.h) over the runtime's layers:
 * the graph from graph/, the model from exec/ on the CPU backend, weights
 * and ensembles from jobs/ensemble.c, images through jobs/window.c, the
 * same path as `netrun predict`.  Every runtime call below returns a code
 * with its message in a buffer (docs/conventions.md, the third failure
 * channel); none exits, so the library only threads them through. */
#include "netrun.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "ensemble.h"
#include "image.h"
#include "kernels.h"
#include "options.h"
#include "png.h"
#include "util.h"
#include "window.h"

struct netrun {
    ng_graph *g; /* the graph until the weights are loaded; then the model's */
    nr_model *m; /* NULL until netrun_load_weights */
    nr_ensemble *ens;
    char err[2048];
};

/* Runs of models: one at a time in the process (the thread pool's rule,
 * cpu/parallel.h); threads: the pool's size once set (0: never set). */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static int threads_set;

/* -1 with the message on h. */
static int fail(netrun *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->err, sizeof h->err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *netrun_version(void)
{
    return "0.1.0";
}

int netrun_open(netrun **out, const char *graph_path)
{
    netrun *h = calloc(1, sizeof *h);
    *out = h;
    if (!h)
        return -1;
    if (!graph_path)
        return fail(h, "netrun_open: no graph path");
    if (!(h->g = ng_graph_load(graph_path, h->err, sizeof h->err)))
        return -1;
    if (nr_options_check_graph(h->g, h->err, sizeof h->err) != 0) { /* a .netg of another netc */
        ng_graph_free(h->g);
        h->g = NULL;
        return -1;
    }
    return 0;
}

/* The graph, whether the model holds it yet or not; NULL when not open. */
static const ng_graph *graph(const netrun *h)
{
    return h->m ? nr_model_graph(h->m) : h->g;
}

int netrun_set(netrun *h, const char *key, const char *value)
{
    h->err[0] = 0;
    if (!graph(h))
        return fail(h, "netrun_set: no graph open");
    if (h->m)
        return fail(h, "netrun_set %s: options are set before netrun_load_weights", key);
    return nr_option_set(h->g, key, value, h->err, sizeof h->err);
}

int netrun_load_weights(netrun *h, const char *const *paths, int n)
{
    h->err[0] = 0;
    if (!graph(h))
        return fail(h, "netrun_load_weights: no graph open");
    if (h->m)
        return fail(h, "netrun_load_weights: the weights are loaded already (once per handle)");
    if (n < 1 || !paths)
        return fail(h, "netrun_load_weights: no checkpoint given");
    pthread_mutex_lock(&run_lock);
    if (!threads_set) {
        nr_kernels_set_threads(0); /* as netrun: all cores */
        threads_set = 1;
    }
    h->m = nr_model_new(h->g, nr_backend_cpu(), 1, h->err, sizeof h->err); /* takes g, also on failure */
    h->g = NULL;
    if (h->m && !(h->ens = nr_ensemble_load(h->m, paths, n, h->err, sizeof h->err))) {
        nr_model_free(h->m);
        h->m = NULL;
    }
    pthread_mutex_unlock(&run_lock);
    return h->m ? 0 : -1;
}

void netrun_input_shape(const netrun *h, int *channels, int *height, int *width)
{
    const ng_graph *g = graph(h);
    const ng_tensor *im = g ? &g->tensors[g->bind.image] : NULL;
    *channels = im ? (int)im->dim[1] : 0;
    *height = im ? (int)im->dim[2] : 0;
    *width = im ? (int)im->dim[3] : 0;
}

int netrun_classes(const netrun *h)
{
    return graph(h) ? graph(h)->bind.classes : 0;
}

/* What a run reads and writes: n images from a buffer, results into the
 * caller's buffers. */
typedef struct {
    const float *images; /* (n, c, h, w) */
    int c, h, w;
    float *probs;  /* (n, K, h, w) or NULL */
    uint8_t *mask; /* (n, h, w) or NULL */
} run_io;

static int load_image(void *ctx, int i, int c, float **image, int *h, int *w, char *err, size_t errlen)
{
    run_io *io = ctx;
    size_t n = (size_t)c * io->h * io->w;
    if (!(*image = malloc(sizeof **image * n)))
        return ng_fail(err, errlen, "out of memory");
    memcpy(*image, io->images + n * (size_t)i, sizeof **image * n);
    *h = io->h, *w = io->w;
    return 0;
}

static int take_mask(void *ctx, int idx, const float *image, int c, int h, int w, const uint8_t *pred,
                     const int32_t *truth, char *err, size_t errlen)
{
    (void)image, (void)c, (void)truth, (void)err, (void)errlen;
    run_io *io = ctx;
    if (io->mask)
        memcpy(io->mask + (size_t)h * w * (size_t)idx, pred, (size_t)h * w);
    return 0;
}

static int take_probs(void *ctx, int idx, const float *probs, int k, int h, int w, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    run_io *io = ctx;
    size_t n = (size_t)k * h * w;
    memcpy(io->probs + n * (size_t)idx, probs, sizeof *probs * n);
    return 0;
}

/* Run the infer entry over io's n images. */
static int run(netrun *h, run_io *io, int n)
{
    nr_window_job j = {.entry = "infer",
                       .visit = take_mask,
                       .ctx = io,
                       .all = 1,
                       .probabilities = io->probs ? take_probs : NULL,
                       .ens = h->ens,
                       .load = load_image,
                       .load_ctx = io,
                       .n_images = n};
    pthread_mutex_lock(&run_lock);
    int rc = nr_window_run(h->m, NULL, &j, h->err, sizeof h->err);
    pthread_mutex_unlock(&run_lock);
    return rc;
}

int netrun_run(netrun *h, const float *images, int n, int channels, int height, int width, float *probs, uint8_t *mask)
{
    h->err[0] = 0;
    if (!h->m)
        return fail(h, "netrun_run: no weights loaded (netrun_load_weights)");
    int c, th, tw;
    netrun_input_shape(h, &c, &th, &tw);
    if (channels != c)
        return fail(h, "netrun_run: %d channels, the model takes %d", channels, c);
    if (n < 0 || height < 1 || width < 1 || height > 32768 || width > 32768 || (int64_t)height * width > 1 << 26)
        return fail(h, "netrun_run: %d images of %d x %d pixels (1..32768 a side, at most 2^26 pixels)", n, height,
                    width);
    if (!images && n > 0)
        return fail(h, "netrun_run: no images");
    run_io io = {images, channels, height, width, probs, mask};
    return run(h, &io, n);
}

int netrun_run_file(netrun *h, const char *image_path, int *height, int *width, float **probs, uint8_t **mask)
{
    h->err[0] = 0;
    if (probs)
        *probs = NULL;
    if (mask)
        *mask = NULL;
    if (!h->m)
        return fail(h, "netrun_run_file: no weights loaded (netrun_load_weights)");
    int c, th, tw, ih, iw;
    netrun_input_shape(h, &c, &th, &tw);
    float *img = NULL, *p = NULL;
    uint8_t *k = NULL;
    if (nr_image_load(image_path, c, &ih, &iw, &img, h->err, sizeof h->err) != 0)
        return -1;
    size_t hw = (size_t)ih * iw, K = (size_t)netrun_classes(h);
    int rc = -1;
    if ((probs && !(p = malloc(sizeof *p * K * hw))) || (mask && !(k = malloc(hw))))
        fail(h, "out of memory");
    else {
        run_io io = {img, c, ih, iw, p, k};
        rc = run(h, &io, 1);
    }
    free(img);
    if (rc != 0) {
        free(p);
        free(k);
        return -1;
    }
    *height = ih, *width = iw;
    if (probs)
        *probs = p;
    if (mask)
        *mask = k;
    return 0;
}

int netrun_write_mask(netrun *h, const char *path, const uint8_t *mask, int height, int width)
{
    h->err[0] = 0;
    return nr_png_write_mask(path, height, width, mask, h->err, sizeof h->err);
}

int netrun_set_threads(int n)
{
    pthread_mutex_lock(&run_lock);
    nr_kernels_set_threads(n < 0 ? 0 : n);
    threads_set = 1;
    int got = nr_kernels_threads();
    pthread_mutex_unlock(&run_lock);
    return got;
}

const char *netrun_errmsg(const netrun *h)
{
    return h ? h->err : "out of memory";
}

void netrun_free(void *p)
{
    free(p);
}

void netrun_close(netrun *h)
{
    if (!h)
        return;
    nr_ensemble_free(h->ens);
    nr_model_free(h->m);
    ng_graph_free(h->g);
    free(h);
}
