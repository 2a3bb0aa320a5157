/* statements.c — executing a model file's statements (elab.h): const,
 * input, assignment, output, minimize, return, if, for, def (registered
 * before the file runs, so a function may be called above its definition),
 * and the statements other files execute (import, option).  Statements
 * that shape the model (input, output, minimize) belong to the model file's
 * top level. */
#include "elab.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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

/* Evaluate the right-hand side of an assignment to `name`: a direct call
 * of a user function takes `name` as its scope. */
static value eval_rhs(elab *E, const char *name, const nc_expr *e)
{
    if (E->top->fn) {
        E->hint = e->kind == NC_E_CALL ? name : NULL;
        value v = el_eval(E, e);
        E->hint = NULL;
        return v;
    }
    /* top level: a pseudo-frame named after the target */
    frame fr = *E->top;
    frame *saved = E->top;
    if (e->kind == NC_E_CALL && el_find_func(E, e->name)) {
        E->hint = name;
        value v = el_eval(E, e);
        E->hint = NULL;
        return v;
    }
    if (!may_create_ops(e)) /* a plain name or number: no scope */
        return el_eval(E, e);
    fr.path = el_child_path(E, name);
    fr.counters = NULL;
    E->top = &fr;
    value v = el_eval(E, e);
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
        value v = el_default_value(E->defs[i].value, s->loc);
        if (v.k == V_NUM && fabs(v.num) > FLT_MAX) {
            el_error(E, s->loc, "-D %s=%s: out of range (f32 holds at most %g)", s->name, E->defs[i].value, FLT_MAX);
            return el_v_err();
        }
        return v;
    }
    return el_eval(E, s->value);
}

static void exec_input(elab *E, const nc_stmt *s)
{
    int32_t dim[NG_MAX_DIMS];
    int want = s->type == NC_TY_F32 ? 4 : 3;
    if (s->n_dims != want) {
        el_error(E, s->loc, "input %s: %s inputs have %d dimensions (%s), got %d", s->name,
              s->type == NC_TY_F32 ? "f32" : "labels", want,
              s->type == NC_TY_F32 ? "N, C, H, W" : "N, H, W", s->n_dims);
        return;
    }
    for (int i = 0; i < want; i++) {
        value v = el_eval(E, s->dims[i]);
        int x;
        if (!el_want_int(E, &v, "input", "dimension", 1, 1 << 20, &x))
            return;
        dim[i] = x;
    }
    nc_graph *g = E->g;
    int *slot = s->type == NC_TY_F32 ? &g->bind.image : &g->bind.labels;
    if (*slot >= 0) {
        el_error(E, s->name_loc, "input %s: netrun feeds one image and one labels input; '%s' is already the %s input",
              s->name, el_T(E, *slot)->name, s->type == NC_TY_F32 ? "image" : "labels");
        return;
    }
    if (s->type == NC_TY_LABELS) {
        value c = el_eval(E, s->classes);
        int classes;
        if (!el_want_int(E, &c, "input", "classes", 2, NG_MAX_CLASSES - 1, &classes))
            return;
        g->bind.classes = classes;
    }
    int t = nc_graph_tensor(g, s->name, s->type == NC_TY_F32 ? NG_F32 : NG_I32, NG_ROLE_INPUT,
                            want, dim, s->loc);
    *slot = t;
    if (g->bind.image >= 0 && g->bind.labels >= 0) {
        const ng_tensor *im = el_T(E, g->bind.image), *lb = el_T(E, g->bind.labels);
        if (im->dim[0] != lb->dim[0] || im->dim[2] != lb->dim[1] || im->dim[3] != lb->dim[2]) {
            char a[64], b[64];
            el_error(E, s->loc, "input %s: labels %s do not match the image %s (N, H, W)", s->name,
                  ng_shape_str(a, lb->ndim, lb->dim), ng_shape_str(b, im->ndim, im->dim));
            return;
        }
    }
    el_bind(E, &E->globals, s->name, el_tensor_value(t, s->loc), 1, s->loc);
}

