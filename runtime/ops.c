/* ops.c — the op table (ops.def) as data: names and flags, the shape rule
 * of every op, and the elementwise math of the UNARY rows.
 * ng_op_shape is the single source of truth for op shapes: netc infers shapes
 * with it and netrun re-checks every node of a loaded file with it. */
#define _POSIX_C_SOURCE 200809L
#include "netg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#include "util.h"

/* ---- op table ---------------------------------------------------------- */

const ng_op_info ng_ops[] = {
#define OP(ID, name, n_in, flags, nograd, shape, kernel, attrs) \
    [NG_OP_##ID] = { #name, n_in, flags, nograd, attrs },
#include "ops.def"
#undef OP
};
_Static_assert(sizeof ng_ops / sizeof ng_ops[0] == NG_OP_COUNT,
               "ng_ops[] must have one row per op of ops.def");

/* ---- shape rules ------------------------------------------------------- */

typedef struct {
    const char *op; /* op name, the prefix of every message */
    char *err;
    size_t errlen;
} sctx;

/* t must be present, of dtype, and of rank ndim (any rank when ndim < 0). */
static int need(const sctx *c, const ng_tensor *t, const char *what, int dtype,
                int ndim)
{
    char b[64];
    if (!t)
        return ng_fail(c->err, c->errlen, "%s: %s is missing", c->op, what);
    if (t->dtype != dtype) {
        if (dtype == NG_I32)
            return ng_fail(c->err, c->errlen, "%s: %s must be i32 (a labels input)",
                        c->op, what);
        return ng_fail(c->err, c->errlen, "%s: %s must be f32, not %s", c->op, what,
                    t->dtype == NG_I32 ? "i32 (labels)" : "an unknown dtype");
    }
    if (ndim >= 0 && t->ndim != ndim)
        return ng_fail(c->err, c->errlen, "%s: %s must be %d-D%s, not %s", c->op,
                    what, ndim,
                    ndim == 4 ? " (N,C,H,W)" : ndim == 3 ? " (N,H,W)" : "",
                    ng_shape_str(b, t->ndim, t->dim));
    return 0;
}

/* a * b for non-negative sizes; -1 when either is -1 or the product exceeds
 * NG_MAX_ELEMS. */
static int64_t mul_lim(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (b > 0 && a > NG_MAX_ELEMS / b))
        return -1;
    return a * b;
}

/* Output size of a convolution of an H x W input by a KH x KW kernel with the
 * stride and padding of ia[0..4] (stride, top, left, bottom, right):
 * OH = (H + top + bottom - KH) / stride + 1, and likewise OW. */
static int conv_geom(const sctx *c, const int32_t *ia, int32_t H, int32_t W,
                     int32_t KH, int32_t KW, int32_t *OH, int32_t *OW)
{
    int32_t s = ia[0], pt = ia[1], pl = ia[2], pb = ia[3], pr = ia[4];
    if (s < 1)
        return ng_fail(c->err, c->errlen, "%s: stride %" PRId32 " must be >= 1",
                    c->op, s);
    if (pt < 0 || pl < 0 || pb < 0 || pr < 0)
        return ng_fail(c->err, c->errlen,
                    "%s: padding %" PRId32 ",%" PRId32 ",%" PRId32 ",%" PRId32
                    " (top,left,bottom,right) must be >= 0",
                    c->op, pt, pl, pb, pr);
    int64_t ph = (int64_t)H + pt + pb, pw = (int64_t)W + pl + pr;
    if (ph < KH || pw < KW)
        return ng_fail(c->err, c->errlen,
                    "%s: %" PRId32 "x%" PRId32 " kernel is larger than the "
                    "padded %" PRId64 "x%" PRId64 " input",
                    c->op, KH, KW, ph, pw);
    int64_t oh = (ph - KH) / s + 1, ow = (pw - KW) / s + 1;
    if (oh > INT32_MAX || ow > INT32_MAX)
        return ng_fail(c->err, c->errlen, "%s: output %" PRId64 "x%" PRId64
                    " is too large", c->op, oh, ow);
    *OH = (int32_t)oh;
    *OW = (int32_t)ow;
    return 0;
}

