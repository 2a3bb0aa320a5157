/* norm.c — group and batch normalization, forward and backward;
 * statistics in double (contracts in kernels.h). Chunks depend on the sizes only,
 * never on the thread count, and reductions add the chunks' partial sums in
 * chunk order, so every kernel gives the same bits on any number of threads. */
#include "kernels.h"
#include "parallel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- group normalization ------------------------------------------------ */

/* The sums run on 8 floats at a time, widened to 8 doubles (GCC's and
 * clang's vector extensions; one AVX-512 register, two AVX2 ones): eight
 * independent accumulators instead of one chain of dependent adds (the
 * latency that kept the old loops under 1 GFLOP/s), which the compilers
 * would not vectorize from plain loops without reassociating.  Lane j
 * takes the elements i with i % 8 == j; the lanes are added in one fixed
 * order, so the sums do not depend on the ISA or the thread count. */
typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef double d8 __attribute__((vector_size(64)));

/* (Vectors pass by pointer: by value, GCC warns of an ABI change where
 * the build has no AVX, -Wpsabi, although these functions are static.) */
static inline void load8(f8 *v, const float *p) { memcpy(v, p, sizeof *v); }

static double total8(const d8 *v)
{
    return (((*v)[0] + (*v)[1]) + ((*v)[2] + (*v)[3])) + (((*v)[4] + (*v)[5]) + ((*v)[6] + (*v)[7]));
}

/* The activation's derivative applied to dz: dz where z > 0, slope * dz
 * elsewhere (LEAKY_RELU_BWD's rule), as (z > 0 ? 1 : slope) * dz, exact.
 * The kernels without an activation pass z = dz and slope 1. */
static inline float act_grad(const float *z, const float *dz, int64_t i, float slope)
{
    return (z[i] > 0 ? 1.0f : slope) * dz[i];
}

static inline void act_grad8(f8 *d, const float *z, const float *dz, int64_t i, float slope)
{
    f8 zv, dv, one = (f8){0} + 1.0f, sl = (f8){0} + slope;
    load8(&zv, z + i);
    load8(&dv, dz + i);
    i8 pos = zv > 0; /* -1 where z > 0, else 0 */
    *d = (f8)((pos & (i8)one) | (~pos & (i8)sl)) * dv;
}

/* Mean and 1/sqrt(biased variance + eps) of a group, its cg channels of hw
 * (m values in all) at x, in one pass in double: the sum and the sum of
 * squares of x - k, k = x[0] (the shifted-data algorithm: k is one of the
 * values, so |mean - k| is of the order of the deviation and E[(x-k)^2] -
 * E[x-k]^2 cancels nothing large, however far the mean is from 0).  The
 * one place the statistics are computed, so that the forward and every
 * backward kernel normalize with the same floats. */
static void gn_stats(const float *x, int cg, int64_t hw, float eps, float *mean, float *rstd)
{
    d8 s = {0}, ss = {0};
    int64_t m = (int64_t)cg * hw, i = 0;
    double k = x[0];
    for (; i + 8 <= m; i += 8) {
        f8 xv;
        load8(&xv, x + i);
        d8 v = __builtin_convertvector(xv, d8) - k;
        s += v;
        ss += v * v;
    }
    for (int j = 0; i < m; i++, j++) {
        double v = x[i] - k;
        s[j] += v;
        ss[j] += v * v;
    }
    double d = total8(&s) / (double)m, var = total8(&ss) / (double)m - d * d;
    *mean = (float)(k + d);
    *rstd = (float)(1.0 / sqrt((var > 0 ? var : 0) + eps));
}

/* One channel's gradient sums: r[0] = sum of d, r[1] = sum of d * xhat, d
 * the activation's derivative applied to dz, xhat = (x - mean) * rstd. */
