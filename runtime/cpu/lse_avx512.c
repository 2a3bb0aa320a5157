/* lse_avx512.c — the kernels of lse_kernels.inc for AVX-512F: 16 lanes,
 * tails through mask registers.  Compiled for AVX-512 whatever the build
 * flags; loss.c calls it only where the CPU has avx512f. */
#include "lse_isa.h"

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,fma")

#include <immintrin.h>

#define VL 16
#define NR_LSE_OPS nr_lse_avx512_ops
#define NR_LSE_NAME "avx512"

typedef __m512 vf;
typedef __mmask16 vmask;

static inline vf vset1(float a) { return _mm512_set1_ps(a); }
static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vfnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vround(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vf vscale2(vf a, vf n) { return _mm512_scalef_ps(a, n); }
static inline vf vzero_lt(vf a, vf x, vf lo) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), a, vzero()); }
static inline vmask vtail(int64_t n) { return n >= VL ? (vmask)0xffff : (vmask)((1u << n) - 1); }
static inline vf vload_m(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void vstore_m(float *p, vmask m, vf a) { _mm512_mask_storeu_ps(p, m, a); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vf a) { _mm512_storeu_ps(p, a); }
#include "lse_kernels.inc"

#endif
