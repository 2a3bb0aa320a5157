/* reduce.c — reductions and their adjoints, slices and pads along an axis,
 * cumulative sums, sorting and gathering along a dim (contracts in kernels.h). Chunks depend on the sizes only,
 * never on the thread count, and reductions add the chunks' partial sums in
 * chunk order, so every kernel gives the same bits on any number of threads. */
#include "kernels.h"
#include "parallel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- reductions and their adjoint ------------------------------------- */

void nr_reduce_sum(const int64_t d[4], unsigned mask, float scale, const float *x, float *y)
{
    const int64_t s[4] = {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
    int64_t ko[4], kr[4];   /* extents of the kept (outer) and reduced loops */
    for (int k = 0; k < 4; k++) {
        ko[k] = mask >> k & 1 ? 1 : d[k];
        kr[k] = mask >> k & 1 ? d[k] : 1;
    }
    int64_t o = 0;
    for (int64_t o0 = 0; o0 < ko[0]; o0++)
        for (int64_t o1 = 0; o1 < ko[1]; o1++)
            for (int64_t o2 = 0; o2 < ko[2]; o2++)
                for (int64_t o3 = 0; o3 < ko[3]; o3++) {
                    const float *xb = x + o0 * s[0] + o1 * s[1] + o2 * s[2] + o3;
                    double acc = 0.0;
                    for (int64_t r0 = 0; r0 < kr[0]; r0++)
                        for (int64_t r1 = 0; r1 < kr[1]; r1++)
                            for (int64_t r2 = 0; r2 < kr[2]; r2++) {
                                const float *row = xb + r0 * s[0] + r1 * s[1] + r2 * s[2];
                                for (int64_t r3 = 0; r3 < kr[3]; r3++)  /* contiguous */
                                    acc += row[r3];
                            }
                    y[o++] = (float)(scale * acc);
                }
}

void nr_expand(const int64_t d[4], unsigned mask, float scale, const float *x, float *y)
{
    int64_t t[4], step = 1;  /* strides of x over y's dims, 0 where expanded */
    for (int k = 3; k >= 0; k--) {
        t[k] = mask >> k & 1 ? 0 : step;
        step *= mask >> k & 1 ? 1 : d[k];
    }
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++) {
                const float *xr = x + i0 * t[0] + i1 * t[1] + i2 * t[2];
                float *yr = y + ((i0 * d[1] + i1) * d[2] + i2) * d[3];     /* (D3) */
                for (int64_t i = 0; i < d[3]; i++)
                    yr[i] = scale * xr[i * t[3]];
            }
}

typedef struct { int64_t hw; const float *x, *m; float *y; } nr_mulc_ctx;

static void nr_mul_channel_range(void *p, int64_t b, int64_t e) /* planes b..e */
{
    const nr_mulc_ctx *c = p;
    for (int64_t nc = b; nc < e; nc++) {
        const float *xp = c->x + nc * c->hw;                   /* (HW) */
        float *yp = c->y + nc * c->hw, mv = c->m[nc];
        for (int64_t i = 0; i < c->hw; i++)
            yp[i] = xp[i] * mv;
    }
}

void nr_mul_channel(int n, int c, int64_t hw, const float *x, const float *m, float *y)
{
    nr_mulc_ctx ctx = {hw, x, m, y};
    nr_par_range((int64_t)n * c, nr_plane_grain(hw), nr_mul_channel_range, &ctx);
}

/* ---- cumulative sum, sorting, gathering: one task per line --------------- */

typedef struct {
    int64_t d, inner;
    int flag; /* cumsum: reverse; argsort: descending */
    const float *x;
    const int32_t *idx;
    float *y;
    int32_t *iy, *ws;
} line_ctx;

static void cumsum_task(void *q, int64_t line, int tid)
{
    const line_ctx *c = q;
    int64_t o = line / c->inner, i = line % c->inner, base = o * c->d * c->inner + i;
    double s = 0;
    (void)tid;
    for (int64_t k = 0; k < c->d; k++) {
        int64_t j = c->flag ? c->d - 1 - k : k, at = base + j * c->inner;
        s += c->x[at];
        c->y[at] = (float)s;
    }
}

