/* autodiff.h — the backward pass and the optimizer, appended to the graph.
 * Requires nc_elaborate's forward graph; when it has a loss, appends the
 * gradient ops (marked backward) and one update op per trainable parameter
 * with its optimizer state.  Returns 0, or -1 after reporting to d. */
#ifndef NC_AUTODIFF_H
#define NC_AUTODIFF_H

#include "diag.h"
#include "graph.h"

int nc_autodiff(nc_graph *g, nc_diag *d);

#endif
