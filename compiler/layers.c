/* layers.c — the builtin layers of the language: convolutions, activations,
 * normalization, pooling, upsampling, padding, dropout; each b_* function
 * checks its arguments, creates its parameters and emits graph ops, and
 * el_layer_builtins[] names them and their parameters (builtins.c has the
 * arithmetic, the reductions and the losses). */
#include "elab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



int el_want_4d(elab *E, const value *v, const char *fn)
{
    if (!el_want_tensor(E, v, fn, "x"))
        return 0;
    const ng_tensor *t = el_T(E, v->t);
    if (t->ndim != 4 || t->dtype != NG_F32) {
        char s[64];
        el_error(E, v->loc, "%s: expected a 4-D f32 tensor (N,C,H,W), got %s%s", fn,
              t->dtype == NG_I32 ? "labels " : "", ng_shape_str(s, t->ndim, t->dim));
        return 0;
    }
    return 1;
}

/* kernel = 3 or [3, 3] */
static int want_pair(elab *E, const value *v, const char *fn, const char *arg, int out[2])
{
    if (v->k == V_LIST) {
        if (v->n != 2) {
            el_error(E, v->loc, "%s: argument '%s' must be an integer or a list of 2", fn, arg);
            return 0;
        }
        return el_want_int(E, &v->items[0], fn, arg, 1, 1 << 16, &out[0]) &&
               el_want_int(E, &v->items[1], fn, arg, 1, 1 << 16, &out[1]);
    }
    if (!el_want_int(E, v, fn, arg, 1, 1 << 16, &out[0]))
        return 0;
    out[1] = out[0];
    return 1;
}

static const char *const pad_names[] = {"valid", "same", NULL};
static const char *const init_names[] = {"glorot_uniform", "he_normal", "zeros", NULL};
static const int init_codes[] = {NG_INIT_GLOROT_UNIFORM, NG_INIT_HE_NORMAL, NG_INIT_ZEROS};

static int param_tensor(elab *E, const char *name, int ndim, const int32_t *dim, int init,
                        float a0, float a1, nc_loc loc)
{
    int t = nc_graph_tensor(E->g, name, NG_F32, NG_ROLE_PARAM, ndim, dim, loc);
    E->g->tensors[t].t.init = (uint8_t)init;
    E->g->tensors[t].t.init_arg[0] = a0;
    E->g->tensors[t].t.init_arg[1] = a1;
    return t;
}

/* conv2d(x, channels, kernel, stride = 1, pad = valid, bias = true,
 *        init = glorot_uniform, name = none, dilation = 1, groups = 1) */
