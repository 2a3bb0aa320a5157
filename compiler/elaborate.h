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

/* Where imported files come from.  NULL: the disk (ng_read_file), and two
 * paths name the same file when their realpaths agree.  Otherwise
 * read_file(ctx, path, &len) gives the whole text of path (malloc'd and
 * NUL-terminated, freed by the elaborator) or NULL with errno set, and files
 * are told apart by their lexically normalized paths: the disk is never
 * touched (the fuzz target serves imports from its input). */
typedef char *(*nc_read_fn)(void *ctx, const char *path, size_t *len);

/* Elaborate prog into g (forward ops, inputs, params, bindings, optimizer).
 * prog's file (registered in d) is the model file: imports are resolved
 * against the importing file's directory, then (a relative path on disk,
 * read_file NULL) against each folder of import_path in turn, read with
 * read_file (see nc_read_fn) and added to d's file table.  Errors go to d;
 * returns 0 when d recorded none. */
int nc_elaborate(nc_graph *g, nc_diag *d, nc_stmt *prog, nc_define *defs, int n_defs, nc_read_fn read_file,
                 void *read_ctx, const char *const *import_path, int n_import_path);

#endif
