/* test_conv.c — checks the fast convolutions of runtime/cpu/conv.c (and the
 * depthwise path of conv_dw.c, against kernels.h's im2col reference) against a
 * naive double-precision convolution: forward (with and without bias and
 * ReLU), data and weight gradients, for 3x3, 2x2 'same', 1x1 and other
 * kernels, odd sizes, batches, every ISA the CPU has, every algorithm, on 1
 * and 2 threads; that the results do not depend on the threads, that
 * unsupported geometries are refused untouched, and the thread pool.
 * One line per check; exit status 1 on failure. */
#include "conv.h"
#include "parallel.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kcheck.h"

static void *alloc_or_die(size_t bytes)
{
    void *p = malloc(bytes > 0 ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- errors (the reference, in double: kcheck.h) --------------------------- */

/* max |a - r| / max |r| over n, r in double (rd) or, rd NULL, in float (rf) */
static double rel_err_of(const float *a, const double *rd, const float *rf, int64_t n)
{
    double e = 0, m = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        const double r = rd ? rd[i] : rf[i], d = fabs((double)a[i] - r);
        e = d > e || d != d ? d : e;
        m = fabs(r) > m ? fabs(r) : m;
    }
    return e / m;
}
static double rel_err(const float *a, const double *r, int64_t n) { return rel_err_of(a, r, NULL, n); }
/* max |a - r| / s over n: the error of each output relative to the sum s of
 * the magnitudes of the products (and bias) it adds up */
static double abs_err(const float *a, const double *r, const double *s, int64_t n)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - r[i]) / (s[i] > 1e-30 ? s[i] : 1e-30);
        e = d > e || d != d ? d : e;
    }
    return e;
}
static double rel_errf(const float *a, const float *r, int64_t n) { return rel_err_of(a, NULL, r, n); }

/* ---- the cases ----------------------------------------------------------- */

typedef struct {
    const char *name;
    nr_conv_geom g;
} conv_case;

#define G(n, c, h, w, k, kh, kw, s, pt, pl, oh, ow) {n, c, h, w, k, kh, kw, s, pt, pl, oh, ow, 1, 1}
/* with dilation d and groups gr */
#define G2(n, c, h, w, k, kh, kw, s, pt, pl, oh, ow, d, gr) {n, c, h, w, k, kh, kw, s, pt, pl, oh, ow, d, gr}
static const conv_case cases[] = {
    {"3x3 odd 37x53 C3 K5", G(1, 3, 37, 53, 5, 3, 3, 1, 1, 1, 37, 53)},
    {"3x3 C1 K8", G(2, 1, 20, 19, 8, 3, 3, 1, 1, 1, 20, 19)},
    {"3x3 16->16 batch 2", G(2, 16, 32, 32, 16, 3, 3, 1, 1, 1, 32, 32)},
    {"3x3 32->16 9x9 batch 7", G(7, 32, 9, 9, 16, 3, 3, 1, 1, 1, 9, 9)},
    {"3x3 8->8 4x4 batch 32", G(32, 8, 4, 4, 8, 3, 3, 1, 1, 1, 4, 4)},
    {"3x3 64->32 8x8 batch 8", G(8, 64, 8, 8, 32, 3, 3, 1, 1, 1, 8, 8)},
    {"3x3 96->96 6x7 batch 13", G(13, 96, 6, 7, 96, 3, 3, 1, 1, 1, 6, 7)},
    {"3x3 32->32 64x64 batch 2", G(2, 32, 64, 64, 32, 3, 3, 1, 1, 1, 64, 64)},
    {"3x3 pad_t 0, 10 rows -> 8, batch 6", G(6, 4, 10, 12, 4, 3, 3, 1, 0, 1, 8, 12)},
    {"2x2 same 16->8 17x15 batch 3", G(3, 16, 17, 15, 8, 2, 2, 1, 0, 0, 17, 15)},
    {"2x2 same 64->32 16x16 batch 2", G(2, 64, 16, 16, 32, 2, 2, 1, 0, 0, 16, 16)},
    {"1x1 32->32 16x16 batch 2", G(2, 32, 16, 16, 32, 1, 1, 1, 0, 0, 16, 16)},
    {"1x1 5->3 7x9", G(1, 5, 7, 9, 3, 1, 1, 1, 0, 0, 7, 9)},
    {"5x5 same 4->6 13x11", G(1, 4, 13, 11, 6, 5, 5, 1, 2, 2, 13, 11)},
    {"1x3 same 6->5 5x20", G(2, 6, 5, 20, 5, 1, 3, 1, 0, 1, 5, 20)},
    {"3x3 16->16 128x128", G(1, 16, 128, 128, 16, 3, 3, 1, 1, 1, 128, 128)},
    {"3x3 128->64 16x16 batch 2", G(2, 128, 16, 16, 64, 3, 3, 1, 1, 1, 16, 16)},
    {"2x2 same 256->128 8x8 batch 8", G(8, 256, 8, 8, 128, 2, 2, 1, 0, 0, 8, 8)},
    {"3x3 20->13 1x1 batch 3", G(3, 20, 1, 1, 13, 3, 3, 1, 1, 1, 1, 1)},
    {"3x3 24->40 2x2 batch 5", G(5, 24, 2, 2, 40, 3, 3, 1, 1, 1, 2, 2)},
    {"3x3 pad 2,2 (none bottom, right) 7->9 11x13 batch 2", G(2, 7, 11, 13, 9, 3, 3, 1, 2, 2, 11, 13)},
    {"3x3 pad 0,0 rows 14 -> 12, 9->17 14x10", G(1, 9, 14, 10, 17, 3, 3, 1, 0, 0, 12, 10)},
    {"3x3 64->24 39x41 batch 3 (tile rows across blocks)", G(3, 64, 39, 41, 24, 3, 3, 1, 1, 1, 39, 41)},
    {"3x3 256->40 6x5 batch 2", G(2, 256, 6, 5, 40, 3, 3, 1, 1, 1, 6, 5)},
    {"3x3 260->12 4x4 batch 64 (forward: 2D only)", G(64, 260, 4, 4, 12, 3, 3, 1, 1, 1, 4, 4)},
    {"3x3 12->260 9x7 batch 11 (data: 2D only)", G(11, 12, 9, 7, 260, 3, 3, 1, 1, 1, 9, 7)},
};

