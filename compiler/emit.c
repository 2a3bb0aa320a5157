/* emit.c — lower the graph IR and its entries to an ng_graph; print the
 * graph, a Graphviz view and the memory plan. */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        nc_die("out of memory");
    return p;
}

static int remap(const int *map, int t) { return t < 0 ? -1 : map[t]; }

ng_graph *nc_emit_graph(const nc_graph *g, const nc_entry *e, int n_entries, const char *source)
{
    size_t nt = g->n_tensors;
    int *map = nc_xcalloc(nt, sizeof *map);
    char *used = nc_xcalloc(nt, 1);
    for (int i = 0; i < n_entries; i++)
        for (int s = 0; s < e[i].n_nodes; s++) {
            const ng_node *n = &e[i].nodes[s];
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0)
                    used[n->in[k]] = 1;
            if (n->out >= 0)
                used[n->out] = 1;
            if (n->ws >= 0)
                used[n->ws] = 1;
        }
    const int32_t binds[] = {g->bind.image, g->bind.labels, g->bind.loss, g->bind.output,
                             g->bind.class_weights, g->bind.step, g->bind.total_steps};
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++)
        if (binds[i] >= 0)
            used[binds[i]] = 1;

    ng_graph *out = nc_xcalloc(1, sizeof *out);
    int n = 0;
    for (size_t t = 0; t < nt; t++)
        map[t] = used[t] ? n++ : -1;
    out->n_tensors = n;
    out->tensors = nc_xcalloc((size_t)n, sizeof *out->tensors);
    for (size_t t = 0; t < nt; t++) {
        if (!used[t])
            continue;
        ng_tensor *d = &out->tensors[map[t]];
        *d = g->tensors[t].t;
        d->name = xstrdup(d->name);
        if (d->data) {
            int64_t ne = ng_tensor_nelem(d);
            d->data = nc_xcalloc((size_t)ne, sizeof(float));
            memcpy(d->data, g->tensors[t].t.data, (size_t)ne * sizeof(float));
        }
    }
    out->n_entries = n_entries;
    out->entries = nc_xcalloc((size_t)n_entries, sizeof *out->entries);
    for (int i = 0; i < n_entries; i++) {
        ng_entry *d = &out->entries[i];
        d->name = xstrdup(e[i].name);
        d->n_nodes = e[i].n_nodes;
        d->nodes = nc_xcalloc((size_t)e[i].n_nodes, sizeof *d->nodes);
        for (int s = 0; s < e[i].n_nodes; s++) {
            ng_node nd = e[i].nodes[s];
            for (int k = 0; k < NG_MAX_IN; k++)
                nd.in[k] = remap(map, nd.in[k]);
            nd.out = remap(map, nd.out);
            nd.ws = remap(map, nd.ws);
            d->nodes[s] = nd;
        }
        d->arena_bytes = e[i].arena;
        d->offset = nc_xcalloc((size_t)n, sizeof *d->offset);
        for (size_t t = 0; t < nt; t++)
            if (used[t])
                d->offset[map[t]] = e[i].offset[t];
    }
    out->bind = g->bind;
    out->bind.image = remap(map, g->bind.image);
    out->bind.labels = remap(map, g->bind.labels);
    out->bind.loss = remap(map, g->bind.loss);
    out->bind.output = remap(map, g->bind.output);
    out->bind.class_weights = remap(map, g->bind.class_weights);
    out->bind.step = remap(map, g->bind.step);
    out->bind.total_steps = remap(map, g->bind.total_steps);
    out->n_options = (int32_t)g->n_options;
    out->options = nc_xcalloc(g->n_options ? g->n_options : 1, sizeof *out->options);
    for (size_t i = 0; i < g->n_options; i++)
        out->options[i] = (ng_option){xstrdup(g->options[i].key), xstrdup(g->options[i].value)};
    out->bind.output_name = xstrdup(g->bind.output_name ? g->bind.output_name : "output");
    out->bind.optimizer = xstrdup(g->opt == NC_OPT_NONE ? "" : g->opt_desc ? g->opt_desc
                                  : g->opt == NC_OPT_ADAM ? "adam" : "sgd");
    out->source = xstrdup(source);
    free(map);
    free(used);
    return out;
}

static void print_operand(FILE *out, const nc_graph *g, int t)
{
    if (t < 0)
        fprintf(out, "-");
    else
        fprintf(out, "%%%d:%s", t, g->tensors[t].t.name);
}

/* The node's attributes by the names of the attrs column of ops.def:
 * " {stride=1, pad_top=1, ...}" (integers, then floats); nothing for an op
 * without any. */
static void print_attrs(FILE *out, const ng_node *n)
{
    const char *p = ng_ops[n->op].attrs;
    int ints = 1, slot = 0, shown = 0;
    while (*p) {
        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p == '|') {
            ints = 0, slot = 0, p++;
            continue;
        }
        size_t len = strcspn(p, " |");
        fprintf(out, "%s%.*s=", shown ? ", " : " {", (int)len, p);
        if (ints)
            fprintf(out, "%d", (int)n->ia[slot]);
        else
            fprintf(out, "%g", (double)n->fa[slot]);
        slot++, shown++;
        p += len;
    }
    if (shown)
        fprintf(out, "}");
}

