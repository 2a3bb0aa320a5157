/* fuse.h — the fusion of a normalization with the activation after it,
 * on the forward graph, before autodiff. */
#ifndef NC_FUSE_H
#define NC_FUSE_H

#include "graph.h"

/* Replaces each group_norm whose output only a relu or leaky_relu reads
 * with one group_norm_act node writing the activation's output (ops.def);
 * the activation's node is removed.  Requires the forward graph alone (no
 * backward nodes yet).  Returns the number of fusions. */
int nc_fuse_norm_act(nc_graph *g);

#endif
