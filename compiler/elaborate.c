/* elaborate.c — evaluate a model file down to a flat forward graph.
 * Values are numbers, booleans, strings, symbols (bare names that are not
 * bound, such as `same` or `balanced`), tensors and lists.  Builtin ops are
 * one table (builtins[]); user functions bind arguments the same way.
 * Tensor arithmetic broadcasts (numbers and lists become const tensors);
 * `import` runs another file's top level in the same global scope, once.
 * Parameter names come from the source: the assignment target or function
 * name of each call level, then the op and its ordinal (`e1.conv2.weight`). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "elaborate.h"
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200
#define MAX_PARAMS 16

typedef enum { V_NONE, V_ERR, V_NUM, V_BOOL, V_STR, V_SYM, V_TENSOR, V_LIST } vkind;

typedef struct value {
    vkind k;
    int is_int;
    double num;          /* V_NUM; V_BOOL as 0/1 */
    const char *s;       /* V_STR, V_SYM */
    int t;               /* V_TENSOR */
    int n;               /* V_LIST */
    struct value *items;
    nc_loc loc;          /* where the value was written */
} value;

typedef struct binding {
    const char *name;
    value v;
    int is_const;
    nc_loc loc;
    struct binding *next;
} binding;

typedef struct func {
    const nc_stmt *def;
    struct func *next;
} func;

/* Per-frame name counters: "conv" -> 2 */
typedef struct counter {
    const char *key;
    int n;
    struct counter *next;
} counter;

typedef struct frame {
    const char *fn;      /* NULL at top level */
    nc_loc call_loc;
    struct frame *parent;
    binding *locals;
    const char *path;    /* name prefix of everything created here */
    counter *counters;
    int returned;
    value ret;
} frame;

/* The files being imported, innermost first (the model file last). */
typedef struct import_frame {
    const char *real;    /* realpath, NULL when unknown */
    const char *shown;   /* path relative to the model file's directory */
    nc_loc loc;          /* the import statement (model file: unused) */
    struct import_frame *up;
} import_frame;

/* Files already imported (executed once). */
typedef struct imported {
    const char *real;
    struct imported *next;
} imported;

typedef struct {
    nc_graph *g;
    nc_diag *d;
    nc_arena *a;
    binding *globals;
    func *funcs;
    frame *top;          /* innermost frame */
    int depth;
    nc_define *defs;
    int n_defs;
    counter *top_names;  /* top-level scope names taken */
    const char *hint;    /* assignment target of a call being evaluated */
    int salt;            /* per dropout node */
    const char *ignore_by; /* the op that fixed bind.ignore, NULL: not yet */
    nc_loc ignore_loc;
    import_frame *imports; /* the file being executed and its importers */
    imported *done;
    const char *root_dir;  /* the model file's directory ("" or ending in '/') */
    int import_failed;     /* an import was reported: unknown functions are quiet */
} elab;

static value v_err(void) { value v = {0}; v.k = V_ERR; return v; }

/* --- diagnostics ------------------------------------------------------- */

static void verror(elab *E, nc_loc loc, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    nc_diag_error(E->d, loc, "%s", msg);
    /* the call chain, innermost first; a recursion's repeated frames fold */
    int shown = 0;
    for (frame *f = E->top; f && f->fn; f = f->parent) {
        int repeats = 0;
        while (f->parent && f->parent->fn && f->parent->fn == f->fn &&
               f->parent->call_loc.first_line == f->call_loc.first_line &&
               f->parent->call_loc.first_col == f->call_loc.first_col) {
            f = f->parent;
            repeats++;
        }
        char where[256];
        nc_loc_str(E->d, f->call_loc, where, sizeof where);
        if (++shown > 12) {
            nc_diag_note(E->d, "...");
            break;
        }
        if (repeats)
            nc_diag_note(E->d, "in %s() called from %s (%d times)", f->fn, where, repeats + 1);
        else
            nc_diag_note(E->d, "in %s() called from %s", f->fn, where);
    }
    /* then the imports that led here */
    for (import_frame *f = E->imports; f && f->up; f = f->up) {
        char where[256];
        nc_loc_str(E->d, f->loc, where, sizeof where);
        nc_diag_note(E->d, "in %s imported from %s", f->shown, where);
    }
}

