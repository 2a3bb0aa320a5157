/* entry.c — select each entry's nodes: roots, dropout removal, dead-code
 * elimination, conv2d + relu fused, in the graph's (topological) creation
 * order; then, for the
 * train entry, optional recomputation of cheap activations in the backward
 * pass and a schedule that runs each optimizer update as early as it may. */
#include "entry.h"

#include <stdlib.h>
#include <string.h>

/* The tensor whose storage t's name stands for after the aliases. */
static int resolve(const int *alias, int t)
{
    while (alias[t] != t)
        t = alias[t];
    return t;
}

/* conv2d + relu: when a kept relu reads a kept conv2d's output and nothing
 * else reads it, the relu runs in the convolution's epilogue (conv2d ia[5] =
 * 1, see ops.def) and its output becomes the convolution's (alias).  The
 * backward pass is unchanged: relu_bwd reads the relu's output, now the
 * convolution's.  Marks the fused convolutions in fused[]. */
static void fuse_conv_relu(const nc_graph *g, int *alias, char *keep, char *fused)
{
    size_t nt = g->n_tensors, nn = g->n_nodes;
    int *readers = nc_xcalloc(nt, sizeof *readers);
    for (size_t i = 0; i < nn; i++)
        for (int k = 0; keep[i] && k < g->nodes[i].n.n_in; k++)
            if (g->nodes[i].n.in[k] >= 0)
                readers[resolve(alias, g->nodes[i].n.in[k])]++;
    for (size_t i = 0; i < nn; i++) {
        const ng_node *r = &g->nodes[i].n;
        if (!keep[i] || r->op != NG_OP_RELU)
            continue;
        int x = resolve(alias, r->in[0]), p = g->tensors[x].producer;
        if (p < 0 || !keep[p] || g->nodes[p].n.op != NG_OP_CONV2D || g->nodes[p].n.ia[5] ||
            readers[x] != 1 || x == g->bind.output || x == g->bind.loss ||
            r->out == g->bind.output || r->out == g->bind.loss)
            continue;
        alias[r->out] = x;
        keep[i] = 0;
        fused[p] = 1;
    }
    free(readers);
}

static void build(const nc_graph *g, nc_entry *e, const char *name, int train,
                  const int *roots, int n_roots)
{
    size_t nt = g->n_tensors, nn = g->n_nodes;
    int *alias = nc_xcalloc(nt, sizeof *alias);
    char *live = nc_xcalloc(nt, 1), *keep = nc_xcalloc(nn, 1), *fused = nc_xcalloc(nn, 1);
    for (size_t t = 0; t < nt; t++)
        alias[t] = (int)t;
    if (!train) /* dropout is the identity outside training */
        for (size_t i = 0; i < nn; i++) {
            const ng_node *n = &g->nodes[i].n;
            if ((n->op == NG_OP_MUL_CHANNEL && g->tensors[n->in[1]].producer >= 0 &&
                 g->nodes[g->tensors[n->in[1]].producer].n.op == NG_OP_DROPOUT_MASK) ||
                n->op == NG_OP_DROPOUT)
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
    fuse_conv_relu(g, alias, keep, fused);
    e->name = name;
    e->nodes = nc_arena_array(g->arena, nn, sizeof *e->nodes);
    e->src = nc_arena_array(g->arena, nn, sizeof *e->src);
    for (size_t i = 0; i < nn; i++) {
        if (!keep[i])
            continue;
        ng_node n = g->nodes[i].n;
        for (int k = 0; k < n.n_in; k++)
            if (n.in[k] >= 0)
                n.in[k] = resolve(alias, n.in[k]);
        if (fused[i])
            n.ia[5] = 1;
        if (!train && n.op == NG_OP_BATCH_NORM) /* the running statistics */
            n.ia[0] = 0;
        e->src[e->n_nodes] = (int)i;
        e->nodes[e->n_nodes++] = n;
    }
    free(alias);
    free(live);
    free(keep);
    free(fused);
}

/* NG_F_RECOMPUTABLE ops are cheap, and their inputs stay alive for the
 * backward pass anyway; relu is not one: it runs in place on its input
 * instead, and neither is a concat of a batch of one, which costs nothing
 * (plan.c). */
static int recomputable(const nc_graph *g, const ng_node *n)
{
    if (!(ng_ops[n->op].flags & NG_F_RECOMPUTABLE))
        return 0;
    return n->op != NG_OP_CONCAT || g->tensors[n->out].t.dim[0] != 1;
}

/* Recompute: each cheap forward op whose output the backward pass reads is
 * run again right before its first backward reader, which then reads the
 * copy; the forward output dies at its last forward use.  Adds tensors to g
 * (the copies are named NAME.recompute). */
static void recompute(nc_graph *g, nc_entry *e)
{
    int n = e->n_nodes, first_bwd = n;
    for (int s = 0; s < n; s++)
        if (g->nodes[e->src[s]].backward) {
            first_bwd = s;
            break;
        }
    ng_node *nodes = nc_arena_array(g->arena, (size_t)n * 2 + 1, sizeof *nodes);
    int *src = nc_arena_array(g->arena, (size_t)n * 2 + 1, sizeof *src);
    size_t n_orig = g->n_tensors;
    int *copy_of = malloc(n_orig * sizeof *copy_of); /* forward tensor -> its copy */
    int *made_at = malloc(n_orig * sizeof *made_at); /* forward tensor -> its step */
    if (!copy_of || !made_at)
        nc_die("out of memory");
    for (size_t t = 0; t < n_orig; t++)
        copy_of[t] = made_at[t] = -1;
    for (int q = 0; q < first_bwd; q++)
        if (e->nodes[q].out >= 0)
            made_at[e->nodes[q].out] = q;
    int m = 0;
    for (int s = 0; s < n; s++) {
        if (s >= first_bwd) {
            /* before backward node s: the copies of the forward outputs it
             * reads first */
            ng_node *b = &e->nodes[s];
            for (int k = 0; k < b->n_in; k++) {
                int t = b->in[k];
                if (t < 0 || (size_t)t >= n_orig)
                    continue; /* absent, or already a copy */
                int p = made_at[t];
                if (p < 0 || !recomputable(g, &e->nodes[p]))
                    continue;
                ng_node copy = e->nodes[p];
                for (int j = 0; j < copy.n_in; j++) /* read earlier copies */
                    if (copy.in[j] >= 0 && (size_t)copy.in[j] < n_orig && copy_of[copy.in[j]] >= 0)
                        copy.in[j] = copy_of[copy.in[j]];
                const nc_tensor orig = g->tensors[t]; /* a copy: the table grows */
                copy.out = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.recompute", orig.t.name),
                                           orig.t.dtype, NG_ROLE_ACT, orig.t.ndim, orig.t.dim, orig.loc);
                copy_of[t] = copy.out;
                g->tensors[copy.out].producer = e->src[p];
                nodes[m] = copy;
                src[m++] = e->src[p];
                for (int r = s; r < n; r++) /* later backward readers use the copy */
                    for (int j = 0; j < e->nodes[r].n_in; j++)
                        if (e->nodes[r].in[j] == t)
                            e->nodes[r].in[j] = copy.out;
            }
        }
        nodes[m] = e->nodes[s];
        src[m++] = e->src[s];
    }
    free(copy_of);
    free(made_at);
    e->nodes = nodes;
    e->src = src;
    e->n_nodes = m;
}

