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

/* Mean and 1/sqrt(biased variance + eps) of x (m), two passes in double.
 * The one place the statistics are computed, so that the forward and both
 * backward kernels normalize with the same floats. */
static void gn_stats(const float *x, int64_t m, float eps, float *mean, float *rstd)
{
    double s = 0, ss = 0;
    for (int64_t i = 0; i < m; i++)
        s += x[i];
    double mu = s / (double)m;
    for (int64_t i = 0; i < m; i++) {
        double d = x[i] - mu;
        ss += d * d;
    }
    *mean = (float)mu;
    *rstd = (float)(1.0 / sqrt(ss / (double)m + eps));
}

typedef struct {
    int n, c, g;
    int64_t hw;
    float eps;
    const float *x, *dy, *gamma, *beta;
    float *y, *ws;
} gn_ctx;

/* one task per (sample, group): its channels are contiguous */
static void gn_fwd_task(void *p, int64_t t, int tid)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g, g = (int)(t % c->g);
    int64_t m = (int64_t)cg * c->hw, off = t * m;
    float mean, rstd;
    (void)tid;
    gn_stats(c->x + off, m, c->eps, &mean, &rstd);
    for (int k = 0; k < cg; k++) {
        int ch = g * cg + k;
        float ga = c->gamma ? c->gamma[ch] : 1.0f, be = c->beta ? c->beta[ch] : 0.0f;
        const float *x = c->x + off + (int64_t)k * c->hw;
        float *y = c->y + off + (int64_t)k * c->hw;
        for (int64_t i = 0; i < c->hw; i++)
            y[i] = (x[i] - mean) * rstd * ga + be;
    }
}

void nr_group_norm_fwd(int n, int c, int64_t hw, int g, float eps, const float *x,
                       const float *gamma, const float *beta, float *y)
{
    gn_ctx ctx = {n, c, g, hw, eps, x, NULL, gamma, beta, y, NULL};
    nr_par_for((int64_t)n * g, gn_fwd_task, &ctx);
}

static void gn_bwd_task(void *p, int64_t t, int tid)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g, g = (int)(t % c->g);
    int64_t m = (int64_t)cg * c->hw, off = t * m;
    float mean, rstd;
    (void)tid;
    gn_stats(c->x + off, m, c->eps, &mean, &rstd);
    double sd = 0, sdx = 0;
    for (int k = 0; k < cg; k++) {
        float ga = c->gamma ? c->gamma[g * cg + k] : 1.0f;
        const float *x = c->x + off + (int64_t)k * c->hw, *dy = c->dy + off + (int64_t)k * c->hw;
        for (int64_t i = 0; i < c->hw; i++) {
            float d = dy[i] * ga, xh = (x[i] - mean) * rstd;
            sd += d;
            sdx += (double)d * xh;
        }
    }
    float md = (float)(sd / (double)m), mdx = (float)(sdx / (double)m);
    for (int k = 0; k < cg; k++) {
        float ga = c->gamma ? c->gamma[g * cg + k] : 1.0f;
        const float *x = c->x + off + (int64_t)k * c->hw, *dy = c->dy + off + (int64_t)k * c->hw;
        float *dx = c->y + off + (int64_t)k * c->hw;
        for (int64_t i = 0; i < c->hw; i++) {
            float xh = (x[i] - mean) * rstd;
            dx[i] = rstd * (dy[i] * ga - md - xh * mdx);
        }
    }
}

void nr_group_norm_bwd(int n, int c, int64_t hw, int g, float eps, const float *dy,
                       const float *x, const float *gamma, float *dx)
{
    gn_ctx ctx = {n, c, g, hw, eps, x, dy, gamma, NULL, dx, NULL};
    nr_par_for((int64_t)n * g, gn_bwd_task, &ctx);
}

static void gn_stats_task(void *p, int64_t t, int tid)
{
    const gn_ctx *c = p;
    int64_t m = (int64_t)(c->c / c->g) * c->hw;
    (void)tid;
    gn_stats(c->x + t * m, m, c->eps, &c->ws[2 * t], &c->ws[2 * t + 1]);
}

/* one task per channel: the sum over samples and pixels */
static void gn_gamma_task(void *p, int64_t ch, int tid)
{
    const gn_ctx *c = p;
    int cg = c->c / c->g;
    double s = 0;
    (void)tid;
    for (int b = 0; b < c->n; b++) {
        int64_t grp = (int64_t)b * c->g + ch / cg, off = ((int64_t)b * c->c + ch) * c->hw;
        float mean = c->ws[2 * grp], rstd = c->ws[2 * grp + 1];
        for (int64_t i = 0; i < c->hw; i++)
            s += (double)c->dy[off + i] * ((c->x[off + i] - mean) * rstd);
    }
    c->y[ch] = (float)s;
}

void nr_group_norm_bwd_gamma(int n, int c, int64_t hw, int g, float eps, const float *dy,
                             const float *x, float *dgamma, float *ws)
{
    gn_ctx ctx = {n, c, g, hw, eps, x, dy, NULL, NULL, dgamma, ws};
    nr_par_for((int64_t)n * g, gn_stats_task, &ctx);
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
