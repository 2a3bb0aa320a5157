/* test_ops.c — the per-op table (as ggml's test-backend-ops): every row of
 * ops.def runs here, its kernels called through one function, run_node,
 * through the backend seam (the CPU backend; another backend is checked op
 * by op against it by the same table).
 * A case is an op, its inputs (shape and kind of values) and attributes: its
 * forward pass against a plain reference in double (a UNARY row's is its own
 * expression, evaluated in double), then, for each input that takes a
 * gradient, the gradient of L = sum(y * r), r random, through the op's rule
 * in compiler/autodiff.c (the backward ops it emits, run here), against
 * central differences of L.  A UNARY row whose attributes all have defaults
 * gets a case of its own from the table (x in [0.5, 2), where every such
 * function is defined and smooth); backward ops run inside the gradients;
 * an op that no case runs is a failure.
 * On a CPU with AVX512_BF16 the convolution rows run again at precision
 * bf16 (conv_bf16.h, forced onto every geometry it takes): their forward
 * pass against the same reference within the bound of test_conv_bf16.c,
 * (2^-7 + 2^-16 + n*2^-23) * sum |x||w| per output (n: the reduction's
 * terms, bias included), the sum from the reference run on |x|, |w|, |b|.
 * Their gradients are not probed there: finite differences cannot resolve
 * bf16's rounding (test_conv_bf16.c checks the gradient kernels, and
 * tests/e2e_bf16.sh a network's gradients). */
#include "autodiff.h"
#include "conv.h"
#include "conv_bf16.h"
#include "cpu.h"
#include "kcheck.h"

/* The one way kernels are called here: the backend's run. */
static void run_node(const nr_kctx *k) { nr_backend_cpu()->run(k); }

/* ---- cases ------------------------------------------------------------- */

/* Kinds of input values:
 *   r  uniform in [-1, 1)
 *   p  positive, in [0.5, 2)
 *   n  nonzero, |x| in [0.5, 1.5) (a divisor)
 *   a  in [-1, 1), at least 0.05 from 0, fa[0] and fa[1] (kinks)
 *   o  3 + 2 * [-1, 1): an offset and a scale (normalization inputs)
 *   d  distinct values 0.05 apart, shuffled (maxima, sorting)
 *   l  labels (i32): a class of the case, 1 in 8 the ignore label 255, a
 *      few out of range
 *   i  indices (i32): a permutation along dim ia[0] (gather)
 *   -  absent (-1) */
typedef struct {
    char kind;
    int ndim;
    int32_t dim[NG_MAX_DIMS];
} in_spec;

#define EXACT (-1.0)
#define IN(kind, ...) {kind, (int)(sizeof (int32_t[]){__VA_ARGS__} / sizeof(int32_t)), {__VA_ARGS__}}
#define SCALAR(kind) {kind, 0, {0}}
#define ABSENT {'-', 0, {0}}

/* What a reference reads: the node, its inputs (NULL where absent) and their
 * values as before the run; it writes the values out must have into want.
 * got is the kernel's output, which the references of random ops read. */
typedef struct {
    const ng_node *n;
    const ng_tensor *t[NG_MAX_IN];
    const float *x[NG_MAX_IN];
    const ng_tensor *out;   /* the output; an update op's: its input 0 */
    const float *got;
    double *want;
} ref_ctx;
typedef void (*ref_fn)(const ref_ctx *r);

typedef struct {
    int op;
    const char *what;          /* the case, after the op's name */
    in_spec in[NG_MAX_IN];     /* kind 0 ends the list */
    int32_t ia[NG_MAX_IA];
    float fa[NG_MAX_FA];
    ref_fn ref;                /* NULL: a UNARY row's expression */
    double tol;                /* forward: |got - want| <= tol * max(floor, |want|),
                                  floor 1, or 1e-6 for a UNARY row's expression
                                  (4e-7: a few float roundings); EXACT: got == want */
    int classes;               /* labels: the classes (ignore 255) */
    int fwd_only;              /* no gradient check: batch_norm in eval mode,
                                  whose rule is the train mode's */
} op_case;

/* ---- references (double) ------------------------------------------------ */

static int64_t nel(const ng_tensor *t) { return ng_tensor_nelem(t); }
static const int32_t *lab(const ref_ctx *r, int i) { return (const int32_t *)r->x[i]; }

/* t's size before, at and after dim axis. */
static void around(const ng_tensor *t, int axis, int64_t *outer, int64_t *d, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (i < axis)
            *outer *= t->dim[i];
        else if (i > axis)
            *inner *= t->dim[i];
    }
    *d = t->dim[axis];
}

static void ref_unary(const ref_ctx *r)
{
    for (int64_t i = 0; i < nel(r->out); i++)
        r->want[i] = ng_unary_f64((ng_op)r->n->op, r->x[0][i], r->n->fa[0], r->n->fa[1]);
}

static void ref_relu(const ref_ctx *r)
{
    for (int64_t i = 0; i < nel(r->out); i++)
        r->want[i] = r->x[0][i] > 0 ? r->x[0][i] : 0;
}

/* x (N,C,H,W), w (K,C/G,KH,KW), b (K)?; dilation, groups, fused relu */
static void ref_conv2d(const ref_ctx *r)
{
    const ng_tensor *x = r->t[0], *w = r->t[1], *y = r->out;
    const int32_t *ia = r->n->ia;
    int N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
    int K = w->dim[0], Cg = w->dim[1], KH = w->dim[2], KW = w->dim[3], OH = y->dim[2], OW = y->dim[3];
    int d = ng_conv_dilation(r->n), Kg = K / ng_conv_groups(r->n);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double s = r->x[2] ? r->x[2][k] : 0;
                    for (int c = 0; c < Cg; c++)
                        for (int ky = 0; ky < KH; ky++)
                            for (int kx = 0; kx < KW; kx++) {
                                int iy = oy * ia[0] - ia[1] + ky * d, ix = ox * ia[0] - ia[2] + kx * d;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                    s += (double)r->x[0][(((int64_t)n * C + k / Kg * Cg + c) * H + iy) * W + ix] *
                                         r->x[1][(((int64_t)k * Cg + c) * KH + ky) * KW + kx];
                            }
                    r->want[(((int64_t)n * K + k) * OH + oy) * OW + ox] = ia[5] && s < 0 ? 0 : s;
                }
}

/* x (N,CI,H,W), w (CI,CO,KH,KW), b (CO)?: each input pixel scattered */
static void ref_conv_transpose2d(const ref_ctx *r)
{
    const ng_tensor *x = r->t[0], *w = r->t[1], *y = r->out;
    const int32_t *ia = r->n->ia;
    int N = x->dim[0], CI = x->dim[1], H = x->dim[2], W = x->dim[3];
    int CO = w->dim[1], KH = w->dim[2], KW = w->dim[3], OH = y->dim[2], OW = y->dim[3];
    for (int64_t i = 0; i < nel(y); i++)
        r->want[i] = r->x[2] ? r->x[2][i / ((int64_t)OH * OW) % CO] : 0;
    for (int n = 0; n < N; n++)
        for (int ci = 0; ci < CI; ci++)
            for (int iy = 0; iy < H; iy++)
                for (int ix = 0; ix < W; ix++)
                    for (int co = 0; co < CO; co++)
                        for (int ky = 0; ky < KH; ky++)
                            for (int kx = 0; kx < KW; kx++) {
                                int oy = iy * ia[0] - ia[1] + ky, ox = ix * ia[0] - ia[2] + kx;
                                if (oy >= 0 && oy < OH && ox >= 0 && ox < OW)
                                    r->want[(((int64_t)n * CO + co) * OH + oy) * OW + ox] +=
                                        (double)r->x[0][(((int64_t)n * CI + ci) * H + iy) * W + ix] *
                                        r->x[1][(((int64_t)ci * CO + co) * KH + ky) * KW + kx];
                            }
}