static value b_conv2d(elab *E, const nc_expr *call, value *a)
{
    int ch, k[2], stride, pad, initi, dil, groups;
    if (!el_want_4d(E, &a[0], "conv2d") || !el_want_int(E, &a[1], "conv2d", "channels", 1, 1 << 20, &ch) ||
        !want_pair(E, &a[2], "conv2d", "kernel", k) ||
        !el_want_int(E, &a[3], "conv2d", "stride", 1, 1 << 16, &stride) ||
        !el_want_choice(E, &a[4], "conv2d", "pad", pad_names, &pad) ||
        !el_want_choice(E, &a[6], "conv2d", "init", init_names, &initi) ||
        !el_want_int(E, &a[8], "conv2d", "dilation", 1, NG_CONV_DIL_LIMIT - 1, &dil) ||
        !el_want_int(E, &a[9], "conv2d", "groups", 1, 1 << 20, &groups))
        return el_v_err();
    if (a[5].k != V_BOOL) {
        el_error(E, a[5].loc, "conv2d: argument 'bias' must be true or false");
        return el_v_err();
    }
    const ng_tensor *x = el_T(E, a[0].t);
    int c = x->dim[1], h = x->dim[2], w = x->dim[3];
    if (c % groups || ch % groups) {
        el_error(E, a[9].loc, "conv2d: groups = %d must divide the input channels (%d) and the output "
                 "channels (%d)", groups, c, ch);
        return el_v_err();
    }
    int32_t ia[NG_MAX_IA] = {0};
    ia[0] = stride;
    ia[6] = dil;
    ia[7] = groups;
    /* the dilated kernel spans (k-1)*dil+1 pixels */
    const int ek0 = (k[0] - 1) * dil + 1, ek1 = (k[1] - 1) * dil + 1;
    if (pad == 1) { /* TensorFlow 'same': out = ceil(in/stride), extra at bottom/right */
        int oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
        int ph = (oh - 1) * stride + ek0 - h, pw = (ow - 1) * stride + ek1 - w;
        if (ph < 0) ph = 0;
        if (pw < 0) pw = 0;
        ia[1] = ph / 2;
        ia[2] = pw / 2;
        ia[3] = ph - ph / 2;
        ia[4] = pw - pw / 2;
    } else if (ek0 > h || ek1 > w) {
        char s[64];
        el_error(E, call->loc, "conv2d: %dx%d kernel%s does not fit a %s input with pad = valid",
              k[0], k[1], dil > 1 ? nc_arena_printf(E->a, " (dilated: %dx%d)", ek0, ek1) : "",
              ng_shape_str(s, x->ndim, x->dim));
        return el_v_err();
    }
    const char *base;
    if (a[7].k == V_STR || a[7].k == V_SYM) {
        base = E->top->path[0] ? nc_arena_printf(E->a, "%s.%s", E->top->path, a[7].s) : a[7].s;
    } else {
        int n = el_bump(E->a, &E->top->counters, "conv");
        base = E->top->path[0] ? nc_arena_printf(E->a, "%s.conv%d", E->top->path, n)
                               : nc_arena_printf(E->a, "conv%d", n);
    }
    int32_t wd[4] = {ch, c / groups, k[0], k[1]};
    float fan_in = (float)(c / groups) * k[0] * k[1], fan_out = (float)(ch / groups) * k[0] * k[1];
    int wt = param_tensor(E, nc_arena_printf(E->a, "%s.weight", base), 4, wd,
                          init_codes[initi], fan_in, fan_out, call->loc);
    int bt = -1;
    if (a[5].num) {
        int32_t bd[1] = {ch};
        bt = param_tensor(E, nc_arena_printf(E->a, "%s.bias", base), 1, bd, NG_INIT_ZEROS, 0, 0,
                          call->loc);
    }
    int32_t in[3] = {a[0].t, wt, bt};
    return el_emit_named(E, call->loc, NG_OP_CONV2D, 3, in, ia, NULL, base);
}

static value b_relu(elab *E, const nc_expr *call, value *a)
{
    if (!el_want_tensor(E, &a[0], "relu", "x"))
        return el_v_err();
    int32_t in[1] = {a[0].t};
    return el_emit(E, call->loc, NG_OP_RELU, 1, in, NULL, NULL, "relu");
}

/* maxpool(x, size = 2) and upsample(x, factor = 2) */
static value pool_like(elab *E, const nc_expr *call, value *a, const char *fn, const char *arg, int op)
{
    int k;
    if (!el_want_4d(E, &a[0], fn) || !el_want_int(E, &a[1], fn, arg, 1, 1 << 12, &k))
        return el_v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {k};
    return el_emit(E, call->loc, op, 1, in, ia, NULL, fn);
}

static value b_maxpool(elab *E, const nc_expr *call, value *a)
{
    return pool_like(E, call, a, "maxpool", "size", NG_OP_MAXPOOL);
}

static const char *const upsample_modes[] = {"nearest", "bilinear", NULL};

/* upsample(x, factor = 2, mode = nearest, align_corners = false) */
static value b_upsample(elab *E, const nc_expr *call, value *a)
{
    int mode;
    if (!el_want_choice(E, &a[2], "upsample", "mode", upsample_modes, &mode))
        return el_v_err();
    if (a[3].k != V_BOOL) {
        el_error(E, a[3].loc, "upsample: argument 'align_corners' must be true or false");
        return el_v_err();
    }
    if (mode == 0 && a[3].num) {
        el_error(E, a[3].loc, "upsample: align_corners is for mode = bilinear (nearest has no corners to align)");
        return el_v_err();
    }
    if (mode == 0)
        return pool_like(E, call, a, "upsample", "factor", NG_OP_UPSAMPLE);
    int k;
    if (!el_want_4d(E, &a[0], "upsample") || !el_want_int(E, &a[1], "upsample", "factor", 1, 1 << 12, &k))
        return el_v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {k, a[3].num ? 1 : 0};
    return el_emit(E, call->loc, NG_OP_UPSAMPLE_BILINEAR, 1, in, ia, NULL, "upsample");
}

