/* bench_conv_fast.c — GFLOP/s of every convolution of a U-Net training step
 * (models/unet.net, depth 4, 32 classes) at the four benchmark
 * configurations: the im2col + sgemm kernels of kernels.h (OpenBLAS on T
 * threads) against the fast ones of conv.h (T pool threads), direct,
 * Winograd F(4,3) along the rows ("winograd"), the 2D F(4x4,3x3) ("wino2d")
 * and the automatic choice, per layer shape and
 * pass, and weighted by flops over the whole step.
 *
 *   ninja -C build bench_conv_fast
 *   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench_conv_fast [threads] [reps] [configs] [cpu]
 *
 * threads: default 2; reps: timed runs after one warm-up, the best counts
 * (default 3); configs: letters of a (base 64, 256x256, batch 1), b (base 64,
 * batch 4), c (base 16, 128x128, batch 8), d (base 8, 64x64, batch 16),
 * default "abcd"; cpu: time by the process's CPU time instead of the wall
 * clock (1 thread only), which leaves out the time slices a shared core gives
 * to other processes.  The machine's OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE push
 * OpenBLAS onto slower kernels, hence the env -u.  GFLOP/s = 2*N*K*OH*OW*
 * C*KH*KW / best time, for every algorithm (Winograd does fewer flops);
 * "-": the algorithm refused the layer; a layer that conv.h refuses counts
 * in "auto" with the im2col time, as netrun falls back to it.  On a CPU with
 * AVX512_BF16 the column "bf16" times conv_bf16.h's kernels on every layer
 * they take (NR_BF16_ALWAYS) and "bf16/auto" is auto's time over theirs. */
#include "conv.h"
#include "conv_bf16.h"
#include "kernels.h"
#include "parallel.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

typedef struct {
    char name;
    int base, size, batch;
} bench_config;

static const bench_config configs[] = {
    {'a', 64, 256, 1}, {'b', 64, 256, 4}, {'c', 16, 128, 8}, {'d', 8, 64, 16},
};

/* One conv shape of the network and how often the step runs each pass. */
typedef struct {
    nr_conv_geom g;
    int count;          /* forward and weight gradient */
    int count_data;     /* data gradient (not for the layer that reads the image) */
} bench_layer;

enum { MAX_LAYERS = 64 };

static void add_layer(bench_layer *l, int *n, int batch, int c, int k, int size, int ks,
                      int data)
{
    const int pad = ks == 3 ? 1 : 0;   /* 3x3 'same': 1; 2x2 'same': 0 top/left; 1x1: 0 */
    const nr_conv_geom g = {batch, c, size, size, k, ks, ks, 1, pad, pad, size, size, 1, 1};
    for (int i = 0; i < *n; i++)
        if (!memcmp(&l[i].g, &g, sizeof g)) {
            l[i].count++;
            l[i].count_data += data;
            return;
        }
    l[(*n)++] = (bench_layer){g, 1, data};
}

/* The convolutions of the U-Net of lib/unet.net: per level d two 3x3
 * convolutions (the first reads the image at level 0), per decoder level a
 * 2x2 convolution of the upsampled deeper features and two 3x3 convolutions
 * after the concatenation; the head's 3x3 and 1x1 convolutions. */
static int unet_layers(const bench_config *cf, bench_layer *l)
{
    int n = 0;
    for (int d = 0; d <= 4; d++) {
        const int ch = cf->base << d, s = cf->size >> d;
        add_layer(l, &n, cf->batch, d == 0 ? 1 : ch / 2, ch, s, 3, d > 0);
        add_layer(l, &n, cf->batch, ch, ch, s, 3, 1);
        if (d < 4) {
            add_layer(l, &n, cf->batch, 2 * ch, ch, s, 2, 1);
            add_layer(l, &n, cf->batch, 2 * ch, ch, s, 3, 1);
            add_layer(l, &n, cf->batch, ch, ch, s, 3, 1);
        }
    }
    add_layer(l, &n, cf->batch, cf->base, 32, cf->size, 3, 1);
    add_layer(l, &n, cf->batch, 32, 32, cf->size, 1, 1);
    return n;
}

enum { FWD, DATA, FILT, N_PASS };
static const char *const pass_names[N_PASS] = {"fwd", "bwd_data", "bwd_filter"};

