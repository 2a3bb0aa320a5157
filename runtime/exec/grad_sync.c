/* grad_sync.c — the gradients of a data-parallel train entry averaged
 * across ranks in buckets during the backward pass (grad_sync.h).  The
 * collectives, the buckets' memory and the division by the ranks are the
 * backend's (backend.h); with one rank the plan is NULL and every call
 * returns at once. */
#include "grad_sync.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* seconds of the gradient allreduce that the train entry spent outside its
 * kernels (nr_dist_print_profile): waiting for buckets, polling them, and
 * dividing their tensors by the ranks; over d_ranks, those of the last plan
 * made */
static double d_wait_s, d_poll_s, d_scale_s;
static int d_ranks;

typedef struct {
    int first, count;     /* its tensors: members[first .. first+count) */
    int64_t off, floats;  /* its span of grads */
    int staged;           /* members produced during this run */
    int state;            /* 0 filling, 1 in flight, 3 arrived, 2 averaged */
    nr_dist_req req;
} bucket;

/* An update held back until its gradients arrive: its kernel call, reading
 * the averages in grads and copies of its small arena inputs. */
typedef struct {
    int node;
    nr_kctx k;
} held;

#define SNAP_MAX 4096 /* bytes of arena inputs (a scheduled learning rate) a held update may copy */

struct nr_dist_plan {
    const ng_graph *g;
    const ng_entry *en;
    const nr_backend *be; /* its collectives and memory */
    int *bucket_of;       /* per tensor: its bucket, or -1 */
    int64_t *off;         /* per tensor: float offset in grads */
    int *members;         /* reduced tensors in the order they are produced */
    int n_members;
    bucket *b;
    int n_buckets;
    float *grads;         /* the reduced gradients themselves, bucket after bucket
                             (backend memory) */
    int64_t floats;
    char *hold;           /* per node: an update that runs after the backward pass */
    int64_t *snap_off;    /* per node: its inputs' copies in snap */
    unsigned char *snap;  /* backend memory */
    int64_t snap_bytes;
    held *q;              /* this run's held updates, in order */
    int n_q, n_held;
    int *stats;           /* persistent tensors averaged after the run */
    int n_stats;
    void *mem;            /* the one block that bucket_of, off, members, b,
                             hold, snap_off, q and stats are carved from */
};

/* The plan's arrays, per tensor (nt) and per node (nn), each with room for
 * one more; measures with base NULL (util.h's ng_carve). */
static size_t layout(nr_dist_plan *p, char *base, int nt, int nn)
{
    size_t at = 0;
    p->bucket_of = ng_carve(base, &at, (size_t)nt + 1, sizeof *p->bucket_of);
    p->off = ng_carve(base, &at, (size_t)nt + 1, sizeof *p->off);
    p->members = ng_carve(base, &at, (size_t)nn + 1, sizeof *p->members);
    p->b = ng_carve(base, &at, (size_t)nn + 1, sizeof *p->b);
    p->stats = ng_carve(base, &at, (size_t)nn + 1, sizeof *p->stats);
    p->hold = ng_carve(base, &at, (size_t)nn + 1, sizeof *p->hold);
    p->snap_off = ng_carve(base, &at, (size_t)nn + 1, sizeof *p->snap_off);
    p->q = ng_carve(base, &at, (size_t)nn + 1, sizeof *p->q);
    return at;
}

/* NETRUN_DIST_VERBOSE: the plan on stderr, with the nodes that run while
 * each bucket is in flight (from its last member to its first reader that
 * is not held, or the end of the backward pass). */
static void describe(const nr_dist_plan *p)
{
    const ng_entry *en = p->en;
    fprintf(stderr, "allreduce plan of entry %s: %d gradients, %lld bytes, %d buckets, %d updates held "
            "until they arrive, %d statistics\n", en->name, p->n_members, (long long)p->floats * 4, p->n_buckets,
            p->n_held, p->n_stats);
    for (int j = 0; j < p->n_buckets; j++) {
        const bucket *b = &p->b[j];
        int last = p->members[b->first + b->count - 1], launch = -1, wait = -1, run = 0;
        for (int i = 0; i < en->n_nodes && wait < 0; i++) {
            for (int k = 0; launch >= 0 && !p->hold[i] && k < en->nodes[i].n_in; k++)
                if (en->nodes[i].in[k] >= 0 && p->bucket_of[en->nodes[i].in[k]] == j)
                    wait = i;
            run += launch >= 0 && wait < 0 && !p->hold[i];
            if (en->nodes[i].out == last)
                launch = i;
        }
        fprintf(stderr, "  bucket %d: %d tensors, %lld bytes, %s..%s; in flight during %d nodes\n", j, b->count,
                (long long)b->floats * 4, p->g->tensors[p->members[b->first]].name, p->g->tensors[last].name,
                run - 1);
    }
}

