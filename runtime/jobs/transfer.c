/* transfer.c — --init by name and shape, and --freeze by glob (transfer.h). */
#include "transfer.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "safetensors.h"
#include "util.h"

/* "AxBxC" of n dims */
static void dims_str(char *buf, size_t len, int n, const int64_t *d)
{
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), i ? "x%lld" : "%lld", (long long)d[i]);
    if (n == 0)
        snprintf(buf, len, "scalar");
}

/* A tensor of the file that goes with another of its tensors: NAME.SUFFIX
 * (optimizer state) or raw.NAME (the raw weights under EMA). */
static int derived(const nr_st_file *f, const char *name)
{
    if (!strncmp(name, "raw.", 4) && nr_st_find(f, name + 4))
        return 1;
    for (int i = 0, n = nr_st_count(f); i < n; i++) {
        const char *o = nr_st_get(f, i)->name;
        size_t l = strlen(o);
        if (strlen(name) > l + 1 && !strncmp(name, o, l) && name[l] == '.')
            return 1;
    }
    return 0;
}

static int graph_has(const ng_graph *g, const char *name)
{
    for (int t = 0; t < g->n_tensors; t++)
        if (!strcmp(g->tensors[t].name, name))
            return 1;
    return 0;
}

/* One line of what --init skipped, printf-style; at most 20, then how many more. */
static void note(FILE *out, int *shown, const char *fmt, ...)
{
    if ((*shown)++ >= 20)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("  ", out);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    va_end(ap);
}

int nr_transfer_init(nr_model *m, const char *path, FILE *out, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    nr_st_file *f = nr_st_load(path, err, errlen);
    if (!f)
        return -1;
    int n_params = 0, loaded = 0, shown = 0;
    int64_t vals = 0, vals_loaded = 0;
    for (int pass = 0; pass < 2; pass++) { /* count, then load (nothing changes unless one matches) */
        for (int t = 0; t < g->n_tensors; t++) {
            const ng_tensor *x = &g->tensors[t];
            if (x->role != NG_ROLE_PARAM)
                continue;
            const nr_st_tensor *s = nr_st_find(f, x->name);
            int same = s && s->dtype == NR_ST_F32 && s->ndim == x->ndim;
            for (int d = 0; same && d < x->ndim; d++)
                same = s->dim[d] == x->dim[d];
            char where[4200];
            snprintf(where, sizeof where, "%s: ", path);
            if (pass == 0 && same && nr_ckpt_finite(where, x->name, s->data, ng_tensor_nelem(x), err, errlen) != 0) {
                nr_st_free(f);
                return -1; /* nothing loaded */
            }
            if (pass == 0) {
                n_params++;
                vals += ng_tensor_nelem(x);
                loaded += same;
                vals_loaded += same ? ng_tensor_nelem(x) : 0;
            } else if (same) {
                nr_model_write(m, t, s->data, (size_t)ng_tensor_bytes(x));
            }
        }
        if (pass == 0 && loaded == 0) {
            ng_fail(err, errlen,
                    "%s: none of its tensors matches a parameter of %s by name and shape (is it a "
                    "checkpoint of another network?)",
                    path, g->source ? g->source : "the model");
            nr_st_free(f);
            return -1;
        }
    }
    if (out) {
        fprintf(out, "init from %s: %d of %d parameter tensors (%lld of %lld values)%s\n", path, loaded, n_params,
                (long long)vals_loaded, (long long)vals,
                loaded < n_params ? "; the others keep their initial values:" : "");
        for (int t = 0; t < g->n_tensors; t++) {
            const ng_tensor *x = &g->tensors[t];
            const nr_st_tensor *s = x->role == NG_ROLE_PARAM ? nr_st_find(f, x->name) : NULL;
            char a[64], b[96];
            int64_t xd[NG_MAX_DIMS];
            for (int d = 0; d < x->ndim; d++)
                xd[d] = x->dim[d];
            if (x->role != NG_ROLE_PARAM)
                continue;
            if (!s) {
                note(out, &shown, "%s: not in the checkpoint", x->name);
                continue;
            }
            dims_str(a, sizeof a, x->ndim, xd);
            dims_str(b, sizeof b, s->ndim, s->dim);
            if (s->dtype != NR_ST_F32)
                snprintf(b + strlen(b), sizeof b - strlen(b), " %s", nr_st_dtype_name(s->dtype));
            if (s->dtype != NR_ST_F32 || strcmp(a, b) != 0)
                note(out, &shown, "%s: %s in the model, %s in the checkpoint", x->name, a, b);
        }
        for (int i = 0, n = nr_st_count(f); i < n; i++) {
            const char *name = nr_st_get(f, i)->name;
            if (!graph_has(g, name) && !derived(f, name))
                note(out, &shown, "%s: in the checkpoint, not in the model", name);
        }
        if (shown > 20)
            fprintf(out, "  ... and %d more\n", shown - 20);
    }
    nr_st_free(f);
    return 0;
}

/* Mark the parameters pat matches in hit; returns their count. */
static int match_params(const ng_graph *g, const char *pat, unsigned char *hit)
{
    int n = 0;
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].role == NG_ROLE_PARAM && fnmatch(pat, g->tensors[t].name, 0) == 0) {
            n++;
            hit[t] = 1;
        }
    return n;
}

int nr_transfer_freeze(nr_model *m, const char *const *patterns, int n, FILE *out, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    unsigned char *hit = calloc((size_t)g->n_tensors, 1);
    if (!hit)
        return ng_fail(err, errlen, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        for (const char *p = patterns[i]; rc == 0;) { /* a comma-separated list */
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char pat[512];
            if (len == 0 || len >= sizeof pat)
                rc = ng_fail(err, errlen, "--freeze '%s': %s", patterns[i],
                             len ? "a pattern is too long" : "an empty pattern");
            else {
                memcpy(pat, p, len);
                pat[len] = 0;
                if (match_params(g, pat, hit) == 0)
                    rc = ng_fail(err, errlen,
                                 "--freeze '%s' matches no parameter of %s (netrun info lists them; "
                                 "'*' matches any characters, dots included)",
                                 pat, g->source ? g->source : "the model");
            }
            if (!end)
                break;
            p = end + 1;
        }
    }
    int frozen = 0, params = 0;
    int64_t vals = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        params += g->tensors[t].role == NG_ROLE_PARAM;
        frozen += hit[t];
        vals += hit[t] ? ng_tensor_nelem(&g->tensors[t]) : 0;
    }
    if (rc == 0 && frozen == params)
        rc = ng_fail(err, errlen, "--freeze matches all %d parameters of %s: nothing would train", params,
                     g->source ? g->source : "the model");
    for (int t = 0; rc == 0 && t < g->n_tensors; t++)
        if (hit[t] && nr_model_freeze(m, t) != 0)
            rc = ng_fail(err, errlen, "%s", nr_model_error(m));
    if (rc == 0 && out)
        fprintf(out, "frozen: %d of %d parameter tensors (%lld values)\n", frozen, params, (long long)vals);
    free(hit);
    return rc;
}
