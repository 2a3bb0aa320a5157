/* test_memops.c — the fast paths of the memory-bound kernels against plain
 * references in double: the vector exponential of lse_isa.h against expf
 * over the float range, the cross-entropy forward and backward and the
 * softmax on every ISA the CPU has (NETRUN_ISA's choices: generic, avx2,
 * avx512) with tails that are not a multiple of the vector, more classes
 * than the kernels buffer, ignored and out-of-range labels, class weights
 * and large logits; that their bits do not depend on the thread count;
 * max-pool and upsampling backward passes (their k = 2 and s = 2 loops).
 * One line per check; exit status 1 on failure. */
#include "conv.h"
#include "lse_isa.h"
#include "parallel.h"

#include "kcheck.h"

/* ---- the exponential ----------------------------------------------------- */

/* Distance in units in the last place between two finite floats. */
static int64_t ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia, lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return la > lb ? la - lb : lb - la;
}

/* x from -104 to 89 in steps of 1/512 (99 000 values, where the arguments
 * of the softmax kernels lie), every 32749th float between them (68 000
 * bit patterns, most of them near 0), then the edges, in calls of
 * odd lengths so that every tail length of the vector runs; a guard after
 * each call's end must stay untouched. */
static void check_exp(const nr_lse_ops *ops)
{
    enum { MAX = 1 << 18 };
    float *x = alloc_f(MAX + 64), *y = alloc_f(MAX + 64);
    int64_t n = 0;
    for (int64_t i = 0; i < 193 * 512 + 1; i++) /* -104 + i/512 up to 89 */
        x[n++] = (float)(-104.0 + i / 512.0);
    for (uint32_t b = 0; b < 0xc2d00000u; b += 32749) { /* +0 to 89, -0 to -104 */
        float v;
        memcpy(&v, &b, 4);
        if (v <= 89.0f && v >= -104.0f)
            x[n++] = v;
    }
    const float edge[] = {-INFINITY, NAN, -87.33654f, -87.3365f, -87.0f, 88.0f, 88.5f, 1e30f, -1e30f, 0.5f, -0.5f};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        x[n++] = edge[i];
    int guard_ok = 1;
    for (int64_t at = 0, len = 1; at < n; at += len, len = len % 37 + 1) {
        int64_t m = at + len < n ? len : n - at;
        y[at + m] = 12345.0f;
        ops->exp(m, x + at, y + at);
        guard_ok &= y[at + m] == 12345.0f;
    }
    int64_t worst = 0, worst_at = 0, bad_low = -1;
    int specials = 1;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i], want = expf(v);
        if (v != v) {
            specials &= y[i] != y[i];
        } else if (v < -87.33654f) {
            if (y[i] != 0.0f)
                bad_low = i;
        } else if (v > 88.0f) {
            specials &= y[i] == y[n - 6] && isfinite(y[i]); /* e^88 */
        } else {
            int64_t u = ulps(y[i], want);
            if (u > worst)
                worst = u, worst_at = i;
        }
    }
    char name[96];
    snprintf(name, sizeof name, "exp %s: within 2 ulp of expf on [-87.33, 88] (%lld points)", ops->name, (long long)n);
    check(worst <= 2, name, "%lld ulp at x = %.9g: got %.9g, expf %.9g", (long long)worst, x[worst_at], y[worst_at],
          expf(x[worst_at]));
    snprintf(name, sizeof name, "exp %s: 0 below -87.33 and at -inf, NaN at NaN, e^88 above 88", ops->name);
    check(bad_low < 0 && specials, name, "x = %.9g gives %.9g", bad_low >= 0 ? x[bad_low] : 0.0f,
          bad_low >= 0 ? y[bad_low] : 0.0f);
    snprintf(name, sizeof name, "exp %s: writes nothing past n, any n", ops->name);
    check(guard_ok, name, "a guard was overwritten");
    printf("# exp %s: largest error %lld ulp\n", ops->name, (long long)worst);
    free(x);
    free(y);
}

/* ---- cross-entropy and softmax ------------------------------------------ */

typedef struct {
    const char *what;
    int n, c, h, w;
    float scale; /* logits uniform in [-scale, scale) */
    int weighted;
    int ignore;
} ce_case;

static const ce_case ce_cases[] = {
    {"21 pixels (a tail in every vector width), 5 classes, weighted", 2, 5, 3, 7, 3.0f, 1, 255},
    {"32x32, 32 classes (the U-Net's head), unweighted", 1, 32, 32, 32, 4.0f, 0, 255},
    {"1089 pixels (a block and a tail), 3 classes, ignore label 1", 2, 3, 33, 33, 2.0f, 1, 1},
    {"70 classes (more than the SIMD kernels buffer), 117 pixels", 2, 70, 9, 13, 5.0f, 1, 255},
    {"one class", 1, 1, 5, 5, 1.0f, 0, 255},
    {"logits up to 1e4 (softmax 0 and 1), 7 classes", 1, 7, 5, 11, 1e4f, 1, 255},
};

