/* optim.c — optimizers and learning-rate schedules in the language.
 * The optimizer of `minimize LOSS with adam|adamw|sgd(...)` becomes the
 * graph's opt_* fields (the attributes of the update ops autodiff.c
 * appends); the schedules poly, cosine and warmup are builtins that build
 * scalar tensor arithmetic on the counters `step` and `total_steps`, f32
 * scalar inputs that netrun feeds before every run (bind.step,
 * bind.total_steps), and a schedule is passed as the optimizer's lr. */
#include "elab.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The description of a schedule tensor, for `netrun info`. */
typedef struct el_sched {
    int t;
    const char *desc;
    struct el_sched *next;
} el_sched;

static const char *sched_desc(elab *E, int t)
{
    for (const el_sched *s = E->scheds; s; s = s->next)
        if (s->t == t)
            return s->desc;
    return NULL;
}

static value described(elab *E, value v, const char *desc)
{
    if (v.k != V_TENSOR)
        return v;
    el_sched *s = nc_arena_alloc(E->a, sizeof *s);
    s->t = v.t;
    s->desc = desc;
    s->next = E->scheds;
    E->scheds = s;
    return v;
}

int el_counter(elab *E, const char *name, nc_loc loc)
{
    int32_t *slot = strcmp(name, "step") == 0          ? &E->g->bind.step
                    : strcmp(name, "total_steps") == 0 ? &E->g->bind.total_steps
                                                       : NULL;
    if (!slot)
        return -1;
    if (*slot < 0)
        *slot = nc_graph_tensor(E->g, name, NG_F32, NG_ROLE_INPUT, 0, NULL, loc);
    return *slot;
}

/* --- scalar arithmetic for the schedules --------------------------------- */

static int num_t(elab *E, double x, nc_loc loc)
{
    value v = {0};
    v.k = V_NUM;
    v.num = x;
    v.loc = loc;
    int t;
    if (!el_operand_tensor(E, &v, "schedule", &t))
        return -1;
    return t;
}

/* a OP b, either may be -1 (an earlier failure: stays -1) */
static int bin(elab *E, int op, int a, int b, nc_loc loc, const char *base)
{
    if (a < 0 || b < 0)
        return -1;
    int32_t in[2] = {a, b};
    value v = el_emit(E, loc, op, 2, in, NULL, NULL, base);
    return v.k == V_TENSOR ? v.t : -1;
}

static int un(elab *E, int op, int x, float a, float b, nc_loc loc, const char *base)
{
    if (x < 0)
        return -1;
    int32_t in[1] = {x};
    float fa[NG_MAX_FA] = {a, b};
    value v = el_emit(E, loc, op, 1, in, NULL, fa, base);
    return v.k == V_TENSOR ? v.t : -1;
}

static value tensor_or_err(int t, nc_loc loc) { return t < 0 ? el_v_err() : el_tensor_value(t, loc); }

/* A learning rate: a number > 0, or (tensors allowed) an f32 scalar tensor. */
static int want_lr(elab *E, const value *v, const char *fn, int tensors, double *x)
{
    if (v->k == V_ERR)
        return 0;
    if (tensors && v->k == V_TENSOR) {
        char sh[64];
        const ng_tensor *t = el_T(E, v->t);
        if (t->dtype != NG_F32 || ng_tensor_nelem(t) != 1) {
            el_error(E, v->loc, "%s: lr must be one f32 element, got %s%s", fn,
                     t->dtype == NG_F32 ? "" : "labels ", ng_shape_str(sh, t->ndim, t->dim));
            return 0;
        }
        return 1;
    }
    if (v->k != V_NUM) {
        if (!el_check_defined(E, v, "lr"))
            return 0;
        el_error(E, v->loc, "%s: lr must be a number%s, got %s", fn,
                 tensors ? " or a schedule (a scalar tensor)" : "", el_kind_name(v));
        return 0;
    }
    if (!(v->num > 0) || !(v->num <= FLT_MAX)) {
        el_error(E, v->loc, "%s: lr = %g is out of range (expected > 0%s)", fn, v->num,
                 v->num > 0 ? ", f32 holds at most 3.40282e+38" : "");
        return 0;
    }
    *x = v->num;
    return 1;
}

