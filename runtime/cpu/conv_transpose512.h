/* conv_transpose512.h — the 16 x 16 transpose of AVX-512 float vectors,
 * shared by conv_avx512.c and conv_bf16_avx512.c (which includes it for
 * 32-bit pairs of bf16).  Include after <immintrin.h> with AVX-512F enabled. */
#ifndef NR_CONV_TRANSPOSE512_H
#define NR_CONV_TRANSPOSE512_H

/* r[0..15] (row i in r[i]) becomes its transpose */
static inline void vtranspose(__m512 *r)
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {   /* u[i+j]: rows i..i+3 at columns 4L+j */
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {       /* 4x4 transpose of 128-bit lanes */
        const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        const __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
        r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

#endif
