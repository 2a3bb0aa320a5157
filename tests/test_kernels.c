/* test_kernels.c — what the op table (test_ops.c) does not check of the
 * kernels of runtime/cpu: the im2col convolution itself (its workspace,
 * bands, adjoints), ties, extreme logits, the loss against hand-computed and
 * PyTorch numbers, the optimizers by hand, dropout's statistics, every
 * broadcast and reduction, and the same bits on any number of threads.
 * One line per check; exit status 1 on failure. */
#include "kernels.h"
#include "netg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcheck.h"

/* ---- convolution ------------------------------------------------------ */

/* Direct convolution in double (kcheck.h's ref_conv_fwd), rounded to float:
 * y (N,K,OH,OW) from x (N,C,H,W), w (K,C,KH,KW), b (K). */
static void naive_conv(const nr_conv_geom *g, const float *x, const float *w,
                       const float *b, float *y)
{
    const int64_t n = (int64_t)g->n * g->k * g->oh * g->ow;
    double *r = malloc((size_t)n * sizeof *r);
    if (!r)
        abort();
    ref_conv_fwd(g, x, w, b, 0, r);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)r[i];
    free(r);
}

typedef struct {
    const nr_conv_geom *g;
    float *x, *w, *b, *ws;
} conv_ctx;

static void conv_fwd(void *p, float *out)
{
    conv_ctx *c = p;
    nr_conv2d_fwd(c->g, c->x, c->w, c->b, out, c->ws);
}

typedef struct {
    const char *name;
    nr_conv_geom g;   /* n,c,h,w, k,kh,kw, stride,pad_t,pad_l, oh,ow, dil,groups */
    int fd;           /* also run finite differences (small cases only) */
} conv_case;

static const conv_case conv_cases[] = {
    {"1x1",                              {1, 4, 5, 6, 3, 1, 1, 1, 0, 0, 5, 6, 1, 1}, 1},
    {"1x1 batch 2",                      {2, 3, 4, 3, 5, 1, 1, 1, 0, 0, 4, 3, 1, 1}, 1},
    {"1x1 stride 2",                     {1, 3, 6, 5, 2, 1, 1, 2, 0, 0, 3, 3, 1, 1}, 1},
    {"3x3 same pad 1",                   {1, 3, 6, 6, 4, 3, 3, 1, 1, 1, 6, 6, 1, 1}, 1},
    {"2x2 same, extra row/col bottom/right", {1, 2, 5, 5, 3, 2, 2, 1, 0, 0, 5, 5, 1, 1}, 1},
    {"3x3 stride 2 valid",               {1, 3, 7, 7, 2, 3, 3, 2, 0, 0, 3, 3, 1, 1}, 1},
    {"3x3 stride 2 same (pad_t 0)",      {1, 2, 8, 8, 3, 3, 3, 2, 0, 0, 4, 4, 1, 1}, 1},
    {"batch 2 C=3 K=5 non-square",       {2, 3, 5, 7, 5, 3, 3, 1, 1, 1, 5, 7, 1, 1}, 1},
    {"5x5 pad 2 non-square",             {1, 2, 4, 9, 3, 5, 5, 1, 2, 2, 4, 9, 1, 1}, 1},
    /* big enough that the im2col runs in several row bands, the last short */
    {"banded 3x3 C=64 128 wide",         {2, 64, 20, 128, 4, 3, 3, 1, 1, 1, 20, 128, 1, 1}, 0},
    {"banded 3x3 stride 2 C=32",         {1, 32, 255, 255, 3, 3, 3, 2, 1, 1, 128, 128, 1, 1}, 0},
};

