/* kernels.c — netrun's CPU kernels (see kernels.h for each contract).
 * Convolutions are im2col + OpenBLAS sgemm, one image and one band of output
 * rows at a time so the im2col band stays in cache; everything else is a
 * loop over NCHW f32 buffers that the compiler vectorizes, split into
 * chunks for the thread pool (parallel.h).  Chunks depend on the sizes only,
 * never on the thread count, and reductions add the chunks' partial sums in
 * chunk order, so every kernel gives the same bits on any number of threads. */
#include "kernels.h"
#include "netg.h"
#include "parallel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- splitting work over the pool ------------------------------------- */

/* Elements per chunk of a memory-bound loop: big enough that a task costs
 * far more than handing it out (~1 us), small enough to balance. */
#define NR_GRAIN 32768

typedef void (*nr_range_fn)(void *ctx, int64_t begin, int64_t end);

typedef struct {
    nr_range_fn fn;
    void *ctx;
    int64_t n, grain;
} nr_range_job;

static void nr_range_task(void *p, int64_t task, int tid)
{
    const nr_range_job *j = p;
    int64_t b = task * j->grain, e = b + j->grain < j->n ? b + j->grain : j->n;
    (void)tid;
    j->fn(j->ctx, b, e);
}

/* fn(ctx, b, e) over [0, n) in chunks of grain. */
static void nr_par_range(int64_t n, int64_t grain, nr_range_fn fn, void *ctx)
{
    nr_range_job j = {fn, ctx, n, grain};
    nr_par_for((n + grain - 1) / grain, nr_range_task, &j);
}

/* Planes per chunk for a loop over (N*C) planes of hw elements. */
static int64_t nr_plane_grain(int64_t hw)
{
    return hw >= NR_GRAIN ? 1 : NR_GRAIN / (hw > 0 ? hw : 1);
}

/* e^x in float, branch-free so that loops over it vectorize: Cephes' expf
 * (x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r; error about 1
 * ulp); below -87.3 it gives 2^-126 instead of a denormal or 0, above 88
 * it gives e^88 (the power of 2 must stay finite).  For the softmax-like
 * kernels, whose arguments are x - max <= 0. */
static inline float nr_expf(float x)
{
    x = x < -87.33654f ? -87.33654f : x > 88.0f ? 88.0f : x;
    float fn = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)fn + 127) << 23;
    float two_n;
    memcpy(&two_n, &e, sizeof two_n);
    return p * two_n;
}

/* ---- convolution ------------------------------------------------------ */

/* One im2col band is at most NG_CONV_BAND_FLOATS (8 MiB, netg.h): small
 * enough to stay in L2/L3 between im2col and the sgemm that reads it, large
 * enough that each sgemm is big.  Measured in bench/bench_conv.c. */

/* True when x_n (C, H*W) is already the col matrix: 1x1, stride 1, no pad. */
static int nr_conv_is_direct(const nr_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad_t == 0 &&
           g->pad_l == 0 && g->oh == g->h && g->ow == g->w;
}

/* Output rows per band: at least 1, at most oh. */
static int nr_conv_band_rows(const nr_conv_geom *g)
{
    return (int)ng_conv_band_rows(g->c, g->kh, g->kw, g->oh, g->ow);
}

int64_t nr_conv_ws_elems(const nr_conv_geom *g)
{
    if (nr_conv_is_direct(g))
        return 0;
    return (int64_t)g->c * g->kh * g->kw * g->ow * nr_conv_band_rows(g);
}

/* Output columns [*lo, *hi) whose input column ox*s + off lies in [0, w). */
static void nr_valid_cols(int off, int s, int w, int ow, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int h = w - 1 - off < 0 ? 0 : (w - 1 - off) / s + 1;
    if (l > ow)
        l = ow;
    if (h > ow)
        h = ow;
    if (h < l)
        h = l;
    *lo = l;
    *hi = h;
}

/* col (Cg*KH*KW, nrows*OW): row (c,ky,kx), column (oy-oy0, ox) holds
 * x[c][oy*s - pad_t + ky*d][ox*s - pad_l + kx*d], 0 outside x; for output
 * rows oy0 .. oy0+nrows-1 of the Cg = C/groups channels of one group of one
 * image, x (Cg,H,W). */