void nc_print_graph(FILE *out, const nc_graph *g, const nc_entry *e, int n_entries)
{
    char sh[64];
    fprintf(out, "# persistent tensors\n");
    for (size_t t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t].t;
        if (!ng_role_is_persistent(x->role))
            continue;
        fprintf(out, "%%%zu:%s : %s %s[%s] init %s\n", t, x->name, ng_role_name(x->role),
                x->dtype == NG_I32 ? "i32" : "f32", ng_shape_str(sh, x->ndim, x->dim), ng_init_name(x->init));
    }
    for (int i = 0; i < n_entries; i++) {
        fprintf(out, "\nentry %s (%d ops)\n", e[i].name, e[i].n_nodes);
        for (int s = 0; s < e[i].n_nodes; s++) {
            const ng_node *n = &e[i].nodes[s];
            fprintf(out, "  %4d ", s);
            if (n->out >= 0) {
                print_operand(out, g, n->out);
                fprintf(out, " [%s] = ", ng_shape_str(sh, g->tensors[n->out].t.ndim, g->tensors[n->out].t.dim));
            }
            fprintf(out, "%s(", ng_ops[n->op].name);
            for (int k = 0; k < n->n_in; k++) {
                if (k)
                    fprintf(out, ", ");
                print_operand(out, g, n->in[k]);
            }
            fprintf(out, ")");
            print_attrs(out, n);
            fprintf(out, "\n");
        }
    }
}

void nc_print_dot(FILE *out, const nc_graph *g, const nc_entry *e, int n_entries)
{
    (void)n_entries;
    const nc_entry *en = &e[0];
    fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n", en->name);
    char *shown = nc_xcalloc(g->n_tensors, 1);
    for (int s = 0; s < en->n_nodes; s++) {
        const ng_node *n = &en->nodes[s];
        const char *color = (ng_ops[n->op].flags & NG_F_UPDATE) ? "lightsalmon"
                            : g->nodes[en->src[s]].backward  ? "lightblue" : "palegreen";
        fprintf(out, "  n%d [shape=box, style=filled, fillcolor=%s, label=\"%s\"];\n", s, color,
                ng_ops[n->op].name);
        for (int k = 0; k < n->n_in; k++) {
            int t = n->in[k];
            if (t < 0)
                continue;
            int p = -1;
            for (int q = 0; q < s; q++)
                if (en->nodes[q].out == t)
                    p = q;
            if (p >= 0) {
                char sh[64];
                fprintf(out, "  n%d -> n%d [label=\"%s\"];\n", p, s, ng_shape_str(sh, g->tensors[t].t.ndim, g->tensors[t].t.dim));
            } else {
                if (!shown[t]) {
                    fprintf(out, "  t%d [shape=ellipse, label=\"%s\"];\n", t, g->tensors[t].t.name);
                    shown[t] = 1;
                }
                fprintf(out, "  t%d -> n%d;\n", t, s);
            }
        }
    }
    fprintf(out, "}\n");
    free(shown);
}

static void human(char *buf, size_t n, int64_t bytes)
{
    if (bytes >= (int64_t)1 << 30)
        snprintf(buf, n, "%.2f GiB", bytes / 1073741824.0);
    else if (bytes >= (int64_t)1 << 20)
        snprintf(buf, n, "%.1f MiB", bytes / 1048576.0);
    else
        snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
}

void nc_print_plan(FILE *out, const nc_graph *g, const nc_entry *e, int n_entries)
{
    int64_t persistent = 0;
    for (size_t t = 0; t < g->n_tensors; t++)
        if (ng_role_is_persistent(g->tensors[t].t.role))
            persistent += ng_tensor_bytes(&g->tensors[t].t);
    char a[32], b[32], c[32];
    human(a, sizeof a, persistent);
    fprintf(out, "persistent (inputs, params, optimizer state, consts): %lld bytes (%s)\n",
            (long long)persistent, a);
    for (int i = 0; i < n_entries; i++) {
        const nc_entry *en = &e[i];
        human(a, sizeof a, en->naive);
        human(b, sizeof b, en->lower);
        human(c, sizeof c, en->arena);
        fprintf(out, "\nentry %s: %d ops\n", en->name, en->n_nodes);
        fprintf(out, "  naive sum     %14lld  (%s)\n", (long long)en->naive, a);
        fprintf(out, "  liveness bound%14lld  (%s)\n", (long long)en->lower, b);
        fprintf(out, "  planned arena %14lld  (%s)\n", (long long)en->arena, c);
        if (en->lower > 0 && en->naive > 0)
            fprintf(out, "  arena / bound %.3f   arena / naive %.3f\n", (double)en->arena / en->lower,
                    (double)en->arena / en->naive);
        fprintf(out, "  %-48s %12s %6s %6s %14s  %s\n", "tensor", "bytes", "first", "last", "offset",
                "in place over");
        for (size_t t = 0; t < g->n_tensors; t++) {
            if (en->offset[t] < 0)
                continue;
            fprintf(out, "  %-48s %12lld %6d %6d %14lld  %s\n", g->tensors[t].t.name,
                    (long long)ng_tensor_bytes(&g->tensors[t].t), en->first[t], en->last[t],
                    (long long)en->offset[t], en->alias[t] != (int)t ? g->tensors[en->alias[t]].t.name : "");
        }
    }
}