/* avg_pool(x, size = 2): window = stride = size, floor */
static value b_avg_pool(elab *E, const nc_expr *call, value *a)
{
    int k;
    if (!el_want_4d(E, &a[0], "avg_pool") || !el_want_int(E, &a[1], "avg_pool", "size", 1, 1 << 12, &k))
        return el_v_err();
    const ng_tensor *x = el_T(E, a[0].t);
    if (k > x->dim[2] || k > x->dim[3]) {
        char sh[64];
        el_error(E, a[1].loc, "avg_pool: size %d is larger than the %s input", k, ng_shape_str(sh, x->ndim, x->dim));
        return el_v_err();
    }
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {k};
    return el_emit(E, call->loc, NG_OP_AVG_POOL, 1, in, ia, NULL, "avg_pool");
}

/* global_avg_pool(x) -> (N,C,1,1): the mean over H and W (a reduce_sum) */
static value b_global_avg_pool(elab *E, const nc_expr *call, value *a)
{
    if (!el_want_4d(E, &a[0], "global_avg_pool"))
        return el_v_err();
    const ng_tensor *x = el_T(E, a[0].t);
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {12, 12};
    float fa[NG_MAX_FA] = {(float)(1.0 / ((double)x->dim[2] * x->dim[3]))};
    return el_emit(E, call->loc, NG_OP_REDUCE_SUM, 1, in, ia, fa, "global_avg_pool");
}

/* global_max_pool(x) -> (N,C,1,1) */
static value b_global_max_pool(elab *E, const nc_expr *call, value *a)
{
    if (!el_want_4d(E, &a[0], "global_max_pool"))
        return el_v_err();
    int32_t in[1] = {a[0].t};
    return el_emit(E, call->loc, NG_OP_GLOBAL_MAX_POOL, 1, in, NULL, NULL, "global_max_pool");
}

static const char *const pad_modes[] = {"zero", "reflect", NULL};

/* pad(x, p, mode = zero): p an integer (every side), [ph, pw] (top and
 * bottom, left and right) or [top, bottom, left, right] */
static value b_pad(elab *E, const nc_expr *call, value *a)
{
    int p[4], mode;
    if (!el_want_4d(E, &a[0], "pad") || !el_want_choice(E, &a[2], "pad", "mode", pad_modes, &mode))
        return el_v_err();
    if (a[1].k == V_LIST) {
        if (a[1].n != 2 && a[1].n != 4) {
            el_error(E, a[1].loc, "pad: argument 'p' must be an integer, [ph, pw] or [top, bottom, left, right]");
            return el_v_err();
        }
        for (int i = 0; i < a[1].n; i++)
            if (!el_want_int(E, &a[1].items[i], "pad", "p", 0, 1 << 16, &p[i]))
                return el_v_err();
        if (a[1].n == 2)
            p[3] = p[2] = p[1], p[1] = p[0];
    } else {
        if (!el_want_int(E, &a[1], "pad", "p", 0, 1 << 16, &p[0]))
            return el_v_err();
        p[1] = p[2] = p[3] = p[0];
    }
    const ng_tensor *x = el_T(E, a[0].t);
    if (mode == 1 && (p[0] >= x->dim[2] || p[1] >= x->dim[2] || p[2] >= x->dim[3] || p[3] >= x->dim[3])) {
        char sh[64];
        el_error(E, a[1].loc, "pad: reflect padding must be smaller than the input (%s)",
                 ng_shape_str(sh, x->ndim, x->dim));
        return el_v_err();
    }
    /* ia: top, left, bottom, right (conv2d's order), mode */
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {p[0], p[2], p[1], p[3], mode};
    return el_emit(E, call->loc, NG_OP_PAD2D, 1, in, ia, NULL, "pad");
}

/* dropout(x, rate): element-wise, any f32 tensor; identity outside train */
static value b_dropout(elab *E, const nc_expr *call, value *a)
{
    double p;
    if (!el_want_f32(E, &a[0], "dropout", "x") || !el_want_num(E, &a[1], "dropout", "rate", &p))
        return el_v_err();
    if (!(p >= 0 && p < 1)) {
        el_error(E, a[1].loc, "dropout: rate %g is outside [0, 1)", p);
        return el_v_err();
    }
    if (p == 0)
        return a[0];
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {++E->salt};
    float fa[NG_MAX_FA] = {(float)p};
    return el_emit(E, call->loc, NG_OP_DROPOUT, 1, in, ia, fa, "dropout");
}