/* x (N,C,H,W) -> (N,C,OH,OW): the max (avg: mean) of each k x k window
 * (stride k, floor), or of the whole plane (global) */
static void pool(const ref_ctx *r, int k, int avg)
{
    const ng_tensor *x = r->t[0], *y = r->out;
    int H = x->dim[2], W = x->dim[3], OH = y->dim[2], OW = y->dim[3], kh = k ? k : H, kw = k ? k : W;
    for (int64_t p = 0; p < (int64_t)x->dim[0] * x->dim[1]; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double m = avg ? 0 : -INFINITY;
                for (int a = 0; a < kh; a++)
                    for (int b = 0; b < kw; b++) {
                        double v = r->x[0][(p * H + oy * kh + a) * W + ox * kw + b];
                        m = avg ? m + v / (kh * kw) : fmax(m, v);
                    }
                r->want[(p * OH + oy) * OW + ox] = m;
            }
}

static void ref_maxpool(const ref_ctx *r) { pool(r, r->n->ia[0], 0); }
static void ref_avg_pool(const ref_ctx *r) { pool(r, r->n->ia[0], 1); }
static void ref_global_max_pool(const ref_ctx *r) { pool(r, 0, 0); }

static void ref_upsample(const ref_ctx *r)
{
    const ng_tensor *x = r->t[0], *y = r->out;
    int s = r->n->ia[0], H = x->dim[2], W = x->dim[3];
    for (int64_t p = 0; p < (int64_t)x->dim[0] * x->dim[1]; p++)
        for (int oy = 0; oy < H * s; oy++)
            for (int ox = 0; ox < W * s; ox++)
                r->want[(p * y->dim[2] + oy) * y->dim[3] + ox] = r->x[0][(p * H + oy / s) * W + ox / s];
}

/* PyTorch's upsample_bilinear2d: source coordinate (o + 0.5) / s - 0.5
 * clamped at 0, or o * (in - 1) / (out - 1) with align_corners */
static void bl_src(int o, int in, int s, int align, int *i0, int *i1, double *l)
{
    double src = align ? (in * s > 1 ? (double)o * (in - 1) / (in * s - 1) : 0) : (o + 0.5) / s - 0.5;
    src = src < 0 ? 0 : src;
    *i0 = (int)src < in - 1 ? (int)src : in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *l = src - *i0;
}

static void ref_upsample_bilinear(const ref_ctx *r)
{
    const ng_tensor *x = r->t[0];
    int s = r->n->ia[0], H = x->dim[2], W = x->dim[3];
    for (int64_t p = 0; p < (int64_t)x->dim[0] * x->dim[1]; p++)
        for (int oy = 0; oy < H * s; oy++)
            for (int ox = 0; ox < W * s; ox++) {
                int y0, y1, x0, x1;
                double ly, lx;
                const float *q = r->x[0] + p * H * W;
                bl_src(oy, H, s, r->n->ia[1], &y0, &y1, &ly);
                bl_src(ox, W, s, r->n->ia[1], &x0, &x1, &lx);
                r->want[(p * H * s + oy) * W * s + ox] =
                    (1 - ly) * ((1 - lx) * q[y0 * W + x0] + lx * q[y0 * W + x1]) +
                    ly * ((1 - lx) * q[y1 * W + x0] + lx * q[y1 * W + x1]);
            }
}

/* pad_top, pad_left (pad_bottom, pad_right implied by out), mode: zero or
 * reflect (the edge not repeated) */
static void ref_pad2d(const ref_ctx *r)
{
    const ng_tensor *x = r->t[0], *y = r->out;
    int H = x->dim[2], W = x->dim[3], OH = y->dim[2], OW = y->dim[3], reflect = r->n->ia[4];
    for (int64_t p = 0; p < (int64_t)x->dim[0] * x->dim[1]; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int iy = oy - r->n->ia[0], ix = ox - r->n->ia[1];
                if (reflect) {
                    iy = iy < 0 ? -iy : iy >= H ? 2 * (H - 1) - iy : iy;
                    ix = ix < 0 ? -ix : ix >= W ? 2 * (W - 1) - ix : ix;
                }
                int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                r->want[(p * OH + oy) * OW + ox] = in ? r->x[0][(p * H + iy) * W + ix] : 0;
            }
}

static void ref_concat(const ref_ctx *r)
{
    const ng_tensor *y = r->out;
    int64_t hw = (int64_t)y->dim[2] * y->dim[3];
    for (int n = 0; n < y->dim[0]; n++)
        for (int i = 0, c0 = 0; i < r->n->n_in; c0 += r->t[i++]->dim[1])
            for (int64_t j = 0; j < r->t[i]->dim[1] * hw; j++)
                r->want[((int64_t)n * y->dim[1] + c0) * hw + j] = r->x[i][(int64_t)n * r->t[i]->dim[1] * hw + j];
}

static void ref_mul_channel(const ref_ctx *r)
{
    int64_t hw = (int64_t)r->t[0]->dim[2] * r->t[0]->dim[3];
    for (int64_t i = 0; i < nel(r->out); i++)
        r->want[i] = (double)r->x[0][i] * r->x[1][i / hw];
}

/* softmax and log_softmax over dim ia[0] */
static void softmax(const ref_ctx *r, int take_log)
{
    int64_t outer, d, inner;
    around(r->t[0], r->n->ia[0], &outer, &d, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *x = r->x[0] + o * d * inner + i;
            double m = -INFINITY, z = 0;
            for (int64_t k = 0; k < d; k++)
                m = fmax(m, x[k * inner]);
            for (int64_t k = 0; k < d; k++)
                z += exp(x[k * inner] - m);
            for (int64_t k = 0; k < d; k++)
                r->want[o * d * inner + k * inner + i] =
                    take_log ? x[k * inner] - m - log(z) : exp(x[k * inner] - m) / z;
        }
}

static void ref_softmax(const ref_ctx *r) { softmax(r, 0); }
static void ref_log_softmax(const ref_ctx *r) { softmax(r, 1); }

/* the weighted mean of -log softmax(logits)[label] over the pixels whose
 * label is a class and not ia[0] */
static void ref_cross_entropy(const ref_ctx *r)
{
    const ng_tensor *lg = r->t[0];
    int N = lg->dim[0], C = lg->dim[1];
    int64_t hw = (int64_t)lg->dim[2] * lg->dim[3];
    double loss = 0, wsum = 0;
    for (int n = 0; n < N; n++)
        for (int64_t p = 0; p < hw; p++) {
            int32_t y = lab(r, 1)[n * hw + p];
            if (y == r->n->ia[0] || y < 0 || y >= C)
                continue;
            const float *x = r->x[0] + (int64_t)n * C * hw + p;
            double m = -INFINITY, z = 0, w = r->x[2] ? r->x[2][y] : 1;
            for (int k = 0; k < C; k++)
                m = fmax(m, x[k * hw]);
            for (int k = 0; k < C; k++)
                z += exp(x[k * hw] - m);
            loss += w * (m + log(z) - x[y * hw]);
            wsum += w;
        }
    r->want[0] = wsum ? loss / wsum : 0;
}

