/* builtins.c — the builtin ops of the language other than the layers
 * (layers.c): arithmetic, reductions, shapes, labels and losses, one b_*
 * function per builtin, each checking its arguments and emitting graph ops,
 * and the table (builtins[]) that names them and their parameters.  The UNARY rows
 * of ops.def with NG_F_FUNC are builtins without a line here: unary_fn
 * serves them all, their parameters and their ranges taken from the row,
 * folding numbers through ng_unary_f64. */
#include "elab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- arithmetic, reductions, labels, losses ----------------------------- */

int el_want_labels(elab *E, const value *v, const char *fn)
{
    if (!el_want_tensor(E, v, fn, "labels"))
        return 0;
    int p = E->g->tensors[v->t].producer;
    if (el_T(E, v->t)->dtype != NG_I32 ||
        (v->t != E->g->bind.labels && (p < 0 || E->g->nodes[p].n.op != NG_OP_DOWNSAMPLE_LABELS))) {
        el_error(E, v->loc, "%s: argument 'labels' must be the labels input or downsample_labels of it", fn);
        return 0;
    }
    return 1;
}

/* An axis of a rank-ndim tensor, negative counting from the end. */
static int want_axis(elab *E, const value *v, const char *fn, int ndim, int *out)
{
    int axis;
    if (ndim < 1) {
        el_error(E, v->loc, "%s: a scalar has no axis", fn);
        return 0;
    }
    if (!el_want_int(E, v, fn, "axis", -ndim, ndim - 1, &axis))
        return 0;
    *out = axis < 0 ? axis + ndim : axis;
    return 1;
}

/* axis = none (every dim), an integer or a list of integers: a bit mask
 * over the dims of a rank-ndim tensor. */
static int want_axes(elab *E, const value *v, const char *fn, int ndim, int32_t *mask)
{
    *mask = 0;
    if (el_is_none(v)) {
        *mask = (1 << ndim) - 1;
        return 1;
    }
    int n = v->k == V_LIST ? v->n : 1;
    for (int i = 0; i < n; i++) {
        const value *it = v->k == V_LIST ? &v->items[i] : v;
        int axis;
        if (!want_axis(E, it, fn, ndim, &axis))
            return 0;
        if (*mask >> axis & 1) {
            el_error(E, it->loc, "%s: axis %d is given twice", fn, axis);
            return 0;
        }
        *mask |= 1 << axis;
    }
    return 1;
}

/* A const f32 tensor of the given shape holding data (copied). */
static int const_tensor(elab *E, int ndim, const int32_t *dim, const float *data, nc_loc loc)
{
    int t = nc_graph_tensor(E->g, el_op_name(E, "const"), NG_F32, NG_ROLE_CONST, ndim, dim, loc);
    int64_t n = ng_tensor_nelem(el_T(E, t));
    float *d = nc_arena_array(E->a, (size_t)n, sizeof *d);
    memcpy(d, data, (size_t)n * sizeof *d);
    E->g->tensors[t].t.init = NG_INIT_DATA;
    E->g->tensors[t].t.data = d;
    return t;
}

/* A number or a list of numbers as a tensor operand: a number is a scalar
 * (rank 0), a list of K numbers a vector along channels (1,K,1,1); tensors
 * pass through.  what names the operation in messages. */
int el_operand_tensor(elab *E, const value *v, const char *what, int *out)
{
    if (v->k == V_TENSOR) {
        if (!el_want_f32(E, v, what, "operand"))
            return 0;
        *out = v->t;
        return 1;
    }
    if (v->k == V_NUM) {
        float x = (float)v->num;
        *out = const_tensor(E, 0, NULL, &x, v->loc);
        return 1;
    }
    if (v->k == V_LIST && v->n >= 1 && v->n <= 1 << 20) {
        float *x = nc_arena_array(E->a, (size_t)v->n, sizeof *x);
        for (int i = 0; i < v->n; i++) {
            if (v->items[i].k != V_NUM) {
                el_error(E, v->items[i].loc, "%s: a list in tensor arithmetic holds numbers, got %s", what,
                      el_kind_name(&v->items[i]));
                return 0;
            }
            x[i] = (float)v->items[i].num;
        }
        int32_t dim[4] = {1, v->n, 1, 1};
        *out = const_tensor(E, 4, dim, x, v->loc);
        return 1;
    }
    el_error(E, v->loc, "%s: expected a tensor, a number or a list of numbers, got %s", what,
          v->k == V_LIST ? "an empty list" : el_kind_name(v));
    return 0;
}

/* The ops of ops.def with NG_F_FUNC (exp, log, sqrt, abs, leaky_relu, ...):
 * name(x, attributes...), elementwise on a tensor, each attribute a number
 * in the range of its row (ATTR1, ATTR2); on a number, the number it maps
 * to (an integer stays one for NG_F_INT_EXACT ops), or an error when that
 * is not a real number (log(0), sqrt(-1)). */
