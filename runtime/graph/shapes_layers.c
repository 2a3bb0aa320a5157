/* shapes_layers.c — the shape rules of the layer ops: convolutions and their
 * gradients, activations, normalization, pooling, upsampling, padding,
 * dropout (shape_rules.h). */
#include "shape_rules.h"

/* Dilation d and groups G of conv node n checked: d in 1..NG_CONV_DIL_LIMIT-1
 * (0 reads as 1), G >= 1 dividing the input channels C and the output
 * channels K; the kernel's effective size (KH-1)*d+1 in *ekh, *ekw. */
static int conv_dg(const sctx *c, const ng_node *n, int32_t C, int32_t K, int32_t KH, int32_t KW,
                   int32_t *ekh, int32_t *ekw)
{
    int32_t rd = n->op == NG_OP_CONV2D ? n->ia[6] : n->ia[7] % NG_CONV_DIL_LIMIT;
    int32_t rg = n->op == NG_OP_CONV2D ? n->ia[7] : n->ia[7] / NG_CONV_DIL_LIMIT;
    if (rd < 0 || rd >= NG_CONV_DIL_LIMIT || rg < 0)
        return ng_fail(c->err, c->errlen, "%s: dilation %" PRId32 " / groups %" PRId32
                       " out of range (dilation 1..%d, groups >= 1)", c->op, rd, rg,
                       NG_CONV_DIL_LIMIT - 1);
    int32_t d = ng_conv_dilation(n), g = ng_conv_groups(n);
    if (C % g || K % g)
        return ng_fail(c->err, c->errlen, "%s: %" PRId32 " groups do not divide %" PRId32
                       " input and %" PRId32 " output channels", c->op, g, C, K);
    int64_t eh = (int64_t)(KH - 1) * d + 1, ew = (int64_t)(KW - 1) * d + 1;
    if (eh > INT32_MAX || ew > INT32_MAX)
        return ng_fail(c->err, c->errlen, "%s: dilated kernel too large", c->op);
    *ekh = (int32_t)eh;
    *ekw = (int32_t)ew;
    return 0;
}

/* x(N,C,H,W), w(K,C/G,KH,KW), b(K) -> (N,K,OH,OW) */
int shape_conv2d(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0], *w = in[1], *b = in[2];
    int32_t OH = 0, OW = 0, ekh = 0, ekw = 0;
    if (need(c, x, "input", NG_F32, 4) || need(c, w, "weight", NG_F32, 4))
        return -1;
    if (conv_dg(c, n, x->dim[1], w->dim[0], w->dim[2], w->dim[3], &ekh, &ekw))
        return -1;
    if ((int64_t)w->dim[1] * ng_conv_groups(n) != x->dim[1]) {
        if (ng_conv_groups(n) == 1)
            return ng_fail(c->err, c->errlen, "conv2d: weight expects %" PRId32
                           " input channels but the input has %" PRId32, w->dim[1], x->dim[1]);
        return ng_fail(c->err, c->errlen, "conv2d: weight expects %" PRId32 " groups of %" PRId32
                       " input channels but the input has %" PRId32, ng_conv_groups(n), w->dim[1],
                       x->dim[1]);
    }
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
    if (conv_geom(c, n->ia, x->dim[2], x->dim[3], ekh, ekw, &OH, &OW))
        return -1;
    set_out(out, 4, x->dim[0], w->dim[0], OH, OW);
    *ws = conv_ws(n->ia, x->dim[1], w->dim[2], w->dim[3], OH, OW);
    return 0;
}


