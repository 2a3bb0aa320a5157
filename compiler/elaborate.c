/* elaborate.c — evaluate a model file down to a flat forward graph
 * (nc_elaborate; its statements run in statements.c).  Values are numbers,
 * booleans, strings, symbols (bare names that are not bound, such as `same`
 * or `balanced`), tensors and lists.  Builtin ops are one table
 * (builtins.c); user functions bind arguments the same way.
 * Tensor arithmetic broadcasts (numbers and lists become const tensors);
 * `import` runs another file's top level in the same global scope, once.
 * Parameter names come from the source: the assignment target or function
 * name of each call level, then the op and its ordinal (`e1.conv2.weight`). */
#include "elab.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- names ------------------------------------------------------------- */

int el_bump(nc_arena *a, counter **list, const char *key)
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
const char *el_op_name(elab *E, const char *base)
{
    int k = el_bump(E->a, &E->top->counters, base);
    if (E->top->path[0])
        return nc_arena_printf(E->a, "%s.%s%d", E->top->path, base, k);
    return nc_arena_printf(E->a, "%s%d", base, k);
}

/* The path of a child scope called `name` in the current frame, unique. */
const char *el_child_path(elab *E, const char *name)
{
    counter **list = E->top->path[0] ? &E->top->counters : &E->top_names;
    char *key = nc_arena_printf(E->a, "scope:%s", name);
    int k = el_bump(E->a, list, key);
    const char *leaf = k == 1 ? name : nc_arena_printf(E->a, "%s_%d", name, k);
    if (E->top->path[0])
        return nc_arena_printf(E->a, "%s.%s", E->top->path, leaf);
    return leaf;
}

/* --- environment ------------------------------------------------------- */

binding *el_lookup_in(binding *b, const char *name)
{
    for (; b; b = b->next)
        if (strcmp(b->name, name) == 0)
            return b;
    return NULL;
}

binding *el_lookup(elab *E, const char *name)
{
    binding *b = E->top->fn ? el_lookup_in(E->top->locals, name) : NULL;
    return b ? b : el_lookup_in(E->globals, name);
}

void el_bind(elab *E, binding **scope, const char *name, value v, int is_const, nc_loc loc)
{
    binding *b = el_lookup_in(*scope, name);
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

func *el_find_func(elab *E, const char *name)
{
    for (func *f = E->funcs; f; f = f->next)
        if (strcmp(f->def->name, name) == 0)
            return f;
    return NULL;
}

/* --- tensors ----------------------------------------------------------- */


/* Emit an op; on a shape error report it at loc with the call chain. */
value el_emit_named(elab *E, nc_loc loc, int op, int n_in, const int32_t *in, const int32_t *ia, const float *fa,
                    const char *name)
{
    char err[512];
    int t = nc_graph_op(E->g, op, n_in, in, ia, fa, name, NG_ROLE_ACT, loc, 0, err, sizeof err);
    if (t < 0) {
        el_error(E, loc, "%s", err);
        return el_v_err();
    }
    return el_tensor_value(t, loc);
}

value el_emit(elab *E, nc_loc loc, int op, int n_in, const int32_t *in, const int32_t *ia, const float *fa,
              const char *base)
{
    return el_emit_named(E, loc, op, n_in, in, ia, fa, el_op_name(E, base));
}

/* --- argument binding -------------------------------------------------- */


/* A default written as text: numbers, true/false, or a symbol. */
value el_default_value(const char *text, nc_loc loc)
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
                el_error(E, arg->value->loc, "too many arguments to %s (it takes %d)", fn, n);
                return 0;
            }
            slot = pos++;
        } else {
            for (int i = 0; i < n; i++)
                if (strcmp(names[i], arg->key) == 0)
                    slot = i;
            if (slot < 0) {
                el_error(E, arg->key_loc, "%s has no parameter '%s'", fn, arg->key);
                ok = 0;
                continue;
            }
            if (given[slot]) {
                el_error(E, arg->key_loc, "argument '%s' of %s given twice", arg->key, fn);
                ok = 0;
                continue;
            }
        }
        given[slot] = 1;
        out[slot] = el_eval(E, arg->value);
        if (out[slot].k == V_ERR)
            ok = 0;
    }
    return ok;
}

int el_bind_builtin(elab *E, const nc_expr *call, const char *fn, int n,
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
            el_error(E, call->loc, "%s: missing argument '%s'", fn, ps[i].name);
            return 0;
        }
        out[i] = el_default_value(ps[i].def, call->loc);
    }
    return 1;
}

/* --- user functions and expressions ------------------------------------ */