typedef struct {
    const nr_conv_geom *g;
    float *x, *w, *b, *y, *dy, *dx, *dw, *ws;
} bench_bufs;

enum { BENCH_BF16 = 100 };   /* algo: conv_bf16.h */

/* Runs pass p once with the im2col kernels (algo < 0), conv.h forced to
 * algo or conv_bf16.h (BENCH_BF16); 0, or -1 when refused. */
static int run_pass(const bench_bufs *u, int p, int algo)
{
    if (algo == BENCH_BF16)
        return p == FWD ? nr_conv_bf16_fwd(u->g, u->x, u->w, u->b, 1, u->y, u->ws)
             : p == DATA ? nr_conv_bf16_bwd_data(u->g, u->dy, u->w, u->dx, u->ws)
             : nr_conv_bf16_bwd_filter(u->g, u->dy, u->x, u->dw, u->ws);
    if (algo >= 0) {
        nr_conv_set_algo(algo);
        return p == FWD ? nr_conv_fast_fwd(u->g, u->x, u->w, u->b, 1, u->y, u->ws)
             : p == DATA ? nr_conv_fast_bwd_data(u->g, u->dy, u->w, u->dx, u->ws)
             : nr_conv_fast_bwd_filter(u->g, u->dy, u->x, u->dw, u->ws);
    }
    if (p == FWD)
        nr_conv2d_fwd(u->g, u->x, u->w, u->b, u->y, u->ws);
    else if (p == DATA)
        nr_conv2d_bwd_data(u->g, u->dy, u->w, u->dx, u->ws);
    else
        nr_conv2d_bwd_filter(u->g, u->dy, u->x, u->dw, u->ws);
    return 0;
}

static int use_cpu_time;   /* 1: the process's CPU time, else the wall clock */

