/* graph.c — building the graph IR: tensors with unique names, nodes whose
 * output shapes come from the shared shape rules (ng_op_shape). */
#include "graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void nc_graph_init(nc_graph *g, nc_arena *a)
{
    memset(g, 0, sizeof *g);
    g->arena = a;
    g->bind.image = g->bind.labels = g->bind.loss = g->bind.output = -1;
    g->bind.class_weights = g->bind.step = g->bind.total_steps = -1;
    g->bind.ignore = 255;
    g->opt_lr = -1;
}

void nc_graph_set_option(nc_graph *g, const char *key, const char *value)
{
    for (size_t i = 0; i < g->n_options; i++)
        if (strcmp(g->options[i].key, key) == 0) {
            g->options[i].value = nc_arena_strdup(g->arena, value);
            return;
        }
    g->options = nc_grow(g->options, &g->cap_options, g->n_options + 1, sizeof *g->options);
    g->options[g->n_options++] = (ng_option){nc_arena_strdup(g->arena, key),
                                             nc_arena_strdup(g->arena, value)};
}

void nc_graph_free(nc_graph *g)
{
    if (!g)
        return;
    free(g->tensors);
    free(g->nodes);
    free(g->grad_of);
    free(g->options);
    free(g->names);
    memset(g, 0, sizeof *g);
}

/* --- the names taken: a set of the tensors' names ------------------------ */

struct nc_name_slot {
    const char *name;    /* NULL: empty; else the arena's copy, a tensor's name */
    int next;            /* the suffix to try first when name is asked for again */
};

/* The slot of name: its own, or the empty one where it would go. */
static struct nc_name_slot *name_slot(const nc_graph *g, const char *name)
{
    size_t mask = g->cap_names - 1;
    for (size_t i = (size_t)ng_fnv1a(NG_FNV_BASIS, name, strlen(name)) & mask;; i = (i + 1) & mask)
        if (!g->names[i].name || strcmp(g->names[i].name, name) == 0)
            return &g->names[i];
}

/* Add name (not yet taken), doubling the table past half full. */
static struct nc_name_slot *name_add(nc_graph *g, const char *name)
{
    if (2 * (g->n_names + 1) > g->cap_names) {
        struct nc_name_slot *old = g->names;
        size_t n = g->cap_names;
        g->cap_names = n ? 2 * n : 64;
        g->names = nc_xcalloc(g->cap_names, sizeof *g->names);
        for (size_t i = 0; i < n; i++)
            if (old[i].name)
                *name_slot(g, old[i].name) = old[i];
        free(old);
    }
    struct nc_name_slot *s = name_slot(g, name);
    *s = (struct nc_name_slot){name, 2};
    g->n_names++;
    return s;
}

/* name itself when it is free, else name_K with the least K >= 2 that is
 * (each taken name remembers where its search ended): a new name, taken. */
static char *name_take(nc_graph *g, const char *name)
{
    char *nm = nc_arena_strdup(g->arena, name);
    struct nc_name_slot *s = g->cap_names ? name_slot(g, nm) : NULL;
    if (!s || !s->name) {
        name_add(g, nm);
        return nm;
    }
    int k = s->next;
    do
        nm = nc_arena_printf(g->arena, "%s_%d", name, k++);
    while (name_slot(g, nm)->name);
    s->next = k; /* names are never released: every suffix below k stays taken */
    name_add(g, nm);
    return nm;
}

int nc_graph_tensor(nc_graph *g, const char *name, int dtype, int role,
                    int ndim, const int32_t *dim, nc_loc loc)
{
    g->tensors = nc_grow(g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof *g->tensors);
    nc_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->t.name = name_take(g, name);
    t->t.dtype = (uint8_t)dtype;
    t->t.role = (uint8_t)role;
    t->t.ndim = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        t->t.dim[i] = dim[i];
    t->loc = loc;
    t->producer = -1;
    return (int)g->n_tensors++;
}

int nc_graph_op(nc_graph *g, int op, int n_in, const int32_t *in,
                const int32_t *ia, const float *fa, const char *name,
                int out_role, nc_loc loc, int backward, char *err, size_t errlen)
{
    if (op < 0 || op >= NG_OP_COUNT || n_in > NG_MAX_IN)
        nc_die("bad op %d / %d inputs", op, n_in);
    if (!backward && g->n_nodes >= NC_MAX_FORWARD_OPS) {
        snprintf(err, errlen, "the model has more than %d ops (a loop or a recursion too large?)",
                 NC_MAX_FORWARD_OPS);
        return -1;
    }
    ng_node n;
    memset(&n, 0, sizeof n);
    n.op = (uint16_t)op;
    n.n_in = (uint8_t)n_in;
    for (int i = 0; i < NG_MAX_IN; i++)
        n.in[i] = i < n_in ? in[i] : -1;
    if (ia)
        memcpy(n.ia, ia, sizeof n.ia);
    if (fa)
        memcpy(n.fa, fa, sizeof n.fa);
    n.out = n.ws = -1;

    const ng_tensor *ins[NG_MAX_IN] = {0};
    for (int i = 0; i < n_in; i++)
        ins[i] = in[i] >= 0 ? &g->tensors[in[i]].t : NULL;
    ng_tensor out;
    memset(&out, 0, sizeof out);
    int64_t ws = 0;
    if (ng_op_shape(&n, ins, &out, &ws, err, errlen) != 0)
        return -1;

    int result = 0;
    if (!(ng_ops[op].flags & NG_F_UPDATE)) {
        n.out = nc_graph_tensor(g, name, out.dtype, out_role, out.ndim, out.dim, loc);
        g->tensors[n.out].producer = (int)g->n_nodes;
        result = n.out;
    }
    if (ws > 0) {
        if (ws > INT32_MAX)
            nc_die("workspace of %lld elements", (long long)ws);
        int32_t d = (int32_t)ws;
        n.ws = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.ws", name), NG_F32,
                               NG_ROLE_WORKSPACE, 1, &d, loc);
        g->tensors[n.ws].producer = (int)g->n_nodes;
    }
    g->nodes = nc_grow(g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes);
    g->nodes[g->n_nodes].n = n;
    g->nodes[g->n_nodes].loc = loc;
    g->nodes[g->n_nodes].backward = backward;
    g->n_nodes++;
    return result;
}

