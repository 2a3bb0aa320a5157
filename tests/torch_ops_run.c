/* torch_ops_run.c — the netrun side of tests/torch_ops.py: loads a compiled
 * graph, gives every parameter and the image seeded random values, runs one
 * entry (default infer) with every tensor in its own buffer, and writes the
 * inputs, the parameters and every tensor the entry computed to a
 * safetensors file under their graph names, for PyTorch to recompute.
 * Usage: torch_ops_run GRAPH.netg OUT.safetensors [ENTRY [RUNS]]
 * (RUNS: how many times the entry runs before the dump, default 1). */
#include "torch_run.h"

/* 0, 1, 2 and the ignore label 255 */
static int32_t label(void)
{
    int v = (int)((urand() + 1) * 2);
    return v > 2 ? 255 : v;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s GRAPH.netg OUT.safetensors [ENTRY [RUNS]]\n", argv[0]);
        return 2;
    }
    const char *entry = argc > 3 ? argv[3] : "infer";
    int runs = argc > 4 ? atoi(argv[4]) : 1;
    nr_model *m = load_model(argv[1]);
    if (!m)
        return 1;
    nr_model_set_unshared(m, 1);
    const ng_graph *G = nr_model_graph(m);
    const ng_entry *e = ng_graph_entry(G, entry);
    if (!e) {
        fprintf(stderr, "%s: no entry '%s'\n", argv[1], entry);
        return 1;
    }
    randomize(m, 2024, label);
    /* the parameters and state before the runs, the activations after */
    dump d = dump_new(m);
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        if (x->dtype == NG_F32 && ng_role_is_persistent(x->role) && x->role != NG_ROLE_CONST)
            dump_copy(&d, m, t);
    }
    for (int r = 0; r < runs; r++)
        if (nr_model_run(m, entry)) {
            fprintf(stderr, "%s\n", nr_model_error(m));
            return 1;
        }
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        const void *data = d.copy[t];
        if (!data && x->role != NG_ROLE_WORKSPACE && e->offset[t] >= 0)
            data = nr_model_tensor(m, entry, t);
        if (!data && (t == G->bind.labels || (x->dtype == NG_F32 && x->role == NG_ROLE_INPUT)))
            data = nr_model_state(m, t);
        if (!data)
            continue;
        dump_view(&d, t, x->name, data);
    }
    /* persistent state after the runs (batch_norm's running statistics),
     * as NAME.after */
    for (int t = 0; t < G->n_tensors; t++)
        if (d.copy[t])
            dump_after(&d, m, t);
    int rc = dump_save(&d, argv[2]);
    nr_model_free(m);
    return rc;
}