static void nr_im2col(const nr_conv_geom *g, const float *x, int oy0, int nrows,
                      float *col)
{
    const int s = g->stride, h = g->h, w = g->w, ow = g->ow, kk = g->kh * g->kw;
    const int d = nr_geom_dil(g), cg = g->c / nr_geom_groups(g);
    const int64_t ncols = (int64_t)nrows * ow;
    for (int q = 0; q < cg * kk; q++) {     /* q = (c*KH + ky)*KW + kx */
        const int c = q / kk, ky = q % kk / g->kw, kx = q % g->kw;
        const int off = kx * d - g->pad_l;
        const float *xc = x + (int64_t)c * h * w;             /* (H,W) */
        float *row = col + (int64_t)q * ncols;                /* (nrows*OW) */
        int lo, hi;
        nr_valid_cols(off, s, w, ow, &lo, &hi);
        for (int r = 0; r < nrows; r++) {
            float *dst = row + (int64_t)r * ow;               /* (OW) */
            int iy = (oy0 + r) * s - g->pad_t + ky * d;
            if (iy < 0 || iy >= h) {
                memset(dst, 0, (size_t)ow * sizeof *dst);
                continue;
            }
            memset(dst, 0, (size_t)lo * sizeof *dst);
            memset(dst + hi, 0, (size_t)(ow - hi) * sizeof *dst);
            if (hi == lo)
                continue;
            /* x row iy from input column lo*s + off, stride s */
            const float *src = xc + (int64_t)iy * w + (int64_t)lo * s + off;
            if (s == 1) {
                memcpy(dst + lo, src, (size_t)(hi - lo) * sizeof *dst);
            } else {
                for (int ox = lo; ox < hi; ox++)
                    dst[ox] = src[(int64_t)(ox - lo) * s];
            }
        }
    }
}

/* The adjoint of nr_im2col: dx (Cg,H,W) += col (Cg*KH*KW, nrows*OW)
 * scattered back for output rows oy0 .. oy0+nrows-1; entries that fell in
 * the padding are dropped. */
static void nr_col2im(const nr_conv_geom *g, const float *col, int oy0, int nrows,
                      float *dx)
{
    const int s = g->stride, h = g->h, w = g->w, ow = g->ow, kk = g->kh * g->kw;
    const int d = nr_geom_dil(g), cg = g->c / nr_geom_groups(g);
    const int64_t ncols = (int64_t)nrows * ow;
    for (int c = 0; c < cg; c++) {  /* channels write disjoint planes of dx */
        float *dxc = dx + (int64_t)c * h * w;                 /* (H,W) */
        for (int ky = 0; ky < g->kh; ky++) {
            for (int kx = 0; kx < g->kw; kx++) {
                const float *row = col + ((int64_t)c * kk + ky * g->kw + kx) * ncols;
                const int off = kx * d - g->pad_l;
                int lo, hi;
                nr_valid_cols(off, s, w, ow, &lo, &hi);
                for (int r = 0; r < nrows; r++) {
                    int iy = (oy0 + r) * s - g->pad_t + ky * d;
                    if (iy < 0 || iy >= h || hi == lo)
                        continue;
                    const float *src = row + (int64_t)r * ow + lo; /* (hi-lo) */
                    /* dx row iy from input column lo*s + off, stride s */
                    float *dst = dxc + (int64_t)iy * w + (int64_t)lo * s + off;
                    if (s == 1) {
                        for (int j = 0; j < hi - lo; j++)
                            dst[j] += src[j];
                    } else {
                        for (int j = 0; j < hi - lo; j++)
                            dst[(int64_t)j * s] += src[j];
                    }
                }
            }
        }
    }
}

/* Each group G is its own convolution of Cg = C/G input channels to
 * Kg = K/G output channels, weights w + grp*Kg*(Cg*KH*KW): one sgemm per
 * group and band. */
