/* replicas.c — the model's state made the same on every rank of a
 * data-parallel job, and checked to be (replicas.h). */
#include "replicas.h"

#include "dist.h"
#include "util.h"

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

int nr_dist_check_model(nr_model *m, uint64_t *sum)
{
    const ng_graph *g = nr_model_graph(m);
    uint64_t h = NG_FNV_BASIS; /* over the bytes, tensor by tensor */
    for (int t = 0; t < g->n_tensors; t++) {
        int r = g->tensors[t].role;
        if (r == NG_ROLE_PARAM || r == NG_ROLE_OPT_STATE)
            h = ng_fnv1a(h, nr_model_state(m, t), (size_t)ng_tensor_bytes(&g->tensors[t]));
    }
    *sum = h;
    return nr_dist_same_u64(h);
}
