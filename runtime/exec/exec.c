/* exec.c — the graph runner: state and arena allocation, parameter
 * initialization, and the run loop, every one of them through the model's
 * backend (backend.h): its memory, copies, kernels and collectives. */
#define _POSIX_C_SOURCE 200809L
#include "exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad_sync.h"
#include "options.h"
#include "util.h"

/* What the model keeps per entry, each part made when the entry first needs
 * it (NULL until then). */
typedef struct {
    unsigned char *arena;     /* its planned tensors, or NULL */
    unsigned char **unshared; /* per tensor, a buffer of its own (debug mode), or NULL */
    double *node_ns;          /* per node: time spent (profiling), or NULL */
    nr_dist_plan *dist;       /* its gradient allreduce (grad_sync.h), or NULL */
    int dist_made;            /* the plan was made */
} run_entry;

struct nr_model {
    ng_graph *g;
    const nr_backend *be;     /* runs the graph; all storage below is its memory */
    unsigned char *state;     /* all persistent tensors */
    int64_t *state_off;       /* per tensor: byte offset in state, or -1 */
    run_entry *ent;           /* per entry */
    int unshared_on;
    uint64_t seed;
    int64_t step;
    int64_t total_steps;      /* fed to bind.total_steps (schedules) */
    float *scratch;           /* the backend's workspace (scratch_bytes) */
    int64_t *class_counts;    /* set by nr_model_set_class_weights, or NULL */
    unsigned char *frozen;    /* per tensor: 1 if its update nodes are skipped (nr_model_freeze), or NULL */
    int64_t scratch_bytes;
    int profile_on;
    int precision;            /* nr_precision of option precision, f32 where the backend lacks it */
    char err[1024];
};

/* The message nr_model_error returns, formatted by util.h's ng_fail. */
#define set_err(m, ...) ng_fail((m)->err, sizeof (m)->err, __VA_ARGS__)

/* --- random numbers: splitmix64 streams ---------------------------------- */

static double uniform01(uint64_t *s) { return ng_unit(ng_splitmix64_next(s)); }

static double normal01(uint64_t *s)
{
    double u = uniform01(s), v = uniform01(s);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Elements first .. first+n-1 of tensor t's initial values into x[0..n),
 * over x's zeros; *s is the tensor's random stream (seed ^ its name's hash
 * at element 0), advanced past them, so that consecutive pieces give the
 * values of one piece. */
static void init_values(const ng_tensor *t, int64_t first, int64_t n, uint64_t *s, float *x)
{
    switch (t->init) {
    case NG_INIT_ONES:
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f;
        break;
    case NG_INIT_HE_NORMAL: {
        /* Keras he_normal: truncated normal (2 sigma), stddev corrected so
         * the truncated distribution has std sqrt(2 / fan_in) */
        double sd = sqrt(2.0 / (t->init_arg[0] > 0 ? t->init_arg[0] : 1)) / 0.87962566103423978;
        for (int64_t i = 0; i < n; i++) {
            double z;
            do
                z = normal01(s);
            while (fabs(z) > 2.0);
            x[i] = (float)(z * sd);
        }
        break;
    }
    case NG_INIT_GLOROT_UNIFORM: {
        double lim = sqrt(6.0 / (t->init_arg[0] + t->init_arg[1] > 0 ? t->init_arg[0] + t->init_arg[1] : 1));
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)((2.0 * uniform01(s) - 1.0) * lim);
        break;
    }
    case NG_INIT_DATA:
        memcpy(x, t->data + first, (size_t)n * sizeof(float));
        break;
    case NG_INIT_CLASS_WEIGHTS: /* until set from the data: all ones */
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f;
        break;
    case NG_INIT_CLASS_PRIORS: /* until set from the data: uniform */
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f / (float)ng_tensor_nelem(t);
        break;
    default: /* NONE, ZEROS */
        break;
    }
}

/* Refuses a graph with a node that m's backend cannot run (at f32, the
 * only precision yet): 0, or -1 with err. */
static int check_supported(const nr_model *m, char *err, size_t errlen)
{
    for (int e = 0; e < m->g->n_entries; e++) {
        const ng_entry *en = &m->g->entries[e];
        for (int i = 0; i < en->n_nodes; i++)
            if (!m->be->supports(&en->nodes[i], NR_PREC_F32)) {
                snprintf(err, errlen, "%s: the %s backend cannot run %s at f32 (node %d of entry %s)",
                         m->g->source ? m->g->source : "graph", m->be->name, ng_ops[en->nodes[i].op].name, i,
                         en->name);
                return -1;
            }
    }
    return 0;
}

