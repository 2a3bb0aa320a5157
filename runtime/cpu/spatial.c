/* spatial.c — spatial kernels over NCHW planes: pooling, upsampling
 * (nearest, bilinear), padding, channel concatenation and slices, label
 * downsampling (contracts in kernels.h). Chunks depend on the sizes only,
 * never on the thread count, and reductions add the chunks' partial sums in
 * chunk order, so every kernel gives the same bits on any number of threads. */
#include "kernels.h"
#include "parallel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- pooling, upsampling, channel moves ------------------------------- */

/* Index (ky*w + kx) of the first maximum of the k*k window at xw, whose rows
 * are w apart; a NaN wins, as in PyTorch. */
static int nr_window_argmax(const float *xw, int w, int k)
{
    int best = 0;
    float m = xw[0];
    for (int ky = 0; ky < k; ky++) {
        for (int kx = 0; kx < k; kx++) {
            float v = xw[ky * w + kx];
            if (v > m || (v != v && m == m)) {
                m = v;
                best = ky * w + kx;
            }
        }
    }
    return best;
}

typedef struct { int h, w, k; const float *x, *dy; float *y; } nr_pool_ctx;

static void nr_maxpool_range(void *p, int64_t b, int64_t e) /* planes b..e */
{
    const nr_pool_ctx *c = p;
    const int h = c->h, w = c->w, k = c->k, oh = h / k, ow = w / k;
    for (int64_t nc = b; nc < e; nc++) {
        const float *xp = c->x + nc * h * w;                   /* (H,W) */
        float *yp = c->y + nc * oh * ow;                       /* (OH,OW) */
        for (int oy = 0; oy < oh; oy++) {
            const float *xr = xp + (int64_t)oy * k * w;        /* k rows of x */
            float *yr = yp + (int64_t)oy * ow;                 /* (OW) */
            /* a running max per window, swept one window offset at a time in
             * row-major order (the rule of nr_window_argmax), so that the
             * loop over ox vectorizes */
            for (int ox = 0; ox < ow; ox++)
                yr[ox] = xr[ox * k];
            for (int ky = 0; ky < k; ky++) {
                for (int kx = 0; kx < k; kx++) {
                    const float *xs = xr + (int64_t)ky * w + kx;
                    for (int ox = 0; ox < ow; ox++) {
                        float v = xs[ox * k], m = yr[ox];
                        yr[ox] = v > m || (v != v && m == m) ? v : m;
                    }
                }
            }
        }
    }
}

void nr_maxpool_fwd(int n, int c, int h, int w, int k, const float *x, float *y)
{
    nr_pool_ctx ctx = {h, w, k, x, NULL, y};
    nr_par_range((int64_t)n * c, nr_plane_grain((int64_t)h * w), nr_maxpool_range, &ctx);
}

/* Rows oy*k.. of dx for k = 2, from rows r0, r1 of x and the row dyr of dy:
 * each window's four entries get dy at the first maximum in the order
 * nr_window_argmax reads them (a NaN wins), 0 elsewhere, in one pass that
 * vectorizes; a last odd column gets 0. */
static void nr_maxpool2_bwd_row(int w, const float *r0, const float *r1, const float *dyr, float *d0, float *d1)
{
    const int ow = w / 2;
    for (int ox = 0; ox < ow; ox++) {
        const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1], g = dyr[ox];
        /* v wins over m when v > m or v is NaN, unless m is NaN; the
         * argmax kept as a float (at), so that GCC vectorizes the loop */
        float m = a, at = 0.0f;
        if (!(b <= m) && m == m)
            m = b, at = 1.0f;
        if (!(c <= m) && m == m)
            m = c, at = 2.0f;
        if (!(d <= m) && m == m)
            at = 3.0f;
        d0[2 * ox] = at == 0.0f ? g : 0.0f;
        d0[2 * ox + 1] = at == 1.0f ? g : 0.0f;
        d1[2 * ox] = at == 2.0f ? g : 0.0f;
        d1[2 * ox + 1] = at == 3.0f ? g : 0.0f;
    }
    if (w % 2)
        d0[w - 1] = d1[w - 1] = 0.0f;
}

