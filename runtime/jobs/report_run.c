/* report_run.c — the run folder's files for netrun report (report_int.h):
 * run.json written at the start of train and read back (nr_report_*run*),
 * log.csv's rows and metrics.jsonl's validated epochs, and which epoch
 * best.safetensors holds. */
#define _GNU_SOURCE
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

/* ---- run.json ---------------------------------------------------------- */

int nr_report_write_run_info(const char *run_dir, const nr_run_info *ri, char *err, size_t errlen)
{
    char path[4096], *buf = NULL, abs[PATH_MAX];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/run.json", run_dir);
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return ng_fail(err, errlen, "out of memory");
    fprintf(f, "{\"format\":\"netrun-run\",\"version\":1,\"graph\":");
    nr_json_put_str(f, ri->graph && realpath(ri->graph, abs) ? abs : ri->graph);
    fprintf(f, ",\"source\":");
    nr_json_put_str(f, ri->source);
    fprintf(f, ",\"data\":");
    nr_json_put_str(f, ri->data && realpath(ri->data, abs) ? abs : ri->data);
    fprintf(f, ",\"val\":");
    nr_json_put_str(f, ri->val && realpath(ri->val, abs) ? abs : ri->val);
    fprintf(f, ",\"val_split\":");
    nr_json_put_str(f, ri->val_split);
    fprintf(f, ",\"classes\":%d,\"ignore\":%d,\"batch\":%d,\"steps_per_epoch\":%d,\"total_steps\":%lld,"
               "\"best_metric\":", ri->classes, ri->ignore, ri->batch, ri->steps_per_epoch,
            (long long)ri->total_steps);
    nr_json_put_str(f, ri->best_metric);
    fprintf(f, ",\"class_pixels\":");
    if (ri->class_pixels) {
        for (int c = 0; c < ri->classes; c++)
            fprintf(f, "%s%lld", c ? "," : "[", (long long)ri->class_pixels[c]);
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"class_weights\":");
    if (ri->class_weights) {
        for (int c = 0; c < ri->classes; c++) {
            fputs(c ? "," : "[", f);
            rp_jnum(f, ri->class_weights[c]);
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"weight_scheme\":");
    nr_json_put_str(f, ri->weight_scheme);
    fprintf(f, ",\"weight_clip\":");
    if (ri->clip_hi > 0)
        fprintf(f, "[%.9g,%.9g]", ri->clip_lo, ri->clip_hi);
    else
        fputs("null", f);
    fprintf(f, ",\"stopped_early\":");
    nr_json_put_str(f, ri->stopped_early);
    fprintf(f, "}\n");
    if (fclose(f) != 0) {
        free(buf);
        return ng_fail(err, errlen, "out of memory");
    }
    int rc = ng_atomic_write(path, buf, len, 0, err, errlen);
    free(buf);
    return rc;
}

const char *nr_report_run_graph(const char *run_dir, char *buf, size_t len)
{
    char path[4096], why[200];
    snprintf(path, sizeof path, "%s/run.json", run_dir);
    size_t n;
    char *text = ng_read_file(path, &n);
    nr_json *j = text ? nr_json_parse(text, n, why, sizeof why) : NULL;
    const nr_json *g = nr_json_get(j, "graph");
    const char *found = NULL;
    if (g && g->type == NR_JSON_STR && snprintf(buf, len, "%s", g->str) < (int)len)
        found = buf;
    nr_json_free(j);
    free(text);
    return found;
}

/* ---- log.csv and metrics.jsonl ------------------------------------------ */

void rp_run_free(run *r)
{
    free(r->rows);
    for (int i = 0; i < r->n_ep; i++) {
        nr_json_free(r->ep[i].line);
        free(r->ep[i].collapse);
    }
    free(r->ep);
    nr_json_free(r->info);
    free(r->eval);
    nr_json_free(r->ev);
}

/* log.csv's rows (text, parsed in place) into r->rows. */
static int parse_log(run *r, char *text, char *err, size_t errlen)
{
    size_t cap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] < '0' || line[0] > '9')
            continue; /* the header */
        log_row w;
        double v[6];
        char *p = line, *end;
        w.epoch = (int)strtol(p, &end, 10);
        if (*end != ',')
            continue;
        w.step = strtoll(end + 1, &end, 10);
        int k = 0;
        for (; k < 6 && *end == ','; k++)
            v[k] = strtod(end + 1, &end);
        if (k < 6)
            continue; /* a line cut short by a killed run */
        w.train_loss = v[0], w.val_loss = v[1], w.acc = v[2], w.miou_fg = v[3], w.worst = v[4], w.seconds = v[5];
        log_row *g = ng_vec_grow(r->rows, &cap, (size_t)r->n_rows + 1, sizeof *g);
        if (!g)
            return ng_fail(err, errlen, "out of memory");
        r->rows = g;
        r->rows[r->n_rows++] = w;
    }
    return 0;
}