static void chan_dsums(const float *x, const float *dz, const float *z, float slope, float mean, float rstd,
                      int64_t hw, double r[2])
{
    d8 sd = {0}, sdx = {0};
    int64_t i = 0;
    for (; i + 8 <= hw; i += 8) {
        f8 df, xv;
        act_grad8(&df, z, dz, i, slope);
        load8(&xv, x + i);
        d8 d = __builtin_convertvector(df, d8), xh = __builtin_convertvector((xv - mean) * rstd, d8);
        sd += d;
        sdx += d * xh;
    }
    for (int j = 0; i < hw; i++, j++) {
        float d = act_grad(z, dz, i, slope), xh = (x[i] - mean) * rstd;
        sd[j] += d;
        sdx[j] += (double)d * xh;
    }
    r[0] = total8(&sd);
    r[1] = total8(&sdx);
}

/* One channel's dx = rstd * (d * ga - md - xhat * mdx), d and xhat as in
 * chan_dsums, md and mdx the group's means of d * gamma and d * gamma * xhat. */
static void chan_dx(const float *x, const float *dz, const float *z, float slope, float mean, float rstd,
                    float ga, float md, float mdx, int64_t hw, float *dx)
{
    for (int64_t i = 0; i < hw; i++) {
        float xh = (x[i] - mean) * rstd;
        dx[i] = rstd * (act_grad(z, dz, i, slope) * ga - md - xh * mdx);
    }
}

typedef struct {
    int n, c, g;
    int64_t hw;
    float eps, slope;
    const float *x, *dz, *z, *gamma, *beta, *s;
    float *y, *ws;
} gn_ctx;

/* The (sample, group) pairs [b, e) per task: their channels are
 * contiguous, and a task covers about NR_GRAIN values. */
static void gn_for_groups(gn_ctx *c, nr_range_fn fn)
{
    nr_par_range((int64_t)c->n * c->g, nr_plane_grain((int64_t)(c->c / c->g) * c->hw), fn, c);
}

static void gn_fwd_range(void *p, int64_t b, int64_t e)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g;
    for (int64_t t = b; t < e; t++) {
        int g = (int)(t % c->g);
        int64_t off = t * cg * c->hw;
        float mean, rstd, slope = c->slope;
        gn_stats(c->x + off, cg, c->hw, c->eps, &mean, &rstd);
        for (int k = 0; k < cg; k++) {
            int ch = g * cg + k;
            float a = rstd * (c->gamma ? c->gamma[ch] : 1.0f), be = c->beta ? c->beta[ch] : 0.0f;
            const float *x = c->x + off + (int64_t)k * c->hw;
            float *y = c->y + off + (int64_t)k * c->hw;
            for (int64_t i = 0; i < c->hw; i++) {
                float v = (x[i] - mean) * a + be;
                y[i] = v > 0 ? v : slope * v;
            }
        }
    }
}

void nr_group_norm_act_fwd(int n, int c, int64_t hw, int g, float eps, float slope, const float *x,
                           const float *gamma, const float *beta, float *y)
{
    gn_ctx ctx = {n, c, g, hw, eps, slope, x, NULL, NULL, gamma, beta, NULL, y, NULL};
    gn_for_groups(&ctx, gn_fwd_range);
}

void nr_group_norm_fwd(int n, int c, int64_t hw, int g, float eps, const float *x,
                       const float *gamma, const float *beta, float *y)
{
    nr_group_norm_act_fwd(n, c, hw, g, eps, 1.0f, x, gamma, beta, y); /* slope 1: the identity */
}

/* Per (sample, channel) of groups [b, e): s[0..3] = sum of d, sum of
 * d * xhat, the group's mean and rstd. */