/* Each window's k*k entries of dx are written once: dy at the argmax, 0
 * elsewhere; rows and columns past the last whole window get 0. */
static void nr_maxpool_bwd_range(void *p, int64_t b, int64_t e) /* planes b..e */
{
    const nr_pool_ctx *c = p;
    const int h = c->h, w = c->w, k = c->k, oh = h / k, ow = w / k;
    for (int64_t nc = b; nc < e; nc++) {
        const float *xp = c->x + nc * h * w;                   /* (H,W) */
        const float *dyp = c->dy + nc * oh * ow;               /* (OH,OW) */
        float *dxp = c->y + nc * h * w;                        /* (H,W) */
        for (int oy = 0; oy < oh; oy++) {
            float *rows = dxp + (int64_t)oy * k * w;           /* k rows of dx */
            if (k == 2) {
                nr_maxpool2_bwd_row(w, xp + (int64_t)oy * 2 * w, xp + (int64_t)oy * 2 * w + w, dyp + (int64_t)oy * ow,
                                    rows, rows + w);
                continue;
            }
            for (int ky = 0; ky < k; ky++)
                memset(rows + (int64_t)ky * w, 0, (size_t)w * sizeof *rows);
            for (int ox = 0; ox < ow; ox++) {
                int64_t at = (int64_t)oy * k * w + ox * k;
                dxp[at + nr_window_argmax(xp + at, w, k)] = dyp[(int64_t)oy * ow + ox];
            }
        }
        if (oh * k < h)
            memset(dxp + (int64_t)oh * k * w, 0, (size_t)((h - oh * k) * w) * sizeof *dxp);
    }
}

/* y is not read: the argmax is recomputed from x with the same rule as the
 * forward pass, which also keeps NaN windows consistent. */
void nr_maxpool_bwd(int n, int c, int h, int w, int k, const float *dy,
                    const float *x, const float *y, float *dx)
{
    nr_pool_ctx ctx = {h, w, k, x, dy, dx};
    (void)y;
    nr_par_range((int64_t)n * c, nr_plane_grain((int64_t)h * w), nr_maxpool_bwd_range, &ctx);
}

typedef struct { int h, w, s; const float *x; float *y; } nr_up_ctx;

static void nr_upsample_range(void *p, int64_t b, int64_t e) /* planes b..e */
{
    const nr_up_ctx *c = p;
    const int h = c->h, w = c->w, s = c->s;
    const int64_t ws = (int64_t)w * s;
    for (int64_t nc = b; nc < e; nc++) {
        const float *xp = c->x + nc * h * w;                   /* (H,W) */
        float *yp = c->y + nc * h * s * ws;                    /* (H*s,W*s) */
        for (int iy = 0; iy < h; iy++) {
            const float *xr = xp + (int64_t)iy * w;
            float *yr = yp + (int64_t)iy * s * ws;
            if (s == 2) /* the same stores in a loop that vectorizes */
                for (int ix = 0; ix < w; ix++)
                    yr[2 * ix] = yr[2 * ix + 1] = xr[ix];
            else
                for (int ix = 0; ix < w; ix++)
                    for (int j = 0; j < s; j++)
                        yr[ix * s + j] = xr[ix];
            for (int a = 1; a < s; a++)
                memcpy(yr + a * ws, yr, (size_t)ws * sizeof *yr);
        }
    }
}

void nr_upsample_fwd(int n, int c, int h, int w, int s, const float *x, float *y)
{
    nr_up_ctx ctx = {h, w, s, x, y};
    nr_par_range((int64_t)n * c, nr_plane_grain((int64_t)h * w * s * s), nr_upsample_range, &ctx);
}