static value unary_fn(elab *E, const nc_expr *call, value *a)
{
    int op = 0;
    while (strcmp(ng_ops[op].name, call->name) != 0)
        op++;
    const char *fn = ng_ops[op].name;
    if (a[0].k != V_NUM && !el_want_f32(E, &a[0], fn, "x"))
        return el_v_err();
    double at[2] = {0, 0};
    for (int i = 0; i < 2 && ng_ops[op].fa[i].name; i++) {
        const ng_fa_attr *r = &ng_ops[op].fa[i];
        if (!el_want_num(E, &a[1 + i], fn, r->name, &at[i]))
            return el_v_err();
        if (!isnan(r->min) && !(at[i] >= r->min && isfinite(at[i]))) {
            if (isinf(r->min))
                el_error(E, a[1 + i].loc, "%s: %s %g must be finite", fn, r->name, at[i]);
            else
                el_error(E, a[1 + i].loc, "%s: %s %g must be finite and >= %g", fn, r->name, at[i], r->min);
            return el_v_err();
        }
    }
    if (a[0].k == V_NUM) {
        double x = a[0].num, y = ng_unary_f64((ng_op)op, x, at[0], at[1]);
        if (isnan(y) || (isinf(y) && !isinf(x))) {
            el_error(E, a[0].loc, "%s(%g) is not a real number", fn, x);
            return el_v_err();
        }
        value v = a[0];
        v.num = y;
        v.is_int = (ng_ops[op].flags & NG_F_INT_EXACT) && a[0].is_int;
        v.loc = call->loc;
        return v;
    }
    int32_t in[1] = {a[0].t};
    float fa[NG_MAX_FA] = {(float)at[0], (float)at[1]};
    return el_emit(E, call->loc, op, 1, in, NULL, fa, fn);
}

/* pow(x, p): p a number */
static value b_pow(elab *E, const nc_expr *call, value *a)
{
    double p;
    if (!el_want_num(E, &a[1], "pow", "p", &p))
        return el_v_err();
    if (a[0].k == V_NUM) {
        value v = a[0];
        v.num = pow(a[0].num, p);
        v.is_int = a[0].is_int && a[1].is_int && p >= 0;
        v.loc = call->loc;
        if (!isfinite(v.num)) {
            el_error(E, call->loc, "pow(%g, %g) is not a finite real number", a[0].num, p);
            return el_v_err();
        }
        return v;
    }
    if (!el_want_f32(E, &a[0], "pow", "x"))
        return el_v_err();
    int32_t in[1] = {a[0].t};
    float fa[NG_MAX_FA] = {(float)p};
    return el_emit(E, call->loc, NG_OP_POW, 1, in, NULL, fa, "pow");
}

static value clamp_tensor(elab *E, nc_loc loc, int t, double lo, double hi, const char *base)
{
    int32_t in[1] = {t};
    float fa[NG_MAX_FA] = {(float)lo, (float)hi};
    return el_emit(E, loc, NG_OP_CLAMP, 1, in, NULL, fa, base);
}

/* clamp(x, lo, hi): either bound may be none */
static value b_clamp(elab *E, const nc_expr *call, value *a)
{
    double b[2] = {-INFINITY, INFINITY};
    if (!el_want_f32(E, &a[0], "clamp", "x"))
        return el_v_err();
    for (int i = 0; i < 2; i++)
        if (!el_is_none(&a[1 + i]) && !el_want_num(E, &a[1 + i], "clamp", i ? "hi" : "lo", &b[i]))
            return el_v_err();
    if (!(b[0] <= b[1])) {
        el_error(E, call->loc, "clamp: lo = %g is above hi = %g", b[0], b[1]);
        return el_v_err();
    }
    return clamp_tensor(E, call->loc, a[0].t, b[0], b[1], "clamp");
}

/* min(x, c) and max(x, c): a tensor against a number (either order), or
 * two numbers */
static value min_max(elab *E, const nc_expr *call, value *a, int is_max)
{
    const char *fn = is_max ? "max" : "min";
    value x = a[0], c = a[1];
    if (x.k == V_NUM && c.k == V_NUM) {
        value v = (is_max ? x.num >= c.num : x.num <= c.num) ? x : c;
        v.loc = call->loc;
        return v;
    }
    if (x.k != V_TENSOR && c.k == V_TENSOR) {
        x = a[1];
        c = a[0];
    }
    if (x.k == V_TENSOR && c.k == V_TENSOR) {
        el_error(E, call->loc, "%s of two tensors is not supported: one argument must be a number", fn);
        return el_v_err();
    }
    double k;
    if (!el_want_f32(E, &x, fn, "x") || !el_want_num(E, &c, fn, "c", &k))
        return el_v_err();
    return clamp_tensor(E, call->loc, x.t, is_max ? k : -INFINITY, is_max ? INFINITY : k, fn);
}

