/* ast.h — the syntax tree of a .net model file.
 * The parser (parser.y) builds it in the compile arena (arena.h); every node
 * keeps its source range.  The elaborator (elaborate.c) walks it. */
#ifndef NC_AST_H
#define NC_AST_H

#include "arena.h"

/* A source range; lines and columns count from 1.  file indexes nc_diag's
 * file table (diag.h). */
typedef struct {
    int file;
    int first_line, first_col;
    int last_line, last_col;
} nc_loc;

typedef struct nc_expr nc_expr;
typedef struct nc_stmt nc_stmt;

typedef enum {
    NC_E_NUM,     /* num, is_int */
    NC_E_STR,     /* str */
    NC_E_BOOL,    /* is_true */
    NC_E_NAME,    /* name */
    NC_E_CALL,    /* name(args): args[i].key is NULL for positional */
    NC_E_BINARY,  /* op in "+ - * / % == != < <= > >= and or" as NC_OP_* */
    NC_E_UNARY,   /* NC_OP_NEG | NC_OP_NOT */
    NC_E_LIST     /* [items] */
} nc_expr_kind;

typedef enum {
    NC_OP_ADD, NC_OP_SUB, NC_OP_MUL, NC_OP_DIV, NC_OP_MOD,
    NC_OP_EQ, NC_OP_NE, NC_OP_LT, NC_OP_LE, NC_OP_GT, NC_OP_GE,
    NC_OP_AND, NC_OP_OR, NC_OP_NEG, NC_OP_NOT
} nc_binop;

typedef struct {
    const char *key;     /* keyword or NULL */
    nc_loc key_loc;
    nc_expr *value;
} nc_arg;

struct nc_expr {
    nc_expr_kind kind;
    nc_loc loc;
    double num;
    int is_int;          /* NC_E_NUM written without '.', 'e' */
    int is_true;
    const char *str;     /* NC_E_STR (unescaped) */
    const char *name;    /* NC_E_NAME, NC_E_CALL */
    nc_binop op;         /* NC_E_BINARY, NC_E_UNARY */
    nc_expr *lhs, *rhs;  /* NC_E_BINARY; NC_E_UNARY uses lhs */
    int n_args;          /* NC_E_CALL */
    nc_arg *args;
    int n_items;         /* NC_E_LIST */
    nc_expr **items;
};

typedef enum {
    NC_S_CONST,    /* const name = value */
    NC_S_INPUT,    /* input name : f32[dims] | labels[dims] classes value */
    NC_S_DEF,      /* def name(params) { body } */
    NC_S_ASSIGN,   /* name = value */
    NC_S_OUTPUT,   /* output name = value */
    NC_S_MINIMIZE, /* minimize value with optimizer (an NC_E_CALL) */
    NC_S_RETURN,   /* return value */
    NC_S_IF,       /* if value { body } else { else_body } (else_body may be NULL) */
    NC_S_FOR,      /* for name in value .. value2 { body }  (half-open) */
    NC_S_IMPORT,   /* import "path" (str) */
    NC_S_OPTION    /* option name = value (a setting for netrun, runtime/graph/options.def) */
} nc_stmt_kind;

typedef enum { NC_TY_F32, NC_TY_LABELS } nc_type_kind;

typedef struct {
    const char *name;
    nc_loc loc;
    nc_expr *def;        /* default value or NULL */
} nc_param;

/* A block is a singly linked list of statements through next. */
struct nc_stmt {
    nc_stmt_kind kind;
    nc_loc loc;          /* the whole statement */
    nc_stmt *next;
    const char *name;    /* CONST, INPUT, DEF, ASSIGN, OUTPUT, FOR, OPTION */
    nc_loc name_loc;
    nc_expr *value;      /* CONST, ASSIGN, OUTPUT, MINIMIZE, RETURN, IF cond, FOR lo, OPTION */
    nc_expr *value2;     /* MINIMIZE optimizer call; FOR hi */
    /* INPUT */
    nc_type_kind type;
    int n_dims;
    nc_expr **dims;
    nc_expr *classes;    /* NC_TY_LABELS */
    /* DEF */
    int n_params;
    nc_param *params;
    /* DEF, IF, FOR */
    nc_stmt *body;
    nc_stmt *else_body;  /* IF */
    const char *str;     /* IMPORT */
};

#endif