/* dy(N,K,OH,OW), w(K,C/G,KH,KW) -> (N,C,H,W), H = ia[5], W = ia[6] */
int shape_conv2d_bwd_data(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                 ng_tensor *out, int64_t *ws)
{
    const ng_tensor *dy = in[0], *w = in[1];
    const int32_t *ia = n->ia;
    int32_t OH = 0, OW = 0, ekh = 0, ekw = 0;
    if (need(c, dy, "dy", NG_F32, 4) || need(c, w, "weight", NG_F32, 4))
        return -1;
    int64_t C = (int64_t)w->dim[1] * ng_conv_groups(n);
    if (C > INT32_MAX || conv_dg(c, n, (int32_t)C, w->dim[0], w->dim[2], w->dim[3], &ekh, &ekw))
        return C > INT32_MAX ? ng_fail(c->err, c->errlen, "%s: too many channels", c->op) : -1;
    if (dy->dim[1] != w->dim[0])
        return ng_fail(c->err, c->errlen, "%s: dy has %" PRId32 " channels but the "
                       "weight has %" PRId32 " output channels", c->op,
                       dy->dim[1], w->dim[0]);
    if (ia[5] < 1 || ia[6] < 1)
        return ng_fail(c->err, c->errlen, "%s: input size %" PRId32 "x%" PRId32
                       " (ia[5], ia[6]) must be >= 1", c->op, ia[5], ia[6]);
    if (dy_geom(c, ia, dy, ia[5], ia[6], ekh, ekw, &OH, &OW))
        return -1;
    set_out(out, 4, dy->dim[0], (int32_t)C, ia[5], ia[6]);
    *ws = conv_ws(ia, C, w->dim[2], w->dim[3], OH, OW);
    return 0;
}

/* dy(N,K,OH,OW), x(N,C,H,W) -> (K,C/G,KH,KW), KH = ia[5], KW = ia[6] */
int shape_conv2d_bwd_filter(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                   ng_tensor *out, int64_t *ws)
{
    const ng_tensor *dy = in[0], *x = in[1];
    const int32_t *ia = n->ia;
    int32_t OH = 0, OW = 0, ekh = 0, ekw = 0;
    if (need(c, dy, "dy", NG_F32, 4) || need(c, x, "input", NG_F32, 4))
        return -1;
    if (dy->dim[0] != x->dim[0])
        return ng_fail(c->err, c->errlen, "%s: dy has batch %" PRId32 " but the input"
                       " has batch %" PRId32, c->op, dy->dim[0], x->dim[0]);
    if (ia[5] < 1 || ia[6] < 1)
        return ng_fail(c->err, c->errlen, "%s: kernel %" PRId32 "x%" PRId32
                       " (ia[5], ia[6]) must be >= 1", c->op, ia[5], ia[6]);
    if (conv_dg(c, n, x->dim[1], dy->dim[1], ia[5], ia[6], &ekh, &ekw) ||
        dy_geom(c, ia, dy, x->dim[2], x->dim[3], ekh, ekw, &OH, &OW))
        return -1;
    set_out(out, 4, dy->dim[1], x->dim[1] / ng_conv_groups(n), ia[5], ia[6]);
    *ws = conv_ws(ia, x->dim[1], ia[5], ia[6], OH, OW);
    return 0;
}

/* x(N,CI,H,W), w(CI,CO,KH,KW), b(CO)? -> (N,CO,HO,WO): the shape of
 * CONV2D_BWD_DATA with x as its dy, and the bias */
int shape_conv_transpose2d(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                  ng_tensor *out, int64_t *ws)
{
    if (shape_conv2d_bwd_data(c, n, in, out, ws))
        return -1;
    const ng_tensor *b = in[2];
    if (b) {
        if (need(c, b, "bias", NG_F32, 1))
            return -1;
        if (b->dim[0] != out->dim[1])
            return ng_fail(c->err, c->errlen, "%s: bias has %" PRId32 " elements but the weight has %"
                           PRId32 " output channels", c->op, b->dim[0], out->dim[1]);
    }
    return 0;
}

/* dy(N,K,OH,OW) -> (K) */
int shape_conv2d_bwd_bias(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                 ng_tensor *out, int64_t *ws)
{
    (void)n, (void)ws;
    if (need(c, in[0], "dy", NG_F32, 4))
        return -1;
    set_out(out, 1, in[0]->dim[1], 0, 0, 0);
    return 0;
}

/* dy, x (or y, NG_F_READS_Y): the same shape -> that shape; the gradients
 * of elementwise ops */
int shape_grad(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                      ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    (void)ws;
    if (need(c, in[0], "dy", NG_F32, -1) ||
        need(c, in[1], ng_ops[n->op].flags & NG_F_READS_Y ? "y" : "x", NG_F32, -1))
        return -1;
    if (!ng_same_shape(in[0], in[1]))
        return ng_fail(c->err, c->errlen, "%s: shapes %s and %s differ", c->op,
                       ng_shape_str(b1, in[0]->ndim, in[0]->dim),
                       ng_shape_str(b2, in[1]->ndim, in[1]->dim));
    copy_shape(out, in[0]);
    return 0;
}

