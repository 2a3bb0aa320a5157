/* parallel.c — the persistent thread pool behind nr_par_for (parallel.h).
 * One job at a time: the caller publishes it by bumping a generation
 * counter, workers poll that counter for a few microseconds and then sleep
 * on a condition variable.  Tasks are claimed from one atomic word that holds
 * the job's generation and the next task, so a worker that wakes late can
 * never run a task of another job, and the caller waits for the tasks to be
 * done, not for every worker to have seen the job. */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* libopenblas: we run our own threads, so OpenBLAS must not run its own */
extern void openblas_set_num_threads(int);

/* Polls of a shared counter before a thread blocks: with a pause of ~20-70
 * cycles each, a few microseconds. */
enum { NR_PAR_SPIN = 200 };

#define NR_PAR_CLOSED 0xffffffffu

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* workers: a new job, or quit */
    pthread_cond_t done_cv;     /* caller: the job's last task is done */
    pthread_t worker[NR_PAR_MAX_THREADS]; /* worker[t] runs tid t; [0] unused */
    int threads;                /* the caller included */
    bool quit;                  /* under mu: workers exit */
    /* the current job, written by the caller while claim is closed */
    void (*fn)(void *, int64_t, int);
    void *ctx;
    atomic_int_fast64_t n_tasks;
    atomic_uint gen;            /* job counter; a change wakes the workers */
    atomic_uint_fast64_t claim; /* (gen << 32) | next task of the job; task
                                   NR_PAR_CLOSED: none to claim */
    atomic_int_fast64_t done;   /* tasks of the job finished */
} pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
    .threads = 1,
};

static void nr_par_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Runs tasks of job g until none is left (or another job has begun); the
 * thread that finishes the last task wakes the caller. */
static void nr_par_run(unsigned g, int tid)
{
    uint_fast64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    while ((unsigned)(c >> 32) == g && (int64_t)(c & 0xffffffffu) <
           atomic_load_explicit(&pool.n_tasks, memory_order_relaxed)) {
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1,
                                                   memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        /* task c is ours: the job cannot end, nor its fields change, before it is done */
        pool.fn(pool.ctx, (int64_t)(c & 0xffffffffu), tid);
        if (atomic_fetch_add_explicit(&pool.done, 1, memory_order_acq_rel) + 1 ==
            atomic_load_explicit(&pool.n_tasks, memory_order_relaxed)) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done_cv);
            pthread_mutex_unlock(&pool.mu);
            return;
        }
        c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
}

static void *nr_par_worker(void *arg)
{
    const int tid = (int)(intptr_t)arg;
    unsigned seen = atomic_load_explicit(&pool.gen, memory_order_acquire);
    for (;;) {
        unsigned g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        for (int i = 0; g == seen && i < NR_PAR_SPIN; i++) {
            nr_par_relax();
            g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.mu);
            while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen &&
                   !pool.quit)
                pthread_cond_wait(&pool.wake, &pool.mu);
            const bool quit = g == seen;
            pthread_mutex_unlock(&pool.mu);
            if (quit)
                return NULL;
        }
        seen = g;
        nr_par_run(g, tid);
    }
}

/* Stops and joins every worker. */
static void nr_par_stop(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.quit = true;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    for (int t = 1; t < pool.threads; t++)
        pthread_join(pool.worker[t], NULL);
    pool.quit = false;
    pool.threads = 1;
}

int nr_par_set_threads(int n)
{
    openblas_set_num_threads(1);
    if (n < 1)
        n = 1;
    if (n > NR_PAR_MAX_THREADS)
        n = NR_PAR_MAX_THREADS;
    if (n == pool.threads)
        return n;
    nr_par_stop();
    while (pool.threads < n &&
           pthread_create(&pool.worker[pool.threads], NULL, nr_par_worker,
                          (void *)(intptr_t)pool.threads) == 0)
        pool.threads++;
    return pool.threads;
}

int nr_par_threads(void)
{
    return pool.threads;
}

void nr_par_for(int64_t n_tasks, void (*fn)(void *ctx, int64_t task, int tid), void *ctx)
{
    if (n_tasks <= 0)
        return;
    if (pool.threads == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    /* every task of the previous job is done; closing claim first makes a
     * late worker's compare-exchange on the old job fail before the job's
     * fields change */
    const unsigned g = atomic_load_explicit(&pool.gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.claim, (uint_fast64_t)g << 32 | NR_PAR_CLOSED,
                          memory_order_seq_cst);
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.n_tasks, n_tasks, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.claim, (uint_fast64_t)g << 32, memory_order_release);
    pthread_mutex_lock(&pool.mu);
    atomic_store_explicit(&pool.gen, g, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    nr_par_run(g, 0);
    for (int i = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < n_tasks &&
                    i < NR_PAR_SPIN; i++)
        nr_par_relax();
    if (atomic_load_explicit(&pool.done, memory_order_acquire) < n_tasks) {
        pthread_mutex_lock(&pool.mu);
        while (atomic_load_explicit(&pool.done, memory_order_acquire) < n_tasks)
            pthread_cond_wait(&pool.done_cv, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
}

typedef struct {
    nr_range_fn fn;
    void *ctx;
    int64_t n, grain;
} range_job;

static void range_task(void *p, int64_t task, int tid)
{
    const range_job *j = p;
    int64_t b = task * j->grain, e = b + j->grain < j->n ? b + j->grain : j->n;
    (void)tid;
    j->fn(j->ctx, b, e);
}

void nr_par_range(int64_t n, int64_t grain, nr_range_fn fn, void *ctx)
{
    range_job j = {fn, ctx, n, grain};
    nr_par_for((n + grain - 1) / grain, range_task, &j);
}

int64_t nr_plane_grain(int64_t hw)
{
    return hw >= NR_GRAIN ? 1 : NR_GRAIN / (hw > 0 ? hw : 1);
}
