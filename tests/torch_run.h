/* torch_run.h — what the netrun sides of the PyTorch checks
 * (torch_ops_run.c, torch_optim_run.c) share: loading a graph into a model,
 * seeded random parameters, image and labels, and the dump: safetensors
 * views of the tensors they write, copies of the state before the runs. */
#ifndef TORCH_RUN_H
#define TORCH_RUN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "exec.h"
#include "netg.h"
#include "safetensors.h"

static uint64_t rng;

/* Uniform in [-1, 1), from a seeded 64-bit LCG. */
static float urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2 - 1);
}

/* The model of the graph file at path (model seed 7); NULL after printing
 * why on stderr.  nr_model_free frees it. */
static nr_model *load_model(const char *path)
{
    char err[1024];
    ng_graph *g = ng_graph_load(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    nr_model *m = nr_model_new(g, nr_backend_cpu(), 7, err, sizeof err);
    if (!m)
        fprintf(stderr, "%s\n", err);
    return m;
}

/* From the seed, tensor by tensor: every parameter gets its init plus
 * 0.5 * urand() (so that unit gammas and zero biases are tested too), the
 * image 2 * urand() in [-2, 2), each label label() (which draws on urand). */
static void randomize(nr_model *m, uint64_t seed, int32_t (*label)(void))
{
    const ng_graph *G = nr_model_graph(m);
    rng = seed;
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        int64_t n = ng_tensor_nelem(x);
        if (x->role == NG_ROLE_PARAM) {
            float *p = nr_model_state(m, t);
            for (int64_t i = 0; i < n; i++)
                p[i] += 0.5f * urand();
        } else if (t == G->bind.image) {
            float *p = nr_model_state(m, t);
            for (int64_t i = 0; i < n; i++)
                p[i] = 2 * urand();
        } else if (t == G->bind.labels) {
            int32_t *p = nr_model_state(m, t);
            for (int64_t i = 0; i < n; i++)
                p[i] = label();
        }
    }
}

/* x's shape and dtype (I32 or F32) over data, under name (borrowed). */
static nr_st_tensor view(const ng_tensor *x, const char *name, const void *data)
{
    nr_st_tensor s = {name, x->dtype == NG_I32 ? NR_ST_I32 : NR_ST_F32, x->ndim, {0}, data};
    for (int d = 0; d < x->ndim; d++)
        s.dim[d] = x->dim[d];
    return s;
}

/* What a run writes: views over the model's tensors and over copies of
 * their state taken before the runs, which the dump owns, with the names
 * of the views of a state after the runs. */
typedef struct {
    const ng_graph *g;
    int n;            /* views in ts */
    nr_st_tensor *ts; /* (2 * tensors): at most a view and an after view each */
    float **copy;     /* (tensors) the state before the runs, or NULL */
    char **after;     /* (tensors) "NAME.after", or NULL */
} dump;

/* p, unless it is NULL: then the program ends (out of memory). */
static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* An empty dump of m's tensors. */
static dump dump_new(nr_model *m)
{
    const ng_graph *g = nr_model_graph(m);
    size_t nt = (size_t)g->n_tensors;
    return (dump){g, 0, must(calloc(2 * nt, sizeof(nr_st_tensor))), must(calloc(nt, sizeof(float *))),
                  must(calloc(nt, sizeof(char *)))};
}

/* Tensor t under name (borrowed) over data. */
static void dump_view(dump *d, int t, const char *name, const void *data)
{
    d->ts[d->n++] = view(&d->g->tensors[t], name, data);
}

/* A copy of tensor t's state in m now, into d->copy[t]. */
static void dump_copy(dump *d, nr_model *m, int t)
{
    size_t bytes = (size_t)ng_tensor_bytes(&d->g->tensors[t]);
    d->copy[t] = must(malloc(bytes ? bytes : 1));
    memcpy(d->copy[t], nr_model_state(m, t), bytes);
}

/* Tensor t's state in m as it will be at the save, as "NAME.after". */
static void dump_after(dump *d, nr_model *m, int t)
{
    const char *name = d->g->tensors[t].name;
    size_t len = strlen(name) + 7;
    d->after[t] = must(malloc(len));
    snprintf(d->after[t], len, "%s.after", name);
    dump_view(d, t, d->after[t], nr_model_state(m, t));
}

/* Writes the views to the safetensors file at path and frees the dump
 * (not the model).  The exit status: 0, or 1 after printing why the save
 * failed. */
static int dump_save(dump *d, const char *path)
{
    char err[1024];
    int rc = nr_st_save(path, d->n, d->ts, 0, NULL, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    for (int t = 0; t < d->g->n_tensors; t++) {
        free(d->copy[t]);
        free(d->after[t]);
    }
    free(d->copy);
    free(d->after);
    free(d->ts);
    return rc ? 1 : 0;
}

#endif
