/* optim.c — the optimizer updates (ops.def ADAM, SGD) and the sum of
 * squares that global gradient-norm clipping reduces the gradients with
 * (SUMSQ).  Contracts in kernels.h.  As in the other kernels, work is split
 * into chunks that depend on the sizes only, and the partial sums are added
 * in chunk order, so the results do not depend on the thread count. */
#include "kernels.h"
#include "parallel.h"

#include <math.h>

typedef struct {
    float *p, *m, *v;
    const float *g;
    const nr_opt *o;
    float lo, hi;          /* the clipvalue bounds (+-inf: none) */
    float lr_t;            /* keras: lr sqrt(1 - b2^t) / (1 - b1^t); pytorch: lr / (1 - b1^t) */
    float bc2_sqrt;        /* pytorch: sqrt(1 - b2^t) */
    float decay;           /* 1 - lr wd (decoupled weight decay), else 1 */
    float scale, wd;       /* o->scale, o->weight_decay */
} opt_ctx;

/* The gradient element the update uses: g * scale, clamped to [lo, hi],
 * plus wd * p for L2 (coupled) weight decay.  The update loops call it on a
 * copy of their context (a local that the stores to p, m, v cannot change),
 * so that they vectorize. */
static inline float grad_in(const opt_ctx *c, int64_t i, int l2)
{
    float gi = c->g[i] * c->scale;
    gi = gi < c->lo ? c->lo : gi > c->hi ? c->hi : gi;
    if (l2)
        gi += c->wd * c->p[i];
    return gi;
}

static void adam_keras_range(void *ctx, int64_t b, int64_t e)
{
    const opt_ctx cc = *(const opt_ctx *)ctx, *c = &cc;
    const float b1 = c->o->beta1, b2 = c->o->beta2, c1 = 1.0f - b1, c2 = 1.0f - b2;
    const float eps = c->o->eps, lr_t = c->lr_t;
    const int l2 = c->o->weight_decay > 0 && !c->o->decoupled, decoupled = c->o->decoupled;
    for (int64_t i = b; i < e; i++) {
        float gi = grad_in(c, i, l2);
        c->m[i] = b1 * c->m[i] + c1 * gi;
        c->v[i] = b2 * c->v[i] + c2 * gi * gi;
        if (decoupled)
            c->p[i] *= c->decay;
        c->p[i] -= lr_t * c->m[i] / (sqrtf(c->v[i]) + eps);
    }
}

static void adam_torch_range(void *ctx, int64_t b, int64_t e)
{
    const opt_ctx cc = *(const opt_ctx *)ctx, *c = &cc;
    const float b1 = c->o->beta1, b2 = c->o->beta2, c1 = 1.0f - b1, c2 = 1.0f - b2;
    const float eps = c->o->eps, step = c->lr_t, bc2s = c->bc2_sqrt;
    const int l2 = c->o->weight_decay > 0 && !c->o->decoupled, decoupled = c->o->decoupled;
    for (int64_t i = b; i < e; i++) {
        float gi = grad_in(c, i, l2);
        if (decoupled)
            c->p[i] *= c->decay;
        c->m[i] = b1 * c->m[i] + c1 * gi;
        c->v[i] = b2 * c->v[i] + c2 * gi * gi;
        c->p[i] -= step * (c->m[i] / (sqrtf(c->v[i]) / bc2s + eps));
    }
}

static void clip_bounds(const nr_opt *o, opt_ctx *c)
{
    c->scale = o->scale;
    c->wd = o->weight_decay;
    c->lo = o->clip > 0.0f ? -o->clip : -INFINITY;
    c->hi = o->clip > 0.0f ? o->clip : INFINITY;
}

void nr_adam_step(int64_t n, float *p, const float *g, float *m, float *v, const nr_opt *o)
{
    opt_ctx c = {.p = p, .m = m, .v = v, .g = g, .o = o};
    clip_bounds(o, &c);
    double t = (double)o->t, bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
    c.decay = o->decoupled ? (float)(1.0 - (double)o->lr * o->weight_decay) : 1.0f;
    if (o->form == NR_ADAM_PYTORCH) {
        c.lr_t = (float)(o->lr / bc1);
        c.bc2_sqrt = (float)sqrt(bc2);
        nr_par_range(n, NR_GRAIN, adam_torch_range, &c);
    } else {
        c.lr_t = (float)(o->lr * sqrt(bc2) / bc1);
        nr_par_range(n, NR_GRAIN, adam_keras_range, &c);
    }
}

static void sgd_range(void *ctx, int64_t b, int64_t e)
{
    const opt_ctx cc = *(const opt_ctx *)ctx, *c = &cc;
    const float mu = c->o->momentum, lr = c->o->lr;
    const int l2 = c->o->weight_decay > 0, nesterov = c->o->nesterov;
    for (int64_t i = b; i < e; i++) {
        float gi = grad_in(c, i, l2);
        c->v[i] = mu * c->v[i] + gi;
        c->p[i] -= lr * (nesterov ? gi + mu * c->v[i] : c->v[i]);
    }
}

void nr_sgd_step(int64_t n, float *p, const float *g, float *v, const nr_opt *o)
{
    opt_ctx c = {.p = p, .v = v, .g = g, .o = o};
    clip_bounds(o, &c);
    nr_par_range(n, NR_GRAIN, sgd_range, &c);
}

void nr_adam(int64_t n, float *p, const float *g, float *m, float *v, float lr,
             float b1, float b2, float eps, float clip, int64_t t)
{
    nr_opt o = {.lr = lr, .beta1 = b1, .beta2 = b2, .eps = eps, .clip = clip, .scale = 1.0f, .t = t};
    nr_adam_step(n, p, g, m, v, &o);
}

void nr_sgd(int64_t n, float *p, const float *g, float *v, float lr,
            float momentum, float clip)
{
    nr_opt o = {.lr = lr, .momentum = momentum, .clip = clip, .scale = 1.0f};
    nr_sgd_step(n, p, g, v, &o);
}

/* ---- the sum of squares ----------------------------------------------- */

#define SUMSQ_TASKS 256

typedef struct {
    const float *x;
    int64_t n, chunk;
    double part[SUMSQ_TASKS];
} sumsq_job;

static void sumsq_task(void *q, int64_t task, int tid)
{
    sumsq_job *j = q;
    int64_t b = task * j->chunk, e = b + j->chunk < j->n ? b + j->chunk : j->n;
    double s[4] = {0, 0, 0, 0};
    int64_t i = b;
    (void)tid;
    for (; i + 4 <= e; i += 4)
        for (int k = 0; k < 4; k++)
            s[k] += (double)j->x[i + k] * j->x[i + k];
    for (; i < e; i++)
        s[0] += (double)j->x[i] * j->x[i];
    j->part[task] = (s[0] + s[1]) + (s[2] + s[3]);
}

double nr_sum_squares(int64_t n, const float *x)
{
    sumsq_job j = {.x = x, .n = n};
    j.chunk = (n + SUMSQ_TASKS - 1) / SUMSQ_TASKS;
    if (j.chunk < NR_GRAIN)
        j.chunk = NR_GRAIN;
    int64_t tasks = (n + j.chunk - 1) / j.chunk;
    nr_par_for(tasks, sumsq_task, &j);
    double s = 0;
    for (int64_t k = 0; k < tasks; k++)
        s += j.part[k];
    return s;
}
