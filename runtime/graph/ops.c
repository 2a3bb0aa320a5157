/* ops.c — the op table (ops.def) as data: names, flags and attributes, the
 * shape rule of every op, and the elementwise math of the UNARY rows and
 * their derivatives.
 * ng_op_shape is the single source of truth for op shapes: netc infers shapes
 * with it and netrun re-checks every node of a loaded file with it. */
#define _POSIX_C_SOURCE 200809L
#include "netg.h"

#include <tgmath.h>

#include "shape_rules.h"

/* ---- op table ---------------------------------------------------------- */

/* A UNARY row's attributes: the names after the "|" of attrs, and the
 * attributes themselves (ng_fa_attr). */
#define NOATTR , { { 0 } }
#define ATTR1(n, def, min) " " #n, { { #n, def, min } }
#define ATTR2(n1, def1, min1, n2, def2, min2) " " #n1 " " #n2, { { #n1, def1, min1 }, { #n2, def2, min2 } }

const ng_op_info ng_ops[] = {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs) \
    [NG_OP_##ID] = { #name, n_in, opt, flags, nograd, attrs, { { 0 } } },
#define UNARY(ID, name, flags, nograd, shape, attrs, expr, grad) \
    [NG_OP_##ID] = { #name, 1, 0, (flags) | NG_F_UNARY | NG_F_ELEMWISE, nograd, "|" attrs },
#define UNARY_DX(ID, name, flags, shape, attrs, expr, reads, bwd_flags, dx)                    \
    [NG_OP_##ID] = { #name, 1, 0, (flags) | NG_F_UNARY | NG_F_ELEMWISE, 0, "|" attrs },       \
    [NG_OP_##ID##_BWD] = { #name "_bwd", 2, 0, (bwd_flags) | NG_F_ELEMWISE | NG_F_READS_##reads, \
                           NG_IN_ALL, "|" attrs },
#include "ops.def"
#undef UNARY_DX
#undef UNARY
#undef OP
};
_Static_assert(sizeof ng_ops / sizeof ng_ops[0] == NG_OP_COUNT,
               "ng_ops[] must have one row per op of ops.def");

#undef ATTR2
#undef ATTR1
#undef NOATTR

/* ---- shape rules (the layers': shapes_layers.c) ----------------------- */

/* CLAMP x -> x, CLAMP_BWD dy, x -> x (shape_unary); fa[0] lo <= fa[1] hi,
 * either may be infinite */
int shape_clamp(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                       ng_tensor *out, int64_t *ws)
{
    if (shape_unary(c, n, in, out, ws))
        return -1;
    if (!(n->fa[0] <= n->fa[1]))
        return ng_fail(c->err, c->errlen, "%s: bounds [%g, %g] are not a range", c->op,
                       (double)n->fa[0], (double)n->fa[1]);
    return 0;
}

/* SOFTMAX, LOG_SOFTMAX: any rank >= 1 -> the same; ia[0] axis */
int shape_softmax(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    (void)ws;
    if (need(c, in[0], "input", NG_F32, -1) || axis_ok(c, in[0], n->ia[0]))
        return -1;
    copy_shape(out, in[0]);
    return 0;
}

/* a, b -> their broadcast shape */
int shape_binary(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    (void)n, (void)ws;
    if (need(c, in[0], "a", NG_F32, -1) || need(c, in[1], "b", NG_F32, -1))
        return -1;
    return broadcast(c, in[0], in[1], out);
}

/* x -> x reduced; ia[0] mask, ia[1] keep, fa[0] scale */
int shape_reduce_sum(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                            ng_tensor *out, int64_t *ws)
{
    (void)ws;
    if (need(c, in[0], "input", NG_F32, -1) ||
        frange(c, "scale", n->fa[0], -HUGE_VAL, HUGE_VAL, 0))
        return -1;
    return reduced_shape(c, in[0], n->ia[0], n->ia[1], out);
}

/* x (the target reduced) -> target (ia[2..6]) */
int shape_expand(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    ng_tensor target, want;
    char b1[64], b2[64], b3[64];
    (void)ws;
    memset(&target, 0, sizeof target);
    if (need(c, in[0], "input", NG_F32, -1) ||
        frange(c, "scale", n->fa[0], -HUGE_VAL, HUGE_VAL, 0) ||
        attr_shape(c, n->ia + 2, &target) ||
        reduced_shape(c, &target, n->ia[0], n->ia[1], &want))
        return -1;
    if (!ng_same_shape(in[0], &want))
        return ng_fail(c->err, c->errlen, "expand: input is %s but reducing %s gives %s",
                       ng_shape_str(b1, in[0]->ndim, in[0]->dim),
                       ng_shape_str(b2, target.ndim, target.dim),
                       ng_shape_str(b3, want.ndim, want.dim));
    copy_shape(out, &target);
    return 0;
}

/* ONE_HOT labels (N,H,W) -> (N,K,H,W), ia[0] K; VALID_MASK -> (N,1,H,W),
 * ia[0] classes */
int shape_one_hot(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    (void)ws;
    if (labels_to(c, in[0], n->ia[0], out))
        return -1;
    if (n->op == NG_OP_VALID_MASK)
        out->dim[1] = 1;
    return 0;
}

/* x -> shape ia[0..4], same element count */
int shape_reshape(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    (void)ws;
    if (need(c, in[0], "input", NG_F32, -1) || attr_shape(c, n->ia, out))
        return -1;
    if (ng_tensor_nelem(out) != ng_tensor_nelem(in[0]))
        return ng_fail(c->err, c->errlen, "reshape: %s and %s have different sizes",
                       ng_shape_str(b1, in[0]->ndim, in[0]->dim),
                       ng_shape_str(b2, out->ndim, out->dim));
    return 0;
}

/* SLICE x -> count ia[2] along axis ia[0] from ia[1]; PAD (its adjoint)
 * x -> size ia[2] along axis ia[0], x at ia[1] */
int shape_slice(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                       ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    const int32_t *ia = n->ia;
    (void)ws;
    if (need(c, x, "input", NG_F32, -1) || axis_ok(c, x, ia[0]))
        return -1;
    if (n->op == NG_OP_SLICE && (ia[1] < 0 || ia[2] < 1 || (int64_t)ia[1] + ia[2] > x->dim[ia[0]]))
        return ng_fail(c->err, c->errlen, "slice: %" PRId32 " from %" PRId32 " out of "
                       "range (dim %" PRId32 " has %" PRId32 ")", ia[2], ia[1],
                       ia[0], x->dim[ia[0]]);
    if (n->op == NG_OP_PAD && (ia[1] < 0 || (int64_t)ia[1] + x->dim[ia[0]] > ia[2]))
        return ng_fail(c->err, c->errlen, "pad: %" PRId32 " from %" PRId32 " does not "
                       "fit in %" PRId32, x->dim[ia[0]], ia[1], ia[2]);
    copy_shape(out, x);
    out->dim[ia[0]] = ia[2];
    return 0;
}

/* MAXPOOL x(N,C,H,W) -> (N,C,H/k,W/k), floor; MAXPOOL_BWD dy, x, y -> shape
 * of x */
int shape_maxpool(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    int bwd = n->op == NG_OP_MAXPOOL_BWD;
    const ng_tensor *x = in[bwd ? 1 : 0];
    int32_t k = n->ia[0];
    (void)ws;
    if (need(c, x, bwd ? "x" : "input", NG_F32, 4))
        return -1;
    if (k < 1)
        return ng_fail(c->err, c->errlen, "%s: window %" PRId32 " must be >= 1", c->op, k);
    if (k > x->dim[2] || k > x->dim[3])
        return ng_fail(c->err, c->errlen, "%s: %" PRId32 "x%" PRId32 " pooling of a %"
                       PRId32 "x%" PRId32 " input", c->op, k, k, x->dim[2], x->dim[3]);
    set_out(out, 4, x->dim[0], x->dim[1], x->dim[2] / k, x->dim[3] / k);
    if (bwd) {
        for (int i = 0; i < 3; i += 2) {
            const char *what = i ? "y" : "dy";
            if (need(c, in[i], what, NG_F32, 4))
                return -1;
            if (!ng_same_shape(in[i], out))
                return ng_fail(c->err, c->errlen, "%s: %s is %s but %" PRId32 "x%"
                               PRId32 " pooling of x gives %s", c->op, what,
                               ng_shape_str(b1, in[i]->ndim, in[i]->dim), k, k,
                               ng_shape_str(b2, out->ndim, out->dim));
        }
        set_out(out, 4, x->dim[0], x->dim[1], x->dim[2], x->dim[3]);
    }
    return 0;
}

/* x_i(N,C_i,H,W) -> (N,sum C_i,H,W); inputs named from 1 in messages */
int shape_concat(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    int64_t C = 0;
    (void)ws;
    for (int i = 0; i < n->n_in; i++) {
        const ng_tensor *x = in[i], *x0 = in[0];
        char what[24];
        snprintf(what, sizeof what, "input %d", i + 1);
        if (need(c, x, what, NG_F32, 4))
            return -1;
        if (x->dim[0] != x0->dim[0])
            return ng_fail(c->err, c->errlen, "concat: input %d has batch %" PRId32
                           " but input 1 has batch %" PRId32, i + 1, x->dim[0], x0->dim[0]);
        if (x->dim[2] != x0->dim[2] || x->dim[3] != x0->dim[3])
            return ng_fail(c->err, c->errlen, "concat: input %d is %" PRId32 "x%" PRId32
                           " but input 1 is %" PRId32 "x%" PRId32, i + 1,
                           x->dim[2], x->dim[3], x0->dim[2], x0->dim[3]);
        C += x->dim[1];
    }
    if (C > INT32_MAX)
        return ng_fail(c->err, c->errlen, "concat: %" PRId64 " channels is too many", C);
    set_out(out, 4, in[0]->dim[0], (int32_t)C, in[0]->dim[2], in[0]->dim[3]);
    return 0;
}

/* x(N,C,H,W) -> (N,count,H,W), ia[0] c0, ia[1] count */
int shape_slice_channels(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    const int32_t *ia = n->ia;
    (void)ws;
    if (need(c, x, "input", NG_F32, 4))
        return -1;
    if (ia[0] < 0 || ia[1] < 1 || (int64_t)ia[0] + ia[1] > x->dim[1])
        return ng_fail(c->err, c->errlen, "%s: %" PRId32 " channels from %" PRId32
                       " out of range (the input has %" PRId32 ")", c->op,
                       ia[1], ia[0], x->dim[1]);
    set_out(out, 4, x->dim[0], ia[1], x->dim[2], x->dim[3]);
    return 0;
}

/* no inputs -> (N,C) = (ia[1], ia[2]); fa[0] p */
int shape_dropout_mask(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                              ng_tensor *out, int64_t *ws)
{
    const int32_t *ia = n->ia;
    (void)in, (void)ws;
    if (ia[1] < 1 || ia[2] < 1)
        return ng_fail(c->err, c->errlen, "%s: shape %" PRId32 "x%" PRId32
                       " (ia[1], ia[2]) must be >= 1", c->op, ia[1], ia[2]);
    if (frange(c, "p", n->fa[0], 0, 1, 1))
        return -1;
    set_out(out, 2, ia[1], ia[2], 0, 0);
    return 0;
}

/* x(N,C,H,W), m(N,C) -> (N,C,H,W) */
int shape_mul_channel(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                             ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0], *m = in[1];
    char b1[64];
    (void)n, (void)ws;
    if (need(c, x, "input", NG_F32, 4) || need(c, m, "mask", NG_F32, 2))
        return -1;
    if (m->dim[0] != x->dim[0] || m->dim[1] != x->dim[1])
        return ng_fail(c->err, c->errlen, "%s: mask is %s but the input needs %" PRId32
                       "x%" PRId32, c->op, ng_shape_str(b1, m->ndim, m->dim),
                       x->dim[0], x->dim[1]);
    set_out(out, 4, x->dim[0], x->dim[1], x->dim[2], x->dim[3]);
    return 0;
}

/* CROSS_ENTROPY logits, labels, w? -> (1);
 * CROSS_ENTROPY_BWD dloss(1), logits, labels, w? -> logits */
int shape_cross_entropy(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                               ng_tensor *out, int64_t *ws)
{
    char b1[64];
    (void)ws;
    if (n->op == NG_OP_CROSS_ENTROPY) {
        if (ce_check(c, in[0], in[1], in[2]))
            return -1;
        set_out(out, 1, 1, 0, 0, 0);
        return 0;
    }
    if (need(c, in[0], "dloss", NG_F32, -1))
        return -1;
    if (ng_tensor_nelem(in[0]) != 1)
        return ng_fail(c->err, c->errlen, "%s: dloss must have one element, not %s",
                       c->op, ng_shape_str(b1, in[0]->ndim, in[0]->dim));
    if (ce_check(c, in[1], in[2], in[3]))
        return -1;
    set_out(out, 4, in[1]->dim[0], in[1]->dim[1], in[1]->dim[2], in[1]->dim[3]);
    return 0;
}

/* A 0/1 attribute (a flag). */
static int flag01(const sctx *c, const char *what, int32_t v)
{
    if (v == 0 || v == 1)
        return 0;
    return ng_fail(c->err, c->errlen, "%s: %s = %d must be 0 or 1", c->op, what, (int)v);
}

/* ADAM p, g, m, v [, scale, lr]; ia: form, decoupled; fa: lr, beta1, beta2,
 * eps, clip, weight_decay.  SGD p, g, v [, scale, lr]; ia: nesterov; fa:
 * lr, momentum, clip, weight_decay.  scale and lr (optional even in the
 * longer form) are f32 scalars.  No output: out->ndim stays 0. */
int shape_update(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    static const char *const adam_names[] = { "p", "g", "m", "v" };
    static const char *const sgd_names[] = { "p", "g", "v" };
    static const char *const extra[] = { "scale", "lr" };
    const float *fa = n->fa;
    const int32_t *ia = n->ia;
    int adam = n->op == NG_OP_ADAM, k = adam ? 4 : 3;
    char b1[64];
    (void)out, (void)ws;
    if (n->n_in != k && n->n_in != k + 2)
        return ng_fail(c->err, c->errlen, "%s: %u inputs, expects %d or %d", c->op,
                       (unsigned)n->n_in, k, k + 2);
    for (int i = 0; i < 2 && k + i < n->n_in; i++) {
        const ng_tensor *x = in[k + i];
        if (x && (x->dtype != NG_F32 || ng_tensor_nelem(x) != 1))
            return ng_fail(c->err, c->errlen, "%s: %s must be one f32 element, not %s%s", c->op,
                           extra[i], x->dtype == NG_F32 ? "" : "i32 ", ng_shape_str(b1, x->ndim, x->dim));
    }
    if (adam)
        return update_check(c, in, 4, adam_names) ||
               frange(c, "lr", fa[0], 0, HUGE_VAL, 0) ||
               frange(c, "beta1", fa[1], 0, 1, 1) ||
               frange(c, "beta2", fa[2], 0, 1, 1) ||
               frange(c, "eps", fa[3], 0, HUGE_VAL, 0) ||
               frange(c, "clip", fa[4], 0, HUGE_VAL, 0) ||
               frange(c, "weight_decay", fa[5], 0, HUGE_VAL, 0) ||
               flag01(c, "form", ia[0]) || flag01(c, "decoupled", ia[1]) ? -1 : 0;
    return update_check(c, in, 3, sgd_names) ||
           frange(c, "lr", fa[0], 0, HUGE_VAL, 0) ||
           frange(c, "momentum", fa[1], 0, 1, 1) ||
           frange(c, "clip", fa[2], 0, HUGE_VAL, 0) ||
           frange(c, "weight_decay", fa[3], 0, HUGE_VAL, 0) ||
           flag01(c, "nesterov", ia[0]) ? -1 : 0;
}

/* SUMSQ x (f32, any shape) -> f32 scalar (ndim 0). */
int shape_sumsq(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                ng_tensor *out, int64_t *ws)
{
    (void)n, (void)ws;
    if (need(c, in[0], "x", NG_F32, -1))
        return -1;
    set_out(out, 0, 0, 0, 0, 0);
    return 0;
}

static const shape_rule shape_rules[NG_OP_COUNT] = {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs) [NG_OP_##ID] = shape,
#include "ops.def"
#undef OP
};

int ng_op_shape(const ng_node *n, const ng_tensor *const *in, ng_tensor *out,
                int64_t *ws_elems, char *err, size_t errlen)
{
    char b1[64];
    int64_t ws = 0;

    *ws_elems = 0;
    set_out(out, 0, 0, 0, 0, 0);
    if (n->op >= NG_OP_COUNT)
        return ng_fail(err, errlen, "op %u out of range (%d ops)", (unsigned)n->op,
                       NG_OP_COUNT);
    sctx cx = { ng_ops[n->op].name, err, errlen }, *c = &cx;
    int want = ng_ops[n->op].n_in;
    if (want >= 0 ? n->n_in != want : n->n_in < 1 || n->n_in > NG_MAX_IN) {
        if (want >= 0)
            return ng_fail(err, errlen, "%s: %u inputs, expects %d", c->op,
                           (unsigned)n->n_in, want);
        return ng_fail(err, errlen, "%s: %u inputs, expects 1 to %d", c->op,
                       (unsigned)n->n_in, NG_MAX_IN);
    }
    for (int i = 0; i < n->n_in; i++) {
        if (!in[i] && !(ng_ops[n->op].opt & NG_IN(i)))
            return ng_fail(err, errlen, "%s: input %d is missing", c->op, i + 1);
        if (in[i] && !ng_shape_ok(in[i]->ndim, in[i]->dim))
            return ng_fail(err, errlen, "%s: input %d has an invalid shape %s",
                           c->op, i + 1, ng_shape_str(b1, in[i]->ndim, in[i]->dim));
    }
    if (shape_rules[n->op](c, n, in, out, &ws))
        return -1;
    if (ws < 0)
        return ng_fail(err, errlen, "%s: the workspace is over the %" PRId64
                       "-byte limit", c->op, (int64_t)NG_MAX_TENSOR_BYTES);
    if (!ng_shape_ok(out->ndim, out->dim))
        return ng_fail(err, errlen, "%s: the output %s is over the %" PRId64
                       "-byte limit", c->op, ng_shape_str(b1, out->ndim, out->dim),
                       (int64_t)NG_MAX_TENSOR_BYTES);
    *ws_elems = ws;
    return 0;
}

/* ---- the elementwise math of the UNARY rows ---------------------------- */

/* <tgmath.h> makes each expression's calls float in the kernels (expf,
 * logf, ...) and double in the folding. */
void ng_unary_f32(ng_op op, int64_t n, const float *x_, float a, float b, float *y)
{
    (void)a, (void)b;
    switch (op) {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs)
#define UNARY(ID, name, flags, nograd, shape, attrs, expr, grad) \
    case NG_OP_##ID:                                             \
        for (int64_t i = 0; i < n; i++) {                        \
            float x = x_[i];                                     \
            y[i] = (float)(expr);                                \
        }                                                        \
        return;
#define UNARY_DX(ID, name, flags, shape, attrs, expr, reads, bwd_flags, dx) \
    UNARY(ID, name, flags, 0, shape, attrs, expr, 0)
#include "ops.def"
#undef UNARY_DX
#undef UNARY
#undef OP
    default:
        return;
    }
}