static value b_min(elab *E, const nc_expr *call, value *a) { return min_max(E, call, a, 0); }
static value b_max(elab *E, const nc_expr *call, value *a) { return min_max(E, call, a, 1); }

/* sum(x, axis = none, keepdims = false) and mean(...) */
static value reduce(elab *E, const nc_expr *call, value *a, int is_mean)
{
    const char *fn = is_mean ? "mean" : "sum";
    int32_t mask;
    if (!el_want_f32(E, &a[0], fn, "x"))
        return el_v_err();
    const ng_tensor *x = el_T(E, a[0].t);
    if (!want_axes(E, &a[1], fn, x->ndim, &mask))
        return el_v_err();
    if (a[2].k != V_BOOL) {
        el_error(E, a[2].loc, "%s: argument 'keepdims' must be true or false", fn);
        return el_v_err();
    }
    double count = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask >> i & 1)
            count *= x->dim[i];
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {mask, a[2].num ? mask : 0};
    float fa[NG_MAX_FA] = {is_mean ? (float)(1.0 / count) : 1.0f};
    return el_emit(E, call->loc, NG_OP_REDUCE_SUM, 1, in, ia, fa, fn);
}

static value b_sum(elab *E, const nc_expr *call, value *a) { return reduce(E, call, a, 0); }
static value b_mean(elab *E, const nc_expr *call, value *a) { return reduce(E, call, a, 1); }

/* softmax(x, axis = 1) and log_softmax(x, axis = 1) */
static value softmax_like(elab *E, const nc_expr *call, value *a, int op, const char *fn)
{
    int axis;
    if (!el_want_f32(E, &a[0], fn, "x") || !want_axis(E, &a[1], fn, el_T(E, a[0].t)->ndim, &axis))
        return el_v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {axis};
    return el_emit(E, call->loc, op, 1, in, ia, NULL, fn);
}

static value b_softmax(elab *E, const nc_expr *call, value *a)
{
    return softmax_like(E, call, a, NG_OP_SOFTMAX, "softmax");
}

static value b_log_softmax(elab *E, const nc_expr *call, value *a)
{
    return softmax_like(E, call, a, NG_OP_LOG_SOFTMAX, "log_softmax");
}

/* The model has one ignore label (netrun pads batches with it and checks
 * masks against it): the first op that reads labels fixes it, from its
 * `ignore` argument or 255; a later op may not name another one. */
static int model_ignore(elab *E, const value *v, const char *fn, int *out)
{
    int ig = E->ignore_by ? E->g->bind.ignore : 255, classes = E->g->bind.classes;
    if (!el_is_none(v) && !el_want_int(E, v, fn, "ignore", -1, 1 << 30, &ig))
        return 0;
    if (ig >= 0 && ig < classes) {
        el_error(E, v->loc, "%s: ignore = %d is a valid class (0..%d)", fn, ig, classes - 1);
        return 0;
    }
    if (E->ignore_by && ig != E->g->bind.ignore) {
        el_error(E, v->loc, "%s: ignore = %d, but %s at line %d already uses %d (a model has one ignore label)",
              fn, ig, E->ignore_by, E->ignore_loc.first_line, E->g->bind.ignore);
        return 0;
    }
    if (!E->ignore_by) {
        E->ignore_by = fn;
        E->ignore_loc = v->loc;
    }
    E->g->bind.ignore = ig;
    *out = ig;
    return 1;
}

/* one_hot(labels, classes = none, ignore = none) */
static value b_one_hot(elab *E, const nc_expr *call, value *a)
{
    int classes = E->g->bind.classes, ignore;
    if (!el_want_labels(E, &a[0], "one_hot") ||
        (!el_is_none(&a[1]) && !el_want_int(E, &a[1], "one_hot", "classes", 1, NG_MAX_CLASSES, &classes)) ||
        !model_ignore(E, &a[2], "one_hot", &ignore))
        return el_v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {classes, ignore};
    return el_emit(E, call->loc, NG_OP_ONE_HOT, 1, in, ia, NULL, "one_hot");
}

/* valid_mask(labels, ignore = none) */
static value b_valid_mask(elab *E, const nc_expr *call, value *a)
{
    int ignore;
    if (!el_want_labels(E, &a[0], "valid_mask") || !model_ignore(E, &a[1], "valid_mask", &ignore))
        return el_v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {E->g->bind.classes, ignore};
    return el_emit(E, call->loc, NG_OP_VALID_MASK, 1, in, ia, NULL, "valid_mask");
}

static value b_stop_gradient(elab *E, const nc_expr *call, value *a)
{
    if (!el_want_f32(E, &a[0], "stop_gradient", "x"))
        return el_v_err();
    int32_t in[1] = {a[0].t};
    return el_emit(E, call->loc, NG_OP_STOP_GRADIENT, 1, in, NULL, NULL, "stop_gradient");
}