/* spatial_dropout(x, rate): a (N,C) mask drawn per step, identity when
 * not training (the eval and infer entries drop the mask). */
static value b_spatial_dropout(elab *E, const nc_expr *call, value *a)
{
    double p;
    if (!el_want_4d(E, &a[0], "spatial_dropout") || !el_want_num(E, &a[1], "spatial_dropout", "rate", &p))
        return el_v_err();
    if (p < 0 || p >= 1) {
        el_error(E, a[1].loc, "spatial_dropout: rate %g is outside [0, 1)", p);
        return el_v_err();
    }
    if (p == 0)
        return a[0];
    const ng_tensor *x = el_T(E, a[0].t);
    int32_t ia[NG_MAX_IA] = {++E->salt, x->dim[0], x->dim[1]};
    float fa[NG_MAX_FA] = {(float)p};
    value m = el_emit(E, call->loc, NG_OP_DROPOUT_MASK, 0, NULL, ia, fa, "dropout_mask");
    if (m.k == V_ERR)
        return m;
    int32_t in[2] = {a[0].t, m.t};
    return el_emit(E, call->loc, NG_OP_MUL_CHANNEL, 2, in, NULL, NULL, "dropout");
}

/* The name of a layer with parameters: `name` (a string or bare name) in
 * the current scope, else <key>K from the scope's counter of key. */
static const char *layer_base(elab *E, const value *name, const char *key)
{
    if (name->k == V_STR || name->k == V_SYM)
        return E->top->path[0] ? nc_arena_printf(E->a, "%s.%s", E->top->path, name->s) : name->s;
    int n = el_bump(E->a, &E->top->counters, key);
    return E->top->path[0] ? nc_arena_printf(E->a, "%s.%s%d", E->top->path, key, n)
                           : nc_arena_printf(E->a, "%s%d", key, n);
}

/* The arguments the norms share, a[2] eps (already read), a[3] affine and
 * a[4] name: 1 when valid, else 0 after an error. */
static int norm_args_ok(elab *E, const value *a, const char *fn, double eps)
{
    if (!(eps > 0) || !isfinite(eps)) {
        el_error(E, a[2].loc, "%s: eps %g must be finite and > 0", fn, eps);
        return 0;
    }
    if (a[3].k != V_BOOL) {
        el_error(E, a[3].loc, "%s: argument 'affine' must be true or false", fn);
        return 0;
    }
    if (!el_is_none(&a[4]) && a[4].k != V_STR && a[4].k != V_SYM) {
        el_error(E, a[4].loc, "%s: argument 'name' must be a name or a string", fn);
        return 0;
    }
    return 1;
}

/* With affine: gamma <base>.weight (ones) and beta <base>.bias (zeros), c
 * elements each, into in[1] and in[2]. */
static void norm_affine(elab *E, int affine, const char *base, int c, nc_loc loc, int32_t *in)
{
    if (!affine)
        return;
    int32_t cd[1] = {c};
    in[1] = param_tensor(E, nc_arena_printf(E->a, "%s.weight", base), 1, cd, NG_INIT_ONES, 0, 0, loc);
    in[2] = param_tensor(E, nc_arena_printf(E->a, "%s.bias", base), 1, cd, NG_INIT_ZEROS, 0, 0, loc);
}

/* group_norm(x, groups, eps, affine, name) and instance_norm (groups = C):
 * a[] holds x, groups (instance_norm: none), eps, affine, name. */