/* Run each optimizer update right after its gradient is complete and the
 * last op that reads its parameter (the update writes it in place), instead
 * of at the end: the gradient then dies at once rather than living until
 * every update ran.  Other ops keep their order. */
static void schedule_updates(const nc_graph *g, nc_entry *e)
{
    int n = e->n_nodes;
    size_t nt = g->n_tensors;
    int *produced = malloc(nt * sizeof *produced), *last_read = malloc(nt * sizeof *last_read);
    int *ready = malloc((size_t)(n + 1) * sizeof *ready);
    ng_node *nodes = nc_arena_array(g->arena, (size_t)n + 1, sizeof *nodes);
    int *src = nc_arena_array(g->arena, (size_t)n + 1, sizeof *src);
    if (!produced || !last_read || !ready)
        nc_die("out of memory");
    for (size_t t = 0; t < nt; t++)
        produced[t] = last_read[t] = -1;
    for (int s = 0; s < n; s++) {
        const ng_node *x = &e->nodes[s];
        if (ng_ops[x->op].flags & NG_F_UPDATE)
            continue;
        if (x->out >= 0)
            produced[x->out] = s;
        for (int k = 0; k < x->n_in; k++)
            if (x->in[k] >= 0)
                last_read[x->in[k]] = s;
    }
    for (int s = 0; s < n; s++) {
        const ng_node *x = &e->nodes[s];
        ready[s] = -2; /* not an update */
        if (!(ng_ops[x->op].flags & NG_F_UPDATE))
            continue;
        ready[s] = -1;
        for (int k = 0; k < x->n_in; k++) {
            int t = x->in[k];
            if (t < 0)
                continue;
            if (produced[t] > ready[s])
                ready[s] = produced[t];
            if (last_read[t] > ready[s])
                ready[s] = last_read[t];
        }
    }
    int m = 0;
    for (int s = -1; s < n; s++) {
        if (s >= 0 && ready[s] == -2) {
            nodes[m] = e->nodes[s];
            src[m++] = e->src[s];
        }
        for (int u = 0; u < n; u++)
            if (ready[u] == s) {
                nodes[m] = e->nodes[u];
                src[m++] = e->src[u];
            }
    }
    if (m != n)
        nc_die("update schedule lost ops (%d of %d)", m, n);
    e->nodes = nodes;
    e->src = src;
    free(produced);
    free(last_read);
    free(ready);
}

int nc_entries_build(nc_graph *g, nc_entry *e, int recompute_on)
{
    memset(e, 0, NC_MAX_ENTRIES * sizeof *e);
    int n = 0;
    if (g->bind.loss >= 0) {
        int roots[1] = {g->bind.loss};
        build(g, &e[n], "train", 1, roots, 1);
        if (recompute_on)
            recompute(g, &e[n]);
        schedule_updates(g, &e[n]);
        n++;
        int roots2[2] = {g->bind.loss, g->bind.output};
        build(g, &e[n++], "eval", 0, roots2, 2);
    }
    int roots3[1] = {g->bind.output};
    build(g, &e[n++], "infer", 0, roots3, 1);
    for (int i = 0; i < n; i++)
        nc_plan(g, &e[i]);
    return n;
}

void nc_entry_build_gradients(nc_graph *g, nc_entry *e)
{
    int *roots = nc_xcalloc(g->n_grad_of + 1, sizeof *roots), n = 0;
    roots[n++] = g->bind.loss;
    for (size_t t = 0; t < g->n_grad_of; t++)
        if (g->tensors[t].t.role == NG_ROLE_PARAM && g->grad_of[t] >= 0)
            roots[n++] = g->grad_of[t];
    memset(e, 0, sizeof *e);
    build(g, e, "train", 1, roots, n);
    nc_plan(g, e);
    free(roots);
}