/* Why be cannot run g's option precision, or NULL when it can (or it is
 * f32). */
static const char *precision_missing(const ng_graph *g, const nr_backend *be)
{
    if (strcmp(nr_option(g, "precision"), "bf16"))
        return NULL;
    return be->precision_missing ? be->precision_missing(NR_PREC_BF16)
                                 : "precision bf16: this backend has none; running f32";
}

int nr_graph_precision(const ng_graph *g, const nr_backend *be)
{
    return strcmp(nr_option(g, "precision"), "bf16") || precision_missing(g, be) ? NR_PREC_F32
                                                                                : NR_PREC_BF16;
}

int nr_node_precision(const nr_backend *be, const ng_node *n, int precision)
{
    return precision != NR_PREC_F32 && be->supports(n, precision) ? precision : NR_PREC_F32;
}

/* nr_graph_precision, saying on stderr (once per process) why not where
 * the backend lacks the option's precision. */
static int choose_precision(const ng_graph *g, const nr_backend *be)
{
    static int told;
    const char *why = precision_missing(g, be);
    if (why && !told++)
        fprintf(stderr, "netrun: %s\n", why);
    return nr_graph_precision(g, be);
}

int nr_model_precision(const nr_model *m)
{
    return m->precision;
}

nr_model *nr_model_new(ng_graph *g, const nr_backend *be, uint64_t seed, char *err, size_t errlen)
{
    nr_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        ng_graph_free(g);
        return NULL;
    }
    m->g = g;
    m->be = be;
    m->seed = seed;
    m->state_off = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *m->state_off);
    m->ent = calloc((size_t)(g->n_entries ? g->n_entries : 1), sizeof *m->ent);
    if (!m->state_off || !m->ent) {
        snprintf(err, errlen, "out of memory");
        nr_model_free(m);
        return NULL;
    }
    if (check_supported(m, err, errlen) != 0) {
        nr_model_free(m);
        return NULL;
    }
    m->precision = choose_precision(g, be);
    int64_t total = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        m->state_off[t] = -1;
        if (!ng_role_is_persistent(g->tensors[t].role))
            continue;
        m->state_off[t] = total;
        total += (ng_tensor_bytes(&g->tensors[t]) + 63) / 64 * 64;
    }
    /* each tensor's span, its padding to 64 bytes included (the spans tile
     * the state: every byte of it is uploaded), a piece at a time through a
     * small host buffer: one of a large tensor's size would be mmap'd, and
     * freeing it would raise malloc's mmap threshold, which changes where
     * the kernels' later buffers land (and the page faults of a step) */
    const int64_t piece = 64 << 10;
    m->state = be->alloc((size_t)total);
    float *host = malloc((size_t)piece);
    if (!m->state || !host) {
        snprintf(err, errlen, "out of memory for %lld bytes of parameters and state", (long long)total);
        free(host);
        nr_model_free(m);
        return NULL;
    }
    for (int t = 0; t < g->n_tensors; t++) {
        if (m->state_off[t] < 0)
            continue;
        const ng_tensor *x = &g->tensors[t];
        int64_t n = ng_tensor_nelem(x); /* 4 bytes each, f32 or i32 */
        int64_t span = (ng_tensor_bytes(x) + 63) / 64 * 64;
        uint64_t s = seed ^ hash_name(x->name);
        for (int64_t b = 0; b < span; b += piece) {
            int64_t bytes = span - b < piece ? span - b : piece, first = b / 4;
            memset(host, 0, (size_t)bytes);
            if (first < n)
                init_values(x, first, n - first < bytes / 4 ? n - first : bytes / 4, &s, host);
            be->upload(m->state + m->state_off[t] + b, host, (size_t)bytes);
        }
    }
    free(host);
    return m;
}

void nr_model_free(nr_model *m)
{
    if (!m)
        return;
    for (int e = 0; m->ent && e < m->g->n_entries; e++) {
        run_entry *r = &m->ent[e];
        m->be->free(r->arena);
        free(r->node_ns);
        nr_dist_plan_free(r->dist);
        for (int t = 0; r->unshared && t < m->g->n_tensors; t++)
            m->be->free(r->unshared[t]);
        free(r->unshared);
    }
    free(m->ent);
    free(m->class_counts);
    free(m->frozen);
    m->be->free(m->scratch);
    m->be->free(m->state);
    free(m->state_off);
    ng_graph_free(m->g);
    free(m);
}

const ng_graph *nr_model_graph(const nr_model *m) { return m->g; }
const char *nr_model_error(const nr_model *m) { return m->err; }
int64_t nr_model_step(const nr_model *m) { return m->step; }
void nr_model_set_step(nr_model *m, int64_t step) { m->step = step; }

