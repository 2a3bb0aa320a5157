/* test_plan.c — properties of the memory plan, on every entry of the
 * models given on the command line (at several sizes) and on random graphs:
 * tensors whose lifetimes overlap never share a byte (except an in-place
 * output and the input it overwrites, at that op only, and views of the same
 * data through zero-copy concats and slices), every tensor lies in
 * the arena, and the arena sits between the liveness bound and the naive sum.
 * Usage: test_plan MODEL.net... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "util.h"

static int failures, checks;

static void expect(int ok, const char *name, const char *detail)
{
    checks++;
    if (!ok) {
        failures++;
        printf("FAIL - %s: %s\n", name, detail);
    }
}

/* The tensor whose storage t is a view of: follows concat inputs to their
 * output and slice outputs to their input while the offsets match (the
 * parts of a zero-copy concat or slice).  t itself when it is no view. */
static int view_root(const nc_graph *g, const nc_entry *e, int t)
{
    for (int hops = 0; hops < 64; hops++) {
        int parent = -1;
        for (int s = 0; s < e->n_nodes && parent < 0; s++) {
            const ng_node *n = &e->nodes[s];
            if (n->op != NG_OP_CONCAT && n->op != NG_OP_SLICE_C)
                continue;
            const ng_tensor *y = &g->tensors[n->out].t;
            int64_t plane = (int64_t)y->dim[2] * y->dim[3] * 4;
            if (n->op == NG_OP_SLICE_C && n->out == t && e->offset[t] == e->offset[n->in[0]] + n->ia[0] * plane)
                parent = n->in[0];
            if (n->op == NG_OP_CONCAT) {
                int64_t c0 = 0;
                for (int k = 0; k < n->n_in; k++) {
                    if (n->in[k] == t && e->offset[t] == e->offset[n->out] + c0 * plane)
                        parent = n->out;
                    c0 += g->tensors[n->in[k]].t.dim[1];
                }
            }
        }
        if (parent < 0)
            return t;
        t = parent;
    }
    return t;
}

/* Check one planned entry; returns the number of violations. */
static int check_entry(const nc_graph *g, const nc_entry *e, const char *name)
{
    char msg[512];
    int bad = 0;
    size_t nt = g->n_tensors;
    for (size_t t = 0; t < nt; t++) {
        if (e->offset[t] < 0)
            continue;
        int64_t end = e->offset[t] + (int64_t)ng_tensor_bytes(&g->tensors[t].t);
        if (e->offset[t] % 4 || end > e->arena) {
            snprintf(msg, sizeof msg, "%s: %s at %lld..%lld outside the %lld-byte arena or not 4-byte aligned",
                     e->name, g->tensors[t].t.name, (long long)e->offset[t], (long long)end, (long long)e->arena);
            expect(0, name, msg);
            bad++;
        }
        for (size_t u = t + 1; u < nt; u++) {
            if (e->offset[u] < 0 || e->first[u] > e->last[t] || e->first[t] > e->last[u])
                continue;
            int64_t tend = e->offset[t] + (int64_t)ng_tensor_bytes(&g->tensors[t].t);
            int64_t uend = e->offset[u] + (int64_t)ng_tensor_bytes(&g->tensors[u].t);
            if (e->offset[t] >= uend || e->offset[u] >= tend)
                continue; /* disjoint bytes (a slice of a concat's storage, say) */
            if (view_root(g, e, (int)t) == view_root(g, e, (int)u))
                continue; /* views of the same data: zero-copy concat or slice */
            if (e->alias[t] == e->alias[u]) {
                /* written in place: the two may meet only at the op that
                 * reads one and writes the other */
                int lo = e->first[t] > e->first[u] ? e->first[t] : e->first[u];
                int hi = e->last[t] < e->last[u] ? e->last[t] : e->last[u];
                if (hi > lo) {
                    snprintf(msg, sizeof msg, "%s: %s and %s share bytes and are live together at steps %d..%d",
                             e->name, g->tensors[t].t.name, g->tensors[u].t.name, lo, hi);
                    expect(0, name, msg);
                    bad++;
                }
                continue;
            }
            {
                snprintf(msg, sizeof msg, "%s: %s and %s are live together and overlap", e->name,
                         g->tensors[t].t.name, g->tensors[u].t.name);
                expect(0, name, msg);
                bad++;
            }
        }
    }
    snprintf(msg, sizeof msg, "%s: arena %lld, bound %lld, naive %lld", e->name, (long long)e->arena,
             (long long)e->lower, (long long)e->naive);
    expect(e->lower <= e->arena && e->arena <= e->naive, name, msg);
    return bad + (e->lower > e->arena || e->arena > e->naive);
}

static void check_model(const char *path, const char *text, nc_define *defs, int n_defs, const char *label,
                        int recompute_on)
{
    nc_options o = {.path = path, .text = text, .len = strlen(text), .defs = defs, .n_defs = n_defs,
                    .recompute = recompute_on};
    nc_unit u;
    if (nc_compile(&u, &o) != 0) {
        expect(0, label, "does not compile");
    } else {
        int bad = 0;
        for (int i = 0; i < u.n_entries; i++)
            bad += check_entry(&u.g, &u.entries[i], label);
        if (!bad)
            printf("ok - %s: %d entries planned without overlap\n", label, u.n_entries);
    }
    nc_unit_free(&u);
}

