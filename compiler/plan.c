/* plan.c — the memory plan of one entry.
 * Requires an entry's node list.  Every non-persistent tensor gets a
 * lifetime [first, last] in steps of the schedule (the loss and the output
 * live to the end, so netrun can read them) and an offset in one arena.
 * Offsets: best fit into the gaps left by placed tensors whose lifetimes
 * overlap, in two orders -- largest first (the TFLite arena planner's
 * greedy by size) and first use first -- keeping the smaller arena.
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

static const nc_entry *sort_entry;

static int by_size_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    int fx = sort_entry->first[x->t], fy = sort_entry->first[y->t];
    if (fx != fy)
        return fx < fy ? -1 : 1;
    return x->t - y->t;
}

/* First use, then larger first: the order in which a linear scan would
 * allocate (first fit in time). */
static int by_first_use(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int fx = sort_entry->first[x->t], fy = sort_entry->first[y->t];
    if (fx != fy)
        return fx < fy ? -1 : 1;
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
 * already placed tensors whose lifetimes overlap its own that fits it (best
 * fit), else above them.  Writes offset[t]; returns the arena size. */
static int64_t place(const nc_entry *e, const item *items, int n_items, span *placed, int64_t *offset)
{
    int64_t arena = 0;
    for (int i = 0; i < n_items; i++) {
        int t = items[i].t;
        int64_t size = items[i].size;
        int n_placed = 0;
        for (int j = 0; j < i; j++) {
            int u = items[j].t;
            if (e->first[u] <= e->last[t] && e->first[t] <= e->last[u])
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

void nc_plan(const nc_graph *g, nc_entry *e)
{
    size_t nt = g->n_tensors;
    e->offset = malloc(nt * sizeof *e->offset);
    e->first = malloc(nt * sizeof *e->first);
    e->last = malloc(nt * sizeof *e->last);
    if (!e->offset || !e->first || !e->last)
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

    item *items = malloc((nt + 1) * sizeof *items);
    span *placed = malloc((nt + 1) * sizeof *placed);
    int64_t *live = calloc((size_t)e->n_nodes + 1, sizeof *live);
    if (!items || !placed || !live)
        nc_die("out of memory");
    int n_items = 0;
    e->naive = 0;
    for (size_t t = 0; t < nt; t++) {
        if (e->first[t] < 0)
            continue;
        int64_t sz = aligned_bytes(&g->tensors[t].t);
        items[n_items++] = (item){(int)t, sz};
        e->naive += sz;
        for (int s = e->first[t]; s <= e->last[t]; s++)
            live[s] += sz;
    }
    e->lower = 0;
    for (int s = 0; s < e->n_nodes; s++)
        if (live[s] > e->lower)
            e->lower = live[s];

    /* two orders of placement, each with best fit; keep the smaller arena */
    int64_t *alt = malloc((nt + 1) * sizeof *alt);
    if (!alt)
        nc_die("out of memory");
    sort_entry = e;
    qsort(items, (size_t)n_items, sizeof *items, by_size_desc);
    e->arena = place(e, items, n_items, placed, e->offset);
    qsort(items, (size_t)n_items, sizeof *items, by_first_use);
    int64_t alt_arena = place(e, items, n_items, placed, alt);
    if (alt_arena < e->arena) {
        e->arena = alt_arena;
        for (int i = 0; i < n_items; i++)
            e->offset[items[i].t] = alt[items[i].t];
    }
    free(alt);
    free(items);
    free(placed);
    free(live);
}
