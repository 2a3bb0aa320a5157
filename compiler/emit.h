/* emit.h — lowering to the .netg form, and the --emit views.
 * nc_emit_graph copies the tensors that some entry uses (renumbered, in
 * graph order) and every entry with its plan into a new ng_graph, which the
 * caller frees with ng_graph_free. */
#ifndef NC_EMIT_H
#define NC_EMIT_H

#include <stdio.h>
#include "entry.h"

ng_graph *nc_emit_graph(const nc_graph *g, const nc_entry *e, int n_entries, const char *source);

/* --emit graph: every entry's ops as text; --emit dot: Graphviz of the
 * train entry (or infer); --emit plan: per entry totals and per tensor
 * bytes, lifetime and offset. */
void nc_print_graph(FILE *out, const nc_graph *g, const nc_entry *e, int n_entries);
void nc_print_dot(FILE *out, const nc_graph *g, const nc_entry *e, int n_entries);
void nc_print_plan(FILE *out, const nc_graph *g, const nc_entry *e, int n_entries);

#endif
