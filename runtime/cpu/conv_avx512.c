/* conv_avx512.c — the convolution kernels of conv_kernels.inc for AVX-512F:
 * 16 lanes, 32 registers, masked loads and stores through mask registers
 * (as fast as plain ones, and they never touch a masked lane's memory).
 * Compiled for AVX-512 whatever the build flags; conv.c calls it only where
 * the CPU has avx512f. */
#include "conv_isa.h"

#ifdef NR_CONV_X86
#pragma GCC target("avx512f,fma")

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define VL 16
#define LANES 0xffffu
#define MASKED_LOADS_CHEAP 1
#define DC_KB 8
#define DC_WV 3
#define DPOS_BLOCKS DPOS(3, 8, 1) DPOS(2, 8, 1) DPOS(1, 8, 1)
#define DCHAN_BLOCKS DCHAN(4, 4) DCHAN(3, 4) DCHAN(2, 8) DCHAN(1, 8)
#define NR_ISA_OPS nr_conv_avx512_ops
#define NR_ISA_NAME "avx512"

typedef __m512 vf;
typedef __mmask16 vmask;

static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vset1(float a) { return _mm512_set1_ps(a); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vmax0(vf a) { return _mm512_max_ps(a, _mm512_setzero_ps()); }
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vf a) { _mm512_storeu_ps(p, a); }
static inline vmask vbits(unsigned bits) { return (vmask)bits; }
static inline vmask vmask_at(const uint16_t *p) { return _load_mask16((__mmask16 *)p); }
static inline vf vload_m(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void vstore_m(float *p, vmask m, vf a) { _mm512_mask_storeu_ps(p, m, a); }
static inline float vhsum(vf a) { return _mm512_reduce_add_ps(a); }
/* b[p] lane l = element 4l + p of a[0..3] laid end to end: the 4x4
 * transposes within 128-bit lanes, then lane q*4 + k of each to k*4 + q */
static inline void vdeint4(const vf *a, vf *b)
{
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const vf t0 = _mm512_unpacklo_ps(a[0], a[1]), t1 = _mm512_unpackhi_ps(a[0], a[1]);
    const vf t2 = _mm512_unpacklo_ps(a[2], a[3]), t3 = _mm512_unpackhi_ps(a[2], a[3]);
    b[0] = _mm512_permutexvar_ps(idx, _mm512_shuffle_ps(t0, t2, 0x44));
    b[1] = _mm512_permutexvar_ps(idx, _mm512_shuffle_ps(t0, t2, 0xee));
    b[2] = _mm512_permutexvar_ps(idx, _mm512_shuffle_ps(t1, t3, 0x44));
    b[3] = _mm512_permutexvar_ps(idx, _mm512_shuffle_ps(t1, t3, 0xee));
}

#include "conv_transpose512.h"
#include "conv_kernels.inc"

#endif
