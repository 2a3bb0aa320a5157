/* kernels_ext.c — the kernels of the layer ops beyond the plain U-Net's:
 * backward passes of the smooth activations, group and batch normalization,
 * label downsampling, element dropout, average and global max pooling,
 * padding, bilinear upsampling, a per-channel bias, cumsum, argsort and
 * gather.  Contracts in kernels.h.  As in kernels.c, work is
 * split into tasks that depend on the sizes only and every output element is
 * computed by one task in a fixed order, so results do not depend on the
 * thread count. */
#include "kernels.h"
#include "parallel.h"

#include <math.h>
#include <stddef.h>

/* ---- elementwise gradients of the activations -------------------------- */

#define EXT_GRAIN 32768

typedef struct {
    int kind; /* 0 sigmoid, 1 tanh, 2 leaky relu */
    const float *dy, *y;
    float slope, *dx;
    int64_t n;
} act_ctx;

static void act_bwd_task(void *p, int64_t task, int tid)
{
    const act_ctx *c = p;
    int64_t b = task * EXT_GRAIN, e = b + EXT_GRAIN < c->n ? b + EXT_GRAIN : c->n;
    (void)tid;
    switch (c->kind) {
    case 0:
        for (int64_t i = b; i < e; i++)
            c->dx[i] = c->dy[i] * c->y[i] * (1.0f - c->y[i]);
        break;
    case 1:
        for (int64_t i = b; i < e; i++)
            c->dx[i] = c->dy[i] * (1.0f - c->y[i] * c->y[i]);
        break;
    default:
        for (int64_t i = b; i < e; i++)
            c->dx[i] = c->y[i] > 0 ? c->dy[i] : c->slope * c->dy[i];
        break;
    }
}

static void act_bwd(int kind, int64_t n, const float *dy, const float *y, float slope, float *dx)
{
    act_ctx c = {kind, dy, y, slope, dx, n};
    nr_par_for((n + EXT_GRAIN - 1) / EXT_GRAIN, act_bwd_task, &c);
}

void nr_sigmoid_bwd(int64_t n, const float *dy, const float *y, float *dx)
{
    act_bwd(0, n, dy, y, 0, dx);
}

void nr_tanh_bwd(int64_t n, const float *dy, const float *y, float *dx)
{
    act_bwd(1, n, dy, y, 0, dx);
}

void nr_leaky_relu_bwd(int64_t n, const float *dy, const float *y, float slope, float *dx)
{
    act_bwd(2, n, dy, y, slope, dx);
}

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

/* ---- labels ------------------------------------------------------------- */

void nr_downsample_labels(int n, int h, int w, int k, const int32_t *labels, int32_t *y)
{
    int oh = h / k, ow = w / k;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                y[((int64_t)b * oh + i) * ow + j] = labels[((int64_t)b * h + (int64_t)i * k) * w + (int64_t)j * k];
}

/* ---- element-wise dropout ----------------------------------------------- */

#define EXT_GOLDEN 0x9e3779b97f4a7c15ull

static uint64_t ext_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct {
    int64_t n;
    uint64_t key, first;
    float p, keep;
    const float *x;
    float *y;
} drop_ctx;

static void dropout_task(void *q, int64_t task, int tid)
{
    const drop_ctx *c = q;
    int64_t b = task * EXT_GRAIN, e = b + EXT_GRAIN < c->n ? b + EXT_GRAIN : c->n;
    (void)tid;
    for (int64_t i = b; i < e; i++) {
        uint64_t r = ext_mix64(c->key + (c->first + (uint64_t)i + 1) * EXT_GOLDEN);
        float u = (float)(r >> 40) * 0x1p-24f; /* [0,1), 24 bits */
        c->y[i] = u < c->p ? 0.0f : c->x[i] * c->keep;
    }
}

void nr_dropout_apply(int64_t n, float p, uint64_t seed, uint64_t step, uint32_t salt, const float *x,
                      float *y)
{
    nr_dropout_apply_at(n, p, seed, step, salt, 0, x, y);
}

void nr_dropout_apply_at(int64_t n, float p, uint64_t seed, uint64_t step, uint32_t salt, uint64_t first,
                         const float *x, float *y)
{
    uint64_t key = ext_mix64(seed + EXT_GOLDEN);
    key = ext_mix64(key ^ (step + EXT_GOLDEN));
    key = ext_mix64(key ^ ((uint64_t)salt + EXT_GOLDEN));
    drop_ctx c = {n, key, first, p, p >= 1.0f ? 0.0f : 1.0f / (1.0f - p), x, y};
    nr_par_for((n + EXT_GRAIN - 1) / EXT_GRAIN, dropout_task, &c);
}

