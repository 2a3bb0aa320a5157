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
 * A small network (two 3x3 convolutions and a ReLU): its gradients within
 * the bounds propagated from those (check_network says how).
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
    {"3x3 same 8x8 c64 k64", G(1, 64, 8, 8, 64, 3, 3, 1, 1)},
    {"3x3 same 2 ranges", G(2, 4, 64, 64, 20, 3, 3, 1, 1)},
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
        } else if (pass == 2) {   /* both gradients, and their bounds' sums */
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

/* ---- a small network's gradients ----------------------------------------- */

static double *dalloc(int64_t n)
{
    double *p = calloc((size_t)n, sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static float *to_f(const double *a, int64_t n)
{
    float *b = alloc_f(n);
    for (int64_t i = 0; i < n; i++)
        b[i] = (float)(a[i] * (1 + ldexp(1, -20)));   /* rounded up: a bound stays a bound */
    return b;
}

static double unit(int64_t n) { return ldexp(1, -7) + ldexp(1, -16) + (double)n * ldexp(1, -23); }

/* L = sum(r * conv_b(relu(conv_a(x)))), both 3x3 'same', every gradient
 * (of b, a and x) by the bf16 kernels against the double-precision
 * definition, within a bound propagated from each kernel's bound above (to
 * first order: each kernel's own bound on the inputs it got, plus the errors
 * of those inputs carried through it by a convolution of their bounds with
 * the other factor's magnitudes):
 *   h = relu(conv_a(x)):   e_h = u_a * conv(|x|, |a|)
 *   g_b = filt(r, h):      u_b' * filt(|r|, |h^|) + filt(|r|, e_h)
 *   d = data(r, b):        e_d = u_b * data(|r|, |b|)
 *   dh = d * [h > 0]:      e_d where the mask is certain (|h_exact| > e_h),
 *                          else |d^| + e_d (bf16 may take the other side)
 *   g_a = filt(dh, x):     u_a' * filt(|dh^|, |x|) + filt(e_dh, |x|)
 *   dx = data(dh, a):      u_a'' * data(|dh^|, |a|) + data(e_dh, |a|)
 * with u_k = 2^-7 + 2^-16 + n*2^-23 for each pass's reduction length n. */
static void check_network(void)
{
    const nr_conv_geom ga = G(2, 8, 10, 12, 16, 3, 3, 1, 1), gb = G(2, 16, 10, 12, 12, 3, 3, 1, 1);
    const int64_t nx = 2 * 8 * 120, nh = 2 * 16 * 120, ny = 2 * 12 * 120;
    const int64_t na = 16 * 8 * 9, nb = 12 * 16 * 9;
    float *x = alloc_rand(nx), *a = alloc_rand(na), *b = alloc_rand(nb), *r = alloc_rand(ny);
    float *ax = absf(x, nx), *aa = absf(a, na), *ab = absf(b, nb), *ar = absf(r, ny);
    int64_t wsn = nr_conv_bf16_ws_elems(&ga) > nr_conv_bf16_ws_elems(&gb) ? nr_conv_bf16_ws_elems(&ga)
                                                                          : nr_conv_bf16_ws_elems(&gb);
    float *ws = aligned_alloc(64, (size_t)(wsn * 4 + 64) / 64 * 64);
    /* bf16 */
    float *h = alloc_f(nh), *d = alloc_f(nh), *gbw = alloc_f(nb), *gaw = alloc_f(na), *dx = alloc_f(nx);
    int rc = nr_conv_bf16_fwd(&ga, x, a, NULL, 1, h, ws);
    rc |= nr_conv_bf16_bwd_filter(&gb, r, h, gbw, ws);
    rc |= nr_conv_bf16_bwd_data(&gb, r, b, d, ws);
    for (int64_t i = 0; i < nh; i++)
        d[i] = h[i] > 0 ? d[i] : 0;
    rc |= nr_conv_bf16_bwd_filter(&ga, d, x, gaw, ws);
    rc |= nr_conv_bf16_bwd_data(&ga, d, a, dx, ws);
    if (!check(rc == 0, "network: every pass taken in bf16", "a pass refused")) {
        free(x); free(a); free(b); free(r); free(ax); free(aa); free(ab); free(ar); free(ws);
        free(h); free(d); free(gbw); free(gaw); free(dx);
        return;
    }
    /* the exact network, in double (h and dh rounded to float to feed the
     * reference convolutions: 2^-24 relative, far inside the bounds) */
    double *hp = dalloc(nh), *dp = dalloc(nh), *tmp = dalloc(nx > nh ? nx : nh);
    double *rgb = dalloc(nb), *rga = dalloc(na), *rdx = dalloc(nx);
    ref_conv_fwd(&ga, x, a, NULL, 0, hp);
    float *hf = alloc_f(nh);
    for (int64_t i = 0; i < nh; i++)
        hf[i] = hp[i] > 0 ? (float)hp[i] : 0;
    ref_bwd(&gb, hf, b, r, dp, rgb);
    float *dhf = alloc_f(nh);
    for (int64_t i = 0; i < nh; i++)
        dhf[i] = hp[i] > 0 ? (float)dp[i] : 0;
    ref_bwd(&ga, x, a, dhf, rdx, rga);
    /* the bounds */
    double *eh = dalloc(nh), *ed = dalloc(nh), *bgb = dalloc(nb), *bga = dalloc(na), *bdx = dalloc(nx);
    double *t1 = dalloc(nb > na ? nb : na), *t2 = dalloc(nx > nh ? nx : nh);
    ref_conv_fwd(&ga, ax, aa, NULL, 0, eh);
    for (int64_t i = 0; i < nh; i++)
        eh[i] *= unit(8 * 9);
    float *ehf = to_f(eh, nh), *ah = absf(h, nh);
    ref_bwd(&gb, ah, ab, ar, ed, bgb);           /* ed = data(|r|,|b|), bgb = filt(|r|,|h^|) */
    ref_bwd(&gb, ehf, ab, ar, tmp, t1);          /* t1 = filt(|r|, e_h) */
    for (int64_t i = 0; i < nb; i++)
        bgb[i] = unit(ny / 12) * bgb[i] + t1[i];
    float *edh = alloc_f(nh), *adh = absf(d, nh);
    for (int64_t i = 0; i < nh; i++) {
        ed[i] *= unit(12 * 9);
        edh[i] = (float)((fabs(hp[i]) > eh[i] ? ed[i] : fabs((double)d[i]) + ed[i]) * (1 + ldexp(1, -20)));
    }
    ref_bwd(&ga, ax, aa, adh, bdx, bga);         /* data(|dh^|,|a|), filt(|dh^|,|x|) */
    ref_bwd(&ga, ax, aa, edh, t2, t1);           /* data(e_dh,|a|), filt(e_dh,|x|) */
    for (int64_t i = 0; i < na; i++)
        bga[i] = unit(nh / 16) * bga[i] + t1[i];
    for (int64_t i = 0; i < nx; i++)
        bdx[i] = unit(16 * 9) * bdx[i] + t2[i];
    const struct { const char *what; const float *got; const double *ref, *bound; int64_t n; } g[] = {
        {"network: gradient of b (3x3, 16 -> 12)", gbw, rgb, bgb, nb},
        {"network: gradient of a through b and the ReLU (3x3, 8 -> 16)", gaw, rga, bga, na},
        {"network: gradient of x", dx, rdx, bdx, nx},
    };
    for (int k = 0; k < 3; k++) {
        double worst = 0;
        for (int64_t i = 0; i < g[k].n; i++) {
            const double q = fabs(g[k].got[i] - g[k].ref[i]) / g[k].bound[i];
            worst = q > worst || q != q ? q : worst;
        }
        char what[160];
        snprintf(what, sizeof what, "%s within its bound (worst %.2g of it)", g[k].what, worst);
        check(worst <= 1, what, "worst error %.3g of its bound", worst);
    }
    free(x); free(a); free(b); free(r); free(ax); free(aa); free(ab); free(ar); free(ws);
    free(h); free(d); free(gbw); free(gaw); free(dx); free(hp); free(dp); free(tmp);
    free(rgb); free(rga); free(rdx); free(hf); free(dhf); free(eh); free(ed); free(bgb);
    free(bga); free(bdx); free(t1); free(t2); free(ehf); free(ah); free(edh); free(adh);
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
    check_network();
    check_refusals();
    nr_conv_fast_release();
    nr_par_set_threads(1);
    return check_done();
}