static void gn_sums_range(void *p, int64_t b, int64_t e)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g;
    for (int64_t t = b; t < e; t++) {
        int64_t off = t * cg * c->hw;
        float mean, rstd;
        gn_stats(c->x + off, cg, c->hw, c->eps, &mean, &rstd);
        for (int k = 0; k < cg; k++) {
            int64_t o = off + (int64_t)k * c->hw;
            double r[2];
            chan_dsums(c->x + o, c->dz + o, c->z + o, c->slope, mean, rstd, c->hw, r);
            float *s = c->y + 4 * (t * cg + k);
            s[0] = (float)r[0], s[1] = (float)r[1], s[2] = mean, s[3] = rstd;
        }
    }
}

void nr_group_norm_act_sums(int n, int c, int64_t hw, int g, float eps, float slope, const float *dz,
                            const float *z, const float *x, float *s)
{
    gn_ctx ctx = {n, c, g, hw, eps, slope, x, dz, z, NULL, NULL, NULL, s, NULL};
    gn_for_groups(&ctx, gn_sums_range);
}

/* The group's md and mdx (chan_dx) from its channels' sums s (cg, 4). */
static void gn_group_means(const float *s, const float *gamma, int cg, int64_t hw, float *md, float *mdx)
{
    double sd = 0, sdx = 0;
    for (int k = 0; k < cg; k++) {
        double ga = gamma ? gamma[k] : 1.0;
        sd += ga * s[4 * k];
        sdx += ga * s[4 * k + 1];
    }
    *md = (float)(sd / ((double)cg * hw));
    *mdx = (float)(sdx / ((double)cg * hw));
}

static void gn_act_bwd_range(void *p, int64_t b, int64_t e)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g;
    for (int64_t t = b; t < e; t++) {
        int g = (int)(t % c->g);
        int64_t off = t * cg * c->hw;
        const float *s = c->s + 4 * t * cg, *gamma = c->gamma ? c->gamma + g * cg : NULL;
        float md, mdx;
        gn_group_means(s, gamma, cg, c->hw, &md, &mdx);
        for (int k = 0; k < cg; k++) {
            int64_t o = off + (int64_t)k * c->hw;
            chan_dx(c->x + o, c->dz + o, c->z + o, c->slope, s[2], s[3], gamma ? gamma[k] : 1.0f, md, mdx,
                    c->hw, c->y + o);
        }
    }
}

void nr_group_norm_act_bwd(int n, int c, int64_t hw, int g, float slope, const float *dz, const float *z,
                           const float *x, const float *gamma, const float *s, float *dx)
{
    gn_ctx ctx = {n, c, g, hw, 0, slope, x, dz, z, gamma, NULL, s, dx, NULL};
    gn_for_groups(&ctx, gn_act_bwd_range);
}

void nr_group_norm_act_param(int n, int c, int which, const float *s, float *dp)
{
    for (int ch = 0; ch < c; ch++) {
        double a = 0;
        for (int b = 0; b < n; b++)
            a += s[4 * ((int64_t)b * c + ch) + which];
        dp[ch] = (float)a;
    }
}

/* GROUP_NORM_BWD: per group, the statistics, the sums and dx of the fused
 * kernels with no activation. */
static void gn_bwd_range(void *p, int64_t b, int64_t e)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g;
    for (int64_t t = b; t < e; t++) {
        int g = (int)(t % c->g);
        int64_t off = t * cg * c->hw;
        const float *gamma = c->gamma ? c->gamma + g * cg : NULL;
        float mean, rstd;
        gn_stats(c->x + off, cg, c->hw, c->eps, &mean, &rstd);
        double sd = 0, sdx = 0, m = (double)cg * c->hw;
        for (int k = 0; k < cg; k++) {
            int64_t o = off + (int64_t)k * c->hw;
            double r[2], ga = gamma ? gamma[k] : 1.0;
            chan_dsums(c->x + o, c->dz + o, c->dz + o, 1.0f, mean, rstd, c->hw, r);
            sd += ga * r[0];
            sdx += ga * r[1];
        }
        for (int k = 0; k < cg; k++) {
            int64_t o = off + (int64_t)k * c->hw;
            chan_dx(c->x + o, c->dz + o, c->dz + o, 1.0f, mean, rstd, gamma ? gamma[k] : 1.0f, (float)(sd / m),
                    (float)(sdx / m), c->hw, c->y + o);
        }
    }
}

