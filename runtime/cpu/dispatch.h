/* dispatch.h — from a graph node to its kernel call.
 * One small adapter per op (the kernel column of ops.def) reads the node's
 * tensors and attributes and calls the kernel of kernels.h with explicit
 * pointers and sizes.  Shapes were validated at load (ng_graph_check).
 * These are the CPU backend's run, supports and scratch_bytes (backend.h,
 * cpu.h). */
#ifndef NR_DISPATCH_H
#define NR_DISPATCH_H

#include <stdint.h>
#include "backend.h"
#include "kernels.h"
#include "netg.h"

/* Runs node k->n now (nr_kctx: backend.h). */
void nr_dispatch(const nr_kctx *k);

/* 1 when the table has a kernel for n's op at precision (nr_precision):
 * every op row at NR_PREC_F32; the convolutions (conv2d, its two gradients,
 * conv_transpose2d) at NR_PREC_BF16 where nr_conv_bf16_available. */
int nr_dispatch_supports(const ng_node *n, int precision);
/* The CPU backend's precision_missing (backend.h): bf16 needs AVX512_BF16
 * (conv_bf16.h: nr_conv_bf16_available). */
const char *nr_dispatch_precision_missing(int precision);

/* Bytes of k->scratch node n of g needs at precision: the fast
 * convolutions' workspace for a conv node (nr_conv_fast_ws_elems; at bf16
 * the larger of that and nr_conv_bf16_ws_elems), else 0. */
int64_t nr_dispatch_scratch_bytes(const ng_graph *g, const ng_node *n, int precision);

#endif
