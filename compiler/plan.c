/* plan.c — the memory plan of one entry.
 * Requires an entry's node list.  Every non-persistent tensor gets a
 * lifetime [first, last] in steps of the schedule (the loss and the output
 * live to the end, so netrun can read them) and an offset in one arena.
 * Elementwise ops write in place over an input that dies there (one storage
 * group).  Offsets: best fit into the gaps left by placed groups whose
 * lifetimes overlap, in three orders -- largest first (the TFLite arena
 * planner's greedy by size), first use first, longest lifetime first --
 * keeping the smallest arena.
 * The liveness bound counts each group once.
 * Also records the naive sum and the liveness lower bound. */
#include "entry.h"

#include <stdlib.h>
#include <string.h>

static int64_t aligned_bytes(const ng_tensor *t)
{
    return (ng_tensor_bytes(t) + NC_ALIGN - 1) / NC_ALIGN * NC_ALIGN;
}

typedef struct {
    int t;
    int64_t size;
} item;

/* Lifetimes used by the sort orders and the placement: one per storage
 * group (a tensor and the tensors written in place over it). */
static const int *life_first, *life_last;

static int by_size_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    int fx = life_first[x->t], fy = life_first[y->t];
    if (fx != fy)
        return fx < fy ? -1 : 1;
    return x->t - y->t;
}

/* First use, then larger first: the order in which a linear scan would
 * allocate (first fit in time). */
static int by_first_use(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int fx = life_first[x->t], fy = life_first[y->t];
    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->t - y->t;
}

/* Longest lifetime first, then larger first: long-lived groups settle at
 * the bottom and short ones fill the gaps above. */
static int by_lifetime(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int lx = life_last[x->t] - life_first[x->t], ly = life_last[y->t] - life_first[y->t];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->t - y->t;
}

/* Largest area (bytes x steps) first: the groups that constrain the most
 * go down first. */
static int by_area(const void *a, const void *b)
{
    const item *x = a, *y = b;
    double ax = (double)x->size * (life_last[x->t] - life_first[x->t] + 1);
    double ay = (double)y->size * (life_last[y->t] - life_first[y->t] + 1);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return x->t - y->t;
}

/* Last use first (latest death first), then larger first. */
static int by_last_use(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int lx = life_last[x->t], ly = life_last[y->t];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->t - y->t;
}

typedef struct {
    int64_t off, end;
} span;