static void error(elab *E, nc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void error(elab *E, nc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(E, loc, fmt, ap);
    va_end(ap);
}

static const char *kind_name(const value *v)
{
    switch (v->k) {
    case V_NONE: return "nothing";
    case V_ERR: return "error";
    case V_NUM: return v->is_int ? "an integer" : "a number";
    case V_BOOL: return "a boolean";
    case V_STR: return "a string";
    case V_SYM: return "a name";
    case V_TENSOR: return "a tensor";
    case V_LIST: return "a list";
    }
    return "?";
}

/* A symbol reaching a place that needs a value is an undefined name. */
static int check_defined(elab *E, const value *v, const char *what)
{
    if (v->k == V_ERR)
        return 0;
    if (v->k == V_SYM) {
        error(E, v->loc, "undefined name '%s'%s%s", v->s, what ? " in " : "", what ? what : "");
        return 0;
    }
    return 1;
}

static int want_tensor(elab *E, const value *v, const char *fn, const char *arg)
{
    char what[128];
    snprintf(what, sizeof what, "argument '%s' of %s", arg, fn);
    if (!check_defined(E, v, what))
        return 0;
    if (v->k != V_TENSOR) {
        error(E, v->loc, "%s: argument '%s' must be a tensor, got %s", fn, arg, kind_name(v));
        return 0;
    }
    return 1;
}

static int want_int(elab *E, const value *v, const char *fn, const char *arg, int lo, int hi, int *out)
{
    char what[128];
    snprintf(what, sizeof what, "argument '%s' of %s", arg, fn);
    if (!check_defined(E, v, what))
        return 0;
    if (v->k != V_NUM || !v->is_int) {
        error(E, v->loc, "%s: argument '%s' must be an integer, got %s", fn, arg, kind_name(v));
        return 0;
    }
    if (v->num < lo || v->num > hi) {
        error(E, v->loc, "%s: argument '%s' is %.0f, expected %d..%d", fn, arg, v->num, lo, hi);
        return 0;
    }
    *out = (int)v->num;
    return 1;
}

static int want_num(elab *E, const value *v, const char *fn, const char *arg, double *out)
{
    char what[128];
    snprintf(what, sizeof what, "argument '%s' of %s", arg, fn);
    if (!check_defined(E, v, what))
        return 0;
    if (v->k != V_NUM) {
        error(E, v->loc, "%s: argument '%s' must be a number, got %s", fn, arg, kind_name(v));
        return 0;
    }
    *out = v->num;
    return 1;
}

/* A symbol from a fixed set (strings are accepted too). */
static int want_choice(elab *E, const value *v, const char *fn, const char *arg,
                       const char *const *choices, int *out)
{
    if (v->k == V_ERR)
        return 0;
    if (v->k == V_SYM || v->k == V_STR) {
        for (int i = 0; choices[i]; i++)
            if (strcmp(v->s, choices[i]) == 0) {
                *out = i;
                return 1;
            }
    }
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        strncat(list, i ? (choices[i + 1] ? ", " : " or ") : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    if (v->k == V_SYM || v->k == V_STR)
        error(E, v->loc, "%s: unknown %s '%s' (expected %s)", fn, arg, v->s, list);
    else
        error(E, v->loc, "%s: argument '%s' must be one of %s, got %s", fn, arg, list, kind_name(v));
    return 0;
}

/* --- names ------------------------------------------------------------- */

static int bump(nc_arena *a, counter **list, const char *key)
{
    for (counter *c = *list; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return ++c->n;
    counter *c = nc_arena_alloc(a, sizeof *c);
    c->key = key;
    c->n = 1;
    c->next = *list;
    *list = c;
    return 1;
}

/* A name for the next `base` op in the current frame: path.base<k>. */
static const char *op_name(elab *E, const char *base)
{
    int k = bump(E->a, &E->top->counters, base);
    if (E->top->path[0])
        return nc_arena_printf(E->a, "%s.%s%d", E->top->path, base, k);
    return nc_arena_printf(E->a, "%s%d", base, k);
}

/* The path of a child scope called `name` in the current frame, unique. */
static const char *child_path(elab *E, const char *name)
{
    counter **list = E->top->path[0] ? &E->top->counters : &E->top_names;
    char *key = nc_arena_printf(E->a, "scope:%s", name);
    int k = bump(E->a, list, key);
    const char *leaf = k == 1 ? name : nc_arena_printf(E->a, "%s_%d", name, k);
    if (E->top->path[0])
        return nc_arena_printf(E->a, "%s.%s", E->top->path, leaf);
    return leaf;
}

/* --- environment ------------------------------------------------------- */

static binding *lookup_in(binding *b, const char *name)
{
    for (; b; b = b->next)
        if (strcmp(b->name, name) == 0)
            return b;
    return NULL;
}

static binding *lookup(elab *E, const char *name)
{
    binding *b = E->top->fn ? lookup_in(E->top->locals, name) : NULL;
    return b ? b : lookup_in(E->globals, name);
}

static void bind(elab *E, binding **scope, const char *name, value v, int is_const, nc_loc loc)
{
    binding *b = lookup_in(*scope, name);
    if (!b) {
        b = nc_arena_alloc(E->a, sizeof *b);
        b->name = name;
        b->next = *scope;
        *scope = b;
    }
    b->v = v;
    b->is_const = is_const;
    b->loc = loc;
}

static func *find_func(elab *E, const char *name)
{
    for (func *f = E->funcs; f; f = f->next)
        if (strcmp(f->def->name, name) == 0)
            return f;
    return NULL;
}

/* --- tensors ----------------------------------------------------------- */

static value tensor_value(int t, nc_loc loc)
{
    value v = {0};
    v.k = V_TENSOR;
    v.t = t;
    v.loc = loc;
    return v;
}

static const ng_tensor *T(elab *E, int t) { return &E->g->tensors[t].t; }

/* Emit an op; on a shape error report it at loc with the call chain. */
static value emit(elab *E, nc_loc loc, int op, int n_in, const int32_t *in,
                  const int32_t *ia, const float *fa, const char *base)
{
    char err[512];
    int t = nc_graph_op(E->g, op, n_in, in, ia, fa, op_name(E, base), NG_ROLE_ACT,
                        loc, 0, err, sizeof err);
    if (t < 0) {
        error(E, loc, "%s", err);
        return v_err();
    }
    return tensor_value(t, loc);
}

/* --- argument binding -------------------------------------------------- */

typedef struct {
    const char *name;
    const char *def;     /* default as source text of a value, NULL: required */
} pspec;

static value eval(elab *E, const nc_expr *e);

/* A default written as text: numbers, true/false, or a symbol. */
static value default_value(const char *text, nc_loc loc)
{
    value v = {0};
    v.loc = loc;
    if (strcmp(text, "none") == 0) {
        v.k = V_NONE;
    } else if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
        v.k = V_BOOL;
        v.num = text[0] == 't';
    } else {
        char *end;
        double x = strtod(text, &end);
        if (*end == 0 && end != text) {
            v.k = V_NUM;
            v.num = x;
            v.is_int = strpbrk(text, ".eE") == NULL;
        } else {
            v.k = V_SYM;
            v.s = text;
        }
    }
    return v;
}

/* Match call arguments to n params by position and keyword.  Evaluates
 * the arguments; out[i] is V_NONE for an absent param with no default
 * given here (user functions fill their defaults themselves via given[]).
 * Returns 0 after reporting a problem. */
static int bind_args(elab *E, const nc_expr *call, const char *fn, int n,
                     const char *const *names, value *out, int *given)
{
    int ok = 1, pos = 0;
    for (int i = 0; i < n; i++) {
        given[i] = 0;
        out[i] = (value){0};
    }
    for (int a = 0; a < call->n_args; a++) {
        const nc_arg *arg = &call->args[a];
        int slot = -1;
        if (!arg->key) {
            if (pos >= n) {
                error(E, arg->value->loc, "too many arguments to %s (it takes %d)", fn, n);
                return 0;
            }
            slot = pos++;
        } else {
            for (int i = 0; i < n; i++)
                if (strcmp(names[i], arg->key) == 0)
                    slot = i;
            if (slot < 0) {
                error(E, arg->key_loc, "%s has no parameter '%s'", fn, arg->key);
                ok = 0;
                continue;
            }
            if (given[slot]) {
                error(E, arg->key_loc, "argument '%s' of %s given twice", arg->key, fn);
                ok = 0;
                continue;
            }
        }
        given[slot] = 1;
        out[slot] = eval(E, arg->value);
        if (out[slot].k == V_ERR)
            ok = 0;
    }
    return ok;
}

static int bind_builtin(elab *E, const nc_expr *call, const char *fn, int n,
                        const pspec *ps, value *out)
{
    const char *names[MAX_PARAMS] = {0};
    int given[MAX_PARAMS];
    for (int i = 0; i < n; i++)
        names[i] = ps[i].name;
    if (!bind_args(E, call, fn, n, names, out, given))
        return 0;
    for (int i = 0; i < n; i++) {
        if (given[i])
            continue;
        if (!ps[i].def) {
            error(E, call->loc, "%s: missing argument '%s'", fn, ps[i].name);
            return 0;
        }
        out[i] = default_value(ps[i].def, call->loc);
    }
    return 1;
}

/* --- builtin ops ------------------------------------------------------- */

typedef value (*builtin_fn)(elab *E, const nc_expr *call, value *args);

typedef struct {
    const char *name;
    builtin_fn fn;
    int n;
    pspec ps[MAX_PARAMS];
} builtin;

static int want_4d(elab *E, const value *v, const char *fn)
{
    if (!want_tensor(E, v, fn, "x"))
        return 0;
    const ng_tensor *t = T(E, v->t);
    if (t->ndim != 4 || t->dtype != NG_F32) {
        char s[64];
        error(E, v->loc, "%s: expected a 4-D f32 tensor (N,C,H,W), got %s%s", fn,
              t->dtype == NG_I32 ? "labels " : "", nc_shape_str(t, s, sizeof s));
        return 0;
    }
    return 1;
}

/* kernel = 3 or [3, 3] */
static int want_pair(elab *E, const value *v, const char *fn, const char *arg, int out[2])
{
    if (v->k == V_LIST) {
        if (v->n != 2) {
            error(E, v->loc, "%s: argument '%s' must be an integer or a list of 2", fn, arg);
            return 0;
        }
        return want_int(E, &v->items[0], fn, arg, 1, 1 << 16, &out[0]) &&
               want_int(E, &v->items[1], fn, arg, 1, 1 << 16, &out[1]);
    }
    if (!want_int(E, v, fn, arg, 1, 1 << 16, &out[0]))
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
 *        init = glorot_uniform, name = none) */
static value b_conv2d(elab *E, const nc_expr *call, value *a)
{
    int ch, k[2], stride, pad, initi;
    if (!want_4d(E, &a[0], "conv2d") || !want_int(E, &a[1], "conv2d", "channels", 1, 1 << 20, &ch) ||
        !want_pair(E, &a[2], "conv2d", "kernel", k) ||
        !want_int(E, &a[3], "conv2d", "stride", 1, 1 << 16, &stride) ||
        !want_choice(E, &a[4], "conv2d", "pad", pad_names, &pad) ||
        !want_choice(E, &a[6], "conv2d", "init", init_names, &initi))
        return v_err();
    if (a[5].k != V_BOOL) {
        error(E, a[5].loc, "conv2d: argument 'bias' must be true or false");
        return v_err();
    }
    const ng_tensor *x = T(E, a[0].t);
    int c = x->dim[1], h = x->dim[2], w = x->dim[3];
    int32_t ia[NG_MAX_IA] = {0};
    ia[0] = stride;
    if (pad == 1) { /* TensorFlow 'same': out = ceil(in/stride), extra at bottom/right */
        int oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
        int ph = (oh - 1) * stride + k[0] - h, pw = (ow - 1) * stride + k[1] - w;
        if (ph < 0) ph = 0;
        if (pw < 0) pw = 0;
        ia[1] = ph / 2;
        ia[2] = pw / 2;
        ia[3] = ph - ph / 2;
        ia[4] = pw - pw / 2;
    } else if (k[0] > h || k[1] > w) {
        char s[64];
        error(E, call->loc, "conv2d: %dx%d kernel does not fit a %s input with pad = valid",
              k[0], k[1], nc_shape_str(x, s, sizeof s));
        return v_err();
    }
    const char *base;
    if (a[7].k == V_STR || a[7].k == V_SYM) {
        base = E->top->path[0] ? nc_arena_printf(E->a, "%s.%s", E->top->path, a[7].s) : a[7].s;
    } else {
        int n = bump(E->a, &E->top->counters, "conv");
        base = E->top->path[0] ? nc_arena_printf(E->a, "%s.conv%d", E->top->path, n)
                               : nc_arena_printf(E->a, "conv%d", n);
    }
    int32_t wd[4] = {ch, c, k[0], k[1]};
    float fan_in = (float)c * k[0] * k[1], fan_out = (float)ch * k[0] * k[1];
    int wt = param_tensor(E, nc_arena_printf(E->a, "%s.weight", base), 4, wd,
                          init_codes[initi], fan_in, fan_out, call->loc);
    int bt = -1;
    if (a[5].num) {
        int32_t bd[1] = {ch};
        bt = param_tensor(E, nc_arena_printf(E->a, "%s.bias", base), 1, bd, NG_INIT_ZEROS, 0, 0,
                          call->loc);
    }
    int32_t in[3] = {a[0].t, wt, bt};
    char err[512];
    int y = nc_graph_op(E->g, NG_OP_CONV2D, 3, in, ia, NULL, base, NG_ROLE_ACT, call->loc, 0,
                        err, sizeof err);
    if (y < 0) {
        error(E, call->loc, "%s", err);
        return v_err();
    }
    return tensor_value(y, call->loc);
}

static value b_relu(elab *E, const nc_expr *call, value *a)
{
    if (!want_tensor(E, &a[0], "relu", "x"))
        return v_err();
    int32_t in[1] = {a[0].t};
    return emit(E, call->loc, NG_OP_RELU, 1, in, NULL, NULL, "relu");
}

/* maxpool(x, size = 2) and upsample(x, factor = 2) */
static value pool_like(elab *E, const nc_expr *call, value *a, const char *fn, const char *arg, int op)
{
    int k;
    if (!want_4d(E, &a[0], fn) || !want_int(E, &a[1], fn, arg, 1, 1 << 12, &k))
        return v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {k};
    return emit(E, call->loc, op, 1, in, ia, NULL, fn);
}

static value b_maxpool(elab *E, const nc_expr *call, value *a)
{
    return pool_like(E, call, a, "maxpool", "size", NG_OP_MAXPOOL);
}

static value b_upsample(elab *E, const nc_expr *call, value *a)
{
    return pool_like(E, call, a, "upsample", "factor", NG_OP_UPSAMPLE);
}

/* spatial_dropout(x, rate): a (N,C) mask drawn per step, identity when
 * not training (the eval and infer entries drop the mask). */
static value b_spatial_dropout(elab *E, const nc_expr *call, value *a)
{
    double p;
    if (!want_4d(E, &a[0], "spatial_dropout") || !want_num(E, &a[1], "spatial_dropout", "rate", &p))
        return v_err();
    if (p < 0 || p >= 1) {
        error(E, a[1].loc, "spatial_dropout: rate %g is outside [0, 1)", p);
        return v_err();
    }
    if (p == 0)
        return a[0];
    const ng_tensor *x = T(E, a[0].t);
    int32_t ia[NG_MAX_IA] = {++E->salt, x->dim[0], x->dim[1]};
    float fa[NG_MAX_FA] = {(float)p};
    value m = emit(E, call->loc, NG_OP_DROPOUT_MASK, 0, NULL, ia, fa, "dropout_mask");
    if (m.k == V_ERR)
        return m;
    int32_t in[2] = {a[0].t, m.t};
    return emit(E, call->loc, NG_OP_MUL_CHANNEL, 2, in, NULL, NULL, "dropout");
}

static int is_none(const value *v)
{
    return v->k == V_NONE || ((v->k == V_SYM || v->k == V_STR) && strcmp(v->s, "none") == 0);
}

/* Any f32 tensor (the labels input is i32: say what to do with it). */
static int want_f32(elab *E, const value *v, const char *fn, const char *arg)
{
    if (!want_tensor(E, v, fn, arg))
        return 0;
    if (T(E, v->t)->dtype != NG_F32) {
        error(E, v->loc, "%s: '%s' is the labels input (integers); use one_hot(...) or valid_mask(...)",
              fn, T(E, v->t)->name);
        return 0;
    }
    return 1;
}

/* The labels input, for the ops that read labels. */
static int want_labels(elab *E, const value *v, const char *fn)
{
    if (!want_tensor(E, v, fn, "labels"))
        return 0;
    if (v->t != E->g->bind.labels) {
        error(E, v->loc, "%s: argument 'labels' must be a labels input", fn);
        return 0;
    }
    return 1;
}

/* An axis of a rank-ndim tensor, negative counting from the end. */
static int want_axis(elab *E, const value *v, const char *fn, int ndim, int *out)
{
    int axis;
    if (ndim < 1) {
        error(E, v->loc, "%s: a scalar has no axis", fn);
        return 0;
    }
    if (!want_int(E, v, fn, "axis", -ndim, ndim - 1, &axis))
        return 0;
    *out = axis < 0 ? axis + ndim : axis;
    return 1;
}

/* axis = none (every dim), an integer or a list of integers: a bit mask
 * over the dims of a rank-ndim tensor. */
static int want_axes(elab *E, const value *v, const char *fn, int ndim, int32_t *mask)
{
    *mask = 0;
    if (is_none(v)) {
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
            error(E, it->loc, "%s: axis %d is given twice", fn, axis);
            return 0;
        }
        *mask |= 1 << axis;
    }
    return 1;
}

/* A const f32 tensor of the given shape holding data (copied). */
static int const_tensor(elab *E, int ndim, const int32_t *dim, const float *data, nc_loc loc)
{
    int t = nc_graph_tensor(E->g, op_name(E, "const"), NG_F32, NG_ROLE_CONST, ndim, dim, loc);
    int64_t n = ng_tensor_nelem(T(E, t));
    float *d = nc_arena_array(E->a, (size_t)n, sizeof *d);
    memcpy(d, data, (size_t)n * sizeof *d);
    E->g->tensors[t].t.init = NG_INIT_DATA;
    E->g->tensors[t].t.data = d;
    return t;
}

/* A number or a list of numbers as a tensor operand: a number is a scalar
 * (rank 0), a list of K numbers a vector along channels (1,K,1,1); tensors
 * pass through.  what names the operation in messages. */
static int operand_tensor(elab *E, const value *v, const char *what, int *out)
{
    if (v->k == V_TENSOR) {
        if (!want_f32(E, v, what, "operand"))
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
                error(E, v->items[i].loc, "%s: a list in tensor arithmetic holds numbers, got %s", what,
                      kind_name(&v->items[i]));
                return 0;
            }
            x[i] = (float)v->items[i].num;
        }
        int32_t dim[4] = {1, v->n, 1, 1};
        *out = const_tensor(E, 4, dim, x, v->loc);
        return 1;
    }
    error(E, v->loc, "%s: expected a tensor, a number or a list of numbers, got %s", what,
          v->k == V_LIST ? "an empty list" : kind_name(v));
    return 0;
}

