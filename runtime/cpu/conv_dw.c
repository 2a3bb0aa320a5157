/* conv_dw.c — the depthwise convolution's fast path (groups = C = K, one
 * filter per channel): memory-bound, so plain loops over output rows that
 * the compiler vectorizes along the row (stride 1), one task per channel
 * plane on the pool (parallel.h).  Any stride, dilation and padding.  Each
 * output is written by one task with a fixed order of additions, so the bits
 * do not depend on the number of threads.  Contracts: conv.h. */
#include "conv.h"

#include <string.h>

#include "parallel.h"

int nr_conv_is_depthwise(const nr_conv_geom *g)
{
    return g->groups > 1 && g->groups == g->c && g->k == g->c && g->n > 0 && g->h > 0 &&
           g->w > 0 && g->oh > 0 && g->ow > 0 && g->kh > 0 && g->kw > 0;
}

/* Output columns [lo, hi) whose input column ox*s + off lies in [0, w). */
static void dw_cols(int off, int s, int w, int ow, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int h = w - 1 - off < 0 ? 0 : (w - 1 - off) / s + 1;
    l = l > ow ? ow : l;
    h = h > ow ? ow : h;
    *lo = l;
    *hi = h < l ? l : h;
}

/* y[i] += a * x[i], i in [0, n): the inner loop of the forward and data
 * passes (distinct buffers, so restrict lets it vectorize without checks) */
