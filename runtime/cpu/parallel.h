/* parallel.h — netrun's one process-wide thread pool.  Kernels split their
 * work into tasks and run them with nr_par_for; the calling thread works
 * alongside the pool's workers.  Besides the data loader's thread, this is
 * the only threading in netrun (OpenBLAS is kept single-threaded). */
#ifndef NR_PARALLEL_H
#define NR_PARALLEL_H

#include <stdint.h>

/* Most threads the pool runs (the caller included). */
#define NR_PAR_MAX_THREADS 256

/* Sets the number of threads, the caller included, to n (clamped to
 * 1..NR_PAR_MAX_THREADS), starting or joining workers, and sets OpenBLAS to
 * one thread so that it never runs its own threads next to ours.  Returns the
 * number now in effect, which is smaller than n when a worker could not be
 * started.  Not to be called from inside nr_par_for. */
int nr_par_set_threads(int n);

/* Threads nr_par_for uses: 1 until nr_par_set_threads is called. */
int nr_par_threads(void);

/* Runs fn(ctx, task, tid) once for every task in 0..n_tasks-1 (fewer than
 * 2^32) and returns when all have returned.  Tasks are handed out
 * dynamically, in increasing order, to the caller (tid 0) and the workers
 * (tid 1..threads-1), so a kernel can index per-thread scratch by tid; the
 * caller never waits for a worker that has not woken up in time, it runs the
 * tasks itself.  fn must not call nr_par_for; nr_par_for itself is called
 * from one thread at a time (netrun's main thread). */
void nr_par_for(int64_t n_tasks, void (*fn)(void *ctx, int64_t task, int tid), void *ctx);

/* Elements per chunk of a memory-bound loop: big enough that a task costs
 * far more than handing it out (~1 us), small enough to balance. */
#define NR_GRAIN 32768

/* fn(ctx, b, e) over [0, n) in chunks [b, e) of grain elements, as tasks of
 * nr_par_for.  The chunks depend on n and grain only, never on the thread
 * count. */
typedef void (*nr_range_fn)(void *ctx, int64_t begin, int64_t end);
void nr_par_range(int64_t n, int64_t grain, nr_range_fn fn, void *ctx);

/* Planes per chunk for a loop over (N*C) planes of hw elements. */
int64_t nr_plane_grain(int64_t hw);

#endif