/* a op b, numpy broadcasting */
static void ref_binary(const ref_ctx *r)
{
    int64_t d[4], s[2][4];
    for (int k = 3, step[2] = {1, 1}; k >= 0; k--) {
        int i = k - (4 - r->out->ndim);
        d[k] = i >= 0 ? r->out->dim[i] : 1;
        for (int j = 0; j < 2; j++) {
            int ij = k - (4 - r->t[j]->ndim);
            int64_t dj = ij >= 0 ? r->t[j]->dim[ij] : 1;
            s[j][k] = dj == 1 ? 0 : step[j];
            step[j] *= (int)dj;
        }
    }
    for (int64_t i0 = 0, o = 0; i0 < d[0]; i0++)
        for (int64_t i1 = 0; i1 < d[1]; i1++)
            for (int64_t i2 = 0; i2 < d[2]; i2++)
                for (int64_t i3 = 0; i3 < d[3]; i3++, o++) {
                    double a = r->x[0][i0 * s[0][0] + i1 * s[0][1] + i2 * s[0][2] + i3 * s[0][3]];
                    double b = r->x[1][i0 * s[1][0] + i1 * s[1][1] + i2 * s[1][2] + i3 * s[1][3]];
                    int op = r->n->op;
                    r->want[o] = op == NG_OP_ADD ? a + b : op == NG_OP_SUB ? a - b : op == NG_OP_MUL ? a * b : a / b;
                }
}

/* fa[0] * the sum over the dims of mask ia[0] (bit i: dim i from the left) */
static void ref_reduce_sum(const ref_ctx *r)
{
    const ng_tensor *x = r->t[0];
    int64_t stride[NG_MAX_DIMS], step = 1, idx[NG_MAX_DIMS] = {0};
    for (int k = x->ndim - 1; k >= 0; k--) {
        stride[k] = r->n->ia[0] >> k & 1 ? 0 : step;
        step *= r->n->ia[0] >> k & 1 ? 1 : x->dim[k];
    }
    for (int64_t i = 0; i < nel(r->out); i++)
        r->want[i] = 0;
    for (int64_t i = 0; i < nel(x); i++) {
        int64_t o = 0;
        for (int k = 0; k < x->ndim; k++)
            o += idx[k] * stride[k];
        r->want[o] += (double)r->n->fa[0] * r->x[0][i];
        for (int k = x->ndim - 1; k >= 0 && ++idx[k] == x->dim[k]; k--)
            idx[k] = 0;
    }
}

static void ref_copy(const ref_ctx *r) /* reshape, batch_sum (one process) */
{
    for (int64_t i = 0; i < nel(r->out); i++)
        r->want[i] = r->x[0][i];
}

/* count ia[2] from ia[1] along dim ia[0] */
static void ref_slice(const ref_ctx *r)
{
    int64_t outer, d, inner, c = r->n->ia[2];
    around(r->t[0], r->n->ia[0], &outer, &d, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < c * inner; j++)
            r->want[o * c * inner + j] = r->x[0][(o * d + r->n->ia[1]) * inner + j];
}

/* the running sum along dim ia[0], from the end when ia[1] */
static void ref_cumsum(const ref_ctx *r)
{
    int64_t outer, d, inner;
    around(r->t[0], r->n->ia[0], &outer, &d, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) {
                int64_t at = (o * d + (r->n->ia[1] ? d - 1 - k : k)) * inner + i;
                r->want[at] = s += r->x[0][at];
            }
        }
}

/* the stable sorting permutation along dim ia[0], descending when ia[1] */
static void ref_argsort(const ref_ctx *r)
{
    int64_t outer, d, inner;
    around(r->t[0], r->n->ia[0], &outer, &d, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *x = r->x[0] + o * d * inner + i;
            for (int64_t k = 0; k < d; k++) { /* rank: the values before it in the order */
                int64_t rank = 0;
                for (int64_t j = 0; j < d; j++) {
                    double a = x[j * inner], b = x[k * inner];
                    rank += (r->n->ia[1] ? a > b : a < b) || (a == b && j < k);
                }
                r->want[o * d * inner + rank * inner + i] = (double)k;
            }
        }
}

/* y[.., j, ..] = x[.., idx[.., j, ..], ..] along dim ia[0] */
static void ref_gather(const ref_ctx *r)
{
    int64_t outer, d, inner;
    around(r->t[0], r->n->ia[0], &outer, &d, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < d; k++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (o * d + k) * inner + i, j = lab(r, 1)[at];
                r->want[at] = j >= 0 && j < d ? r->x[0][(o * d + j) * inner + i] : 0;
            }
}

static void ref_one_hot(const ref_ctx *r) /* (N,K,H,W); valid_mask: (N,1,H,W) */
{
    int K = r->out->dim[1], valid = r->n->op == NG_OP_VALID_MASK;
    int64_t hw = (int64_t)r->t[0]->dim[1] * r->t[0]->dim[2];
    for (int64_t i = 0; i < nel(r->out); i++) {
        int32_t y = lab(r, 0)[i / (K * hw) * hw + i % hw];
        int ok = y != r->n->ia[1] && y >= 0 && y < r->n->ia[0];
        r->want[i] = ok && (valid || y == i / hw % K);
    }
}

static void ref_downsample_labels(const ref_ctx *r) /* the top-left label of each k x k block */
{
    const ng_tensor *lb = r->t[0], *y = r->out;
    int k = r->n->ia[0];
    for (int n = 0; n < y->dim[0]; n++)
        for (int i = 0; i < y->dim[1]; i++)
            for (int j = 0; j < y->dim[2]; j++)
                r->want[((int64_t)n * y->dim[1] + i) * y->dim[2] + j] =
                    lab(r, 0)[((int64_t)n * lb->dim[1] + i * k) * lb->dim[2] + j * k];
}

static void ref_sumsq(const ref_ctx *r)
{
    r->want[0] = 0;
    for (int64_t i = 0; i < nel(r->t[0]); i++)
        r->want[0] += (double)r->x[0][i] * r->x[0][i];
}

/* x (N,C,HW) normalized over groups of C/G channels (batch_norm: over N and
 * HW per channel, or with the running statistics), then gamma, beta */
static void normalize(const ref_ctx *r, int groups, int batch, int running)
{
    const ng_tensor *x = r->t[0];
    int N = x->dim[0], C = x->dim[1], Cg = C / groups;
    int64_t hw = (int64_t)x->dim[2] * x->dim[3];
    double eps = r->n->fa[0];
    for (int n = 0; n < (batch ? 1 : N); n++)
        for (int g = 0; g < groups; g++) {
            double mu = 0, var = 0, m = (double)Cg * hw * (batch ? N : 1);
            for (int pass = 0; pass < 3; pass++)
                for (int b = batch ? 0 : n; b < (batch ? N : n + 1); b++)
                    for (int64_t i = 0; i < Cg * hw; i++) {
                        int c = g * Cg + (int)(i / hw);
                        int64_t at = ((int64_t)b * C + g * Cg) * hw + i;
                        double v = r->x[0][at];
                        if (pass == 0)
                            mu += v / m;
                        else if (pass == 1)
                            var += (v - mu) * (v - mu) / m;
                        else if (running)
                            r->want[at] = (v - r->x[3][c]) / sqrt(r->x[3][C + c] + eps);
                        else
                            r->want[at] = (v - mu) / sqrt(var + eps);
                        if (pass == 2)
                            r->want[at] = r->want[at] * (r->x[1] ? r->x[1][c] : 1) + (r->x[2] ? r->x[2][c] : 0);
                    }
        }
}

static void ref_group_norm(const ref_ctx *r) { normalize(r, r->n->ia[0], 0, 0); }

