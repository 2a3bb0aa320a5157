/* kcheck.h — what the kernel tests share besides check.h's one line per
 * check: deterministic random data, error measures, central finite
 * differences, the optimizers' reference step and the reference
 * convolution.  Included by test_kernels.c, test_kernels_ext.c,
 * test_kernels_optim.c, test_conv.c, test_conv_bf16.c, test_memops.c and test_ops.c. */
#ifndef KCHECK_H
#define KCHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels.h"

/* ---- random data ------------------------------------------------------- */

static uint64_t rng_state = 12345;

/* Uniform in [-1, 1), from a fixed-seed xorshift64*. */
static __attribute__((unused)) float frand(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return (float)(r >> 40) * 0x1p-23f - 1.0f;
}

static __attribute__((unused)) float *alloc_f(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static __attribute__((unused)) float *alloc_rand(int64_t n)
{
    float *p = alloc_f(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static __attribute__((unused)) double dot(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Largest |a-b| / max(floor, |b|) over n entries; *at gets its index. */
static __attribute__((unused)) double max_err(const float *a, const float *b, int64_t n, double floor,
                      int64_t *at)
{
    double worst = 0.0;
    *at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(floor, fabs((double)b[i]));
        if (d > worst || d != d) {
            worst = d;
            *at = i;
        }
    }
    return worst;
}

/* Checks got (n) against want (n) entry by entry, relative to max(floor,|want|). */
static __attribute__((unused)) void check_close(const char *name, const float *got, const float *want,
                        int64_t n, double floor, double tol)
{
    int64_t at;
    double e = max_err(got, want, n, floor, &at);
    check(e <= tol, name, "err %.3g at [%lld]: got %.9g want %.9g", e,
          (long long)at, n ? got[at] : 0.0f, n ? want[at] : 0.0f);
}

/* ---- finite differences ----------------------------------------------- */

/* A forward pass writing out (n_out) from inputs captured in ctx. */
typedef void (*fwd_fn)(void *ctx, float *out);

/* Compares analytic (n) with central differences of L = sum(out * r) with
 * respect to param (n), which fwd reads through ctx.  At most ~300 entries
 * are probed (evenly spaced).  Error is |a - num| / max(floor, |num|). */
static __attribute__((unused)) void fd_check(const char *name, fwd_fn fwd, void *ctx, float *param, int64_t n,
                     const float *analytic, const float *r, int64_t n_out,
                     float eps, double floor, double tol)
{
    float *out = alloc_f(n_out);
    int64_t step = n > 300 ? n / 300 : 1, worst_i = 0;
    double worst = 0.0, worst_num = 0.0;
    for (int64_t i = 0; i < n; i += step) {
        float keep = param[i], hi = keep + eps, lo = keep - eps;
        param[i] = hi;
        fwd(ctx, out);
        double lp = dot(out, r, n_out);
        param[i] = lo;
        fwd(ctx, out);
        double lm = dot(out, r, n_out);
        param[i] = keep;
        double num = (lp - lm) / ((double)hi - lo);
        double e = fabs(analytic[i] - num) / fmax(floor, fabs(num));
        if (e > worst || e != e) {
            worst = e;
            worst_i = i;
            worst_num = num;
        }
    }
    check(worst <= tol, name, "rel err %.3g at [%lld]: analytic %.7g numeric %.7g",
          worst, (long long)worst_i, analytic[worst_i], worst_num);
    free(out);
}

/* ---- the optimizers ---------------------------------------------------- */

/* The optimizers' reference: one element's update in double, as kernels.h
 * states it (adam: 1, else SGD). */
static __attribute__((unused)) void ref_step(const nr_opt *o, int adam, double *p, double g, double *m, double *v)
{
    g *= o->scale;
    if (o->clip > 0)
        g = g < -o->clip ? -o->clip : g > o->clip ? o->clip : g;
    if (o->weight_decay > 0 && !(adam && o->decoupled))
        g += o->weight_decay * *p;
    if (!adam) {
        *v = o->momentum * *v + g;
        *p -= o->lr * (o->nesterov ? g + o->momentum * *v : *v);
        return;
    }
    if (o->decoupled)
        *p *= 1.0 - (double)o->lr * o->weight_decay;
    double b1 = o->beta1, b2 = o->beta2, t = (double)o->t;
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    if (o->form == NR_ADAM_PYTORCH)
        *p -= o->lr / bc1 * *m / (sqrt(*v) / sqrt(bc2) + o->eps);
    else
        *p -= o->lr * sqrt(bc2) / bc1 * *m / (sqrt(*v) + o->eps);
}

/* ---- the reference convolution, in double ------------------------------- */

/* Input position of output (oy, ox) at tap (ky, kx), or -1 outside x. */
static inline int64_t ref_in(const nr_conv_geom *g, int oy, int ox, int ky, int kx)
{
    const int iy = oy * g->stride - g->pad_t + ky, ix = ox * g->stride - g->pad_l + kx;
    return iy < 0 || iy >= g->h || ix < 0 || ix >= g->w ? -1 : (int64_t)iy * g->w + ix;
}

/* y (N,K,OH,OW) = relu?(conv(x, w) + b); b may be NULL */
static __attribute__((unused)) void ref_conv_fwd(const nr_conv_geom *g, const float *x, const float *w,
                                                 const float *b, int relu, double *y)
{
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    for (int n = 0; n < g->n; n++)
        for (int k = 0; k < g->k; k++)
            for (int oy = 0; oy < g->oh; oy++)
                for (int ox = 0; ox < g->ow; ox++) {
                    double s = b ? b[k] : 0.0;
                    for (int c = 0; c < g->c; c++)
                        for (int ky = 0; ky < g->kh; ky++)
                            for (int kx = 0; kx < g->kw; kx++) {
                                const int64_t p = ref_in(g, oy, ox, ky, kx);
                                if (p >= 0)
                                    s += (double)x[(n * g->c + c) * hw + p] *
                                         w[((k * g->c + c) * g->kh + ky) * g->kw + kx];
                            }
                    y[(n * g->k + k) * ohw + oy * g->ow + ox] = relu && s < 0 ? 0 : s;
                }
}

/* dx (N,C,H,W) and dw (K,C,KH,KW) from dy (N,K,OH,OW), by scattering each
 * output's gradient to what it read */
static __attribute__((unused)) void ref_bwd(const nr_conv_geom *g, const float *x, const float *w,
                    const float *dy, double *dx, double *dw)
{
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    memset(dx, 0, (size_t)(g->n * g->c * hw) * sizeof *dx);
    memset(dw, 0, (size_t)(g->k * g->c * g->kh * g->kw) * sizeof *dw);
    for (int n = 0; n < g->n; n++)
        for (int k = 0; k < g->k; k++)
            for (int oy = 0; oy < g->oh; oy++)
                for (int ox = 0; ox < g->ow; ox++) {
                    const double d = dy[(n * g->k + k) * ohw + oy * g->ow + ox];
                    for (int c = 0; c < g->c; c++)
                        for (int ky = 0; ky < g->kh; ky++)
                            for (int kx = 0; kx < g->kw; kx++) {
                                const int64_t p = ref_in(g, oy, ox, ky, kx);
                                const int64_t wi = ((k * g->c + c) * g->kh + ky) * g->kw + kx;
                                if (p < 0)
                                    continue;
                                dx[(n * g->c + c) * hw + p] += d * w[wi];
                                dw[wi] += d * x[(n * g->c + c) * hw + p];
                            }
                }
}

#endif