/* ---- pooling, padding, bilinear upsampling: one task per (n, c) plane --- */

typedef struct {
    int h, w, k, oh, ow;     /* the plane's input and output sizes; k: window or factor */
    int pt, pl, mode;        /* pad2d */
    const float *x, *dy;
    float *y;
} plane_ctx;

static void avg_pool_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    const float *x = c->x + pl * c->h * c->w;
    float *y = c->y + pl * c->oh * c->ow;
    (void)tid;
    for (int i = 0; i < c->oh; i++)
        for (int j = 0; j < c->ow; j++) {
            float s = 0;
            for (int a = 0; a < c->k; a++)
                for (int b = 0; b < c->k; b++)
                    s += x[(int64_t)(i * c->k + a) * c->w + j * c->k + b];
            y[(int64_t)i * c->ow + j] = s / (float)(c->k * c->k);
        }
}

void nr_avg_pool_fwd(int n, int c, int h, int w, int k, const float *x, float *y)
{
    plane_ctx ctx = {h, w, k, h / k, w / k, 0, 0, 0, x, NULL, y};
    nr_par_for((int64_t)n * c, avg_pool_task, &ctx);
}

static void avg_pool_bwd_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    const float *dy = c->dy + pl * c->oh * c->ow;
    float *dx = c->y + pl * c->h * c->w, inv = 1.0f / (float)(c->k * c->k);
    (void)tid;
    for (int i = 0; i < c->h; i++)
        for (int j = 0; j < c->w; j++) {
            int oi = i / c->k, oj = j / c->k;
            dx[(int64_t)i * c->w + j] = oi < c->oh && oj < c->ow ? dy[(int64_t)oi * c->ow + oj] * inv : 0.0f;
        }
}

void nr_avg_pool_bwd(int n, int c, int h, int w, int k, const float *dy, float *dx)
{
    plane_ctx ctx = {h, w, k, h / k, w / k, 0, 0, 0, NULL, dy, dx};
    nr_par_for((int64_t)n * c, avg_pool_bwd_task, &ctx);
}

/* index of the first maximum of x (m), NaN never wins */
static int64_t first_max(const float *x, int64_t m)
{
    int64_t at = 0;
    for (int64_t i = 1; i < m; i++)
        if (x[i] > x[at])
            at = i;
    return at;
}

static void gmax_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    int64_t m = (int64_t)c->h * c->w;
    (void)tid;
    if (c->dy) {
        const float *x = c->x + pl * m;
        float *dx = c->y + pl * m;
        for (int64_t i = 0; i < m; i++)
            dx[i] = 0.0f;
        dx[first_max(x, m)] = c->dy[pl];
    } else {
        c->y[pl] = c->x[pl * m + first_max(c->x + pl * m, m)];
    }
}

void nr_global_max_pool_fwd(int n, int c, int h, int w, const float *x, float *y)
{
    plane_ctx ctx = {h, w, 1, 1, 1, 0, 0, 0, x, NULL, y};
    nr_par_for((int64_t)n * c, gmax_task, &ctx);
}

void nr_global_max_pool_bwd(int n, int c, int h, int w, const float *dy, const float *x, float *dx)
{
    plane_ctx ctx = {h, w, 1, 1, 1, 0, 0, 0, x, dy, dx};
    nr_par_for((int64_t)n * c, gmax_task, &ctx);
}

/* The input index that output index o (of the padded axis) reads, or -1
 * (zero padding outside): mode 0 zero, 1 reflect (PyTorch: the edge is not
 * repeated; p < size). */
static int pad_src(int o, int p, int size, int mode)
{
    int i = o - p;
    if (i >= 0 && i < size)
        return i;
    if (mode == 0)
        return -1;
    if (size == 1)
        return 0;
    int period = 2 * (size - 1);
    i = i < 0 ? -i : i;
    i %= period;
    return i < size ? i : period - i;
}