void nr_cumsum(int64_t outer, int64_t d, int64_t inner, int reverse, const float *x, float *y)
{
    line_ctx ctx = {d, inner, reverse, x, NULL, y, NULL, NULL};
    nr_par_for(outer * inner, cumsum_task, &ctx);
}

/* a sorts before b (ascending): a < b, nan largest, ties by index */
static int sort_before(float a, float b, int32_t ia, int32_t ib, int desc)
{
    int na = a != a, nb = b != b;
    if (na || nb) {
        if (na && nb)
            return ia < ib;
        return desc ? na : nb; /* nan is the largest */
    }
    if (a != b)
        return desc ? a > b : a < b;
    return ia < ib;
}

static void argsort_task(void *q, int64_t line, int tid)
{
    const line_ctx *c = q;
    int64_t o = line / c->inner, i = line % c->inner, base = o * c->d * c->inner + i, d = c->d;
    int32_t *a = c->ws + line * 2 * d, *b = a + d;
    (void)tid;
    for (int64_t k = 0; k < d; k++)
        a[k] = (int32_t)k;
    /* bottom-up merge sort of the indices (stable) */
    for (int64_t w = 1; w < d; w *= 2) {
        for (int64_t lo = 0; lo < d; lo += 2 * w) {
            int64_t mid = lo + w < d ? lo + w : d, hi = lo + 2 * w < d ? lo + 2 * w : d;
            int64_t p = lo, r = mid, k = lo;
            while (p < mid && r < hi) {
                int32_t u = a[p], v = a[r];
                if (sort_before(c->x[base + v * c->inner], c->x[base + u * c->inner], v, u, c->flag))
                    b[k++] = v, r++;
                else
                    b[k++] = u, p++;
            }
            while (p < mid)
                b[k++] = a[p++];
            while (r < hi)
                b[k++] = a[r++];
        }
        int32_t *t = a;
        a = b;
        b = t;
    }
    for (int64_t k = 0; k < d; k++)
        c->iy[base + k * c->inner] = a[k];
}

void nr_argsort(int64_t outer, int64_t d, int64_t inner, int descending, const float *x, int32_t *idx,
                int32_t *ws)
{
    line_ctx ctx = {d, inner, descending, x, NULL, NULL, idx, ws};
    nr_par_for(outer * inner, argsort_task, &ctx);
}

static void gather_task(void *q, int64_t line, int tid)
{
    const line_ctx *c = q;
    int64_t o = line / c->inner, i = line % c->inner, base = o * c->d * c->inner + i;
    (void)tid;
    if (c->flag) { /* the adjoint */
        for (int64_t k = 0; k < c->d; k++)
            c->y[base + k * c->inner] = 0.0f;
        for (int64_t k = 0; k < c->d; k++) {
            int32_t j = c->idx[base + k * c->inner];
            if (j >= 0 && j < c->d)
                c->y[base + j * c->inner] += c->x[base + k * c->inner];
        }
        return;
    }
    for (int64_t k = 0; k < c->d; k++) {
        int32_t j = c->idx[base + k * c->inner];
        c->y[base + k * c->inner] = j >= 0 && j < c->d ? c->x[base + j * c->inner] : 0.0f;
    }
}

void nr_gather(int64_t outer, int64_t d, int64_t inner, const float *x, const int32_t *idx, float *y)
{
    line_ctx ctx = {d, inner, 0, x, idx, y, NULL, NULL};
    nr_par_for(outer * inner, gather_task, &ctx);
}

void nr_gather_bwd(int64_t outer, int64_t d, int64_t inner, const float *dy, const int32_t *idx, float *dx)
{
    line_ctx ctx = {d, inner, 1, dy, idx, dx, NULL, NULL};
    nr_par_for(outer * inner, gather_task, &ctx);
}
