/* conv_bf16_avx512.c — the bf16 convolution kernels of conv_bf16_isa.h for
 * AVX512_BF16: packing (fp32 -> bf16 pairs, to nearest even) and register
 * blocks of vdpbf16ps with fp32 accumulators.  Compiled for AVX512_BF16
 * whatever the build flags; conv_bf16.c calls it only where the CPU has it. */
#include "conv_bf16_isa.h"

#ifdef NR_CONV_X86
#pragma GCC target("avx512f,avx512bw,avx512bf16,fma")

#include <immintrin.h>
#include <string.h>

#include "conv_transpose512.h"

typedef __m512bh vbh;

static inline vbh as_bh(__m512i a) { return (vbh)a; }

/* 16 words: word l holds bf16(lo[l]) in its low half, bf16(hi[l]) in its high
 * half (a pair of reduction rows at one position). */
static inline __m512i pair_rows(__m512 lo, __m512 hi)
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* 16 words from 32 consecutive floats: word l holds bf16(p[2l]) low and
 * bf16(p[2l+1]) high (a pair of neighbouring positions). */
static inline __m512i pair_cols(__m512 p0_15, __m512 p16_31)
{
    return (__m512i)_mm512_cvtne2ps_pbh(p16_31, p0_15);
}

static inline __mmask16 lanes_below(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* ---- weights ------------------------------------------------------------ */

static float wt_at(const nr_bf16_wview *v, int o, int r)
{
    if (o >= v->no || r >= v->ni * v->nt)
        return 0.0f;
    return v->w[o * v->so + (r / v->nt) * v->si + (r % v->nt) * v->st];
}

void nr_bf16_pack_weights(const nr_bf16_wview *v, int r2, int kb, uint32_t *a)
{
    float lo[16], hi[16];
    uint32_t words[16];
    for (int i = 0; i < NR_BF16_MR; i++) {
        const int o = kb * NR_BF16_MR + i;
        for (int rp0 = 0; rp0 < r2; rp0 += 16) {
            for (int l = 0; l < 16; l++) {
                lo[l] = wt_at(v, o, 2 * (rp0 + l));
                hi[l] = wt_at(v, o, 2 * (rp0 + l) + 1);
            }
            _mm512_storeu_si512(words, pair_rows(_mm512_loadu_ps(lo), _mm512_loadu_ps(hi)));
            for (int l = 0; l < 16 && rp0 + l < r2; l++)
                a[((int64_t)kb * r2 + rp0 + l) * NR_BF16_MR + i] = words[l];
        }
    }
}

/* ---- convolution: a GEMM over tiles of im2col ----------------------------- */

/* Lane masks of the tile's vectors: mk[v*nt + t] has bit l set when position
 * q0 + 16v + l exists and reads inside the input at tap t; off[t] is that
 * read's offset from the position. */
static void conv_masks(const nr_bf16_conv *c, int64_t q0, uint16_t *mk, int64_t *off)
{
    const int nt = c->kh * c->kw;
    const int64_t npos = (int64_t)c->ho * c->w;
    for (int t = 0; t < nt; t++)
        off[t] = (int64_t)(t / c->kw - c->pt) * c->w + (t % c->kw - c->pl);
    memset(mk, 0, (size_t)c->tv * nt * sizeof *mk);
    for (int v = 0; v < c->tv; v++)
        for (int l = 0; l < 16; l++) {
            const int64_t q = q0 + 16 * v + l;
            if (q >= npos)
                break;
            const int oy = (int)(q / c->w), ox = (int)(q % c->w);
            for (int t = 0; t < nt; t++) {
                const int iy = oy + t / c->kw - c->pt, ix = ox + t % c->kw - c->pl;
                if (iy >= 0 && iy < c->hi && ix >= 0 && ix < c->w)
                    mk[v * nt + t] |= (uint16_t)(1u << l);
            }
        }
}

/* The tile's im2col as bf16 row pairs, b (tv/NB, r2, NB, 16) words. */
static void conv_pack(const nr_bf16_conv *c, const float *in, int64_t q0, const uint16_t *mk,
                      const int64_t *off, uint32_t *b)
{
    const int nt = c->kh * c->kw, rall = c->ci * nt;
    for (int rp = 0; rp < c->r2; rp++) {
        const int r0 = 2 * rp, r1 = r0 + 1;
        const int c0 = r0 / nt, t0 = r0 % nt, c1 = r1 / nt, t1 = r1 % nt;
        const float *x0 = in + c0 * c->in_cs + q0 + off[t0];
        const float *x1 = r1 < rall ? in + c1 * c->in_cs + q0 + off[t1] : NULL;
        for (int v = 0; v < c->tv; v++) {
            const __m512 lo = _mm512_maskz_loadu_ps(mk[v * nt + t0], x0 + 16 * v);
            const __m512 hi = x1 ? _mm512_maskz_loadu_ps(mk[v * nt + t1], x1 + 16 * v)
                                 : _mm512_setzero_ps();
            uint32_t *dst = b + (((int64_t)(v / NR_BF16_NB) * c->r2 + rp) * NR_BF16_NB +
                                 v % NR_BF16_NB) * 16;
            _mm512_store_si512(dst, pair_rows(lo, hi));
        }
    }
}

/* MR output channels x NB vectors: the sums over the r2 pairs, then
 * act(sum + bias) stored under the lanes that are positions. */
static inline __attribute__((always_inline)) void
conv_block(const nr_bf16_conv *c, const uint32_t *a, const uint32_t *b, int k0, int64_t q,
           float *out)
{
    __m512 acc[NR_BF16_MR][NR_BF16_NB];
#pragma GCC unroll 8
    for (int i = 0; i < NR_BF16_MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < NR_BF16_NB; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int rp = 0; rp < c->r2; rp++) {
        __m512i x[NR_BF16_NB];
#pragma GCC unroll 3
        for (int j = 0; j < NR_BF16_NB; j++)
            x[j] = _mm512_load_si512(b + (rp * NR_BF16_NB + j) * 16);
#pragma GCC unroll 8
        for (int i = 0; i < NR_BF16_MR; i++) {
            const __m512i w = _mm512_set1_epi32((int)a[rp * NR_BF16_MR + i]);
#pragma GCC unroll 3
            for (int j = 0; j < NR_BF16_NB; j++)
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], as_bh(w), as_bh(x[j]));
        }
    }
    const int64_t npos = (int64_t)c->ho * c->w;
    for (int i = 0; i < NR_BF16_MR && k0 + i < c->ko; i++) {
        const __m512 bias = _mm512_set1_ps(c->bias ? c->bias[k0 + i] : 0.0f);
        float *o = out + (int64_t)(k0 + i) * c->out_cs + q;
        for (int j = 0; j < NR_BF16_NB; j++) {
            const __mmask16 m = lanes_below(npos - q - 16 * j);
            __m512 y = _mm512_add_ps(acc[i][j], bias);
            if (c->relu)
                y = _mm512_max_ps(y, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(o + 16 * j, m, y);
        }
    }
}