/* What the fast path must refuse (and leave its output alone). */
static const conv_case refused[] = {
    {"stride 2", G(1, 4, 16, 16, 4, 3, 3, 2, 1, 1, 8, 8)},
    {"valid 3x3 (ow != w)", G(1, 4, 10, 10, 4, 3, 3, 1, 0, 0, 8, 8)},
    {"7x7 (more than 25 taps)", G(1, 2, 12, 12, 2, 7, 7, 1, 3, 3, 12, 12)},
    {"pad_l = kw", G(1, 2, 8, 8, 2, 2, 2, 1, 0, 2, 8, 8)},
    {"512x512 channels (im2col is faster)", G(1, 512, 2, 2, 512, 3, 3, 1, 1, 1, 2, 2)},
    {"dilation 2 (kernels.h)", G2(1, 4, 16, 16, 4, 3, 3, 1, 2, 2, 16, 16, 2, 1)},
    {"groups 2 (kernels.h)", G2(1, 4, 16, 16, 4, 3, 3, 1, 1, 1, 16, 16, 1, 2)},
    {"depthwise (conv_dw.c)", G2(1, 4, 16, 16, 4, 3, 3, 1, 1, 1, 16, 16, 1, 4)},
};

/* Tolerances: float accumulation, and the Winograd transforms' roundoff,
 * relative to the largest output.  F(4x4,3x3) is checked output by output,
 * relative to sum |x||w| + |b| of that output: its roundoff is made in the
 * transformed domain and carried back by the transforms, so it scales with
 * the magnitudes, not with the (possibly cancelling) result.  With |B^T|,
 * |G|, |A^T| the magnitudes of the matrices' elements, a rounding of relative
 * size u (2^-24) in the transformed input, weights or products comes back
 * at most K2 = (max over r, ty, iy of sum_xi |A^T[r][xi]| |G[xi][ty]|
 * |B^T[xi][iy]|)^2 = (32/3)^2 = 114 times sum |x||w|; the worst case of the
 * whole computation, u * K2 * (C + 8) (C: the sum over channels; 8: the
 * transforms' own steps), is 6e-5 at C = 1 and 1.8e-3 at C = 256, but the
 * roundings add up at random: measured over these cases, both ISAs, the
 * worst was 4.8e-6 = 0.7 u K2 (forward, C = 1: few products to average
 * over), 3.4e-6 for the data pass, 1.6e-6 at 256 channels.  The tolerance is
 * 2 u K2 = 1.4e-5; a wrong element is off by O(1). */
