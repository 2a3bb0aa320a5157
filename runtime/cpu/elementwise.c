/* elementwise.c — elementwise kernels: relu, the binary ops with
 * broadcasting, the backward ops of the UNARY_DX rows (pow, clamp, the
 * activations), the channel product and dropout (contracts in kernels.h). Chunks depend on the sizes only,
 * never on the thread count, and reductions add the chunks' partial sums in
 * chunk order, so every kernel gives the same bits on any number of threads. */
#include "kernels.h"
#include "netg.h"
#include "parallel.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- elementwise ------------------------------------------------------ */

typedef struct { const float *a, *b; float *y; } nr_ew_ctx;

/* The relu loops are written to vectorize: pointers in locals (else the
 * compiler reloads them from the context after every store) and no branch
 * (a sign the branch predictor cannot learn made relu_bwd a scalar loop at
 * 0.3 G elements/s, 9% of a base-16 U-Net's training step).  Output and
 * input may be the same array (in place, same index: no loop-carried
 * dependence, as ivdep tells the compiler). */
static void nr_relu_range(void *p, int64_t b, int64_t e)
{
    const nr_ew_ctx *c = p;
    const float *x = c->a;
    float *y = c->y;
#pragma GCC ivdep
    for (int64_t i = b; i < e; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void nr_relu_fwd(int64_t n, const float *x, float *y)
{
    nr_ew_ctx c = {x, NULL, y};
    nr_par_range(n, NR_GRAIN, nr_relu_range, &c);
}

static void nr_relu_bwd_range(void *p, int64_t b, int64_t e)
{
    const nr_ew_ctx *c = p;
    const float *dy = c->a, *y = c->b;
    float *dx = c->y;
#pragma GCC ivdep
    for (int64_t i = b; i < e; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void nr_relu_bwd(int64_t n, const float *dy, const float *y, float *dx)
{
    nr_ew_ctx c = {dy, y, dx};
    nr_par_range(n, NR_GRAIN, nr_relu_bwd_range, &c);
}

/* One row of a binary op: y[i] = a[i*sa] op b[i*sb], sa and sb 0 or 1.
 * y may be a or b (in place), never a shifted copy of either. */
static void nr_binary_row(int op, int64_t n, const float *a, int64_t sa,
                          const float *b, int64_t sb, float *y)
{
    if (sa == 1 && sb == 1) {
        switch (op) {
        case NG_OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
        case NG_OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; break;
        case NG_OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
        case NG_OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i]; break;
        }
    } else if (sb == 0) {
        const float bv = b[0];
        switch (op) {
        case NG_OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] + bv; break;
        case NG_OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] - bv; break;
        case NG_OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] * bv; break;
        case NG_OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] / bv; break;
        }
    } else { /* sa == 0, sb == 1 */
        const float av = a[0];
        switch (op) {
        case NG_OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = av + b[i]; break;
        case NG_OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = av - b[i]; break;
        case NG_OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = av * b[i]; break;
        case NG_OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = av / b[i]; break;
        }
    }
}

/* 1 when strides s (per dim of d) are those of a contiguous tensor of shape
 * d (size-1 dims may have any stride), 0 otherwise. */
static int nr_dense(const int64_t d[4], const int64_t s[4])
{
    int64_t want = 1;
    for (int k = 3; k >= 0; k--) {
        if (d[k] > 1 && s[k] != want)
            return 0;
        want *= d[k];
    }
    return 1;
}

static int nr_zero(const int64_t s[4])
{
    return !s[0] && !s[1] && !s[2] && !s[3];
}

typedef struct { int op; const float *a; int64_t sa; const float *b; int64_t sb; float *y; } nr_bin_ctx;

static void nr_binary_range(void *p, int64_t b, int64_t e)
{
    const nr_bin_ctx *c = p;
    nr_binary_row(c->op, e - b, c->a + b * c->sa, c->sa, c->b + b * c->sb, c->sb, c->y + b);
}

/* Dims merged where both inputs step through two neighbours as through one
 * (the outer stride is the inner one times the inner size, 0 and 0
 * included): the dims d with strides sa, sb become D with A, B, the
 * innermost as long as the broadcast allows (a channel bias of an
 * (N,C,H,W) tensor: rows of H*W).  The inner strides stay 0 or 1, and y,
 * dense, keeps its order. */
typedef struct {
    int op;
    int64_t d[4], sa[4], sb[4];
    const float *a, *b;
    float *y;
} nr_rows_ctx;

static void nr_merge_dims(const int64_t d[4], const int64_t sa[4], const int64_t sb[4], nr_rows_ctx *r)
{
    int m = 3;
    for (int k = 0; k < 4; k++)
        r->d[k] = 1, r->sa[k] = r->sb[k] = 0;
    for (int k = 3; k >= 0; k--) {
        if (d[k] == 1)
            continue;
        if (r->d[m] > 1 && !(sa[k] == r->sa[m] * r->d[m] && sb[k] == r->sb[m] * r->d[m]))
            m--;
        r->sa[m] = r->d[m] > 1 ? r->sa[m] : sa[k];
        r->sb[m] = r->d[m] > 1 ? r->sb[m] : sb[k];
        r->d[m] *= d[k];
    }
}