static void test_conv_case(const conv_case *cc)
{
    const nr_conv_geom *g = &cc->g;
    char name[160];
    int64_t nx = (int64_t)g->n * g->c * g->h * g->w;
    int64_t nw = (int64_t)g->k * g->c * g->kh * g->kw;
    int64_t ny = (int64_t)g->n * g->k * g->oh * g->ow;
    int64_t nws = nr_conv_ws_elems(g);
    float *x = alloc_rand(nx);              /* (N,C,H,W) */
    float *w = alloc_rand(nw);              /* (K,C,KH,KW) */
    float *b = alloc_rand(g->k);            /* (K) */
    float *ws = nws ? alloc_f(nws) : NULL;  /* (C*KH*KW, band rows*OW) */
    float *y = alloc_f(ny), *yref = alloc_f(ny);  /* (N,K,OH,OW) */
    float *r = alloc_rand(ny);              /* dy (N,K,OH,OW) */
    float *dx = alloc_f(nx), *dw = alloc_f(nw), *db = alloc_f(g->k);

    int direct = g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad_t == 0 &&
                 g->pad_l == 0;
    snprintf(name, sizeof name, "conv ws_elems %s", cc->name);
    check(nws == (direct ? 0 : (int64_t)g->c * g->kh * g->kw * g->ow *
                                  ng_conv_band_rows(g->c, g->kh, g->kw, g->oh, g->ow)), name,
          "got %lld", (long long)nws);

    /* float sums of C*KH*KW products of O(1) values: error grows ~ sqrt(terms) */
    double tol = 4e-6 * sqrt((double)g->c * g->kh * g->kw + 1.0);
    nr_conv2d_fwd(g, x, w, b, y, ws);
    naive_conv(g, x, w, b, yref);
    snprintf(name, sizeof name, "conv fwd %s", cc->name);
    check_close(name, y, yref, ny, 1.0, tol);
    nr_conv2d_fwd(g, x, w, NULL, y, ws);
    naive_conv(g, x, w, NULL, yref);
    snprintf(name, sizeof name, "conv fwd no bias %s", cc->name);
    check_close(name, y, yref, ny, 1.0, tol);

    /* garbage in the outputs must not leak: they are overwritten */
    for (int64_t i = 0; i < nx; i++)
        dx[i] = 1e30f;
    for (int64_t i = 0; i < nw; i++)
        dw[i] = 1e30f;
    nr_conv2d_bwd_data(g, r, w, dx, ws);
    nr_conv2d_bwd_filter(g, r, x, dw, ws);
    nr_conv2d_bwd_bias(g, r, db);

    /* adjoint test: <conv(x), r> = <x, bwd_data(r)> = <w, bwd_filter(r)> */
    double lhs = dot(yref, r, ny);
    double rx = dot(x, dx, nx), rw = dot(w, dw, nw);
    snprintf(name, sizeof name, "conv adjoint data %s", cc->name);
    check(fabs(lhs - rx) <= 1e-4 * (fabs(lhs) + 1.0), name, "%.9g vs %.9g", lhs, rx);
    snprintf(name, sizeof name, "conv adjoint filter %s", cc->name);
    check(fabs(lhs - rw) <= 1e-4 * (fabs(lhs) + 1.0), name, "%.9g vs %.9g", lhs, rw);

    if (cc->fd) {
        conv_ctx ctx = {g, x, w, b, ws};
        snprintf(name, sizeof name, "grad conv bwd_data %s", cc->name);
        fd_check(name, conv_fwd, &ctx, x, nx, dx, r, ny, 1e-2f, 1.0, 1e-2);
        snprintf(name, sizeof name, "grad conv bwd_filter %s", cc->name);
        fd_check(name, conv_fwd, &ctx, w, nw, dw, r, ny, 1e-2f, 1.0, 1e-2);
        snprintf(name, sizeof name, "grad conv bwd_bias %s", cc->name);
        fd_check(name, conv_fwd, &ctx, b, g->k, db, r, ny, 1e-2f, 1.0, 1e-2);
    }
    free(x); free(w); free(b); free(ws); free(y); free(yref); free(r);
    free(dx); free(dw); free(db);
}

/* ---- maxpool ---------------------------------------------------------- */

static void test_maxpool_ties(void)
{
    /* one 2x2 window of equal values: only the first (row-major) gets dy */
    float x[4] = {1, 1, 1, 1}, y[1], dy[1] = {3}, dx[4];
    nr_maxpool_fwd(1, 1, 2, 2, 2, x, y);
    nr_maxpool_bwd(1, 1, 2, 2, 2, dy, x, y, dx);
    check(dx[0] == 3 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0,
          "maxpool_bwd tie goes to the first maximum", "dx %g %g %g %g",
          dx[0], dx[1], dx[2], dx[3]);
}

/* ---- slice_channels ---------------------------------------------------- */

enum { SL_N = 2, SL_HW = 5, SL_C = 6, SL_C0 = 2, SL_CY = 3 };

static void slice_fwd(void *p, float *out)
{
    nr_slice_c(SL_N, SL_C, SL_C0, SL_CY, SL_HW, p, out);
}

/* channels 2..4 of 6; the gradient is dy between zero channels (the
 * concat of zeros, dy and zeros) */
static void test_slice_channels(void)
{
    enum { T = SL_N * SL_C * SL_HW, TY = SL_N * SL_CY * SL_HW };
    float *x = alloc_rand(T), *r = alloc_rand(TY), *g = alloc_f(T), *sl = alloc_f(TY);
    nr_slice_c(SL_N, SL_C, SL_C0, SL_CY, SL_HW, x, sl);
    int ok = 1;
    for (int n = 0; n < SL_N; n++)
        for (int c = 0; c < SL_CY; c++)
            for (int p = 0; p < SL_HW; p++)
                ok &= sl[(n * SL_CY + c) * SL_HW + p] == x[(n * SL_C + SL_C0 + c) * SL_HW + p];
    check(ok, "slice_c fwd", "mismatch");
    float *z0 = alloc_f(SL_N * SL_C0 * SL_HW), *z1 = alloc_f(SL_N * SL_HW);
    const float *parts[3] = {z0, r, z1};
    const int pcs[3] = {SL_C0, SL_CY, SL_C - SL_C0 - SL_CY};
    nr_concat_fwd(SL_N, 3, pcs, SL_HW, parts, g);
    fd_check("grad slice_c (= dy between zero channels)", slice_fwd, x, x, T, g, r, TY, 1e-2f, 1.0, 1e-2);
    free(x); free(r); free(g); free(sl); free(z0); free(z1);
}

/* ---- softmax ---------------------------------------------------------- */

/* One pixel's c logits xp[0], xp[hw], ..., xp[(c-1)*hw]: their max into *m
 * and the sum of exp(x - m), in double (the references' log-sum-exp is
 * m + log of it). */