static uint64_t rng = 88172645463325252ull;
static int rnd(int n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (int)(rng % (uint64_t)n);
}

/* A random DAG of relu, add, concat and slice ops over (1, C, 8, 8)
 * tensors with random channel counts; the last tensor is the root. */
static void check_random(int seed)
{
    char label[64];
    snprintf(label, sizeof label, "random graph %d", seed);
    nc_arena a = {0};
    nc_graph g;
    nc_graph_init(&g, &a);
    nc_loc loc = {0};
    int32_t dim[4] = {1, 1 + rnd(16), 8, 8};
    int pool[256], n_pool = 0;
    pool[n_pool++] = nc_graph_tensor(&g, "x", NG_F32, NG_ROLE_INPUT, 4, dim, loc);
    int n_ops = 10 + rnd(60);
    char err[256];
    for (int i = 0; i < n_ops; i++) {
        int x = pool[rnd(n_pool)], y = pool[rnd(n_pool)];
        int32_t in[2] = {x, y}, ia[NG_MAX_IA] = {0};
        int t = -1, kind = rnd(4);
        const char *nm = nc_arena_printf(&a, "t%d", i);
        if (kind == 0) {
            t = nc_graph_op(&g, NG_OP_RELU, 1, in, NULL, NULL, nm, NG_ROLE_ACT, loc, 0, err, sizeof err);
        } else if (kind == 1 && g.tensors[x].t.dim[1] == g.tensors[y].t.dim[1]) {
            t = nc_graph_op(&g, NG_OP_ADD, 2, in, NULL, NULL, nm, NG_ROLE_ACT, loc, 0, err, sizeof err);
        } else if (kind == 2) {
            t = nc_graph_op(&g, NG_OP_CONCAT, 2, in, NULL, NULL, nm, NG_ROLE_ACT, loc, 0, err, sizeof err);
        } else {
            int c = g.tensors[x].t.dim[1];
            ia[0] = rnd(c);
            ia[1] = 1 + rnd(c - ia[0]);
            t = nc_graph_op(&g, NG_OP_SLICE_C, 1, in, ia, NULL, nm, NG_ROLE_ACT, loc, 0, err, sizeof err);
        }
        if (t >= 0 && n_pool < 256)
            pool[n_pool++] = t;
    }
    g.bind.output = pool[n_pool - 1];
    /* every node kept: an entry of all nodes, as in the gradient tests */
    nc_entry e;
    memset(&e, 0, sizeof e);
    e.name = "random";
    e.n_nodes = (int)g.n_nodes;
    e.nodes = nc_arena_array(&a, g.n_nodes + 1, sizeof *e.nodes);
    e.src = nc_arena_array(&a, g.n_nodes + 1, sizeof *e.src);
    for (size_t i = 0; i < g.n_nodes; i++)
        e.nodes[i] = g.nodes[i].n;
    nc_plan(&g, &e);
    if (getenv("DUMP") && seed == atoi(getenv("DUMP")))
        for (int s2 = 0; s2 < e.n_nodes; s2++) {
            const ng_node *q = &e.nodes[s2];
            printf("# %2d %-14s out t%-3d [%d..%d] off %lld grp %d |", s2, ng_ops[q->op].name, q->out,
                   e.first[q->out], e.last[q->out], (long long)e.offset[q->out], e.alias[q->out]);
            for (int k = 0; k < q->n_in; k++)
                printf(" %d", q->in[k]);
            printf(" c=%d\n", (int)g.tensors[q->out].t.dim[1]);
        }
    int bad = check_entry(&g, &e, label);
    if (!bad && seed % 50 == 0)
        printf("ok - %s: %d ops, arena / bound %.3f\n", label, e.n_nodes,
               e.lower ? (double)e.arena / e.lower : 1.0);
    nc_graph_free(&g);
    nc_arena_free(&a);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t read_len;
        char *text = ng_read_file(argv[i], &read_len);
        if (!text) {
            expect(0, argv[i], "cannot read");
            continue;
        }
        char label[512];
        snprintf(label, sizeof label, "%s (as written)", argv[i]);
        check_model(argv[i], text, NULL, 0, label, 0);
        snprintf(label, sizeof label, "%s (as written, recompute)", argv[i]);
        check_model(argv[i], text, NULL, 0, label, 1);
        nc_define small[] = {{"BASE", "4", 0}, {"SIZE", "32", 0}, {"BATCH", "3", 0}, {"DEPTH", "3", 0}};
        snprintf(label, sizeof label, "%s (base 4, 32x32, batch 3, depth 3)", argv[i]);
        check_model(argv[i], text, small, 4, label, 0);
        free(text);
    }
    for (int s = 1; s <= 300; s++)
        check_random(s);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