void nr_group_norm_bwd(int n, int c, int64_t hw, int g, float eps, const float *dy,
                       const float *x, const float *gamma, float *dx)
{
    gn_ctx ctx = {n, c, g, hw, eps, 1.0f, x, dy, NULL, gamma, NULL, NULL, dx, NULL};
    gn_for_groups(&ctx, gn_bwd_range);
}

static void gn_stats_range(void *p, int64_t b, int64_t e)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g;
    for (int64_t t = b; t < e; t++)
        gn_stats(c->x + t * cg * c->hw, cg, c->hw, c->eps, &c->ws[2 * t], &c->ws[2 * t + 1]);
}

/* one task per channel: the sum over samples of chan_dsums' d * xhat */
static void gn_gamma_task(void *p, int64_t ch, int tid)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g;
    double s = 0;
    (void)tid;
    for (int b = 0; b < c->n; b++) {
        int64_t grp = (int64_t)b * c->g + ch / cg, off = ((int64_t)b * c->c + ch) * c->hw;
        double r[2];
        chan_dsums(c->x + off, c->dz + off, c->dz + off, 1.0f, c->ws[2 * grp], c->ws[2 * grp + 1], c->hw, r);
        s += r[1];
    }
    c->y[ch] = (float)s;
}

void nr_group_norm_bwd_gamma(int n, int c, int64_t hw, int g, float eps, const float *dy,
                             const float *x, float *dgamma, float *ws)
{
    gn_ctx ctx = {n, c, g, hw, eps, 1.0f, x, dy, NULL, NULL, NULL, NULL, dgamma, ws};
    gn_for_groups(&ctx, gn_stats_range);
    nr_par_for(c, gn_gamma_task, &ctx);
}

/* ---- batch normalization ------------------------------------------------ */

/* Mean and biased variance of channel ch of x (N,C,HW), two passes in
 * double: the one place batch statistics are computed. */
static void bn_stats(const float *x, int n, int c, int64_t hw, int ch, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (int b = 0; b < n; b++) {
        const float *p = x + ((int64_t)b * c + ch) * hw;
        for (int64_t i = 0; i < hw; i++)
            s += p[i];
    }
    double m = (double)n * hw, mu = s / m;
    for (int b = 0; b < n; b++) {
        const float *p = x + ((int64_t)b * c + ch) * hw;
        for (int64_t i = 0; i < hw; i++) {
            double d = p[i] - mu;
            ss += d * d;
        }
    }
    *mean = mu;
    *var = ss / m;
}

/* The float mean and 1/sqrt(var + eps) the kernels normalize with. */
static void bn_norm(const float *x, int n, int c, int64_t hw, int ch, float eps, float *mean, float *rstd)
{
    double mu, var;
    bn_stats(x, n, c, hw, ch, &mu, &var);
    *mean = (float)mu;
    *rstd = (float)(1.0 / sqrt(var + eps));
}

typedef struct {
    int n, c, train;
    int64_t hw;
    float eps, momentum;
    const float *x, *dy, *gamma, *beta;
    float *y, *running;
} bn_ctx;

static void bn_fwd_task(void *p, int64_t ch, int tid)
{
    const bn_ctx *c = p;
    float mean, rstd;
    (void)tid;
    if (c->train) {
        bn_norm(c->x, c->n, c->c, c->hw, (int)ch, c->eps, &mean, &rstd);
    } else {
        mean = c->running[ch];
        rstd = (float)(1.0 / sqrt((double)c->running[c->c + ch] + c->eps));
    }
    float ga = c->gamma ? c->gamma[ch] : 1.0f, be = c->beta ? c->beta[ch] : 0.0f;
    for (int b = 0; b < c->n; b++) {
        int64_t off = ((int64_t)b * c->c + ch) * c->hw;
        for (int64_t i = 0; i < c->hw; i++)
            c->y[off + i] = (c->x[off + i] - mean) * rstd * ga + be;
    }
}