/* im2col buffer in floats: one band of output rows (C*KH*KW, rows*OW), see
 * ng_conv_band_rows; 0 for a 1x1 kernel with stride 1 and no padding (the
 * input is its own column matrix); -1 when too large. */
static int64_t conv_ws(const int32_t *ia, int64_t C, int64_t KH, int64_t KW,
                       int64_t OH, int64_t OW)
{
    if (KH == 1 && KW == 1 && ia[0] == 1 && !ia[1] && !ia[2] && !ia[3] && !ia[4])
        return 0;
    int64_t row = mul_lim(mul_lim(mul_lim(C, KH), KW), OW);
    if (row < 0)
        return -1;
    return mul_lim(row, ng_conv_band_rows(C, KH, KW, OH, OW));
}

static void set_out(ng_tensor *out, int ndim, int32_t d0, int32_t d1,
                    int32_t d2, int32_t d3)
{
    out->dtype = NG_F32;
    out->ndim = (uint8_t)ndim;
    out->dim[0] = ndim > 0 ? d0 : 0;
    out->dim[1] = ndim > 1 ? d1 : 0;
    out->dim[2] = ndim > 2 ? d2 : 0;
    out->dim[3] = ndim > 3 ? d3 : 0;
}

static void copy_shape(ng_tensor *out, const ng_tensor *x)
{
    set_out(out, x->ndim, x->dim[0], x->dim[1], x->dim[2], x->dim[3]);
}

/* Broadcast shape of a and b (numpy: right-aligned, equal or 1) into out. */
static int broadcast(const sctx *c, const ng_tensor *a, const ng_tensor *b,
                     ng_tensor *out)
{
    char b1[64], b2[64];
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    int32_t d[NG_MAX_DIMS] = { 0 };
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int32_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ng_fail(c->err, c->errlen, "%s: shapes %s and %s do not broadcast "
                        "(dims must be equal or 1, aligned at the right)", c->op,
                        ng_shape_str(b1, a->ndim, a->dim), ng_shape_str(b2, b->ndim, b->dim));
        d[i] = da > db ? da : db;
    }
    set_out(out, r, d[0], d[1], d[2], d[3]);
    return 0;
}

/* The shape of x reduced over the dims in mask, keeping those in keep as
 * size 1; checks the masks against x's rank. */
static int reduced_shape(const sctx *c, const ng_tensor *x, int32_t mask,
                         int32_t keep, ng_tensor *out)
{
    if (mask < 0 || mask >= (1 << x->ndim) || (keep & ~mask) != 0)
        return ng_fail(c->err, c->errlen, "%s: dims %#x (kept %#x) do not fit a "
                    "rank-%d input", c->op, (unsigned)mask, (unsigned)keep,
                    x->ndim);
    int32_t d[NG_MAX_DIMS] = { 0 };
    int r = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!(mask >> i & 1))
            d[r++] = x->dim[i];
        else if (keep >> i & 1)
            d[r++] = 1;
    }
    set_out(out, r, d[0], d[1], d[2], d[3]);
    return 0;
}

/* A shape written in attributes: rank ia[0] (0..4), dims ia[1..4]. */
static int attr_shape(const sctx *c, const int32_t *ia, ng_tensor *out)
{
    if (ia[0] < 0 || ia[0] > NG_MAX_DIMS)
        return ng_fail(c->err, c->errlen, "%s: rank %" PRId32 " (0 to %d)", c->op,
                    ia[0], NG_MAX_DIMS);
    for (int i = 0; i < ia[0]; i++)
        if (ia[1 + i] < 1)
            return ng_fail(c->err, c->errlen, "%s: dim %d is %" PRId32, c->op, i,
                        ia[1 + i]);
    set_out(out, ia[0], ia[1], ia[2], ia[3], ia[4]);
    if (!ng_shape_ok(out->ndim, out->dim))
        return ng_fail(c->err, c->errlen, "%s: the shape is over the size limit",
                    c->op);
    return 0;
}