static void ref_group_norm_act(const ref_ctx *r) /* then v > 0 ? v : slope * v */
{
    normalize(r, r->n->ia[0], 0, 0);
    for (int64_t i = 0; i < nel(r->out); i++)
        if (!(r->want[i] > 0))
            r->want[i] *= r->n->fa[1];
}

static void ref_batch_norm(const ref_ctx *r) /* train (ia[0] 1) or the running statistics */
{
    normalize(r, r->t[0]->dim[1], 1, !r->n->ia[0]);
}

/* running (2,C) moved by fa[0] toward the mean and unbiased variance of x */
static void ref_batch_norm_update(const ref_ctx *r)
{
    const ng_tensor *x = r->t[1];
    int N = x->dim[0], C = x->dim[1];
    int64_t hw = (int64_t)x->dim[2] * x->dim[3];
    double mom = r->n->fa[0], m = (double)N * hw;
    for (int c = 0; c < C; c++) {
        double mu = 0, ss = 0;
        for (int n = 0; n < N; n++)
            for (int64_t i = 0; i < hw; i++)
                mu += r->x[1][((int64_t)n * C + c) * hw + i] / m;
        for (int n = 0; n < N; n++)
            for (int64_t i = 0; i < hw; i++) {
                double v = r->x[1][((int64_t)n * C + c) * hw + i] - mu;
                ss += v * v;
            }
        r->want[c] = (1 - mom) * r->x[0][c] + mom * mu;
        r->want[C + c] = (1 - mom) * r->x[0][C + c] + mom * ss / (m - 1);
    }
}

/* p after one update from g and the state (kcheck.h ref_step), at step 4 */
static void ref_update(const ref_ctx *r)
{
    const float *fa = r->n->fa;
    int adam = r->n->op == NG_OP_ADAM;
    nr_opt o = {.lr = fa[0], .scale = 1, .t = 4};
    if (adam)
        o.beta1 = fa[1], o.beta2 = fa[2], o.eps = fa[3], o.clip = fa[4], o.weight_decay = fa[5],
        o.form = r->n->ia[0], o.decoupled = r->n->ia[1];
    else
        o.momentum = fa[1], o.clip = fa[2], o.weight_decay = fa[3], o.nesterov = r->n->ia[0];
    for (int64_t i = 0; i < nel(r->out); i++) {
        double p = r->x[0][i], m = adam ? r->x[2][i] : 0, v = r->x[adam ? 3 : 2][i];
        ref_step(&o, adam, &p, r->x[1][i], &m, &v);
        r->want[i] = p;
    }
}

/* Random ops: each value is 0 or its kept value scaled by 1 / (1 - p). */
static void ref_dropout(const ref_ctx *r)
{
    for (int64_t i = 0; i < nel(r->out); i++)
        r->want[i] = r->got[i] == 0 ? 0 : (r->x[0] ? r->x[0][i] : 1) / (1 - (double)r->n->fa[0]);
}

/* ---- the table ---------------------------------------------------------- */

#define X4 IN('r', 2, 3, 5, 6)