static double bench_now(void)
{
    struct timespec ts;
    if (!use_cpu_time)
        return ng_now();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of reps timed runs after a warm-up, in seconds; 0 when refused. */
static double time_pass(const bench_bufs *u, int p, int algo, int reps)
{
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        const double t0 = bench_now();
        if (run_pass(u, p, algo))
            return 0;
        const double t = bench_now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    return best;
}

enum { OLD, DIRECT, WINO, WINO2D, AUTO, BF16, N_ALGO };

/* GFLOP/s, or "-" for a refused pass, in a column of 8. */
static void print_rate(double flops, double t)
{
    if (t > 0)
        printf(" %8.1f", flops / t * 1e-9);
    else
        printf(" %8s", "-");
}

static void bench_config_run(const bench_config *cf, int threads, int reps)
{
    static const int algos[N_ALGO] = {-1, NR_CONV_DIRECT, NR_CONV_WINOGRAD, NR_CONV_WINOGRAD2D,
                                      NR_CONV_AUTO, BENCH_BF16};
    bench_layer layers[MAX_LAYERS];
    const int nl = unet_layers(cf, layers);
    double step_flops = 0, pass_flops[N_PASS] = {0}, pass_t[N_PASS][N_ALGO] = {{0}};
    printf("\nconfig %c: base %d, %dx%d, batch %d, %d threads\n", cf->name, cf->base,
           cf->size, cf->size, cf->batch, threads);
    printf("%-24s %5s %-10s %7s %8s %8s %8s %8s %8s %8s %7s %6s %9s\n", "layer C->K kxk @ HxW",
           "count", "pass", "GFLOP", "im2col", "direct", "winograd", "wino2d", "auto", "bf16",
           "speedup", "share", "bf16/auto");
    for (int i = 0; i < nl; i++) {
        const nr_conv_geom *g = &layers[i].g;
        const double f = 2.0 * g->n * g->k * g->oh * g->ow * (double)g->c * g->kh * g->kw;
        step_flops += f * (2 * layers[i].count + layers[i].count_data);
    }
    for (int i = 0; i < nl; i++) {
        const bench_layer *l = &layers[i];
        const nr_conv_geom *g = &l->g;
        const int64_t nx = (int64_t)g->n * g->c * g->h * g->w;
        const int64_t nw = (int64_t)g->k * g->c * g->kh * g->kw;
        const int64_t ny = (int64_t)g->n * g->k * g->oh * g->ow;
        int64_t ws = nr_conv_ws_elems(g);
        ws = ws > nr_conv_fast_ws_elems(g) ? ws : nr_conv_fast_ws_elems(g);
        ws = ws > nr_conv_bf16_ws_elems(g) ? ws : nr_conv_bf16_ws_elems(g);
        bench_bufs u = {g, alloc_rand(nx), alloc_rand(nw), alloc_rand(g->k), alloc_rand(ny),
                        alloc_rand(ny), alloc_rand(nx), alloc_rand(nw), alloc_rand(ws)};
        const double f = 2.0 * g->n * g->k * g->oh * g->ow * (double)g->c * g->kh * g->kw;
        for (int p = FWD; p < N_PASS; p++) {
            const int count = p == DATA ? l->count_data : l->count;
            if (!count)
                continue;
            double t[N_ALGO];
            for (int a = OLD; a < N_ALGO; a++) {
                if (a == OLD) {
                    nr_par_set_threads(1);
                    openblas_set_num_threads(threads);
                } else {
                    nr_par_set_threads(threads);   /* and OpenBLAS to 1 thread */
                }
                t[a] = time_pass(&u, p, algos[a], reps);
            }
            const int fallback = t[AUTO] == 0;   /* refused: netrun runs im2col */
            if (fallback)
                t[AUTO] = t[OLD];
            char name[64];
            snprintf(name, sizeof name, "%d->%d %dx%d @ %dx%d", g->c, g->k, g->kh, g->kw,
                     g->h, g->w);
            printf("%-24s %5d %-10s %7.3f", name, count, pass_names[p], f * 1e-9);
            for (int a = OLD; a < N_ALGO; a++)
                print_rate(f, t[a]);
            printf(" %7.2f %5.1f%%", t[OLD] / t[AUTO], 100.0 * f * count / step_flops);
            if (t[BF16] > 0)
                printf(" %9.2f", t[AUTO] / t[BF16]);
            printf("%s\n", fallback ? "  (refused: im2col)" : "");
            pass_flops[p] += f * count;
            for (int a = OLD; a < N_ALGO; a++)
                pass_t[p][a] += (t[a] > 0 ? t[a] : t[AUTO]) * count;
        }
        free(u.x); free(u.w); free(u.b); free(u.y); free(u.dy); free(u.dx); free(u.dw);
        free(u.ws);
    }
    /* totals: a refused algorithm counts with the automatic choice's time */
    double all_t[N_ALGO] = {0};
    for (int p = FWD; p < N_PASS; p++) {
        printf("%-24s %5s %-10s %7.3f", "all layers", "", pass_names[p], pass_flops[p] * 1e-9);
        for (int a = OLD; a < N_ALGO; a++) {
            print_rate(pass_flops[p], pass_t[p][a]);
            all_t[a] += pass_t[p][a];
        }
        printf(" %7.2f %5.1f%% %9.2f\n", pass_t[p][OLD] / pass_t[p][AUTO],
               100.0 * pass_flops[p] / step_flops, pass_t[p][AUTO] / pass_t[p][BF16]);
    }
    printf("%-24s %5s %-10s %7.3f", "whole step", "", "all", step_flops * 1e-9);
    for (int a = OLD; a < N_ALGO; a++)
        print_rate(step_flops, all_t[a]);
    printf(" %7.2f   (convolutions: %.3f s im2col, %.3f s auto, %.3f s bf16)\n",
           all_t[OLD] / all_t[AUTO], all_t[OLD], all_t[AUTO], all_t[BF16]);
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 2;
    const int reps = argc > 2 ? atoi(argv[2]) : 3;
    const char *which = argc > 3 ? argv[3] : "abcd";
    use_cpu_time = argc > 4 && !strcmp(argv[4], "cpu");
    if (threads < 1 || reps < 1 || (argc > 4 && (!use_cpu_time || threads != 1))) {
        fprintf(stderr, "usage: bench_conv_fast [threads >= 1] [reps >= 1] [configs, e.g. abcd] "
                        "[cpu, with 1 thread]\n");
        return 2;
    }
    nr_conv_bf16_set_algo(NR_BF16_ALWAYS);
    printf("fast convolutions: %s; GFLOP/s = 2*N*K*OH*OW*C*KH*KW / best %s time\n",
           nr_conv_isa_name(nr_conv_isa()), use_cpu_time ? "CPU" : "wall");
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        if (strchr(which, configs[i].name))
            bench_config_run(&configs[i], threads, reps);
    nr_conv_fast_release();
    return 0;
}
