/* elab.h — the elaborator's internals, shared by its files: elaborate.c
 * (values, scopes, expressions), el_check.c (diagnostics and argument
 * checks), statements.c (statements), builtins.c and layers.c (the builtin
 * ops of the language), option_stmt.c (option), optim.c (the optimizer and
 * schedules) and import.c (import and file paths).
 * Everything here is private to the elaborator; elaborate.h is its API. */
#ifndef NC_ELAB_H
#define NC_ELAB_H

#include "elaborate.h"
#include "parse.h"

#define MAX_DEPTH 200
/* Expressions el_eval may have open at once (operators, brackets, calls):
 * a flat chain `1+1+...` nests as deep as it is long, and each level is a C
 * stack frame.  Far more than a model writes, far less than 8 MiB of stack
 * holds (a chain of 4,500 overflowed it). */
#define MAX_EVAL_DEPTH 500
#define MAX_PARAMS 16
/* Statements an elaboration may execute (loops and calls included): about a
 * second of work; past it every statement is skipped, after one error. */
#define MAX_STEPS 1000000

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
    int eval_depth;      /* el_eval calls open (MAX_EVAL_DEPTH) */
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
    long steps;            /* statements executed so far (MAX_STEPS) */
    nc_read_fn read_file;  /* imports: NULL reads the disk (elaborate.h) */
    void *read_ctx;
    const char *const *import_path; /* folders searched after the importer's (elaborate.h) */
    int n_import_path;
    struct el_option_seen *options_seen; /* option_stmt.c: keys set so far */
    struct el_sched *scheds; /* optim.c: descriptions of schedule tensors */
} elab;

static inline value el_v_err(void) { value v = {0}; v.k = V_ERR; return v; }

static inline value el_tensor_value(int t, nc_loc loc)
{
    value v = {0};
    v.k = V_TENSOR;
    v.t = t;
    v.loc = loc;
    return v;
}

static inline const ng_tensor *el_T(elab *E, int t) { return &E->g->tensors[t].t; }

/* A parameter of a builtin: its name and default. */
typedef struct {
    const char *name;
    const char *def;     /* default as source text of a value, NULL: required */
} pspec;

typedef value (*builtin_fn)(elab *E, const nc_expr *call, value *args);

typedef struct {
    const char *name;
    builtin_fn fn;
    int n;
    pspec ps[MAX_PARAMS];
} builtin;

/* elaborate.c: diagnostics with the call chain, argument checks, names,
 * emitting ops, evaluation */
void el_error(elab *E, nc_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *el_kind_name(const value *v);
int el_check_defined(elab *E, const value *v, const char *what);
int el_want_tensor(elab *E, const value *v, const char *fn, const char *arg);
int el_want_int(elab *E, const value *v, const char *fn, const char *arg, int lo, int hi, int *out);
int el_want_num(elab *E, const value *v, const char *fn, const char *arg, double *out);
int el_want_choice(elab *E, const value *v, const char *fn, const char *arg,
                   const char *const *choices, int *out);
int el_bump(nc_arena *a, counter **list, const char *key);
const char *el_op_name(elab *E, const char *base);
/* Appends op on the n_in tensors in (ia, fa: its attributes, NULL for
 * none) as an activation named name, or (el_emit) a fresh name from base
 * (el_op_name): its tensor value, or an error value after reporting the
 * shape rule's message at loc. */
value el_emit_named(elab *E, nc_loc loc, int op, int n_in, const int32_t *in, const int32_t *ia, const float *fa,
                    const char *name);
value el_emit(elab *E, nc_loc loc, int op, int n_in, const int32_t *in, const int32_t *ia,
              const float *fa, const char *base);
int el_bind_builtin(elab *E, const nc_expr *call, const char *fn, int n, const pspec *ps, value *out);
value el_eval(elab *E, const nc_expr *e);
/* names: a binding of scope b (NULL: none), of the current frame and then
 * the globals; bind (or rebind) name in *scope */
binding *el_lookup_in(binding *b, const char *name);
binding *el_lookup(elab *E, const char *name);
void el_bind(elab *E, binding **scope, const char *name, value v, int is_const, nc_loc loc);
func *el_find_func(elab *E, const char *name);
/* the path of a child scope called name in the current frame, unique */
const char *el_child_path(elab *E, const char *name);
/* a default written as source text: none, true/false, a number, else a symbol */
value el_default_value(const char *text, nc_loc loc);
/* *out = the boolean v, or 0 after an error */
int el_truth(elab *E, value v, int *out);

/* statements.c: executing statements; the functions of a file's top level
 * registered before it runs */
void el_exec_block(elab *E, const nc_stmt *s);
void el_register_defs(elab *E, const nc_stmt *prog);

/* layers.c: the layer builtins and the check for (N,C,H,W) operands */
extern const builtin el_layer_builtins[];
extern const int el_n_layer_builtins;
int el_want_4d(elab *E, const value *v, const char *fn);

/* builtins.c: the builtin table and the operand checks arithmetic shares */
int el_want_labels(elab *E, const value *v, const char *fn);
const builtin *el_find_builtin(const char *name);
value el_call_concat(elab *E, const nc_expr *call);
int el_is_none(const value *v);
int el_want_f32(elab *E, const value *v, const char *fn, const char *arg);
int el_operand_tensor(elab *E, const value *v, const char *what, int *out);

/* option_stmt.c: `option KEY = VALUE` */
void el_exec_option(elab *E, const nc_stmt *s);

/* optim.c: the optimizer of 'minimize' (into the graph's opt_* fields), the
 * schedule builtins (poly, cosine, warmup) and the counters step and
 * total_steps (f32 scalar inputs; el_counter: the tensor, or -1 when name is
 * neither) */
void el_exec_optimizer(elab *E, const nc_expr *call);
int el_counter(elab *E, const char *name, nc_loc loc);
extern const builtin el_optim_builtins[];
extern const int el_n_optim_builtins;

/* import.c */
void el_exec_import(elab *E, const nc_stmt *s);
const char *el_dir_of(nc_arena *a, const char *path);
const char *el_normalize(nc_arena *a, const char *path);
const char *el_shown_path(elab *E, const char *path);
const char *el_file_id(elab *E, const char *path);

#endif