int nr_model_freeze(nr_model *m, int t)
{
    if (!m->frozen && !(m->frozen = calloc((size_t)m->g->n_tensors, 1))) {
        set_err(m, "out of memory");
        return -1;
    }
    m->frozen[t] = 1;
    return 0;
}

/* An update node that would write a frozen tensor (its in[0]: the parameter
 * of ADAM and SGD, the running statistics of BATCH_NORM_UPDATE). */
static int frozen_update(const nr_model *m, const ng_node *n)
{
    return m->frozen && (ng_ops[n->op].flags & NG_F_UPDATE) && n->in[0] >= 0 && m->frozen[n->in[0]];
}
void nr_model_set_total_steps(nr_model *m, int64_t total) { m->total_steps = total; }

/* The step counters a graph reads (learning-rate schedules), as floats. */
static void feed_counters(nr_model *m)
{
    const int32_t ids[2] = {m->g->bind.step, m->g->bind.total_steps};
    const int64_t v[2] = {m->step, m->total_steps > 0 ? m->total_steps : 1};
    for (int i = 0; i < 2; i++)
        if (ids[i] >= 0) {
            float f = (float)v[i];
            m->be->upload(nr_model_state(m, ids[i]), &f, sizeof f);
        }
}
void nr_model_set_unshared(nr_model *m, int on) { m->unshared_on = on; }
void nr_model_set_profile(nr_model *m, int on) { m->profile_on = on; }
static int entry_index(const nr_model *m, const char *name);

static double now_ns(void) { return 1e9 * ng_now(); }

const double *nr_model_profile(const nr_model *m, const char *entry)
{
    int e = entry_index(m, entry);
    return e < 0 ? NULL : m->ent[e].node_ns;
}

void *nr_model_state(nr_model *m, int t)
{
    if (t < 0 || t >= m->g->n_tensors || m->state_off[t] < 0)
        return NULL;
    return m->state + m->state_off[t];
}

static int entry_index(const nr_model *m, const char *name)
{
    for (int e = 0; e < m->g->n_entries; e++)
        if (strcmp(m->g->entries[e].name, name) == 0)
            return e;
    return -1;
}

static void *tensor_ptr(nr_model *m, int e, int t)
{
    if (t < 0)
        return NULL;
    if (m->state_off[t] >= 0)
        return m->state + m->state_off[t];
    const run_entry *r = &m->ent[e];
    if (r->unshared)
        return r->unshared[t];
    if (!r->arena || m->g->entries[e].offset[t] < 0)
        return NULL;
    return r->arena + m->g->entries[e].offset[t];
}

void *nr_model_tensor(nr_model *m, const char *entry, int t)
{
    int e = entry_index(m, entry);
    if (e < 0 || t < 0 || t >= m->g->n_tensors)
        return NULL;
    return tensor_ptr(m, e, t);
}

int nr_model_write(nr_model *m, int t, const void *src, size_t bytes)
{
    void *p = nr_model_state(m, t);
    if (!p || (int64_t)bytes > ng_tensor_bytes(&m->g->tensors[t])) {
        set_err(m, "cannot write %zu bytes to tensor %d: not persistent, or smaller", bytes, t);
        return -1;
    }
    m->be->upload(p, src, bytes);
    return 0;
}

int nr_model_read(nr_model *m, const char *entry, int t, void *dst, size_t bytes)
{
    void *p = nr_model_tensor(m, entry, t);
    if (!p || (int64_t)bytes > ng_tensor_bytes(&m->g->tensors[t])) {
        set_err(m, "cannot read %zu bytes of tensor %d in entry %s: none there, or smaller", bytes, t, entry);
        return -1;
    }
    m->be->download(dst, p, bytes);
    return 0;
}

/* The backend's workspace, grown to what the entry's nodes need
 * (scratch_bytes); one buffer for every entry, since they run one at a
 * time. */
static int grow_scratch(nr_model *m, const ng_entry *en)
{
    int64_t need = 0;
    for (int i = 0; i < en->n_nodes; i++) {
        const ng_node *n = &en->nodes[i];
        int64_t b = m->be->scratch_bytes(m->g, n, nr_node_precision(m->be, n, m->precision));
        need = b > need ? b : need;
    }
    if (need <= m->scratch_bytes)
        return 0;
    float *p = m->be->alloc((size_t)need);
    if (!p)
        return -1;
    m->be->free(m->scratch);
    m->scratch = p;
    m->scratch_bytes = need;
    return 0;
}

