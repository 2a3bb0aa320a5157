/* test_conv_bf16.c — checks the bf16 convolutions of runtime/cpu/conv_bf16.c
 * (forward with and without bias and ReLU, data gradient, weight gradient)
 * against the double-precision definition (kcheck.h), output by output,
 * within a bound derived from the arithmetic, not tuned:
 *
 *   |got - exact| <= (2^-7 + 2^-16 + n*2^-23) * S,   S = sum_i |x_i| |w_i|
 *
 * over the n terms of the output's reduction (the bias, added in fp32, counted
 * as a term of weight 1).  Why: bf16 keeps 8 significant bits (7 stored and
 * the implicit one), so rounding to nearest even gives bf16(x) = x(1 + e),
 * |e| <= 2^-8; a product of two rounded factors is exact in fp32 (16
 * significant bits) and off by at most (1 + 2^-8)^2 - 1 = 2^-7 + 2^-16
 * relative.  The n products are then added in fp32 (vdpbf16ps and the partial
 * sums, in whatever order): at most n - 1 roundings of 2^-24 relative, on
 * partial sums of at most (1 + 2^-7 + 2^-16) S, gamma_(n-1) =
 * (n-1) 2^-24 / (1 - (n-1) 2^-24); the factor 2 in n*2^-23 covers that
 * denominator and the (1 + 2^-7) for every n < 2^22.  (A bound with 2^-8 in
 * place of 2^-7, as if bf16 had 9 significant bits, fails: 1.07 of it was
 * measured on "1x1 on 3x1".)  S comes from a second convolution, in double,
 * of |x| and |w|.  The data here is uniform in [-1, 1): no denormals, which
 * the conversion reads as 0.  Finite differences are no check at bf16's
 * precision (a step that moves the loss past bf16's rounding moves it past
 * the curvature too), so the gradients are checked the same way.
 *
 * Also: the error is larger than fp32's (the bf16 path really ran); results
 * identical on 1 and 2 threads; every pass refused, writing nothing, under
 * NETRUN_ISA=avx2 levels (nr_conv_set_isa) and for geometries it does not
 * take.  Skipped (exit 77) on a CPU without AVX512_BF16.  One line per check. */
#include "conv.h"
#include "conv_bf16.h"
#include "parallel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcheck.h"

#define G(n, c, h, w, k, kh, kw, pt, pl) {n, c, h, w, k, kh, kw, 1, pt, pl, h, w, 1, 1}

static const struct {
    const char *name;
    nr_conv_geom g;
} cases[] = {
    {"3x3 same 8x8 c16 k24", G(2, 16, 8, 8, 24, 3, 3, 1, 1)},
    {"3x3 same 7x5 c3 k5", G(2, 3, 7, 5, 5, 3, 3, 1, 1)},
    {"3x3 same 1 channel", G(1, 1, 9, 13, 8, 3, 3, 1, 1)},
    {"3x3 same 12x12 c64 k64", G(1, 64, 12, 12, 64, 3, 3, 1, 1)},
    {"3x3 same 2 ranges", G(3, 8, 48, 64, 20, 3, 3, 1, 1)},
    {"2x2 same (TF)", G(2, 12, 10, 6, 9, 2, 2, 0, 0)},
    {"1x1 c40 k17", G(2, 40, 6, 11, 17, 1, 1, 0, 0)},
    {"5x5 same c7 k33", G(1, 7, 9, 9, 33, 5, 5, 2, 2)},
    {"1x1 on 3x1", G(1, 5, 3, 1, 3, 1, 1, 0, 0)},
};

/* Largest |got - ref| / bound and the largest |got - ref| / max|ref| over m
 * outputs, the bound of output i being (2^-7 + 2^-16 + n*2^-23) * s[i]. */