static inline void dw_axpy(float *restrict y, const float *restrict x, float a, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* the valid output columns [lo[kx], hi[kx]) of each kernel column */
enum { DW_KW = 64 };

typedef struct {
    const nr_conv_geom *g;
    const float *a, *w, *b;   /* fwd: x, w, b; data: dy, w; filter: dy, x */
    float *out;
    int relu;
} dw_job;

/* The output columns [lo, hi) of tap kx (input offset off) whose input
 * column lies inside the row: from the per-task cache for kx < DW_KW. */
static inline void dw_tap(const nr_conv_geom *g, const int *los, const int *his, int kx, int off, int *lo,
                          int *hi)
{
    if (kx < DW_KW)
        *lo = los[kx], *hi = his[kx];
    else
        dw_cols(off, g->stride, g->w, g->ow, lo, hi);
}

/* Task p = n*C + c: y[n][c] (OH,OW) = bias + sum over taps of w[c][ky][kx]
 * times the shifted plane x[n][c]. */
static void dw_fwd_task(void *ctx, int64_t p, int tid)
{
    const dw_job *j = ctx;
    const nr_conv_geom *g = j->g;
    const int c = (int)(p % g->c), s = g->stride, d = nr_geom_dil(g);
    const float *x = j->a + p * g->h * g->w;                   /* (H,W) */
    const float *wc = j->w + (int64_t)c * g->kh * g->kw;       /* (KH,KW) */
    float *y = j->out + p * g->oh * g->ow;                     /* (OH,OW) */
    const float bias = j->b ? j->b[c] : 0.0f;
    int los[DW_KW], his[DW_KW];
    (void)tid;
    for (int kx = 0; kx < g->kw && kx < DW_KW; kx++)
        dw_cols(kx * d - g->pad_l, s, g->w, g->ow, &los[kx], &his[kx]);
    for (int oy = 0; oy < g->oh; oy++) {
        float *yr = y + (int64_t)oy * g->ow;
        for (int ox = 0; ox < g->ow; ox++)
            yr[ox] = bias;
        for (int ky = 0; ky < g->kh; ky++) {
            const int iy = oy * s - g->pad_t + ky * d;
            if (iy < 0 || iy >= g->h)
                continue;
            const float *xr = x + (int64_t)iy * g->w;
            for (int kx = 0; kx < g->kw; kx++) {
                const int off = kx * d - g->pad_l;
                const float wv = wc[ky * g->kw + kx];
                int lo, hi;
                dw_tap(g, los, his, kx, off, &lo, &hi);
                if (s == 1) {
                    if (hi > lo)   /* input columns lo+off .. hi-1+off, all inside the row */
                        dw_axpy(yr + lo, xr + lo + off, wv, hi - lo);
                } else {
                    for (int ox = lo; ox < hi; ox++)
                        yr[ox] += wv * xr[(int64_t)ox * s + off];
                }
            }
        }
        if (j->relu)
            for (int ox = 0; ox < g->ow; ox++)
                yr[ox] = yr[ox] > 0.0f ? yr[ox] : 0.0f;
    }
}

/* Task p: dx[n][c] (H,W) = the adjoint of dw_fwd_task applied to dy[n][c]. */
static void dw_data_task(void *ctx, int64_t p, int tid)
{
    const dw_job *j = ctx;
    const nr_conv_geom *g = j->g;
    const int c = (int)(p % g->c), s = g->stride, d = nr_geom_dil(g);
    const float *dy = j->a + p * g->oh * g->ow;                /* (OH,OW) */
    const float *wc = j->w + (int64_t)c * g->kh * g->kw;       /* (KH,KW) */
    float *dx = j->out + p * g->h * g->w;                      /* (H,W) */
    int los[DW_KW], his[DW_KW];
    (void)tid;
    for (int kx = 0; kx < g->kw && kx < DW_KW; kx++)
        dw_cols(kx * d - g->pad_l, s, g->w, g->ow, &los[kx], &his[kx]);
    memset(dx, 0, (size_t)g->h * (size_t)g->w * sizeof *dx);
    for (int oy = 0; oy < g->oh; oy++) {
        const float *dyr = dy + (int64_t)oy * g->ow;
        for (int ky = 0; ky < g->kh; ky++) {
            const int iy = oy * s - g->pad_t + ky * d;
            if (iy < 0 || iy >= g->h)
                continue;
            float *dxr = dx + (int64_t)iy * g->w;
            for (int kx = 0; kx < g->kw; kx++) {
                const int off = kx * d - g->pad_l;
                const float wv = wc[ky * g->kw + kx];
                int lo, hi;
                dw_tap(g, los, his, kx, off, &lo, &hi);
                if (s == 1) {
                    if (hi > lo)   /* dx[ox + off] += w dy[ox], ox in [lo, hi) */
                        dw_axpy(dxr + lo + off, dyr + lo, wv, hi - lo);
                } else {
                    for (int ox = lo; ox < hi; ox++)
                        dxr[(int64_t)ox * s + off] += wv * dyr[ox];
                }
            }
        }
    }
}

/* Task c: dw[c] (KH,KW) = sum over n, oy of the row dot products of dy[n][c]
 * and the shifted x[n][c]; each row in float, the rows summed in double in
 * (n, oy) order.  Up to DW_TAPS taps, all taps of one output row are done
 * while its rows are in L1 (one pass over dy and x); bigger kernels take one
 * pass per tap, with the same sums. */
enum { DW_TAPS = 64 };

static float dw_row_dot(const float *dyr, const float *xr, int off, int s, int lo, int hi)
{
    float r = 0.0f;
    if (s == 1) {
        /* 8 independent lanes, so that the compiler vectorizes the sum */
        if (hi <= lo)
            return 0.0f;
        const float *xs = xr + lo + off, *ds = dyr + lo;   /* inside their rows */
        const int n = hi - lo;
        float lane[8] = {0};
        int i = 0;
        for (; i + 8 <= n; i += 8)
            for (int q = 0; q < 8; q++)
                lane[q] += ds[i + q] * xs[i + q];
        for (; i < n; i++)
            r += ds[i] * xs[i];
        for (int q = 0; q < 8; q++)
            r += lane[q];
    } else {
        for (int ox = lo; ox < hi; ox++)
            r += dyr[ox] * xr[(int64_t)ox * s + off];
    }
    return r;
}

static void dw_filter_task(void *ctx, int64_t c, int tid)
{
    const dw_job *j = ctx;
    const nr_conv_geom *g = j->g;
    const int s = g->stride, d = nr_geom_dil(g), nt = g->kh * g->kw;
    float *dwc = j->out + c * nt;                              /* (KH,KW) */
    (void)tid;
    if (nt <= DW_TAPS) {
        double acc[DW_TAPS] = {0};
        int lo[DW_TAPS], hi[DW_TAPS];
        for (int t = 0; t < nt; t++)
            dw_cols(t % g->kw * d - g->pad_l, s, g->w, g->ow, &lo[t], &hi[t]);
        for (int n = 0; n < g->n; n++) {
            const int64_t p = (int64_t)n * g->c + c;
            const float *dy = j->a + p * g->oh * g->ow;        /* (OH,OW) */
            const float *x = j->w + p * g->h * g->w;           /* (H,W) */
            for (int oy = 0; oy < g->oh; oy++) {
                const float *dyr = dy + (int64_t)oy * g->ow;
                for (int ky = 0; ky < g->kh; ky++) {
                    const int iy = oy * s - g->pad_t + ky * d;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    const float *xr = x + (int64_t)iy * g->w;
                    for (int kx = 0; kx < g->kw; kx++) {
                        const int t = ky * g->kw + kx;
                        acc[t] += dw_row_dot(dyr, xr, kx * d - g->pad_l, s, lo[t], hi[t]);
                    }
                }
            }
        }
        for (int t = 0; t < nt; t++)
            dwc[t] = (float)acc[t];
        return;
    }
    for (int ky = 0; ky < g->kh; ky++) {
        for (int kx = 0; kx < g->kw; kx++) {
            const int off = kx * d - g->pad_l;
            int lo, hi;
            dw_cols(off, s, g->w, g->ow, &lo, &hi);
            double acc = 0.0;
            for (int n = 0; n < g->n; n++) {
                const int64_t p = (int64_t)n * g->c + c;
                const float *dy = j->a + p * g->oh * g->ow;    /* (OH,OW) */
                const float *x = j->w + p * g->h * g->w;       /* (H,W) */
                for (int oy = 0; oy < g->oh; oy++) {
                    const int iy = oy * s - g->pad_t + ky * d;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    acc += dw_row_dot(dy + (int64_t)oy * g->ow, x + (int64_t)iy * g->w, off, s, lo, hi);
                }
            }
            dwc[ky * g->kw + kx] = (float)acc;
        }
    }
}

/* Run task over n items on job (g, a, w, b, out, relu); -1 when g is not
 * depthwise. */
static int dw_run(const nr_conv_geom *g, int64_t n, void (*task)(void *, int64_t, int), const float *a,
                  const float *w, const float *b, float *out, int relu)
{
    if (!nr_conv_is_depthwise(g))
        return -1;
    dw_job j = {g, a, w, b, out, relu};
    nr_par_for(n, task, &j);
    return 0;
}

int nr_conv_dw_fwd(const nr_conv_geom *g, const float *x, const float *w, const float *b,
                   int relu, float *y)
{
    return dw_run(g, (int64_t)g->n * g->c, dw_fwd_task, x, w, b, y, relu);
}

int nr_conv_dw_bwd_data(const nr_conv_geom *g, const float *dy, const float *w, float *dx)
{
    return dw_run(g, (int64_t)g->n * g->c, dw_data_task, dy, w, NULL, dx, 0);
}

int nr_conv_dw_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x, float *dw)
{
    return dw_run(g, g->c, dw_filter_task, dy, x, NULL, dw, 0);
}