static double ref_sum_exp(const float *xp, int c, int64_t hw, double *m)
{
    double s = 0.0;
    *m = -INFINITY;
    for (int k = 0; k < c; k++)
        *m = fmax(*m, xp[k * hw]);
    for (int k = 0; k < c; k++)
        s += exp(xp[k * hw] - *m);
    return s;
}

static void test_softmax(void)
{
    enum { N = 2, C = 5, HW = 300 };   /* 300 pixels: crosses a 256-pixel block */
    const int64_t T = (int64_t)N * C * HW;
    float *x = alloc_f(T), *y = alloc_f(T), *ref = alloc_f(T);
    for (int64_t i = 0; i < T; i++)
        x[i] = 8.0f * frand() + ((i / HW) % 2 ? 1000.0f : 0.0f) * (i < T / 2);
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            double m, s = ref_sum_exp(x + n * C * HW + p, C, HW, &m);
            for (int c = 0; c < C; c++)
                ref[(n * C + c) * HW + p] = (float)(exp(x[(n * C + c) * HW + p] - m) / s);
        }
    nr_softmax_c(N, C, HW, x, y);
    double worst = 0.0;
    for (int n = 0; n < N; n++)
        for (int p = 0; p < HW; p++) {
            double s = 0.0;
            for (int c = 0; c < C; c++)
                s += y[(n * C + c) * HW + p];
            worst = fmax(worst, fabs(s - 1.0));
        }
    check(worst < 1e-5, "softmax rows sum to 1 (incl. logits ~1000)", "off by %.3g", worst);
    check_close("softmax vs double reference", y, ref, T, 1e-3, 1e-5);
    free(x); free(y); free(ref);
}

/* ---- cross-entropy ---------------------------------------------------- */

/* Naive double CE: loss, and dlogits (N,C,HW) for dloss when d is not NULL. */
static double naive_ce(int n, int c, int64_t hw, const float *x, const int32_t *lab,
                       const float *w, int ignore, float dloss, float *d)
{
    double loss = 0.0, wsum = 0.0;
    for (int64_t i = 0; i < n * hw; i++) {
        int32_t y = lab[i];
        if (y != ignore && y >= 0 && y < c)
            wsum += w ? w[y] : 1.0;
    }
    for (int b = 0; b < n; b++)
        for (int64_t p = 0; p < hw; p++) {
            const float *xp = x + (int64_t)b * c * hw + p;
            int32_t y = lab[b * hw + p];
            int valid = y != ignore && y >= 0 && y < c;
            double m, s = ref_sum_exp(xp, c, hw, &m), wy = valid ? (w ? w[y] : 1.0) : 0.0;
            if (valid)
                loss += wy * (m + log(s) - xp[y * hw]);
            if (d)
                for (int k = 0; k < c; k++) {
                    double sm = exp(xp[k * hw] - m) / s;
                    d[(int64_t)b * c * hw + k * hw + p] = wsum == 0.0 ? 0.0f :
                        (float)(dloss * wy / wsum * (sm - (valid && k == y)));
                }
        }
    return wsum == 0.0 ? 0.0 : loss / wsum;
}

static void test_ce_hand(void)
{
    /* N=1, C=2, HW=3; logits (C,HW), labels (HW), w = {1, 3}.
     *   pixel 0: logits (0, 0)     label 0: p = (1/2, 1/2),  nll = ln 2     = 0.693147181
     *   pixel 1: logits (0, ln 3)  label 1: p = (1/4, 3/4),  nll = ln(4/3)  = 0.287682072
     *   pixel 2: logits (5, -5)    label -100 = ignore: no contribution
     * weighted:   (1*ln 2 + 3*ln(4/3)) / (1 + 3) = 1.556193398 / 4 = 0.389048349
     * unweighted: (ln 2 + ln(4/3)) / 2                              = 0.490414627
     * ignore = 1 (a class; -100 is then out of range, also skipped): ln 2
     * dlogits, weighted, dloss 1:  coef_i = w_yi / 4, d = coef * (p - onehot)
     *   pixel 0: 1/4 * (-1/2, 1/2) = (-0.125, 0.125)
     *   pixel 1: 3/4 * (1/4, -1/4) = (0.1875, -0.1875);  pixel 2: (0, 0) */
    const float x[6] = {0.0f, 0.0f, 5.0f, /* class 1: */ 0.0f, 1.09861229f, -5.0f};
    const int32_t lab[3] = {0, 1, -100};
    const float w[2] = {1.0f, 3.0f};
    const float dwant[6] = {-0.125f, 0.1875f, 0.0f, 0.125f, -0.1875f, 0.0f};
    float d[6];
    float l = nr_cross_entropy_fwd(1, 2, 3, x, lab, w, -100);
    check(fabsf(l - 0.389048349f) < 1e-6f, "CE hand: weighted mean, ignore -100",
          "got %.9g", l);
    l = nr_cross_entropy_fwd(1, 2, 3, x, lab, NULL, -100);
    check(fabsf(l - 0.490414627f) < 1e-6f, "CE hand: no weights", "got %.9g", l);
    l = nr_cross_entropy_fwd(1, 2, 3, x, lab, w, 1);
    check(fabsf(l - 0.693147181f) < 1e-6f, "CE hand: ignore a class index, label out of range",
          "got %.9g", l);
    nr_cross_entropy_bwd(1, 2, 3, 1.0f, x, lab, w, -100, d);
    check_close("CE hand: dlogits", d, dwant, 6, 1.0, 1e-6);

    const int32_t none[3] = {-100, -100, 7};
    l = nr_cross_entropy_fwd(1, 2, 3, x, none, w, -100);
    for (int i = 0; i < 6; i++)
        d[i] = 1e30f;
    nr_cross_entropy_bwd(1, 2, 3, 1.0f, x, none, w, -100, d);
    int zero = 1;
    for (int i = 0; i < 6; i++)
        zero &= d[i] == 0.0f;
    check(l == 0.0f && zero, "CE: no counted pixel gives loss 0 and zero grad",
          "loss %g", l);
}