/* axis must name a dim of x. */
static int axis_ok(const sctx *c, const ng_tensor *x, int32_t axis)
{
    char b[64];
    if (axis < 0 || axis >= x->ndim)
        return ng_fail(c->err, c->errlen, "%s: axis %" PRId32 " is not a dim of %s",
                    c->op, axis, ng_shape_str(b, x->ndim, x->dim));
    return 0;
}

/* Labels (N,H,W) i32 -> (N,ch,H,W) f32. */
static int labels_to(const sctx *c, const ng_tensor *lb, int32_t ch, ng_tensor *out)
{
    if (need(c, lb, "labels", NG_I32, 3))
        return -1;
    if (ch < 1 || ch > NG_MAX_CLASSES)
        return ng_fail(c->err, c->errlen, "%s: %" PRId32 " classes (1 to %d)", c->op,
                    ch, NG_MAX_CLASSES);
    set_out(out, 4, lb->dim[0], ch, lb->dim[1], lb->dim[2]);
    return 0;
}

int ng_op_input_optional(int op, int slot)
{
    return (op == NG_OP_CONV2D && slot == 2) ||
           (op == NG_OP_CROSS_ENTROPY && slot == 2) ||
           (op == NG_OP_CROSS_ENTROPY_BWD && slot == 3);
}

/* Cross-entropy operand checks shared by the forward and backward op:
 * logits (N,C,H,W) f32, labels (N,H,W) i32, weights (C) f32 or absent. */
static int ce_check(const sctx *c, const ng_tensor *x, const ng_tensor *y,
                    const ng_tensor *w)
{
    if (need(c, x, "logits", NG_F32, 4) || need(c, y, "labels", NG_I32, 3))
        return -1;
    if (y->dim[0] != x->dim[0])
        return ng_fail(c->err, c->errlen, "%s: labels have batch %" PRId32
                    " but logits have batch %" PRId32, c->op, y->dim[0],
                    x->dim[0]);
    if (y->dim[1] != x->dim[2] || y->dim[2] != x->dim[3])
        return ng_fail(c->err, c->errlen, "%s: labels are %" PRId32 "x%" PRId32
                    " but logits are %" PRId32 "x%" PRId32, c->op, y->dim[1],
                    y->dim[2], x->dim[2], x->dim[3]);
    if (w) {
        if (need(c, w, "weights", NG_F32, 1))
            return -1;
        if (w->dim[0] != x->dim[1])
            return ng_fail(c->err, c->errlen, "%s: weights have %" PRId32
                        " elements but logits have %" PRId32 " classes", c->op,
                        w->dim[0], x->dim[1]);
    }
    return 0;
}

/* Optimizer operands: p first, then the others, all f32 of p's shape. */
static int update_check(const sctx *c, const ng_tensor *const *in, int n,
                        const char *const *names)
{
    char b1[64], b2[64];
    for (int i = 0; i < n; i++) {
        if (need(c, in[i], names[i], NG_F32, -1))
            return -1;
        if (i > 0 && !ng_same_shape(in[i], in[0]))
            return ng_fail(c->err, c->errlen, "%s: %s is %s but p is %s", c->op,
                        names[i], ng_shape_str(b1, in[i]->ndim, in[i]->dim),
                        ng_shape_str(b2, in[0]->ndim, in[0]->dim));
    }
    return 0;
}

