/* bench_conv_dw.c — the depthwise convolution (conv_dw.c) against the im2col +
 * sgemm reference of kernels.h (one sgemm per channel), per pass, on a few
 * depthwise layer shapes: the minimum over the repetitions of each, in ms.
 *   ninja -C build bench_conv_dw && build/bench_conv_dw [threads] [reps] */
#include "conv.h"
#include "parallel.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return p;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 5;
    nr_par_set_threads(threads);
    /* n, c, h, w, k, kh, kw, stride, pad_t, pad_l, oh, ow, dil, groups */
    const nr_conv_geom geoms[] = {
        {4, 64, 128, 128, 64, 3, 3, 1, 1, 1, 128, 128, 1, 64},
        {8, 256, 32, 32, 256, 3, 3, 1, 1, 1, 32, 32, 1, 256},
        {4, 128, 64, 64, 128, 3, 3, 2, 0, 0, 32, 32, 1, 128},
        {4, 64, 64, 64, 64, 3, 3, 1, 2, 2, 64, 64, 2, 64},
    };
    const char *pass[3] = {"fwd", "data", "filter"};
    printf("%d thread(s), min of %d runs; ms: im2col+sgemm / conv_dw.c\n", threads, reps);
    for (size_t i = 0; i < sizeof geoms / sizeof geoms[0]; i++) {
        const nr_conv_geom *g = &geoms[i];
        const size_t nx = (size_t)g->n * g->c * g->h * g->w, ny = (size_t)g->n * g->k * g->oh * g->ow;
        float *x = filled(nx), *dy = filled(ny), *w = filled((size_t)g->k * g->kh * g->kw), *b = filled(g->k);
        float *y = filled(ny), *dx = filled(nx), *dw = filled((size_t)g->k * g->kh * g->kw);
        float *ws = filled((size_t)nr_conv_ws_elems(g) + 1);
        printf("%dx%dx%dx%d %dx%d stride %d dilation %d:", g->n, g->c, g->h, g->w, g->kh, g->kw, g->stride, g->dil);
        for (int p = 0; p < 3; p++) {
            double tr = 1e30, tf = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = ng_now();
                if (p == 0)
                    nr_conv2d_fwd(g, x, w, b, y, ws);
                else if (p == 1)
                    nr_conv2d_bwd_data(g, dy, w, dx, ws);
                else
                    nr_conv2d_bwd_filter(g, dy, x, dw, ws);
                double t1 = ng_now();
                if (p == 0)
                    nr_conv_dw_fwd(g, x, w, b, 0, y);
                else if (p == 1)
                    nr_conv_dw_bwd_data(g, dy, w, dx);
                else
                    nr_conv_dw_bwd_filter(g, dy, x, dw);
                double t2 = ng_now();
                tr = t1 - t0 < tr ? t1 - t0 : tr;
                tf = t2 - t1 < tf ? t2 - t1 : tf;
            }
            printf("  %s %.2f / %.2f (%.1fx)", pass[p], tr * 1e3, tf * 1e3, tr / tf);
        }
        printf("\n");
        free(x), free(dy), free(w), free(b), free(y), free(dx), free(dw), free(ws);
    }
    nr_par_set_threads(1);
    return 0;
}