/* exp(x), log(x), sqrt(x), abs(x): elementwise on a tensor; on a number,
 * the number. */
static value unary_op(elab *E, const nc_expr *call, value *a, const char *fn, int op)
{
    if (a[0].k == V_NUM) {
        double x = a[0].num, y = 0;
        if ((op == NG_OP_LOG && x <= 0) || (op == NG_OP_SQRT && x < 0)) {
            error(E, a[0].loc, "%s(%g) is not a real number", fn, x);
            return v_err();
        }
        switch (op) {
        case NG_OP_EXP: y = exp(x); break;
        case NG_OP_LOG: y = log(x); break;
        case NG_OP_SQRT: y = sqrt(x); break;
        default: y = fabs(x); break;
        }
        value v = a[0];
        v.num = y;
        v.is_int = op == NG_OP_ABS && a[0].is_int;
        v.loc = call->loc;
        return v;
    }
    if (!want_f32(E, &a[0], fn, "x"))
        return v_err();
    int32_t in[1] = {a[0].t};
    return emit(E, call->loc, op, 1, in, NULL, NULL, fn);
}

static value b_exp(elab *E, const nc_expr *call, value *a) { return unary_op(E, call, a, "exp", NG_OP_EXP); }
static value b_log(elab *E, const nc_expr *call, value *a) { return unary_op(E, call, a, "log", NG_OP_LOG); }
static value b_sqrt(elab *E, const nc_expr *call, value *a) { return unary_op(E, call, a, "sqrt", NG_OP_SQRT); }
static value b_abs(elab *E, const nc_expr *call, value *a) { return unary_op(E, call, a, "abs", NG_OP_ABS); }

/* pow(x, p): p a number */
static value b_pow(elab *E, const nc_expr *call, value *a)
{
    double p;
    if (!want_num(E, &a[1], "pow", "p", &p))
        return v_err();
    if (a[0].k == V_NUM) {
        value v = a[0];
        v.num = pow(a[0].num, p);
        v.is_int = a[0].is_int && a[1].is_int && p >= 0;
        v.loc = call->loc;
        if (!isfinite(v.num)) {
            error(E, call->loc, "pow(%g, %g) is not a finite real number", a[0].num, p);
            return v_err();
        }
        return v;
    }
    if (!want_f32(E, &a[0], "pow", "x"))
        return v_err();
    int32_t in[1] = {a[0].t};
    float fa[NG_MAX_FA] = {(float)p};
    return emit(E, call->loc, NG_OP_POW, 1, in, NULL, fa, "pow");
}

static value clamp_tensor(elab *E, nc_loc loc, int t, double lo, double hi, const char *base)
{
    int32_t in[1] = {t};
    float fa[NG_MAX_FA] = {(float)lo, (float)hi};
    return emit(E, loc, NG_OP_CLAMP, 1, in, NULL, fa, base);
}

/* clamp(x, lo, hi): either bound may be none */
static value b_clamp(elab *E, const nc_expr *call, value *a)
{
    double b[2] = {-INFINITY, INFINITY};
    if (!want_f32(E, &a[0], "clamp", "x"))
        return v_err();
    for (int i = 0; i < 2; i++)
        if (!is_none(&a[1 + i]) && !want_num(E, &a[1 + i], "clamp", i ? "hi" : "lo", &b[i]))
            return v_err();
    if (!(b[0] <= b[1])) {
        error(E, call->loc, "clamp: lo = %g is above hi = %g", b[0], b[1]);
        return v_err();
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
        error(E, call->loc, "%s of two tensors is not supported: one argument must be a number", fn);
        return v_err();
    }
    double k;
    if (!want_f32(E, &x, fn, "x") || !want_num(E, &c, fn, "c", &k))
        return v_err();
    return clamp_tensor(E, call->loc, x.t, is_max ? k : -INFINITY, is_max ? INFINITY : k, fn);
}

static value b_min(elab *E, const nc_expr *call, value *a) { return min_max(E, call, a, 0); }
static value b_max(elab *E, const nc_expr *call, value *a) { return min_max(E, call, a, 1); }

/* sum(x, axis = none, keepdims = false) and mean(...) */
static value reduce(elab *E, const nc_expr *call, value *a, int is_mean)
{
    const char *fn = is_mean ? "mean" : "sum";
    int32_t mask;
    if (!want_f32(E, &a[0], fn, "x"))
        return v_err();
    const ng_tensor *x = T(E, a[0].t);
    if (!want_axes(E, &a[1], fn, x->ndim, &mask))
        return v_err();
    if (a[2].k != V_BOOL) {
        error(E, a[2].loc, "%s: argument 'keepdims' must be true or false", fn);
        return v_err();
    }
    double count = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask >> i & 1)
            count *= x->dim[i];
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {mask, a[2].num ? mask : 0};
    float fa[NG_MAX_FA] = {is_mean ? (float)(1.0 / count) : 1.0f};
    return emit(E, call->loc, NG_OP_REDUCE_SUM, 1, in, ia, fa, fn);
}

