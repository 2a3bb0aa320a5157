/* autodiff.c — reverse-mode differentiation at compile time, then the
 * optimizer update of every trainable parameter.
 * Requires: the forward graph from the elaborator, with a scalar loss.
 * Each differentiable op names its gradient rule in its row of ops.def (the
 * grad column, grad_rules[] here); a rule emits ordinary graph ops.
 * Fan-out gradients are summed with ADD. */
#include "autodiff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    nc_graph *g;
    nc_diag *d;
    int *grad;           /* per tensor: its gradient tensor or -1 */
    char *needs;         /* per tensor: depends on a parameter */
} ad;

static const char *tname(ad *A, int t) { return A->g->tensors[t].t.name; }

/* Emit a backward op; a failure here is a compiler bug (shapes were
 * checked on the forward graph). */
static int bop(ad *A, int op, int n_in, const int32_t *in, const int32_t *ia, const float *fa,
               const char *name, nc_loc loc)
{
    char err[512];
    int t = nc_graph_op(A->g, op, n_in, in, ia, fa, name, NG_ROLE_GRAD, loc, 1, err, sizeof err);
    if (t < 0)
        nc_die("gradient of %s: %s", name, err);
    return t;
}

/* Add g to the gradient of tensor t. */
static void acc(ad *A, int t, int g, nc_loc loc)
{
    if (A->grad[t] < 0) {
        A->grad[t] = g;
        return;
    }
    int32_t in[2] = {A->grad[t], g};
    A->grad[t] = bop(A, NG_OP_ADD, 2, in, NULL, NULL,
                     nc_arena_printf(A->g->arena, "%s.grad_sum", tname(A, t)), loc);
}

static const char *gname(ad *A, int t) { return nc_arena_printf(A->g->arena, "%s.grad", tname(A, t)); }

typedef void (*grad_rule)(ad *A, const nc_node *n, int dy);

static void g_conv2d(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    /* copies: emitting ops grows (moves) the tensor table */
    const ng_tensor x = A->g->tensors[f->in[0]].t, w = A->g->tensors[f->in[1]].t;
    int32_t ia[NG_MAX_IA];
    memcpy(ia, f->ia, sizeof ia);
    ia[7] = ng_conv_pack(ng_conv_dilation(f), ng_conv_groups(f)); /* the backward ops' layout */
    if (A->needs[f->in[0]]) {
        ia[5] = x.dim[2];
        ia[6] = x.dim[3];
        int32_t in[2] = {dy, f->in[1]};
        acc(A, f->in[0], bop(A, NG_OP_CONV2D_BWD_DATA, 2, in, ia, NULL, gname(A, f->in[0]), n->loc), n->loc);
    }
    if (A->needs[f->in[1]]) {
        ia[5] = w.dim[2];
        ia[6] = w.dim[3];
        int32_t in[2] = {dy, f->in[0]};
        acc(A, f->in[1], bop(A, NG_OP_CONV2D_BWD_FILTER, 2, in, ia, NULL, gname(A, f->in[1]), n->loc), n->loc);
    }
    if (f->in[2] >= 0 && A->needs[f->in[2]]) {
        int32_t in[1] = {dy};
        acc(A, f->in[2], bop(A, NG_OP_CONV2D_BWD_BIAS, 1, in, f->ia, NULL, gname(A, f->in[2]), n->loc), n->loc);
    }
}