/* labels: a class, 1 in 8 the ignore label, 1 in 16 out of range */
static void fill_labels(int32_t *lb, int64_t n, int c, int ignore)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)((frand() + 1.0f) * 1e6f);
        lb[i] = r % 8 == 0 ? ignore : r % 16 == 1 ? (r % 32 == 1 ? -1 : c) : (int32_t)(r / 16 % (uint32_t)c);
    }
}

/* The loss (returned) and dlogits (want) for dloss = 1 in double, and the
 * softmax (sm), straight from the definitions. */
static double ref_ce(const ce_case *k, const float *x, const int32_t *lb, const float *w, double *want, double *sm)
{
    const int64_t hw = (int64_t)k->h * k->w;
    double loss = 0.0, wsum = 0.0;
    for (int b = 0; b < k->n; b++)
        for (int64_t p = 0; p < hw; p++) {
            const float *xp = x + (int64_t)b * k->c * hw + p;
            double m = -INFINITY, z = 0.0;
            for (int ch = 0; ch < k->c; ch++)
                m = fmax(m, xp[ch * hw]);
            for (int ch = 0; ch < k->c; ch++)
                z += exp(xp[ch * hw] - m);
            for (int ch = 0; ch < k->c; ch++)
                sm[(int64_t)b * k->c * hw + ch * hw + p] = exp(xp[ch * hw] - m) / z;
            int32_t y = lb[b * hw + p];
            if (y == k->ignore || y < 0 || y >= k->c)
                continue;
            double wy = w ? w[y] : 1.0;
            loss += wy * (m + log(z) - xp[y * hw]);
            wsum += wy;
        }
    for (int b = 0; b < k->n; b++)
        for (int64_t p = 0; p < hw; p++) {
            int32_t y = lb[b * hw + p];
            int counts = y != k->ignore && y >= 0 && y < k->c;
            double wy = counts ? (w ? w[y] : 1.0) : 0.0;
            for (int ch = 0; ch < k->c; ch++) {
                int64_t i = (int64_t)b * k->c * hw + ch * hw + p;
                want[i] = wy / wsum * (sm[i] - (ch == y));
            }
        }
    return loss / wsum;
}

static void check_array(const char *name, const float *got, const double *want, int64_t n, double tol)
{
    double worst = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (e > worst || e != e)
            worst = e, at = i;
    }
    check(worst <= tol, name, "|err| %.3g at [%lld]: got %.9g want %.9g", worst, (long long)at, got[at], want[at]);
}

/* Loss to 1e-6 relative; gradient entries (at most the largest weight over
 * the weight sum) and softmax entries (at most 1) to 4 float ulps of 1
 * times that bound: a few roundings of values of that size. */
static void check_ce(const ce_case *k, int isa)
{
    const int64_t hw = (int64_t)k->h * k->w, n = (int64_t)k->n * k->c * hw;
    float *x = alloc_f(n), *w = alloc_f(k->c), *d = alloc_f(n), *sm = alloc_f(n);
    int32_t *lb = malloc((size_t)(k->n * hw) * sizeof *lb);
    double *want = malloc((size_t)n * sizeof *want), *want_sm = malloc((size_t)n * sizeof *want_sm);
    if (!lb || !want || !want_sm)
        exit(2);
    for (int64_t i = 0; i < n; i++)
        x[i] = frand() * k->scale;
    float wmax = 1.0f;
    for (int ch = 0; ch < k->c; ch++) {
        w[ch] = 0.25f + 2.0f * (frand() + 1.0f);
        wmax = fmaxf(wmax, w[ch]);
    }
    fill_labels(lb, k->n * hw, k->c, k->ignore);
    const float *wp = k->weighted ? w : NULL;
    double loss = ref_ce(k, x, lb, wp, want, want_sm), wsum = 0.0;
    for (int64_t i = 0; i < k->n * hw; i++)
        if (lb[i] != k->ignore && lb[i] >= 0 && lb[i] < k->c)
            wsum += wp ? wp[lb[i]] : 1.0;

    char name[256];
    snprintf(name, sizeof name, "cross_entropy %s: %s", nr_conv_isa_name(isa), k->what);
    float got = nr_cross_entropy_fwd(k->n, k->c, hw, x, lb, wp, k->ignore);
    check(fabs(got - loss) <= 1e-6 * fmax(1.0, fabs(loss)), name, "got %.9g want %.9g", got, loss);
    snprintf(name, sizeof name, "cross_entropy_bwd %s: %s", nr_conv_isa_name(isa), k->what);
    nr_cross_entropy_bwd(k->n, k->c, hw, 1.0f, x, lb, wp, k->ignore, d);
    check_array(name, d, want, n, 4 * 0x1p-23 * (wp ? wmax : 1.0) / wsum);
    snprintf(name, sizeof name, "softmax %s: %s", nr_conv_isa_name(isa), k->what);
    nr_softmax_c(k->n, k->c, hw, x, sm);
    check_array(name, sm, want_sm, n, 4 * 0x1p-23);

    /* the same bits on 1, 2 and 3 threads */
    float *d1 = alloc_f(n);
    double s1[2], s[2];
    nr_par_set_threads(1);
    nr_cross_entropy_sums(k->n, k->c, hw, x, lb, wp, k->ignore, &s1[0], &s1[1]);
    nr_cross_entropy_bwd(k->n, k->c, hw, 1.0f, x, lb, wp, k->ignore, d1);
    int same = 1;
    for (int t = 2; t <= 3; t++) {
        nr_par_set_threads(t);
        nr_cross_entropy_sums(k->n, k->c, hw, x, lb, wp, k->ignore, &s[0], &s[1]);
        nr_cross_entropy_bwd(k->n, k->c, hw, 1.0f, x, lb, wp, k->ignore, d);
        same &= s[0] == s1[0] && s[1] == s1[1] && !memcmp(d, d1, (size_t)n * sizeof *d);
    }
    snprintf(name, sizeof name, "cross_entropy %s: %s: the same bits on 1, 2 and 3 threads", nr_conv_isa_name(isa),
             k->what);
    check(same, name, "the results differ");
    free(d1);
    free(x);
    free(w);
    free(d);
    free(sm);
    free(lb);
    free(want);
    free(want_sm);
}