static void nr_upsample_bwd_range(void *p, int64_t b, int64_t e) /* planes b..e */
{
    const nr_up_ctx *c = p; /* x = dy, y = dx */
    const int h = c->h, w = c->w, s = c->s;
    const int64_t ws = (int64_t)w * s;
    for (int64_t nc = b; nc < e; nc++) {
        const float *dyp = c->x + nc * h * s * ws;             /* (H*s,W*s) */
        float *dxp = c->y + nc * h * w;                        /* (H,W) */
        for (int iy = 0; iy < h; iy++) {
            float *dxr = dxp + (int64_t)iy * w;
            if (s == 2) { /* the sums below in their order, in one pass that vectorizes */
                const float *r0 = dyp + (int64_t)iy * 2 * ws, *r1 = r0 + ws;
                for (int ix = 0; ix < w; ix++)
                    dxr[ix] = (r0[2 * ix] + r0[2 * ix + 1]) + (r1[2 * ix] + r1[2 * ix + 1]);
                continue;
            }
            for (int ix = 0; ix < w; ix++)
                dxr[ix] = 0.0f;
            for (int a = 0; a < s; a++) {
                const float *dyr = dyp + ((int64_t)iy * s + a) * ws;
                for (int ix = 0; ix < w; ix++) {
                    float acc = 0.0f;
                    for (int j = 0; j < s; j++)
                        acc += dyr[ix * s + j];
                    dxr[ix] += acc;
                }
            }
        }
    }
}

void nr_upsample_bwd(int n, int c, int h, int w, int s, const float *dy, float *dx)
{
    nr_up_ctx ctx = {h, w, s, dy, dx};
    nr_par_range((int64_t)n * c, nr_plane_grain((int64_t)h * w * s * s), nr_upsample_bwd_range,
                 &ctx);
}

void nr_concat_fwd(int n, int n_in, const int *cs, int64_t hw,
                   const float *const *xs, float *y)
{
    for (int b = 0; b < n; b++) {
        for (int i = 0; i < n_in; i++) {
            int64_t len = (int64_t)cs[i] * hw;                 /* xs[i] (N,cs[i],HW) */
            if (xs[i] + b * len != y) /* equal: the planner put it in place */
                memcpy(y, xs[i] + b * len, (size_t)len * sizeof *y);
            y += len;
        }
    }
}

void nr_slice_c(int n, int cx, int c0, int cy, int64_t hw, const float *x, float *y)
{
    for (int b = 0; b < n; b++) {
        const float *src = x + ((int64_t)b * cx + c0) * hw; /* (cy, HW) */
        float *dst = y + (int64_t)b * cy * hw;
        if (src != dst) /* equal: a zero-copy slice */
            memcpy(dst, src, (size_t)((int64_t)cy * hw) * sizeof *y);
    }
}

/* ---- pooling, padding, bilinear upsampling: one task per (n, c) plane --- */

typedef struct {
    int h, w, k, oh, ow;     /* the plane's input and output sizes; k: window or factor */
    int pt, pl, mode;        /* pad2d */
    const float *x, *dy;
    float *y;
} plane_ctx;

static void avg_pool_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    const float *x = c->x + pl * c->h * c->w;
    float *y = c->y + pl * c->oh * c->ow;
    (void)tid;
    for (int i = 0; i < c->oh; i++)
        for (int j = 0; j < c->ow; j++) {
            float s = 0;
            for (int a = 0; a < c->k; a++)
                for (int b = 0; b < c->k; b++)
                    s += x[(int64_t)(i * c->k + a) * c->w + j * c->k + b];
            y[(int64_t)i * c->ow + j] = s / (float)(c->k * c->k);
        }
}

void nr_avg_pool_fwd(int n, int c, int h, int w, int k, const float *x, float *y)
{
    plane_ctx ctx = {h, w, k, h / k, w / k, 0, 0, 0, x, NULL, y};
    nr_par_for((int64_t)n * c, avg_pool_task, &ctx);
}

