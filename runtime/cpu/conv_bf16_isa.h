/* conv_bf16_isa.h — what conv_bf16.c hands the bf16 kernels of
 * conv_bf16_avx512.c: two products computed as packed GEMMs with
 * vdpbf16ps, which multiplies pairs of bf16 along the reduction and adds both
 * products to an fp32 lane.  Inputs are rounded to bf16 (to nearest even,
 * vcvtne2ps2bf16, denormals read as 0) while they are packed, so tensors
 * stay fp32 in memory; sums are fp32.  Internal to those two files. */
#ifndef NR_CONV_BF16_ISA_H
#define NR_CONV_BF16_ISA_H

#include "conv_isa.h"

#include <stdint.h>

#define NR_BF16_MR 8     /* output channels per register block (conv) */
#define NR_BF16_NB 3     /* 16-position vectors per register block (conv) */
#define NR_BF16_FR 12    /* weight-gradient rows (channel, tap) per register block */
#define NR_BF16_CH 256   /* positions per chunk of the weight gradient */

/* The weights as a convolution with no output channels and ni input
 * channels of nt taps: wt(o, i, t) = w[o*so + i*si + t*st].  The forward
 * pass reads w (K,C,KH,KW) as it is (st = 1); the data gradient the
 * transposed and flipped kernel (w at its last tap, st = -1).  Reduction
 * index r = i*nt + t, R = ni*nt, taken in pairs (2rp, 2rp+1). */
typedef struct {
    const float *w;
    int no, ni, nt;
    int64_t so, si, st;
} nr_bf16_wview;

/* out (N, KO, HO, W) = act(bias + conv(in (N, CI, HI, W), wt)), stride 1,
 * the kernel kh x kw read from row oy - pt, column ox - pl (rows outside
 * 0..hi-1, columns outside 0..w-1 read 0): a GEMM of the packed weights a
 * (KO x R) by the im2col of in (R x positions), one tile of tv vectors of
 * 16 positions of one output plane at a time, packed as pairs of
 * reduction rows, 16 positions to a 64-byte vector. */
typedef struct {
    int n, ci, ko, hi, ho, w, kh, kw, pt, pl;
    const float *in;            /* planes in_cs, images in_is floats apart */
    int64_t in_cs, in_is;
    float *out;                 /* planes out_cs, images out_is apart */
    int64_t out_cs, out_is;
    const uint32_t *a;          /* (ceil(KO/MR), r2, MR): the pair (wt(k, 2rp), wt(k, 2rp+1))
                                 * of k = kb*MR + i at (kb*r2 + rp)*MR + i, zero past KO, R */
    int r2;                     /* ceil(R / 2) */
    const float *bias;          /* (KO) or NULL */
    int relu;
    int tv;                     /* vectors per tile, a multiple of NB */
    int tiles;                  /* tiles per output plane */
} nr_bf16_conv;

/* Scratch bytes of nr_bf16_conv_tile. */
static inline int64_t nr_bf16_conv_scratch(const nr_bf16_conv *c)
{
    return (int64_t)c->r2 * c->tv * 64;
}

/* The weight gradient: part[r][k] = sum over positions p of a range of
 * dy[k][p] * x[c][p read at tap t], r = c*nt + t, with the channels of dy in
 * the lanes and pairs of neighbouring positions in the reduction.  The n*oh*w
 * positions of the batch are cut into `ranges` ranges at fixed boundaries;
 * each range gives partial sums (rpad, kpad) floats. */
typedef struct {
    int n, ci, ko, h, w, oh, kh, kw, pt, pl;
    const float *x;             /* (N, CI, H, W) */
    int64_t x_cs, x_is;
    const float *dy;            /* (N, KO, OH, W) */
    int64_t dy_cs, dy_is;
    int ranges;
    int nkv;                    /* ceil(KO / 16) */
    int rpad;                   /* CI*KH*KW rounded up to FR */
} nr_bf16_filt;

/* Scratch bytes of nr_bf16_filt_range. */
static inline int64_t nr_bf16_filt_scratch(const nr_bf16_filt *f)
{
    return (int64_t)(NR_BF16_CH / 2) * f->nkv * 64 + (int64_t)NR_BF16_FR * NR_BF16_CH * 2;
}

#ifdef NR_CONV_X86
/* Block kb of the packed weights (nr_bf16_conv.a), r2 pairs. */
void nr_bf16_pack_weights(const nr_bf16_wview *v, int r2, int kb, uint32_t *a);
/* Tile `tile` (numbered over the batch: image tile / c->tiles) of c for the
 * output channel blocks kb0..kb1-1; scratch: nr_bf16_conv_scratch bytes,
 * 64-byte aligned. */
void nr_bf16_conv_tile(const nr_bf16_conv *c, int64_t tile, int kb0, int kb1, void *scratch);
/* Range r of f, rows rb0*FR .. rb1*FR - 1 of its partial sums part (rpad,
 * nkv*16), overwritten; scratch: nr_bf16_filt_scratch bytes, 64-byte
 * aligned. */
void nr_bf16_filt_range(const nr_bf16_filt *f, int r, int rb0, int rb1, float *part,
                        void *scratch);
#endif

#endif
