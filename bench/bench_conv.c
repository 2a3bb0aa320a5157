/* bench_conv.c — times the conv kernels on the widest U-Net layer: a 64->64
 * 3x3 'same' conv on 1x64x256x256, plus the 1x1 output conv (64->2).
 * Usage: bench_conv [threads (0 = all cores)] [reps]; prints ms and GFLOP/s. */
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

/* Best of reps runs (after one warm-up) of one kernel, in seconds. */
enum { FWD, BWD_DATA, BWD_FILTER, BWD_BIAS };

static double time_op(int op, const nr_conv_geom *g, int reps, const float *x,
                      const float *w, const float *b, const float *dy, float *y,
                      float *dx, float *dw, float *db, float *ws)
{
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = ng_now();
        switch (op) {
        case FWD:        nr_conv2d_fwd(g, x, w, b, y, ws); break;
        case BWD_DATA:   nr_conv2d_bwd_data(g, dy, w, dx, ws); break;
        case BWD_FILTER: nr_conv2d_bwd_filter(g, dy, x, dw, ws); break;
        default:         nr_conv2d_bwd_bias(g, dy, db); break;
        }
        double t = ng_now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    return best;
}

static void bench(const char *name, const nr_conv_geom *g, int reps)
{
    int64_t nx = (int64_t)g->n * g->c * g->h * g->w;
    int64_t nw = (int64_t)g->k * g->c * g->kh * g->kw;
    int64_t ny = (int64_t)g->n * g->k * g->oh * g->ow;
    int64_t nws = nr_conv_ws_elems(g);
    float *x = alloc_rand(nx), *w = alloc_rand(nw), *b = alloc_rand(g->k);   /* (N,C,H,W) (K,C,KH,KW) (K) */
    float *y = alloc_rand(ny), *dy = alloc_rand(ny);                         /* (N,K,OH,OW) */
    float *dx = alloc_rand(nx), *dw = alloc_rand(nw), *db = alloc_rand(g->k);
    float *ws = alloc_rand(nws);                                             /* (C*KH*KW, OH*OW) */
    double flop = 2.0 * (double)ny * (double)g->c * g->kh * g->kw;
    static const char *names[] = {"fwd", "bwd_data", "bwd_filter", "bwd_bias"};
    printf("%s  (N=%d C=%d %dx%d K=%d %dx%d, workspace %.1f MiB)\n", name, g->n, g->c,
           g->h, g->w, g->k, g->kh, g->kw, (double)nws * 4.0 / (1 << 20));
    for (int op = FWD; op <= BWD_BIAS; op++) {
        double t = time_op(op, g, reps, x, w, b, dy, y, dx, dw, db, ws);
        if (op == BWD_BIAS)
            printf("  %-10s %8.2f ms\n", names[op], t * 1e3);
        else
            printf("  %-10s %8.2f ms  %7.1f GFLOP/s\n", names[op], t * 1e3,
                   flop / t * 1e-9);
    }
    free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db); free(ws);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    nr_kernels_set_threads(threads);
    const nr_conv_geom g3 = {1, 64, 256, 256, 64, 3, 3, 1, 1, 1, 256, 256, 1, 1};
    const nr_conv_geom g1 = {1, 64, 256, 256, 2, 1, 1, 1, 0, 0, 256, 256, 1, 1};
    bench("3x3 conv 64->64", &g3, reps);
    bench("1x1 conv 64->2", &g1, reps);
    return 0;
}