void nr_conv2d_fwd(const nr_conv_geom *g, const float *x, const float *w,
                   const float *b, float *y, float *ws)
{
    const int G = nr_geom_groups(g), cg = g->c / G, kg = g->k / G;
    const int ckk = cg * g->kh * g->kw;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    const int direct = nr_conv_is_direct(g), band = nr_conv_band_rows(g);
    if (ohw == 0)
        return;
    for (int n = 0; n < g->n; n++) {
        for (int grp = 0; grp < G; grp++) {
            const float *xn = x + ((int64_t)n * g->c + (int64_t)grp * cg) * hw;  /* (Cg,H,W) */
            float *yn = y + ((int64_t)n * g->k + (int64_t)grp * kg) * ohw;       /* (Kg,OH,OW) */
            const float *wg = w + (int64_t)grp * kg * ckk;                       /* (Kg,CKK) */
            if (direct) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kg, (int)ohw,
                            ckk, 1.0f, wg, ckk, xn, (int)ohw, 0.0f, yn, (int)ohw);
                continue;
            }
            for (int oy = 0; oy < g->oh; oy += band) {
                int nr = g->oh - oy < band ? g->oh - oy : band;
                int cols = nr * g->ow;
                nr_im2col(g, xn, oy, nr, ws);                  /* (CKK, cols) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kg, cols,
                            ckk, 1.0f, wg, ckk, ws, cols, 0.0f,
                            yn + (int64_t)oy * g->ow, (int)ohw);
            }
        }
        if (b) {
            float *yn = y + (int64_t)n * g->k * ohw;           /* (K,OH,OW) */
            for (int k = 0; k < g->k; k++) {
                float *yk = yn + k * ohw, bk = b[k];
                for (int64_t i = 0; i < ohw; i++)
                    yk[i] += bk;
            }
        }
    }
}

