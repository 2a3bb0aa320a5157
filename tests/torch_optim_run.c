/* torch_optim_run.c — the netrun side of tests/torch_optim.py: loads a
 * compiled graph, gives every parameter its init plus seeded noise and the
 * image and labels seeded random values, runs the train entry STEPS times on
 * that one batch (the run's total steps TOTAL, default STEPS, for the
 * schedules) and writes the image, the labels, the parameters before the
 * runs (NAME) and after them (NAME.after) to a safetensors file.
 * Usage: torch_optim_run GRAPH.netg OUT.safetensors STEPS [TOTAL] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "netg.h"
#include "safetensors.h"

static uint64_t rng = 99;

/* Uniform in [-1, 1). */
static float urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2 - 1);
}

static nr_st_tensor view(const ng_tensor *x, const char *name, const void *data)
{
    nr_st_tensor s = {name, x->dtype == NG_I32 ? NR_ST_I32 : NR_ST_F32, x->ndim, {0}, data};
    for (int d = 0; d < x->ndim; d++)
        s.dim[d] = x->dim[d];
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s GRAPH.netg OUT.safetensors STEPS [TOTAL]\n", argv[0]);
        return 2;
    }
    int steps = atoi(argv[3]);
    long long total = argc > 4 ? atoll(argv[4]) : steps;
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
    const ng_graph *G = nr_model_graph(m);
    nr_model_set_total_steps(m, total);
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
                p[i] = (int)((urand() + 1) * 1.5f) % 3;
        }
    }
    nr_st_tensor *ts = calloc((size_t)(2 * G->n_tensors), sizeof *ts);
    float **before = calloc((size_t)G->n_tensors, sizeof *before);
    char **after = calloc((size_t)G->n_tensors, sizeof *after);
    if (!ts || !before || !after)
        return 1;
    int n = 0;
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        if (t == G->bind.image || t == G->bind.labels) {
            ts[n++] = view(x, x->name, nr_model_state(m, t));
        } else if (x->role == NG_ROLE_PARAM) {
            size_t bytes = (size_t)ng_tensor_bytes(x);
            if (!(before[t] = malloc(bytes ? bytes : 1)))
                return 1;
            memcpy(before[t], nr_model_state(m, t), bytes);
            ts[n++] = view(x, x->name, before[t]);
            size_t len = strlen(x->name) + 7;
            if (!(after[t] = malloc(len)))
                return 1;
            snprintf(after[t], len, "%s.after", x->name);
            ts[n++] = view(x, after[t], nr_model_state(m, t));
        }
    }
    for (int s = 0; s < steps; s++)
        if (nr_model_run(m, "train")) {
            fprintf(stderr, "%s\n", nr_model_error(m));
            return 1;
        }
    int rc = nr_st_save(argv[2], n, ts, 0, NULL, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    for (int t = 0; t < G->n_tensors; t++) {
        free(before[t]);
        free(after[t]);
    }
    free(before);
    free(after);
    free(ts);
    nr_model_free(m);
    return rc ? 1 : 0;
}
