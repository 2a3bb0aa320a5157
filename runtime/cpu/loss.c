/* loss.c — softmax, log-softmax, one-hot and the fused cross-entropy (contracts in kernels.h). Chunks depend on the sizes only,
 * never on the thread count, and reductions add the chunks' partial sums in
 * chunk order, so every kernel gives the same bits on any number of threads.
 * The log-sum-exp pass under them is the SIMD one of lse_isa.h where the CPU
 * has it, else the generic C one here. */
#include "conv.h"
#include "kernels.h"
#include "lse_isa.h"
#include "parallel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x in float, branch-free so that loops over it vectorize: Cephes' expf
 * (x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r; error about 1
 * ulp); the contract of nr_lse_ops.exp (lse_isa.h): 0 below -87.33 (and at
 * -inf), e^88 above 88 (the power of 2 must stay finite), NaN at NaN.  For
 * the softmax-like kernels, whose arguments are x - max <= 0. */
static inline float nr_expf(float x)
{
    const float xc = x < -87.33654f ? -87.33654f : x > 88.0f ? 88.0f : x;
    float fn = floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - fn * 0.693359375f + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)(fn == fn ? fn : 0.0f) + 127) << 23; /* NaN: p is NaN already */
    float two_n;
    memcpy(&two_n, &e, sizeof two_n);
    return x < -87.33654f ? 0.0f : p * two_n;
}

static void generic_exp(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = nr_expf(x[i]);
}

/* mx (nb) = max over channels of the block x (C, nb of HW), se (nb) = sum of
 * exp(x - mx), and e (C, nb of HW) = those exponentials unless e is NULL:
 * one channel row of the block at a time */
static void generic_lse_rows(int c, int64_t hw, const float *x, int nb, float *mx, float *se, float *e)
{
    for (int j = 0; j < nb; j++)
        mx[j] = x[j];
    for (int ch = 1; ch < c; ch++) {
        const float *xc = x + ch * hw;
        for (int j = 0; j < nb; j++)
            mx[j] = xc[j] > mx[j] ? xc[j] : mx[j];
    }
    for (int j = 0; j < nb; j++)
        se[j] = 0.0f;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + ch * hw;
        for (int j = 0; j < nb; j++) {
            float ev = nr_expf(xc[j] - mx[j]);
            if (e)
                e[ch * hw + j] = ev;
            se[j] += ev;
        }
    }
}

static void generic_block_lse(int c, int64_t hw, const float *x, int nb, float *mx, float *se)
{
    generic_lse_rows(c, hw, x, nb, mx, se, NULL);
}

/* Pixels per block: the per-pixel running max and sum live on the stack
 * while the C channel rows of the block are swept. */
#define NR_PIX_BLOCK 1024

/* nr_lse_ops.block_softmax in plain C: the exponentials written to y, then
 * scaled there */
static void generic_block_softmax(int c, int64_t hw, const float *x, int nb, const float *coef, const int32_t *labels,
                                  float *y)
{
    float mx[NR_PIX_BLOCK], f[NR_PIX_BLOCK];
    generic_lse_rows(c, hw, x, nb, mx, f, y);
    for (int j = 0; j < nb; j++)
        f[j] = (coef ? coef[j] : 1.0f) / f[j];
    for (int ch = 0; ch < c; ch++) {
        float *yc = y + ch * hw;
        for (int j = 0; j < nb; j++)
            yc[j] *= f[j];
    }
    for (int j = 0; labels && j < nb; j++)
        if (labels[j] >= 0 && labels[j] < c)
            y[(int64_t)labels[j] * hw + j] -= coef ? coef[j] : 1.0f;
}

static const nr_lse_ops generic_ops = {"generic", generic_block_lse, generic_block_softmax, generic_exp};

const nr_lse_ops *nr_lse_ops_now(void)
{
    switch (nr_conv_isa()) {
#if defined(__x86_64__) || defined(__i386__)
    case NR_ISA_AVX512: return &nr_lse_avx512_ops;
    case NR_ISA_AVX2: return &nr_lse_avx2_ops;
#endif
    default: return &generic_ops;
    }
}

/* ---- softmax and cross-entropy ---------------------------------------- */

/* The softmax-like kernels run one task per NR_PIX_BLOCK pixels of one
 * image: task t is image t / blocks, pixels from (t % blocks) * NR_PIX_BLOCK. */