void nr_conv2d_bwd_data(const nr_conv_geom *g, const float *dy, const float *w,
                        float *dx, float *ws)
{
    const int G = nr_geom_groups(g), cg = g->c / G, kg = g->k / G;
    const int ckk = cg * g->kh * g->kw;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    const int direct = nr_conv_is_direct(g), band = nr_conv_band_rows(g);
    for (int n = 0; n < g->n; n++) {
        for (int grp = 0; grp < G; grp++) {
            const float *dyn = dy + ((int64_t)n * g->k + (int64_t)grp * kg) * ohw; /* (Kg,OH,OW) */
            float *dxn = dx + ((int64_t)n * g->c + (int64_t)grp * cg) * hw;        /* (Cg,H,W) */
            const float *wg = w + (int64_t)grp * kg * ckk;                         /* (Kg,CKK) */
            if (direct && hw > 0) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cg, (int)hw,
                            kg, 1.0f, wg, ckk, dyn, (int)ohw, 0.0f, dxn, (int)hw);
                continue;
            }
            memset(dxn, 0, (size_t)(cg * hw) * sizeof *dxn);
            for (int oy = 0; ohw > 0 && oy < g->oh; oy += band) {
                int nr = g->oh - oy < band ? g->oh - oy : band;
                int cols = nr * g->ow;
                /* col (CKK, cols) = w^T (CKK, Kg) * dy band (Kg, cols) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, cols, kg,
                            1.0f, wg, ckk, dyn + (int64_t)oy * g->ow, (int)ohw, 0.0f,
                            ws, cols);
                nr_col2im(g, ws, oy, nr, dxn);
            }
        }
    }
}

void nr_conv2d_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x,
                          float *dw, float *ws)
{
    const int G = nr_geom_groups(g), cg = g->c / G, kg = g->k / G;
    const int ckk = cg * g->kh * g->kw;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    const int direct = nr_conv_is_direct(g), band = nr_conv_band_rows(g);
    if (g->n == 0 || ohw == 0) {
        memset(dw, 0, (size_t)g->k * (size_t)ckk * sizeof *dw);
        return;
    }
    for (int grp = 0; grp < G; grp++) {
        float *dwg = dw + (int64_t)grp * kg * ckk;             /* (Kg,CKK) */
        float beta = 0.0f;
        for (int n = 0; n < g->n; n++) {
            const float *dyn = dy + ((int64_t)n * g->k + (int64_t)grp * kg) * ohw; /* (Kg,OH,OW) */
            const float *xn = x + ((int64_t)n * g->c + (int64_t)grp * cg) * hw;    /* (Cg,H,W) */
            if (direct) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kg, ckk, (int)ohw,
                            1.0f, dyn, (int)ohw, xn, (int)hw, beta, dwg, ckk);
                beta = 1.0f;
                continue;
            }
            for (int oy = 0; oy < g->oh; oy += band) {
                int nr = g->oh - oy < band ? g->oh - oy : band;
                int cols = nr * g->ow;
                nr_im2col(g, xn, oy, nr, ws);                  /* (CKK, cols) */
                /* dw (Kg, CKK) += dy band (Kg, cols) * col^T (cols, CKK) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kg, ckk, cols,
                            1.0f, dyn + (int64_t)oy * g->ow, (int)ohw, ws, cols, beta,
                            dwg, ckk);
                beta = 1.0f;
            }
        }
    }
}

typedef struct { const nr_conv_geom *g; const float *dy; float *db; } nr_bias_ctx;

static void nr_bias_range(void *p, int64_t b, int64_t e) /* channels b..e */
{
    const nr_bias_ctx *c = p;
    const int64_t ohw = (int64_t)c->g->oh * c->g->ow;
    for (int64_t k = b; k < e; k++) {
        double acc = 0.0;
        for (int n = 0; n < c->g->n; n++) {
            const float *q = c->dy + ((int64_t)n * c->g->k + k) * ohw; /* (OH,OW) */
            /* 16 independent float lanes (vectorizable), flushed per plane */
            float lane[16] = {0};
            int64_t i = 0;
            for (; i + 16 <= ohw; i += 16)
                for (int j = 0; j < 16; j++)
                    lane[j] += q[i + j];
            for (; i < ohw; i++)
                acc += q[i];
            for (int j = 0; j < 16; j++)
                acc += lane[j];
        }
        c->db[k] = (float)acc;
    }
}

void nr_conv2d_bwd_bias(const nr_conv_geom *g, const float *dy, float *db)
{
    nr_bias_ctx c = {g, dy, db};
    nr_par_range(g->k, nr_plane_grain((int64_t)g->n * g->oh * g->ow), nr_bias_range, &c);
}

/* ---- elementwise ------------------------------------------------------ */

typedef struct { const float *a, *b; float *y; } nr_ew_ctx;

static void nr_relu_range(void *p, int64_t b, int64_t e)
{
    const nr_ew_ctx *c = p;
    for (int64_t i = b; i < e; i++)
        c->y[i] = c->a[i] > 0.0f ? c->a[i] : 0.0f;
}

void nr_relu_fwd(int64_t n, const float *x, float *y)
{
    nr_ew_ctx c = {x, NULL, y};
    nr_par_range(n, NR_GRAIN, nr_relu_range, &c);
}

static void nr_relu_bwd_range(void *p, int64_t b, int64_t e)
{
    const nr_ew_ctx *c = p; /* a = dy, b = y */
    for (int64_t i = b; i < e; i++)
        c->y[i] = c->b[i] > 0.0f ? c->a[i] : 0.0f;
}

void nr_relu_bwd(int64_t n, const float *dy, const float *y, float *dx)
{
    nr_ew_ctx c = {dy, y, dx};
    nr_par_range(n, NR_GRAIN, nr_relu_bwd_range, &c);
}

/* One row of a binary op: y[i] = a[i*sa] op b[i*sb], sa and sb 0 or 1.
 * y may be a or b (in place), never a shifted copy of either. */
static void nr_binary_row(int op, int64_t n, const float *a, int64_t sa,
                          const float *b, int64_t sb, float *y)
{
    if (sa == 1 && sb == 1) {
        switch (op) {
        case NG_OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
        case NG_OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; break;
        case NG_OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
        case NG_OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i]; break;
        }
    } else if (sb == 0) {
        const float bv = b[0];
        switch (op) {
        case NG_OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] + bv; break;
        case NG_OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] - bv; break;
        case NG_OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] * bv; break;
        case NG_OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] / bv; break;
        }
    } else { /* sa == 0, sb == 1 */
        const float av = a[0];
        switch (op) {
        case NG_OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = av + b[i]; break;
        case NG_OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = av - b[i]; break;
        case NG_OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = av * b[i]; break;
        case NG_OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = av / b[i]; break;
        }
    }
}