static int alloc_entry(nr_model *m, int e)
{
    const ng_entry *en = &m->g->entries[e];
    run_entry *r = &m->ent[e];
    if (m->unshared_on) {
        if (r->unshared)
            return 0;
        if (grow_scratch(m, en) != 0)
            goto oom;
        r->unshared = calloc((size_t)m->g->n_tensors, sizeof *r->unshared);
        if (!r->unshared)
            goto oom;
        for (int t = 0; t < m->g->n_tensors; t++) {
            if (en->offset[t] < 0)
                continue;
            r->unshared[t] = m->be->alloc((size_t)ng_tensor_bytes(&m->g->tensors[t]));
            if (!r->unshared[t])
                goto oom;
        }
        return 0;
    }
    if (r->arena)
        return 0;
    if (grow_scratch(m, en) != 0)
        goto oom;
    r->arena = m->be->alloc((size_t)en->arena_bytes);
    if (!r->arena)
        goto oom;
    return 0;
oom:
    set_err(m, "out of memory for the %s arena (%lld bytes)", en->name, (long long)en->arena_bytes);
    return -1;
}

/* The storage of the entry being run, for nr_dist_end_run. */
typedef struct {
    nr_model *m;
    int e;
} exec_ptr_ctx;

static void *exec_ptr(void *ctx, int t)
{
    exec_ptr_ctx *c = ctx;
    return tensor_ptr(c->m, c->e, t);
}

/* The gradient allreduce of entry e across the backend's ranks
 * (grad_sync.h), made on its first run, into *out: NULL with one rank or
 * nothing to reduce.  0, or -1 out of memory (netrun then ends every rank:
 * they would wait for this one's gradients). */
static int dist_plan(nr_model *m, int e, nr_dist_plan **out)
{
    run_entry *r = &m->ent[e];
    *out = NULL;
    if (m->be->ranks() < 2)
        return 0;
    if (!r->dist_made) {
        if (nr_dist_plan_new(m->g, &m->g->entries[e], m->be, &r->dist) != 0) {
            set_err(m, "out of memory for the gradient plan of the %s entry", m->g->entries[e].name);
            return -1;
        }
        r->dist_made = 1;
    }
    *out = r->dist;
    return 0;
}

