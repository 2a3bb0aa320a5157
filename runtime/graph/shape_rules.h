/* shape_rules.h — what the shape rules of libnetg share: the message
 * context, the checks of operands and attributes, and the declaration of
 * every rule named in the shape column of ops.def.  The rules live in ops.c
 * (arithmetic, reductions, shapes, labels, losses, updates) and
 * shapes_layers.c (convolutions, activations, normalization, pooling,
 * upsampling, padding, dropout).  Private to libnetg. */
#ifndef NG_SHAPE_RULES_H
#define NG_SHAPE_RULES_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "netg.h"
#include "util.h"


typedef struct {
    const char *op; /* op name, the prefix of every message */
    char *err;
    size_t errlen;
} sctx;

/* t must be present, of dtype, and of rank ndim (any rank when ndim < 0). */
static inline int need(const sctx *c, const ng_tensor *t, const char *what, int dtype,
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
static inline int64_t mul_lim(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (b > 0 && a > NG_MAX_ELEMS / b))
        return -1;
    return a * b;
}

/* Output size of a convolution of an H x W input by a KH x KW kernel with the
 * stride and padding of ia[0..4] (stride, top, left, bottom, right):
 * OH = (H + top + bottom - KH) / stride + 1, and likewise OW. */
static inline int conv_geom(const sctx *c, const int32_t *ia, int32_t H, int32_t W,
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
static inline int64_t conv_ws(const int32_t *ia, int64_t C, int64_t KH, int64_t KW,
                       int64_t OH, int64_t OW)
{
    if (KH == 1 && KW == 1 && ia[0] == 1 && !ia[1] && !ia[2] && !ia[3] && !ia[4])
        return 0;
    int64_t row = mul_lim(mul_lim(mul_lim(C, KH), KW), OW);
    if (row < 0)
        return -1;
    return mul_lim(row, ng_conv_band_rows(C, KH, KW, OH, OW));
}

static inline void set_out(ng_tensor *out, int ndim, int32_t d0, int32_t d1,
                    int32_t d2, int32_t d3)
{
    out->dtype = NG_F32;
    out->ndim = (uint8_t)ndim;
    out->dim[0] = ndim > 0 ? d0 : 0;
    out->dim[1] = ndim > 1 ? d1 : 0;
    out->dim[2] = ndim > 2 ? d2 : 0;
    out->dim[3] = ndim > 3 ? d3 : 0;
}

static inline void copy_shape(ng_tensor *out, const ng_tensor *x)
{
    set_out(out, x->ndim, x->dim[0], x->dim[1], x->dim[2], x->dim[3]);
}

/* Broadcast shape of a and b (numpy: right-aligned, equal or 1) into out. */
static inline int broadcast(const sctx *c, const ng_tensor *a, const ng_tensor *b,
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
static inline int reduced_shape(const sctx *c, const ng_tensor *x, int32_t mask,
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
static inline int attr_shape(const sctx *c, const int32_t *ia, ng_tensor *out)
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
static inline int axis_ok(const sctx *c, const ng_tensor *x, int32_t axis)
{
    char b[64];
    if (axis < 0 || axis >= x->ndim)
        return ng_fail(c->err, c->errlen, "%s: axis %" PRId32 " is not a dim of %s",
                    c->op, axis, ng_shape_str(b, x->ndim, x->dim));
    return 0;
}

/* Labels (N,H,W) i32 -> (N,ch,H,W) f32. */
static inline int labels_to(const sctx *c, const ng_tensor *lb, int32_t ch, ng_tensor *out)
{
    if (need(c, lb, "labels", NG_I32, 3))
        return -1;
    if (ch < 1 || ch > NG_MAX_CLASSES)
        return ng_fail(c->err, c->errlen, "%s: %" PRId32 " classes (1 to %d)", c->op,
                    ch, NG_MAX_CLASSES);
    set_out(out, 4, lb->dim[0], ch, lb->dim[1], lb->dim[2]);
    return 0;
}


/* Cross-entropy operand checks shared by the forward and backward op:
 * logits (N,C,H,W) f32, labels (N,H,W) i32, weights (C) f32 or absent. */
static inline int ce_check(const sctx *c, const ng_tensor *x, const ng_tensor *y,
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
static inline int update_check(const sctx *c, const ng_tensor *const *in, int n,
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
static inline int frange(const sctx *c, const char *what, float v, double lo,
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

/* The output size of a conv of an H x W input with a KH x KW kernel, which
 * the gradient dy of a conv backward op must have. */
static inline int dy_geom(const sctx *c, const int32_t *ia, const ng_tensor *dy, int32_t H, int32_t W,
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

#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs) \
    int shape(const sctx *c, const ng_node *n, const ng_tensor *const *in, ng_tensor *out, int64_t *ws);
#include "ops.def"
#undef OP

#endif
