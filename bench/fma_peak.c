/* fma_peak.c — the fp32 FMA ceiling of this machine: GFLOP/s of a loop of nothing but
 * fused multiply-adds on 1..T threads, with AVX-512 (when the CPU has avx512f) and with AVX2,
 * and the bf16 ceiling beside it: the same loop of vdpbf16ps (when the CPU has avx512_bf16;
 * each multiplies 16 pairs of bf16 and adds both products to an fp32 lane: 4 flops a lane).
 *
 *   cc -O2 -pthread bench/fma_peak.c -o fma_peak && ./fma_peak [max threads (default 2)]
 *
 * Prints one line per measurement, e.g. "avx512 threads 2 gflops 441.3" (an FMA counts as 2
 * flops, a vdpbf16ps lane 4). Each thread keeps ACC independent accumulator vectors, acc = acc * m + c, so the
 * FMA latency (4 cycles) never limits the issue rate of the FMA units: 16 zmm chains for
 * AVX-512 (32 registers) and 12 ymm chains for AVX2 (16 registers, two of them hold m and c).
 * All threads run at once, each REPS timed calls of ~1 ms; the figure adds up each thread's
 * best call. A call that short fits in one scheduler time slice, so on a shared machine each
 * core is counted at a moment it ran nothing else. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPS 1000
#define MAX_THREADS 64

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Each kernel runs iters iterations of ACC FMAs of one vector and returns a sum of the
 * accumulators, so the compiler cannot drop the loop. */
#define ACC512 16
__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    __m512 acc[ACC512];
    for (int i = 0; i < ACC512; i++)
        acc[i] = _mm512_set1_ps((float)i);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < ACC512; i++) /* unrolled: acc[] lives in registers */
            acc[i] = _mm512_fmadd_ps(acc[i], m, c);
    }
    for (int i = 1; i < ACC512; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

/* The bf16 loop: acc = acc + a[0]*b[0] + a[1]*b[1] per lane, 16 independent chains as above. */
__attribute__((target("avx512f,avx512bf16"))) static float dpbf16_avx512(long iters)
{
    __m512 acc[ACC512];
    for (int i = 0; i < ACC512; i++)
        acc[i] = _mm512_set1_ps((float)i);
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-6f), _mm512_set1_ps(-1e-6f));
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < ACC512; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    for (int i = 1; i < ACC512; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

#define ACC256 12
__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    __m256 acc[ACC256];
    for (int i = 0; i < ACC256; i++)
        acc[i] = _mm256_set1_ps((float)i);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (long n = 0; n < iters; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < ACC256; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], m, c);
    }
    for (int i = 1; i < ACC256; i++)
        acc[0] = _mm256_add_ps(acc[0], acc[i]);
    float s[8];
    _mm256_storeu_ps(s, acc[0]);
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

typedef struct {
    float (*kernel)(long);
    long iters;
    pthread_barrier_t *start;
    double best_s; /* this thread's fastest call of kernel(iters) */
    float sink;
} job;

static void *worker(void *p)
{
    job *j = p;
    pthread_barrier_wait(j->start);
    j->best_s = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        j->sink += j->kernel(j->iters);
        double dt = now_s() - t0;
        if (dt < j->best_s)
            j->best_s = dt;
    }
    return NULL;
}

/* All threads run REPS calls of kernel(iters) at the same time, each timing its own calls;
 * the result is the sum over the threads of iters / (the thread's fastest call). */
static double iters_per_s(float (*kernel)(long), long iters, int threads)
{
    pthread_t tid[MAX_THREADS];
    job jobs[MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){kernel, iters, &start, 0, 0};
        if (pthread_create(&tid[t], NULL, worker, &jobs[t])) {
            fprintf(stderr, "fma_peak: pthread_create failed\n");
            exit(1);
        }
    }
    double rate = 0;
    float sink = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        rate += (double)iters / jobs[t].best_s;
        sink += jobs[t].sink;
    }
    pthread_barrier_destroy(&start);
    if (sink != sink) /* never true; keeps the results live */
        fprintf(stderr, "fma_peak: NaN\n");
    return rate;
}

/* flops: per lane and instruction (2 for an FMA, 4 for vdpbf16ps) */
static void measure(const char *isa, float (*kernel)(long), int acc, int lanes, int flops,
                    int threads)
{
    long iters = 1 << 16;
    for (;;) { /* calibrate: ~1 ms per call */
        double t0 = now_s();
        volatile float sink = kernel(iters); /* volatile: the call is not dropped */
        (void)sink;
        if (now_s() - t0 > 0.0005)
            break;
        iters *= 2;
    }
    iters *= 2;
    double gflops = (double)flops * lanes * acc * iters_per_s(kernel, iters, threads) * 1e-9;
    printf("%s threads %d gflops %.1f\n", isa, threads, gflops);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    if (max_threads < 1 || max_threads > MAX_THREADS) {
        fprintf(stderr, "usage: fma_peak [max threads, 1..%d]\n", MAX_THREADS);
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "fma_peak: this CPU has no AVX2 + FMA\n");
        return 1;
    }
    for (int t = 1; t <= max_threads; t++) {
        if (__builtin_cpu_supports("avx512f"))
            measure("avx512", fma_avx512, ACC512, 16, 2, t);
        measure("avx2", fma_avx2, ACC256, 8, 2, t);
        if (__builtin_cpu_supports("avx512bf16"))
            measure("avx512_bf16", dpbf16_avx512, ACC512, 16, 4, t);
    }
    return 0;
}