/* A number in [lo, hi) (hi_open) or [lo, hi]; gt: lo itself excluded. */
static int want_range(elab *E, const value *v, const char *fn, const char *arg, double lo, int gt,
                      double hi, int hi_open, double *x)
{
    if (!el_want_num(E, v, fn, arg, x))
        return 0;
    double y = *x;
    int ok = fabs(y) <= FLT_MAX && (gt ? y > lo : y >= lo) && (hi_open ? y < hi : y <= hi);
    if (ok)
        return 1;
    char want[64];
    if (isinf(hi))
        snprintf(want, sizeof want, "%s %g%s", gt ? ">" : ">=", lo,
                 y > FLT_MAX ? ", f32 holds at most 3.40282e+38" : "");
    else
        snprintf(want, sizeof want, "%s%g, %g%s", gt ? "(" : "[", lo, hi, hi_open ? ")" : "]");
    el_error(E, v->loc, "%s: %s = %g is out of range (expected %s)", fn, arg, y, want);
    return 0;
}

/* lr * min(1, (step + 1) / n): the linear warmup over the first n steps. */
static int warmup_of(elab *E, int lr, int n, nc_loc loc)
{
    int s = el_counter(E, "step", loc);
    int f = bin(E, NG_OP_DIV, bin(E, NG_OP_ADD, s, num_t(E, 1, loc), loc, "warmup"), num_t(E, n, loc), loc,
                "warmup");
    return bin(E, NG_OP_MUL, lr, un(E, NG_OP_CLAMP, f, 0.0f, 1.0f, loc, "warmup"), loc, "warmup");
}

/* step / total_steps, the run's progress in [0, 1) */
static int progress(elab *E, nc_loc loc, const char *base)
{
    return bin(E, NG_OP_DIV, el_counter(E, "step", loc), el_counter(E, "total_steps", loc), loc, base);
}

static int want_warmup(elab *E, const value *v, const char *fn, int *n)
{
    return el_want_int(E, v, fn, "warmup", 0, 1 << 30, n);
}

static const char *with_warmup(elab *E, const char *desc, int n)
{
    return n ? nc_arena_printf(E->a, "%s, warmup = %d)", desc, n) : nc_arena_printf(E->a, "%s)", desc);
}

/* poly(lr, power = 0.9, warmup = 0): lr * (1 - step/total_steps)^power
 * (nnU-Net's PolyLRScheduler), times the warmup. */
static value b_poly(elab *E, const nc_expr *call, value *a)
{
    double lr, power;
    int n;
    if (!want_lr(E, &a[0], "poly", 0, &lr) || !want_range(E, &a[1], "poly", "power", 0, 1, HUGE_VAL, 0, &power) ||
        !want_warmup(E, &a[2], "poly", &n))
        return el_v_err();
    nc_loc l = call->loc;
    int r = bin(E, NG_OP_SUB, num_t(E, 1, l), progress(E, l, "poly"), l, "poly");
    r = un(E, NG_OP_CLAMP, r, 0.0f, 1.0f, l, "poly");
    if (power != 1)
        r = un(E, NG_OP_POW, r, (float)power, 0, l, "poly");
    int y = bin(E, NG_OP_MUL, r, num_t(E, lr, l), l, "poly");
    if (n)
        y = warmup_of(E, y, n, l);
    return described(E, tensor_or_err(y, l),
                     with_warmup(E, nc_arena_printf(E->a, "poly(%g, power = %g", lr, power), n));
}

/* cosine(lr, min = 0, warmup = 0): min + (lr - min)/2 (1 + cos(pi
 * step/total_steps)) (CosineAnnealingLR over the run), times the warmup. */
static value b_cosine(elab *E, const nc_expr *call, value *a)
{
    double lr, lo;
    int n;
    if (!want_lr(E, &a[0], "cosine", 0, &lr) || !want_range(E, &a[1], "cosine", "min", 0, 0, lr, 1, &lo) ||
        !want_warmup(E, &a[2], "cosine", &n))
        return el_v_err();
    nc_loc l = call->loc;
    int c = un(E, NG_OP_COS, bin(E, NG_OP_MUL, progress(E, l, "cosine"), num_t(E, 3.14159265358979323846, l), l, "cosine"), 0, 0,
               l, "cosine");
    int y = bin(E, NG_OP_MUL, bin(E, NG_OP_ADD, c, num_t(E, 1, l), l, "cosine"), num_t(E, (lr - lo) / 2, l), l,
                "cosine");
    if (lo > 0)
        y = bin(E, NG_OP_ADD, y, num_t(E, lo, l), l, "cosine");
    if (n)
        y = warmup_of(E, y, n, l);
    return described(E, tensor_or_err(y, l),
                     with_warmup(E, nc_arena_printf(E->a, "cosine(%g, min = %g", lr, lo), n));
}

