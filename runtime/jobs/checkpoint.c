/* checkpoint.c — a model's state in safetensors files (checkpoint.h):
 * parameters under their graph names, and for --resume the optimizer state,
 * the step and where the run stood. */
#include "checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "options.h"
#include "safetensors.h"
#include "util.h"

int nr_ckpt_holds(const ng_tensor *x, int opt_state)
{
    if (x->role == NG_ROLE_CONST) /* constants only when computed from data (class weights, priors) */
        return x->init == NG_INIT_CLASS_WEIGHTS || x->init == NG_INIT_CLASS_PRIORS;
    return x->role == NG_ROLE_PARAM || (opt_state && x->role == NG_ROLE_OPT_STATE);
}

/* The first element of x[0..n) that is NaN or infinite (all exponent bits
 * set), or -1.  Blocks of 4096 are tested with one OR each, a loop the
 * compiler vectorizes; memcpy reads floats at any alignment (a file's). */
static int64_t first_nonfinite(const void *x, int64_t n)
{
    const unsigned char *p = x;
    for (int64_t b = 0; b < n; b += 4096) {
        int64_t e = n - b < 4096 ? n : b + 4096;
        uint32_t any = 0;
        for (int64_t i = b; i < e; i++) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            any |= (u & 0x7f800000u) == 0x7f800000u;
        }
        for (int64_t i = b; any && i < e; i++) {
            float v;
            memcpy(&v, p + 4 * i, 4);
            if (!isfinite(v))
                return i;
        }
    }
    return -1;
}

int nr_ckpt_finite(const char *where, const char *name, const void *x, int64_t n, char *err,
                        size_t errlen)
{
    int64_t i = first_nonfinite(x, n);
    if (i < 0)
        return 0;
    float v;
    memcpy(&v, (const unsigned char *)x + 4 * i, 4);
    return ng_fail(err, errlen, "%stensor '%s' holds %s at element %lld of %lld", where, name,
                   isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf", (long long)i, (long long)n);
}

int nr_ckpt_check_finite(nr_model *m, int opt_state, const char *where, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        if (nr_ckpt_holds(x, opt_state) &&
            nr_ckpt_finite(where, x->name, nr_model_state(m, t), ng_tensor_nelem(x), err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* counts as "n0,n1,...": malloc'd, or NULL */
static char *counts_str(const int64_t *counts, int k)
{
    size_t cap = (size_t)k * 21 + 1, len = 0;
    char *s = counts ? malloc(cap) : NULL;
    for (int c = 0; s && c < k; c++)
        len += (size_t)snprintf(s + len, cap - len, c ? ",%lld" : "%lld", (long long)counts[c]);
    return s;
}

int nr_ckpt_class_counts(const char *path, int64_t *counts, int classes, char *err, size_t errlen)
{
    nr_st_file *f = nr_st_load(path, err, errlen);
    if (!f)
        return -1;
    const char *s = nr_st_meta(f, "class_counts");
    int rc = -1, c = 0;
    if (!s) {
        ng_fail(err, errlen, "%s: no class counts in its metadata (written by a netrun before 0.2, or by a "
             "model without labels)", path);
        goto done;
    }
    for (const char *p = s; c < classes; c++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || (*end != ',' && *end != 0) || (*end == 0 && c != classes - 1) ||
            (*end == ',' && c == classes - 1)) {
            ng_fail(err, errlen, "%s: class_counts '%.40s' is not %d counts", path, s, classes);
            goto done;
        }
        counts[c] = v;
        p = end + (*end == ',');
    }
    rc = 0;
done:
    nr_st_free(f);
    return rc;
}

int nr_ckpt_save(nr_model *m, const char *path, int opt_state, const nr_run_state *rs,
                 char *err, size_t errlen)
{
    return nr_ckpt_save_with(m, path, opt_state, rs, NULL, 0, err, errlen);
}

int nr_ckpt_save_with(nr_model *m, const char *path, int opt_state, const nr_run_state *rs,
                      const nr_st_tensor *extra, int n_extra, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    char where[4200];
    snprintf(where, sizeof where, "%s: not written: ", path);
    if (nr_ckpt_check_finite(m, opt_state, where, err, errlen) != 0)
        return -1; /* the file keeps its last good state */
    for (int i = 0; i < n_extra; i++) {
        int64_t n = 1;
        for (int d = 0; d < extra[i].ndim; d++)
            n *= extra[i].dim[d];
        if (extra[i].dtype == NR_ST_F32 && nr_ckpt_finite(where, extra[i].name, extra[i].data, n, err, errlen) != 0)
            return -1;
    }
    nr_st_tensor *ts = calloc((size_t)g->n_tensors + (size_t)n_extra + 1, sizeof *ts);
    if (!ts) {
        ng_fail(err, errlen, "out of memory");
        return -1;
    }
    int n = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        if (!nr_ckpt_holds(x, opt_state))
            continue;
        ts[n].name = x->name;
        ts[n].dtype = NR_ST_F32;
        ts[n].ndim = x->ndim;
        for (int d = 0; d < x->ndim; d++)
            ts[n].dim[d] = x->dim[d];
        ts[n].data = nr_model_state(m, t);
        n++;
    }
    for (int i = 0; i < n_extra; i++)
        ts[n++] = extra[i];
    char step[32], ep[32], bs[32], el[40], es[32], seed[32], tot[32], stale[32];
    snprintf(step, sizeof step, "%lld", (long long)nr_model_step(m));
    snprintf(ep, sizeof ep, "%d", rs->epoch);
    snprintf(bs, sizeof bs, "%.9g", rs->best);
    snprintf(el, sizeof el, "%.17g", rs->epoch_loss); /* exact: the resumed mean is the same */
    snprintf(es, sizeof es, "%lld", (long long)rs->epoch_steps);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)rs->seed);
    snprintf(tot, sizeof tot, "%lld", (long long)rs->total_steps);
    snprintf(stale, sizeof stale, "%d", rs->stale);
    char ranks[16], topts[sizeof rs->options];
    snprintf(ranks, sizeof ranks, "%d", nr_dist_size());
    if (nr_options_train_record(g, topts, sizeof topts) != 0) {
        ng_fail(err, errlen, "%s: the model's options take more than the checkpoint's %zu bytes for them", path,
             sizeof topts);
        free(ts);
        return -1;
    }
    const char *meta[] = {"format", "netrun", "step", step, "epoch", ep,
                          "source", g->source ? g->source : "", "optimizer_state", opt_state ? "yes" : "no",
                          "best_score", bs, "epoch_loss_sum", el, "epoch_steps", es, "seed", seed,
                          "shuffle", rs->shuffle ? "yes" : "no", "augment", rs->augment ? "yes" : "no",
                          "ranks", ranks, "train_options", topts, "total_steps", tot,
                          "validations_since_best", stale, "class_counts", NULL};
    char *cc = counts_str(nr_model_class_counts(m), g->bind.classes);
    int n_meta = (int)(sizeof meta / sizeof *meta / 2);
    if (cc)
        meta[2 * n_meta - 1] = cc;
    else
        n_meta--; /* no counts: the model has no labels or was never trained here */
    int rc = nr_st_save(path, n, ts, n_meta, meta, err, errlen);
    free(cc);
    free(ts);
    return rc;
}