static const double tol_direct = 1e-5, tol_wino = 1e-4, tol_wino2 = 2 * 0x1p-24 * (32.0 / 3) * (32.0 / 3);

/* The 2D weight gradient is checked like F(4x4,3x3)'s other passes, weight
 * by weight relative to sum |dy||x|, the largest of its kernel's 9 taps (a
 * tap that reads no input, as on 1x1 images, sums to 0, but its transformed
 * elements are shared with the other taps and carry their roundoff; with
 * clang's contractions it came out 4e-8, not 0): its transforms are the same
 * three matrices (dw = G^T (sum over tiles of (A t A^T) (B^T d B)) G), so a
 * rounding comes back at most K2 = 114 times, but its sums run over the T
 * tiles of the batch (N * ceil(OH/4) * ceil(W/4), 3 to 1024 here) instead
 * of the channels: the worst case is u * K2 * (T + 8), 7e-3 at T = 1024.
 * With roundings of random sign, the error of a sum of T terms grows as
 * sqrt(T) times a partial sum, itself sqrt(T) times a term, while sum |dy||x|
 * grows as T: relative to it, about u * K2 whatever T.  Measured over these
 * cases, both ISAs, gcc and clang: at most 1.3e-6 = 0.19 u K2 (256 channels
 * of x on 6x5 images), 1.0e-7 on 128x128 (T = 1024).  The tolerance is
 * that of the other passes, 2 u K2; a wrong tap or tile is off by O(1). */

/* A case's data and its reference results, computed once. */
typedef struct {
    const conv_case *cs;
    int64_t nx, nw, ny;
    float *x, *w, *b, *dy;      /* (N,C,H,W) (K,C,KH,KW) (K) (N,K,OH,OW) */
    double *ry[3];              /* forward: bias + ReLU, bias, neither */
    double *rdx, *rdw;
    double *sy, *sdx, *sdw;     /* sum |x||w| + |b| per output, sum |dy||w| per dx, the
                                 * largest sum |dy||x| of the taps of each kernel; 3x3 only */
    float *out, *ws;
} case_data;