/* 1 when strides s (per dim of d) are those of a contiguous tensor of shape
 * d (size-1 dims may have any stride), 0 otherwise. */
static int nr_dense(const int64_t d[4], const int64_t s[4])
{
    int64_t want = 1;
    for (int k = 3; k >= 0; k--) {
        if (d[k] > 1 && s[k] != want)
            return 0;
        want *= d[k];
    }
    return 1;
}

static int nr_zero(const int64_t s[4])
{
    return !s[0] && !s[1] && !s[2] && !s[3];
}

typedef struct { int op; const float *a; int64_t sa; const float *b; int64_t sb; float *y; } nr_bin_ctx;

static void nr_binary_range(void *p, int64_t b, int64_t e)
{
    const nr_bin_ctx *c = p;
    nr_binary_row(c->op, e - b, c->a + b * c->sa, c->sa, c->b + b * c->sb, c->sb, c->y + b);
}

void nr_binary(int op, const int64_t d[4], const float *a, const int64_t sa[4],
               const float *b, const int64_t sb[4], float *y)
{
    const int64_t n = d[0] * d[1] * d[2] * d[3];
    int da = nr_dense(d, sa), db = nr_dense(d, sb), za = nr_zero(sa), zb = nr_zero(sb);
    if ((da || za) && (db || zb) && !(za && zb && n > 1)) {
        /* both whole or scalar: one flat row, in chunks */
        nr_bin_ctx c = {op, a, za ? 0 : 1, b, zb ? 0 : 1, y};
        nr_par_range(n, NR_GRAIN, nr_binary_range, &c);
        return;
    }
    for (int64_t i0 = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++) {
                const float *ar = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];  /* (D3) */
                const float *br = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];  /* (D3) */
                float *yr = y + ((i0 * d[1] + i1) * d[2] + i2) * d[3];       /* (D3) */
                if (sa[3] == 0 && sb[3] == 0) {
                    nr_binary_row(op, 1, ar, 0, br, 0, yr);
                    for (int64_t i = 1; i < d[3]; i++)
                        yr[i] = yr[0];
                } else {
                    nr_binary_row(op, d[3], ar, sa[3], br, sb[3], yr);
                }
            }
}

void nr_pow_bwd(int64_t n, const float *dy, const float *x, float p, float *dx)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] == 0.0f || p == 0.0f ? 0.0f : dy[i] * p * powf(x[i], p - 1.0f);
}

void nr_clamp_bwd(int64_t n, const float *dy, const float *x, float lo, float hi, float *dx)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] >= lo && x[i] <= hi ? dy[i] : 0.0f;
}

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

/* ---- dropout mask ----------------------------------------------------- */

#define NR_GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's output function: a bijective 64-bit mixer. */
static uint64_t nr_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void nr_dropout_mask(int n, int c, float p, uint64_t seed, uint64_t step,
                     uint32_t salt, float *mask)
{
    nr_dropout_mask_at(n, c, p, seed, step, salt, 0, mask);
}

void nr_dropout_mask_at(int n, int c, float p, uint64_t seed, uint64_t step,
                        uint32_t salt, uint64_t first, float *mask)
{
    const int64_t len = (int64_t)n * c;
    /* the stream key: seed, step and salt each pass through the mixer */
    uint64_t key = nr_mix64(seed + NR_GOLDEN);
    key = nr_mix64(key ^ (step + NR_GOLDEN));
    key = nr_mix64(key ^ ((uint64_t)salt + NR_GOLDEN));
    const float keep = p >= 1.0f ? 0.0f : p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    for (int64_t i = 0; i < len; i++) {
        uint64_t r = nr_mix64(key + (first + (uint64_t)i + 1) * NR_GOLDEN);
        float u = (float)(r >> 40) * 0x1p-24f;                /* [0,1), 24 bits */
        mask[i] = u < p ? 0.0f : keep;
    }
}

/* ---- softmax and cross-entropy ---------------------------------------- */

/* Pixels per block: the per-pixel running max and sum live on the stack
 * while the C channel rows of the block are swept, each one contiguous. */
