/* netrun.h — netrun's inference as a C library (libnetrun; pkg-config
 * netrun): a model compiled by netc (a .netg file) and its trained weights
 * (safetensors checkpoints of `netrun train`; several: an ensemble whose
 * class probabilities are averaged) segment images, with everything
 * `netrun predict` does: normalization (option mean, std), sliding windows
 * or resize at any image size, test-time augmentation, prior correction.
 *
 *     netrun *nr;
 *     if (netrun_open(&nr, "model.netg") != 0 ||
 *         netrun_load_weights(nr, (const char *[]){"best.safetensors"}, 1) != 0) {
 *         fprintf(stderr, "%s\n", netrun_errmsg(nr));   // NULL handle: "out of memory"
 *         netrun_close(nr);
 *         return 1;
 *     }
 *     uint8_t *mask; int h, w;
 *     if (netrun_run_file(nr, "image.png", &h, &w, NULL, &mask) == 0) { ...; netrun_free(mask); }
 *     netrun_close(nr);
 *
 * Errors: every function that can fail returns 0 or -1 and keeps a one-line
 * message on the handle (netrun_errmsg), naming the file, tensor or value;
 * nothing in the library exits, aborts or prints.  Images are float planes
 * (C,H,W) with values in [0,1] (8-bit pixel / 255), as netrun decodes
 * PNG and JPEG files; the library normalizes them.
 *
 * Threads: handles are independent, and a handle is used by one thread at a
 * time.  Any thread may call any function; the calls that run a model
 * (netrun_load_weights, netrun_run, netrun_run_file, netrun_set_threads) take
 * one process-wide lock, because netrun's thread pool is process-wide: two
 * threads running two handles take turns, each run using the pool's threads
 * (netrun_set_threads; by default all cores). */
#ifndef NETRUN_H
#define NETRUN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NETRUN_API_VERSION 1

typedef struct netrun netrun;

/* The library's version, "0.1.0". */
const char *netrun_version(void);

/* Open the compiled graph at path (checked as `netrun info` checks it).
 * *out is a new handle even when this fails (its netrun_errmsg says why;
 * close it), NULL only when out of memory. */
int netrun_open(netrun **out, const char *graph_path);

/* Set an option of the model (`option KEY = VALUE` of the model file, as
 * `netrun --set KEY=VALUE`: tta, prior_correction, overlap, window_sigma,
 * infer_size, mean, std; runtime/graph/options.def), before
 * netrun_load_weights. */
int netrun_set(netrun *h, const char *key, const char *value);

/* Load the weights: n >= 1 checkpoints of this graph (n > 1: an ensemble,
 * the members' probabilities averaged; each member costs a copy of its
 * weights).  A checkpoint of another graph is an error naming the file and
 * the tensor.  Once per handle: the model takes the handle's graph, so
 * after a failure only netrun_errmsg and netrun_close are of use. */
int netrun_load_weights(netrun *h, const char *const *paths, int n);

/* The model's tile (input) channels, height and width, and its classes K. */
void netrun_input_shape(const netrun *h, int *channels, int *height, int *width);
int netrun_classes(const netrun *h);

/* Segment n images (n, channels, height, width) in [0,1], of any height and
 * width; channels must be the model's.  Writes, for what is not NULL, the
 * class probabilities (n, K, height, width) (each pixel's sum to 1) and the
 * mask (n, height, width), each pixel the most probable class: what
 * `netrun predict` writes for the same image. */
int netrun_run(netrun *h, const float *images, int n, int channels, int height, int width, float *probs, uint8_t *mask);

/* The same on a PNG or JPEG file (gray or colour: converted to the model's
 * channels), at its own size *height x *width: *probs (K, H, W) and *mask
 * (H, W), for those not NULL, allocated by the library (netrun_free). */
int netrun_run_file(netrun *h, const char *image_path, int *height, int *width, float **probs, uint8_t **mask);

/* Write mask (height, width) to path as `netrun predict` does: an 8-bit
 * palette PNG whose pixel values are the classes (PASCAL VOC colours). */
int netrun_write_mask(netrun *h, const char *path, const uint8_t *mask, int height, int width);

/* Threads of the process-wide pool for every handle (0: all cores).  Returns
 * the number in effect. */
int netrun_set_threads(int n);

/* The last error's message on h ("" after a success; "out of memory" for a
 * NULL handle), valid until the next call with h. */
const char *netrun_errmsg(const netrun *h);

/* Free what netrun_run_file allocated; NULL is a no-op. */
void netrun_free(void *p);
/* Close h and free everything it holds; NULL is a no-op. */
void netrun_close(netrun *h);

#ifdef __cplusplus
}
#endif

#endif