/* batch_sum(x): x summed over the ranks of a data-parallel run
 * (runtime/cpu/dist.h), x itself in one process. */
static value b_batch_sum(elab *E, const nc_expr *call, value *a)
{
    if (!el_want_f32(E, &a[0], "batch_sum", "x"))
        return el_v_err();
    int32_t in[1] = {a[0].t};
    return el_emit(E, call->loc, NG_OP_BATCH_SUM, 1, in, NULL, NULL, "batch_sum");
}

static value reshape_to(elab *E, nc_loc loc, int t, int ndim, const int32_t *dim, const char *base)
{
    int32_t in[1] = {t}, ia[NG_MAX_IA] = {ndim};
    for (int i = 0; i < ndim; i++)
        ia[1 + i] = dim[i];
    return el_emit(E, loc, NG_OP_RESHAPE, 1, in, ia, NULL, base);
}

/* reshape(x, shape): shape a list of up to 4 dims, one of them may be -1
 * (the rest of the elements) */
static value b_reshape(elab *E, const nc_expr *call, value *a)
{
    if (!el_want_f32(E, &a[0], "reshape", "x"))
        return el_v_err();
    if (a[1].k != V_LIST || a[1].n > NG_MAX_DIMS) {
        el_error(E, a[1].loc, "reshape: argument 'shape' must be a list of at most %d dims", NG_MAX_DIMS);
        return el_v_err();
    }
    int32_t dim[NG_MAX_DIMS] = {0};
    int64_t known = 1, have = ng_tensor_nelem(el_T(E, a[0].t));
    int infer = -1;
    for (int i = 0; i < a[1].n; i++) {
        int d;
        if (!el_want_int(E, &a[1].items[i], "reshape", "shape", -1, 1 << 30, &d))
            return el_v_err();
        const ng_tensor *x = el_T(E, a[0].t);
        if (d == 0 && i < x->ndim)
            d = x->dim[i]; /* 0: this dim of x (ONNX's Reshape) */
        if (d == 0 || (d == -1 && infer >= 0)) {
            el_error(E, a[1].items[i].loc, "reshape: dims are >= 1 (0: x's dim there), with at most one -1");
            return el_v_err();
        }
        if (d == -1)
            infer = i;
        else
            known *= d;
        dim[i] = d;
    }
    if (infer >= 0 && known > 0 && have % known == 0)
        dim[infer] = (int32_t)(have / known), known = have;
    if (known != have) {
        char sh[64];
        el_error(E, a[1].loc, "reshape: %s has %lld elements, the new shape %lld",
              ng_shape_str(sh, el_T(E, a[0].t)->ndim, el_T(E, a[0].t)->dim), (long long)have, (long long)known);
        return el_v_err();
    }
    return reshape_to(E, call->loc, a[0].t, a[1].n, dim, "reshape");
}

/* slice(x, start, end = none, axis = 1): negative start/end count from the
 * end of the axis, as in Python; end none: to the end */
static value b_slice(elab *E, const nc_expr *call, value *a)
{
    int axis, start, end;
    if (!el_want_f32(E, &a[0], "slice", "x") || !want_axis(E, &a[3], "slice", el_T(E, a[0].t)->ndim, &axis))
        return el_v_err();
    int n = el_T(E, a[0].t)->dim[axis];
    if (!el_want_int(E, &a[1], "slice", "start", -n, n - 1, &start))
        return el_v_err();
    end = n;
    if (!el_is_none(&a[2]) && !el_want_int(E, &a[2], "slice", "end", -n, n, &end))
        return el_v_err();
    start += start < 0 ? n : 0;
    end += end < 0 ? n : 0;
    if (end <= start) {
        el_error(E, call->loc, "slice: %d:%d of axis %d (size %d) is empty", start, end, axis, n);
        return el_v_err();
    }
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {axis, start, end - start};
    return el_emit(E, call->loc, NG_OP_SLICE, 1, in, ia, NULL, "slice");
}

/* cumsum(x, axis) */
static value b_cumsum(elab *E, const nc_expr *call, value *a)
{
    int axis;
    if (!el_want_f32(E, &a[0], "cumsum", "x") || !want_axis(E, &a[1], "cumsum", el_T(E, a[0].t)->ndim, &axis))
        return el_v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {axis, 0};
    return el_emit(E, call->loc, NG_OP_CUMSUM, 1, in, ia, NULL, "cumsum");
}