#define NR_PIX_BLOCK 256

/* mx[j] = max over channels, se[j] = sum of exp(x - mx[j]) for pixels j of
 * the block x (C, HW) starting at the block's first pixel, nb pixels. */
static void nr_block_lse(int c, int64_t hw, const float *x, int nb, float *mx,
                         float *se)
{
    for (int j = 0; j < nb; j++)
        mx[j] = x[j];
    for (int ch = 1; ch < c; ch++) {
        const float *xc = x + ch * hw;
        for (int j = 0; j < nb; j++)
            mx[j] = xc[j] > mx[j] ? xc[j] : mx[j];
    }
    for (int j = 0; j < nb; j++)
        se[j] = 0.0f;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + ch * hw;
        for (int j = 0; j < nb; j++)
            se[j] += nr_expf(xc[j] - mx[j]);
    }
}

/* The softmax-like kernels run one task per NR_PIX_BLOCK pixels of one
 * image: task t is image t / blocks, pixels from (t % blocks) * NR_PIX_BLOCK. */
typedef struct {
    int c;
    int64_t hw, blocks;   /* blocks per image */
    const float *x;       /* (N,C,HW) */
    float *y;             /* (N,C,HW) */
    const int32_t *labels;/* (N,HW), cross-entropy */
    const float *w;       /* (C) or NULL */
    int ignore;
    double g;             /* cross-entropy backward: dloss / wsum */
    int64_t t0;           /* cross-entropy forward: the round's first block */
    double *part;         /* per task of the round: its partial sums (2) */
} nr_sm_ctx;

static int64_t nr_sm_tasks(int64_t n, int64_t hw, nr_sm_ctx *c)
{
    c->blocks = (hw + NR_PIX_BLOCK - 1) / NR_PIX_BLOCK;
    return n * c->blocks;
}

/* The block of task t: image b, first pixel p0, nb pixels. */
static void nr_sm_block(const nr_sm_ctx *c, int64_t t, int64_t *b, int64_t *p0, int *nb)
{
    *b = t / c->blocks;
    *p0 = (t % c->blocks) * NR_PIX_BLOCK;
    *nb = c->hw - *p0 < NR_PIX_BLOCK ? (int)(c->hw - *p0) : NR_PIX_BLOCK;
}

static void nr_softmax_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    float mx[NR_PIX_BLOCK], se[NR_PIX_BLOCK];
    int64_t b, p0;
    int nb;
    (void)tid;
    nr_sm_block(c, t, &b, &p0, &nb);
    const float *xb = c->x + b * c->c * c->hw + p0;            /* (C, nb of HW) */
    float *yb = c->y + b * c->c * c->hw + p0;
    for (int j = 0; j < nb; j++)
        mx[j] = xb[j];
    for (int ch = 1; ch < c->c; ch++) {
        const float *xc = xb + ch * c->hw;
        for (int j = 0; j < nb; j++)
            mx[j] = xc[j] > mx[j] ? xc[j] : mx[j];
    }
    for (int j = 0; j < nb; j++)
        se[j] = 0.0f;
    for (int ch = 0; ch < c->c; ch++) {
        const float *xc = xb + ch * c->hw;
        float *yc = yb + ch * c->hw;
        for (int j = 0; j < nb; j++) {
            yc[j] = nr_expf(xc[j] - mx[j]);
            se[j] += yc[j];
        }
    }
    for (int j = 0; j < nb; j++)
        se[j] = 1.0f / se[j];
    for (int ch = 0; ch < c->c; ch++) {
        float *yc = yb + ch * c->hw;
        for (int j = 0; j < nb; j++)
            yc[j] *= se[j];
    }
}

void nr_softmax_c(int64_t n, int c, int64_t hw, const float *x, float *y)
{
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = x, .y = y};
    nr_par_for(nr_sm_tasks(n, hw, &ctx), nr_softmax_task, &ctx);
}

