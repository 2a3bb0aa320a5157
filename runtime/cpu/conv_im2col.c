/* conv_im2col.c — the reference convolutions: im2col + OpenBLAS sgemm, one image and one
 * band of output rows at a time so the im2col band stays in cache; the bias
 * gradient and a channel bias (contracts in kernels.h). Chunks depend on the sizes only,
 * never on the thread count, and reductions add the chunks' partial sums in
 * chunk order, so every kernel gives the same bits on any number of threads. */
#include "kernels.h"
#include "parallel.h"
#include "netg.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* ---- transposed convolution's bias -------------------------------------- */

typedef struct {
    int c;
    int64_t hw;
    const float *b;
    float *y;
} bias_ctx;

static void bias_task(void *q, int64_t pl, int tid)
{
    const bias_ctx *c = q;
    float b = c->b[pl % c->c], *y = c->y + pl * c->hw;
    (void)tid;
    for (int64_t i = 0; i < c->hw; i++)
        y[i] += b;
}

void nr_add_channel_bias(int n, int c, int64_t hw, const float *b, float *y)
{
    bias_ctx ctx = {c, hw, b, y};
    nr_par_for((int64_t)n * c, bias_task, &ctx);
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