static void g_relu(ad *A, const nc_node *n, int dy)
{
    int32_t in[2] = {dy, n->n.out};
    acc(A, n->n.in[0], bop(A, NG_OP_RELU_BWD, 2, in, NULL, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_maxpool(ad *A, const nc_node *n, int dy)
{
    int32_t in[3] = {dy, n->n.in[0], n->n.out};
    acc(A, n->n.in[0], bop(A, NG_OP_MAXPOOL_BWD, 3, in, n->n.ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_upsample(ad *A, const nc_node *n, int dy)
{
    int32_t in[1] = {dy};
    acc(A, n->n.in[0], bop(A, NG_OP_UPSAMPLE_BWD, 1, in, n->n.ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_concat(ad *A, const nc_node *n, int dy)
{
    int c0 = 0;
    for (int i = 0; i < n->n.n_in; i++) {
        int x = n->n.in[i];
        int cx = A->g->tensors[x].t.dim[1];
        if (A->needs[x]) {
            int32_t in[1] = {dy}, ia[NG_MAX_IA] = {c0, cx};
            acc(A, x, bop(A, NG_OP_SLICE_C, 1, in, ia, NULL, gname(A, x), n->loc), n->loc);
        }
        c0 += cx;
    }
}

static void g_mul_channel(ad *A, const nc_node *n, int dy)
{
    int32_t in[2] = {dy, n->n.in[1]};
    acc(A, n->n.in[0], bop(A, NG_OP_MUL_CHANNEL, 2, in, NULL, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_cross_entropy(ad *A, const nc_node *n, int dy)
{
    int32_t in[4] = {dy, n->n.in[0], n->n.in[1], n->n.in[2]};
    acc(A, n->n.in[0], bop(A, NG_OP_CROSS_ENTROPY_BWD, 4, in, n->n.ia, NULL, gname(A, n->n.in[0]), n->loc),
        n->loc);
}

/* A name for an intermediate of the gradient of t: "<t>.grad_<what>". */
static const char *gtmp(ad *A, int t, const char *what)
{
    return nc_arena_printf(A->g->arena, "%s.grad_%s", tname(A, t), what);
}

static int bop1(ad *A, int op, int x, const int32_t *ia, const float *fa, const char *name, nc_loc loc)
{
    int32_t in[1] = {x};
    return bop(A, op, 1, in, ia, fa, name, loc);
}

static int bop2(ad *A, int op, int x, int y, const char *name, nc_loc loc)
{
    int32_t in[2] = {x, y};
    return bop(A, op, 2, in, NULL, NULL, name, loc);
}

/* g (a broadcast result) summed down to the shape of tensor x, which
 * broadcast to it: leading dims g has and x lacks are summed away, dims
 * where x has 1 are summed and kept.  g itself when the shapes agree. */
static int sum_to(ad *A, int g, int x, const char *name, nc_loc loc)
{
    const ng_tensor gt = A->g->tensors[g].t, xt = A->g->tensors[x].t;
    int32_t ia[NG_MAX_IA] = {0};
    for (int i = 0; i < gt.ndim; i++) {
        int j = i - (gt.ndim - xt.ndim);
        if (j < 0)
            ia[0] |= 1 << i;
        else if (xt.dim[j] == 1 && gt.dim[i] != 1)
            ia[0] |= 1 << i, ia[1] |= 1 << i;
    }
    if (!ia[0])
        return g;
    float fa[NG_MAX_FA] = {1};
    return bop1(A, NG_OP_REDUCE_SUM, g, ia, fa, name, loc);
}

/* add, sub, mul, div with broadcasting: each input's gradient is the
 * product rule's term summed back to the input's shape. */
static void g_binary(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    int a = f->in[0], b = f->in[1], y = f->out;
    for (int i = 0; i < 2; i++) {
        int x = f->in[i], g = dy;
        if (!A->needs[x])
            continue;
        switch (f->op) {
        case NG_OP_SUB:
            if (i == 1)
                g = bop1(A, NG_OP_NEG, dy, NULL, NULL, gtmp(A, x, "neg"), n->loc);
            break;
        case NG_OP_MUL:
            g = bop2(A, NG_OP_MUL, dy, i ? a : b, gtmp(A, x, "mul"), n->loc);
            break;
        case NG_OP_DIV: /* d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b */
            if (i == 0) {
                g = bop2(A, NG_OP_DIV, dy, b, gtmp(A, x, "div"), n->loc);
            } else {
                g = bop2(A, NG_OP_MUL, dy, y, gtmp(A, x, "mul"), n->loc);
                g = bop2(A, NG_OP_DIV, g, b, gtmp(A, x, "div"), n->loc);
                g = bop1(A, NG_OP_NEG, g, NULL, NULL, gtmp(A, x, "neg"), n->loc);
            }
            break;
        }
        acc(A, x, sum_to(A, g, x, gname(A, x), n->loc), n->loc);
    }
}

/* The UNARY rows whose gradient composes other ops (ops.def), each named
 * in its row. */
static void g_neg(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0];
    acc(A, x, bop1(A, NG_OP_NEG, dy, NULL, NULL, gname(A, x), n->loc), n->loc);
}

/* The gradient of y = h(x), the input of n, is dy * d, d the tensor h'(x). */
static void acc_dy_times(ad *A, const nc_node *n, int dy, int d)
{
    int x = n->n.in[0];
    acc(A, x, bop2(A, NG_OP_MUL, dy, d, gname(A, x), n->loc), n->loc);
}

static void g_exp(ad *A, const nc_node *n, int dy) { acc_dy_times(A, n, dy, n->n.out); }

static void g_log(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0];
    acc(A, x, bop2(A, NG_OP_DIV, dy, x, gname(A, x), n->loc), n->loc);
}

/* sqrt(x) = x^0.5: pow's backward op with p = 0.5 */
static void g_sqrt(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0];
    int32_t in[2] = {dy, x};
    float fa[NG_MAX_FA] = {0.5f};
    acc(A, x, bop(A, NG_OP_POW_BWD, 2, in, NULL, fa, gname(A, x), n->loc), n->loc);
}

static void g_abs(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0];
    acc_dy_times(A, n, dy, bop1(A, NG_OP_SIGN, x, NULL, NULL, gtmp(A, x, "sign"), n->loc));
}

/* sigmoid(x) = exp(x - softplus(x)), never above 1 */
static void g_softplus(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0];
    int d = bop2(A, NG_OP_SUB, x, n->n.out, gtmp(A, x, "sub"), n->loc);
    acc_dy_times(A, n, dy, bop1(A, NG_OP_EXP, d, NULL, NULL, gtmp(A, x, "sigmoid"), n->loc));
}

/* dy cos(x) */
static void g_sin(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0];
    acc_dy_times(A, n, dy, bop1(A, NG_OP_COS, x, NULL, NULL, gtmp(A, x, "cos"), n->loc));
}

/* -dy sin(x) */
static void g_cos(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0];
    const char *nm = gname(A, x);
    int sn = bop1(A, NG_OP_SIN, x, NULL, NULL, gtmp(A, x, "sin"), n->loc);
    int m = bop2(A, NG_OP_MUL, dy, sn, gtmp(A, x, "mul"), n->loc);
    acc(A, x, bop1(A, NG_OP_NEG, m, NULL, NULL, nm, n->loc), n->loc);
}

/* The backward op of each UNARY_DX row (ops.def). */
static const int16_t unary_bwd_op[NG_OP_COUNT] = {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs)
#define UNARY(ID, name, flags, nograd, shape, attrs, expr, grad)
#define UNARY_DX(ID, name, flags, shape, attrs, expr, reads, bwd_flags, dx) [NG_OP_##ID] = NG_OP_##ID##_BWD,
#include "ops.def"
#undef UNARY_DX
#undef UNARY
#undef OP
};

/* The UNARY_DX rows: their backward op from dy and x or y (as its row
 * reads), with the forward op's attributes. */
static void g_unary_bwd(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    int op = unary_bwd_op[f->op], x = f->in[0];
    int32_t in[2] = {dy, ng_ops[op].flags & NG_F_READS_Y ? f->out : x};
    acc(A, x, bop(A, op, 2, in, NULL, f->fa, gname(A, x), n->loc), n->loc);
}

/* sum/mean: the gradient is dy broadcast back over the reduced dims. */
static void g_reduce_sum(ad *A, const nc_node *n, int dy)
{
    const ng_tensor x = A->g->tensors[n->n.in[0]].t;
    int32_t ia[NG_MAX_IA] = {n->n.ia[0], n->n.ia[1], x.ndim, x.dim[0], x.dim[1], x.dim[2], x.dim[3]};
    for (int i = x.ndim; i < NG_MAX_DIMS; i++)
        ia[3 + i] = 0;
    acc(A, n->n.in[0], bop1(A, NG_OP_EXPAND, dy, ia, n->n.fa, gname(A, n->n.in[0]), n->loc), n->loc);
}

/* softmax: dx = y * (dy - sum(dy * y)) over the axis. */
static void g_softmax(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0], y = n->n.out;
    int32_t ia[NG_MAX_IA] = {1 << n->n.ia[0], 1 << n->n.ia[0]};
    float fa[NG_MAX_FA] = {1};
    int t = bop2(A, NG_OP_MUL, dy, y, gtmp(A, x, "dy_y"), n->loc);
    int s = bop1(A, NG_OP_REDUCE_SUM, t, ia, fa, gtmp(A, x, "rowsum"), n->loc);
    int u = bop2(A, NG_OP_SUB, dy, s, gtmp(A, x, "sub"), n->loc);
    acc(A, x, bop2(A, NG_OP_MUL, u, y, gname(A, x), n->loc), n->loc);
}

/* log_softmax: dx = dy - exp(y) * sum(dy) over the axis. */
static void g_log_softmax(ad *A, const nc_node *n, int dy)
{
    int x = n->n.in[0], y = n->n.out;
    int32_t ia[NG_MAX_IA] = {1 << n->n.ia[0], 1 << n->n.ia[0]};
    float fa[NG_MAX_FA] = {1};
    int s = bop1(A, NG_OP_REDUCE_SUM, dy, ia, fa, gtmp(A, x, "rowsum"), n->loc);
    int e = bop1(A, NG_OP_EXP, y, NULL, NULL, gtmp(A, x, "softmax"), n->loc);
    int t = bop2(A, NG_OP_MUL, e, s, gtmp(A, x, "mul"), n->loc);
    acc(A, x, bop2(A, NG_OP_SUB, dy, t, gname(A, x), n->loc), n->loc);
}

static void g_reshape(ad *A, const nc_node *n, int dy)
{
    const ng_tensor x = A->g->tensors[n->n.in[0]].t;
    int32_t ia[NG_MAX_IA] = {x.ndim, x.dim[0], x.dim[1], x.dim[2], x.dim[3]};
    acc(A, n->n.in[0], bop1(A, NG_OP_RESHAPE, dy, ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_slice(ad *A, const nc_node *n, int dy)
{
    const ng_tensor x = A->g->tensors[n->n.in[0]].t;
    int32_t ia[NG_MAX_IA] = {n->n.ia[0], n->n.ia[1], x.dim[n->n.ia[0]]};
    acc(A, n->n.in[0], bop1(A, NG_OP_PAD, dy, ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

/* group_norm: dx by the fused GROUP_NORM_BWD, dgamma by
 * GROUP_NORM_BWD_GAMMA, dbeta = the per-channel sum of dy (conv2d's bias
 * gradient). */
static void g_group_norm(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    int x = f->in[0], gamma = f->in[1], beta = f->in[2];
    if (A->needs[x]) {
        int32_t in[3] = {dy, x, gamma};
        acc(A, x, bop(A, NG_OP_GROUP_NORM_BWD, 3, in, f->ia, f->fa, gname(A, x), n->loc), n->loc);
    }
    if (gamma >= 0 && A->needs[gamma]) {
        int32_t in[2] = {dy, x};
        acc(A, gamma, bop(A, NG_OP_GROUP_NORM_BWD_GAMMA, 2, in, f->ia, f->fa, gname(A, gamma), n->loc),
            n->loc);
    }
    if (beta >= 0 && A->needs[beta])
        acc(A, beta, bop1(A, NG_OP_CONV2D_BWD_BIAS, dy, NULL, NULL, gname(A, beta), n->loc), n->loc);
}

/* group_norm_act: the sums of GROUP_NORM_ACT_SUMS (one pass over dy, y and
 * x) feed dx (GROUP_NORM_ACT_BWD, one more) and the parameters' gradients
 * (GROUP_NORM_ACT_PARAM, a sum over the batch of the sums). */
static void g_group_norm_act(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    int x = f->in[0], gamma = f->in[1], beta = f->in[2];
    int32_t in_s[3] = {dy, f->out, x};
    int s = bop(A, NG_OP_GROUP_NORM_ACT_SUMS, 3, in_s, f->ia, f->fa, gtmp(A, x, "norm_sums"), n->loc);
    if (A->needs[x]) {
        int32_t in[5] = {dy, f->out, x, gamma, s};
        acc(A, x, bop(A, NG_OP_GROUP_NORM_ACT_BWD, 5, in, f->ia, f->fa, gname(A, x), n->loc), n->loc);
    }
    for (int which = 0; which < 2; which++) {
        int p = which ? gamma : beta;
        int32_t ia[NG_MAX_IA] = {which};
        if (p >= 0 && A->needs[p])
            acc(A, p, bop1(A, NG_OP_GROUP_NORM_ACT_PARAM, s, ia, NULL, gname(A, p), n->loc), n->loc);
    }
}

/* batch_norm (the train-mode op: batch statistics): as group_norm, with
 * each channel's N*H*W values as the group; the running statistics take no
 * gradient. */
static void g_batch_norm(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    int x = f->in[0], gamma = f->in[1], beta = f->in[2];
    float fa[NG_MAX_FA] = {f->fa[0]};
    if (A->needs[x]) {
        int32_t in[3] = {dy, x, gamma};
        acc(A, x, bop(A, NG_OP_BATCH_NORM_BWD, 3, in, NULL, fa, gname(A, x), n->loc), n->loc);
    }
    if (gamma >= 0 && A->needs[gamma]) {
        int32_t in[2] = {dy, x};
        acc(A, gamma, bop(A, NG_OP_BATCH_NORM_BWD_GAMMA, 2, in, NULL, fa, gname(A, gamma), n->loc), n->loc);
    }
    if (beta >= 0 && A->needs[beta])
        acc(A, beta, bop1(A, NG_OP_CONV2D_BWD_BIAS, dy, NULL, NULL, gname(A, beta), n->loc), n->loc);
}

/* dropout: the same mask (same salt, seed and step) applied to dy. */
/* batch_sum: the sum over ranks is its own adjoint, dx = batch_sum(dy). */
static void g_batch_sum(ad *A, const nc_node *n, int dy)
{
    int32_t in[1] = {dy};
    int x = n->n.in[0];
    acc(A, x, bop(A, NG_OP_BATCH_SUM, 1, in, NULL, NULL, gname(A, x), n->loc), n->loc);
}

static void g_dropout(ad *A, const nc_node *n, int dy)
{
    acc(A, n->n.in[0], bop1(A, NG_OP_DROPOUT, dy, n->n.ia, n->n.fa, gname(A, n->n.in[0]), n->loc), n->loc);
}

/* avg_pool, pad2d, upsample_bilinear: their adjoints, told the input size. */
static void g_spatial(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    const ng_tensor x = A->g->tensors[f->in[0]].t;
    int32_t ia[NG_MAX_IA];
    memcpy(ia, f->ia, sizeof ia);
    int op = NG_OP_UPSAMPLE_BILINEAR_BWD;
    if (f->op == NG_OP_AVG_POOL) {
        op = NG_OP_AVG_POOL_BWD;
        ia[1] = x.dim[2];
        ia[2] = x.dim[3];
    } else if (f->op == NG_OP_PAD2D) {
        op = NG_OP_PAD2D_BWD;
        ia[5] = x.dim[2];
        ia[6] = x.dim[3];
    }
    acc(A, f->in[0], bop1(A, op, dy, ia, NULL, gname(A, f->in[0]), n->loc), n->loc);
}

static void g_global_max_pool(ad *A, const nc_node *n, int dy)
{
    acc(A, n->n.in[0], bop2(A, NG_OP_GLOBAL_MAX_POOL_BWD, dy, n->n.in[0], gname(A, n->n.in[0]), n->loc),
        n->loc);
}

/* conv_transpose2d, the data gradient of a conv2d: dx is that conv2d's
 * forward of dy, dw its filter gradient (roles of x and dy swapped), db the
 * per-channel sum of dy. */
static void g_conv_transpose2d(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    const ng_tensor w = A->g->tensors[f->in[1]].t;
    int32_t ia[NG_MAX_IA];
    memcpy(ia, f->ia, sizeof ia);
    if (A->needs[f->in[0]]) {
        ia[5] = 0; /* conv2d: no fused relu, then its dilation and groups */
        ia[6] = ng_conv_dilation(f);
        ia[7] = ng_conv_groups(f);
        int32_t in[3] = {dy, f->in[1], -1};
        acc(A, f->in[0], bop(A, NG_OP_CONV2D, 3, in, ia, NULL, gname(A, f->in[0]), n->loc), n->loc);
        ia[7] = f->ia[7];
    }
    if (A->needs[f->in[1]]) {
        ia[5] = w.dim[2];
        ia[6] = w.dim[3];
        int32_t in[2] = {f->in[0], dy};
        acc(A, f->in[1], bop(A, NG_OP_CONV2D_BWD_FILTER, 2, in, ia, NULL, gname(A, f->in[1]), n->loc), n->loc);
    }
    if (f->in[2] >= 0 && A->needs[f->in[2]])
        acc(A, f->in[2], bop1(A, NG_OP_CONV2D_BWD_BIAS, dy, NULL, NULL, gname(A, f->in[2]), n->loc), n->loc);
}

/* cumsum: the cumulative sum of dy the other way; gather: scattered back
 * through the same indices. */
static void g_cumsum(ad *A, const nc_node *n, int dy)
{
    int32_t ia[NG_MAX_IA] = {n->n.ia[0], !n->n.ia[1]};
    acc(A, n->n.in[0], bop1(A, NG_OP_CUMSUM, dy, ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_gather(ad *A, const nc_node *n, int dy)
{
    int32_t in[2] = {dy, n->n.in[1]};
    acc(A, n->n.in[0], bop(A, NG_OP_GATHER_BWD, 2, in, n->n.ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

/* The grad column of ops.def: one rule per op, NULL for the ops without a
 * gradient, whose nograd column is then NG_IN_ALL (checked below). */
static const grad_rule grad_rules[NG_OP_COUNT] = {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs) [NG_OP_##ID] = grad,
#include "ops.def"
#undef OP
};

/* A row with a rule sends a gradient through some input; a row without
 * one through none.  So a gradient never reaches an op without a rule
 * (needs[] in nc_autodiff follows nograd). */
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs)                           \
    _Static_assert(_Generic((grad), int: (nograd) == NG_IN_ALL, default: (nograd) != NG_IN_ALL), \
                   #name ": a gradient rule (grad) and nograd NG_IN_ALL go together in ops.def");
#include "ops.def"
#undef OP

/* Inputs through which no gradient flows: the nograd column of ops.def. */
static int differentiable_input(const ng_node *n, int i)
{
    return !(ng_ops[n->op].nograd & NG_IN(i));
}

/* A const f32 scalar (ndim 0) holding x. */
static int scalar_const(ad *A, const char *name, float x, nc_loc loc)
{
    int t = nc_graph_tensor(A->g, name, NG_F32, NG_ROLE_CONST, 0, NULL, loc);
    float *d = nc_arena_array(A->g->arena, 1, sizeof *d);
    *d = x;
    A->g->tensors[t].t.init = NG_INIT_DATA;
    A->g->tensors[t].t.data = d;
    return t;
}

/* Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_): the f32
 * scalar scale = min(1, clip_norm / (sqrt(sum over every parameter's
 * gradient of its sum of squares) + 1e-6)), which every update multiplies
 * its gradient by.  The updates then wait for the last gradient. */
static int clip_scale(ad *A, size_t n_tensors, nc_loc loc)
{
    nc_graph *g = A->g;
    int total = -1;
    for (size_t t = 0; t < n_tensors; t++) {
        if (g->tensors[t].t.role != NG_ROLE_PARAM || A->grad[t] < 0)
            continue;
        int s = bop1(A, NG_OP_SUMSQ, A->grad[t], NULL, NULL,
                     nc_arena_printf(g->arena, "%s.grad_sumsq", g->tensors[t].t.name), loc);
        total = total < 0 ? s : bop2(A, NG_OP_ADD, total, s, "clip_norm.sum", loc);
    }
    int norm = bop1(A, NG_OP_SQRT, total, NULL, NULL, "clip_norm.norm", loc);
    int eps = scalar_const(A, "clip_norm.eps", 1e-6f, loc);
    int denom = bop2(A, NG_OP_ADD, norm, eps, "clip_norm.denom", loc);
    int c = scalar_const(A, "clip_norm.max", g->opt_clip_norm, loc);
    int r = bop2(A, NG_OP_DIV, c, denom, "clip_norm.ratio", loc);
    float fa[NG_MAX_FA] = {-INFINITY, 1.0f};
    return bop1(A, NG_OP_CLAMP, r, NULL, fa, "clip_norm.scale", loc);
}

/* One update per parameter that has a gradient: p, g, the optimizer state,
 * then (when clip_norm or a schedule is used) the scale and lr scalars. */
static void append_optimizer(ad *A)
{
    nc_graph *g = A->g;
    size_t n_tensors = g->n_tensors;
    int scale = g->opt_clip_norm > 0 ? clip_scale(A, n_tensors, g->loss_loc) : -1;
    for (size_t t = 0; t < n_tensors; t++) {
        if (g->tensors[t].t.role != NG_ROLE_PARAM || A->grad[t] < 0)
            continue;
        const ng_tensor *p = &g->tensors[t].t;
        nc_loc loc = g->tensors[t].loc;
        int ndim = p->ndim;
        int32_t dim[NG_MAX_DIMS];
        memcpy(dim, p->dim, sizeof dim);
        const char *pname = p->name;
        int32_t in[6] = {(int32_t)t, A->grad[t], -1, -1, -1, -1};
        int op, n_in;
        if (g->opt == NC_OPT_ADAM) {
            in[2] = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.adam_m", pname), NG_F32,
                                    NG_ROLE_OPT_STATE, ndim, dim, loc);
            in[3] = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.adam_v", pname), NG_F32,
                                    NG_ROLE_OPT_STATE, ndim, dim, loc);
            op = NG_OP_ADAM;
            n_in = 4;
        } else {
            in[2] = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.sgd_v", pname), NG_F32,
                                    NG_ROLE_OPT_STATE, ndim, dim, loc);
            op = NG_OP_SGD;
            n_in = 3;
        }
        for (int i = 2; i < n_in; i++)
            g->tensors[in[i]].t.init = NG_INIT_ZEROS;
        if (scale >= 0 || g->opt_lr >= 0) {
            in[n_in] = scale;
            in[n_in + 1] = g->opt_lr;
            n_in += 2;
        }
        bop(A, op, n_in, in, g->opt_ia, g->opt_fa, nc_arena_printf(g->arena, "%s.update", pname), loc);
    }
}

int nc_autodiff(nc_graph *g, nc_diag *d)
{
    if (g->bind.loss < 0)
        return 0;
    ad A = {0};
    A.g = g;
    A.d = d;
    size_t n_fwd = g->n_nodes;
    /* grad[] and needs[] are indexed by forward tensors only */
    size_t cap = g->n_tensors + 1;
    A.grad = malloc(cap * sizeof *A.grad);
    A.needs = calloc(cap, 1);
    free(g->grad_of);
    g->grad_of = malloc(cap * sizeof *g->grad_of);
    g->n_grad_of = cap - 1;
    if (!A.grad || !A.needs || !g->grad_of)
        nc_die("out of memory");
    for (size_t i = 0; i < cap; i++)
        A.grad[i] = -1;
    for (size_t t = 0; t < g->n_tensors; t++)
        A.needs[t] = g->tensors[t].t.role == NG_ROLE_PARAM;
    for (size_t i = 0; i < n_fwd; i++) {
        const ng_node *n = &g->nodes[i].n;
        if (n->out < 0)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && differentiable_input(n, k) && A.needs[n->in[k]])
                A.needs[n->out] = 1;
    }
    int loss = g->bind.loss;
    if (!A.needs[loss]) {
        nc_diag_error(d, g->loss_loc, "the loss does not depend on any trainable parameter");
        free(A.grad);
        free(A.needs);
        return -1;
    }
    int32_t one = 1;
    const ng_tensor lt = g->tensors[loss].t; /* a copy: the table grows */
    int seed = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.grad_seed", lt.name), NG_F32,
                               NG_ROLE_CONST, lt.ndim, lt.ndim ? lt.dim : &one, g->loss_loc);
    g->tensors[seed].t.init = NG_INIT_ONES;
    A.grad[loss] = seed;

    for (size_t i = n_fwd; i-- > 0;) {
        const nc_node n = g->nodes[i]; /* a copy: rules append to g->nodes */
        if (n.n.out < 0 || A.grad[n.n.out] < 0)
            continue;
        grad_rule rule = grad_rules[n.n.op];
        if (!rule)
            nc_die("a gradient reached %s, which has no gradient rule", ng_ops[n.n.op].name);
        rule(&A, &n, A.grad[n.n.out]);
    }
    for (size_t t = 0; t < cap - 1; t++)
        g->grad_of[t] = A.grad[t];
    if (g->opt != NC_OPT_NONE)
        append_optimizer(&A);
    free(A.grad);
    free(A.needs);
    return 0;
}