static void nr_log_softmax_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    float mx[NR_PIX_BLOCK], se[NR_PIX_BLOCK];
    int64_t b, p0;
    int nb;
    (void)tid;
    nr_sm_block(c, t, &b, &p0, &nb);
    const float *xb = c->x + b * c->c * c->hw + p0;            /* (C, nb of HW) */
    float *yb = c->y + b * c->c * c->hw + p0;
    nr_block_lse(c->c, c->hw, xb, nb, mx, se);
    for (int j = 0; j < nb; j++)
        se[j] = mx[j] + logf(se[j]);                           /* log-sum-exp */
    for (int ch = 0; ch < c->c; ch++) {
        const float *xc = xb + ch * c->hw;
        float *yc = yb + ch * c->hw;
        for (int j = 0; j < nb; j++)
            yc[j] = xc[j] - se[j];
    }
}

void nr_log_softmax(int64_t n, int c, int64_t hw, const float *x, float *y)
{
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = x, .y = y};
    nr_par_for(nr_sm_tasks(n, hw, &ctx), nr_log_softmax_task, &ctx);
}

void nr_one_hot(int n, int c, int64_t hw, const int32_t *labels, int ignore, float *y)
{
    memset(y, 0, (size_t)((int64_t)n * c * hw) * sizeof *y);
    for (int b = 0; b < n; b++) {
        const int32_t *lb = labels + (int64_t)b * hw;          /* (HW) */
        float *yb = y + (int64_t)b * c * hw;                   /* (C,HW) */
        for (int64_t p = 0; p < hw; p++)
            if (lb[p] != ignore && lb[p] >= 0 && lb[p] < c)
                yb[(int64_t)lb[p] * hw + p] = 1.0f;
    }
}

void nr_valid_mask(int64_t n, int c, const int32_t *labels, int ignore, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = labels[i] != ignore && labels[i] >= 0 && labels[i] < c ? 1.0f : 0.0f;
}

void nr_slice(int64_t outer, int64_t d, int64_t start, int64_t count, int64_t inner,
              const float *x, float *y)
{
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + o * count * inner, x + (o * d + start) * inner,
               (size_t)(count * inner) * sizeof *y);
}

void nr_pad(int64_t outer, int64_t d, int64_t start, int64_t count, int64_t inner,
            const float *x, float *y)
{
    memset(y, 0, (size_t)(outer * d * inner) * sizeof *y);
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + (o * d + start) * inner, x + o * count * inner,
               (size_t)(count * inner) * sizeof *y);
}

/* Class weight of a label, or 0 when the pixel does not count (ignored or
 * out of [0,c)). */
static float nr_label_weight(int32_t y, int c, const float *w, int ignore)
{
    if (y == ignore || y < 0 || y >= c)
        return 0.0f;
    return w ? w[y] : 1.0f;
}

/* Cross-entropy forward, block t0 + t: part[2t] = sum of w_y * nll,
 * part[2t+1] = sum of w_y over the block's counted pixels. */
static void nr_ce_fwd_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    float mx[NR_PIX_BLOCK], se[NR_PIX_BLOCK];
    int64_t b, p0;
    int nb;
    (void)tid;
    nr_sm_block(c, c->t0 + t, &b, &p0, &nb);
    const float *xb = c->x + b * c->c * c->hw + p0;            /* (C, nb of HW) */
    const int32_t *lb = c->labels + b * c->hw + p0;            /* (nb) */
    double loss = 0.0, wsum = 0.0;
    nr_block_lse(c->c, c->hw, xb, nb, mx, se);
    for (int j = 0; j < nb; j++) {
        float wy = nr_label_weight(lb[j], c->c, c->w, c->ignore);
        if (wy == 0.0f)
            continue;
        double nll = mx[j] + log((double)se[j]) - xb[(int64_t)lb[j] * c->hw + j];
        loss += wy * nll;
        wsum += wy;
    }
    c->part[2 * t] = loss;
    c->part[2 * t + 1] = wsum;
}

/* The blocks of one kernel call whose partial sums fit on the stack; larger
 * inputs run in several rounds (NR_CE_ROUND tasks each). */
#define NR_CE_ROUND 512

float nr_cross_entropy_fwd(int n, int c, int64_t hw, const float *logits,
                           const int32_t *labels, const float *w, int ignore)
{
    double loss, wsum;
    nr_cross_entropy_sums(n, c, hw, logits, labels, w, ignore, &loss, &wsum);
    return wsum != 0.0 ? (float)(loss / wsum) : 0.0f;
}

