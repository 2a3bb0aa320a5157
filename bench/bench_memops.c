/* bench_memops.c — the memory-bound kernels of a small U-Net's training step
 * (models/unet.net -D BASE=8 -D SIZE=64 -D BATCH=16: the level-0 shapes) by
 * themselves: the cross-entropy forward and backward on every ISA the CPU
 * has (lse_isa.h), then relu_bwd, maxpool_bwd, upsample and its backward, the bias
 * gradient, concat and adam.  Minimum over the repetitions, in ms, and the
 * bytes each reads and writes once per ms (GB/s).
 *   ninja -C build bench_memops && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/bench_memops [threads] [reps] */
#include "conv.h"
#include "kernels.h"
#include "parallel.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

enum { CE_FWD, CE_BWD, RELU_BWD, MAXPOOL_BWD, UPSAMPLE, UPSAMPLE_BWD, BWD_BIAS, CONCAT, ADAM, N_KERNELS };
static const char *names[N_KERNELS] = {"cross_entropy", "cross_entropy_bwd", "relu_bwd", "maxpool_bwd",
                                       "upsample",      "upsample_bwd", "conv2d_bwd_bias", "concat", "adam"};

enum { N = 16, C = 8, H = 64, W = 64, CLASSES = 32 };
#define PLANE ((int64_t)H * W)

typedef struct {
    float *logits, *dlogits, *cw, *a, *b, *y, *small, *p, *m, *v;
    int32_t *labels;
} bufs;

/* One run of kernel k; returns the bytes it reads and writes. */
static double run(int k, bufs *B)
{
    const int64_t act = (int64_t)N * C * PLANE, nlog = (int64_t)N * CLASSES * PLANE;
    switch (k) {
    case CE_FWD:
        nr_cross_entropy_fwd(N, CLASSES, PLANE, B->logits, B->labels, NULL, 255);
        return 4.0 * nlog + 4.0 * N * PLANE;
    case CE_BWD:
        nr_cross_entropy_bwd(N, CLASSES, PLANE, 1.0f, B->logits, B->labels, NULL, 255, B->dlogits);
        return 8.0 * nlog + 4.0 * N * PLANE;
    case RELU_BWD: nr_relu_bwd(act, B->a, B->b, B->y); return 12.0 * act;
    case MAXPOOL_BWD: nr_maxpool_bwd(N, C, H, W, 2, B->small, B->a, NULL, B->y); return 8.0 * act + act;
    case UPSAMPLE: nr_upsample_fwd(N, C, H / 2, W / 2, 2, B->small, B->y); return 4.0 * act + act;
    case UPSAMPLE_BWD: nr_upsample_bwd(N, C, H / 2, W / 2, 2, B->a, B->small); return 4.0 * act + act;
    case BWD_BIAS: {
        nr_conv_geom g = {.n = N, .k = C, .oh = H, .ow = W};
        nr_conv2d_bwd_bias(&g, B->a, B->small);
        return 4.0 * act;
    }
    case CONCAT: {
        const int cs[2] = {C / 2, C / 2};
        const float *xs[2] = {B->a, B->b};
        nr_concat_fwd(N, 2, cs, PLANE, xs, B->y);
        return 8.0 * act;
    }
    case ADAM:
        nr_adam(act, B->p, B->a, B->m, B->v, 1e-4f, 0.9f, 0.999f, 1e-7f, 0.01f, 3);
        return 20.0 * act;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 20;
    nr_par_set_threads(threads);
    const int64_t act = (int64_t)N * C * PLANE, nlog = (int64_t)N * CLASSES * PLANE;
    bufs B = {alloc_rand(nlog), alloc_rand(nlog), alloc_rand(CLASSES), alloc_rand(act), alloc_rand(act),
              alloc_rand(act), alloc_rand(act), alloc_rand(act), alloc_rand(act), alloc_rand(act), NULL};
    B.labels = malloc((size_t)(N * PLANE) * sizeof *B.labels);
    if (!B.labels)
        return 2;
    for (int64_t i = 0; i < N * PLANE; i++)
        B.labels[i] = (int32_t)((i * 2654435761u) % CLASSES);
    for (int64_t i = 0; i < act; i++)
        B.v[i] = B.v[i] * B.v[i];
    printf("%d thread(s), min of %d runs: ms, GB/s\n", threads, reps);
    const int best = nr_conv_set_isa(NR_ISA_AVX512);
    for (int k = 0; k < N_KERNELS; k++) {
        for (int isa = k <= CE_BWD ? NR_ISA_GENERIC : best; isa <= best; isa++) {
            nr_conv_set_isa(isa);
            double t = 1e30, bytes = 0;
            for (int r = 0; r < reps; r++) {
                double t0 = ng_now();
                bytes = run(k, &B);
                double dt = ng_now() - t0;
                t = dt < t ? dt : t;
            }
            printf("%-18s %-8s %8.3f ms %6.1f GB/s\n", names[k], k <= CE_BWD ? nr_conv_isa_name(isa) : "",
                   t * 1e3, bytes / t * 1e-9);
        }
    }
    return 0;
}