static void exec_minimize(elab *E, const nc_stmt *s)
{
    nc_graph *g = E->g;
    if (g->bind.loss >= 0) {
        el_error(E, s->loc, "a model has one 'minimize' statement");
        return;
    }
    value l = eval_rhs(E, "loss", s->value);
    if (l.k == V_ERR || !el_want_tensor(E, &l, "minimize", "loss"))
        return;
    if (ng_tensor_nelem(el_T(E, l.t)) != 1 || el_T(E, l.t)->dtype != NG_F32) {
        char sh[64];
        el_error(E, s->value->loc, "minimize: the loss must be a scalar, got %s",
              ng_shape_str(sh, el_T(E, l.t)->ndim, el_T(E, l.t)->dim));
        return;
    }
    int errors = E->d->n_errors;
    el_exec_optimizer(E, s->value2);
    if (E->d->n_errors > errors)
        return;
    g->bind.loss = l.t;
    g->loss_loc = s->loc;
}

/* The statements of a file's top level, not of a function body: their
 * keyword, or NULL for a statement allowed anywhere. */
static const char *top_level_only(int kind)
{
    switch (kind) {
    case NC_S_CONST: return "const";
    case NC_S_INPUT: return "input";
    case NC_S_DEF: return "def";
    case NC_S_OUTPUT: return "output";
    case NC_S_MINIMIZE: return "minimize";
    case NC_S_IMPORT: return "import";
    default: return NULL;
    }
}

static void exec_stmt(elab *E, const nc_stmt *s)
{
    frame *f = E->top;
    if (E->steps >= MAX_STEPS)
        return;
    if (++E->steps == MAX_STEPS) {
        el_error(E, s->loc, "elaboration stopped after %d statements (a loop or a recursion too large?)",
                 MAX_STEPS);
        return;
    }
    /* input, output and minimize belong to the model file netc compiles: an
     * imported file holds consts, functions and other top-level statements */
    const char *top = top_level_only(s->kind);
    if ((s->kind == NC_S_INPUT || s->kind == NC_S_OUTPUT || s->kind == NC_S_MINIMIZE) && E->imports &&
        E->imports->up) {
        el_error(E, s->loc, "'%s' is only allowed in the model file, not in an imported file", top);
        return;
    }
    if (top && f->fn) {
        el_error(E, s->loc, "'%s' is only allowed at top level", top);
        return;
    }
    switch (s->kind) {
    case NC_S_CONST: {
        binding *old = el_lookup_in(E->globals, s->name);
        if (old) {
            el_error(E, s->name_loc, "'%s' is already defined", s->name);
            return;
        }
        int over;
        value v = eval_const_define(E, s, &over);
        if (v.k == V_TENSOR) {
            el_error(E, s->value->loc, "const %s: a const is a compile-time value, not a tensor", s->name);
            v = el_v_err();
        }
        el_bind(E, &E->globals, s->name, v, 1, s->loc);
        return;
    }
    case NC_S_INPUT: {
        if (el_lookup_in(E->globals, s->name)) {
            el_error(E, s->name_loc, "'%s' is already defined", s->name);
            return;
        }
        int errors = E->d->n_errors;
        exec_input(E, s);
        if (E->d->n_errors > errors) /* later uses of the name stay quiet */
            el_bind(E, &E->globals, s->name, el_v_err(), 1, s->loc);
        return;
    }
    case NC_S_DEF:
        return; /* registered before execution */
    case NC_S_ASSIGN: {
        binding *b = el_lookup(E, s->name);
        if (b && b->is_const && (!f->fn || el_lookup_in(E->globals, s->name) == b)) {
            el_error(E, s->name_loc, "cannot assign to '%s': it is a %s (line %d)", s->name,
                  b->v.k == V_TENSOR ? "model input" : "const", b->loc.first_line);
            return;
        }
        if (el_find_builtin(s->name) || el_find_func(E, s->name)) {
            el_error(E, s->name_loc, "cannot assign to '%s': it names a function", s->name);
            return;
        }
        value v = eval_rhs(E, s->name, s->value);
        if (v.k == V_SYM && !el_check_defined(E, &v, NULL))
            v = el_v_err();
        el_bind(E, f->fn ? &f->locals : &E->globals, s->name, v, 0, s->loc);
        return;
    }
    case NC_S_OUTPUT: {
        nc_graph *g = E->g;
        if (g->bind.output >= 0) {
            el_error(E, s->loc, "a model has one 'output' (netrun predicts one mask)");
            return;
        }
        value v = eval_rhs(E, s->name, s->value);
        if (v.k == V_ERR || !el_want_tensor(E, &v, "output", s->name))
            return;
        const ng_tensor *t = el_T(E, v.t);
        if (g->bind.image < 0 || g->bind.classes <= 0) {
            el_error(E, s->loc, "output %s: declare the image and labels inputs first", s->name);
            return;
        }
        const ng_tensor *im = el_T(E, g->bind.image);
        if (t->ndim != 4 || t->dim[0] != im->dim[0] || t->dim[1] != g->bind.classes ||
            t->dim[2] != im->dim[2] || t->dim[3] != im->dim[3]) {
            char a[64], b[64];
            snprintf(b, sizeof b, "%dx%dx%dx%d", (int)im->dim[0], g->bind.classes,
                     (int)im->dim[2], (int)im->dim[3]);
            el_error(E, s->value->loc, "output %s: expected per-pixel class scores %s (N, classes, H, W), got %s",
                  s->name, b, ng_shape_str(a, t->ndim, t->dim));
            return;
        }
        g->bind.output = v.t;
        g->bind.output_name = nc_arena_strdup(E->a, s->name);
        el_bind(E, &E->globals, s->name, v, 0, s->loc);
        return;
    }
    case NC_S_MINIMIZE:
        exec_minimize(E, s);
        return;
    case NC_S_RETURN:
        if (!f->fn) {
            el_error(E, s->loc, "'return' outside a function");
            return;
        }
        f->ret = el_eval(E, s->value);
        if (f->ret.k == V_SYM && !el_check_defined(E, &f->ret, NULL))
            f->ret = el_v_err();
        f->returned = 1;
        return;
    case NC_S_IF: {
        int c;
        if (!el_truth(E, el_eval(E, s->value), &c))
            return;
        el_exec_block(E, c ? s->body : s->else_body);
        return;
    }
    case NC_S_FOR: {
        binding *old = el_lookup(E, s->name);
        if (old && old->is_const) {
            el_error(E, s->name_loc, "cannot use '%s' as the loop variable: it is a %s (line %d)", s->name,
                  old->v.k == V_TENSOR ? "model input" : "const", old->loc.first_line);
            return;
        }
        value lo = el_eval(E, s->value), hi = el_eval(E, s->value2);
        int a, b;
        if (!el_want_int(E, &lo, "for", "start", -(1 << 20), 1 << 20, &a) ||
            !el_want_int(E, &hi, "for", "end", -(1 << 20), 1 << 20, &b))
            return;
        if (b - a > 10000) {
            el_error(E, s->loc, "for: %d iterations is more than 10000", b - a);
            return;
        }
        for (int i = a; i < b && !f->returned && E->steps < MAX_STEPS; i++) {
            value v = {0};
            v.k = V_NUM;
            v.is_int = 1;
            v.num = i;
            v.loc = s->name_loc;
            el_bind(E, f->fn ? &f->locals : &E->globals, s->name, v, 0, s->name_loc);
            el_exec_block(E, s->body);
        }
        return;
    }
    case NC_S_IMPORT:
        el_exec_import(E, s);
        return;
    case NC_S_OPTION:
        el_exec_option(E, s);
        return;
    }
}