static value norm_layer(elab *E, const nc_expr *call, value *a, const char *fn)
{
    int groups;
    double eps;
    if (!el_want_4d(E, &a[0], fn) || !el_want_num(E, &a[2], fn, "eps", &eps))
        return el_v_err();
    int c = el_T(E, a[0].t)->dim[1];
    if (a[1].k == V_NONE) {
        groups = c;
    } else {
        if (!el_want_int(E, &a[1], fn, "groups", 1, 1 << 20, &groups))
            return el_v_err();
        if (c % groups) {
            el_error(E, a[1].loc, "%s: %d groups do not divide the input's %d channels", fn, groups, c);
            return el_v_err();
        }
    }
    if (!norm_args_ok(E, a, fn, eps))
        return el_v_err();
    const char *base = layer_base(E, &a[4], fn);
    int32_t in[3] = {a[0].t, -1, -1};
    norm_affine(E, (int)a[3].num, base, c, call->loc, in);
    int32_t ia[NG_MAX_IA] = {groups};
    float fa[NG_MAX_FA] = {(float)eps};
    return el_emit_named(E, call->loc, NG_OP_GROUP_NORM, 3, in, ia, fa, base);
}

/* group_norm(x, groups, eps = 1e-5, affine = true, name = none) */
static value b_group_norm(elab *E, const nc_expr *call, value *a)
{
    if (a[1].k == V_NONE) {
        el_error(E, a[1].loc, "group_norm: argument 'groups' must be an integer");
        return el_v_err();
    }
    return norm_layer(E, call, a, "group_norm");
}

/* instance_norm(x, eps = 1e-5, affine = true, name = none) */
static value b_instance_norm(elab *E, const nc_expr *call, value *a)
{
    value b[5] = {a[0], {0}, a[1], a[2], a[3]};
    b[1].k = V_NONE;
    b[1].loc = call->loc;
    return norm_layer(E, call, b, "instance_norm");
}

/* batch_norm(x, momentum = 0.1, eps = 1e-5, affine = true, name = none):
 * gamma/beta as group_norm's, and the running statistics <base>.running_stats
 * (2, C): a param without gradient (so that every checkpoint holds it),
 * starting at mean 0 and variance 1.  The op is emitted in its training form
 * (batch statistics, ia[0] = 1) with the update of the running statistics;
 * compiler/entry.c switches it to the running statistics outside `train`,
 * where the update is not run. */
static value b_batch_norm(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "batch_norm";
    double momentum, eps;
    if (!el_want_4d(E, &a[0], fn) || !el_want_num(E, &a[1], fn, "momentum", &momentum) ||
        !el_want_num(E, &a[2], fn, "eps", &eps))
        return el_v_err();
    if (!(momentum >= 0 && momentum <= 1)) {
        el_error(E, a[1].loc, "%s: momentum %g is outside [0, 1]", fn, momentum);
        return el_v_err();
    }
    if (!norm_args_ok(E, a, fn, eps))
        return el_v_err();
    const ng_tensor *x = el_T(E, a[0].t);
    int c = x->dim[1];
    if ((int64_t)x->dim[0] * x->dim[2] * x->dim[3] < 2) {
        char sh[64];
        el_error(E, a[0].loc, "%s: a %s input has one value per channel in a batch (no variance); "
                 "use a larger batch or group_norm", fn, ng_shape_str(sh, x->ndim, x->dim));
        return el_v_err();
    }
    const char *base = layer_base(E, &a[4], fn);
    int32_t in[4] = {a[0].t, -1, -1, -1}, rd[2] = {2, c};
    norm_affine(E, (int)a[3].num, base, c, call->loc, in);
    in[3] = param_tensor(E, nc_arena_printf(E->a, "%s.running_stats", base), 2, rd, NG_INIT_DATA, 0, 0,
                         call->loc);
    float *init = nc_arena_array(E->a, (size_t)2 * c, sizeof *init);
    for (int i = 0; i < 2 * c; i++)
        init[i] = i < c ? 0.0f : 1.0f;
    E->g->tensors[in[3]].t.data = init;
    int32_t ia[NG_MAX_IA] = {1};
    float fa[NG_MAX_FA] = {(float)eps, (float)momentum};
    value y = el_emit_named(E, call->loc, NG_OP_BATCH_NORM, 4, in, ia, fa, base);
    if (y.k != V_ERR && momentum > 0) {
        int32_t uin[2] = {in[3], a[0].t};
        float ufa[NG_MAX_FA] = {(float)momentum};
        if (el_emit_named(E, call->loc, NG_OP_BATCH_NORM_UPDATE, 2, uin, NULL, ufa,
                          nc_arena_printf(E->a, "%s.update", base)).k == V_ERR)
            return el_v_err();
    }
    return y;
}