/* The permutation of argsort(x, axis, descending), -1 after an error. */
static int argsort_of(elab *E, const nc_expr *call, value *a, const char *fn, int *axis)
{
    if (!el_want_f32(E, &a[0], fn, "x") || !want_axis(E, &a[1], fn, el_T(E, a[0].t)->ndim, axis))
        return -1;
    if (a[2].k != V_BOOL) {
        el_error(E, a[2].loc, "%s: argument 'descending' must be true or false", fn);
        return -1;
    }
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {*axis, a[2].num ? 1 : 0};
    value v = el_emit(E, call->loc, NG_OP_ARGSORT, 1, in, ia, NULL, "argsort");
    return v.k == V_ERR ? -1 : v.t;
}

/* argsort(x, axis = -1, descending = false): integer indices, for gather */
static value b_argsort(elab *E, const nc_expr *call, value *a)
{
    int axis, t = argsort_of(E, call, a, "argsort", &axis);
    return t < 0 ? el_v_err() : el_tensor_value(t, call->loc);
}

/* sort(x, axis = -1, descending = false) = gather(x, argsort(x, ...)) */
static value b_sort(elab *E, const nc_expr *call, value *a)
{
    int axis, t = argsort_of(E, call, a, "sort", &axis);
    if (t < 0)
        return el_v_err();
    int32_t in[2] = {a[0].t, t}, ia[NG_MAX_IA] = {axis};
    return el_emit(E, call->loc, NG_OP_GATHER, 2, in, ia, NULL, "sort");
}

/* gather(x, indices, axis = -1): y[.., j, ..] = x[.., indices[.., j, ..], ..],
 * indices from argsort of a tensor of x's shape */
static value b_gather(elab *E, const nc_expr *call, value *a)
{
    int axis;
    if (!el_want_f32(E, &a[0], "gather", "x") || !el_want_tensor(E, &a[1], "gather", "indices") ||
        !want_axis(E, &a[2], "gather", el_T(E, a[0].t)->ndim, &axis))
        return el_v_err();
    int p = E->g->tensors[a[1].t].producer;
    if (p < 0 || E->g->nodes[p].n.op != NG_OP_ARGSORT) {
        el_error(E, a[1].loc, "gather: argument 'indices' must be an argsort(...) result");
        return el_v_err();
    }
    const ng_tensor *x = el_T(E, a[0].t), *ix = el_T(E, a[1].t);
    if (!ng_same_shape(x, ix)) {
        char s1[64], s2[64];
        el_error(E, a[1].loc, "gather: indices are %s but x is %s (they must have the same shape)",
                 ng_shape_str(s1, ix->ndim, ix->dim), ng_shape_str(s2, x->ndim, x->dim));
        return el_v_err();
    }
    int32_t in[2] = {a[0].t, a[1].t}, ia[NG_MAX_IA] = {axis};
    return el_emit(E, call->loc, NG_OP_GATHER, 2, in, ia, NULL, "gather");
}

/* Class-weight schemes, in NG_CW_* order. */
static const char *const scheme_names[] = {"balanced", "median_freq", "inverse_sqrt", "effective_number", NULL};

/* clip = c > 0 (upper bound), [lo, hi], or none/0 (none): into lo, hi
 * (hi 0: no clipping). */
static int want_clip(elab *E, const value *v, const char *fn, double *lo, double *hi)
{
    *lo = *hi = 0;
    if (v->k == V_LIST) {
        if (v->n != 2) {
            el_error(E, v->loc, "%s: clip must be a maximum or a list [min, max]", fn);
            return 0;
        }
        if (!el_want_num(E, &v->items[0], fn, "clip", lo) || !el_want_num(E, &v->items[1], fn, "clip", hi))
            return 0;
    } else if (!el_is_none(v) && !el_want_num(E, v, fn, "clip", hi)) {
        return 0;
    }
    if (*lo < 0 || *hi < 0 || (*hi > 0 && *lo > *hi) || !isfinite(*lo) || !isfinite(*hi)) {
        el_error(E, v->loc, "%s: clip range [%g, %g] is invalid", fn, *lo, *hi);
        return 0;
    }
    return 1;
}

/* The model's one table of class weights computed by netrun (classes), made
 * on first use; a later use must ask for the same scheme and clip. */
static int computed_weights(elab *E, const char *fn, int scheme, double lo, double hi, double beta,
                            nc_loc loc)
{
    int t = E->g->bind.class_weights;
    if (t >= 0) {
        const ng_tensor *w = el_T(E, t);
        if (w->init_arg[0] != scheme || w->init_arg[1] != (float)lo || w->init_arg[2] != (float)hi ||
            w->init_arg[3] != (float)beta) {
            el_error(E, loc, "%s: a model computes one class-weight table, and line %d already asks for %s "
                  "clipped to [%g, %g] (0: none)%s", fn, E->g->tensors[t].loc.first_line,
                  ng_cw_name((int)w->init_arg[0]), (double)w->init_arg[1], (double)w->init_arg[2],
                  w->init_arg[0] == NG_CW_EFFECTIVE ? " with another beta" : "");
            return -1;
        }
        return t;
    }
    int32_t wd[1] = {E->g->bind.classes};
    t = nc_graph_tensor(E->g, el_op_name(E, "class_weights"), NG_F32, NG_ROLE_CONST, 1, wd, loc);
    ng_tensor *w = &E->g->tensors[t].t;
    w->init = NG_INIT_CLASS_WEIGHTS;
    w->init_arg[0] = (float)scheme;
    w->init_arg[1] = (float)lo;
    w->init_arg[2] = (float)hi;
    w->init_arg[3] = (float)beta;
    E->g->bind.class_weights = t;
    return t;
}

