/* compile.c — the pipeline of netc, in the order the passes run (compile.h).
 * Each pass requires what the one before it made: the elaborator a parsed
 * model file, the fusion of norm and activation (fuse.c) and autodiff a
 * forward graph (autodiff: with a scalar loss), entries the
 * graph with its backward pass and updates, the planner the entries, emit
 * the planned entries. */
#include "compile.h"

#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "emit.h"
#include "fuse.h"
#include "parse.h"

int nc_compile(nc_unit *u, const nc_options *o)
{
    memset(u, 0, sizeof *u);
    nc_diag_init(&u->d, o->diag_out ? o->diag_out : stderr);
    nc_graph_init(&u->g, &u->arena);
    int file = nc_diag_add_file(&u->d, o->path, o->text, o->len);

    nc_stmt *prog = nc_parse(&u->arena, &u->d, file);
    if (u->d.n_errors || nc_elaborate(&u->g, &u->d, prog, o->defs, o->n_defs, o->read_file, o->read_ctx, o->import_path,
                                      o->n_import_path))
        return -1;
    if (o->stop_after_elaborate)
        return 0;
    nc_fuse_norm_act(&u->g);
    if (o->keep_gradients)
        u->g.opt = NC_OPT_NONE;
    if (nc_autodiff(&u->g, &u->d))
        return -1;
    if (o->keep_gradients) {
        nc_entry_build_gradients(&u->g, &u->entries[0]);
        u->n_entries = 1;
    } else {
        u->n_entries = nc_entries_build(&u->g, u->entries, o->recompute);
    }
    u->out = nc_emit_graph(&u->g, u->entries, u->n_entries, o->path);
    char err[1024];
    if (ng_graph_check(u->out, err, sizeof err) != 0)
        nc_die("emitted graph is invalid: %s", err);
    return 0;
}

void nc_unit_free(nc_unit *u)
{
    ng_graph_free(u->out);
    nc_graph_free(&u->g);
    nc_arena_free(&u->arena);
    memset(u, 0, sizeof *u);
}