/* x, any shape -> the same; with two inputs (the backward op of a UNARY_DX
 * row) as shape_grad.  Then fa[0] and fa[1] against the ranges of the row
 * (ops.def ATTR1, ATTR2). */
int shape_unary(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                       ng_tensor *out, int64_t *ws)
{
    if (n->n_in == 2) {
        if (shape_grad(c, n, in, out, ws))
            return -1;
    } else {
        if (need(c, in[0], "input", NG_F32, -1))
            return -1;
        copy_shape(out, in[0]);
    }
    for (int i = 0; i < 2; i++) {
        const ng_fa_attr *r = &ng_ops[n->op].fa[i];
        if (r->name && !isnan(r->min) && frange(c, r->name, n->fa[i], r->min, HUGE_VAL, 0))
            return -1;
    }
    return 0;
}

/* ia[0] groups divides C, fa[0] eps > 0 (the group norms' attributes) */
static int gn_groups_eps(const sctx *c, const ng_node *n, int32_t C)
{
    if (n->ia[0] < 1 || C % n->ia[0])
        return ng_fail(c->err, c->errlen, "%s: %" PRId32 " groups do not divide %" PRId32
                       " channels", c->op, n->ia[0], C);
    if (frange(c, "eps", n->fa[0], 0, HUGE_VAL, 0))
        return -1;
    if (!(n->fa[0] > 0))
        return ng_fail(c->err, c->errlen, "%s: eps must be > 0", c->op);
    return 0;
}

/* t, when present, is a (C) vector of the norm's parameters */
static int gn_per_channel(const sctx *c, const ng_tensor *t, const char *what, int32_t C)
{
    if (!t)
        return 0;
    if (need(c, t, what, NG_F32, 1))
        return -1;
    if (t->dim[0] != C)
        return ng_fail(c->err, c->errlen, "%s: %s has %" PRId32 " elements but the "
                       "input has %" PRId32 " channels", c->op, what, t->dim[0], C);
    return 0;
}

/* GROUP_NORM x(N,C,H,W), gamma(C)?, beta(C)? -> x's shape;
 * GROUP_NORM_BWD dy, x, gamma? -> x's shape; GROUP_NORM_BWD_GAMMA dy, x ->
 * (C), workspace 2*N*G.  ia[0] groups divides C, fa[0] eps > 0. */
int shape_group_norm(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                            ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    int fwd = n->op == NG_OP_GROUP_NORM;
    const ng_tensor *x = in[fwd ? 0 : 1];
    if (need(c, x, fwd ? "input" : "x", NG_F32, 4))
        return -1;
    if (!fwd) {
        if (need(c, in[0], "dy", NG_F32, 4))
            return -1;
        if (!ng_same_shape(in[0], x))
            return ng_fail(c->err, c->errlen, "%s: dy is %s but x is %s", c->op,
                           ng_shape_str(b1, in[0]->ndim, in[0]->dim),
                           ng_shape_str(b2, x->ndim, x->dim));
    }
    int32_t G = n->ia[0], C = x->dim[1];
    if (gn_groups_eps(c, n, C))
        return -1;
    for (int i = fwd ? 1 : 2; i < (n->op == NG_OP_GROUP_NORM_BWD_GAMMA ? 0 : 3); i++)
        if (gn_per_channel(c, in[i], i == 2 && fwd ? "beta" : "gamma", C))
            return -1;
    if (n->op == NG_OP_GROUP_NORM_BWD_GAMMA) {
        set_out(out, 1, C, 0, 0, 0);
        *ws = 2 * (int64_t)x->dim[0] * G;
    } else {
        copy_shape(out, x);
    }
    return 0;
}

