/* exec.h — running a compiled graph on a backend (backend.h).
 * An nr_model owns the loaded ng_graph, one state buffer for every
 * persistent tensor (inputs, parameters, optimizer state, constants) and
 * one arena per entry, allocated once on first use, all in the backend's
 * memory.  Functions that can fail return 0 / -1 and leave the message in
 * nr_model_error(). */
#ifndef NR_EXEC_H
#define NR_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "netg.h"

typedef struct nr_model nr_model;

/* Takes ownership of g; be (not owned) runs it for the model's life.
 * Initializes the parameters from seed (each tensor's stream also depends
 * on its name, so adding a layer does not change the others' initial
 * values).  NULL with err on failure, a node be cannot run included. */
nr_model *nr_model_new(ng_graph *g, const nr_backend *be, uint64_t seed, char *err, size_t errlen);
void nr_model_free(nr_model *m);
/* The nr_precision its nodes run at where the backend supports it (option
 * precision; f32 when the backend lacks it, which nr_model_new said on
 * stderr). */
int nr_model_precision(const nr_model *m);
/* The same for g on be, silently; and the precision node n runs at under
 * a model precision: it where be supports n at it, else f32. */
int nr_graph_precision(const ng_graph *g, const nr_backend *be);
int nr_node_precision(const nr_backend *be, const ng_node *n, int precision);
const ng_graph *nr_model_graph(const nr_model *m);
const char *nr_model_error(const nr_model *m);

/* Storage of a persistent tensor (NULL for arena tensors), in the
 * backend's memory: the host reads and writes it in place only on a
 * backend whose memory is host memory (cpu). */
void *nr_model_state(nr_model *m, int t);
/* Storage of any tensor as of the last run of entry (arena tensors are
 * valid until the next run of that entry); the same caveat. */
void *nr_model_tensor(nr_model *m, const char *entry, int t);
/* Copies: bytes of host src to the start of persistent tensor t (an
 * input fed, a checkpoint's values), and the first bytes of tensor t as of
 * the last run of entry to host dst (a loss read).  -1 when t has no such
 * storage or fewer bytes. */
int nr_model_write(nr_model *m, int t, const void *src, size_t bytes);
int nr_model_read(nr_model *m, const char *entry, int t, void *dst, size_t bytes);

/* Run one entry; its results are ready when it returns (the backend's
 * sync).  The step counter (Adam's t, dropout draws) advances after each
 * run of an entry with update ops.  Over several ranks (the backend's
 * ranks()) a train entry's gradients are averaged over them before the
 * updates read them (the updates then run last). */
int nr_model_run(nr_model *m, const char *entry);
int64_t nr_model_step(const nr_model *m);
void nr_model_set_step(nr_model *m, int64_t step);
/* Freeze persistent tensor t (a parameter): every update op that writes it
 * (its optimizer step, weight decay included, and the running statistics'
 * update) is skipped from now on, so it and its optimizer state keep their
 * values; its gradient is still computed (other gradients need the backward
 * pass) and counts in global-norm clipping.  0, or -1 (out of memory). */
int nr_model_freeze(nr_model *m, int t);
/* The run's total optimizer steps, which a graph with a total_steps binding
 * (a learning-rate schedule) reads; before it is set, such a graph sees 1.
 * Each run feeds the bound step and total_steps inputs first. */
void nr_model_set_total_steps(nr_model *m, int64_t total);

/* With debug set, each arena tensor gets its own buffer (no sharing):
 * used to check that the memory plan changes no result. */
void nr_model_set_unshared(nr_model *m, int on);

/* With profiling on, each run adds the time spent in each node to a table
 * per entry: nr_model_profile gives the nanoseconds per node of the entry's
 * node list summed over its runs (NULL before the first profiled run). */
void nr_model_set_profile(nr_model *m, int on);
const double *nr_model_profile(const nr_model *m, const char *entry);

/* Every constant computed from the training masks, from the pixel counts
 * per class (counts: bind.classes entries): each class-weight tensor by its
 * scheme (init_arg: scheme NG_CW_*, clip_lo, clip_hi, beta; netg.h gives
 * the formulas), then clamped to [clip_lo, clip_hi] when clip_hi > 0 --
 * classes with no pixels get weight 0, they cannot occur in the loss
 * anyway -- and each class-prior tensor.  Keeps a copy of counts
 * (nr_model_class_counts; checkpoints store it).  Writes the weights of
 * bind.class_weights to w_out too (may be NULL). */
void nr_model_set_class_weights(nr_model *m, const int64_t *counts, float *w_out);
/* The counts last given to nr_model_set_class_weights, or NULL. */
const int64_t *nr_model_class_counts(const nr_model *m);
/* The graph has a constant computed from the class counts. */
int nr_model_wants_class_counts(const nr_model *m);

#endif