int nr_dist_plan_new(const ng_graph *g, const ng_entry *en, const nr_backend *be, nr_dist_plan **out)
{
    *out = NULL;
    if (be->ranks() < 2)
        return 0;
    int nt = g->n_tensors, nn = en->n_nodes;
    char *read_out = calloc((size_t)nt + 1, 1);  /* read by a node outside the backward pass */
    char *derived = calloc((size_t)nt + 1, 1);   /* computed from such a tensor */
    int *last_use = malloc((size_t)(nt + 1) * sizeof *last_use); /* last node that is not held */
    nr_dist_plan *p = calloc(1, sizeof *p);
    if (p)
        p->be = be; /* first: nr_dist_plan_free frees through it */
    if (!read_out || !derived || !last_use || !p)
        goto oom;
    p->g = g;
    p->en = en;
    for (int i = 0; i < nn; i++) {
        const ng_node *n = &en->nodes[i];
        int outside = n->out < 0 || g->tensors[n->out].role != NG_ROLE_GRAD;
        for (int k = 0; outside && k < n->n_in; k++)
            if (n->in[k] >= 0 && g->tensors[n->in[k]].role == NG_ROLE_GRAD)
                read_out[n->in[k]] = 1;
    }
    for (int i = 0; i < nn; i++) {
        const ng_node *n = &en->nodes[i];
        for (int k = 0; n->out >= 0 && k < n->n_in; k++)
            if (n->in[k] >= 0 && (read_out[n->in[k]] || derived[n->in[k]]))
                derived[n->out] = 1;
    }
    if (!(p->mem = ng_carve_alloc(layout(p, NULL, nt, nn))))
        goto oom;
    layout(p, p->mem, nt, nn);
    char *reduced = derived; /* reused below: 1 for the tensors averaged */
    for (int t = 0; t < nt; t++)
        reduced[t] = read_out[t] && !derived[t] && g->tensors[t].dtype == NG_F32;
    /* held updates: no output, no workspace, every input persistent, a
     * reduced gradient, or small (copied at the update's place) */
    for (int i = 0; i < nn; i++) {
        const ng_node *n = &en->nodes[i];
        if (!(ng_ops[n->op].flags & NG_F_UPDATE) || n->out >= 0 || n->ws >= 0)
            continue;
        int64_t snap = 0;
        int grads = 0;
        for (int k = 0; k < n->n_in; k++) {
            int t = n->in[k];
            if (t < 0 || ng_role_is_persistent(g->tensors[t].role))
                continue;
            if (reduced[t])
                grads++;
            else
                snap += (ng_tensor_bytes(&g->tensors[t]) + 63) / 64 * 64;
        }
        if (grads > 0 && snap <= SNAP_MAX) {
            p->hold[i] = 1;
            p->snap_off[i] = p->snap_bytes;
            p->snap_bytes += snap;
        }
    }
    /* a held update writes its persistent inputs later than the schedule
     * said: no node that runs after it may touch them */
    for (int t = 0; t < nt; t++)
        last_use[t] = -1;
    for (int i = 0; i < nn; i++)
        for (int k = 0; !p->hold[i] && k < en->nodes[i].n_in; k++)
            if (en->nodes[i].in[k] >= 0)
                last_use[en->nodes[i].in[k]] = i;
    for (int i = 0; i < nn; i++)
        for (int k = 0; p->hold[i] && k < en->nodes[i].n_in; k++) {
            int t = en->nodes[i].in[k];
            if (t >= 0 && ng_role_is_persistent(g->tensors[t].role) && last_use[t] > i)
                p->hold[i] = 0;
        }
    for (int i = 0; i < nn; i++)
        p->n_held += p->hold[i];
    for (int t = 0; t < nt; t++)
        p->bucket_of[t] = -1;
    /* buckets in production order; one closes when full or when a node that
     * is not held is about to read one of its tensors */
    int64_t full = NR_DIST_BUCKET_BYTES;
    const char *mb = getenv("NETRUN_DIST_BUCKET_MB");
    if (mb && atof(mb) > 0)
        full = (int64_t)(atof(mb) * 1048576.0);
    int open = -1;
    for (int i = 0; i < nn; i++) {
        const ng_node *n = &en->nodes[i];
        for (int k = 0; open >= 0 && !p->hold[i] && k < n->n_in; k++)
            if (n->in[k] >= 0 && p->bucket_of[n->in[k]] == open)
                open = -1;
        int t = n->out;
        if (t < 0 || !reduced[t] || p->bucket_of[t] >= 0)
            continue;
        if (open < 0) {
            open = p->n_buckets++;
            p->b[open].first = p->n_members;
            p->b[open].off = p->floats;
        }
        int64_t ne = ng_tensor_nelem(&g->tensors[t]);
        p->bucket_of[t] = open;
        p->off[t] = p->floats;
        p->members[p->n_members++] = t;
        p->b[open].count++;
        p->b[open].floats += ne;
        p->floats += ne;
        if (p->b[open].floats * 4 >= full || p->b[open].floats > INT_MAX / 2)
            open = -1;
    }
    /* updates that read no gradient: their targets are statistics */
    for (int i = 0; i < nn; i++) {
        const ng_node *n = &en->nodes[i];
        if (!(ng_ops[n->op].flags & NG_F_UPDATE) || n->n_in < 1 || n->in[0] < 0)
            continue;
        int grad = 0;
        for (int k = 0; k < n->n_in; k++)
            grad |= n->in[k] >= 0 && g->tensors[n->in[k]].role == NG_ROLE_GRAD;
        const ng_tensor *x = &g->tensors[n->in[0]];
        if (!grad && ng_role_is_persistent(x->role) && x->dtype == NG_F32)
            p->stats[p->n_stats++] = n->in[0];
    }
    free(read_out);
    free(derived);
    free(last_use);
    if (p->n_members == 0 && p->n_stats == 0) {
        nr_dist_plan_free(p);
        return 0;
    }
    p->grads = be->alloc((size_t)p->floats * sizeof *p->grads);
    p->snap = be->alloc((size_t)p->snap_bytes);
    if (!p->grads || !p->snap) {
        nr_dist_plan_free(p);
        return -1;
    }
    if (be->rank() == 0 && getenv("NETRUN_DIST_VERBOSE"))
        describe(p);
    d_ranks = be->ranks();
    *out = p;
    return 0;
oom:
    free(read_out);
    free(derived);
    free(last_use);
    nr_dist_plan_free(p);
    return -1;
}