static void pad2d_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    (void)tid;
    if (c->dy) { /* the adjoint: each dy element added to the element it read */
        const float *dy = c->dy + pl * c->oh * c->ow;
        float *dx = c->y + pl * c->h * c->w;
        for (int64_t i = 0; i < (int64_t)c->h * c->w; i++)
            dx[i] = 0.0f;
        for (int i = 0; i < c->oh; i++) {
            int si = pad_src(i, c->pt, c->h, c->mode);
            for (int j = 0; si >= 0 && j < c->ow; j++) {
                int sj = pad_src(j, c->pl, c->w, c->mode);
                if (sj >= 0)
                    dx[(int64_t)si * c->w + sj] += dy[(int64_t)i * c->ow + j];
            }
        }
        return;
    }
    const float *x = c->x + pl * c->h * c->w;
    float *y = c->y + pl * c->oh * c->ow;
    for (int i = 0; i < c->oh; i++) {
        int si = pad_src(i, c->pt, c->h, c->mode);
        for (int j = 0; j < c->ow; j++) {
            int sj = pad_src(j, c->pl, c->w, c->mode);
            y[(int64_t)i * c->ow + j] = si >= 0 && sj >= 0 ? x[(int64_t)si * c->w + sj] : 0.0f;
        }
    }
}

void nr_pad2d_fwd(int n, int c, int h, int w, int pt, int pl, int pb, int pr, int mode, const float *x,
                  float *y)
{
    plane_ctx ctx = {h, w, 0, h + pt + pb, w + pl + pr, pt, pl, mode, x, NULL, y};
    nr_par_for((int64_t)n * c, pad2d_task, &ctx);
}

void nr_pad2d_bwd(int n, int c, int h, int w, int pt, int pl, int pb, int pr, int mode, const float *dy,
                  float *dx)
{
    plane_ctx ctx = {h, w, 0, h + pt + pb, w + pl + pr, pt, pl, mode, NULL, dy, dx};
    nr_par_for((int64_t)n * c, pad2d_task, &ctx);
}

/* PyTorch's source coordinate of output index o (upsample_bilinear2d):
 * align_corners: o * (in - 1) / (out - 1); else (o + 0.5) / s - 0.5,
 * clamped at 0.  i0, i1 the two inputs read, l the weight of i1. */
static void bl_src(int o, int in, int out, int s, int align, int *i0, int *i1, float *l)
{
    float src;
    if (align)
        src = out > 1 ? (float)o * (float)(in - 1) / (float)(out - 1) : 0.0f;
    else
        src = ((float)o + 0.5f) / (float)s - 0.5f;
    if (src < 0)
        src = 0;
    *i0 = (int)src;
    if (*i0 > in - 1)
        *i0 = in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *l = src - (float)*i0;
}

static void bilinear_task(void *q, int64_t pl, int tid)
{
    const plane_ctx *c = q;
    int align = c->mode;
    (void)tid;
    float *out = c->y + pl * (c->dy ? (int64_t)c->h * c->w : (int64_t)c->oh * c->ow);
    if (c->dy)
        for (int64_t i = 0; i < (int64_t)c->h * c->w; i++)
            out[i] = 0.0f;
    const float *x = c->x ? c->x + pl * c->h * c->w : NULL;
    const float *dy = c->dy ? c->dy + pl * c->oh * c->ow : NULL;
    for (int i = 0; i < c->oh; i++) {
        int y0, y1, x0, x1;
        float ly, lx;
        bl_src(i, c->h, c->oh, c->k, align, &y0, &y1, &ly);
        for (int j = 0; j < c->ow; j++) {
            bl_src(j, c->w, c->ow, c->k, align, &x0, &x1, &lx);
            float w00 = (1 - ly) * (1 - lx), w01 = (1 - ly) * lx, w10 = ly * (1 - lx), w11 = ly * lx;
            if (dy) {
                float g = dy[(int64_t)i * c->ow + j];
                out[(int64_t)y0 * c->w + x0] += w00 * g;
                out[(int64_t)y0 * c->w + x1] += w01 * g;
                out[(int64_t)y1 * c->w + x0] += w10 * g;
                out[(int64_t)y1 * c->w + x1] += w11 * g;
            } else {
                out[(int64_t)i * c->ow + j] = w00 * x[(int64_t)y0 * c->w + x0] + w01 * x[(int64_t)y0 * c->w + x1] +
                                              w10 * x[(int64_t)y1 * c->w + x0] + w11 * x[(int64_t)y1 * c->w + x1];
            }
        }
    }
}

void nr_upsample_bilinear_fwd(int n, int c, int h, int w, int s, int align, const float *x, float *y)
{
    plane_ctx ctx = {h, w, s, h * s, w * s, 0, 0, align, x, NULL, y};
    nr_par_for((int64_t)n * c, bilinear_task, &ctx);
}

