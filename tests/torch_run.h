/* torch_run.h — what the netrun sides of the PyTorch checks
 * (torch_ops_run.c, torch_optim_run.c) share: loading a graph into a model,
 * seeded random parameters, image and labels, and safetensors views of the
 * tensors they dump. */
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

/* A copy of tensor t's state in m (the caller frees); NULL out of memory. */
static float *state_copy(nr_model *m, int t)
{
    size_t bytes = (size_t)ng_tensor_bytes(&nr_model_graph(m)->tensors[t]);
    float *p = malloc(bytes ? bytes : 1);
    if (p)
        memcpy(p, nr_model_state(m, t), bytes);
    return p;
}

/* "NAME.after" in a new string (the caller frees); NULL out of memory. */
static char *after_name(const char *name)
{
    size_t len = strlen(name) + 7;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s.after", name);
    return s;
}

#endif
