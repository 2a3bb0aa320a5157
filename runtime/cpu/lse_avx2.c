/* lse_avx2.c — the kernels of lse_kernels.inc for AVX2 + FMA: 8 lanes,
 * tails through vmaskmovps.  Compiled for AVX2 without AVX-512 whatever the
 * build flags; loss.c calls it where the CPU has avx2 and fma (and on
 * AVX-512 machines when asked to, NETRUN_ISA=avx2). */
#include "lse_isa.h"

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma,no-avx512f")

#include <immintrin.h>

#define VL 8
#define NR_LSE_OPS nr_lse_avx2_ops
#define NR_LSE_NAME "avx2"

typedef __m256 vf;
typedef __m256i vmask;

static inline vf vset1(float a) { return _mm256_set1_ps(a); }
static inline vf vzero(void) { return _mm256_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vfnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vround(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* 2^n built in the exponent field: n + 127 in 1..254 for n in -126..127 */
static inline vf vscale2(vf a, vf n)
{
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(a, _mm256_castsi256_ps(e));
}
static inline vf vzero_lt(vf a, vf x, vf lo) { return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), a); }
static inline vmask vtail(int64_t n)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n >= VL ? VL : (int)n), lane);
}
static inline vf vload_m(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
static inline void vstore_m(float *p, vmask m, vf a) { _mm256_maskstore_ps(p, m, a); }
static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vf a) { _mm256_storeu_ps(p, a); }
#include "lse_kernels.inc"

#endif