/* warmup(lr, steps): any learning rate (a number or a schedule) times
 * min(1, (step + 1) / steps). */
static value b_warmup(elab *E, const nc_expr *call, value *a)
{
    double lr = 0;
    int n;
    if (!want_lr(E, &a[0], "warmup", 1, &lr) || !el_want_int(E, &a[1], "warmup", "steps", 1, 1 << 30, &n))
        return el_v_err();
    nc_loc l = call->loc;
    int x = a[0].k == V_TENSOR ? a[0].t : num_t(E, lr, l);
    const char *inner = a[0].k == V_TENSOR ? sched_desc(E, a[0].t) : NULL;
    const char *desc = inner ? inner : a[0].k == V_TENSOR ? "a tensor" : nc_arena_printf(E->a, "%g", lr);
    return described(E, tensor_or_err(warmup_of(E, x, n, l), l),
                     nc_arena_printf(E->a, "warmup(%s, %d)", desc, n));
}

const builtin el_optim_builtins[] = {
    {"poly", b_poly, 3, {{"lr", 0}, {"power", "0.9"}, {"warmup", "0"}}},
    {"cosine", b_cosine, 3, {{"lr", 0}, {"min", "0"}, {"warmup", "0"}}},
    {"warmup", b_warmup, 2, {{"lr", 0}, {"steps", 0}}},
};
const int el_n_optim_builtins = sizeof el_optim_builtins / sizeof el_optim_builtins[0];

/* --- the optimizer -------------------------------------------------------- */

enum { ADAM, ADAMW, SGD };

/* optimizer -> adam(lr, beta1, beta2, eps, clip, weight_decay, clip_norm, form)
 *            | adamw(lr, beta1, beta2, eps, weight_decay, clip, clip_norm)
 *            | sgd(lr, momentum, clip, nesterov, weight_decay, clip_norm)
 * (the first arguments in the order of the original adam and sgd, so that
 * positional calls keep their meaning). */