static double worst(const float *got, const double *ref, const double *s, int64_t m, int64_t n,
                    double *rel)
{
    const double u = ldexp(1, -7) + ldexp(1, -16) + (double)n * ldexp(1, -23);
    double w = 0, e = 0, big = 1e-30;
    for (int64_t i = 0; i < m; i++) {
        const double d = fabs((double)got[i] - ref[i]), b = u * s[i];
        const double q = b > 0 ? d / b : d > 0 ? INFINITY : 0;
        w = q > w || q != q ? q : w;
        e = d > e ? d : e;
        big = fabs(ref[i]) > big ? fabs(ref[i]) : big;
    }
    *rel = e / big;
    return w;
}

static float *absf(const float *a, int64_t n)
{
    float *b = alloc_f(n);
    for (int64_t i = 0; i < n; i++)
        b[i] = fabsf(a[i]);
    return b;
}

static void check_case(const char *name, const nr_conv_geom *g)
{
    const int64_t nx = (int64_t)g->n * g->c * g->h * g->w, nw = (int64_t)g->k * g->c * g->kh * g->kw;
    const int64_t ny = (int64_t)g->n * g->k * g->oh * g->ow, nt = g->kh * g->kw;
    float *x = alloc_rand(nx), *w = alloc_rand(nw), *b = alloc_rand(g->k), *dy = alloc_rand(ny);
    float *ax = absf(x, nx), *aw = absf(w, nw), *ab = absf(b, g->k), *ady = absf(dy, ny);
    double *ry = malloc((size_t)ny * sizeof(double)), *sy = malloc((size_t)ny * sizeof(double));
    double *rdx = malloc((size_t)nx * sizeof(double)), *sdx = malloc((size_t)nx * sizeof(double));
    double *rdw = malloc((size_t)nw * sizeof(double)), *sdw = malloc((size_t)nw * sizeof(double));
    float *y = alloc_f(ny), *y2 = alloc_f(ny), *dx = alloc_f(nx), *dx2 = alloc_f(nx);
    float *dw = alloc_f(nw), *dw2 = alloc_f(nw);
    float *ws = aligned_alloc(64, (size_t)(nr_conv_bf16_ws_elems(g) * 4 + 64) / 64 * 64);
    if (!ry || !sy || !rdx || !sdx || !rdw || !sdw || !ws) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    char what[160];
    for (int pass = 0; pass < 4; pass++) {
        /* pass 0: forward with bias and ReLU, 1: forward plain, 2: data, 3: weights */
        const int relu = pass == 0;
        const float *bias = pass == 0 ? b : NULL;
        float *got = pass < 2 ? y : pass == 2 ? dx : dw, *again = pass < 2 ? y2 : pass == 2 ? dx2 : dw2;
        double *ref = pass < 2 ? ry : pass == 2 ? rdx : rdw, *s = pass < 2 ? sy : pass == 2 ? sdx : sdw;
        const int64_t m = pass < 2 ? ny : pass == 2 ? nx : nw;
        const int64_t n = pass < 2 ? g->c * nt + (bias != NULL) : pass == 2 ? g->k * nt
                                                                             : (int64_t)g->n * g->oh * g->ow;
        if (pass < 2) {
            ref_conv_fwd(g, x, w, bias, relu, ref);
            ref_conv_fwd(g, ax, aw, bias ? ab : NULL, 0, s);
        } else {
            ref_bwd(g, x, w, dy, rdx, rdw);
            ref_bwd(g, ax, aw, ady, sdx, sdw);
        }
        int rc[2];
        for (int th = 1; th <= 2; th++) {
            nr_par_set_threads(th);
            float *out = th == 1 ? got : again;
            for (int64_t i = 0; i < m; i++)
                out[i] = NAN;
            rc[th - 1] = pass < 2 ? nr_conv_bf16_fwd(g, x, w, bias, relu, out, ws)
                       : pass == 2 ? nr_conv_bf16_bwd_data(g, dy, w, out, ws)
                                   : nr_conv_bf16_bwd_filter(g, dy, x, out, ws);
        }
        static const char *const pn[] = {"fwd bias relu", "fwd", "data", "weights"};
        snprintf(what, sizeof what, "%s %s: taken", name, pn[pass]);
        if (!check(rc[0] == 0 && rc[1] == 0, what, "returned %d, %d", rc[0], rc[1]))
            continue;
        double rel;
        const double q = worst(got, ref, s, m, n, &rel);
        snprintf(what, sizeof what, "%s %s: within the bf16 bound (n = %lld)", name, pn[pass],
                 (long long)n);
        check(q <= 1.0, what, "worst error %.3g of its bound", q);
        /* fp32 gets ~1e-6 of the largest output here; bf16 rounds the inputs
         * at 2^-9, so its error must show (else the bf16 kernel did not run) */
        snprintf(what, sizeof what, "%s %s: error of bf16 size (%.2g of max)", name, pn[pass], rel);
        check(rel > 1e-5 && rel < 1e-2, what, "error %.3g of the largest output", rel);
        snprintf(what, sizeof what, "%s %s: same bits on 1 and 2 threads", name, pn[pass]);
        check(!memcmp(got, again, (size_t)m * sizeof *got), what, "differ");
    }
    free(x); free(w); free(b); free(dy); free(ax); free(aw); free(ab); free(ady);
    free(ry); free(sy); free(rdx); free(sdx); free(rdw); free(sdw);
    free(y); free(y2); free(dx); free(dx2); free(dw); free(dw2); free(ws);
}

