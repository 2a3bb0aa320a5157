/* graph.h — netc's graph IR: tensors and nodes (one op each, from the op
 * table) in creation order, which is always a topological order.  The
 * elaborator builds the forward graph; autodiff.c appends the backward pass
 * and the optimizer updates; entry.c selects and plans each entry point;
 * emit.c lowers the result to an ng_graph.  All arrays are heap-grown with
 * nc_grow and released by nc_graph_free; names live in the compile arena. */
#ifndef NC_GRAPH_H
#define NC_GRAPH_H

#include "arena.h"
#include "ast.h"
#include "netg.h"

typedef struct {
    ng_tensor t;         /* name, dtype, role, init, shape */
    nc_loc loc;          /* the source that created it */
    int producer;        /* node index, or -1 for persistent tensors */
} nc_tensor;

typedef struct {
    ng_node n;
    nc_loc loc;
    int backward;        /* 1 for nodes appended by autodiff or the optimizer */
} nc_node;

enum { NC_OPT_NONE = 0, NC_OPT_ADAM, NC_OPT_SGD };

typedef struct {
    nc_arena *arena;
    nc_tensor *tensors;
    size_t n_tensors, cap_tensors;
    nc_node *nodes;
    size_t n_nodes, cap_nodes;
    ng_bindings bind;    /* image, labels, classes, ignore, loss, output, ... */
    nc_loc loss_loc;     /* the minimize statement */
    int opt;             /* NC_OPT_*; NONE: autodiff appends no update */
    int32_t *grad_of;    /* set by autodiff: per forward tensor, its gradient or -1 */
    size_t n_grad_of;
    float opt_fa[NG_MAX_FA];  /* the update ops' attributes (ops.def ADAM, SGD) */
    int32_t opt_ia[NG_MAX_IA];
    int opt_lr;          /* f32 scalar tensor of the learning rate (a schedule), -1: fa[0] */
    float opt_clip_norm; /* > 0: clip the global gradient norm to it (optim.c) */
    const char *opt_desc; /* the optimizer with its settings (netrun info) */
    ng_option *options;  /* netrun's settings from the model file (keys unique; */
    size_t n_options, cap_options; /* strings in the arena) */
    struct nc_name_slot *names; /* (cap_names, a power of 2) the tensor names taken, an */
    size_t n_names, cap_names;  /* open-addressing set (graph.c): no quadratic lookups */
} nc_graph;

void nc_graph_init(nc_graph *g, nc_arena *a);
/* Releases g's arrays (not the arena) and zeroes g. */
void nc_graph_free(nc_graph *g);

/* Set option key to value (both copied into the arena), replacing an
 * earlier value of the same key. */
void nc_graph_set_option(nc_graph *g, const char *key, const char *value);

/* A new tensor; name is copied into the arena and made unique by appending
 * _2, _3, ... when taken.  Returns its id. */
int nc_graph_tensor(nc_graph *g, const char *name, int dtype, int role,
                    int ndim, const int32_t *dim, nc_loc loc);

/* Forward ops a model may have (the full U-Net has 60): compile time grows
 * with the square of the graph (naming, planning), so a loop or recursion
 * that builds more is an error, not minutes of work. */
#define NC_MAX_FORWARD_OPS 5000

/* Append a node: checks shapes with the op table's shape rule, creates the
 * output tensor (role out_role, named name) and its workspace tensor.
 * Returns the output tensor id (or 0 for update ops), or -1 with the shape
 * rule's message in err, or (a forward op, backward 0, past
 * NC_MAX_FORWARD_OPS) with the limit's. */
int nc_graph_op(nc_graph *g, int op, int n_in, const int32_t *in,
                const int32_t *ia, const float *fa, const char *name,
                int out_role, nc_loc loc, int backward, char *err, size_t errlen);


#endif
