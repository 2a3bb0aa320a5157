/* torch_ops_run.c — the netrun side of tests/torch_ops.py: loads a compiled
 * graph, gives every parameter and the image seeded random values, runs one
 * entry (default infer) with every tensor in its own buffer, and writes the
 * inputs, the parameters and every tensor the entry computed to a
 * safetensors file under their graph names, for PyTorch to recompute.
 * Usage: torch_ops_run GRAPH.netg OUT.safetensors [ENTRY [RUNS]]
 * (RUNS: how many times the entry runs before the dump, default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "netg.h"
#include "safetensors.h"

static uint64_t rng = 2024;

/* Uniform in [-1, 1). */
static float urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2 - 1);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s GRAPH.netg OUT.safetensors [ENTRY [RUNS]]\n", argv[0]);
        return 2;
    }
    const char *entry = argc > 3 ? argv[3] : "infer";
    int runs = argc > 4 ? atoi(argv[4]) : 1;
    char err[1024];
    ng_graph *g = ng_graph_load(argv[1], err, sizeof err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    nr_model *m = nr_model_new(g, 7, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    nr_model_set_unshared(m, 1);
    const ng_graph *G = nr_model_graph(m);
    const ng_entry *e = ng_graph_entry(G, entry);
    if (!e) {
        fprintf(stderr, "%s: no entry '%s'\n", argv[1], entry);
        return 1;
    }
    /* parameters: their init plus noise (so that unit gammas and zero
     * biases are tested too); the image in [-2, 2); labels all 0 */
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
        } else if (t == G->bind.labels) { /* 0, 1, 2 and the ignore label */
            int32_t *p = nr_model_state(m, t);
            for (int64_t i = 0; i < n; i++) {
                int v = (int)((urand() + 1) * 2);
                p[i] = v > 2 ? 255 : v;
            }
        }
    }
    /* the parameters and state before the runs, the activations after */
    nr_st_tensor *ts = calloc((size_t)G->n_tensors, sizeof *ts);
    float **copies = calloc((size_t)G->n_tensors, sizeof *copies);
    int n = 0;
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        if (x->dtype != NG_F32 || !ng_role_is_persistent(x->role) || x->role == NG_ROLE_CONST)
            continue;
        size_t bytes = (size_t)ng_tensor_bytes(x);
        copies[t] = malloc(bytes ? bytes : 1);
        memcpy(copies[t], nr_model_state(m, t), bytes);
    }
    for (int r = 0; r < runs; r++)
        if (nr_model_run(m, entry)) {
            fprintf(stderr, "%s\n", nr_model_error(m));
            return 1;
        }
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        const void *data = copies[t];
        if (!data && x->role != NG_ROLE_WORKSPACE && e->offset[t] >= 0)
            data = nr_model_tensor(m, entry, t);
        if (!data && (t == G->bind.labels || (x->dtype == NG_F32 && x->role == NG_ROLE_INPUT)))
            data = nr_model_state(m, t);
        if (!data)
            continue;
        ts[n].name = x->name;
        ts[n].dtype = x->dtype == NG_I32 ? NR_ST_I32 : NR_ST_F32;
        ts[n].ndim = x->ndim;
        for (int d = 0; d < x->ndim; d++)
            ts[n].dim[d] = x->dim[d];
        ts[n].data = data;
        n++;
    }
    /* persistent state after the runs (batch_norm's running statistics),
     * as NAME.after */
    char **after_names = calloc((size_t)G->n_tensors, sizeof *after_names);
    nr_st_tensor *ts2 = realloc(ts, (size_t)(n + G->n_tensors) * sizeof *ts);
    if (!ts2 || !after_names)
        return 1;
    ts = ts2;
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        if (!copies[t])
            continue;
        size_t len = strlen(x->name) + 7;
        after_names[t] = malloc(len);
        snprintf(after_names[t], len, "%s.after", x->name);
        ts[n] = (nr_st_tensor){after_names[t], NR_ST_F32, x->ndim, {0}, nr_model_state(m, t)};
        for (int d = 0; d < x->ndim; d++)
            ts[n].dim[d] = x->dim[d];
        n++;
    }
    int rc = nr_st_save(argv[2], n, ts, 0, NULL, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    for (int t = 0; t < G->n_tensors; t++) {
        free(copies[t]);
        free(after_names[t]);
    }
    free(copies);
    free(after_names);
    free(ts);
    nr_model_free(m);
    return rc ? 1 : 0;
}