/* Refused, output untouched: geometries outside conv_bf16.h, and every pass
 * under the AVX2 level of NETRUN_ISA. */
static void check_refusals(void)
{
    const nr_conv_geom strided = {1, 4, 8, 8, 4, 3, 3, 2, 1, 1, 4, 4, 1, 1};
    const nr_conv_geom dilated = {1, 4, 8, 8, 4, 3, 3, 1, 2, 2, 8, 8, 2, 1};
    const nr_conv_geom same = G(1, 4, 8, 8, 4, 3, 3, 1, 1);
    float x[256], w[144], y[256];
    float ws[4096];
    for (int i = 0; i < 256; i++)
        x[i] = 1, y[i] = 7;
    for (int i = 0; i < 144; i++)
        w[i] = 1;
    int ok = nr_conv_bf16_fwd(&strided, x, w, NULL, 0, y, ws) == -1 &&
             nr_conv_bf16_fwd(&dilated, x, w, NULL, 0, y, ws) == -1 &&
             nr_conv_bf16_ws_elems(&strided) == 0;
    for (int i = 0; i < 256; i++)
        ok &= y[i] == 7;
    check(ok, "strided and dilated convolutions refused, nothing written", "taken");
    nr_conv_set_isa(NR_ISA_AVX2);
    ok = !nr_conv_bf16_available() && nr_conv_bf16_fwd(&same, x, w, NULL, 0, y, ws) == -1 &&
         nr_conv_bf16_bwd_data(&same, x, w, y, ws) == -1 &&
         nr_conv_bf16_bwd_filter(&same, x, x, y, ws) == -1;
    for (int i = 0; i < 256; i++)
        ok &= y[i] == 7;
    check(ok, "avx2 level: every pass refused, nothing written", "taken");
    nr_conv_set_isa(NR_ISA_AVX512);
}

int main(void)
{
    if (nr_conv_set_isa(NR_ISA_AVX512) != NR_ISA_AVX512 || !nr_conv_bf16_available()) {
        printf("skip: this CPU has no AVX512_BF16\n");
        return 77;
    }
    nr_conv_bf16_set_algo(NR_BF16_ALWAYS);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(cases[i].name, &cases[i].g);
    check_refusals();
    nr_conv_bf16_release();
    nr_conv_fast_release();
    nr_par_set_threads(1);
    return check_done();
}