static void test_ce_torch(void)
{
    /* logits (2,3,2,3), labels (2,2,3), weights (3), ignore_index=-100; from
     *   torch.nn.functional.cross_entropy(x, lab, weight=w, ignore_index=-100)
     * (torch 2.x, float32), and x.grad after loss.backward(). */
    static const float x[36] = {
        -2.54f, 1.68f, -0.37f, 1.34f, 2.87f, 0.23f, 0.01f, -2.57f, -1.39f,
        0.00f, 1.08f, 1.82f, -0.71f, -2.60f, -1.27f, 2.46f, -1.72f, -0.29f,
        2.59f, -2.85f, 0.60f, 2.70f, -1.62f, 0.29f, 2.45f, -2.20f, 0.14f,
        1.50f, 1.01f, -0.19f, -1.77f, -0.06f, -0.77f, -0.14f, -0.80f, 2.03f};
    static const int32_t lab[12] = {0, 2, 1, -100, 1, 0, 2, 2, -100, 1, 0, 1};
    static const float w[3] = {0.5f, 2.0f, 1.25f};
    static const float grad[36] = {
        -0.0358529165f, 0.0917605162f, 0.0854155794f, 0.0f, 0.128231853f,
        -0.0319287889f, 0.0241149236f, 0.00130889367f, -0.120142974f, 0.0f,
        -0.129533783f, 0.0284763705f, 0.0117379939f, -0.0930694118f, 0.0347273834f,
        0.0f, 0.00130191969f, 0.00345241698f, 0.0501236841f, 0.00491440296f, 0.0f,
        0.111018822f, -0.035534773f, 0.0206316002f, 0.0435754433f, 0.00941373594f,
        0.0f, -0.117505178f, 0.0305372309f, -0.138176903f, -0.0936991274f,
        -0.0143281417f, 0.0f, 0.00648634741f, 0.00499754399f, 0.117545307f};
    /* same labels with -100 replaced by 0, ignore_index=2 */
    static const int32_t lab2[12] = {0, 2, 1, 0, 1, 0, 2, 2, 0, 1, 0, 1};
    float d[36];
    float l = nr_cross_entropy_fwd(2, 3, 6, x, lab, w, -100);
    check(fabsf(l - 2.31894445f) < 2e-6f, "CE vs PyTorch: weighted", "got %.9g", l);
    l = nr_cross_entropy_fwd(2, 3, 6, x, lab, NULL, -100);
    check(fabsf(l - 2.46955633f) < 2e-6f, "CE vs PyTorch: unweighted", "got %.9g", l);
    l = nr_cross_entropy_fwd(2, 3, 6, x, lab2, w, 2);
    check(fabsf(l - 1.89946806f) < 2e-6f, "CE vs PyTorch: ignore_index=2", "got %.9g", l);
    nr_cross_entropy_bwd(2, 3, 6, 1.0f, x, lab, w, -100, d);
    check_close("CE bwd vs PyTorch grad", d, grad, 36, 1e-2, 1e-4);
}

static void test_ce_blocks(void)
{
    /* 700 pixels (three blocks, the last partial), out-of-range labels */
    enum { N = 2, C = 4, HW = 700, T = N * C * HW };
    float *x = alloc_f(T), *d = alloc_f(T), *dref = alloc_f(T);
    int32_t *lab = malloc(N * HW * sizeof *lab);
    /* w[C] is a poison value: a label C read as a class would pick it up */
    const float w[C + 1] = {0.3f, 1.7f, 1.0f, 2.5f, 1000.0f};
    for (int i = 0; i < T; i++)
        x[i] = 6.0f * frand();
    for (int i = 0; i < N * HW; i++)
        lab[i] = i % 11 == 3 ? -1 : i % 13 == 5 ? 99 : i % 17 == 2 ? C :
                 i % 7 == 1 ? -100 : i % C;
    double ref = naive_ce(N, C, HW, x, lab, w, -100, 0.5f, dref);
    float l = nr_cross_entropy_fwd(N, C, HW, x, lab, w, -100);
    check(fabs(l - ref) < 1e-6 * fabs(ref), "CE fwd vs double reference, 700 px",
          "got %.9g want %.9g", l, ref);
    nr_cross_entropy_bwd(N, C, HW, 0.5f, x, lab, w, -100, d);
    check_close("CE bwd vs double reference, 700 px", d, dref, T, 1e-4, 1e-4);
    free(x); free(d); free(dref); free(lab);
}

