/* torch_optim_run.c — the netrun side of tests/torch_optim.py: loads a
 * compiled graph, gives every parameter its init plus seeded noise and the
 * image and labels seeded random values, runs the train entry STEPS times on
 * that one batch (the run's total steps TOTAL, default STEPS, for the
 * schedules) and writes the image, the labels, the parameters before the
 * runs (NAME) and after them (NAME.after) to a safetensors file.
 * Usage: torch_optim_run GRAPH.netg OUT.safetensors STEPS [TOTAL] */
#include "torch_run.h"

/* 0, 1 and 2 */
static int32_t label(void)
{
    return (int)((urand() + 1) * 1.5f) % 3;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s GRAPH.netg OUT.safetensors STEPS [TOTAL]\n", argv[0]);
        return 2;
    }
    int steps = atoi(argv[3]);
    long long total = argc > 4 ? atoll(argv[4]) : steps;
    nr_model *m = load_model(argv[1]);
    if (!m)
        return 1;
    const ng_graph *G = nr_model_graph(m);
    nr_model_set_total_steps(m, total);
    randomize(m, 99, label);
    dump d = dump_new(m);
    for (int t = 0; t < G->n_tensors; t++) {
        const ng_tensor *x = &G->tensors[t];
        if (t == G->bind.image || t == G->bind.labels) {
            dump_view(&d, t, x->name, nr_model_state(m, t));
        } else if (x->role == NG_ROLE_PARAM) {
            dump_copy(&d, m, t);
            dump_view(&d, t, x->name, d.copy[t]);
            dump_after(&d, m, t);
        }
    }
    for (int s = 0; s < steps; s++)
        if (nr_model_run(m, "train")) {
            fprintf(stderr, "%s\n", nr_model_error(m));
            return 1;
        }
    int rc = dump_save(&d, argv[2]);
    nr_model_free(m);
    return rc;
}