static int by_off(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Place items in the given order: each at the smallest gap between the
 * already placed groups whose lifetimes overlap its own that fits it (best
 * fit), else above them.  Writes offset[t]; returns the arena size. */
static int64_t place(const item *items, int n_items, span *placed, int64_t *offset)
{
    int64_t arena = 0;
    for (int i = 0; i < n_items; i++) {
        int t = items[i].t;
        int64_t size = items[i].size;
        int n_placed = 0;
        for (int j = 0; j < i; j++) {
            int u = items[j].t;
            if (life_first[u] <= life_last[t] && life_first[t] <= life_last[u])
                placed[n_placed++] = (span){offset[u], offset[u] + items[j].size};
        }
        qsort(placed, (size_t)n_placed, sizeof *placed, by_off);
        int64_t best = -1, best_gap = INT64_MAX, prev_end = 0;
        for (int j = 0; j < n_placed; j++) {
            int64_t gap = placed[j].off - prev_end;
            if (gap >= size && gap < best_gap) {
                best = prev_end;
                best_gap = gap;
            }
            if (placed[j].end > prev_end)
                prev_end = placed[j].end;
        }
        if (best < 0)
            best = prev_end;
        offset[t] = best;
        if (best + size > arena)
            arena = best + size;
    }
    return arena;
}

static void touch(nc_entry *e, const nc_graph *g, int t, int step)
{
    if (t < 0 || ng_role_is_persistent(g->tensors[t].t.role))
        return;
    if (e->first[t] < 0)
        e->first[t] = step;
    if (step > e->last[t])
        e->last[t] = step;
}

/* Ops whose kernels may write their output over an input (ops.def). */
static int in_place_op(int op)
{
    return (ng_ops[op].flags & NG_F_INPLACE_OK) != 0;
}

/* Move storage group a into group b at byte position d of b's storage. */
static void merge_group(const nc_graph *g, nc_entry *e, int *gfirst, int *glast, int a, int b, int64_t d)
{
    for (size_t t = 0; t < g->n_tensors; t++)
        if (e->first[t] >= 0 && e->alias[t] == a) {
            e->alias[t] = b;
            e->delta[t] += d;
        }
    if (gfirst[a] < gfirst[b])
        gfirst[b] = gfirst[a];
    if (glast[a] > glast[b])
        glast[b] = glast[a];
}

/* In place: an elementwise op writes over an input of its size whose
 * storage group dies at that op.  The two groups merge so that output and
 * input coincide: the output's group moves onto the input's, or, when the
 * output already lies in a concat's storage, the input's group moves there
 * (so a conv followed by relu writes straight into the concat). */
static void find_in_place(const nc_graph *g, nc_entry *e, int *gfirst, int *glast)
{
    for (int s = 0; s < e->n_nodes; s++) {
        const ng_node *n = &e->nodes[s];
        if (!in_place_op(n->op) || n->out < 0 || n->out == g->bind.loss || n->out == g->bind.output)
            continue;
        for (int k = 0; k < n->n_in; k++) {
            int x = n->in[k];
            if (x < 0 || ng_role_is_persistent(g->tensors[x].t.role) || x == g->bind.loss ||
                x == g->bind.output || ng_tensor_bytes(&g->tensors[x].t) != ng_tensor_bytes(&g->tensors[n->out].t))
                continue;
            int a = e->alias[n->out], b = e->alias[x];
            if (a == b || glast[b] != s)
                continue; /* the input's storage is read later: no */
            if (a == n->out)
                merge_group(g, e, gfirst, glast, a, b, e->delta[x] - e->delta[n->out]);
            else if (b == x)
                merge_group(g, e, gfirst, glast, b, a, e->delta[n->out] - e->delta[x]);
            else
                continue;
            break;
        }
    }
}

/* Zero-copy channel concat and slice, for a batch of one (where a channel
 * range is contiguous): the producers of a concat's inputs write straight
 * into their part of its output, and a slice's output is its part of the
 * input.  Each input joins the concat's group at its channel offset, if it
 * is alone in its group (so parts never overlap) and has joined no other
 * container.  The ops then find their data in place and copy nothing. */
static int singleton(const nc_graph *g, const nc_entry *e, int a)
{
    if (e->alias[a] != a)
        return 0;
    for (size_t t = 0; t < g->n_tensors; t++)
        if (e->first[t] >= 0 && e->alias[t] == a && (int)t != a)
            return 0;
    return 1;
}

static void find_zero_copy(const nc_graph *g, nc_entry *e, int *gfirst, int *glast)
{
    size_t nt = g->n_tensors;
    char *joined = calloc(nt + 1, 1);
    if (!joined)
        nc_die("out of memory");
    for (int s = 0; s < e->n_nodes; s++) {
        const ng_node *n = &e->nodes[s];
        if ((n->op != NG_OP_CONCAT && n->op != NG_OP_SLICE_C) || n->out < 0)
            continue;
        const ng_tensor *y = &g->tensors[n->out].t;
        if (y->dim[0] != 1)
            continue;
        int64_t plane = (int64_t)y->dim[2] * y->dim[3] * 4; /* bytes per channel */
        if (n->op == NG_OP_SLICE_C) {
            int x = n->in[0], a = e->alias[n->out], b = e->alias[x];
            if (ng_role_is_persistent(g->tensors[x].t.role) || a == b || joined[a] || n->out == g->bind.output ||
                !singleton(g, e, a))
                continue;
            merge_group(g, e, gfirst, glast, a, b, e->delta[x] + n->ia[0] * plane - e->delta[n->out]);
            joined[a] = 1;
            continue;
        }
        int64_t c0 = 0;
        for (int k = 0; k < n->n_in; k++) {
            int x = n->in[k], a = e->alias[x], b = e->alias[n->out];
            int64_t cx = g->tensors[x].t.dim[1];
            if (!ng_role_is_persistent(g->tensors[x].t.role) && a != b && !joined[a] && x != g->bind.output &&
                x != g->bind.loss && singleton(g, e, a)) {
                merge_group(g, e, gfirst, glast, a, b, e->delta[n->out] + c0 * plane - e->delta[x]);
                joined[a] = 1;
            }
            c0 += cx;
        }
    }
    free(joined);
}

void nc_plan(const nc_graph *g, nc_entry *e)
{
    size_t nt = g->n_tensors;
    e->offset = nc_arena_array(g->arena, nt, sizeof *e->offset);
    e->first = nc_arena_array(g->arena, nt, sizeof *e->first);
    e->last = nc_arena_array(g->arena, nt, sizeof *e->last);
    e->alias = nc_arena_array(g->arena, nt, sizeof *e->alias);
    e->delta = nc_arena_array(g->arena, nt, sizeof *e->delta);
    int *gfirst = malloc(nt * sizeof *gfirst), *glast = malloc(nt * sizeof *glast);
    if (!gfirst || !glast)
        nc_die("out of memory");
    for (size_t t = 0; t < nt; t++) {
        e->offset[t] = -1;
        e->first[t] = e->last[t] = -1;
    }
    for (int s = 0; s < e->n_nodes; s++) {
        const ng_node *n = &e->nodes[s];
        touch(e, g, n->out, s);
        touch(e, g, n->ws, s);
        for (int k = 0; k < n->n_in; k++)
            touch(e, g, n->in[k], s);
    }
    int ends[2] = {g->bind.loss, g->bind.output};
    for (int i = 0; i < 2; i++)
        if (ends[i] >= 0 && e->first[ends[i]] >= 0)
            e->last[ends[i]] = e->n_nodes - 1;
    for (size_t t = 0; t < nt; t++) {
        e->alias[t] = (int)t;
        e->delta[t] = 0;
        gfirst[t] = e->first[t];
        glast[t] = e->last[t];
    }
    find_zero_copy(g, e, gfirst, glast);
    find_in_place(g, e, gfirst, glast);

    item *items = malloc((nt + 1) * sizeof *items);
    span *placed = malloc((nt + 1) * sizeof *placed);
    int64_t *live = calloc((size_t)e->n_nodes + 1, sizeof *live);
    int64_t *alt = malloc((nt + 1) * sizeof *alt);
    if (!items || !placed || !live || !alt)
        nc_die("out of memory");
    int64_t *extent = calloc(nt + 1, sizeof *extent); /* bytes of each group's storage */
    if (!extent)
        nc_die("out of memory");
    int n_items = 0;
    e->naive = 0;
    for (size_t t = 0; t < nt; t++) {
        if (e->first[t] < 0)
            continue;
        int64_t sz = aligned_bytes(&g->tensors[t].t), end = e->delta[t] + sz;
        e->naive += sz;
        if (end > extent[e->alias[t]])
            extent[e->alias[t]] = end;
    }
    for (size_t t = 0; t < nt; t++) {
        if (e->first[t] < 0 || e->alias[t] != (int)t)
            continue; /* stored in its group's first tensor */
        int64_t sz = (extent[t] + NC_ALIGN - 1) / NC_ALIGN * NC_ALIGN;
        items[n_items++] = (item){(int)t, sz};
        for (int s = gfirst[t]; s <= glast[t]; s++)
            live[s] += sz;
    }
    free(extent);
    e->lower = 0;
    for (int s = 0; s < e->n_nodes; s++)
        if (live[s] > e->lower)
            e->lower = live[s];

    /* three orders of placement, each with best fit; keep the smallest arena */
    life_first = gfirst;
    life_last = glast;
    qsort(items, (size_t)n_items, sizeof *items, by_size_desc);
    e->arena = place(items, n_items, placed, e->offset);
    int (*const orders[])(const void *, const void *) = {by_first_use, by_lifetime, by_area, by_last_use};
    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
        qsort(items, (size_t)n_items, sizeof *items, orders[o]);
        int64_t alt_arena = place(items, n_items, placed, alt);
        if (alt_arena < e->arena) {
            e->arena = alt_arena;
            for (int i = 0; i < n_items; i++)
                e->offset[items[i].t] = alt[items[i].t];
        }
    }
    for (size_t t = 0; t < nt; t++)
        if (e->first[t] >= 0 && e->alias[t] != (int)t)
            e->offset[t] = e->offset[e->alias[t]] + e->delta[t];
    free(alt);
    free(items);
    free(placed);
    free(live);
    free(gfirst);
    free(glast);
}