/* rows b..e of the merged dims, row r at (r / (D1*D2), r / D2 % D1, r % D2) */
static void nr_binary_rows(void *p, int64_t b, int64_t e)
{
    const nr_rows_ctx *c = p;
    for (int64_t r = b; r < e; r++) {
        const int64_t i0 = r / (c->d[1] * c->d[2]), i1 = r / c->d[2] % c->d[1], i2 = r % c->d[2];
        nr_binary_row(c->op, c->d[3], c->a + i0 * c->sa[0] + i1 * c->sa[1] + i2 * c->sa[2], c->sa[3],
                      c->b + i0 * c->sb[0] + i1 * c->sb[1] + i2 * c->sb[2], c->sb[3], c->y + r * c->d[3]);
    }
}

void nr_binary(int op, const int64_t d[4], const float *a, const int64_t sa[4],
               const float *b, const int64_t sb[4], float *y)
{
    const int64_t n = d[0] * d[1] * d[2] * d[3];
    int da = nr_dense(d, sa), db = nr_dense(d, sb), za = nr_zero(sa), zb = nr_zero(sb);
    if ((da || za) && (db || zb) && !(za && zb && n > 1)) {
        /* both whole or scalar: one flat row, in chunks */
        nr_bin_ctx c = {op, a, za ? 0 : 1, b, zb ? 0 : 1, y};
        nr_par_range(n, NR_GRAIN, nr_binary_range, &c);
        return;
    }
    nr_rows_ctx c = {.op = op, .a = a, .b = b, .y = y};
    nr_merge_dims(d, sa, sb, &c);
    const int64_t rows = c.d[0] * c.d[1] * c.d[2];
    nr_par_range(rows, c.d[3] >= NR_GRAIN ? 1 : NR_GRAIN / c.d[3], nr_binary_rows, &c);
}

/* ---- the backward ops of the UNARY_DX rows ----------------------------- */

typedef struct { int op; const float *dy, *v; float a, b; float *dx; } nr_ubwd_ctx;

static void nr_unary_bwd_range(void *p, int64_t b, int64_t e)
{
    const nr_ubwd_ctx *c = p;
    ng_unary_bwd_f32((ng_op)c->op, e - b, c->dy + b, c->v + b, c->a, c->b, c->dx + b);
}

void nr_unary_bwd(int op, int64_t n, const float *dy, const float *v, float a, float b, float *dx)
{
    nr_ubwd_ctx c = {op, dy, v, a, b, dx};
    nr_par_range(n, NR_GRAIN, nr_unary_bwd_range, &c);
}

/* ---- dropout mask ----------------------------------------------------- */

void nr_dropout_mask(int n, int c, float p, uint64_t seed, uint64_t step,
                     uint32_t salt, float *mask)
{
    nr_dropout_mask_at(n, c, p, seed, step, salt, 0, mask);
}

void nr_dropout_mask_at(int n, int c, float p, uint64_t seed, uint64_t step,
                        uint32_t salt, uint64_t first, float *mask)
{
    const int64_t len = (int64_t)n * c;
    /* the stream key: seed, step and salt each pass through the mixer */
    uint64_t key = ng_mix64(seed + NG_GOLDEN64);
    key = ng_mix64(key ^ (step + NG_GOLDEN64));
    key = ng_mix64(key ^ ((uint64_t)salt + NG_GOLDEN64));
    const float keep = p >= 1.0f ? 0.0f : p <= 0.0f ? 1.0f : 1.0f / (1.0f - p);
    for (int64_t i = 0; i < len; i++) {
        uint64_t r = ng_mix64(key + (first + (uint64_t)i + 1) * NG_GOLDEN64);
        float u = (float)(r >> 40) * 0x1p-24f;                /* [0,1), 24 bits */
        mask[i] = u < p ? 0.0f : keep;
    }
}

/* ---- element-wise dropout ----------------------------------------------- */

typedef struct {
    uint64_t key, first;
    float p, keep;
    const float *x;
    float *y;
} drop_ctx;

static void dropout_range(void *q, int64_t b, int64_t e)
{
    const drop_ctx *c = q;
    for (int64_t i = b; i < e; i++) {
        uint64_t r = ng_mix64(c->key + (c->first + (uint64_t)i + 1) * NG_GOLDEN64);
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
    uint64_t key = ng_mix64(seed + NG_GOLDEN64);
    key = ng_mix64(key ^ (step + NG_GOLDEN64));
    key = ng_mix64(key ^ ((uint64_t)salt + NG_GOLDEN64));
    drop_ctx c = {key, first, p, p >= 1.0f ? 0.0f : 1.0f / (1.0f - p), x, y};
    nr_par_range(n, NR_GRAIN, dropout_range, &c);
}