void nr_dist_plan_free(nr_dist_plan *p)
{
    if (!p)
        return;
    free(p->mem);
    p->be->free(p->snap);
    p->be->free(p->grads);
    free(p);
}

int nr_dist_plan_tensors(const nr_dist_plan *p) { return p ? p->n_members : 0; }
int64_t nr_dist_plan_bytes(const nr_dist_plan *p) { return p ? p->floats * 4 : 0; }

/* Wait for bucket j: its tensors then hold the averages. */
static void finish(nr_dist_plan *p, int j)
{
    bucket *b = &p->b[j];
    if (b->state == 2)
        return;
    if (b->state == 0) /* not every member ran: cannot happen in a valid entry */
        p->be->isum(p->grads + b->off, b->floats, &b->req);
    double t0 = ng_now();
    if (b->state != 3)
        p->be->wait(&b->req);
    d_wait_s += ng_now() - t0;
    b->state = 2;
}

void nr_dist_begin_run(nr_dist_plan *p)
{
    if (!p)
        return;
    for (int j = 0; j < p->n_buckets; j++)
        p->b[j].staged = 0, p->b[j].state = 0;
    p->n_q = 0;
}

int nr_dist_hold(nr_dist_plan *p, int i, const nr_kctx *k)
{
    if (!p || !p->hold[i])
        return 0;
    held *h = &p->q[p->n_q++];
    h->node = i;
    h->k = *k;
    unsigned char *snap = p->snap + p->snap_off[i];
    const ng_node *n = &p->en->nodes[i];
    for (int s = 0; s < n->n_in; s++) {
        int t = n->in[s];
        if (t < 0 || ng_role_is_persistent(p->g->tensors[t].role))
            continue;
        if (p->bucket_of[t] >= 0) {
            h->k.in[s] = p->grads + p->off[t];
        } else { /* through the host: the seam has no copy within the backend */
            unsigned char tmp[SNAP_MAX];
            int64_t bytes = ng_tensor_bytes(&p->g->tensors[t]);
            p->be->download(tmp, k->in[s], (size_t)bytes);
            p->be->upload(snap, tmp, (size_t)bytes);
            h->k.in[s] = (float *)snap;
            snap += (bytes + 63) / 64 * 64;
        }
    }
    return 1;
}