/* v must be finite and in [lo, hi) (hi_open) or [lo, hi]. */
static int frange(const sctx *c, const char *what, float v, double lo,
                  double hi, int hi_open)
{
    if (v >= lo && (hi_open ? v < hi : v <= hi) && isfinite(v))
        return 0;
    if (isinf(hi) && isinf(lo))
        return ng_fail(c->err, c->errlen, "%s: %s = %g must be finite", c->op, what,
                    (double)v);
    if (isinf(hi))
        return ng_fail(c->err, c->errlen, "%s: %s = %g must be finite and >= %g",
                    c->op, what, (double)v, lo);
    return ng_fail(c->err, c->errlen, "%s: %s = %g must be in [%g, %g%s", c->op,
                what, (double)v, lo, hi, hi_open ? ")" : "]");
}

/* One shape rule per class of ops, named in the shape column of ops.def.
 * Each checks its inputs and attributes, sets out (UPDATE ops: ndim 0) and
 * *ws, the f32 workspace elements (0: none), and returns 0, or -1 with
 * "op: problem" in c->err. */
typedef int (*shape_rule)(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                          ng_tensor *out, int64_t *ws);

/* x(N,C,H,W), w(K,C,KH,KW), b(K) -> (N,K,OH,OW) */
static int shape_conv2d(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0], *w = in[1], *b = in[2];
    int32_t OH, OW;
    if (need(c, x, "input", NG_F32, 4) || need(c, w, "weight", NG_F32, 4))
        return -1;
    if (w->dim[1] != x->dim[1])
        return ng_fail(c->err, c->errlen, "conv2d: weight expects %" PRId32
                       " input channels but the input has %" PRId32,
                       w->dim[1], x->dim[1]);
    if (b) {
        if (need(c, b, "bias", NG_F32, 1))
            return -1;
        if (b->dim[0] != w->dim[0])
            return ng_fail(c->err, c->errlen, "conv2d: bias has %" PRId32
                           " elements but the weight has %" PRId32
                           " output channels", b->dim[0], w->dim[0]);
    }
    if (n->ia[5] != 0 && n->ia[5] != 1)
        return ng_fail(c->err, c->errlen, "conv2d: relu is %" PRId32 " (0 or 1)", n->ia[5]);
    if (conv_geom(c, n->ia, x->dim[2], x->dim[3], w->dim[2], w->dim[3], &OH, &OW))
        return -1;
    set_out(out, 4, x->dim[0], w->dim[0], OH, OW);
    *ws = conv_ws(n->ia, x->dim[1], w->dim[2], w->dim[3], OH, OW);
    return 0;
}

/* The output size of a conv of an H x W input with a KH x KW kernel, which
 * the gradient dy of a conv backward op must have. */
static int dy_geom(const sctx *c, const int32_t *ia, const ng_tensor *dy, int32_t H, int32_t W,
                   int32_t KH, int32_t KW, int32_t *OH, int32_t *OW)
{
    if (conv_geom(c, ia, H, W, KH, KW, OH, OW))
        return -1;
    if (dy->dim[2] != *OH || dy->dim[3] != *OW)
        return ng_fail(c->err, c->errlen, "%s: dy is %" PRId32 "x%" PRId32 " but the "
                       "convolution of a %" PRId32 "x%" PRId32 " input gives %"
                       PRId32 "x%" PRId32, c->op, dy->dim[2], dy->dim[3], H, W, *OH, *OW);
    return 0;
}

/* dy(N,K,OH,OW), w(K,C,KH,KW) -> (N,C,H,W), H = ia[5], W = ia[6] */
static int shape_conv2d_bwd_data(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                 ng_tensor *out, int64_t *ws)
{
    const ng_tensor *dy = in[0], *w = in[1];
    const int32_t *ia = n->ia;
    int32_t OH, OW;
    if (need(c, dy, "dy", NG_F32, 4) || need(c, w, "weight", NG_F32, 4))
        return -1;
    if (dy->dim[1] != w->dim[0])
        return ng_fail(c->err, c->errlen, "%s: dy has %" PRId32 " channels but the "
                       "weight has %" PRId32 " output channels", c->op,
                       dy->dim[1], w->dim[0]);
    if (ia[5] < 1 || ia[6] < 1)
        return ng_fail(c->err, c->errlen, "%s: input size %" PRId32 "x%" PRId32
                       " (ia[5], ia[6]) must be >= 1", c->op, ia[5], ia[6]);
    if (dy_geom(c, ia, dy, ia[5], ia[6], w->dim[2], w->dim[3], &OH, &OW))
        return -1;
    set_out(out, 4, dy->dim[0], w->dim[1], ia[5], ia[6]);
    *ws = conv_ws(ia, w->dim[1], w->dim[2], w->dim[3], OH, OW);
    return 0;
}