/* ---- optimizers ------------------------------------------------------- */

static void test_adam(void)
{
    /* lr 0.01, b1 0.9, b2 0.999, eps 1e-7; element 0 by hand:
     * t=1: g=0.5  m=0.05  v=0.00025  lr_t=0.01*sqrt(0.001)/0.1=0.00316227766
     *      p = 1 - 0.00316227766*0.05/(0.0158113883+1e-7) = 0.990000063
     * t=2: g=-0.2 m=0.045-0.02=0.025  v=0.00024975+0.00004=0.00028975
     *      lr_t=0.01*sqrt(0.001999)/0.19=0.00235316725
     *      p = 0.990000063 - 0.00235316725*0.025/(0.0170220445+1e-7) = 0.986544025
     * The other elements follow the same arithmetic (done in double).  v is
     * off by ~1.3e-5 relative in float32 because 1 - (float)0.999 != 0.001. */
    const float g1[3] = {0.5f, -1.0f, 3.0f}, g2[3] = {-0.2f, 0.3f, 3.0f};
    const float pw[3] = {0.986544025f, -1.98572156f, 0.480000018f};
    const float mw[3] = {0.025f, -0.06f, 0.57f}, vw[3] = {0.00028975f, 0.001089f, 0.017991f};
    /* clip 2: the third gradient becomes 2 */
    const float pc[3] = {0.986544025f, -1.98572156f, 0.480000027f};
    const float mc[3] = {0.025f, -0.06f, 0.38f}, vc[3] = {0.00028975f, 0.001089f, 0.007996f};
    for (int clip = 0; clip <= 2; clip += 2) {
        float p[3] = {1.0f, -2.0f, 0.5f}, m[3] = {0}, v[3] = {0};
        nr_adam(3, p, g1, m, v, 0.01f, 0.9f, 0.999f, 1e-7f, (float)clip, 1);
        check(fabsf(p[0] - 0.990000063f) < 1e-7f,
              clip ? "adam step 1, clip 2" : "adam step 1", "p0 %.9g", p[0]);
        nr_adam(3, p, g2, m, v, 0.01f, 0.9f, 0.999f, 1e-7f, (float)clip, 2);
        check_close(clip ? "adam step 2 p, clip 2" : "adam step 2 p", p,
                    clip ? pc : pw, 3, 1.0, 2e-7);
        check_close(clip ? "adam step 2 m, clip 2" : "adam step 2 m", m,
                    clip ? mc : mw, 3, 1e-3, 1e-5);
        check_close(clip ? "adam step 2 v, clip 2" : "adam step 2 v", v,
                    clip ? vc : vw, 3, 1e-6, 3e-5);
    }
}

static void test_sgd(void)
{
    /* lr 0.1, momentum 0.9, g = (0.5, -2) twice:
     * v = (0.5, -2), p = (0.95, -0.8); v = (0.95, -3.8), p = (0.855, -0.42)
     * clip 1: g' = (0.5, -1): v = (0.5, -1),  p = (0.95, -0.9);
     *                         v = (0.95, -1.9), p = (0.855, -0.71) */
    const float g[2] = {0.5f, -2.0f};
    const float want[2][2] = {{0.855f, -0.42f}, {0.855f, -0.71f}};
    const float vwant[2][2] = {{0.95f, -3.8f}, {0.95f, -1.9f}};
    for (int clip = 0; clip <= 1; clip++) {
        float p[2] = {1.0f, -1.0f}, v[2] = {0.0f, 0.0f};
        nr_sgd(2, p, g, v, 0.1f, 0.9f, (float)clip);
        nr_sgd(2, p, g, v, 0.1f, 0.9f, (float)clip);
        check_close(clip ? "sgd momentum two steps, clip 1 (p)" :
                           "sgd momentum two steps (p)", p, want[clip], 2, 1.0, 1e-6);
        check_close(clip ? "sgd momentum two steps, clip 1 (v)" :
                           "sgd momentum two steps (v)", v, vwant[clip], 2, 1.0, 1e-6);
    }
}

/* ---- dropout mask ----------------------------------------------------- */