void nr_bf16_conv_tile(const nr_bf16_conv *c, int64_t tile, int kb0, int kb1, void *scratch)
{
    const int64_t img = tile / c->tiles, q0 = tile % c->tiles * c->tv * 16;
    const int64_t npos = (int64_t)c->ho * c->w;
    uint16_t mk[NR_CONV_MAX_TAPS * 96];
    int64_t off[NR_CONV_MAX_TAPS];
    uint32_t *b = scratch;
    conv_masks(c, q0, mk, off);
    conv_pack(c, c->in + img * c->in_is, q0, mk, off, b);
    float *out = c->out + img * c->out_is;
    for (int kb = kb0; kb < kb1; kb++)
        for (int vb = 0; vb * NR_BF16_NB < c->tv; vb++) {
            const int64_t q = q0 + (int64_t)vb * NR_BF16_NB * 16;
            if (q >= npos)
                break;
            conv_block(c, c->a + (int64_t)kb * c->r2 * NR_BF16_MR,
                       b + (int64_t)vb * c->r2 * NR_BF16_NB * 16, kb * NR_BF16_MR, q, out);
        }
}

/* ---- weight gradient ------------------------------------------------------ */

/* dy of positions q..q+len-1 of one image as pairs of neighbouring positions,
 * channels in the lanes: bt (ceil(len/32)*16, nkv, 16) words, zero past KO
 * and len. */
static void filt_pack_dy(const nr_bf16_filt *f, const float *dy, int64_t q, int len,
                         uint32_t *bt)
{
    for (int kv = 0; kv < f->nkv; kv++)
        for (int p0 = 0; p0 < len; p0 += 32) {
            __m512 rows[16];
            const __mmask16 m0 = lanes_below(len - p0), m1 = lanes_below(len - p0 - 16);
            for (int l = 0; l < 16; l++) {
                const int k = kv * 16 + l;
                if (k >= f->ko) {
                    rows[l] = _mm512_setzero_ps();
                    continue;
                }
                const float *src = dy + k * f->dy_cs + q + p0;
                rows[l] = _mm512_castsi512_ps(pair_cols(_mm512_maskz_loadu_ps(m0, src),
                                                        _mm512_maskz_loadu_ps(m1, src + 16)));
            }
            vtranspose(rows);   /* rows[pp]: the pair pp of 16 channels */
            for (int pp = 0; pp < 16; pp++)
                _mm512_store_ps((float *)(bt + ((int64_t)(p0 / 2 + pp) * f->nkv + kv) * 16),
                                rows[pp]);
        }
}

/* Lane masks of positions q..q+len-1 of one image: mk[t*(CH/16) + v] has bit
 * l set when position q + 16v + l (< q + len) reads inside x at tap t. */
