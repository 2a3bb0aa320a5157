/* ensemble.c — several checkpoints of one graph as one model (ensemble.h):
 * each member's tensors kept in one block, written into the model before
 * the member runs. */
#include "ensemble.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "options.h"
#include "util.h"

struct nr_ensemble {
    int n;        /* members */
    size_t bytes; /* of one member's tensors, back to back in graph order */
    char *data;   /* (n, bytes); NULL with one member */
};

/* With prior_correction: the members' training class counts, summed, into
 * the model (window.c reads them); their class-weight constants are loaded
 * after. */
static int sum_priors(nr_model *m, const char *const *paths, int n, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    if (!(nr_option_num(g, "prior_correction") > 0))
        return 0;
    int k = g->bind.classes, rc = 0;
    int64_t *sum = calloc((size_t)k, sizeof *sum), *c = calloc((size_t)k, sizeof *c);
    float *w = calloc((size_t)k, sizeof *w);
    if (!sum || !c || !w)
        rc = ng_fail(err, errlen, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = nr_ckpt_class_counts(paths[i], c, k, err, errlen);
        for (int j = 0; rc == 0 && j < k; j++)
            sum[j] += c[j];
    }
    if (rc == 0)
        nr_model_set_class_weights(m, sum, w);
    free(sum);
    free(c);
    free(w);
    return rc;
}

nr_ensemble *nr_ensemble_load(nr_model *m, const char *const *paths, int n, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    nr_ensemble *e = calloc(1, sizeof *e);
    if (!e) {
        ng_fail(err, errlen, "out of memory");
        return NULL;
    }
    e->n = n;
    for (int t = 0; t < g->n_tensors; t++)
        if (nr_ckpt_holds(&g->tensors[t], 0))
            e->bytes += (size_t)ng_tensor_bytes(&g->tensors[t]);
    if (n < 1 || sum_priors(m, paths, n, err, errlen) != 0) {
        if (n < 1)
            ng_fail(err, errlen, "no checkpoint given");
        free(e);
        return NULL;
    }
    if (n > 1 && !(e->data = malloc(e->bytes * (size_t)n + 1))) {
        ng_fail(err, errlen, "out of memory");
        free(e);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (nr_ckpt_load(m, paths[i], 0, NULL, err, errlen) != 0) {
            nr_ensemble_free(e);
            return NULL;
        }
        char *at = e->data ? e->data + e->bytes * (size_t)i : NULL;
        for (int t = 0; at && t < g->n_tensors; t++) {
            const ng_tensor *x = &g->tensors[t];
            if (!nr_ckpt_holds(x, 0))
                continue;
            nr_model_read(m, g->entries[0].name, t, at, (size_t)ng_tensor_bytes(x)); /* persistent: any entry */
            at += ng_tensor_bytes(x);
        }
    }
    return e;
}

nr_ensemble *nr_ensemble_load_list(nr_model *m, const char *list, char *err, size_t errlen)
{
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    char *copy = strdup(list);
    const char **paths = malloc(sizeof *paths * (size_t)n);
    nr_ensemble *e = NULL;
    if (!copy || !paths) {
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    char *p = copy;
    for (int i = 0; i < n; i++) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        if (!*p) {
            ng_fail(err, errlen, "--weights '%s': an empty checkpoint name in the list", list);
            goto done;
        }
        paths[i] = p;
        ng_input_keep(p); /* each member: nothing this command writes replaces it (util.h) */
        p = comma ? comma + 1 : p;
    }
    e = nr_ensemble_load(m, paths, n, err, errlen);
done:
    free(copy);
    free(paths);
    return e;
}

void nr_ensemble_free(nr_ensemble *e)
{
    if (!e)
        return;
    free(e->data);
    free(e);
}

int nr_ensemble_size(const nr_ensemble *e)
{
    return e ? e->n : 1;
}

void nr_ensemble_use(const nr_ensemble *e, nr_model *m, int k)
{
    if (!e || !e->data)
        return;
    const ng_graph *g = nr_model_graph(m);
    const char *at = e->data + e->bytes * (size_t)k;
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        if (!nr_ckpt_holds(x, 0))
            continue;
        nr_model_write(m, t, at, (size_t)ng_tensor_bytes(x));
        at += ng_tensor_bytes(x);
    }
}
