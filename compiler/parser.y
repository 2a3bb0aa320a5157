/* parser.y — the grammar of .net model files: a pure LALR(1) bison parser
 * with locations and LAC, fed by the reentrant scanner of lexer.l.  Builds
 * the syntax tree (ast.h) in the compile arena; reports syntax errors through
 * nc_diag with readable token names, recovers at statement level, and
 * implements nc_parse (parse.h).  Each rule group opens with its rule. */

%define api.pure full
%define api.prefix {nc_yy}
%define api.token.prefix {TK_}
%define api.location.type {nc_loc}
%define parse.error custom
%define parse.lac full
%locations
%param {nc_lex *lx}
%expect 0

%code requires {
#include "ast.h"
#include "diag.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* A list under construction: arguments, parameters, items, dimensions. */
typedef struct nc_cell nc_cell;
struct nc_cell {
    void *item;
    nc_cell *next;
};
typedef struct {
    nc_cell *head, *tail;
    int n;
    int n_kw;                 /* keyword arguments / defaulted parameters */
} nc_list;

/* A statement list under construction. */
typedef struct {
    nc_stmt *head, *tail;
} nc_slist;

/* A bracket the scanner has seen opened and not yet closed. */
typedef struct {
    char ch;                  /* ( [ { */
    int line, col;
} nc_open;

/* The state of one nc_parse call, shared by scanner and parser. */
typedef struct {
    yyscan_t scanner;
    nc_arena *a;              /* where nodes and strings go */
    nc_diag *d;
    int file;                 /* index into d->files */
    int line, col;            /* position of the next character */
    int nl_line, nl_col;      /* position of the last newline (for EOF) */
    nc_open *open;            /* bracket stack (heap, nc_grow) */
    size_t n_open, cap_open;
    char pending_close;       /* closer whose pop waits for the next token */
    size_t off;               /* byte offset of the next character */
    int last_tok;             /* the token last handed to the parser */
    int skipped_nl;           /* newline in ( ) or [ ] skipped since last token */
    int after_nl;             /* ... before the current lookahead */
    char text[48];            /* text of the last identifier or number */
    int block_depth;          /* open { } blocks (parser's view) */
    int fn_depth;             /* open def headers (parser's view) */
    int block_line;           /* line of the outermost open block */
    nc_stmt *result;
} nc_lex;
}

%code provides {
/* Scanner helpers (lexer.l) used by the error reporter. */
const nc_open *nc_lex_top(const nc_lex *lx);   /* innermost open bracket or NULL */
void nc_lex_reset_parens(nc_lex *lx);          /* forget ( [ above the innermost { */
}

%union {
    const char *name;
    nc_expr *expr;
    nc_stmt *stmt;
    nc_list list;
    nc_slist slist;
    nc_arg *arg;
    nc_param *param;
    int ival;
}