static void test_dropout(void)
{
    enum { N = 64, C = 4096, T = N * C };
    const float p = 0.3f, keep = 1.0f / (1.0f - p);
    float *a = alloc_f(T), *b = alloc_f(T);
    nr_dropout_mask(N, C, p, 42, 7, 3, a);
    nr_dropout_mask(N, C, p, 42, 7, 3, b);
    check(memcmp(a, b, (size_t)T * sizeof *a) == 0, "dropout deterministic", "differs");
    int64_t zeros = 0, bad = 0;
    double sum = 0.0;
    for (int i = 0; i < T; i++) {
        zeros += a[i] == 0.0f;
        bad += a[i] != 0.0f && a[i] != keep;
        sum += a[i];
    }
    check(bad == 0, "dropout values in {0, 1/(1-p)}", "%lld bad", (long long)bad);
    double rate = (double)zeros / T;
    check(fabs(rate - p) < 0.01, "dropout rate ~ p", "rate %.4f", rate);
    check(fabs(sum / T - 1.0) < 0.01, "dropout mean ~ 1", "mean %.4f", sum / T);

    int64_t diff = 0;
    nr_dropout_mask(N, C, p, 42, 7, 4, b);
    for (int i = 0; i < T; i++)
        diff += a[i] != b[i];
    check(diff > T / 4, "dropout: different salts differ", "%lld differ", (long long)diff);
    diff = 0;
    nr_dropout_mask(N, C, p, 42, 8, 3, b);
    for (int i = 0; i < T; i++)
        diff += a[i] != b[i];
    check(diff > T / 4, "dropout: different steps differ", "%lld differ", (long long)diff);
    diff = 0;
    nr_dropout_mask(N, C, p, 43, 7, 3, b);
    for (int i = 0; i < T; i++)
        diff += a[i] != b[i];
    check(diff > T / 4, "dropout: different seeds differ", "%lld differ", (long long)diff);

    nr_dropout_mask(N, C, 0.0f, 42, 7, 3, b);
    int ones = 1;
    for (int i = 0; i < T; i++)
        ones &= b[i] == 1.0f;
    check(ones, "dropout p=0 keeps everything", "not all 1");
    nr_dropout_mask(N, C, 1.0f, 42, 7, 3, b);
    int zero = 1;
    for (int i = 0; i < T; i++)
        zero &= b[i] == 0.0f;
    check(zero, "dropout p=1 drops everything", "not all 0");
    free(a); free(b);
}

/* ---- loss primitives -------------------------------------------------- */

/* Broadcasting binary ops against index arithmetic done the slow way, for
 * several shape pairs (including in place). */
static void test_binary(void)
{
    static const struct { int64_t a[4], b[4]; } cases[] = {
        {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {1, 1, 1, 1}}, {{1, 1, 1, 1}, {2, 3, 4, 5}},
        {{2, 3, 4, 5}, {2, 1, 4, 5}}, {{1, 3, 1, 1}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {1, 1, 4, 5}},
        {{1, 1, 4, 1}, {1, 1, 1, 5}}, {{2, 3, 4, 1}, {2, 3, 4, 1}}, {{2, 1, 4, 5}, {1, 3, 4, 1}},
    };
    static const int ops[] = {NG_OP_ADD, NG_OP_SUB, NG_OP_MUL, NG_OP_DIV};
    int ok = 1;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t *da = cases[k].a, *db = cases[k].b;
        int64_t d[4], sa[4], sb[4], na = 1, nb = 1, sta = 1, stb = 1;
        for (int i = 3; i >= 0; i--) {
            d[i] = da[i] > db[i] ? da[i] : db[i];
            sa[i] = da[i] == 1 ? 0 : sta;
            sb[i] = db[i] == 1 ? 0 : stb;
            sta *= da[i];
            stb *= db[i];
        }
        na = sta;
        nb = stb;
        int64_t n = d[0] * d[1] * d[2] * d[3];
        float *a = alloc_rand(na), *b = alloc_rand(nb), *y = alloc_f(n), *ref = alloc_f(n);
        for (int64_t i = 0; i < nb; i++)
            b[i] += b[i] < 0 ? -0.5f : 0.5f;  /* no division by ~0 */
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            for (int64_t i0 = 0, j = 0; i0 < d[0]; i0++)
                for (int64_t i1 = 0; i1 < d[1]; i1++)
                    for (int64_t i2 = 0; i2 < d[2]; i2++)
                        for (int64_t i3 = 0; i3 < d[3]; i3++, j++) {
                            float x = a[i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3]];
                            float z = b[i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3]];
                            ref[j] = ops[o] == NG_OP_ADD ? x + z : ops[o] == NG_OP_SUB ? x - z
                                   : ops[o] == NG_OP_MUL ? x * z : x / z;
                        }
            nr_binary(ops[o], d, a, sa, b, sb, y);
            ok &= memcmp(y, ref, (size_t)n * sizeof *y) == 0;
            if (na == n) { /* in place over a */
                float *c = alloc_f(n);
                memcpy(c, a, (size_t)n * sizeof *c);
                nr_binary(ops[o], d, c, sa, b, sb, c);
                ok &= memcmp(c, ref, (size_t)n * sizeof *c) == 0;
                free(c);
            }
        }
        free(a); free(b); free(y); free(ref);
    }
    check(ok, "add/sub/mul/div broadcasting, also in place", "mismatch");
}

/* What the op table's cases (test_ops.c) do not reach: clamp keeps a nan;
 * pow_bwd is 0 where dy is 0 (no 0 * inf) and for p 0; clamp_bwd passes dy
 * exactly inside [lo, hi] (bounds included) and nothing outside. */