/* downsample_labels(labels, k): the top-left label of each k x k block */
static value b_downsample_labels(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "downsample_labels";
    int k;
    if (!el_want_labels(E, &a[0], fn) || !el_want_int(E, &a[1], fn, "k", 1, 1 << 12, &k))
        return el_v_err();
    const ng_tensor *lb = el_T(E, a[0].t);
    if (k > lb->dim[1] || k > lb->dim[2]) {
        el_error(E, a[1].loc, "%s: factor %d is larger than the %dx%d labels", fn, k, (int)lb->dim[1],
                 (int)lb->dim[2]);
        return el_v_err();
    }
    if (k == 1)
        return a[0];
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {k};
    return el_emit(E, call->loc, NG_OP_DOWNSAMPLE_LABELS, 1, in, ia, NULL, fn);
}

/* conv_transpose2d(x, channels, kernel, stride = 1, padding = 0,
 *                  output_padding = 0, bias = true, init = glorot_uniform,
 *                  name = none): PyTorch's ConvTranspose2d; weight
 * (C_in, channels, KH, KW), fans as Keras's Conv2DTranspose (fan_in =
 * channels * KH * KW) */
static value b_conv_transpose2d(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "conv_transpose2d";
    int ch, k[2], stride, pad[2], opad[2], initi;
    if (!el_want_4d(E, &a[0], fn) || !el_want_int(E, &a[1], fn, "channels", 1, 1 << 20, &ch) ||
        !want_pair(E, &a[2], fn, "kernel", k) || !el_want_int(E, &a[3], fn, "stride", 1, 1 << 16, &stride) ||
        !el_want_choice(E, &a[7], fn, "init", init_names, &initi))
        return el_v_err();
    for (int i = 0; i < 2; i++) {
        const value *v = &a[4 + i];
        int *out = i ? opad : pad;
        const char *arg = i ? "output_padding" : "padding";
        if (v->k == V_LIST) {
            if (v->n != 2 || !el_want_int(E, &v->items[0], fn, arg, 0, 1 << 16, &out[0]) ||
                !el_want_int(E, &v->items[1], fn, arg, 0, 1 << 16, &out[1])) {
                if (v->n != 2)
                    el_error(E, v->loc, "%s: argument '%s' must be an integer or a list of 2", fn, arg);
                return el_v_err();
            }
        } else {
            if (!el_want_int(E, v, fn, arg, 0, 1 << 16, &out[0]))
                return el_v_err();
            out[1] = out[0];
        }
    }
    if (opad[0] >= stride || opad[1] >= stride) {
        el_error(E, a[5].loc, "%s: output_padding must be smaller than the stride (%d)", fn, stride);
        return el_v_err();
    }
    if (a[6].k != V_BOOL) {
        el_error(E, a[6].loc, "%s: argument 'bias' must be true or false", fn);
        return el_v_err();
    }
    if (!el_is_none(&a[8]) && a[8].k != V_STR && a[8].k != V_SYM) {
        el_error(E, a[8].loc, "%s: argument 'name' must be a name or a string", fn);
        return el_v_err();
    }
    const ng_tensor *x = el_T(E, a[0].t);
    int cin = x->dim[1];
    int64_t ho = (int64_t)(x->dim[2] - 1) * stride - 2 * pad[0] + k[0] + opad[0];
    int64_t wo = (int64_t)(x->dim[3] - 1) * stride - 2 * pad[1] + k[1] + opad[1];
    if (ho < 1 || wo < 1 || ho > (1 << 30) || wo > (1 << 30)) {
        char sh[64];
        el_error(E, call->loc, "%s: a %s input gives a %lldx%lld output (padding too large?)", fn,
                 ng_shape_str(sh, x->ndim, x->dim), (long long)ho, (long long)wo);
        return el_v_err();
    }
    if (pad[0] >= k[0] || pad[1] >= k[1]) {
        el_error(E, a[4].loc, "%s: padding must be smaller than the kernel", fn);
        return el_v_err();
    }
    const char *base = layer_base(E, &a[8], "conv_transpose");
    int32_t wd[4] = {cin, ch, k[0], k[1]};
    float fan_in = (float)ch * k[0] * k[1], fan_out = (float)cin * k[0] * k[1];
    int wt = param_tensor(E, nc_arena_printf(E->a, "%s.weight", base), 4, wd, init_codes[initi], fan_in,
                          fan_out, call->loc);
    int bt = -1;
    if (a[6].num) {
        int32_t bd[1] = {ch};
        bt = param_tensor(E, nc_arena_printf(E->a, "%s.bias", base), 1, bd, NG_INIT_ZEROS, 0, 0, call->loc);
    }
    int32_t in[3] = {a[0].t, wt, bt};
    int32_t ia[NG_MAX_IA] = {stride, pad[0], pad[1], pad[0], pad[1], (int32_t)ho, (int32_t)wo};
    return el_emit_named(E, call->loc, NG_OP_CONV_TRANSPOSE2D, 3, in, ia, NULL, base);
}