static const op_case cases[] = {
    /* conv2d: ia stride, pads (top, left, bottom, right), relu, dilation, groups */
    {NG_OP_CONV2D, "3x3 same, bias", {X4, IN('r', 4, 3, 3, 3), IN('r', 4)}, {1, 1, 1, 1, 1}, .ref = ref_conv2d,
     .tol = 2e-5},
    {NG_OP_CONV2D, "1x1, no bias", {X4, IN('r', 4, 3, 1, 1), ABSENT}, {1}, .ref = ref_conv2d, .tol = 2e-5},
    {NG_OP_CONV2D, "3x3 stride 2 valid", {IN('r', 1, 3, 7, 7), IN('r', 2, 3, 3, 3), IN('r', 2)}, {2},
     .ref = ref_conv2d, .tol = 2e-5},
    {NG_OP_CONV2D, "2x2 same (extra row and column at the end)", {IN('r', 1, 2, 5, 5), IN('r', 3, 2, 2, 2), ABSENT},
     {1, 0, 0, 1, 1}, .ref = ref_conv2d, .tol = 2e-5},
    {NG_OP_CONV2D, "5x5 pad 2, non-square", {IN('r', 1, 2, 4, 9), IN('r', 3, 2, 5, 5), IN('r', 3)}, {1, 2, 2, 2, 2},
     .ref = ref_conv2d, .tol = 2e-5},
    {NG_OP_CONV2D, "3x3 dilation 2", {X4, IN('r', 2, 3, 3, 3), IN('r', 2)}, {1, 2, 2, 2, 2, 0, 2},
     .ref = ref_conv2d, .tol = 2e-5},
    {NG_OP_CONV2D, "3x3, 2 groups", {IN('r', 2, 4, 5, 6), IN('r', 6, 2, 3, 3), IN('r', 6)}, {1, 1, 1, 1, 1, 0, 1, 2},
     .ref = ref_conv2d, .tol = 2e-5},
    {NG_OP_CONV2D, "3x3 depthwise", {IN('r', 2, 4, 5, 6), IN('r', 4, 1, 3, 3), IN('r', 4)}, {1, 1, 1, 1, 1, 0, 1, 4},
     .ref = ref_conv2d, .tol = 2e-5},
    /* conv_transpose2d: ia stride, pads, HO, WO */
    {NG_OP_CONV_TRANSPOSE2D, "3x3 stride 2", {IN('r', 2, 3, 4, 5), IN('r', 3, 2, 3, 3), IN('r', 2)},
     {2, 1, 1, 1, 1, 7, 9}, .ref = ref_conv_transpose2d, .tol = 2e-5},
    {NG_OP_CONV_TRANSPOSE2D, "3x3 stride 1 same (the fast and bf16 data pass)", {IN('r', 2, 3, 4, 5), IN('r', 3, 2, 3, 3),
     IN('r', 2)}, {1, 1, 1, 1, 1, 4, 5}, .ref = ref_conv_transpose2d, .tol = 2e-5},
    {NG_OP_CONV_TRANSPOSE2D, "2x2 stride 2, no bias", {IN('r', 1, 2, 3, 3), IN('r', 2, 3, 2, 2), ABSENT},
     {2, 0, 0, 0, 0, 6, 6}, .ref = ref_conv_transpose2d, .tol = 2e-5},
    {NG_OP_RELU, "", {IN('a', 2, 3, 4, 5)}, .ref = ref_relu, .tol = EXACT},
    {NG_OP_MAXPOOL, "2 (odd H: the last row is left out)", {IN('d', 2, 2, 7, 6)}, {2}, .ref = ref_maxpool,
     .tol = EXACT},
    {NG_OP_MAXPOOL, "2 (odd W: the last column is left out)", {IN('d', 1, 2, 6, 9)}, {2}, .ref = ref_maxpool,
     .tol = EXACT},
    {NG_OP_MAXPOOL, "3", {IN('d', 1, 3, 7, 8)}, {3}, .ref = ref_maxpool, .tol = EXACT},
    {NG_OP_UPSAMPLE, "2", {IN('r', 2, 2, 3, 4)}, {2}, .ref = ref_upsample, .tol = EXACT},
    {NG_OP_UPSAMPLE, "3", {IN('r', 1, 2, 2, 3)}, {3}, .ref = ref_upsample, .tol = EXACT},
    {NG_OP_UPSAMPLE_BILINEAR, "2", {IN('r', 2, 2, 3, 4)}, {2, 0}, .ref = ref_upsample_bilinear, .tol = 1e-6},
    {NG_OP_UPSAMPLE_BILINEAR, "3, align_corners", {IN('r', 1, 2, 4, 3)}, {3, 1}, .ref = ref_upsample_bilinear,
     .tol = 1e-6},
    {NG_OP_AVG_POOL, "3 (floor)", {IN('r', 2, 3, 7, 8)}, {3}, .ref = ref_avg_pool, .tol = 1e-6},
    {NG_OP_GLOBAL_MAX_POOL, "", {IN('d', 2, 3, 4, 5)}, .ref = ref_global_max_pool, .tol = EXACT},
    {NG_OP_PAD2D, "zero", {IN('r', 2, 3, 4, 5)}, {2, 1, 3, 4, 0}, .ref = ref_pad2d, .tol = EXACT},
    {NG_OP_PAD2D, "reflect", {IN('r', 2, 3, 4, 5)}, {2, 1, 3, 4, 1}, .ref = ref_pad2d, .tol = EXACT},
    {NG_OP_CONCAT, "3 inputs", {IN('r', 2, 2, 3, 4), IN('r', 2, 3, 3, 4), IN('r', 2, 1, 3, 4)}, .ref = ref_concat,
     .tol = EXACT},
    {NG_OP_DROPOUT_MASK, "p 0.3", {{0}}, {5, 4, 64}, {0.3f}, .ref = ref_dropout, .tol = 1e-6},
    {NG_OP_DROPOUT, "p 0.3", {IN('r', 2, 3, 4, 5)}, {5}, {0.3f}, .ref = ref_dropout, .tol = 1e-6},
    {NG_OP_MUL_CHANNEL, "", {IN('r', 2, 3, 4, 5), IN('r', 2, 3)}, .ref = ref_mul_channel, .tol = EXACT},
    {NG_OP_SOFTMAX, "axis 1", {IN('r', 2, 4, 3, 5)}, {1}, .ref = ref_softmax, .tol = 1e-6},
    {NG_OP_SOFTMAX, "axis 3", {IN('r', 2, 4, 3, 5)}, {3}, .ref = ref_softmax, .tol = 1e-6},
    {NG_OP_LOG_SOFTMAX, "axis 1", {IN('r', 2, 4, 3, 5)}, {1}, .ref = ref_log_softmax, .tol = 1e-6},
    {NG_OP_LOG_SOFTMAX, "axis 0", {IN('r', 3, 4)}, {0}, .ref = ref_log_softmax, .tol = 1e-6},
    /* cross_entropy: logits, labels, weights?; ia ignore */
    {NG_OP_CROSS_ENTROPY, "weighted", {IN('r', 2, 4, 3, 3), IN('l', 2, 3, 3), IN('p', 4)}, {255},
     .ref = ref_cross_entropy, .tol = 1e-6, .classes = 4},
    {NG_OP_CROSS_ENTROPY, "unweighted", {IN('r', 2, 4, 3, 3), IN('l', 2, 3, 3), ABSENT}, {255},
     .ref = ref_cross_entropy, .tol = 1e-6, .classes = 4},
    {NG_OP_CROSS_ENTROPY, "weighted, 1155 pixels (a block of the kernels and a tail)",
     {IN('r', 1, 3, 33, 35), IN('l', 1, 33, 35), IN('p', 3)}, {255}, .ref = ref_cross_entropy, .tol = 1e-6,
     .classes = 3},
    {NG_OP_ADD, "same shapes", {X4, X4}, .ref = ref_binary, .tol = EXACT},
    {NG_OP_SUB, "(N,C,H,W) - (1,C,1,1)", {X4, IN('r', 1, 3, 1, 1)}, .ref = ref_binary, .tol = EXACT},
    {NG_OP_MUL, "(N,C,H,W) * (H,W)", {X4, IN('r', 5, 6)}, .ref = ref_binary, .tol = EXACT},
    {NG_OP_MUL, "by a scalar", {X4, SCALAR('r')}, .ref = ref_binary, .tol = EXACT},
    {NG_OP_DIV, "(N,1,H,W) / (1,C,H,1)", {IN('r', 2, 1, 5, 6), IN('n', 1, 3, 5, 1)}, .ref = ref_binary, .tol = EXACT},
    /* the UNARY rows beyond their cases from the table */
    {NG_OP_NEG, "x in [-1, 1)", {X4}, .tol = EXACT},
    {NG_OP_EXP, "x in [-1, 1), to an ulp", {X4}, .tol = 2e-7},
    {NG_OP_LOG, "x in [0.5, 2), to an ulp", {IN('p', 2, 3, 5, 6)}, .tol = 2e-7},
    {NG_OP_SQRT, "x in [0.5, 2), to an ulp", {IN('p', 2, 3, 5, 6)}, .tol = 2e-7},
    {NG_OP_ABS, "x away from 0", {IN('a', 2, 3, 5, 6)}, .tol = EXACT},
    {NG_OP_SIGN, "x away from 0", {IN('a', 2, 3, 5, 6)}, .tol = EXACT},
    {NG_OP_POW, "p 2", {IN('p', 2, 3, 5, 6)}, .fa = {2}, .tol = EXACT},
    {NG_OP_POW, "p 3", {IN('p', 2, 3, 5, 6)}, .fa = {3}, .tol = 4e-7},
    {NG_OP_POW, "p 1.5", {IN('p', 2, 3, 5, 6)}, .fa = {1.5f}, .tol = 4e-7},
    {NG_OP_POW, "p -1", {IN('p', 2, 3, 5, 6)}, .fa = {-1}, .tol = 4e-7},
    {NG_OP_POW, "p 0.5", {IN('p', 2, 3, 5, 6)}, .fa = {0.5f}, .tol = 4e-7},
    {NG_OP_POW, "p 0", {IN('r', 2, 3, 5, 6)}, .fa = {0}, .tol = EXACT},
    {NG_OP_CLAMP, "[-0.5, 0.5]", {IN('a', 2, 3, 5, 6)}, .fa = {-0.5f, 0.5f}, .tol = EXACT},
    {NG_OP_CLAMP, "[-inf, 0.3] (min)", {IN('a', 2, 3, 5, 6)}, .fa = {-INFINITY, 0.3f}, .tol = EXACT},
    {NG_OP_STOP_GRADIENT, "", {X4}, .tol = EXACT},
    {NG_OP_SOFTPLUS, "x in [-1, 1)", {X4}, .tol = 4e-7},
    {NG_OP_SIGMOID, "x in [-1, 1)", {X4}, .tol = 4e-7},
    {NG_OP_TANH, "x in [-1, 1)", {X4}, .tol = 4e-7},
    {NG_OP_LEAKY_RELU, "slope 0.2, x away from 0", {IN('a', 2, 3, 5, 6)}, .fa = {0.2f}, .tol = EXACT},
    {NG_OP_SIN, "x in [-1, 1)", {X4}, .tol = 4e-7},
    {NG_OP_COS, "x in [-1, 1)", {X4}, .tol = 4e-7},
    /* reduce_sum: ia mask, keep; fa scale */
    {NG_OP_REDUCE_SUM, "over N, H, W, kept", {X4}, {0xd, 0xd}, {0.5f}, .ref = ref_reduce_sum, .tol = 1e-6},
    {NG_OP_REDUCE_SUM, "over C", {X4}, {0x2, 0}, {1}, .ref = ref_reduce_sum, .tol = 1e-6},
    {NG_OP_REDUCE_SUM, "over everything", {X4}, {0xf, 0}, {1}, .ref = ref_reduce_sum, .tol = 1e-6},
    {NG_OP_RESHAPE, "to (6, 30)", {X4}, {2, 6, 30}, .ref = ref_copy, .tol = EXACT},
    {NG_OP_SLICE, "dim 1, 1:3", {X4}, {1, 1, 2}, .ref = ref_slice, .tol = EXACT},
    {NG_OP_SLICE, "dim 3, 2:6", {X4}, {3, 2, 4}, .ref = ref_slice, .tol = EXACT},
    {NG_OP_CUMSUM, "dim 2", {X4}, {2, 0}, .ref = ref_cumsum, .tol = 1e-6},
    {NG_OP_CUMSUM, "dim 1, reverse", {X4}, {1, 1}, .ref = ref_cumsum, .tol = 1e-6},
    {NG_OP_ARGSORT, "dim 1", {IN('d', 2, 5, 2)}, {1, 0}, .ref = ref_argsort, .tol = EXACT},
    {NG_OP_ARGSORT, "dim 0, descending", {IN('d', 5, 3)}, {0, 1}, .ref = ref_argsort, .tol = EXACT},
    {NG_OP_GATHER, "dim 1", {IN('r', 2, 5, 3), IN('i', 2, 5, 3)}, {1}, .ref = ref_gather, .tol = EXACT},
    {NG_OP_ONE_HOT, "4 classes", {IN('l', 2, 3, 5)}, {4, 255}, .ref = ref_one_hot, .tol = EXACT, .classes = 4},
    {NG_OP_VALID_MASK, "4 classes", {IN('l', 2, 3, 5)}, {4, 255}, .ref = ref_one_hot, .tol = EXACT, .classes = 4},
    {NG_OP_DOWNSAMPLE_LABELS, "2 (floor)", {IN('l', 2, 5, 6)}, {2}, .ref = ref_downsample_labels, .tol = EXACT,
     .classes = 4},
    {NG_OP_SUMSQ, "", {X4}, .ref = ref_sumsq, .tol = 1e-6},
    {NG_OP_BATCH_SUM, "one process", {X4}, .ref = ref_copy, .tol = EXACT},
    /* group_norm: x, gamma?, beta?; ia groups, fa eps */
    {NG_OP_GROUP_NORM, "3 groups", {IN('o', 2, 6, 5, 7), IN('r', 6), IN('r', 6)}, {3}, {1e-5f},
     .ref = ref_group_norm, .tol = 2e-5},
    {NG_OP_GROUP_NORM, "instance norm (4 groups of 1)", {IN('o', 1, 4, 3, 3), IN('r', 4), IN('r', 4)}, {4}, {1e-5f},
     .ref = ref_group_norm, .tol = 2e-5},
    {NG_OP_GROUP_NORM, "layer norm (1 group), no affine", {IN('o', 2, 4, 4, 5), ABSENT, ABSENT}, {1}, {1e-5f},
     .ref = ref_group_norm, .tol = 2e-5},
    /* group_norm_act (netc's fusion): ia groups, fa eps, slope; its gradient
     * runs group_norm_act_sums, _bwd and _param.  A step of gamma or beta
     * moves every y of a channel, and central differences across the
     * activation's kink at y = 0 are off by up to ~50%: the parameters'
     * gradients are checked with slope 1 (no kink), the activation's
     * derivative through dx (a step of x moves mostly its own y). */
    {NG_OP_GROUP_NORM_ACT, "slope 1, 3 groups", {IN('o', 2, 6, 5, 7), IN('r', 6), IN('r', 6)}, {3},
     {1e-5f, 1}, .ref = ref_group_norm_act, .tol = 2e-5},
    {NG_OP_GROUP_NORM_ACT, "leaky 0.01, 3 groups, no affine", {IN('o', 2, 6, 5, 7), ABSENT, ABSENT}, {3},
     {1e-5f, 0.01f}, .ref = ref_group_norm_act, .tol = 2e-5},
    {NG_OP_GROUP_NORM_ACT, "relu, instance norm, 8x9 planes, no affine", {IN('o', 2, 4, 8, 9), ABSENT, ABSENT},
     {4}, {1e-5f, 0}, .ref = ref_group_norm_act, .tol = 2e-5},
    {NG_OP_GROUP_NORM_ACT, "leaky 0.2, 1 group, affine", {IN('o', 2, 3, 5, 6), IN('r', 3), IN('r', 3)}, {1},
     {1e-5f, 0.2f}, .ref = ref_group_norm_act, .tol = 2e-5, .fwd_only = 1},
    /* batch_norm: x, gamma?, beta?, running (2,C); ia train; fa eps, momentum */
    {NG_OP_BATCH_NORM, "train", {IN('o', 3, 4, 3, 5), IN('r', 4), IN('r', 4), IN('p', 2, 4)}, {1}, {1e-5f, 0.1f},
     .ref = ref_batch_norm, .tol = 2e-5},
    {NG_OP_BATCH_NORM, "train, no affine", {IN('o', 3, 4, 3, 5), ABSENT, ABSENT, IN('p', 2, 4)}, {1}, {1e-5f, 0.1f},
     .ref = ref_batch_norm, .tol = 2e-5},
    {NG_OP_BATCH_NORM, "eval (running statistics)", {IN('o', 3, 4, 3, 5), IN('r', 4), IN('r', 4), IN('p', 2, 4)}, {0},
     {1e-5f, 0.1f}, .ref = ref_batch_norm, .tol = 2e-6, .fwd_only = 1},
    {NG_OP_BATCH_NORM_UPDATE, "momentum 0.1", {IN('p', 2, 4), IN('o', 3, 4, 3, 5)}, .fa = {0.1f},
     .ref = ref_batch_norm_update, .tol = 1e-6},
    /* adam: p, g, m, v; ia form, decoupled; fa lr, beta1, beta2, eps, clip, weight_decay */
    {NG_OP_ADAM, "keras", {X4, X4, X4, IN('p', 2, 3, 5, 6)}, {0, 0}, {1e-2f, 0.9f, 0.999f, 1e-7f},
     .ref = ref_update, .tol = 1e-6},
    {NG_OP_ADAM, "pytorch, AdamW, clip 0.5", {X4, X4, X4, IN('p', 2, 3, 5, 6)}, {1, 1},
     {1e-2f, 0.9f, 0.999f, 1e-8f, 0.5f, 0.1f}, .ref = ref_update, .tol = 1e-6},
    /* sgd: p, g, v; ia nesterov; fa lr, momentum, clip, weight_decay */
    {NG_OP_SGD, "momentum 0.9", {X4, X4, X4}, {0}, {0.1f, 0.9f}, .ref = ref_update, .tol = 1e-6},
    {NG_OP_SGD, "nesterov, weight decay", {X4, X4, X4}, {1}, {0.1f, 0.9f, 0, 0.01f}, .ref = ref_update, .tol = 1e-6},
};