/* beta of the effective-number weights: in [0, 1) */
static int want_beta(elab *E, const value *v, const char *fn, double *beta)
{
    if (!el_want_num(E, v, fn, "beta", beta))
        return 0;
    if (!(*beta >= 0 && *beta < 1)) {
        el_error(E, v->loc, "%s: beta = %g must be in [0, 1) (pixel counts are large: try 0.99999)", fn, *beta);
        return 0;
    }
    return 1;
}

static int want_classes(elab *E, const nc_expr *call, const char *fn, const char *what)
{
    if (E->g->bind.classes > 0)
        return 1;
    el_error(E, call->loc, "%s: declare the labels input first (the table has one %s per class)", fn, what);
    return 0;
}

/* The computed table (computed_weights) as a (1, classes, 1, 1) tensor,
 * ready to broadcast along channels. */
static value weights_view(elab *E, const char *fn, int scheme, double lo, double hi, double beta, nc_loc loc)
{
    int t = computed_weights(E, fn, scheme, lo, hi, beta, loc);
    if (t < 0)
        return el_v_err();
    int32_t dim[4] = {1, E->g->bind.classes, 1, 1};
    return reshape_to(E, loc, t, 4, dim, "class_weights_view");
}

/* class_weights(scheme = balanced, clip = none): the computed table's view */
static value b_class_weights(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "class_weights";
    int scheme;
    double lo, hi, beta = 0;
    if (!el_want_choice(E, &a[0], fn, "scheme", scheme_names, &scheme) || !want_clip(E, &a[1], fn, &lo, &hi))
        return el_v_err();
    if (scheme == NG_CW_EFFECTIVE && !want_beta(E, &a[2], fn, &beta))
        return el_v_err();
    if (scheme != NG_CW_EFFECTIVE && !el_is_none(&a[2])) {
        el_error(E, a[2].loc, "%s: beta belongs to the effective scheme, not %s", fn, scheme_names[scheme]);
        return el_v_err();
    }
    if (!want_classes(E, call, fn, "weight"))
        return el_v_err();
    return weights_view(E, fn, scheme, lo, hi, beta, call->loc);
}

/* effective(beta = 0.99999, clip = none): class_weights(effective, ...) */
static value b_effective(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "effective";
    double lo, hi, beta;
    if (!want_beta(E, &a[0], fn, &beta) || !want_clip(E, &a[1], fn, &lo, &hi) || !want_classes(E, call, fn, "weight"))
        return el_v_err();
    return weights_view(E, fn, NG_CW_EFFECTIVE, lo, hi, beta, call->loc);
}

/* class_priors(): the class frequencies of the training masks, (count_c +
 * 1) / (total + classes), as a (1, classes, 1, 1) constant netrun computes */
static value b_class_priors(elab *E, const nc_expr *call, value *a)
{
    (void)a;
    if (!want_classes(E, call, "class_priors", "prior"))
        return el_v_err();
    int t = -1; /* one table per model */
    for (size_t i = 0; i < E->g->n_tensors && t < 0; i++)
        if (E->g->tensors[i].t.init == NG_INIT_CLASS_PRIORS)
            t = (int)i;
    if (t < 0) {
        int32_t wd[1] = {E->g->bind.classes};
        t = nc_graph_tensor(E->g, "class_priors", NG_F32, NG_ROLE_CONST, 1, wd, call->loc);
        E->g->tensors[t].t.init = NG_INIT_CLASS_PRIORS;
    }
    int32_t dim[4] = {1, E->g->bind.classes, 1, 1};
    return reshape_to(E, call->loc, t, 4, dim, "class_priors_view");
}

static const char *const weight_names[] = {"none", "balanced", "median_freq", "inverse_sqrt", NULL};