/* The collapse warning of metrics.c for an evaluation object, or NULL. */
static char *collapse_text(const nr_json *v)
{
    const nr_json *cm = nr_json_get(v, "confusion");
    int k = nr_json_len(cm);
    if (k <= 0 || k > NG_MAX_CLASSES)
        return NULL;
    nr_confusion c;
    if (nr_confusion_init(&c, k) != 0)
        return NULL;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            long long x = 0;
            nr_json_int(nr_json_at(nr_json_at(cm, t), p), 0, RP_MAX_PIXELS, &x);
            c.m[(int64_t)t * k + p] = x;
        }
    nr_metrics m;
    char *buf = NULL;
    size_t len = 0;
    if (nr_metrics_compute(&c, &m) == 0) {
        FILE *f = open_memstream(&buf, &len);
        int fired = f && nr_metrics_warn_collapse(f, &m);
        if (f)
            fclose(f);
        if (!fired) {
            free(buf);
            buf = NULL;
        }
        nr_metrics_free(&m);
    }
    nr_confusion_free(&c);
    return buf;
}

/* metrics.jsonl's validated epochs (text, parsed in place; path names it)
 * into r->ep. */
static int parse_metrics(run *r, char *text, const char *path, char *err, size_t errlen)
{
    size_t cap = 0;
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char why[200];
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = 0;
        nr_json *j = nr_json_parse(line, n, why, sizeof why);
        if (!j && n && line[n - 1] == '}') { /* netrun 0.1 left the line's closing brace out */
            char *fixed = malloc(n + 2);
            if (fixed) {
                memcpy(fixed, line, n);
                memcpy(fixed + n, "}", 2);
                j = nr_json_parse(fixed, n + 1, why, sizeof why);
                free(fixed);
            }
        }
        if (!j) {
            if (!save || !*save)
                break; /* a last line cut short by a killed run */
            return ng_fail(err, errlen, "%s:%d: %s", path, lineno, why);
        }
        const nr_json *bj = nr_json_get(j, "best"), *v = nr_json_get(j, "validation");
        long long ep, step;
        int ours = nr_json_int(nr_json_get(j, "epoch"), 0, INT_MAX, &ep) &&
                   nr_json_int(nr_json_get(j, "step"), 0, (long long)1 << 53, &step); /* else not train's line */
        epoch_rec *g = v && ours ? ng_vec_grow(r->ep, &cap, (size_t)r->n_ep + 1, sizeof *g) : NULL;
        if (!g) {
            nr_json_free(j);
            if (v && ours)
                return ng_fail(err, errlen, "out of memory");
            continue; /* an epoch without validation */
        }
        r->ep = g;
        epoch_rec e = {(int)ep, step, bj ? bj->type == NR_JSON_BOOL && bj->num != 0 : -1, j, v, collapse_text(v)};
        r->ep[r->n_ep++] = e;
    }
    return 0;
}

/* The score train chose best.safetensors by (nr_metrics_score's names). */
static double score_of(const nr_json *v, const char *metric)
{
    static const char *const keys[][2] = {{"miou_fg", "miou_foreground"}, {"miou", "miou"}, {"fw_iou", "fw_iou"},
                                          {"mdice_fg", "mdice_foreground"}, {"worst_iou_fg", "worst_iou_foreground"},
                                          {"pixel_accuracy", "pixel_accuracy"}};
    double x = NAN;
    if (metric && !strcmp(metric, "val_loss"))
        x = -nr_json_num(nr_json_get(v, "loss"));
    else
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            if (!strcmp(metric ? metric : "miou_fg", keys[i][0]))
                x = nr_json_num(nr_json_get(v, keys[i][1]));
    return isnan(x) ? -INFINITY : x;
}

static void find_best(run *r)
{
    r->best = -1;
    for (int i = 0; i < r->n_ep; i++)
        if (r->ep[i].best == 1)
            r->best = i;
    if (r->best >= 0 || r->n_ep == 0)
        return;
    const nr_json *bm = nr_json_get(r->info, "best_metric");
    const char *metric = bm && bm->type == NR_JSON_STR ? bm->str : "miou_fg";
    double best = -INFINITY;
    for (int i = 0; i < r->n_ep; i++) {
        double s = score_of(r->ep[i].v, metric);
        if (r->best < 0 || s > best)
            best = s, r->best = i;
    }
}

int rp_run_read(run *r, char *err, size_t errlen)
{
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/run.json", r->dir);
    char *text = ng_read_file(path, &len);
    if (text) {
        char why[200];
        r->info = nr_json_parse(text, len, why, sizeof why);
        free(text);
        if (!r->info)
            return ng_fail(err, errlen, "%s:%s", path, why);
    }
    snprintf(path, sizeof path, "%s/log.csv", r->dir);
    if (!(text = ng_read_file(path, &len)))
        return ng_fail(err, errlen, "%s: %s (is %s a run folder of netrun train?)", path, ng_strerror(errno), r->dir);
    int rc = parse_log(r, text, err, errlen);
    free(text);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->dir);
    if ((text = ng_read_file(path, &len))) {
        rc = parse_metrics(r, text, path, err, errlen);
        free(text);
        if (rc != 0)
            return rc;
    } else if (errno != ENOENT) {
        return ng_fail(err, errlen, "%s: %s", path, ng_strerror(errno));
    }
    find_best(r);
    return 0;
}
