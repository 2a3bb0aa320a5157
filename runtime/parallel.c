/* parallel.c — the persistent thread pool behind nr_par_for (parallel.h).
 * One job at a time: the caller publishes it by bumping a generation
 * counter, workers poll that counter for a few microseconds and then sleep
 * on a condition variable; tasks are handed out by an atomic counter. */
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

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* workers: a new job, or quit */
    pthread_cond_t done;        /* caller: the last worker left the job */
    pthread_t worker[NR_PAR_MAX_THREADS]; /* worker[t] runs tid t; [0] unused */
    int threads;                /* the caller included */
    bool quit;                  /* under mu: workers exit */
    /* the current job, written by the caller before gen is bumped */
    void (*fn)(void *, int64_t, int);
    void *ctx;
    int64_t n_tasks;
    atomic_int_fast64_t next;   /* next task to hand out */
    atomic_int busy;            /* workers not yet done with the job */
    atomic_uint gen;            /* bumped once per job */
    unsigned start_gen;         /* gen when the workers were started: a worker
                                   that first runs after a job was published
                                   must still take part in it */
} pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
    .threads = 1,
};

static void nr_par_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Runs tasks of the current job until none is left. */
static void nr_par_run(int tid)
{
    int64_t t;
    while ((t = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed)) < pool.n_tasks)
        pool.fn(pool.ctx, t, tid);
}

static void *nr_par_worker(void *arg)
{
    const int tid = (int)(intptr_t)arg;
    unsigned seen = pool.start_gen;
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
            const bool quit = g == seen && pool.quit;
            pthread_mutex_unlock(&pool.mu);
            if (quit)
                return NULL;
        }
        seen = g;
        nr_par_run(tid);
        if (atomic_fetch_sub_explicit(&pool.busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
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
    pool.start_gen = atomic_load_explicit(&pool.gen, memory_order_relaxed);
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
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_tasks = n_tasks;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.busy, pool.threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    nr_par_run(0);
    for (int i = 0; atomic_load_explicit(&pool.busy, memory_order_acquire) > 0 &&
                    i < NR_PAR_SPIN; i++)
        nr_par_relax();
    if (atomic_load_explicit(&pool.busy, memory_order_acquire) > 0) {
        pthread_mutex_lock(&pool.mu);
        while (atomic_load_explicit(&pool.busy, memory_order_acquire) > 0)
            pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
}
