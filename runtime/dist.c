/* dist.c — data-parallel training over MPI (dist.h): the job's rank and
 * size, the collectives netrun's training loop needs, and the plan that
 * averages a train entry's gradients in buckets during the backward pass.
 * Built without MPI (meson -Dmpi=disabled, or no MPI found), every
 * function is the one-process case. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "dist.h"

#include <limits.h>
#include <sched.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef NR_HAVE_MPI
#include <mpi.h>
#endif

static int d_rank = 0, d_size = 1, d_local = 1, d_failed_together = 0;
/* seconds of the gradient allreduce that the train entry spent outside its
 * kernels (nr_dist_print_profile): waiting for buckets, polling them, and
 * dividing their tensors by the ranks */
static double d_wait_s, d_poll_s, d_scale_s;
static int d_sharing = 1; /* ranks on this machine whose cores overlap this one's, itself included */

int nr_dist_rank(void) { return d_rank; }
int nr_dist_size(void) { return d_size; }
int nr_dist_local_size(void) { return d_local; }
int nr_dist_failed_together(void) { return d_failed_together; }

int nr_dist_default_threads(void)
{
    if (d_size < 2)
        return 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    int mine = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)online;
    /* the cores this rank may run on (one with Open MPI's binding to cores,
     * a socket's, or all), shared evenly with the ranks that may run there */
    int t = mine / (d_sharing > 0 ? d_sharing : 1);
    return t > 0 ? t : 1;
}

#ifdef NR_HAVE_MPI
static int d_on = 0;

int nr_dist_built(void) { return 1; }

/* A launcher's environment: Open MPI's mpirun, PMIx, MPICH's hydra. */
static int launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int nr_dist_init(int *argc, char ***argv, char *err, size_t errlen)
{
    if (d_on || !launched())
        return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init_thread failed");
        return -1;
    }
    d_on = 1;
    atexit(nr_dist_finalize);
    MPI_Comm_rank(MPI_COMM_WORLD, &d_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d_size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &d_local);
        /* whose cores overlap ours: the ranks our threads would compete with */
        cpu_set_t mine, *all = malloc(sizeof *all * (size_t)d_local);
        if (all && sched_getaffinity(0, sizeof mine, &mine) == 0) {
            MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, local);
            d_sharing = 0;
            for (int r = 0; r < d_local; r++) {
                cpu_set_t both;
                CPU_AND(&both, &mine, &all[r]);
                d_sharing += CPU_COUNT(&both) > 0;
            }
        } else {
            d_sharing = d_local;
        }
        free(all);
        MPI_Comm_free(&local);
    }
    return 0;
}

void nr_dist_finalize(void)
{
    int done = 0;
    if (d_on && MPI_Finalized(&done) == MPI_SUCCESS && !done)
        MPI_Finalize();
}