void el_exec_optimizer(elab *E, const nc_expr *c)
{
    static const pspec adam_ps[] = {{"lr", "0.001"}, {"beta1", "0.9"}, {"beta2", "0.999"}, {"eps", "none"},
                                    {"clip", "0"}, {"weight_decay", "0"}, {"clip_norm", "0"}, {"form", "keras"}};
    static const pspec adamw_ps[] = {{"lr", "0.001"}, {"beta1", "0.9"}, {"beta2", "0.999"}, {"eps", "1e-8"},
                                     {"weight_decay", "0.01"}, {"clip", "0"}, {"clip_norm", "0"}};
    static const pspec sgd_ps[] = {{"lr", "0.01"}, {"momentum", "0"}, {"clip", "0"}, {"nesterov", "false"},
                                   {"weight_decay", "0"}, {"clip_norm", "0"}};
    static const char *const forms[] = {"keras", "pytorch", NULL};
    nc_graph *g = E->g;
    int kind = c->kind != NC_E_CALL           ? -1
               : strcmp(c->name, "adam") == 0  ? ADAM
               : strcmp(c->name, "adamw") == 0 ? ADAMW
               : strcmp(c->name, "sgd") == 0   ? SGD
                                               : -1;
    if (kind < 0) {
        el_error(E, c->loc, "unknown optimizer%s%s (expected adam(...), adamw(...) or sgd(...))",
                 c->kind == NC_E_CALL ? " " : "", c->kind == NC_E_CALL ? c->name : "");
        return;
    }
    const pspec *ps = kind == ADAM ? adam_ps : kind == ADAMW ? adamw_ps : sgd_ps;
    int n = kind == ADAM ? 8 : kind == ADAMW ? 7 : 6;
    value a[MAX_PARAMS];
    /* the arguments (a schedule builds ops) in a scope named optimizer */
    frame fr = *E->top, *saved = E->top;
    fr.path = "optimizer";
    fr.counters = NULL;
    E->top = &fr;
    int bound = el_bind_builtin(E, c, c->name, n, ps, a);
    E->top = saved;
    if (!bound)
        return;
    const char *fn = c->name;
    double lr = 0, x[8] = {0};
    if (!want_lr(E, &a[0], fn, 1, &lr))
        return;
    /* the other numbers: value index, range */
    const char *lr_s = a[0].k == V_TENSOR ? sched_desc(E, a[0].t) : NULL;
    if (a[0].k == V_TENSOR && !lr_s) {
        const nc_loc *l = &a[0].loc;
        lr_s = nc_arena_printf(E->a, "a tensor (line %d:%d)", l->first_line, l->first_col);
    }
    if (!lr_s)
        lr_s = nc_arena_printf(E->a, "%g", lr);
    g->opt_lr = a[0].k == V_TENSOR ? a[0].t : -1;
    memset(g->opt_fa, 0, sizeof g->opt_fa);
    memset(g->opt_ia, 0, sizeof g->opt_ia);
    g->opt_fa[0] = a[0].k == V_TENSOR ? 0.0f : (float)lr;
    if (kind == SGD) {
        double mom, clip, wd, cn;
        if (!want_range(E, &a[1], fn, "momentum", 0, 0, 1, 1, &mom) ||
            !want_range(E, &a[2], fn, "clip", 0, 0, HUGE_VAL, 0, &clip))
            return;
        if (a[3].k != V_BOOL) {
            if (el_check_defined(E, &a[3], "nesterov"))
                el_error(E, a[3].loc, "sgd: nesterov must be true or false, got %s", el_kind_name(&a[3]));
            return;
        }
        if (a[3].num && mom == 0) {
            el_error(E, a[3].loc, "sgd: nesterov = true needs momentum > 0");
            return;
        }
        if (!want_range(E, &a[4], fn, "weight_decay", 0, 0, HUGE_VAL, 0, &wd) ||
            !want_range(E, &a[5], fn, "clip_norm", 0, 0, HUGE_VAL, 0, &cn))
            return;
        g->opt_fa[1] = (float)mom, g->opt_fa[2] = (float)clip, g->opt_fa[3] = (float)wd;
        g->opt_ia[0] = a[3].num != 0;
        g->opt_clip_norm = (float)cn;
        g->opt = NC_OPT_SGD;
        g->opt_desc = nc_arena_printf(E->a, "sgd(lr = %s, momentum = %g, nesterov = %s, weight_decay = %g, "
                                      "clip = %g, clip_norm = %g)", lr_s, mom, a[3].num ? "true" : "false",
                                      wd, clip, cn);
        return;
    }
    /* adam: 1 beta1, 2 beta2, 3 eps, 4 clip, 5 wd, 6 clip_norm, 7 form;
     * adamw: 4 wd, 5 clip, 6 clip_norm */
    int form = kind == ADAMW;
    if (kind == ADAM && !el_want_choice(E, &a[7], fn, "form", forms, &form))
        return;
    int i_wd = kind == ADAM ? 5 : 4, i_clip = kind == ADAM ? 4 : 5;
    if (!want_range(E, &a[1], fn, "beta1", 0, 0, 1, 1, &x[1]) ||
        !want_range(E, &a[2], fn, "beta2", 0, 0, 1, 1, &x[2]))
        return;
    if (el_is_none(&a[3]))
        x[3] = form ? 1e-8 : 1e-7;
    else if (!want_range(E, &a[3], fn, "eps", 0, 1, HUGE_VAL, 0, &x[3]))
        return;
    if (!want_range(E, &a[i_clip], fn, "clip", 0, 0, HUGE_VAL, 0, &x[4]) ||
        !want_range(E, &a[i_wd], fn, "weight_decay", 0, 0, HUGE_VAL, 0, &x[5]) ||
        !want_range(E, &a[6], fn, "clip_norm", 0, 0, HUGE_VAL, 0, &x[6]))
        return;
    for (int i = 1; i <= 5; i++)
        g->opt_fa[i] = (float)x[i];
    g->opt_ia[0] = form;
    g->opt_ia[1] = kind == ADAMW;
    g->opt_clip_norm = (float)x[6];
    g->opt = NC_OPT_ADAM;
    g->opt_desc = nc_arena_printf(E->a, "%s(lr = %s, beta1 = %g, beta2 = %g, eps = %g, weight_decay = %g, "
                                  "clip = %g, clip_norm = %g%s)", fn, lr_s, x[1], x[2], x[3], x[5], x[4], x[6],
                                  kind == ADAMW ? "" : form ? ", form = pytorch" : ", form = keras");
}