/* dy(N,K,OH,OW), x(N,C,H,W) -> (K,C,KH,KW), KH = ia[5], KW = ia[6] */
static int shape_conv2d_bwd_filter(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                   ng_tensor *out, int64_t *ws)
{
    const ng_tensor *dy = in[0], *x = in[1];
    const int32_t *ia = n->ia;
    int32_t OH, OW;
    if (need(c, dy, "dy", NG_F32, 4) || need(c, x, "input", NG_F32, 4))
        return -1;
    if (dy->dim[0] != x->dim[0])
        return ng_fail(c->err, c->errlen, "%s: dy has batch %" PRId32 " but the input"
                       " has batch %" PRId32, c->op, dy->dim[0], x->dim[0]);
    if (ia[5] < 1 || ia[6] < 1)
        return ng_fail(c->err, c->errlen, "%s: kernel %" PRId32 "x%" PRId32
                       " (ia[5], ia[6]) must be >= 1", c->op, ia[5], ia[6]);
    if (dy_geom(c, ia, dy, x->dim[2], x->dim[3], ia[5], ia[6], &OH, &OW))
        return -1;
    set_out(out, 4, dy->dim[1], x->dim[1], ia[5], ia[6]);
    *ws = conv_ws(ia, x->dim[1], ia[5], ia[6], OH, OW);
    return 0;
}

/* dy(N,K,OH,OW) -> (K) */
static int shape_conv2d_bwd_bias(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                 ng_tensor *out, int64_t *ws)
{
    (void)n, (void)ws;
    if (need(c, in[0], "dy", NG_F32, 4))
        return -1;
    set_out(out, 1, in[0]->dim[1], 0, 0, 0);
    return 0;
}

/* x, any shape -> the same */
static int shape_unary(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                       ng_tensor *out, int64_t *ws)
{
    (void)n, (void)ws;
    if (need(c, in[0], "input", NG_F32, -1))
        return -1;
    copy_shape(out, in[0]);
    return 0;
}

/* dy, x (or y): the same shape -> that shape; the gradients of elementwise
 * ops (RELU_BWD reads y, the others x) */
static int shape_grad(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                      ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    (void)ws;
    if (need(c, in[0], "dy", NG_F32, -1) ||
        need(c, in[1], n->op == NG_OP_RELU_BWD ? "y" : "x", NG_F32, -1))
        return -1;
    if (!ng_same_shape(in[0], in[1]))
        return ng_fail(c->err, c->errlen, "%s: shapes %s and %s differ", c->op,
                       ng_shape_str(b1, in[0]->ndim, in[0]->dim),
                       ng_shape_str(b2, in[1]->ndim, in[1]->dim));
    copy_shape(out, in[0]);
    return 0;
}

/* POW x -> x, POW_BWD dy, x -> x; fa[0] p finite */
static int shape_pow(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                     ng_tensor *out, int64_t *ws)
{
    if ((n->n_in == 1 ? shape_unary : shape_grad)(c, n, in, out, ws))
        return -1;
    return frange(c, "p", n->fa[0], -HUGE_VAL, HUGE_VAL, 0);
}