static void test_unary(void)
{
    enum { N = 120 };
    float *x = alloc_f(N), *r = alloc_rand(N), *dx = alloc_f(N);
    for (int i = 0; i < N; i++)
        x[i] = 0.3f + 2.0f * (frand() + 1.0f) * (i % 2 ? 1.0f : 0.25f);
    x[0] = 1.0f, x[1] = 2.0f;
    float nan = NAN, ynan;
    ng_unary_f32(NG_OP_CLAMP, 1, &nan, 0, 1, &ynan);
    check(ynan != ynan, "clamp keeps nan", "got %g", (double)ynan);
    float zero = 0, dy0 = 0, out = 1, dy1 = 1;
    nr_unary_bwd(NG_OP_POW_BWD, 1, &dy0, &zero, 0.5f, 0, &out);
    check(out == 0.0f, "pow_bwd: 0 where dy == 0 (no 0 * inf)", "got %g", (double)out);
    nr_unary_bwd(NG_OP_POW_BWD, 1, &dy1, &zero, 0.0f, 0, &out);
    check(out == 0.0f, "pow_bwd: 0 for p == 0", "got %g", (double)out);
    nr_unary_bwd(NG_OP_CLAMP_BWD, N, r, x, 1.0f, 2.0f, dx);
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= dx[i] == (x[i] >= 1.0f && x[i] <= 2.0f ? r[i] : 0.0f);
    check(ok, "clamp_bwd passes dy inside [lo, hi] only", "mismatch");
    free(x); free(r); free(dx);
}

/* reduce_sum against a naive double sum for every mask; expand is its
 * adjoint: <reduce(x), u> == <x, expand(u)>. */
static void test_reduce_expand(void)
{
    const int64_t d[4] = {2, 3, 4, 5}, n = 120;
    float *x = alloc_rand(n), *y = alloc_f(n), *ref = alloc_f(n), *u = alloc_rand(n), *e = alloc_f(n);
    int ok = 1, adj = 1;
    for (unsigned mask = 0; mask < 16; mask++) {
        int64_t ko[4], ny = 1;
        for (int k = 0; k < 4; k++) {
            ko[k] = mask >> k & 1 ? 1 : d[k];
            ny *= ko[k];
        }
        for (int64_t j = 0; j < ny; j++)
            ref[j] = 0;
        double acc[120] = {0};
        for (int64_t i0 = 0, i = 0; i0 < d[0]; i0++)
            for (int64_t i1 = 0; i1 < d[1]; i1++)
                for (int64_t i2 = 0; i2 < d[2]; i2++)
                    for (int64_t i3 = 0; i3 < d[3]; i3++, i++) {
                        int64_t o0 = mask & 1 ? 0 : i0, o1 = mask & 2 ? 0 : i1;
                        int64_t o2 = mask & 4 ? 0 : i2, o3 = mask & 8 ? 0 : i3;
                        acc[((o0 * ko[1] + o1) * ko[2] + o2) * ko[3] + o3] += x[i];
                    }
        for (int64_t j = 0; j < ny; j++)
            ref[j] = (float)(0.5 * acc[j]);
        nr_reduce_sum(d, mask, 0.5f, x, y);
        int64_t at;
        ok &= max_err(y, ref, ny, 1e-6, &at) < 1e-6;
        nr_expand(d, mask, 0.5f, u, e);
        adj &= fabs(dot(y, u, ny) - dot(x, e, n)) < 1e-5 * (1 + fabs(dot(y, u, ny)));
    }
    check(ok, "reduce_sum over every subset of dims", "mismatch");
    check(adj, "expand is the adjoint of reduce_sum", "dot products differ");
    free(x); free(y); free(ref); free(u); free(e);
}

static void test_log_softmax_labels_slice(void)
{
    enum { N = 2, C = 5, HW = 300 };
    const int64_t T = (int64_t)N * C * HW;
    float *x = alloc_f(T), *y = alloc_f(T), *ref = alloc_f(T);
    for (int64_t i = 0; i < T; i++)
        x[i] = 8.0f * frand() + (i < T / 2 ? 500.0f : 0.0f);
    for (int n = 0; n < N; n++) /* double reference */
        for (int p = 0; p < HW; p++) {
            double m, z = ref_sum_exp(x + n * C * HW + p, C, HW, &m);
            for (int c = 0; c < C; c++)
                ref[(n * C + c) * HW + p] = (float)(x[(n * C + c) * HW + p] - m - log(z));
        }
    nr_log_softmax(N, C, HW, x, y);
    /* the first image has logits ~500: float spacing there is 3e-5 */
    check_close("log_softmax, logits ~500", y, ref, T / 2, 500, 2e-7);
    check_close("log_softmax vs double reference", y + T / 2, ref + T / 2, T / 2, 1, 1e-6);

    int32_t lab[6] = {0, 2, 255, 7, -1, 1};
    float oh[3 * 6], vm[6];
    nr_one_hot(1, 3, 6, lab, 255, oh);
    nr_valid_mask(6, 3, lab, 255, vm);
    int ok = 1;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 6; p++)
            ok &= oh[c * 6 + p] == (lab[p] == c ? 1.0f : 0.0f);
    static const float want_vm[6] = {1, 1, 0, 0, 0, 1};
    ok &= memcmp(vm, want_vm, sizeof vm) == 0;
    check(ok, "one_hot and valid_mask (ignored and out-of-range labels are 0)", "mismatch");

    /* slice and pad are adjoint: <slice(x), u> == <x, pad(u)> */
    float *sx = alloc_rand(2 * 6 * 7), *su = alloc_rand(2 * 3 * 7), *sy = alloc_f(2 * 3 * 7), *px = alloc_f(2 * 6 * 7);
    nr_slice(2, 6, 2, 3, 7, sx, sy);
    nr_pad(2, 6, 2, 3, 7, su, px);
    ok = sy[0] == sx[2 * 7] && sy[3 * 7] == sx[(6 + 2) * 7] && px[0] == 0.0f && px[2 * 7] == su[0];
    ok &= fabs(dot(sy, su, 42) - dot(sx, px, 84)) < 1e-5;
    check(ok, "slice and pad (its adjoint)", "mismatch");
    free(x); free(y); free(ref); free(sx); free(su); free(sy); free(px);
}

