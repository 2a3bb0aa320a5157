/* fuse.c — group_norm + relu or leaky_relu as one group_norm_act node.
 * Requires: the forward graph from the elaborator (autodiff not run yet).
 * Why before autodiff: the fused op has a gradient rule of its own
 * (compiler/autodiff.c g_group_norm_act), which reads dy, the fused output
 * and x once for all of dx, dgamma and dbeta; fusing after autodiff would
 * have to find and replace four backward ops (leaky_relu_bwd, group_norm_bwd,
 * group_norm_bwd_gamma and the bias gradient) instead of two forward ones.
 * The eval and infer entries run the fused op too.  A model file cannot
 * name group_norm_act: the fusion is netc's choice wherever it is exact
 * (the norm's output has no other reader), not a second spelling of
 * leaky_relu(instance_norm(x)). */
#include "fuse.h"

#include <stdlib.h>

static int is_bound(const nc_graph *g, int t)
{
    const ng_bindings *b = &g->bind;
    return t == b->image || t == b->labels || t == b->loss || t == b->output || t == b->class_weights ||
           t == b->step || t == b->total_steps;
}

/* Removes node i from the graph (nothing reads its output any more), and
 * renumbers the producers after it. */
static void remove_node(nc_graph *g, size_t i)
{
    for (size_t j = i + 1; j < g->n_nodes; j++)
        g->nodes[j - 1] = g->nodes[j];
    g->n_nodes--;
    for (size_t t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].producer > (int)i)
            g->tensors[t].producer--;
}

int nc_fuse_norm_act(nc_graph *g)
{
    int *readers = nc_xcalloc(g->n_tensors, sizeof *readers), fused = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n.n_in; k++)
            if (g->nodes[i].n.in[k] >= 0)
                readers[g->nodes[i].n.in[k]]++;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const ng_node *act = &g->nodes[i].n;
        if (g->nodes[i].backward)
            nc_die("nc_fuse_norm_act: a backward node (run it before autodiff)");
        if (act->op != NG_OP_RELU && act->op != NG_OP_LEAKY_RELU)
            continue;
        int y = act->in[0], p = g->tensors[y].producer;
        if (p < 0 || g->nodes[p].n.op != NG_OP_GROUP_NORM || readers[y] != 1 || is_bound(g, y))
            continue;
        ng_node *norm = &g->nodes[p].n;
        norm->op = NG_OP_GROUP_NORM_ACT;
        norm->fa[1] = act->op == NG_OP_RELU ? 0.0f : act->fa[0];
        norm->out = act->out;
        g->tensors[act->out].producer = p;
        g->tensors[y].producer = -1; /* read by nothing now: emit leaves it out */
        remove_node(g, i--);
        fused++;
    }
    free(readers);
    return fused;
}
