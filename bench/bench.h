/* bench.h — what the convolution benchmarks (bench_conv.c, bench_conv_fast.c,
 * bench_conv_dw.c) share: deterministic input data (the clock is util.h's
 * ng_now). */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* n floats in [-0.5, 0.5), the same on every run (malloc'ed; exits on out
 * of memory). */
static __attribute__((unused)) float *alloc_rand(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    return p;
}

#endif