static value call_user(elab *E, const nc_expr *call, func *f, const char *hint)
{
    const nc_stmt *def = f->def;
    const char *names[MAX_PARAMS];
    value args[MAX_PARAMS];
    int given[MAX_PARAMS];
    for (int i = 0; i < def->n_params; i++)
        names[i] = def->params[i].name;
    if (!bind_args(E, call, def->name, def->n_params, names, args, given))
        return el_v_err();
    for (int i = 0; i < def->n_params; i++) {
        if (given[i])
            continue;
        if (!def->params[i].def) {
            el_error(E, call->loc, "%s: missing argument '%s'", def->name, def->params[i].name);
            return el_v_err();
        }
        args[i] = el_eval(E, def->params[i].def);
        if (args[i].k == V_ERR)
            return el_v_err();
    }
    if (E->depth >= MAX_DEPTH) {
        el_error(E, call->loc, "%s: calls nested deeper than %d (unbounded recursion?)", def->name, MAX_DEPTH);
        return el_v_err();
    }
    frame fr = {0};
    fr.fn = def->name;
    fr.call_loc = call->loc;
    fr.path = el_child_path(E, hint ? hint : def->name);
    fr.parent = E->top;
    for (int i = 0; i < def->n_params; i++)
        el_bind(E, &fr.locals, def->params[i].name, args[i], 0, def->params[i].loc);
    E->top = &fr;
    E->depth++;
    int errors = E->d->n_errors;
    el_exec_block(E, def->body);
    E->depth--;
    E->top = fr.parent;
    if (E->d->n_errors > errors)
        return el_v_err(); /* reported inside; the caller need not repeat it */
    if (!fr.returned) {
        el_error(E, call->loc, "%s() returned no value", def->name);
        return el_v_err();
    }
    return fr.ret;
}

static value eval_call(elab *E, const nc_expr *call)
{
    const char *hint = E->hint;
    E->hint = NULL;
    func *f = el_find_func(E, call->name);
    if (f)
        return call_user(E, call, f, hint);
    if (strcmp(call->name, "concat") == 0)
        return el_call_concat(E, call);
    const builtin *b = el_find_builtin(call->name);
    if (!b) {
        if (strcmp(call->name, "adam") == 0 || strcmp(call->name, "adamw") == 0 || strcmp(call->name, "sgd") == 0)
            el_error(E, call->loc, "%s is an optimizer: use it as 'minimize LOSS with %s(...)'",
                  call->name, call->name);
        else if (!E->import_failed) /* else it is likely in the file that failed */
            el_error(E, call->loc, "unknown function '%s'", call->name);
        return el_v_err();
    }
    value args[MAX_PARAMS];
    if (!el_bind_builtin(E, call, b->name, b->n, b->ps, args))
        return el_v_err();
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
    if (!el_operand_tensor(E, &l, what, &a) || !el_operand_tensor(E, &r, what, &b))
        return el_v_err();
    const char *name = ng_ops[ops[e->op]].name;
    int32_t in[2] = {a, b};
    int t = nc_graph_op(E->g, ops[e->op], 2, in, NULL, NULL, el_op_name(E, name), NG_ROLE_ACT, e->loc, 0,
                        err, sizeof err);
    if (t < 0) { /* "mul: shapes ..." from the shape rule */
        size_t skip = strlen(name) + 2;
        el_error(E, e->loc, "%s: %s", what, strncmp(err, name, skip - 2) == 0 ? err + skip : err);
        return el_v_err();
    }
    return el_tensor_value(t, e->loc);
}

static value arith(elab *E, const nc_expr *e, value l, value r)
{
    /* `x == none` asks whether x is none (V_NONE from a builtin default or
     * -D, the name none otherwise), whatever x is */
    if ((e->op == NC_OP_EQ || e->op == NC_OP_NE) && (el_is_none(&l) || el_is_none(&r))) {
        value v = {0};
        v.k = V_BOOL;
        v.loc = e->loc;
        v.num = (el_is_none(&l) && el_is_none(&r)) == (e->op == NC_OP_EQ);
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
    if (!el_check_defined(E, &l, NULL) || !el_check_defined(E, &r, NULL))
        return el_v_err();
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
            el_error(E, e->loc, "cannot compare %s with %s", el_kind_name(&l), el_kind_name(&r));
            return el_v_err();
        }
        v.k = V_BOOL;
        v.num = e->op == NC_OP_EQ ? eq : !eq;
        return v;
    }
    if (l.k != V_NUM || r.k != V_NUM) {
        el_error(E, e->loc, "operator '%s' needs numbers, got %s and %s%s", opname[e->op],
              el_kind_name(&l), el_kind_name(&r),
              (l.k == V_TENSOR || r.k == V_TENSOR) ? " (tensor arithmetic has + - * /)" : "");
        return el_v_err();
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
            el_error(E, e->loc, "division by zero");
            return el_v_err();
        }
        v.num = a / b;
        v.is_int = both_int && fmod(a, b) == 0;
        break;
    case NC_OP_MOD:
        if (b == 0) {
            el_error(E, e->loc, "division by zero");
            return el_v_err();
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
        el_error(E, e->loc, "integer overflow");
        return el_v_err();
    }
    return v;
}