typedef struct {
    int c;
    int64_t hw, blocks;   /* blocks per image */
    const float *x;       /* (N,C,HW) */
    float *y;             /* (N,C,HW) */
    const int32_t *labels;/* (N,HW), cross-entropy */
    const float *w;       /* (C) or NULL */
    int ignore;
    double g;             /* cross-entropy backward: dloss / wsum */
    int64_t t0;           /* cross-entropy forward: the round's first block */
    double *part;         /* per task of the round: its partial sums (2) */
    const nr_lse_ops *ops; /* the log-sum-exp pass */
} nr_sm_ctx;

static int64_t nr_sm_tasks(int64_t n, int64_t hw, nr_sm_ctx *c)
{
    c->ops = nr_lse_ops_now();
    c->blocks = (hw + NR_PIX_BLOCK - 1) / NR_PIX_BLOCK;
    return n * c->blocks;
}

/* The block of task t: nb pixels of one image, at its first pixel in x, y
 * and labels (NULL where the context has none). */
typedef struct {
    int nb;
    const float *x;        /* (C, nb of HW) */
    float *y;              /* (C, nb of HW) */
    const int32_t *labels; /* (nb) */
} nr_sm_blk;

static nr_sm_blk nr_sm_block(const nr_sm_ctx *c, int64_t t)
{
    int64_t b = t / c->blocks, p0 = (t % c->blocks) * NR_PIX_BLOCK, at = b * c->c * c->hw + p0;
    return (nr_sm_blk){c->hw - p0 < NR_PIX_BLOCK ? (int)(c->hw - p0) : NR_PIX_BLOCK, c->x + at,
                       c->y ? c->y + at : NULL, c->labels ? c->labels + b * c->hw + p0 : NULL};
}

static void nr_softmax_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    const nr_sm_blk k = nr_sm_block(c, t);
    (void)tid;
    c->ops->block_softmax(c->c, c->hw, k.x, k.nb, NULL, NULL, k.y);
}

void nr_softmax_c(int64_t n, int c, int64_t hw, const float *x, float *y)
{
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = x, .y = y};
    nr_par_for(nr_sm_tasks(n, hw, &ctx), nr_softmax_task, &ctx);
}

static void nr_log_softmax_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    const nr_sm_blk k = nr_sm_block(c, t);
    float mx[NR_PIX_BLOCK], se[NR_PIX_BLOCK];
    (void)tid;
    c->ops->block_lse(c->c, c->hw, k.x, k.nb, mx, se);
    for (int j = 0; j < k.nb; j++)
        se[j] = mx[j] + logf(se[j]);                           /* log-sum-exp */
    for (int ch = 0; ch < c->c; ch++) {
        const float *xc = k.x + ch * c->hw;
        float *yc = k.y + ch * c->hw;
        for (int j = 0; j < k.nb; j++)
            yc[j] = xc[j] - se[j];
    }
}

void nr_log_softmax(int64_t n, int c, int64_t hw, const float *x, float *y)
{
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = x, .y = y};
    nr_par_for(nr_sm_tasks(n, hw, &ctx), nr_log_softmax_task, &ctx);
}

void nr_one_hot(int n, int c, int64_t hw, const int32_t *labels, int ignore, float *y)
{
    memset(y, 0, (size_t)((int64_t)n * c * hw) * sizeof *y);
    for (int b = 0; b < n; b++) {
        const int32_t *lb = labels + (int64_t)b * hw;          /* (HW) */
        float *yb = y + (int64_t)b * c * hw;                   /* (C,HW) */
        for (int64_t p = 0; p < hw; p++)
            if (lb[p] != ignore && lb[p] >= 0 && lb[p] < c)
                yb[(int64_t)lb[p] * hw + p] = 1.0f;
    }
}

void nr_valid_mask(int64_t n, int c, const int32_t *labels, int ignore, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = labels[i] != ignore && labels[i] >= 0 && labels[i] < c ? 1.0f : 0.0f;
}

void nr_slice(int64_t outer, int64_t d, int64_t start, int64_t count, int64_t inner,
              const float *x, float *y)
{
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + o * count * inner, x + (o * d + start) * inner,
               (size_t)(count * inner) * sizeof *y);
}

void nr_pad(int64_t outer, int64_t d, int64_t start, int64_t count, int64_t inner,
            const float *x, float *y)
{
    memset(y, 0, (size_t)(outer * d * inner) * sizeof *y);
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + (o * d + start) * inner, x + o * count * inner,
               (size_t)(count * inner) * sizeof *y);
}

/* Class weight of a label, or 0 when the pixel does not count (ignored or
 * out of [0,c)). */
static float nr_label_weight(int32_t y, int c, const float *w, int ignore)
{
    if (y == ignore || y < 0 || y >= c)
        return 0.0f;
    return w ? w[y] : 1.0f;
}