/* ---- running a case ------------------------------------------------------ */

enum { SAMPLES = 48 };         /* entries of each input whose gradient is probed */
#define FD_EPS 1e-2f
/* |analytic - numeric| <= GRAD_TOL * max(GRAD_FLOOR, |numeric|) */
#define GRAD_TOL 2e-3
#define GRAD_FLOOR 0.05

static int ran[NG_OP_COUNT];   /* nodes run, per op */
static int precision;          /* nr_precision the nodes run at, where the backend has it */
static float *scratch;         /* the fast convolutions' workspace */
static int64_t scratch_elems;

/* A case's graph, built by netc's passes, and its storage. */
typedef struct {
    nc_arena arena;
    nc_graph g;
    ng_graph G;                /* the tensors as the kernels see them */
    float **buf;               /* per tensor: its values (i32 ones too) */
    int n_in, in[NG_MAX_IN];   /* the op's inputs (-1: absent) */
    int y;                     /* its output; an update op: -1 */
    int r;                     /* the weights r of L; -1: no gradient to check */
} op_run;

/* Values of kind s->kind (see in_spec) for the input t of case c. */
static void fill(const op_case *c, const in_spec *s, const ng_tensor *t, float *x)
{
    int64_t n = ng_tensor_nelem(t);
    int32_t *l = (int32_t *)x;
    for (int64_t i = 0; i < n; i++) {
        float u = frand();
        switch (s->kind) {
        case 'p': x[i] = 1.25f + 0.75f * u; break;
        case 'n': x[i] = (1.0f + 0.5f * u) * (frand() < 0 ? -1.0f : 1.0f); break;
        case 'a':
            while (fabsf(u) < 0.05f || fabsf(u - c->fa[0]) < 0.05f || fabsf(u - c->fa[1]) < 0.05f)
                u = frand();
            x[i] = u;
            break;
        case 'o': x[i] = 3.0f + 2.0f * u; break;
        case 'd': x[i] = 0.05f * (float)i - 0.025f * (float)n; break;
        case 'l': l[i] = i % 8 == 0 ? 255 : i % 11 == 5 ? c->classes : (int32_t)((u + 1.0f) * 0.5f * c->classes); break;
        case 'i': break;
        default: x[i] = u; break;
        }
    }
    if (s->kind == 'd')
        for (int64_t i = n - 1; i > 0; i--) { /* shuffled */
            int64_t j = (int64_t)((frand() + 1.0f) * 0.5f * (float)(i + 1)) % (i + 1);
            float v = x[i];
            x[i] = x[j], x[j] = v;
        }
    if (s->kind == 'i') { /* a shuffled 0..d-1 along dim ia[0] */
        int64_t outer, d, inner;
        around(t, c->ia[0], &outer, &d, &inner);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < inner; k++) {
                int32_t *line = l + o * d * inner + k;
                for (int64_t j = 0; j < d; j++)
                    line[j * inner] = (int32_t)j;
                for (int64_t j = d - 1; j > 0; j--) {
                    int64_t q = (int64_t)((frand() + 1.0f) * 0.5f * (float)(j + 1)) % (j + 1);
                    int32_t v = line[j * inner];
                    line[j * inner] = line[q * inner], line[q * inner] = v;
                }
            }
    }
}