%code {
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "parse.h"

/* lexer.h names the scanner yylex (nc_lxlex); the parser's yylex is the
 * wrapper below. */
#undef yylex
#include "lexer.h"
#undef yylex
#define yylex nc_yylex

/* Locations are nc_loc; last_col is the column of the range's last character. */
#define YYLLOC_DEFAULT(cur, rhs, n)                                     \
    do {                                                                \
        if (n) {                                                        \
            (cur).file = YYRHSLOC(rhs, 1).file;                         \
            (cur).first_line = YYRHSLOC(rhs, 1).first_line;             \
            (cur).first_col = YYRHSLOC(rhs, 1).first_col;               \
            (cur).last_line = YYRHSLOC(rhs, n).last_line;               \
            (cur).last_col = YYRHSLOC(rhs, n).last_col;                 \
        } else {                                                        \
            (cur).file = YYRHSLOC(rhs, 0).file;                         \
            (cur).first_line = (cur).last_line = YYRHSLOC(rhs, 0).last_line; \
            (cur).first_col = (cur).last_col = YYRHSLOC(rhs, 0).last_col;    \
        }                                                               \
    } while (0)

static int yylex(NC_YYSTYPE *lval, NC_YYLTYPE *lloc, nc_lex *lx);
static void yyerror(const NC_YYLTYPE *loc, nc_lex *lx, const char *msg);

static int too_many_errors(const nc_diag *d)
{
    return d->max_errors > 0 && d->n_errors > d->max_errors;
}

static nc_expr *expr_new(nc_lex *lx, nc_expr_kind kind, nc_loc loc)
{
    nc_expr *e = nc_arena_alloc(lx->a, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    return e;
}

static nc_expr *binary(nc_lex *lx, nc_binop op, nc_expr *l, nc_expr *r, nc_loc loc)
{
    nc_expr *e = expr_new(lx, NC_E_BINARY, loc);
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    return e;
}

static nc_expr *unary(nc_lex *lx, nc_binop op, nc_expr *x, nc_loc loc)
{
    nc_expr *e = expr_new(lx, NC_E_UNARY, loc);
    e->op = op;
    e->lhs = x;
    return e;
}

static nc_stmt *stmt_new(nc_lex *lx, nc_stmt_kind kind, nc_loc loc)
{
    nc_stmt *s = nc_arena_alloc(lx->a, sizeof *s);
    s->kind = kind;
    s->loc = loc;
    return s;
}

static void list_add(nc_lex *lx, nc_list *l, void *item)
{
    nc_cell *c = nc_arena_alloc(lx->a, sizeof *c);
    c->item = item;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

static nc_expr **list_exprs(nc_lex *lx, nc_list l)
{
    nc_expr **v = nc_arena_array(lx->a, (size_t)l.n, sizeof *v);
    int i = 0;
    for (nc_cell *c = l.head; c; c = c->next)
        v[i++] = c->item;
    return v;
}

static void slist_add(nc_slist *l, nc_stmt *s)
{
    if (!s)
        return;                    /* an empty or erroneous statement */
    if (l->tail)
        l->tail->next = s;
    else
        l->head = s;
    l->tail = s;
}
}

%token <name> IDENT "identifier"
%token <expr> NUMBER "number" STRING "string"
%token NEWLINE "end of line"
%token CONST "const" INPUT "input" DEF "def" RETURN "return" IF "if"
%token ELSE "else" FOR "for" IN "in" OUTPUT "output" MINIMIZE "minimize"
%token WITH "with" IMPORT "import" OPTION "option" TRUE "true" FALSE "false"
%token AND "and" OR "or" NOT "not" CLASSES "classes" F32 "f32" LABELS "labels"
%token EQ "==" NE "!=" LE "<=" GE ">=" DOTDOT ".."

%type <slist> stmts
%type <stmt> opt_stmt stmt input_stmt if_stmt def_stmt def_head block
%type <expr> expr primary call optimizer
%type <list> exprs expr_list args arg_list params param_list
%type <arg> arg
%type <param> param
%type <name> kwname
%type <ival> lbrace

/* A symbol popped by error recovery leaves its scope. */
%destructor { lx->block_depth--; } lbrace
%destructor { lx->fn_depth--; } def_head

%left OR
%left AND
%left EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' '%'
%precedence NOT NEG

%%

/* file -> stmts */
file
    : stmts                    { lx->result = $1.head; }
    ;

/* stmts -> [stmt] { sep [stmt] } */
stmts
    : opt_stmt                 { $$ = (nc_slist){ 0 }; slist_add(&$$, $1); }
    | stmts sep opt_stmt       { $$ = $1; slist_add(&$$, $3); }
    ;

opt_stmt
    : %empty                   { $$ = NULL; }
    | stmt
    | error                    { $$ = NULL; if (too_many_errors(lx->d)) YYABORT; }
    ;

/* sep -> NEWLINE | ';'   (a separator ends error recovery) */
sep
    : NEWLINE                  { yyerrok; }
    | ';'                      { yyerrok; }
    ;

/* stmt -> CONST IDENT '=' expr | IDENT '=' expr | OUTPUT IDENT '=' expr
 *       | MINIMIZE expr WITH optimizer | RETURN expr | IMPORT STRING
 *       | OPTION IDENT '=' expr
 *       | FOR IDENT IN expr '..' expr block | inputstat | ifstat | defstat */
stmt
    : CONST IDENT '=' expr     { $$ = stmt_new(lx, NC_S_CONST, @$);
                                 $$->name = $2; $$->name_loc = @2; $$->value = $4; }
    | IDENT '=' expr           { $$ = stmt_new(lx, NC_S_ASSIGN, @$);
                                 $$->name = $1; $$->name_loc = @1; $$->value = $3; }
    | OUTPUT IDENT '=' expr    { $$ = stmt_new(lx, NC_S_OUTPUT, @$);
                                 $$->name = $2; $$->name_loc = @2; $$->value = $4; }
    | MINIMIZE expr WITH optimizer
                               { $$ = stmt_new(lx, NC_S_MINIMIZE, @$);
                                 $$->value = $2; $$->value2 = $4; }
    | RETURN expr              { $$ = stmt_new(lx, NC_S_RETURN, @$); $$->value = $2;
                                 if (lx->fn_depth == 0)
                                     nc_diag_error(lx->d, @$, "'return' outside a function"); }
    | IMPORT STRING            { $$ = stmt_new(lx, NC_S_IMPORT, @$); $$->str = $2->str; }
    | OPTION IDENT '=' expr    { $$ = stmt_new(lx, NC_S_OPTION, @$);
                                 $$->name = $2; $$->name_loc = @2; $$->value = $4; }
    | FOR IDENT IN expr DOTDOT expr block
                               { $$ = stmt_new(lx, NC_S_FOR, @$);
                                 $$->name = $2; $$->name_loc = @2;
                                 $$->value = $4; $$->value2 = $6; $$->body = $7; }
    | input_stmt
    | if_stmt
    | def_stmt
    /* A broken if/for/def header still takes its block, so that block's
     * '}' does not report a second error; without a '{' it ends at the
     * separator. */
    | FOR error block          { $$ = NULL; }
    | FOR error                { $$ = NULL; }
    ;

/* optimizer -> call | IDENT   (a bare name is a call without arguments) */
optimizer
    : call
    | IDENT                    { $$ = expr_new(lx, NC_E_CALL, @$); $$->name = $1; }
    ;

/* inputstat -> INPUT IDENT ':' F32 '[' exprs ']'
 *            | INPUT IDENT ':' LABELS '[' exprs ']' CLASSES expr */
input_stmt
    : INPUT IDENT ':' F32 '[' exprs ']'
                               { $$ = stmt_new(lx, NC_S_INPUT, @$);
                                 $$->name = $2; $$->name_loc = @2; $$->type = NC_TY_F32;
                                 $$->n_dims = $6.n; $$->dims = list_exprs(lx, $6); }
    | INPUT IDENT ':' LABELS '[' exprs ']' CLASSES expr
                               { $$ = stmt_new(lx, NC_S_INPUT, @$);
                                 $$->name = $2; $$->name_loc = @2; $$->type = NC_TY_LABELS;
                                 $$->n_dims = $6.n; $$->dims = list_exprs(lx, $6);
                                 $$->classes = $9; }
    ;

/* ifstat -> IF expr block [ELSE (block | ifstat)] */
if_stmt
    : IF expr block            { $$ = stmt_new(lx, NC_S_IF, @$); $$->value = $2; $$->body = $3; }
    | IF expr block ELSE block { $$ = stmt_new(lx, NC_S_IF, @$); $$->value = $2; $$->body = $3;
                                 $$->else_body = $5; }
    | IF expr block ELSE if_stmt
                               { $$ = stmt_new(lx, NC_S_IF, @$); $$->value = $2; $$->body = $3;
                                 $$->else_body = $5; }
    | IF error block           { $$ = NULL; }
    | IF error                 { $$ = NULL; }
    ;

/* defstat -> DEF IDENT '(' params ')' block   (only at top level) */
def_stmt
    : def_head block           { $$ = $1; $$->loc = @$; $$->body = $2; lx->fn_depth--; }
    | DEF error                { $$ = NULL; }
    ;

def_head
    : DEF IDENT '(' params ')' {
          $$ = stmt_new(lx, NC_S_DEF, @$);
          $$->name = $2;
          $$->name_loc = @2;
          $$->n_params = $4.n;
          $$->params = nc_arena_array(lx->a, (size_t)$4.n, sizeof *$$->params);
          int i = 0;
          for (nc_cell *c = $4.head; c; c = c->next)
              $$->params[i++] = *(nc_param *)c->item;
          if (lx->block_depth > 0) {
              nc_diag_error(lx->d, @$, "'def' is only allowed at top level");
              nc_diag_note(lx->d, "inside the block opened at line %d", lx->block_line);
          }
          lx->fn_depth++;
      }
    | DEF error                { $$ = stmt_new(lx, NC_S_DEF, @$); lx->fn_depth++; }
    ;

/* params -> [param {',' param} [',']] */
params
    : %empty                   { $$ = (nc_list){ 0 }; }
    | param_list
    | param_list ','
    ;

param_list
    : param                    { $$ = (nc_list){ 0 }; list_add(lx, &$$, $1); $$.n_kw = $1->def != NULL; }
    | param_list ',' param     {
          $$ = $1;
          nc_cell *c = $$.head;
          while (c && strcmp(((nc_param *)c->item)->name, $3->name) != 0)
              c = c->next;
          if (c)
              nc_diag_error(lx->d, $3->loc, "duplicate parameter '%s'", $3->name);
          else if (!$3->def && $$.n_kw)
              nc_diag_error(lx->d, $3->loc,
                            "parameter '%s' without a default follows one with a default", $3->name);
          list_add(lx, &$$, $3);
          $$.n_kw += $3->def != NULL;
      }
    ;

/* param -> kwname ['=' expr]   (a parameter may be called labels) */
param
    : kwname                   { $$ = nc_arena_alloc(lx->a, sizeof *$$); $$->name = $1; $$->loc = @1; }
    | kwname '=' expr          { $$ = nc_arena_alloc(lx->a, sizeof *$$); $$->name = $1; $$->loc = @1;
                                 $$->def = $3; }
    ;

/* block -> '{' stmts '}' */
block
    : lbrace stmts '}'         { (void)$1; $$ = $2.head; lx->block_depth--; }
    ;

lbrace
    : '{'                      { if (lx->block_depth++ == 0) lx->block_line = @1.first_line; $$ = 0; }
    ;

/* expr -> expr binop expr | unop expr | primary
 * binop -> OR | AND | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%'
 * unop -> '-' | NOT */
expr
    : expr OR expr             { $$ = binary(lx, NC_OP_OR, $1, $3, @$); }
    | expr AND expr            { $$ = binary(lx, NC_OP_AND, $1, $3, @$); }
    | expr EQ expr             { $$ = binary(lx, NC_OP_EQ, $1, $3, @$); }
    | expr NE expr             { $$ = binary(lx, NC_OP_NE, $1, $3, @$); }
    | expr '<' expr            { $$ = binary(lx, NC_OP_LT, $1, $3, @$); }
    | expr LE expr             { $$ = binary(lx, NC_OP_LE, $1, $3, @$); }
    | expr '>' expr            { $$ = binary(lx, NC_OP_GT, $1, $3, @$); }
    | expr GE expr             { $$ = binary(lx, NC_OP_GE, $1, $3, @$); }
    | expr '+' expr            { $$ = binary(lx, NC_OP_ADD, $1, $3, @$); }
    | expr '-' expr            { $$ = binary(lx, NC_OP_SUB, $1, $3, @$); }
    | expr '*' expr            { $$ = binary(lx, NC_OP_MUL, $1, $3, @$); }
    | expr '/' expr            { $$ = binary(lx, NC_OP_DIV, $1, $3, @$); }
    | expr '%' expr            { $$ = binary(lx, NC_OP_MOD, $1, $3, @$); }
    | '-' expr %prec NEG       { $$ = unary(lx, NC_OP_NEG, $2, @$); }
    | NOT expr                 { $$ = unary(lx, NC_OP_NOT, $2, @$); }
    | primary
    ;

/* primary -> NUMBER | STRING | TRUE | FALSE | IDENT | CLASSES | F32 | LABELS
 *          | call | '[' exprs ']' | '(' expr ')'
 * (the type keywords name parameters, so they may be read as names too) */
primary
    : NUMBER
    | STRING
    | TRUE                     { $$ = expr_new(lx, NC_E_BOOL, @$); $$->is_true = 1; }
    | FALSE                    { $$ = expr_new(lx, NC_E_BOOL, @$); }
    | IDENT                    { $$ = expr_new(lx, NC_E_NAME, @$); $$->name = $1; }
    | CLASSES                  { $$ = expr_new(lx, NC_E_NAME, @$); $$->name = "classes"; }
    | F32                      { $$ = expr_new(lx, NC_E_NAME, @$); $$->name = "f32"; }
    | LABELS                   { $$ = expr_new(lx, NC_E_NAME, @$); $$->name = "labels"; }
    | call
    | '[' exprs ']'            { $$ = expr_new(lx, NC_E_LIST, @$);
                                 $$->n_items = $2.n; $$->items = list_exprs(lx, $2); }
    | '(' expr ')'             { $$ = $2; $$->loc = @$; }
    ;

/* exprs -> [expr {',' expr} [',']] */
exprs
    : %empty                   { $$ = (nc_list){ 0 }; }
    | expr_list
    | expr_list ','
    ;

expr_list
    : expr                     { $$ = (nc_list){ 0 }; list_add(lx, &$$, $1); }
    | expr_list ',' expr       { $$ = $1; list_add(lx, &$$, $3); }
    ;

/* call -> IDENT '(' args ')' */
call
    : IDENT '(' args ')'       {
          $$ = expr_new(lx, NC_E_CALL, @$);
          $$->name = $1;
          $$->n_args = $3.n;
          $$->args = nc_arena_array(lx->a, (size_t)$3.n, sizeof *$$->args);
          int i = 0;
          for (nc_cell *c = $3.head; c; c = c->next)
              $$->args[i++] = *(nc_arg *)c->item;
      }
    ;

/* args -> [arg {',' arg} [',']]   (positional arguments first) */
args
    : %empty                   { $$ = (nc_list){ 0 }; }
    | arg_list
    | arg_list ','
    ;

arg_list
    : arg                      { $$ = (nc_list){ 0 }; list_add(lx, &$$, $1); $$.n_kw = $1->key != NULL; }
    | arg_list ',' arg         {
          $$ = $1;
          if (!$3->key && $$.n_kw)
              nc_diag_error(lx->d, $3->value->loc, "positional argument after keyword argument");
          list_add(lx, &$$, $3);
          $$.n_kw += $3->key != NULL;
      }
    ;

/* arg -> expr | kwname '=' expr */
arg
    : expr                     { $$ = nc_arena_alloc(lx->a, sizeof *$$); $$->value = $1; }
    | kwname '=' expr          { $$ = nc_arena_alloc(lx->a, sizeof *$$);
                                 $$->key = $1; $$->key_loc = @1; $$->value = $3; }
    ;

/* kwname -> IDENT | CLASSES | F32 | LABELS   (keywords may name arguments
 * and parameters) */
kwname
    : IDENT
    | CLASSES                  { $$ = "classes"; }
    | F32                      { $$ = "f32"; }
    | LABELS                   { $$ = "labels"; }
    ;

%%

/* The parser's token source: the scanner, cut short once too many errors
 * have been reported. */
static int yylex(NC_YYSTYPE *lval, NC_YYLTYPE *lloc, nc_lex *lx)
{
    int t;
    if (too_many_errors(lx->d)) {
        *lloc = (nc_loc){ lx->file, lx->line, lx->col, lx->line, lx->col };
        t = TK_YYEOF;
    } else {
        t = nc_lxlex(lval, lloc, lx->scanner);
    }
    lx->after_nl = lx->skipped_nl;
    lx->skipped_nl = 0;
    lx->last_tok = t;
    return t;
}

/* Bison calls this only when its stack is exhausted (msg is "memory
 * exhausted"), which takes thousands of nested brackets or operators. */
static void yyerror(const NC_YYLTYPE *loc, nc_lex *lx, const char *msg)
{
    (void)msg;
    nc_diag_error(lx->d, *loc, "input nested too deeply");
}

/* A message under construction. */
typedef struct {
    char s[320];
    size_t n;
} msgbuf;

static void put(msgbuf *m, const char *s)
{
    size_t k = strlen(s);
    if (k > sizeof m->s - 1 - m->n)
        k = sizeof m->s - 1 - m->n;
    memcpy(m->s + m->n, s, k);
    m->n += k;
    m->s[m->n] = '\0';
}

/* How a token kind reads in a message: 'def', ')', identifier, end of line. */
static void put_kind(msgbuf *m, yysymbol_kind_t k)
{
    switch (k) {
    case YYSYMBOL_YYEOF:   put(m, "end of file"); return;
    case YYSYMBOL_NEWLINE: put(m, "end of line"); return;
    case YYSYMBOL_IDENT:   put(m, "identifier"); return;
    case YYSYMBOL_NUMBER:  put(m, "number"); return;
    case YYSYMBOL_STRING:  put(m, "string"); return;
    case YYSYMBOL_YYUNDEF: put(m, "invalid token"); return;
    default: break;
    }
    const char *name = yysymbol_name(k);
    size_t len = strlen(name);
    if (len >= 2 && (name[0] == '"' || name[0] == '\'')) {
        name++;                    /* drop the quotes bison keeps */
        len -= 2;
    }
    char q[40];
    snprintf(q, sizeof q, "'%.*s'", (int)len, name);
    put(m, q);
}

/* The found token, with its text where that helps: identifier 'x'. */
static void put_found(msgbuf *m, yysymbol_kind_t k, const nc_lex *lx)
{
    put_kind(m, k);
    if (k == YYSYMBOL_IDENT || k == YYSYMBOL_NUMBER) {
        put(m, " '");
        put(m, lx->text);
        put(m, "'");
    }
}

static int has(const yysymbol_kind_t *v, int n, yysymbol_kind_t k)
{
    for (int i = 0; i < n; i++)
        if (v[i] == k)
            return 1;
    return 0;
}

static int has_all(const yysymbol_kind_t *v, int n, const yysymbol_kind_t *set, int m)
{
    for (int i = 0; i < m; i++)
        if (!has(v, n, set[i]))
            return 0;
    return 1;
}

static void drop(yysymbol_kind_t *v, int *n, const yysymbol_kind_t *set, int m)
{
    int j = 0;
    for (int i = 0; i < *n; i++)
        if (!has(set, m, v[i]))
            v[j++] = v[i];
    *n = j;
}

static yysymbol_kind_t closer_of(char open)
{
    return YYTRANSLATE(open == '(' ? ')' : open == '[' ? ']' : '}');
}

/* Syntax errors read "expected A, B or C but found X": expression starters
 * collapse into "expression", separators into "end of line", operators are
 * left out (they may follow any expression), and a statement position or a
 * long list gives "unexpected X".  An unclosed bracket names its opener:
 * "expected '}' to close '{' at line 3". */
static int yyreport_syntax_error(const yypcontext_t *ctx, nc_lex *lx)
{
    yysymbol_kind_t found = yypcontext_token(ctx);
    nc_loc loc = *yypcontext_location(ctx);
    if (found == YYSYMBOL_YYUNDEF)
        return 0;                  /* the scanner has reported it */
    if (found == YYSYMBOL_YYEMPTY) {
        nc_diag_error(lx->d, loc, "syntax error");
        return 0;
    }

    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;
    msgbuf m = { .n = 0 };
    m.s[0] = '\0';

    const nc_open *o = nc_lex_top(lx);
    if (o && has(exp, n, closer_of(o->ch)) &&
        (found == YYSYMBOL_YYEOF || (o->ch != '{' && lx->after_nl))) {
        char close[80];
        snprintf(close, sizeof close, "expected '%c' to close '%c' at line %d",
                 o->ch == '(' ? ')' : o->ch == '[' ? ']' : '}', o->ch, o->line);
        put(&m, close);
        if (found != YYSYMBOL_YYEOF) {
            put(&m, " but found ");
            put_found(&m, found, lx);
            nc_lex_reset_parens(lx);   /* let the next newline end the statement */
        }
        nc_diag_error(lx->d, loc, "%s", m.s);
        return 0;
    }

    static const yysymbol_kind_t stmt_start[] = {
        YYSYMBOL_IDENT, YYSYMBOL_CONST, YYSYMBOL_INPUT, YYSYMBOL_DEF, YYSYMBOL_RETURN,
        YYSYMBOL_IF, YYSYMBOL_FOR, YYSYMBOL_OUTPUT, YYSYMBOL_MINIMIZE, YYSYMBOL_IMPORT,
    };
    const yysymbol_kind_t expr_start[] = {
        YYSYMBOL_IDENT, YYSYMBOL_NUMBER, YYSYMBOL_STRING, YYSYMBOL_TRUE, YYSYMBOL_FALSE,
        YYSYMBOL_NOT, YYTRANSLATE('('), YYTRANSLATE('['), YYTRANSLATE('-'),
    };
    const yysymbol_kind_t ops[] = {
        YYSYMBOL_OR, YYSYMBOL_AND, YYSYMBOL_EQ, YYSYMBOL_NE, YYTRANSLATE('<'), YYSYMBOL_LE,
        YYTRANSLATE('>'), YYSYMBOL_GE, YYTRANSLATE('+'), YYTRANSLATE('-'), YYTRANSLATE('*'),
        YYTRANSLATE('/'), YYTRANSLATE('%'),
    };
    const yysymbol_kind_t ends[] = {
        YYSYMBOL_NEWLINE, YYTRANSLATE(';'), YYTRANSLATE('}'), YYSYMBOL_YYEOF,
    };
    const int n_stmt = (int)(sizeof stmt_start / sizeof *stmt_start);
    const int n_expr = (int)(sizeof expr_start / sizeof *expr_start);
    const int n_ops = (int)(sizeof ops / sizeof *ops);
    const int n_ends = (int)(sizeof ends / sizeof *ends);

    if (has_all(exp, n, stmt_start, n_stmt)) {
        if (found == YYSYMBOL_ELSE)
            put(&m, "'else' without 'if'");
        else {
            put(&m, "unexpected ");
            put_found(&m, found, lx);
        }
        nc_diag_error(lx->d, loc, "%s", m.s);
        return 0;
    }
    const yysymbol_kind_t kw_keys[] = { YYSYMBOL_CLASSES, YYSYMBOL_F32, YYSYMBOL_LABELS };
    int eq_hint = found == YYTRANSLATE('=') && has(exp, n, YYSYMBOL_EQ);
    int want_expr = has_all(exp, n, expr_start, n_expr);
    if (want_expr || has(exp, n, YYSYMBOL_IDENT))
        drop(exp, &n, kw_keys, 3);    /* keywords usable as names: "identifier" says it */
    if (want_expr)
        drop(exp, &n, expr_start, n_expr);
    int want_eol = has(exp, n, YYSYMBOL_NEWLINE);
    if (want_eol)
        drop(exp, &n, ends, n_ends);
    if (n > 0 || want_expr || want_eol) {
        yysymbol_kind_t keep[YYNTOKENS];
        int k = n;
        memcpy(keep, exp, sizeof *exp * (size_t)n);
        drop(keep, &k, ops, n_ops);
        if (k > 0 || want_expr || want_eol) {
            memcpy(exp, keep, sizeof *exp * (size_t)k);
            n = k;
        }
    }

    /* '(' (the name before could be called) and '=' (it could name an
     * argument) only matter when nothing else would do. */
    const yysymbol_kind_t weak[] = { YYTRANSLATE('('), YYTRANSLATE('=') };
    int strong = want_expr || want_eol;
    for (int i = 0; i < n; i++)
        strong += !has(weak, 2, exp[i]);
    if (strong)
        drop(exp, &n, weak, 2);

    /* Closers first, then the rest in grammar order, then the groups. */
    const char *words[YYNTOKENS + 2];
    yysymbol_kind_t kinds[YYNTOKENS + 2];
    int nw = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            int closer = exp[i] == YYTRANSLATE(')') || exp[i] == YYTRANSLATE(']') ||
                         exp[i] == YYTRANSLATE('}');
            if (closer == (pass == 0)) {
                kinds[nw] = exp[i];
                words[nw++] = NULL;
            }
        }
    if (want_expr)
        words[nw++] = "expression";
    if (want_eol)
        words[nw++] = "end of line";

    if (nw == 0 || nw > 4) {
        put(&m, "unexpected ");
    } else {
        put(&m, "expected ");
        for (int i = 0; i < nw; i++) {
            if (i > 0)
                put(&m, i == nw - 1 ? " or " : ", ");
            if (words[i])
                put(&m, words[i]);
            else
                put_kind(&m, kinds[i]);
        }
        put(&m, " but found ");
    }
    put_found(&m, found, lx);
    if (eq_hint)
        put(&m, " (use '==' to compare)");
    nc_diag_error(lx->d, loc, "%s", m.s);
    if (o && found == YYSYMBOL_YYEOF)
        nc_diag_note(lx->d, "'%c' at line %d is not closed", o->ch, o->line);
    return 0;
}

nc_stmt *nc_parse(nc_arena *a, nc_diag *d, int file)
{
    if (file < 0 || file >= d->n_files)
        nc_die("nc_parse: no file %d", file);
    const nc_source *src = &d->files[file];
    int errors = d->n_errors;
    if (src->len > INT_MAX - 2) {
        nc_diag_error(d, (nc_loc){ file, 0, 0, 0, 0 }, "file too large");
        return NULL;
    }
    const char *nul = memchr(src->text, 0, src->len);
    if (nul) { /* flex rescans a token at each NUL in it: quadratic, and no model holds one */
        nc_loc at = { file, 1, 1, 1, 1 };
        for (const char *p = src->text; p < nul; p++) /* columns count as the scanner's (lexer.l) */
            if (*p == '\n')
                at.first_line++, at.first_col = 1;
            else if (*p != '\r' && ((unsigned char)*p & 0xC0) != 0x80)
                at.first_col++;
        at.last_line = at.first_line, at.last_col = at.first_col;
        nc_diag_error(d, at, "NUL byte in the source (a binary file?)");
        return NULL;
    }
    nc_lex lx = { .a = a, .d = d, .file = file, .line = 1, .col = 1 };
    if (nc_lxlex_init_extra(&lx, &lx.scanner))
        nc_die("out of memory (scanner)");
    YY_BUFFER_STATE buf = nc_lx_scan_bytes(src->text, (int)src->len, lx.scanner);
    int rc = nc_yyparse(&lx);
    nc_lx_delete_buffer(buf, lx.scanner);
    nc_lxlex_destroy(lx.scanner);
    free(lx.open);
    return rc == 0 && d->n_errors == errors ? lx.result : NULL;
}