int el_truth(elab *E, value v, int *out)
{
    if (!el_check_defined(E, &v, NULL))
        return 0;
    if (v.k != V_BOOL) {
        el_error(E, v.loc, "expected a boolean condition, got %s", el_kind_name(&v));
        return 0;
    }
    *out = v.num != 0;
    return 1;
}

static value eval_node(elab *E, const nc_expr *e);

value el_eval(elab *E, const nc_expr *e)
{
    if (E->eval_depth >= MAX_EVAL_DEPTH) {
        el_error(E, e->loc, "expression nested deeper than %d levels (operators, brackets and calls); split it with "
                 "intermediate names", MAX_EVAL_DEPTH);
        return el_v_err();
    }
    E->eval_depth++;
    value v = eval_node(E, e);
    E->eval_depth--;
    return v;
}

static value eval_node(elab *E, const nc_expr *e)
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
        binding *b = el_lookup(E, e->name);
        if (b) {
            v = b->v;
            v.loc = e->loc;
            return v;
        }
        if (el_find_func(E, e->name) || el_find_builtin(e->name)) {
            el_error(E, e->loc, "'%s' is a function; call it with (...)", e->name);
            return el_v_err();
        }
        if (strcmp(e->name, "none") == 0) { /* a value: may be assigned, returned */
            v.k = V_NONE;
            return v;
        }
        int counter = el_counter(E, e->name, e->loc); /* step, total_steps */
        if (counter >= 0)
            return el_tensor_value(counter, e->loc);
        v.k = V_SYM;
        v.s = e->name;
        return v;
    }
    case NC_E_LIST:
        v.k = V_LIST;
        v.n = e->n_items;
        v.items = nc_arena_array(E->a, (size_t)(e->n_items ? e->n_items : 1), sizeof *v.items);
        for (int i = 0; i < e->n_items; i++) {
            v.items[i] = el_eval(E, e->items[i]);
            if (v.items[i].k == V_ERR)
                return el_v_err();
        }
        return v;
    case NC_E_UNARY: {
        value x = el_eval(E, e->lhs);
        if (!el_check_defined(E, &x, NULL))
            return el_v_err();
        if (e->op == NC_OP_NEG && x.k == V_NUM) {
            x.num = -x.num;
            x.loc = e->loc;
            return x;
        }
        if (e->op == NC_OP_NEG && x.k == V_TENSOR) {
            if (!el_want_f32(E, &x, "operator '-'", "x"))
                return el_v_err();
            int32_t in[1] = {x.t};
            return el_emit(E, e->loc, NG_OP_NEG, 1, in, NULL, NULL, "neg");
        }
        if (e->op == NC_OP_NOT && x.k == V_BOOL) {
            x.num = !x.num;
            x.loc = e->loc;
            return x;
        }
        el_error(E, e->loc, "operator '%s' cannot apply to %s", e->op == NC_OP_NEG ? "-" : "not",
              el_kind_name(&x));
        return el_v_err();
    }
    case NC_E_BINARY: {
        if (e->op == NC_OP_AND || e->op == NC_OP_OR) {
            int a, b;
            if (!el_truth(E, el_eval(E, e->lhs), &a))
                return el_v_err();
            v.k = V_BOOL;
            if (e->op == NC_OP_AND ? !a : a) {
                v.num = a;
                return v;
            }
            if (!el_truth(E, el_eval(E, e->rhs), &b))
                return el_v_err();
            v.num = b;
            return v;
        }
        value l = el_eval(E, e->lhs);
        if (l.k == V_ERR)
            return l;
        value r = el_eval(E, e->rhs);
        if (r.k == V_ERR)
            return r;
        return arith(E, e, l, r);
    }
    case NC_E_CALL:
        return eval_call(E, e);
    }
    nc_die("expression kind %d", e->kind);
}

int nc_elaborate(nc_graph *g, nc_diag *d, nc_stmt *prog, nc_define *defs, int n_defs, nc_read_fn read_file,
                 void *read_ctx, const char *const *import_path, int n_import_path)
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
    E.read_file = read_file;
    E.read_ctx = read_ctx;
    E.import_path = import_path;
    E.n_import_path = n_import_path;
    /* the model file is the bottom of the import stack */
    const char *root = d->files[prog ? prog->loc.file : 0].path;
    E.root_dir = el_normalize(E.a, el_dir_of(E.a, root));
    E.root_dir = strcmp(E.root_dir, ".") ? nc_arena_printf(E.a, "%s%s", E.root_dir,
                                                           strcmp(E.root_dir, "/") ? "/" : "")
                                         : "";
    import_frame model = {el_file_id(&E, root), el_shown_path(&E, el_normalize(E.a, root)), {0}, NULL};
    E.imports = &model;
    if (model.real) {
        imported *self = nc_arena_alloc(E.a, sizeof *self);
        self->real = model.real;
        E.done = self;
    }
    el_register_defs(&E, prog);
    el_exec_block(&E, prog);
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