void nr_upsample_bilinear_bwd(int n, int c, int h, int w, int s, int align, const float *dy, float *dx)
{
    plane_ctx ctx = {h, w, s, h * s, w * s, 0, 0, align, NULL, dy, dx};
    nr_par_for((int64_t)n * c, bilinear_task, &ctx);
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

/* ---- cumulative sum, sorting, gathering: one task per line --------------- */

typedef struct {
    int64_t d, inner;
    int flag; /* cumsum: reverse; argsort: descending */
    const float *x;
    const int32_t *idx;
    float *y;
    int32_t *iy, *ws;
} line_ctx;

static void cumsum_task(void *q, int64_t line, int tid)
{
    const line_ctx *c = q;
    int64_t o = line / c->inner, i = line % c->inner, base = o * c->d * c->inner + i;
    double s = 0;
    (void)tid;
    for (int64_t k = 0; k < c->d; k++) {
        int64_t j = c->flag ? c->d - 1 - k : k, at = base + j * c->inner;
        s += c->x[at];
        c->y[at] = (float)s;
    }
}

void nr_cumsum(int64_t outer, int64_t d, int64_t inner, int reverse, const float *x, float *y)
{
    line_ctx ctx = {d, inner, reverse, x, NULL, y, NULL, NULL};
    nr_par_for(outer * inner, cumsum_task, &ctx);
}

/* a sorts before b (ascending): a < b, nan largest, ties by index */
static int sort_before(float a, float b, int32_t ia, int32_t ib, int desc)
{
    int na = a != a, nb = b != b;
    if (na || nb) {
        if (na && nb)
            return ia < ib;
        return desc ? na : nb; /* nan is the largest */
    }
    if (a != b)
        return desc ? a > b : a < b;
    return ia < ib;
}

static void argsort_task(void *q, int64_t line, int tid)
{
    const line_ctx *c = q;
    int64_t o = line / c->inner, i = line % c->inner, base = o * c->d * c->inner + i, d = c->d;
    int32_t *a = c->ws + line * 2 * d, *b = a + d;
    (void)tid;
    for (int64_t k = 0; k < d; k++)
        a[k] = (int32_t)k;
    /* bottom-up merge sort of the indices (stable) */
    for (int64_t w = 1; w < d; w *= 2) {
        for (int64_t lo = 0; lo < d; lo += 2 * w) {
            int64_t mid = lo + w < d ? lo + w : d, hi = lo + 2 * w < d ? lo + 2 * w : d;
            int64_t p = lo, r = mid, k = lo;
            while (p < mid && r < hi) {
                int32_t u = a[p], v = a[r];
                if (sort_before(c->x[base + v * c->inner], c->x[base + u * c->inner], v, u, c->flag))
                    b[k++] = v, r++;
                else
                    b[k++] = u, p++;
            }
            while (p < mid)
                b[k++] = a[p++];
            while (r < hi)
                b[k++] = a[r++];
        }
        int32_t *t = a;
        a = b;
        b = t;
    }
    for (int64_t k = 0; k < d; k++)
        c->iy[base + k * c->inner] = a[k];
}

void nr_argsort(int64_t outer, int64_t d, int64_t inner, int descending, const float *x, int32_t *idx,
                int32_t *ws)
{
    line_ctx ctx = {d, inner, descending, x, NULL, NULL, idx, ws};
    nr_par_for(outer * inner, argsort_task, &ctx);
}

static void gather_task(void *q, int64_t line, int tid)
{
    const line_ctx *c = q;
    int64_t o = line / c->inner, i = line % c->inner, base = o * c->d * c->inner + i;
    (void)tid;
    if (c->flag) { /* the adjoint */
        for (int64_t k = 0; k < c->d; k++)
            c->y[base + k * c->inner] = 0.0f;
        for (int64_t k = 0; k < c->d; k++) {
            int32_t j = c->idx[base + k * c->inner];
            if (j >= 0 && j < c->d)
                c->y[base + j * c->inner] += c->x[base + k * c->inner];
        }
        return;
    }
    for (int64_t k = 0; k < c->d; k++) {
        int32_t j = c->idx[base + k * c->inner];
        c->y[base + k * c->inner] = j >= 0 && j < c->d ? c->x[base + j * c->inner] : 0.0f;
    }
}

void nr_gather(int64_t outer, int64_t d, int64_t inner, const float *x, const int32_t *idx, float *y)
{
    line_ctx ctx = {d, inner, 0, x, idx, y, NULL, NULL};
    nr_par_for(outer * inner, gather_task, &ctx);
}

void nr_gather_bwd(int64_t outer, int64_t d, int64_t inner, const float *dy, const int32_t *idx, float *dx)
{
    line_ctx ctx = {d, inner, 1, dy, idx, dx, NULL, NULL};
    nr_par_for(outer * inner, gather_task, &ctx);
}