/* The case's graph: its inputs (params where the op takes their gradient,
 * unless c->fwd_only), the op, and for a gradient check L = sum(y * r) with
 * autodiff's backward pass; then storage for every tensor, filled.  0, or
 * -1 with a message in err. */
static int build(const op_case *c, op_run *R, char *err, size_t errlen)
{
    const ng_op_info *oi = &ng_ops[c->op];
    nc_graph *g = &R->g;
    nc_loc loc = {0};
    int params = 0;
    nc_graph_init(g, &R->arena);
    for (R->n_in = 0; R->n_in < NG_MAX_IN && c->in[R->n_in].kind; R->n_in++) {
        const in_spec *s = &c->in[R->n_in];
        int i32 = s->kind == 'l' || s->kind == 'i';
        int param = !c->fwd_only && !i32 && !(oi->nograd & NG_IN(R->n_in));
        char name[16];
        snprintf(name, sizeof name, "in%d", R->n_in);
        R->in[R->n_in] = s->kind == '-' ? -1 : nc_graph_tensor(g, name, i32 ? NG_I32 : NG_F32,
                                                                param ? NG_ROLE_PARAM : NG_ROLE_CONST, s->ndim,
                                                                s->dim, loc);
        params += param && s->kind != '-';
    }
    R->y = nc_graph_op(g, c->op, R->n_in, R->in, c->ia, c->fa, "y", NG_ROLE_ACT, loc, 0, err, errlen);
    if (R->y < 0)
        return -1;
    R->y = oi->flags & NG_F_UPDATE ? -1 : R->y;
    R->r = -1;
    if (params) {
        const ng_tensor yt = g->tensors[R->y].t;
        R->r = nc_graph_tensor(g, "r", NG_F32, NG_ROLE_CONST, yt.ndim, yt.dim, loc);
        int32_t in[2] = {R->y, R->r}, ia[NG_MAX_IA] = {(1 << yt.ndim) - 1};
        float fa[NG_MAX_FA] = {1};
        in[0] = nc_graph_op(g, NG_OP_MUL, 2, in, NULL, NULL, "y_r", NG_ROLE_ACT, loc, 0, err, errlen);
        g->bind.loss = nc_graph_op(g, NG_OP_REDUCE_SUM, 1, in, ia, fa, "loss", NG_ROLE_ACT, loc, 0, err, errlen);
        nc_diag d;
        nc_diag_init(&d, stderr);
        if (nc_autodiff(g, &d)) {
            snprintf(err, errlen, "autodiff failed");
            return -1;
        }
    }
    R->G.n_tensors = (int32_t)g->n_tensors;
    R->G.tensors = calloc(g->n_tensors, sizeof *R->G.tensors);
    R->buf = calloc(g->n_tensors, sizeof *R->buf);
    for (size_t t = 0; t < g->n_tensors; t++) {
        R->G.tensors[t] = g->tensors[t].t;
        const ng_tensor *x = &R->G.tensors[t];
        int64_t n = ng_tensor_nelem(x);
        R->buf[t] = aligned_alloc(64, (size_t)(n + 16) * 4 / 64 * 64);
        for (int64_t i = 0; i < n; i++) /* outputs: nan, which a value left unwritten shows */
            R->buf[t][i] = x->init == NG_INIT_ONES ? 1 : ng_role_is_persistent(x->role) ? 0 : NAN;
    }
    for (int i = 0; i < R->n_in; i++)
        if (R->in[i] >= 0)
            fill(c, &c->in[i], &R->G.tensors[R->in[i]], R->buf[R->in[i]]);
    if (R->r >= 0)
        for (int64_t i = 0; i < ng_tensor_nelem(&R->G.tensors[R->r]); i++)
            R->buf[R->r][i] = frand();
    for (size_t i = 0; i < g->n_nodes; i++) {
        const ng_node *n = &g->nodes[i].n;
        int64_t need = (nr_backend_cpu()->scratch_bytes(&R->G, n, NR_PREC_BF16) + 3) / 4;
        if (need > scratch_elems) {
            free(scratch);
            scratch = aligned_alloc(64, (size_t)(need + 16) * 4 / 64 * 64);
            scratch_elems = need;
        }
    }
    return 0;
}

static void free_run(op_run *R)
{
    for (size_t t = 0; R->buf && t < R->g.n_tensors; t++)
        free(R->buf[t]);
    free(R->buf);
    free(R->G.tensors);
    nc_graph_free(&R->g);
    nc_arena_free(&R->arena);
}

/* Runs nodes from..to-1 of the case's graph in order. */
static void run_nodes(op_run *R, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const ng_node *n = &R->g.nodes[i].n;
        nr_kctx k = {.g = &R->G, .n = n, .y = n->out >= 0 ? R->buf[n->out] : NULL,
                     .ws = n->ws >= 0 ? R->buf[n->ws] : NULL, .scratch = scratch, .seed = 7, .step = 3,
                     .precision = nr_backend_cpu()->supports(n, precision) ? precision : NR_PREC_F32};
        for (int j = 0; j < n->n_in; j++)
            k.in[j] = n->in[j] >= 0 ? R->buf[n->in[j]] : NULL;
        run_node(&k);
        ran[n->op]++;
    }
}

/* L = sum(y * r) in double. */
static double loss(const op_run *R)
{
    double s = 0;
    for (int64_t i = 0; i < ng_tensor_nelem(&R->G.tensors[R->y]); i++)
        s += (double)R->buf[R->y][i] * R->buf[R->r][i];
    return s;
}