static void avg_pool_bwd_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    const float *dy = c->dy + pl * c->oh * c->ow;
    float *dx = c->y + pl * c->h * c->w, inv = 1.0f / (float)(c->k * c->k);
    (void)tid;
    for (int i = 0; i < c->h; i++)
        for (int j = 0; j < c->w; j++) {
            int oi = i / c->k, oj = j / c->k;
            dx[(int64_t)i * c->w + j] = oi < c->oh && oj < c->ow ? dy[(int64_t)oi * c->ow + oj] * inv : 0.0f;
        }
}

void nr_avg_pool_bwd(int n, int c, int h, int w, int k, const float *dy, float *dx)
{
    plane_ctx ctx = {h, w, k, h / k, w / k, 0, 0, 0, NULL, dy, dx};
    nr_par_for((int64_t)n * c, avg_pool_bwd_task, &ctx);
}

/* index of the first maximum of x (m), NaN never wins */
static int64_t first_max(const float *x, int64_t m)
{
    int64_t at = 0;
    for (int64_t i = 1; i < m; i++)
        if (x[i] > x[at])
            at = i;
    return at;
}

static void gmax_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    int64_t m = (int64_t)c->h * c->w;
    (void)tid;
    if (c->dy) {
        const float *x = c->x + pl * m;
        float *dx = c->y + pl * m;
        for (int64_t i = 0; i < m; i++)
            dx[i] = 0.0f;
        dx[first_max(x, m)] = c->dy[pl];
    } else {
        c->y[pl] = c->x[pl * m + first_max(c->x + pl * m, m)];
    }
}

void nr_global_max_pool_fwd(int n, int c, int h, int w, const float *x, float *y)
{
    plane_ctx ctx = {h, w, 1, 1, 1, 0, 0, 0, x, NULL, y};
    nr_par_for((int64_t)n * c, gmax_task, &ctx);
}

void nr_global_max_pool_bwd(int n, int c, int h, int w, const float *dy, const float *x, float *dx)
{
    plane_ctx ctx = {h, w, 1, 1, 1, 0, 0, 0, x, dy, dx};
    nr_par_for((int64_t)n * c, gmax_task, &ctx);
}

/* The input index that output index o (of the padded axis) reads, or -1
 * (zero padding outside): mode 0 zero, 1 reflect (PyTorch: the edge is not
 * repeated; p < size). */
static int pad_src(int o, int p, int size, int mode)
{
    int i = o - p;
    if (i >= 0 && i < size)
        return i;
    if (mode == 0)
        return -1;
    if (size == 1)
        return 0;
    int period = 2 * (size - 1);
    i = i < 0 ? -i : i;
    i %= period;
    return i < size ? i : period - i;
}

static void pad2d_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    (void)tid;
    if (c->dy) { /* the adjoint: each dy element added to the element it read */
        const float *dy = c->dy + pl * c->oh * c->ow;
        float *dx = c->y + pl * c->h * c->w;
        for (int64_t i = 0; i < (int64_t)c->h * c->w; i++)
            dx[i] = 0.0f;
        for (int i = 0; i < c->oh; i++) {
            int si = pad_src(i, c->pt, c->h, c->mode);
            for (int j = 0; si >= 0 && j < c->ow; j++) {
                int sj = pad_src(j, c->pl, c->w, c->mode);
                if (sj >= 0)
                    dx[(int64_t)si * c->w + sj] += dy[(int64_t)i * c->ow + j];
            }
        }
        return;
    }
    const float *x = c->x + pl * c->h * c->w;
    float *y = c->y + pl * c->oh * c->ow;
    for (int i = 0; i < c->oh; i++) {
        int si = pad_src(i, c->pt, c->h, c->mode);
        for (int j = 0; j < c->ow; j++) {
            int sj = pad_src(j, c->pl, c->w, c->mode);
            y[(int64_t)i * c->ow + j] = si >= 0 && sj >= 0 ? x[(int64_t)si * c->w + sj] : 0.0f;
        }
    }
}

