/* elaborate.h — from syntax tree to forward graph.
 * Evaluates compile-time values (consts with -D overrides, arithmetic, if,
 * for, user functions with keyword and default arguments, recursion) and
 * emits one graph node per tensor op with fully static shapes.  Shape and
 * type errors name the source location and the call chain. */
#ifndef NC_ELABORATE_H
#define NC_ELABORATE_H

#include "diag.h"
#include "graph.h"

typedef struct {
    const char *name;
    const char *value;   /* text after '=' */
    int used;            /* set by the elaborator when a const takes it */
} nc_define;

/* Elaborate prog into g (forward ops, inputs, params, bindings, optimizer).
 * prog's file (registered in d) is the model file: imports are resolved
 * against its directory and added to d's file table.  Errors go to d;
 * returns 0 when d recorded none. */
int nc_elaborate(nc_graph *g, nc_diag *d, nc_stmt *prog, nc_define *defs, int n_defs);

#endif