int nr_ckpt_load(nr_model *m, const char *path, int opt_state, nr_run_state *rs,
                 char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    nr_st_file *f = nr_st_load(path, err, errlen);
    if (!f)
        return -1;
    int rc = -1;
    if (opt_state) {
        const char *has = nr_st_meta(f, "optimizer_state");
        if (!has || strcmp(has, "yes") != 0) {
            ng_fail(err, errlen, "%s: holds no optimizer state; use --init to start from its weights", path);
            goto done;
        }
    }
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        if (!nr_ckpt_holds(x, opt_state))
            continue;
        const nr_st_tensor *s = nr_st_find(f, x->name);
        if (!s) {
            if (x->role == NG_ROLE_CONST)
                continue; /* weights computed again from the data */
            ng_fail(err, errlen, "%s: no tensor '%s' (was it written for another model?)", path, x->name);
            goto done;
        }
        int same = s->dtype == NR_ST_F32 && s->ndim == x->ndim;
        for (int d = 0; same && d < x->ndim; d++)
            same = s->dim[d] == x->dim[d];
        if (!same) {
            char a[64] = "", b[64] = "";
            for (int d = 0; d < x->ndim; d++)
                snprintf(a + strlen(a), sizeof a - strlen(a), d ? "x%d" : "%d", (int)x->dim[d]);
            for (int d = 0; d < s->ndim; d++)
                snprintf(b + strlen(b), sizeof b - strlen(b), d ? "x%lld" : "%lld", (long long)s->dim[d]);
            ng_fail(err, errlen, "%s: tensor '%s' is %s %s, the model needs F32 %s", path, x->name,
                 nr_st_dtype_name(s->dtype), b, a);
            goto done;
        }
        char where[4200];
        snprintf(where, sizeof where, "%s: ", path);
        if (nr_ckpt_finite(where, x->name, s->data, ng_tensor_nelem(x), err, errlen) != 0)
            goto done;
        nr_model_write(m, t, s->data, (size_t)ng_tensor_bytes(x));
    }
    if (opt_state) {
        const char *st = nr_st_meta(f, "step");
        nr_model_set_step(m, st ? atoll(st) : 0);
    }
    if (opt_state && rs) {
        const char *ep = nr_st_meta(f, "epoch"), *bs = nr_st_meta(f, "best_score");
        const char *el = nr_st_meta(f, "epoch_loss_sum"), *es = nr_st_meta(f, "epoch_steps");
        const char *seed = nr_st_meta(f, "seed"), *sh = nr_st_meta(f, "shuffle"), *au = nr_st_meta(f, "augment");
        memset(rs, 0, sizeof *rs);
        rs->epoch = ep ? atoi(ep) : 0;
        rs->best = bs ? strtod(bs, NULL) : -INFINITY;
        rs->epoch_loss = el ? strtod(el, NULL) : 0;
        rs->epoch_steps = es ? atoll(es) : 0;
        rs->has_options = seed && sh && au;
        const char *nr = nr_st_meta(f, "ranks"), *to = nr_st_meta(f, "train_options");
        rs->ranks = nr ? atoi(nr) : 1;
        const char *tot = nr_st_meta(f, "total_steps"), *stale = nr_st_meta(f, "validations_since_best");
        rs->total_steps = tot ? atoll(tot) : 0;
        rs->stale = stale ? atoi(stale) : 0;
        snprintf(rs->options, sizeof rs->options, "%s", to ? to : "");
        if (rs->has_options) {
            rs->seed = strtoull(seed, NULL, 10);
            rs->shuffle = strcmp(sh, "yes") == 0;
            rs->augment = strcmp(au, "yes") == 0;
        }
    }
    rc = 0;
done:
    nr_st_free(f);
    return rc;
}