void nr_pad2d_fwd(int n, int c, int h, int w, int pt, int pl, int pb, int pr, int mode, const float *x,
                  float *y)
{
    plane_ctx ctx = {h, w, 0, h + pt + pb, w + pl + pr, pt, pl, mode, x, NULL, y};
    nr_par_for((int64_t)n * c, pad2d_task, &ctx);
}

void nr_pad2d_bwd(int n, int c, int h, int w, int pt, int pl, int pb, int pr, int mode, const float *dy,
                  float *dx)
{
    plane_ctx ctx = {h, w, 0, h + pt + pb, w + pl + pr, pt, pl, mode, NULL, dy, dx};
    nr_par_for((int64_t)n * c, pad2d_task, &ctx);
}

/* PyTorch's source coordinate of output index o (upsample_bilinear2d):
 * align_corners: o * (in - 1) / (out - 1); else (o + 0.5) / s - 0.5,
 * clamped at 0.  i0, i1 the two inputs read, l the weight of i1. */
static void bl_src(int o, int in, int out, int s, int align, int *i0, int *i1, float *l)
{
    float src;
    if (align)
        src = out > 1 ? (float)o * (float)(in - 1) / (float)(out - 1) : 0.0f;
    else
        src = ((float)o + 0.5f) / (float)s - 0.5f;
    if (src < 0)
        src = 0;
    *i0 = (int)src;
    if (*i0 > in - 1)
        *i0 = in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *l = src - (float)*i0;
}

static void bilinear_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    int align = c->mode;
    (void)tid;
    float *out = c->y + pl * (c->dy ? (int64_t)c->h * c->w : (int64_t)c->oh * c->ow);
    if (c->dy)
        for (int64_t i = 0; i < (int64_t)c->h * c->w; i++)
            out[i] = 0.0f;
    const float *x = c->x ? c->x + pl * c->h * c->w : NULL;
    const float *dy = c->dy ? c->dy + pl * c->oh * c->ow : NULL;
    for (int i = 0; i < c->oh; i++) {
        int y0, y1, x0, x1;
        float ly, lx;
        bl_src(i, c->h, c->oh, c->k, align, &y0, &y1, &ly);
        for (int j = 0; j < c->ow; j++) {
            bl_src(j, c->w, c->ow, c->k, align, &x0, &x1, &lx);
            float w00 = (1 - ly) * (1 - lx), w01 = (1 - ly) * lx, w10 = ly * (1 - lx), w11 = ly * lx;
            if (dy) {
                float g = dy[(int64_t)i * c->ow + j];
                out[(int64_t)y0 * c->w + x0] += w00 * g;
                out[(int64_t)y0 * c->w + x1] += w01 * g;
                out[(int64_t)y1 * c->w + x0] += w10 * g;
                out[(int64_t)y1 * c->w + x1] += w11 * g;
            } else {
                out[(int64_t)i * c->ow + j] = w00 * x[(int64_t)y0 * c->w + x0] + w01 * x[(int64_t)y0 * c->w + x1] +
                                              w10 * x[(int64_t)y1 * c->w + x0] + w11 * x[(int64_t)y1 * c->w + x1];
            }
        }
    }
}

void nr_upsample_bilinear_fwd(int n, int c, int h, int w, int s, int align, const float *x, float *y)
{
    plane_ctx ctx = {h, w, s, h * s, w * s, 0, 0, align, x, NULL, y};
    nr_par_for((int64_t)n * c, bilinear_task, &ctx);
}

void nr_upsample_bilinear_bwd(int n, int c, int h, int w, int s, int align, const float *dy, float *dx)
{
    plane_ctx ctx = {h, w, s, h * s, w * s, 0, 0, align, NULL, dy, dx};
    nr_par_for((int64_t)n * c, bilinear_task, &ctx);
}

/* ---- labels ------------------------------------------------------------- */

void nr_downsample_labels(int n, int h, int w, int k, const int32_t *labels, int32_t *y)
{
    int oh = h / k, ow = w / k;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                y[((int64_t)b * oh + i) * ow + j] = labels[((int64_t)b * h + (int64_t)i * k) * w + (int64_t)j * k];
}