static void filt_masks(const nr_bf16_filt *f, int64_t q, int len, uint16_t *mk)
{
    const int nt = f->kh * f->kw;
    memset(mk, 0, (size_t)nt * (NR_BF16_CH / 16) * sizeof *mk);
    for (int p = 0; p < len; p++) {
        const int oy = (int)((q + p) / f->w), ox = (int)((q + p) % f->w);
        for (int t = 0; t < nt; t++) {
            const int iy = oy + t / f->kw - f->pt, ix = ox + t % f->kw - f->pl;
            if (iy >= 0 && iy < f->h && ix >= 0 && ix < f->w)
                mk[t * (NR_BF16_CH / 16) + p / 16] |= (uint16_t)(1u << (p % 16));
        }
    }
}

/* Rows r = rb*FR .. of x's im2col at positions q..q+len-1 of one image (masks
 * mk of filt_masks) as pairs of neighbouring positions: ar (FR, CH/2) words,
 * zero past R and len. */
static void filt_pack_x(const nr_bf16_filt *f, const float *x, int64_t q, int len, int rb,
                        const uint16_t *mk, uint32_t *ar)
{
    const int nt = f->kh * f->kw, rall = f->ci * nt;
    for (int i = 0; i < NR_BF16_FR; i++) {
        const int r = rb * NR_BF16_FR + i;
        uint32_t *dst = ar + i * (NR_BF16_CH / 2);
        if (r >= rall) {
            memset(dst, 0, (size_t)(len + 31) / 32 * 64);
            continue;
        }
        const int c = r / nt, t = r % nt;
        const int64_t off = (int64_t)(t / f->kw - f->pt) * f->w + (t % f->kw - f->pl);
        const float *src = x + c * f->x_cs + q + off;
        const uint16_t *m = mk + t * (NR_BF16_CH / 16);
        for (int p0 = 0; p0 < len; p0 += 32)
            _mm512_store_si512(dst + p0 / 2,
                               pair_cols(_mm512_maskz_loadu_ps(m[p0 / 16], src + p0),
                                         _mm512_maskz_loadu_ps(m[p0 / 16 + 1], src + p0 + 16)));
    }
}

/* FR rows x nb vectors of 16 channels of dy over np2 pairs, added to part. */
static inline __attribute__((always_inline)) void
filt_block(const int nb, const nr_bf16_filt *f, const uint32_t *ar, const uint32_t *bt,
           int np2, int kv0, float *part, int kpad)
{
    __m512 acc[NR_BF16_FR][2];
#pragma GCC unroll 12
    for (int i = 0; i < NR_BF16_FR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < nb; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int pp = 0; pp < np2; pp++) {
        __m512i d[2];
#pragma GCC unroll 2
        for (int j = 0; j < nb; j++)
            d[j] = _mm512_load_si512(bt + ((int64_t)pp * f->nkv + kv0 + j) * 16);
#pragma GCC unroll 12
        for (int i = 0; i < NR_BF16_FR; i++) {
            const __m512i xv = _mm512_set1_epi32((int)ar[i * (NR_BF16_CH / 2) + pp]);
#pragma GCC unroll 2
            for (int j = 0; j < nb; j++)
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], as_bh(xv), as_bh(d[j]));
        }
    }
    for (int i = 0; i < NR_BF16_FR; i++)
        for (int j = 0; j < nb; j++) {
            float *p = part + (int64_t)i * kpad + (kv0 + j) * 16;
            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), acc[i][j]));
        }
}

void nr_bf16_filt_range(const nr_bf16_filt *f, int r, int rb0, int rb1, float *part,
                        void *scratch)
{
    const int64_t npos = (int64_t)f->oh * f->w, total = f->n * npos;
    const int64_t g0 = r * total / f->ranges, g1 = (r + 1) * total / f->ranges;
    const int kpad = f->nkv * 16;
    uint32_t *bt = scratch;
    uint32_t *ar = bt + (int64_t)(NR_BF16_CH / 2) * f->nkv * 16;
    uint16_t mk[NR_CONV_MAX_TAPS * (NR_BF16_CH / 16)];
    memset(part + (int64_t)rb0 * NR_BF16_FR * kpad, 0,
           (size_t)(rb1 - rb0) * NR_BF16_FR * kpad * sizeof *part);
    for (int64_t g = g0; g < g1;) {
        const int64_t img = g / npos, q = g % npos;
        int64_t len = NR_BF16_CH;
        len = len < npos - q ? len : npos - q;
        len = len < g1 - g ? len : g1 - g;
        filt_pack_dy(f, f->dy + img * f->dy_is, q, (int)len, bt);
        filt_masks(f, q, (int)len, mk);
        const int np2 = (int)(len + 1) / 2;
        for (int rb = rb0; rb < rb1; rb++) {
            filt_pack_x(f, f->x + img * f->x_is, q, (int)len, rb, mk, ar);
            float *pr = part + (int64_t)rb * NR_BF16_FR * kpad;
            int kv = 0;
            for (; kv + 2 <= f->nkv; kv += 2)
                filt_block(2, f, ar, bt, np2, kv, pr, kpad);
            if (kv < f->nkv)
                filt_block(1, f, ar, bt, np2, kv, pr, kpad);
        }
        g += len;
    }
}

#endif