void nr_cross_entropy_sums(int n, int c, int64_t hw, const float *logits, const int32_t *labels,
                           const float *w, int ignore, double *loss_out, double *wsum_out)
{
    double part[2 * NR_CE_ROUND], loss = 0.0, wsum = 0.0;
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = logits, .labels = labels, .w = w, .ignore = ignore,
                     .part = part};
    int64_t tasks = nr_sm_tasks(n, hw, &ctx);
    for (ctx.t0 = 0; ctx.t0 < tasks; ctx.t0 += NR_CE_ROUND) {
        int64_t m = tasks - ctx.t0 < NR_CE_ROUND ? tasks - ctx.t0 : NR_CE_ROUND;
        nr_par_for(m, nr_ce_fwd_task, &ctx);
        for (int64_t i = 0; i < m; i++) {
            loss += part[2 * i];
            wsum += part[2 * i + 1];
        }
    }
    *loss_out = loss;
    *wsum_out = wsum;
}

static void nr_ce_bwd_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    float mx[NR_PIX_BLOCK], se[NR_PIX_BLOCK], coef[NR_PIX_BLOCK];
    int64_t b, p0;
    int nb;
    (void)tid;
    nr_sm_block(c, t, &b, &p0, &nb);
    const float *xb = c->x + b * c->c * c->hw + p0;            /* (C, nb of HW) */
    const int32_t *lb = c->labels + b * c->hw + p0;            /* (nb) */
    float *db = c->y + b * c->c * c->hw + p0;                  /* (C, nb of HW) */
    nr_block_lse(c->c, c->hw, xb, nb, mx, se);
    /* d/dx_ch = coef * (softmax_ch - [ch == y]), coef = dloss*w_y/wsum */
    for (int j = 0; j < nb; j++) {
        coef[j] = (float)(c->g * nr_label_weight(lb[j], c->c, c->w, c->ignore));
        se[j] = coef[j] / se[j];
    }
    for (int ch = 0; ch < c->c; ch++) {
        const float *xc = xb + ch * c->hw;
        float *dc = db + ch * c->hw;
        for (int j = 0; j < nb; j++)
            dc[j] = nr_expf(xc[j] - mx[j]) * se[j];
    }
    for (int j = 0; j < nb; j++)
        if (coef[j] != 0.0f)
            db[(int64_t)lb[j] * c->hw + j] -= coef[j];
}

double nr_cross_entropy_wsum(int n, int c, int64_t hw, const int32_t *labels, const float *w, int ignore)
{
    double wsum = 0.0;
    for (int64_t i = 0; i < (int64_t)n * hw; i++)
        wsum += nr_label_weight(labels[i], c, w, ignore);
    return wsum;
}

void nr_cross_entropy_bwd(int n, int c, int64_t hw, float dloss, const float *logits,
                          const int32_t *labels, const float *w, int ignore,
                          float *dlogits)
{
    nr_cross_entropy_bwd_den(n, c, hw, dloss, logits, labels, w, ignore,
                             nr_cross_entropy_wsum(n, c, hw, labels, w, ignore), dlogits);
}

void nr_cross_entropy_bwd_den(int n, int c, int64_t hw, float dloss, const float *logits,
                              const int32_t *labels, const float *w, int ignore, double wsum,
                              float *dlogits)
{
    if (wsum == 0.0) {
        memset(dlogits, 0, (size_t)((int64_t)n * c * hw) * sizeof *dlogits);
        return;
    }
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = logits, .y = dlogits, .labels = labels, .w = w,
                     .ignore = ignore, .g = dloss / wsum};
    nr_par_for(nr_sm_tasks(n, hw, &ctx), nr_ce_bwd_task, &ctx);
}

void nr_kernels_set_threads(int n)
{
    n = n > 0 ? n : openblas_get_num_procs();
    n = nr_par_set_threads(n);
    /* the im2col convolutions still run OpenBLAS's own threads */
    openblas_set_num_threads(n);
}

int nr_kernels_threads(void)
{
    return nr_par_threads();
}