int nr_model_run(nr_model *m, const char *entry)
{
    int e = entry_index(m, entry);
    if (e < 0) {
        set_err(m, "%s: the graph has no '%s' entry", m->g->source ? m->g->source : "graph", entry);
        return -1;
    }
    if (alloc_entry(m, e) != 0)
        return -1;
    const ng_entry *en = &m->g->entries[e];
    run_entry *r = &m->ent[e];
    if (m->profile_on && !r->node_ns) {
        r->node_ns = calloc((size_t)(en->n_nodes ? en->n_nodes : 1), sizeof *r->node_ns);
        if (!r->node_ns) {
            set_err(m, "out of memory");
            return -1;
        }
    }
    double *prof = m->profile_on ? r->node_ns : NULL;
    int updates = 0;
    nr_dist_plan *dp;
    if (dist_plan(m, e, &dp) != 0)
        return -1;
    exec_ptr_ctx pc = {m, e};
    const nr_backend *be = m->be;
    feed_counters(m);
    nr_kctx k = { .g = m->g, .seed = m->seed, .step = m->step, .rank = be->rank() };
    for (int i = 0; be->ranks() > 1 && i < en->n_nodes; i++) /* an entry that trains */
        k.collective |= (ng_ops[en->nodes[i].op].flags & NG_F_UPDATE) != 0;
    nr_dist_begin_run(dp);
    for (int i = 0; i < en->n_nodes; i++) {
        const ng_node *n = &en->nodes[i];
        if (frozen_update(m, n))
            continue;
        k.n = n;
        k.precision = nr_node_precision(be, n, m->precision);
        for (int s = 0; s < n->n_in; s++)
            k.in[s] = tensor_ptr(m, e, n->in[s]);
        k.y = tensor_ptr(m, e, n->out);
        k.ws = tensor_ptr(m, e, n->ws);
        k.scratch = m->scratch;
        if (nr_dist_hold(dp, i, &k)) { /* an update that waits for the ranks' gradients */
            updates = 1;
            continue;
        }
        nr_dist_before_node(dp, i, &k);
        if (prof) {
            double t0 = now_ns();
            be->run(&k);
            be->sync(); /* the node's own time */
            prof[i] += now_ns() - t0;
        } else {
            be->run(&k);
        }
        nr_dist_after_node(dp, i);
        updates |= (ng_ops[n->op].flags & NG_F_UPDATE) != 0;
    }
    nr_dist_end_run(dp, exec_ptr, &pc);
    const nr_kctx *h;
    for (int j = 0, i; (h = nr_dist_held(dp, j, &i)) != NULL; j++) {
        double t0 = prof ? now_ns() : 0;
        be->run(h);
        if (prof) {
            be->sync();
            prof[i] += now_ns() - t0;
        }
    }
    be->sync();
    if (updates)
        m->step++;
    return 0;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Class weights of scheme (NG_CW_*) from counts (k classes) into w. */
static void class_weights(int scheme, double beta, const int64_t *counts, int k, float *w)
{
    int64_t total = 0;
    for (int c = 0; c < k; c++)
        total += counts[c];
    /* median_freq: the median frequency of the present classes (numpy's
     * median: the mean of the middle two for an even count); inverse_sqrt:
     * sum_c sqrt(freq_c), so that sum_c freq_c * w_c = 1; effective: the
     * sum of the raw weights over present classes, so that they sum to np */
    double freqs[NG_MAX_CLASSES], median = 0, sqrt_sum = 0, eff_sum = 0;
    int np = 0;
    for (int c = 0; c < k; c++)
        if (counts[c] > 0) {
            freqs[np++] = (double)counts[c] / (double)total;
            sqrt_sum += sqrt((double)counts[c] / (double)total);
            eff_sum += (1 - beta) / -expm1((double)counts[c] * log(beta > 0 ? beta : 1e-300));
        }
    if (np > 0) {
        qsort(freqs, (size_t)np, sizeof *freqs, cmp_double);
        median = np % 2 ? freqs[np / 2] : 0.5 * (freqs[np / 2 - 1] + freqs[np / 2]);
    }
    for (int c = 0; c < k; c++) {
        double x = 0; /* an absent class never weighs in the loss */
        if (counts[c] > 0) {
            double freq = (double)counts[c] / (double)total;
            switch (scheme) {
            case NG_CW_MEDIAN_FREQ: x = median / freq; break;
            case NG_CW_INVERSE_SQRT: x = 1.0 / (sqrt(freq) * sqrt_sum); break;
            case NG_CW_EFFECTIVE:
                /* 1 - beta^n as -expm1(n log beta): exact for beta near 1 */
                x = (1 - beta) / -expm1((double)counts[c] * log(beta > 0 ? beta : 1e-300)) * np / eff_sum;
                break;
            default: x = (double)total / ((double)k * (double)counts[c]); break;
            }
        }
        w[c] = (float)x;
    }
}

void nr_model_set_class_weights(nr_model *m, const int64_t *counts, float *w_out)
{
    const ng_graph *g = m->g;
    int k = g->bind.classes;
    if (k <= 0)
        return;
    free(m->class_counts);
    m->class_counts = malloc((size_t)k * sizeof *m->class_counts);
    if (m->class_counts)
        memcpy(m->class_counts, counts, (size_t)k * sizeof *counts);
    int64_t total = 0;
    for (int c = 0; c < k; c++)
        total += counts[c];
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        if (x->role != NG_ROLE_CONST || ng_tensor_nelem(x) != k)
            continue;
        float w[NG_MAX_CLASSES]; /* k <= NG_MAX_CLASSES (ng_graph_check) */
        if (x->init == NG_INIT_CLASS_PRIORS) {
            for (int c = 0; c < k; c++)
                w[c] = (float)(((double)counts[c] + 1) / ((double)total + k));
        } else if (x->init == NG_INIT_CLASS_WEIGHTS) {
            float lo = x->init_arg[1], hi = x->init_arg[2];
            class_weights((int)x->init_arg[0], x->init_arg[3], counts, k, w);
            for (int c = 0; c < k; c++)
                if (hi > 0 && counts[c] > 0)
                    w[c] = w[c] < lo ? lo : w[c] > hi ? hi : w[c];
            if (w_out && t == g->bind.class_weights)
                memcpy(w_out, w, (size_t)k * sizeof *w);
        } else {
            continue;
        }
        m->be->upload(nr_model_state(m, t), w, (size_t)k * sizeof *w);
    }
}

const int64_t *nr_model_class_counts(const nr_model *m) { return m->class_counts; }

int nr_model_wants_class_counts(const nr_model *m)
{
    for (int t = 0; t < m->g->n_tensors; t++) {
        const ng_tensor *x = &m->g->tensors[t];
        if (x->role == NG_ROLE_CONST && (x->init == NG_INIT_CLASS_WEIGHTS || x->init == NG_INIT_CLASS_PRIORS))
            return 1;
    }
    return 0;
}