const nr_kctx *nr_dist_held(const nr_dist_plan *p, int j, int *node)
{
    if (!p || j >= p->n_q)
        return NULL;
    *node = p->q[j].node;
    return &p->q[j].k;
}

void nr_dist_before_node(nr_dist_plan *p, int i, nr_kctx *k)
{
    if (!p)
        return;
    const ng_node *n = &p->en->nodes[i];
    for (int s = 0; s < n->n_in; s++)
        if (n->in[s] >= 0 && p->bucket_of[n->in[s]] >= 0) {
            finish(p, p->bucket_of[n->in[s]]);
            k->in[s] = p->grads + p->off[n->in[s]];
        }
    if (n->out >= 0 && p->bucket_of[n->out] >= 0)
        k->y = p->grads + p->off[n->out];
}

void nr_dist_after_node(nr_dist_plan *p, int i)
{
    if (!p)
        return;
    int t = p->en->nodes[i].out;
    double t0 = ng_now();
    if (t >= 0 && p->bucket_of[t] >= 0) {
        bucket *b = &p->b[p->bucket_of[t]];
        /* divided by N, so that the sum is the average (for N a power of 2
         * the same floats as dividing the sum, subnormals aside), while the
         * kernel's output is still in cache */
        p->be->scale(p->grads + p->off[t], ng_tensor_nelem(&p->g->tensors[t]), 1.0f / (float)p->be->ranks());
        if (++b->staged == b->count) {
            p->be->isum(p->grads + b->off, b->floats, &b->req);
            b->state = 1;
        }
    }
    double t1 = ng_now();
    d_scale_s += t1 - t0;
    /* MPI moves a non-blocking message only inside MPI calls: poke the
     * buckets in flight so that they progress while the kernels run */
    for (int j = 0; j < p->n_buckets; j++)
        if (p->b[j].state == 1) {
            if (p->be->test(&p->b[j].req))
                p->b[j].state = 3; /* arrived */
        }
    d_poll_s += ng_now() - t1;
}

void nr_dist_end_run(nr_dist_plan *p, nr_dist_ptr_fn ptr, void *ctx)
{
    if (!p)
        return;
    /* the buckets not yet waited for: only held updates read them */
    for (int j = 0; j < p->n_buckets; j++)
        finish(p, j);
    for (int s = 0; s < p->n_stats; s++) {
        float *x = ptr(ctx, p->stats[s]);
        int64_t ne = ng_tensor_nelem(&p->g->tensors[p->stats[s]]);
        p->be->sum(x, ne);
        p->be->scale(x, ne, 1.0f / (float)p->be->ranks());
    }
}


void nr_dist_print_profile(FILE *f, double run_s, int64_t steps)
{
    if (d_ranks < 2 || steps <= 0)
        return;
    const double w = d_wait_s, p = d_poll_s, c = d_scale_s;
    double ms = 1e3 / (double)steps, pc = run_s > 0 ? 100.0 / run_s : 0;
    fprintf(f, "gradients over %d ranks, per step of this rank: waited %.2f ms for buckets (%.1f%% of the train "
            "entry), polled %.2f ms (%.1f%%), divided by the ranks %.2f ms (%.1f%%)\n", d_ranks, w * ms, w * pc,
            p * ms, p * pc, c * ms, c * pc);
}