void nr_dist_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (d_on && d_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void nr_dist_bcast(void *buf, size_t bytes)
{
    if (d_size < 2)
        return;
    for (size_t o = 0; o < bytes;) { /* counts are ints: 1 GiB at a time */
        size_t c = bytes - o < ((size_t)1 << 30) ? bytes - o : ((size_t)1 << 30);
        MPI_Bcast((char *)buf + o, (int)c, MPI_BYTE, 0, MPI_COMM_WORLD);
        o += c;
    }
}

void nr_dist_sum_f32(float *x, int64_t n)
{
    if (d_size < 2)
        return;
    for (int64_t o = 0; o < n;) {
        int64_t c = n - o < (1 << 28) ? n - o : (1 << 28);
        MPI_Allreduce(MPI_IN_PLACE, x + o, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        o += c;
    }
}

void nr_dist_sum_f64(double *x, int n)
{
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void nr_dist_sum_i64(int64_t *x, int n)
{
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
}

void nr_dist_max_f64(double *x, int n)
{
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
}

int nr_dist_agree(int rc)
{
    int bad = rc != 0;
    if (d_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (bad && d_size > 1)
        d_failed_together = 1;
    return bad ? -1 : 0;
}

/* --- the gradient plan --------------------------------------------------- */

typedef struct {
    int first, count;     /* its tensors: members[first .. first+count) */
    int64_t off, floats;  /* its span of grads */
    int staged;           /* members produced during this run */
    int state;            /* 0 filling, 1 in flight, 3 arrived, 2 averaged */
    MPI_Request req;
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
    int *bucket_of;       /* per tensor: its bucket, or -1 */
    int64_t *off;         /* per tensor: float offset in grads */
    int *members;         /* reduced tensors in the order they are produced */
    int n_members;
    bucket *b;
    int n_buckets;
    float *grads;         /* the reduced gradients themselves, bucket after bucket */
    int64_t floats;
    char *hold;           /* per node: an update that runs after the backward pass */
    int64_t *snap_off;    /* per node: its inputs' copies in snap */
    unsigned char *snap;
    int64_t snap_bytes;
    held *q;              /* this run's held updates, in order */
    int n_q, n_held;
    int *stats;           /* persistent tensors averaged after the run */
    int n_stats;
};

static void plan_oom(void)
{
    fprintf(stderr, "netrun: out of memory for the gradient plan\n");
    nr_dist_abort(1);
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

nr_dist_plan *nr_dist_plan_new(const ng_graph *g, const ng_entry *en)
{
    if (d_size < 2)
        return NULL;
    int nt = g->n_tensors, nn = en->n_nodes;
    char *read_out = calloc((size_t)nt + 1, 1);  /* read by a node outside the backward pass */
    char *derived = calloc((size_t)nt + 1, 1);   /* computed from such a tensor */
    int *last_use = malloc((size_t)(nt + 1) * sizeof *last_use); /* last node that is not held */
    nr_dist_plan *p = calloc(1, sizeof *p);
    if (!read_out || !derived || !last_use || !p)
        plan_oom();
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
    p->bucket_of = malloc((size_t)(nt + 1) * sizeof *p->bucket_of);
    p->off = calloc((size_t)nt + 1, sizeof *p->off);
    p->members = malloc((size_t)(nn + 1) * sizeof *p->members);
    p->b = calloc((size_t)nn + 1, sizeof *p->b);
    p->stats = malloc((size_t)(nn + 1) * sizeof *p->stats);
    p->hold = calloc((size_t)nn + 1, 1);
    p->snap_off = calloc((size_t)nn + 1, sizeof *p->snap_off);
    p->q = calloc((size_t)nn + 1, sizeof *p->q);
    if (!p->bucket_of || !p->off || !p->members || !p->b || !p->stats || !p->hold || !p->snap_off || !p->q)
        plan_oom();
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
        return NULL;
    }
    p->grads = malloc((size_t)(p->floats ? p->floats : 1) * sizeof *p->grads);
    p->snap = malloc((size_t)(p->snap_bytes ? p->snap_bytes : 1));
    if (!p->grads || !p->snap)
        plan_oom();
    if (d_rank == 0 && getenv("NETRUN_DIST_VERBOSE"))
        describe(p);
    return p;
}

void nr_dist_plan_free(nr_dist_plan *p)
{
    if (!p)
        return;
    free(p->bucket_of);
    free(p->off);
    free(p->members);
    free(p->b);
    free(p->stats);
    free(p->hold);
    free(p->snap_off);
    free(p->snap);
    free(p->q);
    free(p->grads);
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
        MPI_Iallreduce(MPI_IN_PLACE, p->grads + b->off, (int)b->floats, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                       &b->req);
    double t0 = MPI_Wtime();
    if (b->state != 3)
        MPI_Wait(&b->req, MPI_STATUS_IGNORE);
    d_wait_s += MPI_Wtime() - t0;
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
        } else {
            int64_t bytes = ng_tensor_bytes(&p->g->tensors[t]);
            memcpy(snap, k->in[s], (size_t)bytes);
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
    double t0 = MPI_Wtime();
    if (t >= 0 && p->bucket_of[t] >= 0) {
        bucket *b = &p->b[p->bucket_of[t]];
        /* divided by N, so that the sum is the average (for N a power of 2
         * the same floats as dividing the sum, subnormals aside), while the
         * kernel's output is still in cache */
        const float inv = 1.0f / (float)d_size;
        float *x = p->grads + p->off[t];
        for (int64_t e = 0, ne = ng_tensor_nelem(&p->g->tensors[t]); e < ne; e++)
            x[e] *= inv;
        if (++b->staged == b->count) {
            MPI_Iallreduce(MPI_IN_PLACE, p->grads + b->off, (int)b->floats, MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &b->req);
            b->state = 1;
        }
    }
    double t1 = MPI_Wtime();
    d_scale_s += t1 - t0;
    /* MPI moves a non-blocking message only inside MPI calls: poke the
     * buckets in flight so that they progress while the kernels run */
    for (int j = 0; j < p->n_buckets; j++)
        if (p->b[j].state == 1) {
            int flag;
            MPI_Test(&p->b[j].req, &flag, MPI_STATUS_IGNORE);
            if (flag)
                p->b[j].state = 3; /* arrived */
        }
    d_poll_s += MPI_Wtime() - t1;
}

void nr_dist_end_run(nr_dist_plan *p, nr_dist_ptr_fn ptr, void *ctx)
{
    if (!p)
        return;
    /* the buckets not yet waited for: only held updates read them */
    for (int j = 0; j < p->n_buckets; j++)
        finish(p, j);
    const float inv = 1.0f / (float)d_size;
    for (int s = 0; s < p->n_stats; s++) {
        float *x = ptr(ctx, p->stats[s]);
        int64_t ne = ng_tensor_nelem(&p->g->tensors[p->stats[s]]);
        nr_dist_sum_f32(x, ne);
        for (int64_t e = 0; e < ne; e++)
            x[e] *= inv;
    }
}

#else /* one process: no MPI in this build */

int nr_dist_built(void) { return 0; }
int nr_dist_init(int *argc, char ***argv, char *err, size_t errlen)
{
    (void)argc, (void)argv, (void)err, (void)errlen;
    return 0;
}
void nr_dist_finalize(void) {}
void nr_dist_abort(int code)
{
    fflush(stdout);
    exit(code);
}
void nr_dist_bcast(void *buf, size_t bytes) { (void)buf, (void)bytes; }
void nr_dist_sum_f32(float *x, int64_t n) { (void)x, (void)n; }
void nr_dist_sum_f64(double *x, int n) { (void)x, (void)n; }
void nr_dist_sum_i64(int64_t *x, int n) { (void)x, (void)n; }
void nr_dist_max_f64(double *x, int n) { (void)x, (void)n; }
int nr_dist_agree(int rc) { return rc ? -1 : 0; }
nr_dist_plan *nr_dist_plan_new(const ng_graph *g, const ng_entry *en)
{
    (void)g, (void)en;
    return NULL;
}
void nr_dist_plan_free(nr_dist_plan *p) { (void)p; }
void nr_dist_before_node(nr_dist_plan *p, int i, nr_kctx *k) { (void)p, (void)i, (void)k; }
void nr_dist_after_node(nr_dist_plan *p, int i) { (void)p, (void)i; }
void nr_dist_end_run(nr_dist_plan *p, nr_dist_ptr_fn ptr, void *ctx) { (void)p, (void)ptr, (void)ctx; }
void nr_dist_begin_run(nr_dist_plan *p) { (void)p; }
int nr_dist_hold(nr_dist_plan *p, int i, const nr_kctx *k) { (void)p, (void)i, (void)k; return 0; }
const nr_kctx *nr_dist_held(const nr_dist_plan *p, int j, int *node) { (void)p, (void)j, (void)node; return NULL; }
int nr_dist_plan_tensors(const nr_dist_plan *p) { (void)p; return 0; }
int64_t nr_dist_plan_bytes(const nr_dist_plan *p) { (void)p; return 0; }

#endif

/* --- the model's state --------------------------------------------------- */

#include "exec.h"

void nr_dist_bcast_model(nr_model *m)
{
    if (nr_dist_size() < 2)
        return;
    const ng_graph *g = nr_model_graph(m);
    for (int t = 0; t < g->n_tensors; t++) {
        int r = g->tensors[t].role;
        if (r == NG_ROLE_PARAM || r == NG_ROLE_OPT_STATE || r == NG_ROLE_CONST)
            nr_dist_bcast(nr_model_state(m, t), (size_t)ng_tensor_bytes(&g->tensors[t]));
    }
    int64_t step = nr_model_step(m);
    nr_dist_bcast(&step, sizeof step);
    nr_model_set_step(m, step);
}

int nr_dist_shard(int64_t k, int per_rank, int n, int *first)
{
    int64_t f = k * (int64_t)per_rank * nr_dist_size() + (int64_t)nr_dist_rank() * per_rank;
    int64_t cnt = f >= n ? 0 : n - f < per_rank ? n - f : per_rank;
    *first = (int)(f < n ? f : n);
    return (int)cnt;
}

int nr_dist_check_model(nr_model *m, uint64_t *sum)
{
    const ng_graph *g = nr_model_graph(m);
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the bytes, tensor by tensor */
    for (int t = 0; t < g->n_tensors; t++) {
        int r = g->tensors[t].role;
        if (r != NG_ROLE_PARAM && r != NG_ROLE_OPT_STATE)
            continue;
        const unsigned char *p = nr_model_state(m, t);
        for (int64_t i = 0, n = ng_tensor_bytes(&g->tensors[t]); i < n; i++)
            h = (h ^ p[i]) * 1099511628211ull;
    }
    *sum = h;
#ifdef NR_HAVE_MPI
    if (d_size > 1) {
        uint64_t lo = h, hi = h;
        MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        d_failed_together |= lo != hi;
        return lo == hi ? 0 : -1;
    }
#endif
    return 0;
}

void nr_dist_print_profile(FILE *f, double run_s, int64_t steps)
{
    if (d_size < 2 || steps <= 0)
        return;
    const double w = d_wait_s, p = d_poll_s, c = d_scale_s;
    double ms = 1e3 / (double)steps, pc = run_s > 0 ? 100.0 / run_s : 0;
    fprintf(f, "gradients over %d ranks, per step of this rank: waited %.2f ms for buckets (%.1f%% of the train "
            "entry), polled %.2f ms (%.1f%%), divided by the ranks %.2f ms (%.1f%%)\n", d_size, w * ms, w * pc,
            p * ms, p * pc, c * ms, c * pc);
}