/* cross_entropy(logits, labels, weights = none, ignore = none, clip = none) */
static value b_cross_entropy(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "cross_entropy";
    int ignore;
    if (!el_want_4d(E, &a[0], fn) || !el_want_labels(E, &a[1], fn))
        return el_v_err();
    const ng_tensor *lg = el_T(E, a[0].t), *lb = el_T(E, a[1].t);
    if (lb->dim[1] != lg->dim[2] || lb->dim[2] != lg->dim[3]) {
        el_error(E, a[1].loc, "%s: labels are %dx%d but logits are %dx%d%s", fn, (int)lb->dim[1],
                 (int)lb->dim[2], (int)lg->dim[2], (int)lg->dim[3],
                 a[1].t == E->g->bind.labels ? "" : " (downsample_labels' factor?)");
        return el_v_err();
    }
    int classes = E->g->bind.classes;
    if (lg->dim[1] != classes) {
        el_error(E, a[0].loc, "%s: logits have %d channels but the labels have %d classes", fn,
              (int)lg->dim[1], classes);
        return el_v_err();
    }
    double clip_lo, clip_hi;
    if (!model_ignore(E, &a[3], fn, &ignore) || !want_clip(E, &a[4], fn, &clip_lo, &clip_hi))
        return el_v_err();
    if (clip_hi > 0 && el_is_none(&a[2])) {
        el_error(E, a[4].loc, "%s: clip bounds class weights, but no weights are given", fn);
        return el_v_err();
    }
    int wt = -1;
    int32_t wd[1] = {classes};
    if (a[2].k == V_TENSOR) { /* class_weights(...), effective(...) or any (K) / (1,K,1,1) tensor */
        const ng_tensor *w = el_T(E, a[2].t);
        if (w->dtype != NG_F32 || ng_tensor_nelem(w) != classes ||
            !(w->ndim == 1 || (w->ndim == 4 && w->dim[1] == classes))) {
            char sh[64];
            el_error(E, a[2].loc, "%s: weights are %s, expected %d classes as (%d) or (1, %d, 1, 1)", fn,
                     ng_shape_str(sh, w->ndim, w->dim), classes, classes, classes);
            return el_v_err();
        }
        if (clip_hi > 0) {
            el_error(E, a[4].loc, "%s: clip the weights where they are made (class_weights(..., clip = ...))", fn);
            return el_v_err();
        }
        wt = w->ndim == 1 ? a[2].t : reshape_to(E, call->loc, a[2].t, 1, wd, "class_weights_flat").t;
        if (wt < 0)
            return el_v_err();
    } else if (a[2].k == V_LIST) {
        if (a[2].n != classes) {
            el_error(E, a[2].loc, "%s: %d weights given for %d classes", fn, a[2].n, classes);
            return el_v_err();
        }
        float *data = nc_arena_array(E->a, (size_t)classes, sizeof *data);
        for (int i = 0; i < classes; i++) {
            double x;
            if (!el_want_num(E, &a[2].items[i], fn, "weights", &x))
                return el_v_err();
            if (x < 0 || !isfinite(x)) {
                el_error(E, a[2].items[i].loc, "%s: weight %g of class %d must be finite and >= 0", fn, x, i);
                return el_v_err();
            }
            if (clip_hi > 0)
                x = x < clip_lo ? clip_lo : x > clip_hi ? clip_hi : x;
            data[i] = (float)x;
        }
        wt = nc_graph_tensor(E->g, el_op_name(E, "class_weights"), NG_F32, NG_ROLE_CONST, 1, wd, call->loc);
        E->g->tensors[wt].t.init = NG_INIT_DATA;
        E->g->tensors[wt].t.data = data;
    } else {
        int scheme = 0;
        if (!el_is_none(&a[2]) && !el_want_choice(E, &a[2], fn, "weights", weight_names, &scheme))
            return el_v_err();
        if (scheme > 0 && (wt = computed_weights(E, fn, scheme - 1, clip_lo, clip_hi, 0, call->loc)) < 0)
            return el_v_err();
    }
    int32_t in[3] = {a[0].t, a[1].t, wt}, ia[NG_MAX_IA] = {ignore};
    return el_emit(E, call->loc, NG_OP_CROSS_ENTROPY, 3, in, ia, NULL, "cross_entropy");
}

/* item(list, i): element i of a list, Python style (negative from the end);
 * a function returns several values as a list */
static value b_item(elab *E, const nc_expr *call, value *a)
{
    (void)call;
    if (a[0].k != V_LIST) {
        el_error(E, a[0].loc, "item: the first argument must be a list, like [a, b]");
        return el_v_err();
    }
    int i, n = a[0].n;
    if (n == 0) {
        el_error(E, a[0].loc, "item: the list is empty");
        return el_v_err();
    }
    if (!el_want_int(E, &a[1], "item", "i", -n, n - 1, &i))
        return el_v_err();
    return a[0].items[i < 0 ? i + n : i];
}