int el_is_none(const value *v)
{
    return v->k == V_NONE || ((v->k == V_SYM || v->k == V_STR) && strcmp(v->s, "none") == 0);
}

/* Any f32 tensor (the labels input is i32: say what to do with it). */
int el_want_f32(elab *E, const value *v, const char *fn, const char *arg)
{
    if (!el_want_tensor(E, v, fn, arg))
        return 0;
    int p = E->g->tensors[v->t].producer;
    if (el_T(E, v->t)->dtype != NG_F32 && p >= 0 && E->g->nodes[p].n.op == NG_OP_ARGSORT) {
        el_error(E, v->loc, "%s: '%s' holds integer indices (argsort); use gather(x, indices)", fn,
                 el_T(E, v->t)->name);
        return 0;
    }
    if (el_T(E, v->t)->dtype != NG_F32) {
        el_error(E, v->loc, "%s: '%s' is the labels input (integers); use one_hot(...) or valid_mask(...)",
              fn, el_T(E, v->t)->name);
        return 0;
    }
    return 1;
}

/* Labels: the labels input or downsample_labels of it (the only i32
 * tensors), for the ops that read labels. */

const builtin el_layer_builtins[] = {
    {"conv2d", b_conv2d, 10,
     {{"x", 0}, {"channels", 0}, {"kernel", 0}, {"stride", "1"}, {"pad", "valid"},
      {"bias", "true"}, {"init", "glorot_uniform"}, {"name", "none"}, {"dilation", "1"}, {"groups", "1"}}},
    {"conv_transpose2d", b_conv_transpose2d, 9,
     {{"x", 0}, {"channels", 0}, {"kernel", 0}, {"stride", "1"}, {"padding", "0"}, {"output_padding", "0"},
      {"bias", "true"}, {"init", "glorot_uniform"}, {"name", "none"}}},
    {"relu", b_relu, 1, {{"x", 0}}},
    {"downsample_labels", b_downsample_labels, 2, {{"labels", 0}, {"k", 0}}},
    {"group_norm", b_group_norm, 5,
     {{"x", 0}, {"groups", 0}, {"eps", "1e-5"}, {"affine", "true"}, {"name", "none"}}},
    {"batch_norm", b_batch_norm, 5,
     {{"x", 0}, {"momentum", "0.1"}, {"eps", "1e-5"}, {"affine", "true"}, {"name", "none"}}},
    {"instance_norm", b_instance_norm, 4, {{"x", 0}, {"eps", "1e-5"}, {"affine", "true"}, {"name", "none"}}},
    {"maxpool", b_maxpool, 2, {{"x", 0}, {"size", "2"}}},
    {"upsample", b_upsample, 4, {{"x", 0}, {"factor", "2"}, {"mode", "nearest"}, {"align_corners", "false"}}},
    {"avg_pool", b_avg_pool, 2, {{"x", 0}, {"size", "2"}}},
    {"global_avg_pool", b_global_avg_pool, 1, {{"x", 0}}},
    {"global_max_pool", b_global_max_pool, 1, {{"x", 0}}},
    {"pad", b_pad, 3, {{"x", 0}, {"p", 0}, {"mode", "zero"}}},
    {"dropout", b_dropout, 2, {{"x", 0}, {"rate", 0}}},
    {"spatial_dropout", b_spatial_dropout, 2, {{"x", 0}, {"rate", 0}}},
};
const int el_n_layer_builtins = sizeof el_layer_builtins / sizeof el_layer_builtins[0];