void nr_batch_norm_fwd(int n, int c, int64_t hw, float eps, int train, const float *x,
                       const float *gamma, const float *beta, const float *running, float *y)
{
    bn_ctx ctx = {n, c, train, hw, eps, 0, x, NULL, gamma, beta, y, (float *)running};
    nr_par_for(c, bn_fwd_task, &ctx);
}

static void bn_bwd_task(void *p, int64_t ch, int tid)
{
    const bn_ctx *c = p;
    float mean, rstd, ga = c->gamma ? c->gamma[ch] : 1.0f;
    double sd = 0, sdx = 0, m = (double)c->n * c->hw;
    (void)tid;
    bn_norm(c->x, c->n, c->c, c->hw, (int)ch, c->eps, &mean, &rstd);
    for (int b = 0; b < c->n; b++) {
        int64_t off = ((int64_t)b * c->c + ch) * c->hw;
        for (int64_t i = 0; i < c->hw; i++) {
            float d = c->dy[off + i] * ga, xh = (c->x[off + i] - mean) * rstd;
            sd += d;
            sdx += (double)d * xh;
        }
    }
    float md = (float)(sd / m), mdx = (float)(sdx / m);
    for (int b = 0; b < c->n; b++) {
        int64_t off = ((int64_t)b * c->c + ch) * c->hw;
        for (int64_t i = 0; i < c->hw; i++) {
            float xh = (c->x[off + i] - mean) * rstd;
            c->y[off + i] = rstd * (c->dy[off + i] * ga - md - xh * mdx);
        }
    }
}

void nr_batch_norm_bwd(int n, int c, int64_t hw, float eps, const float *dy, const float *x,
                       const float *gamma, float *dx)
{
    bn_ctx ctx = {n, c, 1, hw, eps, 0, x, dy, gamma, NULL, dx, NULL};
    nr_par_for(c, bn_bwd_task, &ctx);
}

static void bn_gamma_task(void *p, int64_t ch, int tid)
{
    const bn_ctx *c = p;
    float mean, rstd;
    double s = 0;
    (void)tid;
    bn_norm(c->x, c->n, c->c, c->hw, (int)ch, c->eps, &mean, &rstd);
    for (int b = 0; b < c->n; b++) {
        int64_t off = ((int64_t)b * c->c + ch) * c->hw;
        for (int64_t i = 0; i < c->hw; i++)
            s += (double)c->dy[off + i] * ((c->x[off + i] - mean) * rstd);
    }
    c->y[ch] = (float)s;
}

void nr_batch_norm_bwd_gamma(int n, int c, int64_t hw, float eps, const float *dy, const float *x,
                             float *dgamma)
{
    bn_ctx ctx = {n, c, 1, hw, eps, 0, x, dy, NULL, NULL, dgamma, NULL};
    nr_par_for(c, bn_gamma_task, &ctx);
}

static void bn_update_task(void *p, int64_t ch, int tid)
{
    const bn_ctx *c = p;
    double mu, var, m = (double)c->n * c->hw, k = c->momentum;
    (void)tid;
    bn_stats(c->x, c->n, c->c, c->hw, (int)ch, &mu, &var);
    float *rm = &c->running[ch], *rv = &c->running[c->c + ch];
    *rm = (float)((1 - k) * *rm + k * mu);
    *rv = (float)((1 - k) * *rv + k * var * m / (m - 1));
}

void nr_batch_norm_update(int n, int c, int64_t hw, float momentum, const float *x, float *running)
{
    bn_ctx ctx = {n, c, 1, hw, 0, momentum, x, NULL, NULL, NULL, NULL, running};
    nr_par_for(c, bn_update_task, &ctx);
}