/* GROUP_NORM_ACT x(N,C,H,W), gamma(C)?, beta(C)? -> x's shape;
 * GROUP_NORM_ACT_SUMS dz, z, x -> (N,C,4); GROUP_NORM_ACT_BWD dz, z, x,
 * gamma?, s(N,C,4) -> x's shape; GROUP_NORM_ACT_PARAM s(N,C,4) -> (C), ia[0]
 * 0 or 1.  The others: ia[0] groups divides C, fa[0] eps > 0, fa[1] slope
 * finite >= 0. */
int shape_group_norm_act(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    int op = n->op;
    (void)ws;
    if (op == NG_OP_GROUP_NORM_ACT_PARAM) {
        const ng_tensor *s = in[0];
        if (need(c, s, "sums", NG_F32, 3))
            return -1;
        if (s->dim[2] != 4)
            return ng_fail(c->err, c->errlen, "%s: sums must be (N,C,4), not %s", c->op,
                           ng_shape_str(b1, s->ndim, s->dim));
        if (n->ia[0] != 0 && n->ia[0] != 1)
            return ng_fail(c->err, c->errlen, "%s: which = %" PRId32 " must be 0 (beta) or 1 (gamma)",
                           c->op, n->ia[0]);
        set_out(out, 1, s->dim[1], 0, 0, 0);
        return 0;
    }
    int fwd = op == NG_OP_GROUP_NORM_ACT;
    const ng_tensor *x = in[fwd ? 0 : 2];
    if (need(c, x, fwd ? "input" : "x", NG_F32, 4))
        return -1;
    for (int i = 0; !fwd && i < 2; i++) {
        const char *what = i ? "z" : "dz";
        if (need(c, in[i], what, NG_F32, 4))
            return -1;
        if (!ng_same_shape(in[i], x))
            return ng_fail(c->err, c->errlen, "%s: %s is %s but x is %s", c->op, what,
                           ng_shape_str(b1, in[i]->ndim, in[i]->dim), ng_shape_str(b2, x->ndim, x->dim));
    }
    int32_t C = x->dim[1];
    if (gn_groups_eps(c, n, C) || frange(c, "slope", n->fa[1], 0, HUGE_VAL, 0))
        return -1;
    if (fwd && (gn_per_channel(c, in[1], "gamma", C) || gn_per_channel(c, in[2], "beta", C)))
        return -1;
    if (op == NG_OP_GROUP_NORM_ACT_SUMS) {
        set_out(out, 3, x->dim[0], C, 4, 0);
        return 0;
    }
    if (op == NG_OP_GROUP_NORM_ACT_BWD) {
        if (gn_per_channel(c, in[3], "gamma", C) || need(c, in[4], "sums", NG_F32, 3))
            return -1;
        if (in[4]->dim[0] != x->dim[0] || in[4]->dim[1] != C || in[4]->dim[2] != 4)
            return ng_fail(c->err, c->errlen, "%s: sums is %s but x is %s (want (N,C,4))", c->op,
                           ng_shape_str(b1, in[4]->ndim, in[4]->dim), ng_shape_str(b2, x->ndim, x->dim));
    }
    copy_shape(out, x);
    return 0;
}

/* BATCH_NORM x, gamma(C)?, beta(C)?, running(2,C) -> x's shape (ia[0]
 * train 0 or 1, fa[0] eps > 0, fa[1] momentum in [0, 1]);
 * BATCH_NORM_BWD dy, x, gamma? -> x's shape; BATCH_NORM_BWD_GAMMA dy, x ->
 * (C); BATCH_NORM_UPDATE running, x: no output, fa[0] momentum, N*H*W > 1. */
