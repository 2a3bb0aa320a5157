/* compile.h — the whole of netc as one call: the pipeline that main.c, the
 * tests and the fuzz targets share. */
#ifndef NC_COMPILE_H
#define NC_COMPILE_H

#include <stdio.h>

#include "elaborate.h"
#include "entry.h"

typedef struct {
    const char *path;       /* the model file's name: diagnostics, imports */
    const char *text;       /* its contents (need not be on disk) */
    size_t len;
    nc_read_fn read_file;   /* imported files (elaborate.h); NULL: the disk */
    void *read_ctx;         /* read_file's first argument */
    const char *const *import_path; /* folders a relative import is looked for in when */
    int n_import_path;              /* it is not beside its importer (netc -I, NETC_PATH) */
    nc_define *defs;        /* -D NAME=VALUE overrides */
    int n_defs;
    int recompute;          /* netc --recompute (entry.h) */
    int keep_gradients;     /* no optimizer update, and one "train" entry
                               whose results are the loss and every
                               parameter's gradient (the gradient checks) */
    int stop_after_elaborate; /* the forward graph only: no entries, no emit */
    FILE *diag_out;         /* where diagnostics go (NULL: stderr) */
} nc_options;

/* One compilation: everything it made, freed by nc_unit_free. */
typedef struct {
    nc_arena arena;         /* AST, names and strings */
    nc_diag d;
    nc_graph g;             /* the graph IR after the last pass that ran */
    nc_entry entries[NC_MAX_ENTRIES];
    int n_entries;
    ng_graph *out;          /* the emitted graph, passed ng_graph_check */
} nc_unit;

/* parse → elaborate → fuse norm + activation → autodiff (+ optimizer) → entries (dead code, dropout
 * off outside training, recompute, update scheduling) → plan → emit →
 * ng_graph_check.  Returns 0, or -1 after the diagnostics went to
 * o->diag_out (u->d.n_errors of them).  An emitted graph that fails the
 * check is a compiler bug (abort).  Call nc_unit_free either way. */
int nc_compile(nc_unit *u, const nc_options *o);
void nc_unit_free(nc_unit *u);

#endif