/* Cross-entropy forward, block t0 + t: part[2t] = sum of w_y * nll,
 * part[2t+1] = sum of w_y over the block's counted pixels. */
static void nr_ce_fwd_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    const nr_sm_blk k = nr_sm_block(c, c->t0 + t);
    float mx[NR_PIX_BLOCK], se[NR_PIX_BLOCK];
    (void)tid;
    double loss = 0.0, wsum = 0.0;
    c->ops->block_lse(c->c, c->hw, k.x, k.nb, mx, se);
    for (int j = 0; j < k.nb; j++) {
        float wy = nr_label_weight(k.labels[j], c->c, c->w, c->ignore);
        if (wy == 0.0f)
            continue;
        double nll = mx[j] + log((double)se[j]) - k.x[(int64_t)k.labels[j] * c->hw + j];
        loss += wy * nll;
        wsum += wy;
    }
    c->part[2 * t] = loss;
    c->part[2 * t + 1] = wsum;
}

/* The blocks of one kernel call whose partial sums fit on the stack; larger
 * inputs run in several rounds (NR_CE_ROUND tasks each). */
#define NR_CE_ROUND 512

float nr_cross_entropy_fwd(int n, int c, int64_t hw, const float *logits,
                           const int32_t *labels, const float *w, int ignore)
{
    double loss, wsum;
    nr_cross_entropy_sums(n, c, hw, logits, labels, w, ignore, &loss, &wsum);
    return wsum != 0.0 ? (float)(loss / wsum) : 0.0f;
}

void nr_cross_entropy_sums(int n, int c, int64_t hw, const float *logits, const int32_t *labels,
                           const float *w, int ignore, double *loss_out, double *wsum_out)
{
    double part[2 * NR_CE_ROUND], loss = 0.0, wsum = 0.0;
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = logits, .labels = labels, .w = w, .ignore = ignore,
                     .part = part};
    int64_t tasks = nr_sm_tasks(n, hw, &ctx);
    for (ctx.t0 = 0; ctx.t0 < tasks; ctx.t0 += NR_CE_ROUND) {
        int64_t m = tasks - ctx.t0 < NR_CE_ROUND ? tasks - ctx.t0 : NR_CE_ROUND;
        nr_par_for(m, nr_ce_fwd_task, &ctx);
        for (int64_t i = 0; i < m; i++) {
            loss += part[2 * i];
            wsum += part[2 * i + 1];
        }
    }
    *loss_out = loss;
    *wsum_out = wsum;
}

/* d/dx_ch = coef * (softmax_ch - [ch == y]), coef = dloss*w_y/wsum */
static void nr_ce_bwd_task(void *p, int64_t t, int tid)
{
    const nr_sm_ctx *c = p;
    const nr_sm_blk k = nr_sm_block(c, t);
    float coef[NR_PIX_BLOCK];
    (void)tid;
    for (int j = 0; j < k.nb; j++)
        coef[j] = (float)(c->g * nr_label_weight(k.labels[j], c->c, c->w, c->ignore));
    c->ops->block_softmax(c->c, c->hw, k.x, k.nb, coef, k.labels, k.y);
}

double nr_cross_entropy_wsum(int n, int c, int64_t hw, const int32_t *labels, const float *w, int ignore)
{
    double wsum = 0.0;
    for (int64_t i = 0; i < (int64_t)n * hw; i++)
        wsum += nr_label_weight(labels[i], c, w, ignore);
    return wsum;
}

void nr_cross_entropy_bwd(int n, int c, int64_t hw, float dloss, const float *logits,
                          const int32_t *labels, const float *w, int ignore,
                          float *dlogits)
{
    nr_cross_entropy_bwd_den(n, c, hw, dloss, logits, labels, w, ignore,
                             nr_cross_entropy_wsum(n, c, hw, labels, w, ignore), dlogits);
}

void nr_cross_entropy_bwd_den(int n, int c, int64_t hw, float dloss, const float *logits,
                              const int32_t *labels, const float *w, int ignore, double wsum,
                              float *dlogits)
{
    if (wsum == 0.0) {
        memset(dlogits, 0, (size_t)((int64_t)n * c * hw) * sizeof *dlogits);
        return;
    }
    nr_sm_ctx ctx = {.c = c, .hw = hw, .x = logits, .y = dlogits, .labels = labels, .w = w,
                     .ignore = ignore, .g = dloss / wsum};
    nr_par_for(nr_sm_tasks(n, hw, &ctx), nr_ce_bwd_task, &ctx);
}
