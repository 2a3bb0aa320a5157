/* ema.c — the moving average of the weights under `option ema` (ema.h):
 * one host copy of every parameter, updated after each step, exchanged
 * with the weights for validation and checkpoints. */
#include "ema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "options.h"
#include "safetensors.h"
#include "util.h"

struct nr_ema {
    nr_model *m;
    double decay;
    int n;       /* parameters averaged */
    int *t;      /* (n) their tensor ids */
    float **avg; /* (n) the average of each, its tensor's size */
    char **raw;  /* (n) "raw.NAME": the checkpoint key of its raw weights */
    int resumed; /* avg read by nr_ema_resume */
};

static size_t param_bytes(const nr_ema *e, int i)
{
    return (size_t)ng_tensor_bytes(&nr_model_graph(e->m)->tensors[e->t[i]]);
}

nr_ema *nr_ema_new(nr_model *m, int *ok, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    double decay = nr_option_num(g, "ema");
    *ok = 1;
    if (!(decay > 0))
        return NULL;
    nr_ema *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->m = m;
    e->decay = decay;
    e->t = calloc((size_t)g->n_tensors, sizeof *e->t);
    e->avg = calloc((size_t)g->n_tensors, sizeof *e->avg);
    e->raw = calloc((size_t)g->n_tensors, sizeof *e->raw);
    if (!e->t || !e->avg || !e->raw)
        goto oom;
    for (int t = 0; t < g->n_tensors; t++) {
        if (g->tensors[t].role != NG_ROLE_PARAM)
            continue;
        int i = e->n++;
        e->t[i] = t;
        size_t len = strlen(g->tensors[t].name) + 5;
        if (!(e->avg[i] = malloc(param_bytes(e, i))) || !(e->raw[i] = malloc(len)))
            goto oom;
        snprintf(e->raw[i], len, "raw.%s", g->tensors[t].name);
    }
    return e;
oom:
    nr_ema_free(e);
    *ok = 0;
    ng_fail(err, errlen, "out of memory for the weights' moving average");
    return NULL;
}

void nr_ema_free(nr_ema *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n; i++) {
        free(e->avg[i]);
        free(e->raw[i]);
    }
    free(e->t);
    free(e->avg);
    free(e->raw);
    free(e);
}

int nr_ema_resume(nr_ema *e, nr_model *m, const char *path, char *err, size_t errlen)
{
    nr_st_file *f = nr_st_load(path, err, errlen);
    if (!f)
        return -1;
    int rc = 0;
    for (int i = 0; i < e->n && rc == 0; i++) {
        memcpy(e->avg[i], nr_model_state(m, e->t[i]), param_bytes(e, i));
        const nr_st_tensor *s = nr_st_find(f, e->raw[i]);
        if (!s)
            continue; /* written without EMA: the average starts at its weights */
        int64_t elems = 1;
        for (int d = 0; d < s->ndim; d++)
            elems *= s->dim[d];
        if (s->dtype != NR_ST_F32 || (size_t)elems * sizeof(float) != param_bytes(e, i))
            rc =
                ng_fail(err, errlen, "%s: tensor '%s' does not have the shape of '%s'", path, e->raw[i], e->raw[i] + 4);
        else
            nr_model_write(m, e->t[i], s->data, param_bytes(e, i));
    }
    nr_st_free(f);
    e->resumed = rc == 0;
    return rc;
}

void nr_ema_share(nr_ema *e)
{
    if (!e)
        return;
    int resumed = e->resumed;
    nr_dist_bcast(&resumed, sizeof resumed);
    for (int i = 0; i < e->n; i++) {
        if (resumed)
            nr_dist_bcast(e->avg[i], param_bytes(e, i));
        else
            memcpy(e->avg[i], nr_model_state(e->m, e->t[i]), param_bytes(e, i));
    }
}

void nr_ema_update(nr_ema *e, int64_t t)
{
    if (!e)
        return;
    double warm = (1.0 + (double)t) / (10.0 + (double)t);
    float c = (float)(1.0 - (e->decay < warm ? e->decay : warm));
    for (int i = 0; i < e->n; i++) {
        const float *w = nr_model_state(e->m, e->t[i]);
        float *a = e->avg[i];
        for (size_t j = 0, n = param_bytes(e, i) / sizeof(float); j < n; j++)
            a[j] += c * (w[j] - a[j]); /* d * a + (1 - d) * w, exact where w == a (a frozen weight) */
    }
}

void nr_ema_swap(nr_ema *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n; i++) {
        float *w = nr_model_state(e->m, e->t[i]), *a = e->avg[i];
        for (size_t j = 0, n = param_bytes(e, i) / sizeof(float); j < n; j++) {
            float x = w[j];
            w[j] = a[j];
            a[j] = x;
        }
    }
}

int nr_ema_save(nr_ema *e, nr_model *m, const char *path, int opt_state, const nr_run_state *rs, char *err,
                size_t errlen)
{
    if (!e)
        return nr_ckpt_save(m, path, opt_state, rs, err, errlen);
    nr_st_tensor *raw = calloc((size_t)(e->n ? e->n : 1), sizeof *raw);
    if (!raw)
        return ng_fail(err, errlen, "out of memory");
    const ng_graph *g = nr_model_graph(e->m);
    for (int i = 0; i < e->n; i++) {
        const ng_tensor *x = &g->tensors[e->t[i]];
        raw[i].name = e->raw[i];
        raw[i].dtype = NR_ST_F32;
        raw[i].ndim = x->ndim;
        for (int d = 0; d < x->ndim; d++)
            raw[i].dim[d] = x->dim[d];
        raw[i].data = e->avg[i]; /* after the swap below: the raw weights */
    }
    nr_ema_swap(e);
    int rc = nr_ckpt_save_with(m, path, opt_state, rs, raw, e->n, err, errlen);
    nr_ema_swap(e);
    free(raw);
    return rc;
}