int shape_batch_norm(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                            ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    int op = n->op, upd = op == NG_OP_BATCH_NORM_UPDATE;
    const ng_tensor *x = in[op == NG_OP_BATCH_NORM ? 0 : 1];
    (void)ws;
    if (need(c, x, op == NG_OP_BATCH_NORM ? "input" : "x", NG_F32, 4))
        return -1;
    int32_t C = x->dim[1];
    const ng_tensor *running = op == NG_OP_BATCH_NORM ? in[3] : upd ? in[0] : NULL;
    if (running) {
        if (need(c, running, "running statistics", NG_F32, 2))
            return -1;
        if (running->dim[0] != 2 || running->dim[1] != C)
            return ng_fail(c->err, c->errlen, "%s: running statistics are %s, the input needs 2x%" PRId32,
                           c->op, ng_shape_str(b1, running->ndim, running->dim), C);
    }
    if (upd) {
        if (frange(c, "momentum", n->fa[0], 0, 1, 0))
            return -1;
        if ((int64_t)x->dim[0] * x->dim[2] * x->dim[3] < 2)
            return ng_fail(c->err, c->errlen, "%s: one value per channel has no variance", c->op);
        return 0;
    }
    if (!(n->fa[0] > 0) || !isfinite(n->fa[0]))
        return ng_fail(c->err, c->errlen, "%s: eps = %g must be finite and > 0", c->op, (double)n->fa[0]);
    if (op == NG_OP_BATCH_NORM) {
        if (n->ia[0] != 0 && n->ia[0] != 1)
            return ng_fail(c->err, c->errlen, "%s: train is %" PRId32 " (0 or 1)", c->op, n->ia[0]);
        if (frange(c, "momentum", n->fa[1], 0, 1, 0))
            return -1;
    } else {
        if (need(c, in[0], "dy", NG_F32, 4))
            return -1;
        if (!ng_same_shape(in[0], x))
            return ng_fail(c->err, c->errlen, "%s: dy is %s but x is %s", c->op,
                           ng_shape_str(b1, in[0]->ndim, in[0]->dim), ng_shape_str(b2, x->ndim, x->dim));
    }
    int first = op == NG_OP_BATCH_NORM ? 1 : 2, last = op == NG_OP_BATCH_NORM_BWD_GAMMA ? 1 : 3;
    for (int i = first; i < last; i++) {
        const char *what = i == 2 && op == NG_OP_BATCH_NORM ? "beta" : "gamma";
        if (!in[i])
            continue;
        if (need(c, in[i], what, NG_F32, 1))
            return -1;
        if (in[i]->dim[0] != C)
            return ng_fail(c->err, c->errlen, "%s: %s has %" PRId32 " elements but the "
                           "input has %" PRId32 " channels", c->op, what, in[i]->dim[0], C);
    }
    if (op == NG_OP_BATCH_NORM_BWD_GAMMA)
        set_out(out, 1, C, 0, 0, 0);
    else
        copy_shape(out, x);
    return 0;
}

/* labels (N,H,W) i32 -> (N,H/k,W/k) i32, floor; ia[0] k in 1..min(H, W) */
int shape_downsample_labels(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                   ng_tensor *out, int64_t *ws)
{
    const ng_tensor *lb = in[0];
    int32_t k = n->ia[0];
    (void)ws;
    if (need(c, lb, "labels", NG_I32, 3))
        return -1;
    if (k < 1 || k > lb->dim[1] || k > lb->dim[2])
        return ng_fail(c->err, c->errlen, "%s: factor %" PRId32 " does not fit %" PRId32 "x%" PRId32
                       " labels", c->op, k, lb->dim[1], lb->dim[2]);
    set_out(out, 3, lb->dim[0], lb->dim[1] / k, lb->dim[2] / k, 0);
    out->dtype = NG_I32;
    return 0;
}

/* DROPOUT x -> x, any shape; fa[0] p in [0, 1) */
int shape_dropout(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    if (shape_unary(c, n, in, out, ws))
        return -1;
    return frange(c, "p", n->fa[0], 0, 1, 1);
}

/* AVG_POOL x(N,C,H,W) -> (N,C,H/k,W/k); AVG_POOL_BWD dy -> (N,C,H,W) with
 * H = ia[1], W = ia[2]; k = ia[0] in 1..min(H, W) */
int shape_avg_pool(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                          ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    int bwd = n->op == NG_OP_AVG_POOL_BWD;
    int32_t k = n->ia[0], H = bwd ? n->ia[1] : 0, W = bwd ? n->ia[2] : 0;
    (void)ws;
    if (need(c, x, bwd ? "dy" : "input", NG_F32, 4))
        return -1;
    if (!bwd)
        H = x->dim[2], W = x->dim[3];
    if (k < 1 || k > H || k > W)
        return ng_fail(c->err, c->errlen, "%s: %" PRId32 "x%" PRId32 " pooling of a %" PRId32 "x%"
                       PRId32 " input", c->op, k, k, H, W);
    if (bwd && (x->dim[2] != H / k || x->dim[3] != W / k))
        return ng_fail(c->err, c->errlen, "%s: dy is %" PRId32 "x%" PRId32 " but pooling %" PRId32 "x%"
                       PRId32 " gives %" PRId32 "x%" PRId32, c->op, x->dim[2], x->dim[3], H, W, H / k, W / k);
    if (bwd)
        set_out(out, 4, x->dim[0], x->dim[1], H, W);
    else
        set_out(out, 4, x->dim[0], x->dim[1], H / k, W / k);
    return 0;
}