double ng_unary_f64(ng_op op, double x, double a, double b)
{
    (void)x, (void)a, (void)b;
    switch (op) {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs)
#define UNARY(ID, name, flags, nograd, shape, attrs, expr, grad) \
    case NG_OP_##ID:                                             \
        return (double)(expr);
#define UNARY_DX(ID, name, flags, shape, attrs, expr, reads, bwd_flags, dx) \
    UNARY(ID, name, flags, 0, shape, attrs, expr, 0)
#include "ops.def"
#undef UNARY_DX
#undef UNARY
#undef OP
    default:
        return NAN;
    }
}

/* Only the input the row reads (x or y) has a name in its expression. */
void ng_unary_bwd_f32(ng_op op, int64_t n, const float *dy_, const float *v, float a, float b, float *dx_)
{
    (void)a, (void)b;
    switch (op) {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs)
#define UNARY(ID, name, flags, nograd, shape, attrs, expr, grad)
#define UNARY_DX(ID, name, flags, shape, attrs, expr, reads, bwd_flags, dx) \
    case NG_OP_##ID##_BWD:                                                  \
        for (int64_t i = 0; i < n; i++) {                                   \
            float dy = dy_[i], reads = v[i];                                \
            dx_[i] = (float)(dx);                                           \
        }                                                                   \
        return;
#include "ops.def"
#undef UNARY_DX
#undef UNARY
#undef OP
    default:
        return;
    }
}