/* The bf16 bound of each output of a convolution (rc as for its reference):
 * (2^-7 + 2^-16 + n*2^-23) * the reference on |x|, |w|, |b|. */
static double *bf16_bounds(const ref_ctx *rc, int n_in)
{
    const int64_t ny = ng_tensor_nelem(rc->out);
    const int32_t *wd = rc->t[1]->dim;
    const int64_t n = (rc->n->op == NG_OP_CONV2D ? (int64_t)wd[1] : wd[0]) * wd[2] * wd[3] + 1;
    const double u = ldexp(1, -7) + ldexp(1, -16) + (double)n * ldexp(1, -23);
    ref_ctx a = *rc;
    float *ax[NG_MAX_IN] = {0};
    for (int i = 0; i < n_in; i++)
        if (rc->x[i]) {
            const int64_t m = ng_tensor_nelem(rc->t[i]);
            ax[i] = alloc_f(m);
            for (int64_t j = 0; j < m; j++)
                ax[i][j] = fabsf(rc->x[i][j]);
            a.x[i] = ax[i];
        }
    a.want = calloc((size_t)ny, sizeof *a.want);
    (rc->n->op == NG_OP_CONV2D ? ref_conv2d : ref_conv_transpose2d)(&a);
    for (int64_t i = 0; i < ny; i++)
        a.want[i] *= u;
    for (int i = 0; i < n_in; i++)
        free(ax[i]);
    return a.want;
}

/* The forward pass (all of the graph) against the reference. */
static void check_forward(const op_case *c, op_run *R, const char *name)
{
    ref_ctx rc = {.n = &R->g.nodes[0].n};
    float *keep[NG_MAX_IN] = {0};
    for (int i = 0; i < R->n_in; i++) /* as before the run: updates write their inputs */
        if (R->in[i] >= 0) {
            rc.t[i] = &R->G.tensors[R->in[i]];
            size_t bytes = (size_t)ng_tensor_nelem(rc.t[i]) * 4;
            rc.x[i] = keep[i] = memcpy(alloc_f(ng_tensor_nelem(rc.t[i])), R->buf[R->in[i]], bytes);
        }
    run_nodes(R, 0, R->g.n_nodes);
    int out = R->y >= 0 ? R->y : R->in[0];
    rc.out = &R->G.tensors[out];
    int64_t n = ng_tensor_nelem(rc.out);
    float *got = alloc_f(n);
    for (int64_t i = 0; i < n; i++)
        got[i] = rc.out->dtype == NG_I32 ? (float)((int32_t *)R->buf[out])[i] : R->buf[out][i];
    rc.got = got;
    rc.want = calloc((size_t)n, sizeof *rc.want);
    (c->ref ? c->ref : ref_unary)(&rc);
    double *bound = precision == NR_PREC_BF16 ? bf16_bounds(&rc, R->n_in) : NULL;
    double tol = bound ? 1 : c->tol == EXACT ? 0 : c->tol, floor = c->ref ? 1 : 1e-6, worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = bound ? fabs(got[i] - rc.want[i]) / bound[i]
                 : c->tol == EXACT ? got[i] != (float)rc.want[i]
                                   : fabs(got[i] - rc.want[i]) / fmax(floor, fabs(rc.want[i]));
        if (e > worst || e != e)
            worst = e, at = i;
    }
    check(worst <= tol, name, "err %.3g at [%lld]: got %.9g want %.9g", worst, (long long)at, got[at],
          rc.want[at]);
    for (int i = 0; i < R->n_in; i++)
        free(keep[i]);
    free(got);
    free(rc.want);
    free(bound);
}

/* The gradient of L with respect to each param input, as the backward
 * ops computed it in the run, against central differences of L (the op's
 * node alone run again). */
static void check_gradients(op_run *R, const char *name)
{
    for (int i = 0; i < R->n_in; i++) {
        int t = R->in[i];
        if (t < 0 || R->G.tensors[t].role != NG_ROLE_PARAM)
            continue;
        char what[224];
        snprintf(what, sizeof what, "%s: gradient of input %d by finite differences", name, i);
        int gt = (size_t)t < R->g.n_grad_of ? R->g.grad_of[t] : -1;
        if (gt < 0) {
            check(0, what, "the rule gives it none");
            continue;
        }
        int64_t n = ng_tensor_nelem(&R->G.tensors[t]), step = n > SAMPLES ? n / SAMPLES : 1, at = 0;
        double worst = 0, num_at = 0;
        float *x = R->buf[t];
        for (int64_t j = 0; j < n; j += step) {
            float keep = x[j], hi = keep + FD_EPS, lo = keep - FD_EPS;
            x[j] = hi;
            run_nodes(R, 0, 1);
            double lp = loss(R);
            x[j] = lo;
            run_nodes(R, 0, 1);
            double num = (lp - loss(R)) / ((double)hi - lo);
            x[j] = keep;
            double e = fabs(R->buf[gt][j] - num) / fmax(GRAD_FLOOR, fabs(num));
            if (e > worst || e != e)
                worst = e, at = j, num_at = num;
        }
        run_nodes(R, 0, 1);
        check(worst <= GRAD_TOL, what, "rel err %.3g at [%lld]: analytic %.7g numeric %.7g", worst, (long long)at,
              R->buf[gt][at], num_at);
    }
}

static void run_case(const op_case *c)
{
    char name[160], err[512];
    snprintf(name, sizeof name, "%s%s%s", ng_ops[c->op].name, c->what[0] ? " " : "", c->what);
    op_run R = {0};
    if (build(c, &R, err, sizeof err) == 0) {
        check_forward(c, &R, name);
        if (R.r >= 0)
            check_gradients(&R, name);
    } else {
        check(0, name, "%s", err);
    }
    free_run(&R);
}

/* A UNARY row whose attributes all have defaults: x in [0.5, 2). */
static void run_unary_row(int op)
{
    op_case c = {op, "x in [0.5, 2), the default attributes", {IN('p', 2, 3, 4, 5)}, .tol = 4e-7};
    for (int i = 0; i < 2 && ng_ops[op].fa[i].name; i++) {
        if (!ng_ops[op].fa[i].def)
            return;
        c.fa[i] = strtof(ng_ops[op].fa[i].def, NULL);
    }
    run_case(&c);
}

int main(void)
{
    nr_kernels_set_threads(0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    for (int op = 0; op < NG_OP_COUNT; op++)
        if (ng_ops[op].flags & NG_F_UNARY)
            run_unary_row(op);
    char missing[1024] = "";
    for (int op = 0; op < NG_OP_COUNT; op++)
        if (!ran[op] && strlen(missing) + strlen(ng_ops[op].name) + 2 < sizeof missing)
            strcat(strcat(missing, " "), ng_ops[op].name);
    check(!missing[0], "every op of ops.def runs in some case", "never run:%s", missing);
    if (nr_conv_bf16_available()) {
        nr_conv_bf16_set_algo(NR_BF16_ALWAYS);
        precision = NR_PREC_BF16;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const op_case *c = &cases[i];
            if (c->op != NG_OP_CONV2D && c->op != NG_OP_CONV_TRANSPOSE2D)
                continue;
            char name[200], err[512];
            snprintf(name, sizeof name, "%s %s at bf16", ng_ops[c->op].name, c->what);
            op_run R = {0};
            if (build(c, &R, err, sizeof err) == 0)
                check_forward(c, &R, name);
            else
                check(0, name, "%s", err);
            free_run(&R);
        }
        nr_conv_fast_release();
    }
    free(scratch);
    return check_done();
}