/* ---- the same bits on any number of threads ---------------------------- */

/* Every threaded kernel, on inputs of many chunks, run on 1 thread and then
 * on 3: the outputs must be identical to the bit (chunks never depend on the
 * thread count, reductions add partial sums in chunk order). */
static void run_threaded_kernels(int threads, float **out, int64_t *len)
{
    enum { N = 3, C = 7, H = 66, W = 70, K = 2 };
    const int64_t hw = (int64_t)H * W, n = (int64_t)N * C * hw;
    uint64_t keep = rng_state;
    rng_state = 99;
    float *x = alloc_rand(n), *dy = alloc_rand(n), *m = alloc_rand(N * C);
    int32_t *lab = malloc((size_t)(N * hw) * sizeof *lab);
    for (int64_t i = 0; i < N * hw; i++)
        lab[i] = i % 11 == 0 ? 255 : (int32_t)(i % C);
    float w[C] = {0.5f, 1, 2, 3, 0.25f, 1, 4};
    nr_kernels_set_threads(threads);
    int k = 0;
    out[k] = alloc_f(n), len[k] = n, nr_relu_fwd(n, x, out[k++]);
    out[k] = alloc_f(n), len[k] = n, nr_relu_bwd(n, dy, x, out[k++]);
    out[k] = alloc_f(n), len[k] = n, nr_mul_channel(N, C, hw, x, m, out[k++]);
    out[k] = alloc_f(n / 4), len[k] = n / 4, nr_maxpool_fwd(N, C, H, W, K, x, out[k++]);
    out[k] = alloc_f(n), len[k] = n, nr_maxpool_bwd(N, C, H, W, K, dy, x, NULL, out[k++]);
    out[k] = alloc_f(n), len[k] = n, nr_upsample_fwd(N, C, H / 2, W / 2, 2, x, out[k++]);
    out[k] = alloc_f(n / 4), len[k] = n / 4, nr_upsample_bwd(N, C, H / 2, W / 2, 2, dy, out[k++]);
    nr_conv_geom g = {.n = N, .k = C, .oh = H, .ow = W};
    out[k] = alloc_f(C), len[k] = C, nr_conv2d_bwd_bias(&g, dy, out[k++]);
    out[k] = alloc_f(n), len[k] = n, nr_softmax_c(N, C, hw, x, out[k++]);
    out[k] = alloc_f(n), len[k] = n, nr_log_softmax(N, C, hw, x, out[k++]);
    out[k] = alloc_f(1), len[k] = 1, out[k][0] = nr_cross_entropy_fwd(N, C, hw, x, lab, w, 255), k++;
    out[k] = alloc_f(n), len[k] = n, nr_cross_entropy_bwd(N, C, hw, 0.7f, x, lab, w, 255, out[k++]);
    int64_t d[4] = {1, 1, 1, n}, s1[4] = {0, 0, 0, 1};
    out[k] = alloc_f(n), len[k] = n, nr_binary(NG_OP_MUL, d, x, s1, dy, s1, out[k++]);
    float *p = alloc_f(n), *mm = alloc_f(n), *vv = alloc_f(n);
    memcpy(p, x, (size_t)n * sizeof *p);
    nr_adam(n, p, dy, mm, vv, 1e-3f, 0.9f, 0.999f, 1e-7f, 0.0f, 1);
    nr_adam(n, p, x, mm, vv, 1e-3f, 0.9f, 0.999f, 1e-7f, 0.5f, 2);
    out[k] = p, len[k++] = n;
    free(mm), free(vv), free(x), free(dy), free(m), free(lab);
    rng_state = keep;
}

static void test_thread_invariance(void)
{
    enum { KERNELS = 14 };
    float *one[KERNELS], *three[KERNELS];
    int64_t len[KERNELS];
    run_threaded_kernels(1, one, len);
    run_threaded_kernels(3, three, len);
    static const char *const names[KERNELS] = {
        "relu", "relu_bwd", "mul_channel", "maxpool", "maxpool_bwd", "upsample", "upsample_bwd",
        "conv2d_bwd_bias", "softmax", "log_softmax", "cross_entropy", "cross_entropy_bwd", "mul",
        "adam"};
    for (int i = 0; i < KERNELS; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s: same bits on 1 and 3 threads", names[i]);
        check(memcmp(one[i], three[i], (size_t)len[i] * sizeof(float)) == 0, name, "differs");
        free(one[i]);
        free(three[i]);
    }
    nr_kernels_set_threads(0);
}

int main(void)
{
    nr_kernels_set_threads(0);
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        test_conv_case(&conv_cases[i]);
    test_maxpool_ties();
    test_slice_channels();
    test_softmax();
    test_ce_hand();
    test_ce_torch();
    test_ce_blocks();
    test_adam();
    test_sgd();
    test_dropout();
    test_binary();
    test_unary();
    test_reduce_expand();
    test_log_softmax_labels_slice();
    test_thread_invariance();
    return check_done();
}