static const builtin builtins[] = {
    {"item", b_item, 2, {{"list", 0}, {"i", 0}}},
    {"softmax", b_softmax, 2, {{"x", 0}, {"axis", "1"}}},
    {"log_softmax", b_log_softmax, 2, {{"x", 0}, {"axis", "1"}}},
    {"cross_entropy", b_cross_entropy, 5,
     {{"logits", 0}, {"labels", 0}, {"weights", "none"}, {"ignore", "none"}, {"clip", "none"}}},
    {"pow", b_pow, 2, {{"x", 0}, {"p", 0}}},
    {"clamp", b_clamp, 3, {{"x", 0}, {"lo", 0}, {"hi", 0}}},
    {"min", b_min, 2, {{"x", 0}, {"c", 0}}},
    {"max", b_max, 2, {{"x", 0}, {"c", 0}}},
    {"sum", b_sum, 3, {{"x", 0}, {"axis", "none"}, {"keepdims", "false"}}},
    {"mean", b_mean, 3, {{"x", 0}, {"axis", "none"}, {"keepdims", "false"}}},
    {"one_hot", b_one_hot, 3, {{"labels", 0}, {"classes", "none"}, {"ignore", "none"}}},
    {"valid_mask", b_valid_mask, 2, {{"labels", 0}, {"ignore", "none"}}},
    {"stop_gradient", b_stop_gradient, 1, {{"x", 0}}},
    {"batch_sum", b_batch_sum, 1, {{"x", 0}}},
    {"reshape", b_reshape, 2, {{"x", 0}, {"shape", 0}}},
    {"slice", b_slice, 4, {{"x", 0}, {"start", 0}, {"end", "none"}, {"axis", "1"}}},
    {"class_weights", b_class_weights, 3, {{"scheme", "balanced"}, {"clip", "none"}, {"beta", "none"}}},
    {"effective", b_effective, 2, {{"beta", "0.99999"}, {"clip", "none"}}},
    {"class_priors", b_class_priors, 0, {{0}}},
    {"cumsum", b_cumsum, 2, {{"x", 0}, {"axis", 0}}},
    {"argsort", b_argsort, 3, {{"x", 0}, {"axis", "-1"}, {"descending", "false"}}},
    {"sort", b_sort, 3, {{"x", 0}, {"axis", "-1"}, {"descending", "false"}}},
    {"gather", b_gather, 3, {{"x", 0}, {"indices", 0}, {"axis", "-1"}}},
};

/* The builtin of each UNARY row, for those with NG_F_FUNC: x, then its
 * attributes with their defaults (ops.def ATTR1, ATTR2). */
#define NOATTR
#define ATTR1(n, def, min) , {#n, def}
#define ATTR2(n1, def1, min1, n2, def2, min2) , {#n1, def1}, {#n2, def2}
static const builtin op_builtins[NG_OP_COUNT] = {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs)
#define UNARY(ID, name, flags, nograd, shape, attrs, expr, grad) \
    [NG_OP_##ID] = {#name, unary_fn, (int)(sizeof (pspec[]){{"x", 0} attrs} / sizeof(pspec)), {{"x", 0} attrs}},
#define UNARY_DX(ID, name, flags, shape, attrs, expr, reads, bwd_flags, dx) \
    [NG_OP_##ID] = {#name, unary_fn, (int)(sizeof (pspec[]){{"x", 0} attrs} / sizeof(pspec)), {{"x", 0} attrs}},
#include "ops.def"
#undef UNARY_DX
#undef UNARY
#undef OP
};
#undef ATTR2
#undef ATTR1
#undef NOATTR

const builtin *el_find_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    for (int i = 0; i < el_n_layer_builtins; i++)
        if (strcmp(el_layer_builtins[i].name, name) == 0)
            return &el_layer_builtins[i];
    for (int i = 0; i < el_n_optim_builtins; i++)
        if (strcmp(el_optim_builtins[i].name, name) == 0)
            return &el_optim_builtins[i];
    for (int op = 0; op < NG_OP_COUNT; op++)
        if ((ng_ops[op].flags & NG_F_FUNC) && strcmp(ng_ops[op].name, name) == 0)
            return &op_builtins[op];
    return NULL;
}

/* concat(a, b, ...): variadic, channels */
value el_call_concat(elab *E, const nc_expr *call)
{
    int32_t in[NG_MAX_IN];
    if (call->n_args < 1 || call->n_args > NG_MAX_IN) {
        el_error(E, call->loc, "concat takes 1 to %d tensors, got %d", NG_MAX_IN, call->n_args);
        return el_v_err();
    }
    for (int i = 0; i < call->n_args; i++) {
        if (call->args[i].key) {
            el_error(E, call->args[i].key_loc, "concat takes no keyword arguments");
            return el_v_err();
        }
        value v = el_eval(E, call->args[i].value);
        if (!el_want_4d(E, &v, "concat"))
            return el_v_err();
        in[i] = v.t;
    }
    if (call->n_args == 1)
        return el_tensor_value(in[0], call->loc);
    return el_emit(E, call->loc, NG_OP_CONCAT, call->n_args, in, NULL, NULL, "concat");
}