void el_exec_block(elab *E, const nc_stmt *s)
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
void el_register_defs(elab *E, const nc_stmt *prog)
{
    for (const nc_stmt *s = prog; s; s = s->next) {
        if (s->kind != NC_S_DEF)
            continue;
        func *old = el_find_func(E, s->name);
        if (old || el_find_builtin(s->name) || strcmp(s->name, "concat") == 0) {
            if (old && old->def->loc.file == s->loc.file) {
                el_error(E, s->name_loc, "function '%s' is already defined (line %d)", s->name,
                      old->def->name_loc.first_line);
            } else if (old) {
                char where[256];
                nc_loc_str(E->d, old->def->name_loc, where, sizeof where);
                el_error(E, s->name_loc, "function '%s' is already defined (%s)", s->name, where);
            } else {
                el_error(E, s->name_loc, "'%s' is a builtin op and cannot be redefined", s->name);
            }
            continue;
        }
        if (s->n_params > MAX_PARAMS) {
            el_error(E, s->name_loc, "function '%s' has %d parameters; at most %d are allowed", s->name,
                  s->n_params, MAX_PARAMS);
            continue;
        }
        func *f = nc_arena_alloc(E->a, sizeof *f);
        f->def = s;
        f->next = E->funcs;
        E->funcs = f;
    }
}
