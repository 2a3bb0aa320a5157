/* entry.c — select each entry's nodes: roots, dropout removal, dead-code
 * elimination, in the graph's (topological) creation order. */
#include "entry.h"

#include <stdlib.h>
#include <string.h>

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        nc_die("out of memory");
    return p;
}

static void build(const nc_graph *g, nc_entry *e, const char *name, int train,
                  const int *roots, int n_roots)
{
    size_t nt = g->n_tensors, nn = g->n_nodes;
    int *alias = xcalloc(nt, sizeof *alias);
    char *live = xcalloc(nt, 1), *keep = xcalloc(nn, 1);
    for (size_t t = 0; t < nt; t++)
        alias[t] = (int)t;
    if (!train) /* dropout is the identity outside training */
        for (size_t i = 0; i < nn; i++) {
            const ng_node *n = &g->nodes[i].n;
            if (n->op == NG_OP_MUL_CHANNEL && g->tensors[n->in[1]].producer >= 0 &&
                g->nodes[g->tensors[n->in[1]].producer].n.op == NG_OP_DROPOUT_MASK)
                alias[n->out] = alias[n->in[0]];
        }
    for (int r = 0; r < n_roots; r++)
        live[alias[roots[r]]] = 1;
    for (size_t i = nn; i-- > 0;) {
        const nc_node *n = &g->nodes[i];
        if (n->backward && !train)
            continue;
        int is_update = (ng_ops[n->n.op].flags & NG_F_UPDATE) != 0;
        if (!(is_update && train) && !(n->n.out >= 0 && alias[n->n.out] == n->n.out && live[n->n.out]))
            continue;
        keep[i] = 1;
        for (int k = 0; k < n->n.n_in; k++)
            if (n->n.in[k] >= 0)
                live[alias[n->n.in[k]]] = 1;
    }
    e->name = name;
    e->nodes = xcalloc(nn, sizeof *e->nodes);
    e->src = xcalloc(nn, sizeof *e->src);
    for (size_t i = 0; i < nn; i++) {
        if (!keep[i])
            continue;
        ng_node n = g->nodes[i].n;
        for (int k = 0; k < n.n_in; k++)
            if (n.in[k] >= 0)
                n.in[k] = alias[n.in[k]];
        e->src[e->n_nodes] = (int)i;
        e->nodes[e->n_nodes++] = n;
    }
    free(alias);
    free(live);
    free(keep);
}

int nc_entries_build(const nc_graph *g, nc_entry *e)
{
    memset(e, 0, NC_MAX_ENTRIES * sizeof *e);
    int n = 0;
    if (g->bind.loss >= 0) {
        int roots[1] = {g->bind.loss};
        build(g, &e[n++], "train", 1, roots, 1);
        int roots2[2] = {g->bind.loss, g->bind.output};
        build(g, &e[n++], "eval", 0, roots2, 2);
    }
    int roots3[1] = {g->bind.output};
    build(g, &e[n++], "infer", 0, roots3, 1);
    for (int i = 0; i < n; i++)
        nc_plan(g, &e[i]);
    return n;
}

void nc_entry_free(nc_entry *e)
{
    if (!e)
        return;
    free(e->nodes);
    free(e->src);
    free(e->offset);
    free(e->first);
    free(e->last);
    memset(e, 0, sizeof *e);
}