/* CLAMP x -> x, CLAMP_BWD dy, x -> x; fa[0] lo <= fa[1] hi, may be infinite */
static int shape_clamp(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                       ng_tensor *out, int64_t *ws)
{
    if (n->n_in == 1) {
        if (need(c, in[0], "input", NG_F32, -1))
            return -1;
    } else if (shape_grad(c, n, in, out, ws)) {
        return -1;
    }
    if (!(n->fa[0] <= n->fa[1]))
        return ng_fail(c->err, c->errlen, "%s: bounds [%g, %g] are not a range", c->op,
                       (double)n->fa[0], (double)n->fa[1]);
    copy_shape(out, in[0]);
    return 0;
}

/* SOFTMAX, LOG_SOFTMAX: any rank >= 1 -> the same; ia[0] axis */
static int shape_softmax(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    (void)ws;
    if (need(c, in[0], "input", NG_F32, -1) || axis_ok(c, in[0], n->ia[0]))
        return -1;
    copy_shape(out, in[0]);
    return 0;
}

/* a, b -> their broadcast shape */
static int shape_binary(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    (void)n, (void)ws;
    if (need(c, in[0], "a", NG_F32, -1) || need(c, in[1], "b", NG_F32, -1))
        return -1;
    return broadcast(c, in[0], in[1], out);
}

/* x -> x reduced; ia[0] mask, ia[1] keep, fa[0] scale */
static int shape_reduce_sum(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                            ng_tensor *out, int64_t *ws)
{
    (void)ws;
    if (need(c, in[0], "input", NG_F32, -1) ||
        frange(c, "scale", n->fa[0], -HUGE_VAL, HUGE_VAL, 0))
        return -1;
    return reduced_shape(c, in[0], n->ia[0], n->ia[1], out);
}

