/* conv_avx2.c — the convolution kernels of conv_kernels.inc for AVX2 + FMA:
 * 8 lanes, 16 registers; masked loads (vmaskmovps) only where a vector has a
 * dead lane.  Compiled for AVX2 without AVX-512 whatever the build flags, so
 * it runs on any AVX2 machine; conv.c calls it where the CPU has avx2 and
 * fma (and on AVX-512 machines when asked to, NETRUN_ISA=avx2). */
#include "conv_isa.h"

#ifdef NR_CONV_X86
#pragma GCC target("avx2,fma,no-avx512f")

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define VL 8
#define LANES 0xffu
#define MASKED_LOADS_CHEAP 0
#define DC_KB 8
#define DC_WV 1
#define DPOS_BLOCKS DPOS(3, 3, 1) DPOS(2, 4, 1) DPOS(1, 6, 1)
#define DCHAN_BLOCKS DCHAN(4, 3) DCHAN(3, 3) DCHAN(2, 5) DCHAN(1, 7)
#define NR_ISA_OPS nr_conv_avx2_ops
#define NR_ISA_NAME "avx2"

typedef __m256 vf;
typedef __m256i vmask;

static inline vf vzero(void) { return _mm256_setzero_ps(); }
static inline vf vset1(float a) { return _mm256_set1_ps(a); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vmax0(vf a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vf a) { _mm256_storeu_ps(p, a); }
/* lane l all ones where bit l of bits is set */
static inline vmask vbits(unsigned bits)
{
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), lane), lane);
}
static inline vmask vmask_at(const uint16_t *p) { return vbits(*p); }
static inline vf vload_m(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
static inline void vstore_m(float *p, vmask m, vf a) { _mm256_maskstore_ps(p, m, a); }
/* b[p] lane l = element 4l + p of a[0..3] laid end to end: the 4x4
 * transposes within 128-bit lanes, then lane q*4 + k of each to k*4 + q */
static inline void vdeint4(const vf *a, vf *b)
{
    const __m256i idx = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const vf t0 = _mm256_unpacklo_ps(a[0], a[1]), t1 = _mm256_unpackhi_ps(a[0], a[1]);
    const vf t2 = _mm256_unpacklo_ps(a[2], a[3]), t3 = _mm256_unpackhi_ps(a[2], a[3]);
    b[0] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t2, 0x44), idx);
    b[1] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t2, 0xee), idx);
    b[2] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t1, t3, 0x44), idx);
    b[3] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t1, t3, 0xee), idx);
}
static inline float vhsum(vf a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* r[0..7] (row i in r[i]) becomes its transpose */
static inline void vtranspose(vf *r)
{
    vf t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {    /* u[i+j]: rows i..i+3 at columns j, 4+j */
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

#include "conv_kernels.inc"

#endif