/* ---- pooling and upsampling ---------------------------------------------- */

/* maxpool_bwd with k = 2 (its own pass) and k = 3 against the rule written
 * out: in each window the first maximum in row-major order takes dy, a NaN
 * beating any number; ties everywhere (values from {0, 1, 2}), NaNs, odd H
 * and W (a row and a column past the last window: 0). */
static void check_maxpool_bwd(int k, int n, int c, int h, int w)
{
    const int oh = h / k, ow = w / k;
    const int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * c * oh * ow;
    float *x = alloc_f(nx), *dy = alloc_rand(ny), *dx = alloc_rand(nx);
    double *want = calloc((size_t)nx, sizeof *want);
    if (!want)
        exit(2);
    for (int64_t i = 0; i < nx; i++)
        x[i] = i % 29 == 3 ? NAN : (float)((int)((frand() + 1.0f) * 1.5f));
    for (int64_t pl = 0; pl < (int64_t)n * c; pl++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float *xw = x + pl * h * w + (int64_t)oy * k * w + ox * k;
                int64_t best = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        float v = xw[ky * w + kx], m = xw[best];
                        if (v > m || (isnan(v) && !isnan(m)))
                            best = ky * w + kx;
                    }
                want[pl * h * w + (int64_t)oy * k * w + ox * k + best] = dy[pl * oh * ow + (int64_t)oy * ow + ox];
            }
    nr_maxpool_bwd(n, c, h, w, k, dy, x, NULL, dx);
    char name[128];
    snprintf(name, sizeof name, "maxpool_bwd k %d, %dx%dx%dx%d with ties and NaNs", k, n, c, h, w);
    check_array(name, dx, want, nx, 0.0);
    free(x);
    free(dy);
    free(dx);
    free(want);
}

/* upsample_bwd: the s x s sums, for s = 2 (its own pass) and 3 */
static void check_upsample_bwd(int s, int n, int c, int h, int w)
{
    const int64_t nx = (int64_t)n * c * h * w, ny = nx * s * s;
    float *dy = alloc_rand(ny), *dx = alloc_rand(nx);
    double *want = calloc((size_t)nx, sizeof *want);
    if (!want)
        exit(2);
    for (int64_t pl = 0; pl < (int64_t)n * c; pl++)
        for (int y = 0; y < h * s; y++)
            for (int x = 0; x < w * s; x++)
                want[pl * h * w + (int64_t)(y / s) * w + x / s] += dy[pl * ny / (n * c) + (int64_t)y * w * s + x];
    nr_upsample_bwd(n, c, h, w, s, dy, dx);
    char name[128];
    snprintf(name, sizeof name, "upsample_bwd s %d, %dx%dx%dx%d", s, n, c, h, w);
    check_array(name, dx, want, nx, 4 * 0x1p-23 * s * s);
    free(dy);
    free(dx);
    free(want);
}

int main(void)
{
    const int best = nr_conv_set_isa(NR_ISA_AVX512);
    printf("# ISAs: generic..%s\n", nr_conv_isa_name(best));
    for (int isa = NR_ISA_GENERIC; isa <= best; isa++) {
        nr_conv_set_isa(isa);
        check(!strcmp(nr_lse_ops_now()->name, nr_conv_isa_name(isa)), "the lse kernels follow the ISA in use",
              "%s in use, lse kernels %s", nr_conv_isa_name(isa), nr_lse_ops_now()->name);
        check_exp(nr_lse_ops_now());
        for (size_t i = 0; i < sizeof ce_cases / sizeof ce_cases[0]; i++)
            check_ce(&ce_cases[i], isa);
    }
    nr_conv_set_isa(best);
    nr_par_set_threads(2);
    check_maxpool_bwd(2, 2, 3, 7, 9);
    check_maxpool_bwd(2, 1, 2, 16, 35);
    check_maxpool_bwd(3, 2, 2, 8, 7);
    check_upsample_bwd(2, 2, 3, 5, 7);
    check_upsample_bwd(2, 1, 2, 16, 19);
    check_upsample_bwd(3, 1, 2, 4, 5);
    return check_done();
}