/* x (the target reduced) -> target (ia[2..6]) */
static int shape_expand(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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
static int shape_one_hot(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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
static int shape_reshape(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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

/* x -> count ia[2] along axis ia[0] from ia[1] */
static int shape_slice(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                       ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    const int32_t *ia = n->ia;
    (void)ws;
    if (need(c, x, "input", NG_F32, -1) || axis_ok(c, x, ia[0]))
        return -1;
    if (ia[1] < 0 || ia[2] < 1 || (int64_t)ia[1] + ia[2] > x->dim[ia[0]])
        return ng_fail(c->err, c->errlen, "slice: %" PRId32 " from %" PRId32 " out of "
                       "range (dim %" PRId32 " has %" PRId32 ")", ia[2], ia[1],
                       ia[0], x->dim[ia[0]]);
    copy_shape(out, x);
    out->dim[ia[0]] = ia[2];
    return 0;
}

/* x -> size ia[2] along axis ia[0], x at ia[1] */
static int shape_pad(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                     ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    const int32_t *ia = n->ia;
    (void)ws;
    if (need(c, x, "input", NG_F32, -1) || axis_ok(c, x, ia[0]))
        return -1;
    if (ia[1] < 0 || (int64_t)ia[1] + x->dim[ia[0]] > ia[2])
        return ng_fail(c->err, c->errlen, "pad: %" PRId32 " from %" PRId32 " does not "
                       "fit in %" PRId32, x->dim[ia[0]], ia[1], ia[2]);
    copy_shape(out, x);
    out->dim[ia[0]] = ia[2];
    return 0;
}

/* MAXPOOL x(N,C,H,W) -> (N,C,H/k,W/k), floor; MAXPOOL_BWD dy, x, y -> shape
 * of x */
static int shape_maxpool(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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

/* x(N,C,H,W) -> (N,C,H*s,W*s) */
static int shape_upsample(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                          ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    int32_t s = n->ia[0];
    (void)ws;
    if (need(c, x, "input", NG_F32, 4))
        return -1;
    if (s < 1)
        return ng_fail(c->err, c->errlen, "upsample: factor %" PRId32 " must be >= 1", s);
    if ((int64_t)x->dim[2] * s > INT32_MAX || (int64_t)x->dim[3] * s > INT32_MAX)
        return ng_fail(c->err, c->errlen, "upsample: output is too large");
    set_out(out, 4, x->dim[0], x->dim[1], x->dim[2] * s, x->dim[3] * s);
    return 0;
}

/* dy(N,C,H*s,W*s) -> (N,C,H,W) */
static int shape_upsample_bwd(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                              ng_tensor *out, int64_t *ws)
{
    const ng_tensor *dy = in[0];
    int32_t s = n->ia[0];
    (void)ws;
    if (need(c, dy, "dy", NG_F32, 4))
        return -1;
    if (s < 1)
        return ng_fail(c->err, c->errlen, "%s: factor %" PRId32 " must be >= 1", c->op, s);
    if (dy->dim[2] % s || dy->dim[3] % s)
        return ng_fail(c->err, c->errlen, "%s: dy is %" PRId32 "x%" PRId32 ", not a "
                       "multiple of %" PRId32, c->op, dy->dim[2], dy->dim[3], s);
    set_out(out, 4, dy->dim[0], dy->dim[1], dy->dim[2] / s, dy->dim[3] / s);
    return 0;
}

/* x_i(N,C_i,H,W) -> (N,sum C_i,H,W); inputs named from 1 in messages */
static int shape_concat(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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
static int shape_slice_channels(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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
static int shape_dropout_mask(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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
static int shape_mul_channel(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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
static int shape_cross_entropy(const sctx *c, const ng_node *n, const ng_tensor *const *in,
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

/* ADAM p, g, m, v; fa: lr, beta1, beta2, eps, clip.  SGD p, g, v; fa: lr,
 * momentum, clip.  No output: out->ndim stays 0. */
static int shape_update(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    static const char *const adam_names[] = { "p", "g", "m", "v" };
    static const char *const sgd_names[] = { "p", "g", "v" };
    const float *fa = n->fa;
    (void)out, (void)ws;
    if (n->op == NG_OP_ADAM)
        return update_check(c, in, 4, adam_names) ||
               frange(c, "lr", fa[0], 0, HUGE_VAL, 0) ||
               frange(c, "beta1", fa[1], 0, 1, 1) ||
               frange(c, "beta2", fa[2], 0, 1, 1) ||
               frange(c, "eps", fa[3], 0, HUGE_VAL, 0) ||
               frange(c, "clip", fa[4], 0, HUGE_VAL, 0) ? -1 : 0;
    return update_check(c, in, 3, sgd_names) ||
           frange(c, "lr", fa[0], 0, HUGE_VAL, 0) ||
           frange(c, "momentum", fa[1], 0, 1, 1) ||
           frange(c, "clip", fa[2], 0, HUGE_VAL, 0) ? -1 : 0;
}

static const shape_rule shape_rules[NG_OP_COUNT] = {
#define OP(ID, name, n_in, flags, nograd, shape, kernel, attrs) [NG_OP_##ID] = shape,
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
        if (!in[i] && !ng_op_input_optional(n->op, i))
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

/* <tgmath.h> makes each expression's calls float in the kernel (expf,
 * logf, ...) and double in the folding. */
void ng_unary_f32(ng_op op, int64_t n, const float *x_, float a, float b, float *y)
{
    (void)a, (void)b;
    switch (op) {
#define OP(ID, name, n_in, flags, nograd, shape, kernel, attrs)
#define UNARY(ID, name, flags, nograd, shape, attrs, expr) \
    case NG_OP_##ID:                                       \
        for (int64_t i = 0; i < n; i++) {                  \
            float x = x_[i];                               \
            y[i] = (float)(expr);                          \
        }                                                  \
        return;
#include "ops.def"
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
#define OP(ID, name, n_in, flags, nograd, shape, kernel, attrs)
#define UNARY(ID, name, flags, nograd, shape, attrs, expr) \
    case NG_OP_##ID:                                       \
        return (double)(expr);
#include "ops.def"
#undef UNARY
#undef OP
    default:
        return NAN;
    }
}