static value b_sum(elab *E, const nc_expr *call, value *a) { return reduce(E, call, a, 0); }
static value b_mean(elab *E, const nc_expr *call, value *a) { return reduce(E, call, a, 1); }

/* softmax(x, axis = 1) and log_softmax(x, axis = 1) */
static value softmax_like(elab *E, const nc_expr *call, value *a, int op, const char *fn)
{
    int axis;
    if (!want_f32(E, &a[0], fn, "x") || !want_axis(E, &a[1], fn, T(E, a[0].t)->ndim, &axis))
        return v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {axis};
    return emit(E, call->loc, op, 1, in, ia, NULL, fn);
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
    if (!is_none(v) && !want_int(E, v, fn, "ignore", -1, 1 << 30, &ig))
        return 0;
    if (ig >= 0 && ig < classes) {
        error(E, v->loc, "%s: ignore = %d is a valid class (0..%d)", fn, ig, classes - 1);
        return 0;
    }
    if (E->ignore_by && ig != E->g->bind.ignore) {
        error(E, v->loc, "%s: ignore = %d, but %s at line %d already uses %d (a model has one ignore label)",
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
    if (!want_labels(E, &a[0], "one_hot") ||
        (!is_none(&a[1]) && !want_int(E, &a[1], "one_hot", "classes", 1, NG_MAX_CLASSES, &classes)) ||
        !model_ignore(E, &a[2], "one_hot", &ignore))
        return v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {classes, ignore};
    return emit(E, call->loc, NG_OP_ONE_HOT, 1, in, ia, NULL, "one_hot");
}

/* valid_mask(labels, ignore = none) */
static value b_valid_mask(elab *E, const nc_expr *call, value *a)
{
    int ignore;
    if (!want_labels(E, &a[0], "valid_mask") || !model_ignore(E, &a[1], "valid_mask", &ignore))
        return v_err();
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {E->g->bind.classes, ignore};
    return emit(E, call->loc, NG_OP_VALID_MASK, 1, in, ia, NULL, "valid_mask");
}

static value b_stop_gradient(elab *E, const nc_expr *call, value *a)
{
    if (!want_f32(E, &a[0], "stop_gradient", "x"))
        return v_err();
    int32_t in[1] = {a[0].t};
    return emit(E, call->loc, NG_OP_STOP_GRADIENT, 1, in, NULL, NULL, "stop_gradient");
}

static value reshape_to(elab *E, nc_loc loc, int t, int ndim, const int32_t *dim, const char *base)
{
    int32_t in[1] = {t}, ia[NG_MAX_IA] = {ndim};
    for (int i = 0; i < ndim; i++)
        ia[1 + i] = dim[i];
    return emit(E, loc, NG_OP_RESHAPE, 1, in, ia, NULL, base);
}

/* reshape(x, shape): shape a list of up to 4 dims, one of them may be -1
 * (the rest of the elements) */
static value b_reshape(elab *E, const nc_expr *call, value *a)
{
    if (!want_f32(E, &a[0], "reshape", "x"))
        return v_err();
    if (a[1].k != V_LIST || a[1].n > NG_MAX_DIMS) {
        error(E, a[1].loc, "reshape: argument 'shape' must be a list of at most %d dims", NG_MAX_DIMS);
        return v_err();
    }
    int32_t dim[NG_MAX_DIMS] = {0};
    int64_t known = 1, have = ng_tensor_nelem(T(E, a[0].t));
    int infer = -1;
    for (int i = 0; i < a[1].n; i++) {
        int d;
        if (!want_int(E, &a[1].items[i], "reshape", "shape", -1, 1 << 30, &d))
            return v_err();
        if (d == 0 || (d == -1 && infer >= 0)) {
            error(E, a[1].items[i].loc, "reshape: dims are >= 1, with at most one -1");
            return v_err();
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
        error(E, a[1].loc, "reshape: %s has %lld elements, the new shape %lld",
              nc_shape_str(T(E, a[0].t), sh, sizeof sh), (long long)have, (long long)known);
        return v_err();
    }
    return reshape_to(E, call->loc, a[0].t, a[1].n, dim, "reshape");
}

/* slice(x, start, end = none, axis = 1): negative start/end count from the
 * end of the axis, as in Python; end none: to the end */
static value b_slice(elab *E, const nc_expr *call, value *a)
{
    int axis, start, end;
    if (!want_f32(E, &a[0], "slice", "x") || !want_axis(E, &a[3], "slice", T(E, a[0].t)->ndim, &axis))
        return v_err();
    int n = T(E, a[0].t)->dim[axis];
    if (!want_int(E, &a[1], "slice", "start", -n, n - 1, &start))
        return v_err();
    end = n;
    if (!is_none(&a[2]) && !want_int(E, &a[2], "slice", "end", -n, n, &end))
        return v_err();
    start += start < 0 ? n : 0;
    end += end < 0 ? n : 0;
    if (end <= start) {
        error(E, call->loc, "slice: %d:%d of axis %d (size %d) is empty", start, end, axis, n);
        return v_err();
    }
    int32_t in[1] = {a[0].t}, ia[NG_MAX_IA] = {axis, start, end - start};
    return emit(E, call->loc, NG_OP_SLICE, 1, in, ia, NULL, "slice");
}

/* Class-weight schemes, in NG_CW_* order. */
static const char *const scheme_names[] = {"balanced", "median_freq", "inverse_sqrt", NULL};

/* clip = c > 0 (upper bound), [lo, hi], or none/0 (none): into lo, hi
 * (hi 0: no clipping). */
static int want_clip(elab *E, const value *v, const char *fn, double *lo, double *hi)
{
    *lo = *hi = 0;
    if (v->k == V_LIST) {
        if (v->n != 2) {
            error(E, v->loc, "%s: clip must be a maximum or a list [min, max]", fn);
            return 0;
        }
        if (!want_num(E, &v->items[0], fn, "clip", lo) || !want_num(E, &v->items[1], fn, "clip", hi))
            return 0;
    } else if (!is_none(v) && !want_num(E, v, fn, "clip", hi)) {
        return 0;
    }
    if (*lo < 0 || *hi < 0 || (*hi > 0 && *lo > *hi) || !isfinite(*lo) || !isfinite(*hi)) {
        error(E, v->loc, "%s: clip range [%g, %g] is invalid", fn, *lo, *hi);
        return 0;
    }
    return 1;
}

/* The model's one table of class weights computed by netrun (classes), made
 * on first use; a later use must ask for the same scheme and clip. */
static int computed_weights(elab *E, const char *fn, int scheme, double lo, double hi, nc_loc loc)
{
    int t = E->g->bind.class_weights;
    if (t >= 0) {
        const ng_tensor *w = T(E, t);
        if (w->init_arg[0] != scheme || w->init_arg[1] != (float)lo || w->init_arg[2] != (float)hi) {
            error(E, loc, "%s: a model computes one class-weight table, and line %d already asks for %s "
                  "clipped to [%g, %g] (0: none)", fn, E->g->tensors[t].loc.first_line,
                  ng_cw_name((int)w->init_arg[0]), (double)w->init_arg[1], (double)w->init_arg[2]);
            return -1;
        }
        return t;
    }
    int32_t wd[1] = {E->g->bind.classes};
    t = nc_graph_tensor(E->g, op_name(E, "class_weights"), NG_F32, NG_ROLE_CONST, 1, wd, loc);
    ng_tensor *w = &E->g->tensors[t].t;
    w->init = NG_INIT_CLASS_WEIGHTS;
    w->init_arg[0] = (float)scheme;
    w->init_arg[1] = (float)lo;
    w->init_arg[2] = (float)hi;
    E->g->bind.class_weights = t;
    return t;
}

/* class_weights(scheme = balanced, clip = none): the computed table as a
 * (1, classes, 1, 1) tensor, ready to broadcast along channels */
static value b_class_weights(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "class_weights";
    int scheme;
    double lo, hi;
    if (!want_choice(E, &a[0], fn, "scheme", scheme_names, &scheme) || !want_clip(E, &a[1], fn, &lo, &hi))
        return v_err();
    if (E->g->bind.classes <= 0) {
        error(E, call->loc, "%s: declare the labels input first (the table has one weight per class)", fn);
        return v_err();
    }
    int t = computed_weights(E, fn, scheme, lo, hi, call->loc);
    if (t < 0)
        return v_err();
    int32_t dim[4] = {1, E->g->bind.classes, 1, 1};
    return reshape_to(E, call->loc, t, 4, dim, "class_weights_view");
}

static const char *const weight_names[] = {"none", "balanced", "median_freq", "inverse_sqrt", NULL};

/* cross_entropy(logits, labels, weights = none, ignore = none, clip = none) */
static value b_cross_entropy(elab *E, const nc_expr *call, value *a)
{
    const char *fn = "cross_entropy";
    int ignore;
    if (!want_4d(E, &a[0], fn) || !want_tensor(E, &a[1], fn, "labels"))
        return v_err();
    const ng_tensor *lg = T(E, a[0].t), *lb = T(E, a[1].t);
    if (lb->dtype != NG_I32 || a[1].t != E->g->bind.labels) {
        error(E, a[1].loc, "%s: argument 'labels' must be a labels input", fn);
        return v_err();
    }
    int classes = E->g->bind.classes;
    if (lg->dim[1] != classes) {
        error(E, a[0].loc, "%s: logits have %d channels but the labels have %d classes", fn,
              (int)lg->dim[1], classes);
        return v_err();
    }
    double clip_lo, clip_hi;
    if (!model_ignore(E, &a[3], fn, &ignore) || !want_clip(E, &a[4], fn, &clip_lo, &clip_hi))
        return v_err();
    if (clip_hi > 0 && is_none(&a[2])) {
        error(E, a[4].loc, "%s: clip bounds class weights, but no weights are given", fn);
        return v_err();
    }
    int wt = -1;
    int32_t wd[1] = {classes};
    if (a[2].k == V_LIST) {
        if (a[2].n != classes) {
            error(E, a[2].loc, "%s: %d weights given for %d classes", fn, a[2].n, classes);
            return v_err();
        }
        float *data = nc_arena_array(E->a, (size_t)classes, sizeof *data);
        for (int i = 0; i < classes; i++) {
            double x;
            if (!want_num(E, &a[2].items[i], fn, "weights", &x))
                return v_err();
            if (x < 0 || !isfinite(x)) {
                error(E, a[2].items[i].loc, "%s: weight %g of class %d must be finite and >= 0", fn, x, i);
                return v_err();
            }
            if (clip_hi > 0)
                x = x < clip_lo ? clip_lo : x > clip_hi ? clip_hi : x;
            data[i] = (float)x;
        }
        wt = nc_graph_tensor(E->g, op_name(E, "class_weights"), NG_F32, NG_ROLE_CONST, 1, wd, call->loc);
        E->g->tensors[wt].t.init = NG_INIT_DATA;
        E->g->tensors[wt].t.data = data;
    } else {
        int scheme = 0;
        if (!is_none(&a[2]) && !want_choice(E, &a[2], fn, "weights", weight_names, &scheme))
            return v_err();
        if (scheme > 0 && (wt = computed_weights(E, fn, scheme - 1, clip_lo, clip_hi, call->loc)) < 0)
            return v_err();
    }
    int32_t in[3] = {a[0].t, a[1].t, wt}, ia[NG_MAX_IA] = {ignore};
    return emit(E, call->loc, NG_OP_CROSS_ENTROPY, 3, in, ia, NULL, "cross_entropy");
}

static const builtin builtins[] = {
    {"conv2d", b_conv2d, 8,
     {{"x", 0}, {"channels", 0}, {"kernel", 0}, {"stride", "1"}, {"pad", "valid"},
      {"bias", "true"}, {"init", "glorot_uniform"}, {"name", "none"}}},
    {"relu", b_relu, 1, {{"x", 0}}},
    {"maxpool", b_maxpool, 2, {{"x", 0}, {"size", "2"}}},
    {"upsample", b_upsample, 2, {{"x", 0}, {"factor", "2"}}},
    {"spatial_dropout", b_spatial_dropout, 2, {{"x", 0}, {"rate", 0}}},
    {"softmax", b_softmax, 2, {{"x", 0}, {"axis", "1"}}},
    {"log_softmax", b_log_softmax, 2, {{"x", 0}, {"axis", "1"}}},
    {"cross_entropy", b_cross_entropy, 5,
     {{"logits", 0}, {"labels", 0}, {"weights", "none"}, {"ignore", "none"}, {"clip", "none"}}},
    {"exp", b_exp, 1, {{"x", 0}}},
    {"log", b_log, 1, {{"x", 0}}},
    {"sqrt", b_sqrt, 1, {{"x", 0}}},
    {"abs", b_abs, 1, {{"x", 0}}},
    {"pow", b_pow, 2, {{"x", 0}, {"p", 0}}},
    {"clamp", b_clamp, 3, {{"x", 0}, {"lo", 0}, {"hi", 0}}},
    {"min", b_min, 2, {{"x", 0}, {"c", 0}}},
    {"max", b_max, 2, {{"x", 0}, {"c", 0}}},
    {"sum", b_sum, 3, {{"x", 0}, {"axis", "none"}, {"keepdims", "false"}}},
    {"mean", b_mean, 3, {{"x", 0}, {"axis", "none"}, {"keepdims", "false"}}},
    {"one_hot", b_one_hot, 3, {{"labels", 0}, {"classes", "none"}, {"ignore", "none"}}},
    {"valid_mask", b_valid_mask, 2, {{"labels", 0}, {"ignore", "none"}}},
    {"stop_gradient", b_stop_gradient, 1, {{"x", 0}}},
    {"reshape", b_reshape, 2, {{"x", 0}, {"shape", 0}}},
    {"slice", b_slice, 4, {{"x", 0}, {"start", 0}, {"end", "none"}, {"axis", "1"}}},
    {"class_weights", b_class_weights, 2, {{"scheme", "balanced"}, {"clip", "none"}}},
};

static const builtin *find_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

/* concat(a, b, ...): variadic, channels */
static value call_concat(elab *E, const nc_expr *call)
{
    int32_t in[NG_MAX_IN];
    if (call->n_args < 1 || call->n_args > NG_MAX_IN) {
        error(E, call->loc, "concat takes 1 to %d tensors, got %d", NG_MAX_IN, call->n_args);
        return v_err();
    }
    for (int i = 0; i < call->n_args; i++) {
        if (call->args[i].key) {
            error(E, call->args[i].key_loc, "concat takes no keyword arguments");
            return v_err();
        }
        value v = eval(E, call->args[i].value);
        if (!want_4d(E, &v, "concat"))
            return v_err();
        in[i] = v.t;
    }
    if (call->n_args == 1)
        return tensor_value(in[0], call->loc);
    return emit(E, call->loc, NG_OP_CONCAT, call->n_args, in, NULL, NULL, "concat");
}

/* --- statements and user functions ------------------------------------- */

static void exec_block(elab *E, const nc_stmt *s);
static void exec_import(elab *E, const nc_stmt *s);

static value call_user(elab *E, const nc_expr *call, func *f, const char *hint)
{
    const nc_stmt *def = f->def;
    const char *names[MAX_PARAMS];
    value args[MAX_PARAMS];
    int given[MAX_PARAMS];
    for (int i = 0; i < def->n_params; i++)
        names[i] = def->params[i].name;
    if (!bind_args(E, call, def->name, def->n_params, names, args, given))
        return v_err();
    for (int i = 0; i < def->n_params; i++) {
        if (given[i])
            continue;
        if (!def->params[i].def) {
            error(E, call->loc, "%s: missing argument '%s'", def->name, def->params[i].name);
            return v_err();
        }
        args[i] = eval(E, def->params[i].def);
        if (args[i].k == V_ERR)
            return v_err();
    }
    if (E->depth >= MAX_DEPTH) {
        error(E, call->loc, "%s: calls nested deeper than %d (unbounded recursion?)", def->name, MAX_DEPTH);
        return v_err();
    }
    frame fr = {0};
    fr.fn = def->name;
    fr.call_loc = call->loc;
    fr.path = child_path(E, hint ? hint : def->name);
    fr.parent = E->top;
    for (int i = 0; i < def->n_params; i++)
        bind(E, &fr.locals, def->params[i].name, args[i], 0, def->params[i].loc);
    E->top = &fr;
    E->depth++;
    int errors = E->d->n_errors;
    exec_block(E, def->body);
    E->depth--;
    E->top = fr.parent;
    if (E->d->n_errors > errors)
        return v_err(); /* reported inside; the caller need not repeat it */
    if (!fr.returned) {
        error(E, call->loc, "%s() returned no value", def->name);
        return v_err();
    }
    return fr.ret;
}

static value eval_call(elab *E, const nc_expr *call)
{
    const char *hint = E->hint;
    E->hint = NULL;
    func *f = find_func(E, call->name);
    if (f)
        return call_user(E, call, f, hint);
    if (strcmp(call->name, "concat") == 0)
        return call_concat(E, call);
    const builtin *b = find_builtin(call->name);
    if (!b) {
        if (strcmp(call->name, "adam") == 0 || strcmp(call->name, "sgd") == 0)
            error(E, call->loc, "%s is an optimizer: use it as 'minimize LOSS with %s(...)'",
                  call->name, call->name);
        else if (!E->import_failed) /* else it is likely in the file that failed */
            error(E, call->loc, "unknown function '%s'", call->name);
        return v_err();
    }
    value args[MAX_PARAMS];
    if (!bind_builtin(E, call, b->name, b->n, b->ps, args))
        return v_err();
    return b->fn(E, call, args);
}

/* a + b, a - b, a * b, a / b with a tensor on either side: numbers and
 * lists of numbers become const tensors, shapes broadcast (numpy). */
static value tensor_arith(elab *E, const nc_expr *e, value l, value r)
{
    static const int ops[] = {NG_OP_ADD, NG_OP_SUB, NG_OP_MUL, NG_OP_DIV};
    static const char *const sym[] = {"+", "-", "*", "/"};
    char what[32], err[512];
    snprintf(what, sizeof what, "operator '%s'", sym[e->op]);
    int a, b;
    if (!operand_tensor(E, &l, what, &a) || !operand_tensor(E, &r, what, &b))
        return v_err();
    const char *name = ng_ops[ops[e->op]].name;
    int32_t in[2] = {a, b};
    int t = nc_graph_op(E->g, ops[e->op], 2, in, NULL, NULL, op_name(E, name), NG_ROLE_ACT, e->loc, 0,
                        err, sizeof err);
    if (t < 0) { /* "mul: shapes ..." from the shape rule */
        size_t skip = strlen(name) + 2;
        error(E, e->loc, "%s: %s", what, strncmp(err, name, skip - 2) == 0 ? err + skip : err);
        return v_err();
    }
    return tensor_value(t, e->loc);
}

static value arith(elab *E, const nc_expr *e, value l, value r)
{
    /* `x == none` asks whether x is none (V_NONE from a builtin default or
     * -D, the name none otherwise), whatever x is */
    if ((e->op == NC_OP_EQ || e->op == NC_OP_NE) && (is_none(&l) || is_none(&r))) {
        value v = {0};
        v.k = V_BOOL;
        v.loc = e->loc;
        v.num = (is_none(&l) && is_none(&r)) == (e->op == NC_OP_EQ);
        return v;
    }
    /* names such as `balanced` compare with names and strings */
    int named = (l.k == V_SYM || l.k == V_STR) && (r.k == V_SYM || r.k == V_STR);
    if ((e->op == NC_OP_EQ || e->op == NC_OP_NE) && named) {
        value v = {0};
        v.k = V_BOOL;
        v.loc = e->loc;
        v.num = (strcmp(l.s, r.s) == 0) == (e->op == NC_OP_EQ);
        return v;
    }
    if (!check_defined(E, &l, NULL) || !check_defined(E, &r, NULL))
        return v_err();
    static const char *const opname[] = {"+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">="};
    value v = {0};
    v.loc = e->loc;
    if ((l.k == V_TENSOR || r.k == V_TENSOR) && e->op <= NC_OP_DIV)
        return tensor_arith(E, e, l, r);
    if (e->op == NC_OP_EQ || e->op == NC_OP_NE) {
        int eq;
        if (l.k == V_NUM && r.k == V_NUM)
            eq = l.num == r.num;
        else if (l.k == V_BOOL && r.k == V_BOOL)
            eq = l.num == r.num;
        else if ((l.k == V_STR) && (r.k == V_STR))
            eq = strcmp(l.s, r.s) == 0;
        else {
            error(E, e->loc, "cannot compare %s with %s", kind_name(&l), kind_name(&r));
            return v_err();
        }
        v.k = V_BOOL;
        v.num = e->op == NC_OP_EQ ? eq : !eq;
        return v;
    }
    if (l.k != V_NUM || r.k != V_NUM) {
        error(E, e->loc, "operator '%s' needs numbers, got %s and %s%s", opname[e->op],
              kind_name(&l), kind_name(&r),
              (l.k == V_TENSOR || r.k == V_TENSOR) ? " (tensor arithmetic has + - * /)" : "");
        return v_err();
    }
    double a = l.num, b = r.num;
    int both_int = l.is_int && r.is_int;
    v.k = V_NUM;
    switch (e->op) {
    case NC_OP_ADD: v.num = a + b; v.is_int = both_int; break;
    case NC_OP_SUB: v.num = a - b; v.is_int = both_int; break;
    case NC_OP_MUL: v.num = a * b; v.is_int = both_int; break;
    case NC_OP_DIV:
        if (b == 0) {
            error(E, e->loc, "division by zero");
            return v_err();
        }
        v.num = a / b;
        v.is_int = both_int && fmod(a, b) == 0;
        break;
    case NC_OP_MOD:
        if (b == 0) {
            error(E, e->loc, "division by zero");
            return v_err();
        }
        v.num = fmod(a, b);
        v.is_int = both_int;
        break;
    case NC_OP_LT: v.k = V_BOOL; v.num = a < b; break;
    case NC_OP_LE: v.k = V_BOOL; v.num = a <= b; break;
    case NC_OP_GT: v.k = V_BOOL; v.num = a > b; break;
    case NC_OP_GE: v.k = V_BOOL; v.num = a >= b; break;
    default: nc_die("binary op %d", e->op);
    }
    if (v.is_int && fabs(v.num) > 9007199254740992.0) {
        error(E, e->loc, "integer overflow");
        return v_err();
    }
    return v;
}

static int truth(elab *E, value v, int *out)
{
    if (!check_defined(E, &v, NULL))
        return 0;
    if (v.k != V_BOOL) {
        error(E, v.loc, "expected a boolean condition, got %s", kind_name(&v));
        return 0;
    }
    *out = v.num != 0;
    return 1;
}

static value eval(elab *E, const nc_expr *e)
{
    value v = {0};
    v.loc = e->loc;
    switch (e->kind) {
    case NC_E_NUM:
        v.k = V_NUM;
        v.num = e->num;
        v.is_int = e->is_int;
        return v;
    case NC_E_STR:
        v.k = V_STR;
        v.s = e->str;
        return v;
    case NC_E_BOOL:
        v.k = V_BOOL;
        v.num = e->is_true;
        return v;
    case NC_E_NAME: {
        binding *b = lookup(E, e->name);
        if (b) {
            v = b->v;
            v.loc = e->loc;
            return v;
        }
        if (find_func(E, e->name) || find_builtin(e->name)) {
            error(E, e->loc, "'%s' is a function; call it with (...)", e->name);
            return v_err();
        }
        if (strcmp(e->name, "none") == 0) { /* a value: may be assigned, returned */
            v.k = V_NONE;
            return v;
        }
        v.k = V_SYM;
        v.s = e->name;
        return v;
    }
    case NC_E_LIST:
        v.k = V_LIST;
        v.n = e->n_items;
        v.items = nc_arena_array(E->a, (size_t)(e->n_items ? e->n_items : 1), sizeof *v.items);
        for (int i = 0; i < e->n_items; i++) {
            v.items[i] = eval(E, e->items[i]);
            if (v.items[i].k == V_ERR)
                return v_err();
        }
        return v;
    case NC_E_UNARY: {
        value x = eval(E, e->lhs);
        if (!check_defined(E, &x, NULL))
            return v_err();
        if (e->op == NC_OP_NEG && x.k == V_NUM) {
            x.num = -x.num;
            x.loc = e->loc;
            return x;
        }
        if (e->op == NC_OP_NEG && x.k == V_TENSOR) {
            if (!want_f32(E, &x, "operator '-'", "x"))
                return v_err();
            int32_t in[1] = {x.t};
            return emit(E, e->loc, NG_OP_NEG, 1, in, NULL, NULL, "neg");
        }
        if (e->op == NC_OP_NOT && x.k == V_BOOL) {
            x.num = !x.num;
            x.loc = e->loc;
            return x;
        }
        error(E, e->loc, "operator '%s' cannot apply to %s", e->op == NC_OP_NEG ? "-" : "not",
              kind_name(&x));
        return v_err();
    }
    case NC_E_BINARY: {
        if (e->op == NC_OP_AND || e->op == NC_OP_OR) {
            int a, b;
            if (!truth(E, eval(E, e->lhs), &a))
                return v_err();
            v.k = V_BOOL;
            if (e->op == NC_OP_AND ? !a : a) {
                v.num = a;
                return v;
            }
            if (!truth(E, eval(E, e->rhs), &b))
                return v_err();
            v.num = b;
            return v;
        }
        value l = eval(E, e->lhs);
        if (l.k == V_ERR)
            return l;
        value r = eval(E, e->rhs);
        if (r.k == V_ERR)
            return r;
        return arith(E, e, l, r);
    }
    case NC_E_CALL:
        return eval_call(E, e);
    }
    nc_die("expression kind %d", e->kind);
}

/* Evaluate the right-hand side of an assignment to `name`: a direct call
 * of a user function takes `name` as its scope. */
/* Can evaluating e create ops (which take their names from the scope)?
 * Calls can, and so can operators (tensor arithmetic); names and numbers
 * cannot. */
static int may_create_ops(const nc_expr *e)
{
    switch (e->kind) {
    case NC_E_CALL:
    case NC_E_BINARY:
    case NC_E_UNARY:
        return 1;
    case NC_E_LIST:
        for (int i = 0; i < e->n_items; i++)
            if (may_create_ops(e->items[i]))
                return 1;
        return 0;
    default:
        return 0;
    }
}

static value eval_rhs(elab *E, const char *name, const nc_expr *e)
{
    if (E->top->fn) {
        E->hint = e->kind == NC_E_CALL ? name : NULL;
        value v = eval(E, e);
        E->hint = NULL;
        return v;
    }
    /* top level: a pseudo-frame named after the target */
    frame fr = *E->top;
    frame *saved = E->top;
    if (e->kind == NC_E_CALL && find_func(E, e->name)) {
        E->hint = name;
        value v = eval(E, e);
        E->hint = NULL;
        return v;
    }
    if (!may_create_ops(e)) /* a plain name or number: no scope */
        return eval(E, e);
    fr.path = child_path(E, name);
    fr.counters = NULL;
    E->top = &fr;
    value v = eval(E, e);
    E->top = saved;
    return v;
}

static value eval_const_define(elab *E, const nc_stmt *s, int *overridden)
{
    *overridden = 0;
    for (int i = 0; i < E->n_defs; i++) {
        if (strcmp(E->defs[i].name, s->name) != 0)
            continue;
        E->defs[i].used = 1;
        *overridden = 1;
        return default_value(E->defs[i].value, s->loc);
    }
    return eval(E, s->value);
}

static void exec_input(elab *E, const nc_stmt *s)
{
    int32_t dim[NG_MAX_DIMS];
    int want = s->type == NC_TY_F32 ? 4 : 3;
    if (s->n_dims != want) {
        error(E, s->loc, "input %s: %s inputs have %d dimensions (%s), got %d", s->name,
              s->type == NC_TY_F32 ? "f32" : "labels", want,
              s->type == NC_TY_F32 ? "N, C, H, W" : "N, H, W", s->n_dims);
        return;
    }
    for (int i = 0; i < want; i++) {
        value v = eval(E, s->dims[i]);
        int x;
        if (!want_int(E, &v, "input", "dimension", 1, 1 << 20, &x))
            return;
        dim[i] = x;
    }
    nc_graph *g = E->g;
    int *slot = s->type == NC_TY_F32 ? &g->bind.image : &g->bind.labels;
    if (*slot >= 0) {
        error(E, s->name_loc, "input %s: netrun feeds one image and one labels input; '%s' is already the %s input",
              s->name, T(E, *slot)->name, s->type == NC_TY_F32 ? "image" : "labels");
        return;
    }
    if (s->type == NC_TY_LABELS) {
        value c = eval(E, s->classes);
        int classes;
        if (!want_int(E, &c, "input", "classes", 2, NG_MAX_CLASSES - 1, &classes))
            return;
        g->bind.classes = classes;
    }
    int t = nc_graph_tensor(g, s->name, s->type == NC_TY_F32 ? NG_F32 : NG_I32, NG_ROLE_INPUT,
                            want, dim, s->loc);
    *slot = t;
    if (g->bind.image >= 0 && g->bind.labels >= 0) {
        const ng_tensor *im = T(E, g->bind.image), *lb = T(E, g->bind.labels);
        if (im->dim[0] != lb->dim[0] || im->dim[2] != lb->dim[1] || im->dim[3] != lb->dim[2]) {
            char a[64], b[64];
            error(E, s->loc, "input %s: labels %s do not match the image %s (N, H, W)", s->name,
                  nc_shape_str(lb, a, sizeof a), nc_shape_str(im, b, sizeof b));
            return;
        }
    }
    bind(E, &E->globals, s->name, tensor_value(t, s->loc), 1, s->loc);
}

static void exec_minimize(elab *E, const nc_stmt *s)
{
    nc_graph *g = E->g;
    if (g->bind.loss >= 0) {
        error(E, s->loc, "a model has one 'minimize' statement");
        return;
    }
    value l = eval_rhs(E, "loss", s->value);
    if (l.k == V_ERR || !want_tensor(E, &l, "minimize", "loss"))
        return;
    if (ng_tensor_nelem(T(E, l.t)) != 1 || T(E, l.t)->dtype != NG_F32) {
        char sh[64];
        error(E, s->value->loc, "minimize: the loss must be a scalar, got %s",
              nc_shape_str(T(E, l.t), sh, sizeof sh));
        return;
    }
    const nc_expr *c = s->value2;
    static const pspec adam_ps[] = {{"lr", "0.001"}, {"beta1", "0.9"}, {"beta2", "0.999"},
                                    {"eps", "1e-7"}, {"clip", "0"}};
    static const pspec sgd_ps[] = {{"lr", "0.01"}, {"momentum", "0"}, {"clip", "0"}};
    value a[MAX_PARAMS];
    int n;
    if (c->kind != NC_E_CALL || (strcmp(c->name, "adam") && strcmp(c->name, "sgd"))) {
        error(E, c->loc, "unknown optimizer%s%s (expected adam(...) or sgd(...))",
              c->kind == NC_E_CALL ? " " : "", c->kind == NC_E_CALL ? c->name : "");
        return;
    }
    int adam = strcmp(c->name, "adam") == 0;
    n = adam ? 5 : 3;
    if (!bind_builtin(E, c, c->name, n, adam ? adam_ps : sgd_ps, a))
        return;
    for (int i = 0; i < n; i++) {
        double x;
        const char *pn = adam ? adam_ps[i].name : sgd_ps[i].name;
        if (!want_num(E, &a[i], c->name, pn, &x))
            return;
        int bad = x < 0 || !isfinite(x) || (i == 0 && x == 0) ||
                  (adam && (i == 1 || i == 2) && x >= 1) || (!adam && i == 1 && x >= 1) ||
                  (adam && i == 3 && x <= 0);
        if (bad) {
            error(E, a[i].loc, "%s: %s = %g is out of range", c->name, pn, x);
            return;
        }
        g->opt_fa[i] = (float)x;
    }
    g->opt = adam ? NC_OPT_ADAM : NC_OPT_SGD;
    g->bind.loss = l.t;
    g->loss_loc = s->loc;
}

/* input, output and minimize belong to the model file netc compiles: an
 * imported file holds consts, functions and other top-level statements. */
static int model_file_only(elab *E, const nc_stmt *s, const char *what)
{
    if (!E->imports || !E->imports->up)
        return 1;
    error(E, s->loc, "'%s' is only allowed in the model file, not in an imported file", what);
    return 0;
}

static void exec_stmt(elab *E, const nc_stmt *s)
{
    frame *f = E->top;
    if ((s->kind == NC_S_INPUT && !model_file_only(E, s, "input")) ||
        (s->kind == NC_S_OUTPUT && !model_file_only(E, s, "output")) ||
        (s->kind == NC_S_MINIMIZE && !model_file_only(E, s, "minimize")))
        return;
    switch (s->kind) {
    case NC_S_CONST: {
        if (f->fn) {
            error(E, s->loc, "'const' is only allowed at top level");
            return;
        }
        binding *old = lookup_in(E->globals, s->name);
        if (old) {
            error(E, s->name_loc, "'%s' is already defined", s->name);
            return;
        }
        int over;
        value v = eval_const_define(E, s, &over);
        if (v.k == V_TENSOR) {
            error(E, s->value->loc, "const %s: a const is a compile-time value, not a tensor", s->name);
            v = v_err();
        }
        bind(E, &E->globals, s->name, v, 1, s->loc);
        return;
    }
    case NC_S_INPUT: {
        if (f->fn) {
            error(E, s->loc, "'input' is only allowed at top level");
            return;
        }
        if (lookup_in(E->globals, s->name)) {
            error(E, s->name_loc, "'%s' is already defined", s->name);
            return;
        }
        int errors = E->d->n_errors;
        exec_input(E, s);
        if (E->d->n_errors > errors) /* later uses of the name stay quiet */
            bind(E, &E->globals, s->name, v_err(), 1, s->loc);
        return;
    }
    case NC_S_DEF:
        if (f->fn)
            error(E, s->loc, "'def' is only allowed at top level");
        return; /* registered before execution */
    case NC_S_ASSIGN: {
        binding *b = lookup(E, s->name);
        if (b && b->is_const && (!f->fn || lookup_in(E->globals, s->name) == b)) {
            error(E, s->name_loc, "cannot assign to '%s': it is a %s (line %d)", s->name,
                  b->v.k == V_TENSOR ? "model input" : "const", b->loc.first_line);
            return;
        }
        if (find_builtin(s->name) || find_func(E, s->name)) {
            error(E, s->name_loc, "cannot assign to '%s': it names a function", s->name);
            return;
        }
        value v = eval_rhs(E, s->name, s->value);
        if (v.k == V_SYM && !check_defined(E, &v, NULL))
            v = v_err();
        bind(E, f->fn ? &f->locals : &E->globals, s->name, v, 0, s->loc);
        return;
    }
    case NC_S_OUTPUT: {
        if (f->fn) {
            error(E, s->loc, "'output' is only allowed at top level");
            return;
        }
        nc_graph *g = E->g;
        if (g->bind.output >= 0) {
            error(E, s->loc, "a model has one 'output' (netrun predicts one mask)");
            return;
        }
        value v = eval_rhs(E, s->name, s->value);
        if (v.k == V_ERR || !want_tensor(E, &v, "output", s->name))
            return;
        const ng_tensor *t = T(E, v.t);
        if (g->bind.image < 0 || g->bind.classes <= 0) {
            error(E, s->loc, "output %s: declare the image and labels inputs first", s->name);
            return;
        }
        const ng_tensor *im = T(E, g->bind.image);
        if (t->ndim != 4 || t->dim[0] != im->dim[0] || t->dim[1] != g->bind.classes ||
            t->dim[2] != im->dim[2] || t->dim[3] != im->dim[3]) {
            char a[64], b[64];
            snprintf(b, sizeof b, "%dx%dx%dx%d", (int)im->dim[0], g->bind.classes,
                     (int)im->dim[2], (int)im->dim[3]);
            error(E, s->value->loc, "output %s: expected per-pixel class scores %s (N, classes, H, W), got %s",
                  s->name, b, nc_shape_str(t, a, sizeof a));
            return;
        }
        g->bind.output = v.t;
        g->bind.output_name = nc_arena_strdup(E->a, s->name);
        bind(E, &E->globals, s->name, v, 0, s->loc);
        return;
    }
    case NC_S_MINIMIZE:
        if (f->fn) {
            error(E, s->loc, "'minimize' is only allowed at top level");
            return;
        }
        exec_minimize(E, s);
        return;
    case NC_S_RETURN:
        if (!f->fn) {
            error(E, s->loc, "'return' outside a function");
            return;
        }
        f->ret = eval(E, s->value);
        if (f->ret.k == V_SYM && !check_defined(E, &f->ret, NULL))
            f->ret = v_err();
        f->returned = 1;
        return;
    case NC_S_IF: {
        int c;
        if (!truth(E, eval(E, s->value), &c))
            return;
        exec_block(E, c ? s->body : s->else_body);
        return;
    }
    case NC_S_FOR: {
        binding *old = lookup(E, s->name);
        if (old && old->is_const) {
            error(E, s->name_loc, "cannot use '%s' as the loop variable: it is a %s (line %d)", s->name,
                  old->v.k == V_TENSOR ? "model input" : "const", old->loc.first_line);
            return;
        }
        value lo = eval(E, s->value), hi = eval(E, s->value2);
        int a, b;
        if (!want_int(E, &lo, "for", "start", -(1 << 20), 1 << 20, &a) ||
            !want_int(E, &hi, "for", "end", -(1 << 20), 1 << 20, &b))
            return;
        if (b - a > 10000) {
            error(E, s->loc, "for: %d iterations is more than 10000", b - a);
            return;
        }
        for (int i = a; i < b && !f->returned; i++) {
            value v = {0};
            v.k = V_NUM;
            v.is_int = 1;
            v.num = i;
            v.loc = s->name_loc;
            bind(E, f->fn ? &f->locals : &E->globals, s->name, v, 0, s->name_loc);
            exec_block(E, s->body);
        }
        return;
    }
    case NC_S_IMPORT:
        if (f->fn) {
            error(E, s->loc, "'import' is only allowed at top level");
            return;
        }
        exec_import(E, s);
        return;
    }
}

static void exec_block(elab *E, const nc_stmt *s)
{
    int errors = E->d->n_errors;
    for (; s && !E->top->returned; s = s->next) {
        exec_stmt(E, s);
        /* inside a function one error ends the call: later statements
         * would only repeat it */
        if (E->top->fn && E->d->n_errors > errors)
            return;
    }
}

/* Register the functions of one file's top level (hoisted: a file may
 * call a function it defines further down). */
static void register_defs(elab *E, const nc_stmt *prog)
{
    for (const nc_stmt *s = prog; s; s = s->next) {
        if (s->kind != NC_S_DEF)
            continue;
        func *old = find_func(E, s->name);
        if (old || find_builtin(s->name) || strcmp(s->name, "concat") == 0) {
            if (old && old->def->loc.file == s->loc.file) {
                error(E, s->name_loc, "function '%s' is already defined (line %d)", s->name,
                      old->def->name_loc.first_line);
            } else if (old) {
                char where[256];
                nc_loc_str(E->d, old->def->name_loc, where, sizeof where);
                error(E, s->name_loc, "function '%s' is already defined (%s)", s->name, where);
            } else {
                error(E, s->name_loc, "'%s' is a builtin op and cannot be redefined", s->name);
            }
            continue;
        }
        if (s->n_params > MAX_PARAMS) {
            error(E, s->name_loc, "function '%s' has %d parameters; at most %d are allowed", s->name,
                  s->n_params, MAX_PARAMS);
            continue;
        }
        func *f = nc_arena_alloc(E->a, sizeof *f);
        f->def = s;
        f->next = E->funcs;
        E->funcs = f;
    }
}

/* --- imports ----------------------------------------------------------- */

/* The directory part of path, ending in '/', or "" for none. */
static const char *dir_of(nc_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? nc_arena_strndup(a, path, (size_t)(slash - path + 1)) : "";
}

/* path with "." and "dir/.." parts removed, lexically (no file access). */
static const char *normalize(nc_arena *a, const char *path)
{
    size_t n = strlen(path);
    char *out = nc_arena_alloc(a, n + 1);
    size_t len = 0, keep = 0; /* keep: bytes that ".." may not remove */
    if (path[0] == '/')
        out[len++] = '/', keep = 1;
    for (const char *p = path; *p;) {
        const char *e = strchr(p, '/');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if ((k == 1 && p[0] == '.') || k == 0) {
            /* skip */
        } else if (k == 2 && p[0] == '.' && p[1] == '.' && len > keep) {
            size_t cut = len - 1; /* drop the last component */
            while (cut > keep && out[cut - 1] != '/')
                cut--;
            len = cut;
        } else {
            if (len > 0 && out[len - 1] != '/')
                out[len++] = '/';
            memcpy(out + len, p, k);
            len += k;
            if (k == 2 && p[0] == '.' && p[1] == '.')
                keep = len;
        }
        p += k + (e != NULL);
    }
    if (len == 0)
        out[len++] = '.';
    out[len] = 0;
    return out;
}

/* path as shown in an import cycle: relative to the model file's directory. */
static const char *shown_path(elab *E, const char *path)
{
    size_t n = strlen(E->root_dir);
    return n && strncmp(path, E->root_dir, n) == 0 ? path + n : path;
}

static const char *real_path(nc_arena *a, const char *path)
{
    char *r = realpath(path, NULL);
    if (!r)
        return NULL;
    const char *copy = nc_arena_strdup(a, r);
    free(r);
    return copy;
}

/* A whole file into the arena, NUL-terminated; NULL with errno set. */
static char *read_source(nc_arena *a, const char *path, size_t *len)
{
    char *buf = nc_read_file(path, len);
    if (!buf)
        return NULL;
    char *text = nc_arena_strndup(a, buf, *len);
    free(buf);
    return text;
}

/* import "path": resolved against the importing file's directory; the
 * file's top level runs once, in the global scope; its functions become
 * callable.  A cycle, or input/output/minimize in it, is an error. */
static void exec_import(elab *E, const nc_stmt *s)
{
    /* path: as the user would write it from here (diagnostics name the
     * file so, like a C compiler's includes); shown: relative to the model
     * file's directory, for the cycle message */
    const char *from = E->d->files[s->loc.file].path;
    const char *path = s->str[0] == '/' ? s->str : nc_arena_printf(E->a, "%s%s", dir_of(E->a, from), s->str);
    const char *shown = shown_path(E, normalize(E->a, path));
    const char *real = real_path(E->a, path);
    if (!real) {
        error(E, s->loc, "cannot import '%s': %s", s->str, strerror(errno));
        E->import_failed = 1;
        return;
    }
    for (import_frame *f = E->imports; f; f = f->up) {
        if (!f->real || strcmp(f->real, real) != 0)
            continue;
        /* the chain from f down to this file, then f again */
        const char *chain = shown;
        for (import_frame *g = E->imports;; g = g->up) {
            chain = nc_arena_printf(E->a, "%s -> %s", g->shown, chain);
            if (g == f)
                break;
        }
        error(E, s->loc, "import cycle: %s", chain);
        return;
    }
    for (imported *i = E->done; i; i = i->next)
        if (strcmp(i->real, real) == 0)
            return; /* already imported: once is enough */
    size_t len;
    char *text = read_source(E->a, path, &len);
    if (!text) {
        error(E, s->loc, "cannot import '%s': %s", s->str, strerror(errno));
        E->import_failed = 1;
        return;
    }
    int file = nc_diag_add_file(E->d, path, text, len);
    if (file < 0) {
        error(E, s->loc, "cannot import '%s': more than %d source files", s->str, NC_DIAG_MAX_FILES);
        E->import_failed = 1;
        return;
    }
    imported *done = nc_arena_alloc(E->a, sizeof *done);
    done->real = real;
    done->next = E->done;
    E->done = done;
    int errors = E->d->n_errors;
    nc_stmt *prog = nc_parse(E->a, E->d, file);
    if (E->d->n_errors > errors) {
        E->import_failed = 1;
        return;
    }
    import_frame fr = {real, shown, s->loc, E->imports};
    E->imports = &fr;
    register_defs(E, prog);
    exec_block(E, prog);
    E->imports = fr.up;
}

int nc_elaborate(nc_graph *g, nc_diag *d, nc_stmt *prog, nc_define *defs, int n_defs)
{
    elab E = {0};
    frame top = {0};
    top.path = "";
    E.g = g;
    E.d = d;
    E.a = g->arena;
    E.top = &top;
    E.defs = defs;
    E.n_defs = n_defs;
    /* the model file is the bottom of the import stack */
    const char *root = d->files[prog ? prog->loc.file : 0].path;
    E.root_dir = normalize(E.a, dir_of(E.a, root));
    E.root_dir = strcmp(E.root_dir, ".") ? nc_arena_printf(E.a, "%s%s", E.root_dir,
                                                           strcmp(E.root_dir, "/") ? "/" : "")
                                         : "";
    import_frame model = {real_path(E.a, root), shown_path(&E, normalize(E.a, root)), {0}, NULL};
    E.imports = &model;
    if (model.real) {
        imported *self = nc_arena_alloc(E.a, sizeof *self);
        self->real = model.real;
        E.done = self;
    }
    register_defs(&E, prog);
    exec_block(&E, prog);
    for (int i = 0; i < n_defs; i++)
        if (!defs[i].used) {
            fprintf(d->out, "netc: error: -D %s: the model has no const %s\n", defs[i].name, defs[i].name);
            d->n_errors++;
        }
    if (d->n_errors)
        return -1;
    if (g->bind.output < 0) {
        fprintf(d->out, "%s: error: the model has no 'output' statement\n", d->files[0].path);
        d->n_errors++;
        return -1;
    }
    return 0;
}