/* |a| (n) into a new array */
static float *alloc_abs(const float *a, int64_t n)
{
    float *p = alloc_or_die((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        p[i] = fabsf(a[i]);
    return p;
}

/* The magnitude sums sy, sdx of d's case: the reference on |x|, |w|, |b|, |dy|. */
static void case_data_sums(case_data *d)
{
    const nr_conv_geom *g = &d->cs->g;
    float *ax = alloc_abs(d->x, d->nx), *aw = alloc_abs(d->w, d->nw);
    float *ab = alloc_abs(d->b, g->k), *ady = alloc_abs(d->dy, d->ny);
    d->sdw = alloc_or_die((size_t)d->nw * sizeof(double));
    d->sy = alloc_or_die((size_t)d->ny * sizeof(double));
    d->sdx = alloc_or_die((size_t)d->nx * sizeof(double));
    ref_conv_fwd(g, ax, aw, ab, 0, d->sy);
    ref_bwd(g, ax, aw, ady, d->sdx, d->sdw);
    for (int64_t i = 0; i < d->nw; i += 9) {
        double m = 0;
        for (int t = 0; t < 9; t++)
            m = d->sdw[i + t] > m ? d->sdw[i + t] : m;
        for (int t = 0; t < 9; t++)
            d->sdw[i + t] = m;
    }
    free(ax); free(aw); free(ab); free(ady);
}

static void case_data_init(case_data *d, const conv_case *cs)
{
    const nr_conv_geom *g = &cs->g;
    d->cs = cs;
    d->nx = (int64_t)g->n * g->c * g->h * g->w;
    d->nw = (int64_t)g->k * g->c * g->kh * g->kw;
    d->ny = (int64_t)g->n * g->k * g->oh * g->ow;
    d->x = alloc_rand(d->nx);
    d->w = alloc_rand(d->nw);
    d->b = alloc_rand(g->k);
    d->dy = alloc_rand(d->ny);
    for (int mode = 0; mode < 3; mode++) {
        d->ry[mode] = alloc_or_die((size_t)d->ny * sizeof(double));
        ref_conv_fwd(g, d->x, d->w, mode < 2 ? d->b : NULL, mode == 0, d->ry[mode]);
    }
    d->rdx = alloc_or_die((size_t)d->nx * sizeof(double));
    d->rdw = alloc_or_die((size_t)d->nw * sizeof(double));
    ref_bwd(g, d->x, d->w, d->dy, d->rdx, d->rdw);
    d->sy = d->sdx = d->sdw = NULL;
    if (g->kh == 3 && g->kw == 3)
        case_data_sums(d);
    const int64_t m = d->nx > d->ny ? d->nx : d->ny;
    d->out = alloc_or_die((size_t)(m > d->nw ? m : d->nw) * sizeof(float));
    d->ws = alloc_or_die((size_t)nr_conv_fast_ws_elems(g) * sizeof(float));
}

static void case_data_free(case_data *d)
{
    free(d->x); free(d->w); free(d->b); free(d->dy);
    for (int mode = 0; mode < 3; mode++)
        free(d->ry[mode]);
    free(d->rdx); free(d->rdw); free(d->sy); free(d->sdx); free(d->sdw); free(d->out);
    free(d->ws);
}

static const char *algo_name(int algo)
{
    return algo == NR_CONV_WINOGRAD2D ? "winograd 2d" : algo == NR_CONV_WINOGRAD ? "winograd"
         : algo == NR_CONV_DIRECT ? "direct" : "auto";
}

/* Whether the forced algorithm takes pass p (0 forward, 1 data, 2 weights)
 * of the 3x3 geometry g (conv.h): F(4,3) reads at most 256 channels (and 8
 * or more of x for the weights); F(4x4,3x3) also takes the forward and data
 * passes beyond that when an image has 64 output tiles of 4x4 or more, and the
 * weights with 8 channels of x or more (beyond 512 x 512 pairs, with 64
 * tiles too). */
static int wino_takes(const nr_conv_geom *g, int algo, int p)
{
    const int wino1 = p == 0 ? g->c <= 256 : p == 1 ? g->k <= 256
                    : g->c >= 8 && g->c <= 256 && g->k <= 256;
    const int64_t tiles = (int64_t)((g->h + 3) / 4) * ((g->w + 3) / 4);   /* per image */
    if (algo == NR_CONV_WINOGRAD2D)
        return p < 2 ? wino1 || tiles >= 64
                     : g->c >= 8 && ((int64_t)g->c * g->k < 512 * 512 || tiles >= 64);
    return algo != NR_CONV_WINOGRAD || wino1;
}

/* Checks pass p's result (rc, error e) against tol, or that it was refused
 * when the algorithm does not take it. */
static void check_pass(const case_data *d, int algo, int p, int rc, double e, double tol,
                       const char *name)
{
    if (!wino_takes(&d->cs->g, algo, p))
        check(rc == -1, name, "rc %d, expected -1 (not taken by %s)", rc, algo_name(algo));
    else
        check(rc == 0 && e <= tol, name, "rc %d, error %.3g > %.3g", rc, e, tol);
}

/* Every pass of d's case with the given ISA, threads and algorithm, against
 * the reference.  Outputs start as NaN, so each element must be written. */
static void run_case(const case_data *d, int isa, int threads, int algo)
{
    const nr_conv_geom *g = &d->cs->g;
    const int wino = algo == NR_CONV_WINOGRAD, wino2 = algo == NR_CONV_WINOGRAD2D;
    const double tol = wino2 ? tol_wino2 : wino ? tol_wino : tol_direct;
    char name[256], how[96];
    nr_conv_set_isa(isa);
    nr_par_set_threads(threads);
    nr_conv_set_algo(algo);
    snprintf(how, sizeof how, "%s, %s, %d thread%s", nr_conv_isa_name(isa), algo_name(algo),
             threads, threads > 1 ? "s" : "");
    for (int mode = 0; mode < 3; mode++) {   /* bias + ReLU, bias, neither */
        const float *bias = mode < 2 ? d->b : NULL;
        const int relu = mode == 0;
        memset(d->out, 0xff, (size_t)d->ny * sizeof(float));
        const int rc = nr_conv_fast_fwd(g, d->x, d->w, bias, relu, d->out, d->ws);
        const double e = rc ? 1 : wino2 ? abs_err(d->out, d->ry[mode], d->sy, d->ny)
                                         : rel_err(d->out, d->ry[mode], d->ny);
        snprintf(name, sizeof name, "%s: forward%s%s, %s", d->cs->name, bias ? " + bias" : "",
                 relu ? " + relu" : "", how);
        check_pass(d, algo, 0, rc, e, tol, name);
    }
    memset(d->out, 0xff, (size_t)d->nx * sizeof(float));
    int rc = nr_conv_fast_bwd_data(g, d->dy, d->w, d->out, d->ws);
    double e = rc ? 1 : wino2 ? abs_err(d->out, d->rdx, d->sdx, d->nx)
                              : rel_err(d->out, d->rdx, d->nx);
    snprintf(name, sizeof name, "%s: data gradient, %s", d->cs->name, how);
    check_pass(d, algo, 1, rc, e, tol, name);
    memset(d->out, 0xff, (size_t)d->nw * sizeof(float));
    rc = nr_conv_fast_bwd_filter(g, d->dy, d->x, d->out, d->ws);
    e = rc ? 1 : wino2 ? abs_err(d->out, d->rdw, d->sdw, d->nw) : rel_err(d->out, d->rdw, d->nw);
    snprintf(name, sizeof name, "%s: weight gradient, %s", d->cs->name, how);
    check_pass(d, algo, 2, rc, e, tol, name);
}

/* The three passes give the same bits on 1 and on 2 threads (fixed task
 * boundaries, partial sums added in a fixed order). */
static void run_determinism(const conv_case *cs, int algo)
{
    const nr_conv_geom *g = &cs->g;
    const int64_t nx = (int64_t)g->n * g->c * g->h * g->w;
    const int64_t nw = (int64_t)g->k * g->c * g->kh * g->kw;
    const int64_t ny = (int64_t)g->n * g->k * g->oh * g->ow;
    const int64_t n_out = ny + nx + nw;
    float *x = alloc_rand(nx), *w = alloc_rand(nw), *b = alloc_rand(g->k), *dy = alloc_rand(ny);
    float *ws = alloc_or_die((size_t)nr_conv_fast_ws_elems(g) * sizeof(float));
    float *out[2];
    int rc = 0;
    nr_conv_set_algo(algo);
    for (int t = 0; t < 2; t++) {
        out[t] = alloc_or_die((size_t)n_out * sizeof(float));
        nr_par_set_threads(t + 1);
        rc |= nr_conv_fast_fwd(g, x, w, b, 1, out[t], ws);
        rc |= nr_conv_fast_bwd_data(g, dy, w, out[t] + ny, ws);
        rc |= nr_conv_fast_bwd_filter(g, dy, x, out[t] + ny + nx, ws);
    }
    char name[256];
    snprintf(name, sizeof name, "%s: same bits on 1 and 2 threads, %s", cs->name,
             algo_name(algo));
    check(rc == 0 && !memcmp(out[0], out[1], (size_t)n_out * sizeof(float)), name,
          rc ? "a pass refused" : "results differ");
    free(x); free(w); free(b); free(dy); free(ws); free(out[0]); free(out[1]);
}

/* The pool (parallel.c) runs every task of every job exactly once, with tid
 * in range, over many small back-to-back jobs (where late workers meet new
 * jobs) and after idle gaps (where workers sleep). */
typedef struct {
    int64_t n;
    int threads;
    int hits[64];
    int bad_tid;
} pool_job;

static void pool_task(void *ctx, int64_t task, int tid)
{
    pool_job *j = ctx;
    __atomic_fetch_add(&j->hits[task], 1, __ATOMIC_RELAXED);
    if (tid < 0 || tid >= j->threads)
        __atomic_store_n(&j->bad_tid, 1, __ATOMIC_RELAXED);
}

static void test_pool(int threads)
{
    nr_par_set_threads(threads);
    int bad = 0;
    for (int it = 0; it < 20000; it++) {
        pool_job j = {.n = 1 + (int64_t)((frand() + 1.0f) * 31.9f), .threads = threads};
        if (it % 2000 == 0) {
            struct timespec gap = {0, 200000};   /* 0.2 ms: the workers go to sleep */
            nanosleep(&gap, NULL);
        }
        nr_par_for(j.n, pool_task, &j);
        for (int64_t t = 0; t < j.n; t++)
            bad |= j.hits[t] != 1;
        bad |= j.bad_tid;
    }
    char name[64];
    snprintf(name, sizeof name, "pool: 20000 jobs on %d threads", threads);
    check(!bad && nr_par_threads() == threads, name, "a task ran twice, never, or with a bad tid");
}

/* Every pass refuses cs and writes nothing; when the geometry itself is
 * unsupported (geometry_refused), it needs no workspace either. */
static void run_refused(const conv_case *cs, int geometry_refused)
{
    const nr_conv_geom *g = &cs->g;
    float buf[64], ws[1];
    int rc[3];
    memset(buf, 0, sizeof buf);
    rc[0] = nr_conv_fast_fwd(g, buf, buf, NULL, 0, buf, ws);
    rc[1] = nr_conv_fast_bwd_data(g, buf, buf, buf, ws);
    rc[2] = nr_conv_fast_bwd_filter(g, buf, buf, buf, ws);
    int untouched = 1;
    for (int i = 0; i < 64; i++)
        untouched &= buf[i] == 0.0f;
    char name[256];
    snprintf(name, sizeof name, "refused: %s", cs->name);
    check(rc[0] == -1 && rc[1] == -1 && rc[2] == -1 && untouched &&
              (!geometry_refused || nr_conv_fast_ws_elems(g) == 0),
          name, "rc %d %d %d, output %s", rc[0], rc[1], rc[2], untouched ? "kept" : "written");
}

/* ---- the depthwise path (conv_dw.c) against the im2col reference -------- */

static const conv_case depthwise[] = {
    {"depthwise 3x3 same C16 32x32 batch 2", G2(2, 16, 32, 32, 16, 3, 3, 1, 1, 1, 32, 32, 1, 16)},
    {"depthwise 3x3 stride 2 dilation 2 same C8 17x15 batch 3", G2(3, 8, 17, 15, 8, 3, 3, 2, 2, 2, 9, 8, 2, 8)},
    {"depthwise 5x5 valid C5 12x11", G2(1, 5, 12, 11, 5, 5, 5, 1, 0, 0, 8, 7, 1, 5)},
    {"depthwise 1x3 same C4 6x20 batch 2", G2(2, 4, 6, 20, 4, 1, 3, 1, 0, 1, 6, 20, 1, 4)},
    {"depthwise 3x3 dilation 3 same C32 24x24", G2(1, 32, 24, 24, 32, 3, 3, 1, 3, 3, 24, 24, 3, 32)},
};

/* Forward (bias + ReLU, and no bias), data and weight gradients of each
 * depthwise case against nr_conv2d_* of kernels.h (groups = C: one sgemm per
 * channel), on 1 and 2 threads, and the same bits on both. */
static void test_depthwise(void)
{
    for (size_t i = 0; i < sizeof depthwise / sizeof depthwise[0]; i++) {
        const nr_conv_geom *g = &depthwise[i].g;
        const int64_t nx = (int64_t)g->n * g->c * g->h * g->w, nw = (int64_t)g->k * g->kh * g->kw,
                      ny = (int64_t)g->n * g->k * g->oh * g->ow;
        float *x = alloc_rand(nx), *w = alloc_rand(nw), *b = alloc_rand(g->k), *dy = alloc_rand(ny);
        float *ws = alloc_or_die((size_t)nr_conv_ws_elems(g) * sizeof(float));
        float *ry = alloc_or_die((size_t)ny * 4), *ry0 = alloc_or_die((size_t)ny * 4);
        float *rdx = alloc_or_die((size_t)nx * 4), *rdw = alloc_or_die((size_t)nw * 4);
        nr_conv2d_fwd(g, x, w, b, ry, ws);
        for (int64_t j = 0; j < ny; j++)
            ry[j] = ry[j] > 0 ? ry[j] : 0;
        nr_conv2d_fwd(g, x, w, NULL, ry0, ws);
        nr_conv2d_bwd_data(g, dy, w, rdx, ws);
        nr_conv2d_bwd_filter(g, dy, x, rdw, ws);
        float *out[2][4];
        for (int t = 0; t < 2; t++) {
            nr_par_set_threads(t + 1);
            out[t][0] = alloc_or_die((size_t)ny * 4);
            out[t][1] = alloc_or_die((size_t)ny * 4);
            out[t][2] = alloc_or_die((size_t)nx * 4);
            out[t][3] = alloc_or_die((size_t)nw * 4);
            int rc = nr_conv_dw_fwd(g, x, w, b, 1, out[t][0]) | nr_conv_dw_fwd(g, x, w, NULL, 0, out[t][1]) |
                     nr_conv_dw_bwd_data(g, dy, w, out[t][2]) | nr_conv_dw_bwd_filter(g, dy, x, out[t][3]);
            double e[4] = {rel_errf(out[t][0], ry, ny), rel_errf(out[t][1], ry0, ny),
                           rel_errf(out[t][2], rdx, nx), rel_errf(out[t][3], rdw, nw)};
            char name[256];
            snprintf(name, sizeof name, "%s, %d thread%s: fwd (bias+relu, plain), data, filter", depthwise[i].name,
                     t + 1, t ? "s" : "");
            check(rc == 0 && e[0] <= tol_direct && e[1] <= tol_direct && e[2] <= tol_direct && e[3] <= tol_direct,
                  name, "rc %d, errors %.3g %.3g %.3g %.3g", rc, e[0], e[1], e[2], e[3]);
        }
        int same = !memcmp(out[0][0], out[1][0], (size_t)ny * 4) && !memcmp(out[0][1], out[1][1], (size_t)ny * 4) &&
                   !memcmp(out[0][2], out[1][2], (size_t)nx * 4) && !memcmp(out[0][3], out[1][3], (size_t)nw * 4);
        char name[256];
        snprintf(name, sizeof name, "%s: the same bits on 1 and 2 threads", depthwise[i].name);
        check(same, name, "results differ");
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 4; k++)
                free(out[t][k]);
        free(x), free(w), free(b), free(dy), free(ws), free(ry), free(ry0), free(rdx), free(rdw);
    }
    /* not depthwise: refused, nothing written */
    float buf[64] = {0};
    int rc = nr_conv_dw_fwd(&cases[2].g, buf, buf, NULL, 0, buf) + nr_conv_dw_bwd_data(&cases[2].g, buf, buf, buf) +
             nr_conv_dw_bwd_filter(&cases[2].g, buf, buf, buf);
    int untouched = 1;
    for (int i = 0; i < 64; i++)
        untouched &= buf[i] == 0.0f;
    check(rc == -3 && untouched, "depthwise path refuses groups = 1", "rc %d", rc);
}

/* F(4x4,3x3) beyond the 512 x 512 channel pairs that the other fast paths
 * refuse: the forward pass (bias + ReLU), the data and weight gradients
 * against kernels.h's im2col + sgemm (too big for the double reference), on
 * 1 and 2 threads, under AUTO (which picks it there) and forced. */
static void test_wino2_big(void)
{
    const nr_conv_geom g = G(1, 512, 32, 32, 520, 3, 3, 1, 1, 1, 32, 32);   /* 64 tiles */
    const int64_t nx = (int64_t)g.n * g.c * g.h * g.w, nw = (int64_t)g.k * g.c * 9,
                  ny = (int64_t)g.n * g.k * g.oh * g.ow;
    float *x = alloc_rand(nx), *w = alloc_rand(nw), *b = alloc_rand(g.k), *dy = alloc_rand(ny);
    const int64_t wsn = nr_conv_ws_elems(&g) > nr_conv_fast_ws_elems(&g) ? nr_conv_ws_elems(&g)
                                                                           : nr_conv_fast_ws_elems(&g);
    float *ws = alloc_or_die((size_t)wsn * sizeof(float));
    float *ry = alloc_or_die((size_t)ny * 4), *rdx = alloc_or_die((size_t)nx * 4);
    float *y = alloc_or_die((size_t)ny * 4), *dx = alloc_or_die((size_t)nx * 4);
    float *rdw = alloc_or_die((size_t)nw * 4), *dw = alloc_or_die((size_t)nw * 4);
    nr_conv2d_fwd(&g, x, w, b, ry, ws);
    for (int64_t j = 0; j < ny; j++)
        ry[j] = ry[j] > 0 ? ry[j] : 0;
    nr_conv2d_bwd_data(&g, dy, w, rdx, ws);
    nr_conv2d_bwd_filter(&g, dy, x, rdw, ws);
    for (int t = 1; t <= 2; t++)
        for (int algo = NR_CONV_AUTO; algo <= NR_CONV_WINOGRAD2D; algo += NR_CONV_WINOGRAD2D) {
            nr_par_set_threads(t);
            nr_conv_set_algo(algo);
            memset(y, 0xff, (size_t)ny * 4);
            memset(dx, 0xff, (size_t)nx * 4);
            memset(dw, 0xff, (size_t)nw * 4);
            const int rc = nr_conv_fast_fwd(&g, x, w, b, 1, y, ws) |
                           nr_conv_fast_bwd_data(&g, dy, w, dx, ws) |
                           nr_conv_fast_bwd_filter(&g, dy, x, dw, ws);
            const double e[3] = {rel_errf(y, ry, ny), rel_errf(dx, rdx, nx), rel_errf(dw, rdw, nw)};
            char name[160];
            snprintf(name, sizeof name, "3x3 512->520 8x8 batch 16 (2D only), %s, %d thread%s: "
                     "forward + bias + relu, data, weights, against im2col", algo_name(algo), t,
                     t > 1 ? "s" : "");
            check(rc == 0 && e[0] <= tol_wino && e[1] <= tol_wino && e[2] <= tol_wino, name,
                  "rc %d, errors %.3g %.3g %.3g", rc, e[0], e[1], e[2]);
        }
    nr_conv_set_algo(NR_CONV_DIRECT);
    check(nr_conv_fast_fwd(&g, x, w, b, 1, y, ws) == -1, "3x3 512->520: direct refuses it",
          "not refused");
    nr_conv_set_algo(NR_CONV_AUTO);
    free(x), free(w), free(b), free(dy), free(ws), free(ry), free(rdx), free(y), free(dx);
    free(rdw), free(dw);
}

int main(void)
{
    const int best = nr_conv_set_isa(NR_ISA_AVX512);
    if (best == NR_ISA_GENERIC) {
        printf("no AVX2 on this CPU: the fast convolutions are off\n");
        return 77;   /* meson: skipped */
    }
    test_pool(2);
    test_pool(3);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        case_data d;
        case_data_init(&d, &cases[i]);
        for (int isa = NR_ISA_AVX2; isa <= best; isa++)
            for (int threads = 1; threads <= 2; threads++) {
                run_case(&d, isa, threads, NR_CONV_DIRECT);
                if (cases[i].g.kh == 3 && cases[i].g.kw == 3) {
                    run_case(&d, isa, threads, NR_CONV_WINOGRAD);
                    /* on 2 threads F(4x4,3x3) gives 1 thread's bits: run_determinism */
                    if (threads == 1)
                        run_case(&d, isa, threads, NR_CONV_WINOGRAD2D);
                }
            }
        case_data_free(&d);
    }
    nr_conv_set_isa(best);
    run_determinism(&cases[7], NR_CONV_DIRECT);    /* 32->32 64x64: many tasks and ranges */
    run_determinism(&cases[7], NR_CONV_WINOGRAD);
    run_determinism(&cases[22], NR_CONV_WINOGRAD2D);   /* 64->24 39x41 batch 3: blocks */
    run_determinism(&cases[15], NR_CONV_WINOGRAD2D);   /* 16->16 128x128: weight ranges */
    run_determinism(&cases[6], NR_CONV_DIRECT);    /* 96->96: channel groups */
    run_determinism(&cases[0], NR_CONV_DIRECT);    /* C = 3: positions in the lanes */
    nr_conv_set_algo(NR_CONV_AUTO);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        run_refused(&refused[i], 1);
    test_depthwise();
    test_wino2_big();
    nr_conv_set_isa(NR_ISA_GENERIC);
    run_refused(&cases[2], 0);   /* generic: no fast path at all */
    nr_conv_fast_release();
    nr_par_set_threads(1);
    return check_done();
}
