/* backend.c — the CPU backend's nr_backend (cpu.h): its memory is host
 * memory, so upload and download are copies and there is nothing to sync;
 * a node runs to its end inside run. */
#include "cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "dist.h"

static void *cpu_alloc(size_t bytes)
{
    if (bytes > SIZE_MAX - 63)
        return NULL;
    return aligned_alloc(64, bytes ? (bytes + 63) / 64 * 64 : 64); /* a multiple of the alignment */
}

static void cpu_free(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

static void cpu_scale(float *x, int64_t n, float a)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= a;
}

static void cpu_sync(void) {}

static const nr_backend cpu = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .supports = nr_dispatch_supports,
    .precision_missing = nr_dispatch_precision_missing,
    .scratch_bytes = nr_dispatch_scratch_bytes,
    .run = nr_dispatch,
    .rank = nr_dist_rank,
    .ranks = nr_dist_size,
    .sum = nr_dist_sum_f32,
    .isum = nr_dist_isum_f32,
    .test = nr_dist_test,
    .wait = nr_dist_wait,
    .scale = cpu_scale,
    .sync = cpu_sync,
};

const nr_backend *nr_backend_cpu(void) { return &cpu; }
