/* autodiff.c — reverse-mode differentiation at compile time, then the
 * optimizer update of every trainable parameter.
 * Requires: the forward graph from the elaborator, with a scalar loss.
 * Each differentiable op has one gradient rule in grad_rules[] that emits
 * ordinary graph ops; fan-out gradients are summed with ADD. */
#include "autodiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    nc_graph *g;
    nc_diag *d;
    int *grad;           /* per tensor: its gradient tensor or -1 */
    char *needs;         /* per tensor: depends on a parameter */
    int failed;
} ad;

static const char *tname(ad *A, int t) { return A->g->tensors[t].t.name; }

/* Emit a backward op; a failure here is a compiler bug (shapes were
 * checked on the forward graph). */
static int bop(ad *A, int op, int n_in, const int32_t *in, const int32_t *ia, const float *fa,
               const char *name, nc_loc loc)
{
    char err[512];
    int t = nc_graph_op(A->g, op, n_in, in, ia, fa, name, NG_ROLE_GRAD, loc, 1, err, sizeof err);
    if (t < 0)
        nc_die("gradient of %s: %s", name, err);
    return t;
}

/* Add g to the gradient of tensor t. */
static void acc(ad *A, int t, int g, nc_loc loc)
{
    if (A->grad[t] < 0) {
        A->grad[t] = g;
        return;
    }
    int32_t in[2] = {A->grad[t], g};
    A->grad[t] = bop(A, NG_OP_ADD, 2, in, NULL, NULL,
                     nc_arena_printf(A->g->arena, "%s.grad_sum", tname(A, t)), loc);
}

static const char *gname(ad *A, int t) { return nc_arena_printf(A->g->arena, "%s.grad", tname(A, t)); }

typedef void (*grad_rule)(ad *A, const nc_node *n, int dy);

static void g_conv2d(ad *A, const nc_node *n, int dy)
{
    const ng_node *f = &n->n;
    /* copies: emitting ops grows (moves) the tensor table */
    const ng_tensor x = A->g->tensors[f->in[0]].t, w = A->g->tensors[f->in[1]].t;
    int32_t ia[NG_MAX_IA];
    memcpy(ia, f->ia, sizeof ia);
    if (A->needs[f->in[0]]) {
        ia[5] = x.dim[2];
        ia[6] = x.dim[3];
        int32_t in[2] = {dy, f->in[1]};
        acc(A, f->in[0], bop(A, NG_OP_CONV2D_BWD_DATA, 2, in, ia, NULL, gname(A, f->in[0]), n->loc), n->loc);
    }
    if (A->needs[f->in[1]]) {
        ia[5] = w.dim[2];
        ia[6] = w.dim[3];
        int32_t in[2] = {dy, f->in[0]};
        acc(A, f->in[1], bop(A, NG_OP_CONV2D_BWD_FILTER, 2, in, ia, NULL, gname(A, f->in[1]), n->loc), n->loc);
    }
    if (f->in[2] >= 0 && A->needs[f->in[2]]) {
        int32_t in[1] = {dy};
        acc(A, f->in[2], bop(A, NG_OP_CONV2D_BWD_BIAS, 1, in, f->ia, NULL, gname(A, f->in[2]), n->loc), n->loc);
    }
}