/* GLOBAL_MAX_POOL x(N,C,H,W) -> (N,C,1,1); GLOBAL_MAX_POOL_BWD dy(N,C,1,1),
 * x -> x's shape */
int shape_global_max_pool(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                                 ng_tensor *out, int64_t *ws)
{
    char b1[64];
    int bwd = n->op == NG_OP_GLOBAL_MAX_POOL_BWD;
    const ng_tensor *x = in[bwd ? 1 : 0];
    (void)ws;
    if (need(c, x, bwd ? "x" : "input", NG_F32, 4))
        return -1;
    set_out(out, 4, x->dim[0], x->dim[1], 1, 1);
    if (bwd) {
        if (need(c, in[0], "dy", NG_F32, 4))
            return -1;
        if (!ng_same_shape(in[0], out))
            return ng_fail(c->err, c->errlen, "%s: dy is %s, expected %" PRId32 "x%" PRId32 "x1x1",
                           c->op, ng_shape_str(b1, in[0]->ndim, in[0]->dim), x->dim[0], x->dim[1]);
        copy_shape(out, x);
    }
    return 0;
}

/* PAD2D x(N,C,H,W) -> (N,C,H+pt+pb,W+pl+pr); PAD2D_BWD dy -> (N,C,H,W)
 * with H = ia[5], W = ia[6]; pads ia[0..3] >= 0, mode ia[4] 0 zero or 1
 * reflect (each pad < the size it reflects) */
int shape_pad2d(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                       ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    const int32_t *ia = n->ia;
    int bwd = n->op == NG_OP_PAD2D_BWD;
    (void)ws;
    if (need(c, x, bwd ? "dy" : "input", NG_F32, 4))
        return -1;
    int32_t H = bwd ? ia[5] : x->dim[2], W = bwd ? ia[6] : x->dim[3];
    if (ia[0] < 0 || ia[1] < 0 || ia[2] < 0 || ia[3] < 0 || ia[0] > (1 << 20) || ia[1] > (1 << 20) ||
        ia[2] > (1 << 20) || ia[3] > (1 << 20))
        return ng_fail(c->err, c->errlen, "%s: padding %" PRId32 ",%" PRId32 ",%" PRId32 ",%" PRId32
                       " (top,left,bottom,right) must be in 0..2^20", c->op, ia[0], ia[1], ia[2], ia[3]);
    if (ia[4] != 0 && ia[4] != 1)
        return ng_fail(c->err, c->errlen, "%s: mode %" PRId32 " (0 zero, 1 reflect)", c->op, ia[4]);
    if (H < 1 || W < 1)
        return ng_fail(c->err, c->errlen, "%s: input size %" PRId32 "x%" PRId32 " must be >= 1", c->op,
                       H, W);
    if (ia[4] == 1 && (ia[0] >= H || ia[2] >= H || ia[1] >= W || ia[3] >= W))
        return ng_fail(c->err, c->errlen, "%s: reflect padding must be smaller than the %" PRId32 "x%"
                       PRId32 " input", c->op, H, W);
    int64_t oh = (int64_t)H + ia[0] + ia[2], ow = (int64_t)W + ia[1] + ia[3];
    if (oh > INT32_MAX || ow > INT32_MAX)
        return ng_fail(c->err, c->errlen, "%s: output is too large", c->op);
    if (bwd && (x->dim[2] != oh || x->dim[3] != ow))
        return ng_fail(c->err, c->errlen, "%s: dy is %" PRId32 "x%" PRId32 " but padding %" PRId32 "x%"
                       PRId32 " gives %" PRId64 "x%" PRId64, c->op, x->dim[2], x->dim[3], H, W, oh, ow);
    if (bwd)
        set_out(out, 4, x->dim[0], x->dim[1], H, W);
    else
        set_out(out, 4, x->dim[0], x->dim[1], (int32_t)oh, (int32_t)ow);
    return 0;
}