static void g_relu(ad *A, const nc_node *n, int dy)
{
    int32_t in[2] = {dy, n->n.out};
    acc(A, n->n.in[0], bop(A, NG_OP_RELU_BWD, 2, in, NULL, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_maxpool(ad *A, const nc_node *n, int dy)
{
    int32_t in[3] = {dy, n->n.in[0], n->n.out};
    acc(A, n->n.in[0], bop(A, NG_OP_MAXPOOL_BWD, 3, in, n->n.ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_upsample(ad *A, const nc_node *n, int dy)
{
    int32_t in[1] = {dy};
    acc(A, n->n.in[0], bop(A, NG_OP_UPSAMPLE_BWD, 1, in, n->n.ia, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_concat(ad *A, const nc_node *n, int dy)
{
    int c0 = 0;
    for (int i = 0; i < n->n.n_in; i++) {
        int x = n->n.in[i];
        int cx = A->g->tensors[x].t.dim[1];
        if (A->needs[x]) {
            int32_t in[1] = {dy}, ia[NG_MAX_IA] = {c0, cx};
            acc(A, x, bop(A, NG_OP_SLICE_C, 1, in, ia, NULL, gname(A, x), n->loc), n->loc);
        }
        c0 += cx;
    }
}

static void g_mul_channel(ad *A, const nc_node *n, int dy)
{
    int32_t in[2] = {dy, n->n.in[1]};
    acc(A, n->n.in[0], bop(A, NG_OP_MUL_CHANNEL, 2, in, NULL, NULL, gname(A, n->n.in[0]), n->loc), n->loc);
}

static void g_cross_entropy(ad *A, const nc_node *n, int dy)
{
    int32_t in[4] = {dy, n->n.in[0], n->n.in[1], n->n.in[2]};
    acc(A, n->n.in[0], bop(A, NG_OP_CROSS_ENTROPY_BWD, 4, in, n->n.ia, NULL, gname(A, n->n.in[0]), n->loc),
        n->loc);
}

static void g_add(ad *A, const nc_node *n, int dy)
{
    for (int i = 0; i < 2; i++)
        if (A->needs[n->n.in[i]])
            acc(A, n->n.in[i], dy, n->loc);
}

/* One row per op; NULL: not differentiable (backward and update ops, and
 * ops whose inputs never need gradients). */
static const grad_rule grad_rules[NG_OP_COUNT] = {
    [NG_OP_CONV2D] = g_conv2d,
    [NG_OP_RELU] = g_relu,
    [NG_OP_MAXPOOL] = g_maxpool,
    [NG_OP_UPSAMPLE] = g_upsample,
    [NG_OP_CONCAT] = g_concat,
    [NG_OP_MUL_CHANNEL] = g_mul_channel,
    [NG_OP_CROSS_ENTROPY] = g_cross_entropy,
    [NG_OP_ADD] = g_add,
};
_Static_assert(NG_OP_COUNT == 20, "a new op in ops.def needs a row in grad_rules (or none: not differentiable)");

/* Inputs through which no gradient flows. */
static int differentiable_input(const ng_node *n, int i)
{
    switch (n->op) {
    case NG_OP_MUL_CHANNEL: return i == 0;
    case NG_OP_CROSS_ENTROPY: return i == 0;
    default: return 1;
    }
}

static void append_optimizer(ad *A)
{
    nc_graph *g = A->g;
    size_t n_tensors = g->n_tensors;
    for (size_t t = 0; t < n_tensors; t++) {
        if (g->tensors[t].t.role != NG_ROLE_PARAM || A->grad[t] < 0)
            continue;
        const ng_tensor *p = &g->tensors[t].t;
        nc_loc loc = g->tensors[t].loc;
        int ndim = p->ndim;
        int32_t dim[NG_MAX_DIMS];
        memcpy(dim, p->dim, sizeof dim);
        const char *pname = p->name;
        int32_t in[4] = {(int32_t)t, A->grad[t], -1, -1};
        int op, n_in;
        if (g->opt == NC_OPT_ADAM) {
            in[2] = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.adam_m", pname), NG_F32,
                                    NG_ROLE_OPT_STATE, ndim, dim, loc);
            in[3] = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.adam_v", pname), NG_F32,
                                    NG_ROLE_OPT_STATE, ndim, dim, loc);
            op = NG_OP_ADAM;
            n_in = 4;
        } else {
            in[2] = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.sgd_v", pname), NG_F32,
                                    NG_ROLE_OPT_STATE, ndim, dim, loc);
            op = NG_OP_SGD;
            n_in = 3;
        }
        for (int i = 2; i < n_in; i++)
            g->tensors[in[i]].t.init = NG_INIT_ZEROS;
        bop(A, op, n_in, in, NULL, g->opt_fa, nc_arena_printf(g->arena, "%s.update", pname), loc);
    }
}

int nc_autodiff(nc_graph *g, nc_diag *d)
{
    if (g->bind.loss < 0)
        return 0;
    ad A = {0};
    A.g = g;
    A.d = d;
    size_t n_fwd = g->n_nodes;
    /* grad[] and needs[] are indexed by forward tensors only */
    size_t cap = g->n_tensors + 1;
    A.grad = malloc(cap * sizeof *A.grad);
    A.needs = calloc(cap, 1);
    free(g->grad_of);
    g->grad_of = malloc(cap * sizeof *g->grad_of);
    g->n_grad_of = cap - 1;
    if (!A.grad || !A.needs || !g->grad_of)
        nc_die("out of memory");
    for (size_t i = 0; i < cap; i++)
        A.grad[i] = -1;
    for (size_t t = 0; t < g->n_tensors; t++)
        A.needs[t] = g->tensors[t].t.role == NG_ROLE_PARAM;
    for (size_t i = 0; i < n_fwd; i++) {
        const ng_node *n = &g->nodes[i].n;
        if (n->out < 0)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && differentiable_input(n, k) && A.needs[n->in[k]])
                A.needs[n->out] = 1;
    }
    int loss = g->bind.loss;
    if (!A.needs[loss]) {
        nc_diag_error(d, g->loss_loc, "the loss does not depend on any trainable parameter");
        free(A.grad);
        free(A.needs);
        return -1;
    }
    int32_t one = 1;
    const ng_tensor lt = g->tensors[loss].t; /* a copy: the table grows */
    int seed = nc_graph_tensor(g, nc_arena_printf(g->arena, "%s.grad_seed", lt.name), NG_F32,
                               NG_ROLE_CONST, lt.ndim, lt.ndim ? lt.dim : &one, g->loss_loc);
    g->tensors[seed].t.init = NG_INIT_ONES;
    A.grad[loss] = seed;

    for (size_t i = n_fwd; i-- > 0;) {
        const nc_node n = g->nodes[i]; /* a copy: rules append to g->nodes */
        if (n.n.out < 0 || A.grad[n.n.out] < 0)
            continue;
        grad_rule rule = grad_rules[n.n.op];
        if (!rule) {
            nc_diag_error(d, n.loc, "%s has no gradient, but the loss depends on a parameter through it",
                          ng_ops[n.n.op].name);
            A.failed = 1;
            continue;
        }
        rule(&A, &n, A.grad[n.n.out]);
    }
    for (size_t t = 0; t < cap - 1; t++)
        g->grad_of[t] = A.grad[t];
    if (!A.failed && g->opt != NC_OPT_NONE)
        append_optimizer(&A);
    free(A.grad);
    free(A.needs);
    return A.failed ? -1 : 0;
}