/* UPSAMPLE and UPSAMPLE_BILINEAR x(N,C,H,W) -> (N,C,H*s,W*s); their BWD
 * ops dy(N,C,H*s,W*s) -> (N,C,H,W); ia[0] s >= 1; bilinear: ia[1]
 * align_corners 0 or 1 */
int shape_upsample(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                   ng_tensor *out, int64_t *ws)
{
    const ng_tensor *x = in[0];
    int32_t s = n->ia[0];
    int bwd = n->op == NG_OP_UPSAMPLE_BWD || n->op == NG_OP_UPSAMPLE_BILINEAR_BWD;
    int bilinear = n->op == NG_OP_UPSAMPLE_BILINEAR || n->op == NG_OP_UPSAMPLE_BILINEAR_BWD;
    (void)ws;
    if (need(c, x, bwd ? "dy" : "input", NG_F32, 4))
        return -1;
    if (s < 1)
        return ng_fail(c->err, c->errlen, "%s: factor %" PRId32 " must be >= 1", c->op, s);
    if (bilinear && n->ia[1] != 0 && n->ia[1] != 1)
        return ng_fail(c->err, c->errlen, "%s: align_corners is %" PRId32 " (0 or 1)", c->op, n->ia[1]);
    if (!bwd) {
        if ((int64_t)x->dim[2] * s > INT32_MAX || (int64_t)x->dim[3] * s > INT32_MAX)
            return ng_fail(c->err, c->errlen, "%s: output is too large", c->op);
        set_out(out, 4, x->dim[0], x->dim[1], x->dim[2] * s, x->dim[3] * s);
        return 0;
    }
    if (x->dim[2] % s || x->dim[3] % s)
        return ng_fail(c->err, c->errlen, "%s: dy is %" PRId32 "x%" PRId32 ", not a multiple of %" PRId32,
                       c->op, x->dim[2], x->dim[3], s);
    set_out(out, 4, x->dim[0], x->dim[1], x->dim[2] / s, x->dim[3] / s);
    return 0;
}

/* CUMSUM x -> x, any rank >= 1; ia[0] axis, ia[1] reverse 0 or 1 */
int shape_cumsum(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    (void)ws;
    if (need(c, in[0], "input", NG_F32, -1) || axis_ok(c, in[0], n->ia[0]))
        return -1;
    if (n->ia[1] != 0 && n->ia[1] != 1)
        return ng_fail(c->err, c->errlen, "%s: reverse is %" PRId32 " (0 or 1)", c->op, n->ia[1]);
    copy_shape(out, in[0]);
    return 0;
}

/* ARGSORT x -> x's shape, i32; ia[0] axis, ia[1] descending 0 or 1;
 * workspace 2 * nelem */
int shape_argsort(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                         ng_tensor *out, int64_t *ws)
{
    if (shape_cumsum(c, n, in, out, ws))
        return -1;
    out->dtype = NG_I32;
    *ws = mul_lim(2, ng_tensor_nelem(in[0]));
    return 0;
}

/* GATHER x, idx -> x's shape; GATHER_BWD dy, idx -> dy's shape; idx i32 of
 * the same shape; ia[0] axis */
int shape_gather(const sctx *c, const ng_node *n, const ng_tensor *const *in,
                        ng_tensor *out, int64_t *ws)
{
    char b1[64], b2[64];
    (void)ws;
    if (need(c, in[0], n->op == NG_OP_GATHER ? "input" : "dy", NG_F32, -1) ||
        need(c, in[1], "indices", NG_I32, -1) || axis_ok(c, in[0], n->ia[0]))
        return -1;
    if (!ng_same_shape(in[0], in[1]))
        return ng_fail(c->err, c->errlen, "%s: indices are %s but the input is %s", c->op,
                       ng_shape_str(b1, in[1]->ndim, in[1]->dim), ng_shape_str(b2, in[0]->ndim, in[0]->dim));
    copy_shape(out, in[0]);
    return 0;
}
