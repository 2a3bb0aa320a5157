/* report.c — nr_report_*: the HTML report of a run folder.  Reads log.csv,
 * metrics.jsonl and run.json, optionally evaluates best.safetensors and
 * renders overlays (overlay.c), and writes one page whose charts are SVG
 * drawn here: line charts, sorted bars, a heat map.  No plotting library:
 * none fits a C stack without dependencies, and the charts are a few
 * hundred lines of fprintf. */
#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "json.h"
#include "layout.h"
#include "metrics.h"
#include "overlay.h"
#include "png.h"
#include "train.h"
#include "util.h"

/* ---- text helpers ------------------------------------------------------ */

/* s with & < > " escaped for HTML text and attribute values */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

/* a JSON string; '<' as \u003c so that "</script>" cannot end the block */
static void jstr(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == '<')
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void jnum(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

/* a figure for people: 4 decimals, "-" when undefined */
static void num4(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.4f", v);
    else
        fputs("-", f);
}

static void base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(t[v >> 18 & 63], f);
        fputc(t[v >> 12 & 63], f);
        fputc(i + 1 < n ? t[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? t[v & 63] : '=', f);
    }
}

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
    jstr(f, ri->graph && realpath(ri->graph, abs) ? abs : ri->graph);
    fprintf(f, ",\"source\":");
    jstr(f, ri->source);
    fprintf(f, ",\"data\":");
    jstr(f, ri->data && realpath(ri->data, abs) ? abs : ri->data);
    fprintf(f, ",\"val\":");
    jstr(f, ri->val && realpath(ri->val, abs) ? abs : ri->val);
    fprintf(f, ",\"val_split\":");
    jstr(f, ri->val_split);
    fprintf(f, ",\"classes\":%d,\"ignore\":%d,\"batch\":%d,\"steps_per_epoch\":%d,\"total_steps\":%lld,"
               "\"best_metric\":", ri->classes, ri->ignore, ri->batch, ri->steps_per_epoch,
            (long long)ri->total_steps);
    jstr(f, ri->best_metric);
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
            jnum(f, ri->class_weights[c]);
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"weight_scheme\":");
    jstr(f, ri->weight_scheme);
    fprintf(f, ",\"weight_clip\":");
    if (ri->clip_hi > 0)
        fprintf(f, "[%.9g,%.9g]", ri->clip_lo, ri->clip_hi);
    else
        fputs("null", f);
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

/* ---- what the run folder holds ----------------------------------------- */

typedef struct {
    int epoch;
    long long step;
    double train_loss, val_loss, acc, miou_fg, worst, seconds;
} log_row;

typedef struct {
    int epoch;
    long long step;
    int best;               /* 1/0 as metrics.jsonl says, -1 when the line has no "best" */
    char *val;              /* the "validation" object's text, as eval --json prints it */
    nr_json *v;             /* parsed */
    char *collapse;         /* the collapse warning metrics.c prints for it, or NULL */
} epoch_rec;

typedef struct {
    const char *dir;
    log_row *rows;
    int n_rows;
    epoch_rec *ep;
    int n_ep;
    nr_json *info;          /* run.json or NULL */
    int best;               /* index into ep of the best checkpoint's epoch, -1 none */
    char *eval;             /* the best checkpoint evaluated now (eval --json text), or NULL */
    nr_json *ev;
    const char *eval_data;  /* where */
    const nr_json *bj;      /* the best figures shown: ev, or ep[best].v, or NULL */
    int classes;
} run;

static void run_free(run *r)
{
    free(r->rows);
    for (int i = 0; i < r->n_ep; i++) {
        free(r->ep[i].val);
        nr_json_free(r->ep[i].v);
        free(r->ep[i].collapse);
    }
    free(r->ep);
    nr_json_free(r->info);
    free(r->eval);
    nr_json_free(r->ev);
}

static int read_log(run *r, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/log.csv", r->dir);
    size_t len;
    char *text = ng_read_file(path, &len);
    if (!text)
        return ng_fail(err, errlen, "%s: %s (is %s a run folder of netrun train?)", path, strerror(errno), r->dir);
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
        if (!g) {
            free(text);
            return ng_fail(err, errlen, "out of memory");
        }
        r->rows = g;
        r->rows[r->n_rows++] = w;
    }
    free(text);
    return 0;
}

/* The collapse warning of metrics.c for an evaluation object, or NULL. */
static char *collapse_text(const nr_json *v)
{
    const nr_json *cm = nr_json_get(v, "confusion");
    int k = nr_json_len(cm);
    if (k <= 0)
        return NULL;
    nr_confusion c;
    if (nr_confusion_init(&c, k) != 0)
        return NULL;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            double x = nr_json_num(nr_json_at(nr_json_at(cm, t), p));
            c.m[(int64_t)t * k + p] = isfinite(x) && x > 0 ? (int64_t)x : 0;
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

static int read_metrics(run *r, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->dir);
    size_t len;
    char *text = ng_read_file(path, &len);
    if (!text)
        return errno == ENOENT ? 0 : ng_fail(err, errlen, "%s: %s", path, strerror(errno));
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
        int old = 0; /* netrun 0.1 left the line's closing brace out */
        if (!j && n && line[n - 1] == '}') {
            char *fixed = malloc(n + 2);
            if (fixed) {
                memcpy(fixed, line, n);
                memcpy(fixed + n, "}", 2);
                j = nr_json_parse(fixed, n + 1, why, sizeof why);
                free(fixed);
                old = j != NULL;
            }
        }
        if (!j) {
            if (!save || !*save)
                break; /* a last line cut short by a killed run */
            free(text);
            return ng_fail(err, errlen, "%s:%d: %s", path, lineno, why);
        }
        const char *vs = strstr(line, "\"validation\":");
        const nr_json *bj = nr_json_get(j, "best");
        epoch_rec e = {(int)nr_json_num(nr_json_get(j, "epoch")), (long long)nr_json_num(nr_json_get(j, "step")),
                       bj ? bj->type == NR_JSON_BOOL && bj->num != 0 : -1, NULL, NULL, NULL};
        int has_val = nr_json_get(j, "validation") != NULL;
        nr_json_free(j);
        if (!vs || !has_val)
            continue;
        vs += strlen("\"validation\":");
        n = strlen(vs) - !old; /* without the line's closing brace */
        e.val = strndup(vs, n);
        e.v = e.val ? nr_json_parse(e.val, n, why, sizeof why) : NULL;
        if (!e.v) {
            free(e.val);
            free(text);
            return ng_fail(err, errlen, "%s:%d: the validation object: %s", path, lineno, e.val ? why : "out of memory");
        }
        e.collapse = collapse_text(e.v);
        epoch_rec *g = ng_vec_grow(r->ep, &cap, (size_t)r->n_ep + 1, sizeof *g);
        if (!g) {
            free(e.val);
            nr_json_free(e.v);
            free(e.collapse);
            free(text);
            return ng_fail(err, errlen, "out of memory");
        }
        r->ep = g;
        r->ep[r->n_ep++] = e;
    }
    free(text);
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

/* ---- gallery: the best and worst images ----------------------------------- */

#define GALLERY_SIDE 4 /* images per side (best, worst) */

typedef struct {
    int idx;                 /* sample index, -1: empty */
    double score, acc;       /* the image's foreground mIoU and pixel accuracy */
    int c, h, w;             /* its size (images may differ) */
    float *image;            /* (C,H,W) */
    uint8_t *pred;           /* (H,W) */
    int32_t *truth;          /* (H,W) */
} slot;

typedef struct {
    int classes, ignore;
    slot best[GALLERY_SIDE], worst[GALLERY_SIDE];
    int n_scored;
} gallery;

typedef struct {
    char *name;
    double score, acc;
    int worst;               /* which side */
    unsigned char *png;
    size_t len;
    int w, h;
} shot;

static void slot_free(slot *s)
{
    free(s->image);
    free(s->pred);
    free(s->truth);
    memset(s, 0, sizeof *s);
    s->idx = -1;
}

/* Put the sample in list (kept sorted: best first when desc) if it ranks. */
static int slot_offer(slot *list, int desc, double score, double acc, int idx, const float *image, int c, int h,
                      int w, const uint8_t *pred, const int32_t *truth)
{
    int pos = GALLERY_SIDE;
    for (int i = 0; i < GALLERY_SIDE; i++)
        if (list[i].idx < 0 || (desc ? score > list[i].score : score < list[i].score)) {
            pos = i;
            break;
        }
    if (pos == GALLERY_SIDE)
        return 0;
    int64_t hw = (int64_t)h * w;
    slot s = {idx, score, acc, c, h, w, malloc((size_t)(c * hw) * sizeof(float)), malloc((size_t)hw),
              malloc((size_t)hw * sizeof(int32_t))};
    if (!s.image || !s.pred || !s.truth) {
        slot_free(&s);
        return -1;
    }
    memcpy(s.image, image, (size_t)(c * hw) * sizeof(float));
    memcpy(s.pred, pred, (size_t)hw);
    memcpy(s.truth, truth, (size_t)hw * sizeof(int32_t));
    slot_free(&list[GALLERY_SIDE - 1]);
    memmove(list + pos + 1, list + pos, (size_t)(GALLERY_SIDE - 1 - pos) * sizeof *list);
    list[pos] = s;
    return 0;
}

/* The image's foreground mIoU (over foreground classes in its truth or its
 * prediction; NAN when there are none) and pixel accuracy. */
static void image_score(const uint8_t *pred, const int32_t *truth, int64_t hw, int k, int ignore, double *miou,
                        double *acc)
{
    int64_t *cnt = calloc((size_t)k * 3, sizeof *cnt); /* tp, truth, pred */
    int64_t n = 0, ok = 0;
    *miou = *acc = NAN;
    if (!cnt)
        return;
    for (int64_t i = 0; i < hw; i++) {
        int t = truth[i], p = pred[i];
        if (t == ignore || t < 0 || t >= k || p >= k)
            continue;
        n++;
        cnt[3 * t + 1]++;
        cnt[3 * p + 2]++;
        if (t == p)
            ok++, cnt[3 * t]++;
    }
    double sum = 0;
    int m = 0;
    for (int c = 1; c < k; c++) {
        int64_t u = cnt[3 * c + 1] + cnt[3 * c + 2] - cnt[3 * c];
        if (u > 0)
            sum += (double)cnt[3 * c] / (double)u, m++;
    }
    *miou = m ? sum / m : NAN;
    *acc = n ? (double)ok / n : NAN;
    free(cnt);
}

static int gallery_visit(void *ctx, const nr_dataset *ds, int idx, const float *image, int c, int h, int w,
                         const uint8_t *pred, const int32_t *truth, char *err, size_t errlen)
{
    (void)ds;
    gallery *g = ctx;
    if (!truth)
        return 0;
    double s, acc;
    image_score(pred, truth, (int64_t)h * w, g->classes, g->ignore, &s, &acc);
    if (isnan(s))
        return 0; /* background only, and none predicted: nothing to show */
    g->n_scored++;
    if (slot_offer(g->best, 1, s, acc, idx, image, c, h, w, pred, truth) != 0 ||
        slot_offer(g->worst, 0, s, acc, idx, image, c, h, w, pred, truth) != 0)
        return ng_fail(err, errlen, "out of memory");
    return 0;
}

/* Render the gallery's slots: the best side, then the worst one without
 * the images already shown. */
static int gallery_render(gallery *g, const nr_dataset *ds, const nr_palette *pal, shot **out, int *n_out, char *err,
                          size_t errlen)
{
    *out = calloc(2 * GALLERY_SIDE, sizeof **out);
    *n_out = 0;
    if (!*out)
        return ng_fail(err, errlen, "out of memory");
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < GALLERY_SIDE; i++) {
            slot *s = side ? &g->worst[i] : &g->best[i];
            int dup = 0;
            for (int j = 0; side && j < GALLERY_SIDE; j++)
                dup |= g->best[j].idx == s->idx;
            if (s->idx < 0 || dup)
                continue;
            int oh, ow;
            nr_overlay_size(s->h, s->w, 1, &oh, &ow);
            uint8_t *rgb = malloc((size_t)oh * (size_t)ow * 3);
            shot *o = &(*out)[(*n_out)++];
            o->name = strdup(nr_dataset_name(ds, s->idx));
            if (!rgb || !o->name) {
                free(rgb);
                return ng_fail(err, errlen, "out of memory");
            }
            nr_overlay_render(s->image, s->c, s->h, s->w, s->pred, s->truth, g->classes, pal, rgb);
            o->score = s->score, o->acc = s->acc, o->worst = side, o->w = ow, o->h = oh;
            int rc = nr_png_encode_rgb8(oh, ow, rgb, &o->png, &o->len, err, errlen);
            free(rgb);
            if (rc != 0)
                return -1;
        }
    return 0;
}

static void shots_free(shot *s, int n)
{
    for (int i = 0; s && i < n; i++) {
        free(s[i].name);
        free(s[i].png);
    }
    free(s);
}

/* ---- SVG charts ---------------------------------------------------------- */

typedef struct {
    const char *name, *color;
    const double *x, *y;
    int n;
    int dashed;
} series;

typedef struct {
    double x;
    const char *label, *color;
} marker;

/* Tick spacing of about `want` ticks over [lo, hi]: 1, 2 or 5 times a power of 10. */
static double nice_step(double lo, double hi, int want)
{
    double raw = (hi - lo) / want;
    if (!(raw > 0))
        return 1;
    double p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void tick_label(FILE *f, double v, double step)
{
    if (fabs(v) < step * 1e-6)
        v = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    fprintf(f, "%.*f", dec > 6 ? 6 : dec, v);
}

/* A line chart, x and y linear; NAN values break a line.  ymin/ymax NAN:
 * from the data (y from 0 when all values are positive). */
static void line_chart(FILE *f, const char *title, const char *xlabel, const series *s, int ns, double ymin,
                       double ymax, const marker *mk, int nm)
{
    const int W = 560, H = 280, L = 56, R = 16, T = 44, B = 44;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (isfinite(s[k].x[i]))
                x0 = fmin(x0, s[k].x[i]), x1 = fmax(x1, s[k].x[i]);
            if (isfinite(s[k].y[i]) && isfinite(s[k].x[i]))
                y0 = fmin(y0, s[k].y[i]), y1 = fmax(y1, s[k].y[i]);
        }
    if (!isfinite(x0))
        x0 = 0, x1 = 1;
    if (x1 <= x0)
        x0 -= 1, x1 += 1;
    if (!isfinite(y0))
        y0 = 0, y1 = 1;
    if (y0 > 0)
        y0 = 0;
    if (!isnan(ymin))
        y0 = ymin;
    if (!isnan(ymax))
        y1 = ymax;
    if (y1 <= y0)
        y1 = y0 + 1;
    double ys = nice_step(y0, y1, 5), xs = nice_step(x0, x1, 6);
    if (isnan(ymax))
        y1 = ceil(y1 / ys - 1e-9) * ys;
    int pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
    fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><title>", W, H, W, H);
    esc(f, title);
    fprintf(f, "</title>\n<text x=\"%d\" y=\"18\" class=\"ct\">", L);
    esc(f, title);
    fprintf(f, "</text>\n");
    /* legend */
    int lx = L;
    for (int k = 0; k < ns; k++) {
        fprintf(f, "<line x1=\"%d\" y1=\"32\" x2=\"%d\" y2=\"32\" stroke=\"%s\" stroke-width=\"2.5\"%s/>"
                   "<text x=\"%d\" y=\"36\" class=\"lg\">", lx, lx + 18, s[k].color,
                s[k].dashed ? " stroke-dasharray=\"5 3\"" : "", lx + 22);
        esc(f, s[k].name);
        fprintf(f, "</text>\n");
        lx += 30 + 7 * (int)strlen(s[k].name);
    }
    /* grid and axes */
    for (double v = ceil(y0 / ys - 1e-9) * ys; v <= y1 + ys * 1e-9; v += ys) {
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%d\" y=\"%.1f\" "
                   "class=\"ax\" text-anchor=\"end\">", L, W - R, PY(v), PY(v), L - 6, PY(v) + 4);
        tick_label(f, v, ys);
        fprintf(f, "</text>\n");
    }
    for (double v = ceil(x0 / xs - 1e-9) * xs; v <= x1 + xs * 1e-9; v += xs) {
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"tick\"/><text x=\"%.1f\" y=\"%d\" "
                   "class=\"ax\" text-anchor=\"middle\">", PX(v), PX(v), T + ph, T + ph + 4, PX(v), T + ph + 17);
        tick_label(f, v, xs);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">", L + pw / 2, H - 8);
    esc(f, xlabel);
    fprintf(f, "</text>\n");
    for (int k = 0; k < nm; k++) {
        if (!isfinite(mk[k].x) || mk[k].x < x0 || mk[k].x > x1)
            continue;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1.5\" "
                   "stroke-dasharray=\"3 3\"><title>", PX(mk[k].x), PX(mk[k].x), T, T + ph, mk[k].color);
        esc(f, mk[k].label);
        fprintf(f, "</title></line>\n");
    }
    for (int k = 0; k < ns; k++) {
        int open = 0;
        for (int i = 0; i < s[k].n; i++) {
            int good = isfinite(s[k].x[i]) && isfinite(s[k].y[i]);
            if (good && !open) {
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", s[k].color,
                        s[k].dashed ? " stroke-dasharray=\"5 3\"" : "");
                open = 1;
            } else if (!good && open) {
                fprintf(f, "\"/>\n");
                open = 0;
            }
            if (good)
                fprintf(f, "%.1f,%.1f ", PX(s[k].x[i]), PY(s[k].y[i]));
        }
        if (open)
            fprintf(f, "\"/>\n");
        for (int i = 0; s[k].n <= 60 && i < s[k].n; i++)
            if (isfinite(s[k].x[i]) && isfinite(s[k].y[i])) {
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>", PX(s[k].x[i]),
                        PY(s[k].y[i]), s[k].color);
                esc(f, s[k].name);
                fprintf(f, " at step %.0f: %.4f</title></circle>\n", s[k].x[i], s[k].y[i]);
            }
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}

static void rgb_hex(char *buf, const uint8_t c[3]) { sprintf(buf, "#%02x%02x%02x", c[0], c[1], c[2]); }

/* The per-class IoU as horizontal bars, sorted by IoU (highest first), with
 * the class's share of the truth's pixels; absent classes listed after. */
static void iou_bars(FILE *f, const nr_json *v, const nr_palette *pal)
{
    const nr_json *iou = nr_json_get(v, "iou"), *cm = nr_json_get(v, "confusion");
    int k = nr_json_len(iou);
    if (k <= 0 || nr_json_len(cm) != k) {
        fprintf(f, "<p>No per-class figures.</p>\n");
        return;
    }
    int64_t *truth = calloc((size_t)k, sizeof *truth), *pred = calloc((size_t)k, sizeof *pred), total = 0;
    int *order = malloc((size_t)k * sizeof *order), n = 0, n_absent = 0;
    if (!truth || !pred || !order) {
        free(truth), free(pred), free(order);
        return;
    }
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            double x = nr_json_num(nr_json_at(nr_json_at(cm, t), p));
            int64_t c = isfinite(x) ? (int64_t)x : 0;
            truth[t] += c, pred[p] += c, total += c;
        }
    for (int c = 0; c < k; c++)
        if (truth[c] || pred[c])
            order[n++] = c;
    n_absent = k - n;
    for (int i = 1; i < n; i++) { /* insertion sort by IoU, descending; NAN last; ties by class */
        int c = order[i], j = i;
        double x = nr_json_num(nr_json_at(iou, c));
        while (j > 0) {
            double y = nr_json_num(nr_json_at(iou, order[j - 1]));
            if (!(isnan(y) && !isnan(x)) && !(x > y))
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = c;
    }
    const int row = 18, L = 92, BW = 300, T = 26;
    int H = T + row * n + 30 + (n_absent ? 20 : 0), W = L + BW + 260;
    fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
               "<title>IoU per class</title>\n", W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"16\" class=\"lg\">IoU</text><text x=\"%d\" y=\"16\" class=\"lg\">share of the "
               "truth's pixels (log scale, 0.001%% to 100%%)</text>\n", L, L + BW + 70);
    for (double g = 0; g <= 1.0001; g += 0.25)
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid\"/><text x=\"%.1f\" y=\"%d\" "
                   "class=\"ax\" text-anchor=\"middle\">%.2f</text>\n", L + g * BW, L + g * BW, T - 4, T + row * n,
                L + g * BW, T + row * n + 14, g);
    for (int i = 0; i < n; i++) {
        int c = order[i], y = T + i * row;
        double x = nr_json_num(nr_json_at(iou, c)), share = total ? (double)truth[c] / total : 0;
        char col[8];
        rgb_hex(col, pal->rgb[c]);
        fprintf(f, "<g class=\"bar\" data-class=\"%d\"><title>class %d: IoU ", c, c);
        num4(f, x);
        fprintf(f, ", %lld true pixels (%.3f%%), %lld predicted</title>", (long long)truth[c], 100 * share,
                (long long)pred[c]);
        fprintf(f, "<rect x=\"4\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\" stroke=\"#555\" stroke-width=\"0.5\"/>"
                   "<text x=\"20\" y=\"%d\" class=\"lg\">class %d</text>", y + 2, col, y + 12, c);
        double bw = isfinite(x) ? x * BW : 0;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"13\" fill=\"%s\"/>", L, y + 2, bw,
                c == 0 ? "#9aa5b1" : "#3b75af");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"lg\">", L + bw + 4, y + 13);
        num4(f, x);
        if (truth[c] == 0)
            fprintf(f, " (predicted only)");
        fprintf(f, "</text>");
        /* the share, on a log bar from 0.001 %% to 100 %% */
        double sl = share > 0 ? (log10(share) + 5) / 5 : 0;
        sl = sl < 0 ? 0.01 : sl > 1 ? 1 : sl;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"9\" fill=\"#c9a227\"/><text x=\"%d\" y=\"%d\" "
                   "class=\"lg\">%.3f%%</text></g>\n", L + BW + 70, y + 4, share > 0 ? sl * 100 : 0,
                L + BW + 176, y + 13, 100 * share);
    }
    if (n_absent) {
        fprintf(f, "<text x=\"4\" y=\"%d\" class=\"absent\">absent from truth and prediction (no IoU): ",
                T + row * n + 36);
        for (int c = 0, first = 1; c < k; c++)
            if (!truth[c] && !pred[c]) {
                fprintf(f, first ? "%d" : ", %d", c);
                first = 0;
            }
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    free(truth), free(pred), free(order);
}

/* A sequential colour ramp (light yellow to dark blue) at t in [0,1]. */
static void ramp(double t, char *hex)
{
    static const double st[][3] = {{255, 247, 188}, {161, 218, 180}, {65, 182, 196}, {34, 94, 168}, {8, 29, 88}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double u = t * 4;
    int i = u >= 4 ? 3 : (int)u;
    double a = u - i;
    uint8_t c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (uint8_t)(st[i][k] + (st[i + 1][k] - st[i][k]) * a + 0.5);
    rgb_hex(hex, c);
}

/* The confusion matrix, each row (truth) divided by its sum, coloured on a
 * log scale from 1e-4 (and below) to 1; zero cells stay white. */
static void confusion_map(FILE *f, const nr_json *v)
{
    const nr_json *cm = nr_json_get(v, "confusion");
    int k = nr_json_len(cm);
    if (k <= 0) {
        fprintf(f, "<p>No confusion matrix.</p>\n");
        return;
    }
    int cell = 520 / k;
    cell = cell < 2 ? 2 : cell > 24 ? 24 : cell;
    int L = 58, T = 40, side = cell * k, W = L + side + 110, H = T + side + 50;
    int every = cell >= 12 ? 1 : (12 + cell - 1) / cell;
    fprintf(f, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
               "<title>confusion matrix, rows normalized</title>\n", W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"14\" class=\"lg\" text-anchor=\"middle\">predicted class</text>"
               "<text x=\"14\" y=\"%d\" class=\"lg\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">true "
               "class</text>\n", L + side / 2, T + side / 2, T + side / 2);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#888\"/>\n", L, T, side, side);
    for (int t = 0; t < k; t++) {
        const nr_json *r = nr_json_at(cm, t);
        double sum = 0;
        for (int p = 0; p < k; p++) {
            double x = nr_json_num(nr_json_at(r, p));
            sum += isfinite(x) ? x : 0;
        }
        if (sum == 0) {
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"norow\"><title>class %d: no "
                       "true pixels</title></rect>\n", L, T + t * cell, side, cell, t);
            continue;
        }
        for (int p = 0; p < k; p++) {
            double x = nr_json_num(nr_json_at(r, p));
            if (!(x > 0))
                continue;
            double fr = x / sum;
            char hex[8];
            ramp((log10(fr) + 4) / 4, hex);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"", L + p * cell, T + t * cell,
                    cell, cell, hex);
            if (k <= 64)
                fprintf(f, "><title>truth %d, predicted %d: %.0f pixels (%.3g%% of the row)</title></rect>\n", t, p,
                        x, 100 * fr);
            else
                fprintf(f, "/>\n");
        }
    }
    for (int c = 0; c < k; c += every) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"end\">%d</text>", L - 4,
                T + c * cell + cell / 2 + 4, c);
        fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">%d</text>\n", L + c * cell + cell / 2,
                T - 4, c);
    }
    /* the colour scale */
    int cx = L + side + 24, ch = side < 160 ? 160 : side;
    if (ch > side)
        ch = side;
    for (int i = 0; i < 40; i++) {
        char hex[8];
        ramp(1 - i / 39.0, hex);
        fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"14\" height=\"%.2f\" fill=\"%s\"/>", cx, T + i * ch / 40.0,
                ch / 40.0 + 0.5, hex);
    }
    static const char *const lab[] = {"1", "0.1", "0.01", "0.001", "1e-4"};
    for (int i = 0; i < 5; i++)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"ax\">%s</text>", cx + 18, T + i * ch / 4.0 + 4, lab[i]);
    fprintf(f, "\n<text x=\"%d\" y=\"%d\" class=\"ax\">share of the row, log scale; white: 0</text>\n", L,
            T + side + 20);
    fprintf(f, "</svg>\n");
}

/* ---- the page ------------------------------------------------------------ */

static const char *jstring(const nr_json *j, const char *key)
{
    const nr_json *v = nr_json_get(j, key);
    return v && v->type == NR_JSON_STR ? v->str : NULL;
}

static void card(FILE *f, const char *label, double v)
{
    fprintf(f, "<div class=\"card\"><div class=\"cv\">");
    num4(f, v);
    fprintf(f, "</div><div class=\"cl\">%s</div></div>\n", label);
}

static const char *const css =
    "body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;margin:24px auto;"
    "max-width:1240px;padding:0 16px;background:#fff}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dee4;"
    "padding-bottom:4px}.meta{color:#57606a;margin:0 0 12px}.meta code{color:#1f2328}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{border:1px solid #d8dee4;border-radius:6px;"
    "padding:8px 14px;min-width:120px}.cv{font-size:22px;font-weight:600}.cl{color:#57606a;font-size:12px}"
    ".row{display:flex;flex-wrap:wrap;gap:16px}svg.chart{background:#fff;border:1px solid #d8dee4;border-radius:6px}"
    "svg text{font-family:inherit}.ct{font-size:14px;font-weight:600}.lg{font-size:12px;fill:#1f2328}"
    ".ax{font-size:11px;fill:#57606a}.grid{stroke:#eaeef2}.tick{stroke:#8c959f}.frame{fill:none;stroke:#8c959f}"
    ".absent{font-size:12px;fill:#8c959f;font-style:italic}.norow{fill:#f0f0f0}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d8dee4;padding:3px 10px;text-align:right}"
    "th{background:#f6f8fa}td.l,th.l{text-align:left}.sw{display:inline-block;width:12px;height:12px;"
    "border:1px solid #555;vertical-align:-2px;margin-right:6px}"
    ".warn{border-left:4px solid #cf222e;background:#fff5f5;padding:6px 12px;margin:8px 0;white-space:pre-wrap;"
    "font:12px/1.4 ui-monospace,monospace}.ok{color:#1a7f37}.note{color:#57606a}"
    ".gal{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;border:1px solid #d8dee4;border-radius:6px;padding:6px}"
    "figure img{image-rendering:pixelated;display:block}figcaption{font-size:12px;color:#57606a;margin-top:4px}"
    ".legend span{margin-right:14px}";

static void page(FILE *f, const run *r, const shot *shots, int n_shots, int live, const nr_palette *pal)
{
    const nr_json *info = r->info;
    const char *source = jstring(info, "source"), *metric = jstring(info, "best_metric");
    const epoch_rec *be = r->best >= 0 ? &r->ep[r->best] : NULL;
    const nr_json *bj = r->bj;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    if (live)
        fprintf(f, "<meta http-equiv=\"refresh\" content=\"30\">\n");
    fprintf(f, "<title>netrun report: ");
    esc(f, r->dir);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>Run <code>", css);
    esc(f, r->dir);
    fprintf(f, "</code></h1>\n<p class=\"meta\">");
    if (source) {
        fprintf(f, "model <code>");
        esc(f, source);
        fprintf(f, "</code>");
    }
    const char *graph = jstring(info, "graph"), *data = jstring(info, "data"), *val = jstring(info, "val");
    if (graph) {
        fprintf(f, " &middot; graph <code>");
        esc(f, graph);
        fprintf(f, "</code>");
    }
    if (data) {
        fprintf(f, "<br>training data <code>");
        esc(f, data);
        fprintf(f, "</code>");
    }
    if (val) {
        fprintf(f, " &middot; validation <code>");
        esc(f, val);
        fprintf(f, "</code>");
    }
    const log_row *lr = r->n_rows ? &r->rows[r->n_rows - 1] : NULL;
    if (lr) {
        double tot = nr_json_num(nr_json_get(info, "total_steps"));
        fprintf(f, "<br>%d epoch%s, step %lld", lr->epoch, lr->epoch == 1 ? "" : "s", lr->step);
        if (isfinite(tot))
            fprintf(f, " of %.0f", tot);
        fprintf(f, ", %.1f s", lr->seconds);
    }
    if (live)
        fprintf(f, " &middot; <b>training: this page reloads every 30 s</b>");
    fprintf(f, "</p>\n");

    if (bj) {
        fprintf(f, "<div class=\"cards\">\n");
        card(f, "foreground mIoU", nr_json_num(nr_json_get(bj, "miou_foreground")));
        card(f, "worst foreground IoU", nr_json_num(nr_json_get(bj, "worst_iou_foreground")));
        card(f, "pixel accuracy", nr_json_num(nr_json_get(bj, "pixel_accuracy")));
        card(f, "mIoU", nr_json_num(nr_json_get(bj, "miou")));
        card(f, "foreground mean Dice", nr_json_num(nr_json_get(bj, "mdice_foreground")));
        card(f, "validation loss", nr_json_num(nr_json_get(bj, "loss")));
        fprintf(f, "</div>\n<p class=\"note\">The best checkpoint (<code>best.safetensors</code>");
        if (be)
            fprintf(f, ", epoch %d, step %lld", be->epoch, be->step);
        fprintf(f, ", chosen by <code>%s</code>) ", metric ? metric : "miou_fg");
        if (r->ev) {
            fprintf(f, "evaluated on <code>");
            esc(f, r->eval_data);
            fprintf(f, "</code> now, as <code>netrun eval</code> does.</p>\n");
        } else {
            fprintf(f, "as its epoch's validation measured it.</p>\n");
        }
    }

    /* curves */
    int n = r->n_rows;
    double *x = malloc((size_t)(n + 1) * 6 * sizeof *x);
    if (x && n) {
        double *tl = x + n, *vl = x + 2 * n, *acc = x + 3 * n, *mi = x + 4 * n, *wo = x + 5 * n;
        for (int i = 0; i < n; i++) {
            const log_row *w = &r->rows[i];
            x[i] = (double)w->step, tl[i] = w->train_loss, vl[i] = w->val_loss, acc[i] = w->acc,
            mi[i] = w->miou_fg, wo[i] = w->worst;
        }
        marker *mk = calloc((size_t)r->n_ep + 1, sizeof *mk);
        int nm = 0;
        char (*labels)[64] = calloc((size_t)r->n_ep + 1, sizeof *labels);
        for (int i = 0; mk && labels && i < r->n_ep; i++)
            if (r->ep[i].collapse) {
                snprintf(labels[nm], sizeof labels[nm], "collapse warning, epoch %d", r->ep[i].epoch);
                mk[nm] = (marker){(double)r->ep[i].step, labels[nm], "#cf222e"};
                nm++;
            }
        int has_val = 0, low = 0; /* validated epochs; the row of the lowest training loss */
        for (int i = 0; i < n; i++) {
            has_val |= isfinite(vl[i]) || isfinite(mi[i]);
            if (tl[i] < tl[low])
                low = i;
        }
        if (mk && labels && be) {
            snprintf(labels[nm], sizeof labels[nm], "best checkpoint, epoch %d", be->epoch);
            mk[nm] = (marker){(double)be->step, labels[nm], "#1a7f37"};
            nm++;
        } else if (mk && labels && !has_val) { /* train chose it by the training loss */
            snprintf(labels[nm], sizeof labels[nm], "best checkpoint (lowest training loss), epoch %d",
                     r->rows[low].epoch);
            mk[nm] = (marker){x[low], labels[nm], "#1a7f37"};
            nm++;
        }
        fprintf(f, "<h2>Training</h2>\n<div class=\"row\">\n");
        series ls[] = {{"train loss", "#3b75af", x, tl, n, 0}, {"validation loss", "#e07b1a", x, vl, n, 0}};
        line_chart(f, "Loss (epoch means)", "step", ls, has_val ? 2 : 1, NAN, NAN, mk, mk ? nm : 0);
        if (has_val) {
            series ms[] = {{"pixel accuracy", "#8c959f", x, acc, n, 1}, {"fg mIoU", "#3b75af", x, mi, n, 0},
                           {"worst fg IoU", "#cf222e", x, wo, n, 0}};
            line_chart(f, "Validation", "step", ms, 3, 0, 1, mk, mk ? nm : 0);
        }
        fprintf(f, "</div>\n<p class=\"note\">Dashed green line: the best checkpoint%s.%s</p>\n",
                has_val ? "; dashed red: a collapse warning" : "",
                has_val ? "" : " No validation (train with --val DIR): the best checkpoint is the lowest training loss.");
        free(mk);
        free(labels);
    }
    free(x);

    /* collapse warnings: one row per epoch (the warning's first line), the
     * remedies (the rest, the same every time) once */
    fprintf(f, "<h2>Collapse warnings</h2>\n");
    const char *remedy = NULL;
    for (int i = 0; i < r->n_ep; i++) {
        if (!r->ep[i].collapse)
            continue;
        const char *text = r->ep[i].collapse, *nl = strchr(text, '\n');
        if (!remedy)
            fprintf(f, "<table><tr><th>epoch</th><th>step</th><th class=\"l\">warning (as train printed it)</th></tr>\n");
        if (!strncmp(text, "warning: ", 9))
            text += 9;
        fprintf(f, "<tr><td>%d</td><td>%lld</td><td class=\"l\">", r->ep[i].epoch, r->ep[i].step);
        char *first = strndup(text, nl ? (size_t)(nl - text) : strlen(text));
        esc(f, first ? first : "");
        free(first);
        fprintf(f, "</td></tr>\n");
        if (!remedy)
            remedy = nl ? nl + 1 : "";
    }
    if (remedy) {
        fprintf(f, "</table>\n<div class=\"warn\">");
        esc(f, remedy);
        fprintf(f, "</div>\n");
    } else {
        fprintf(f, "<p class=\"%s\">%s</p>\n", r->n_ep ? "ok" : "note",
                r->n_ep ? "None fired: no validated epoch collapsed toward class 0." : "No validation, no check.");
    }

    if (bj) {
        fprintf(f, "<h2>IoU per class (best checkpoint)</h2>\n");
        iou_bars(f, bj, pal);
        fprintf(f, "<h2>Confusion matrix (best checkpoint)</h2>\n");
        confusion_map(f, bj);
    } else {
        fprintf(f, "<h2>Per class</h2>\n<p class=\"note\">No validation figures: train with <code>--val DIR</code>, "
                   "or run <code>netrun report RUNDIR --data DIR</code>.</p>\n");
    }

    /* class weights */
    fprintf(f, "<h2>Class weights</h2>\n");
    const nr_json *px = nr_json_get(info, "class_pixels"), *cw = nr_json_get(info, "class_weights");
    int k = nr_json_len(px) > nr_json_len(cw) ? nr_json_len(px) : nr_json_len(cw);
    if (k) {
        const char *scheme = jstring(info, "weight_scheme");
        const nr_json *clip = nr_json_get(info, "weight_clip");
        fprintf(f, "<p class=\"note\">");
        if (scheme) {
            fprintf(f, "Weights: <code>");
            esc(f, scheme);
            fprintf(f, "</code>");
            if (nr_json_len(clip) == 2)
                fprintf(f, ", clipped to [%g, %g]", nr_json_num(nr_json_at(clip, 0)), nr_json_num(nr_json_at(clip, 1)));
            fprintf(f, ". ");
        } else {
            fprintf(f, "The loss has no class weights. ");
        }
        fprintf(f, "Pixels: the labelled pixels of the training masks.</p>\n<table><tr><th class=\"l\">class</th>"
                   "<th>pixels</th><th>share</th><th>weight</th></tr>\n");
        double tot = 0;
        for (int c = 0; c < nr_json_len(px); c++)
            tot += nr_json_num(nr_json_at(px, c));
        for (int c = 0; c < k && c < 256; c++) {
            char col[8];
            rgb_hex(col, pal->rgb[c]);
            double p = nr_json_num(nr_json_at(px, c)), w = nr_json_num(nr_json_at(cw, c));
            fprintf(f, "<tr><td class=\"l\"><span class=\"sw\" style=\"background:%s\"></span>%d</td>", col, c);
            if (isfinite(p))
                fprintf(f, "<td>%.0f</td><td>%.4f%%</td>", p, tot > 0 ? 100 * p / tot : 0);
            else
                fprintf(f, "<td>-</td><td>-</td>");
            if (p == 0)
                fprintf(f, "<td>- (absent)</td></tr>\n");
            else if (isfinite(w))
                fprintf(f, "<td>%.4g</td></tr>\n", w);
            else
                fprintf(f, "<td>-</td></tr>\n");
        }
        fprintf(f, "</table>\n");
    } else {
        fprintf(f, "<p class=\"note\">Not recorded (run.json is missing: a run of an older netrun).</p>\n");
    }

    /* gallery */
    fprintf(f, "<h2>Validation images</h2>\n");
    if (n_shots) {
        char mc[8], fc[8], cc[8];
        rgb_hex(mc, NR_OVERLAY_MISSED), rgb_hex(fc, NR_OVERLAY_FALSE), rgb_hex(cc, NR_OVERLAY_CONFUSED);
        fprintf(f, "<p class=\"note legend\">Each: image | truth | prediction | errors. Errors: "
                   "<span><i class=\"sw\" style=\"background:%s\"></i>foreground missed</span>"
                   "<span><i class=\"sw\" style=\"background:%s\"></i>background called foreground</span>"
                   "<span><i class=\"sw\" style=\"background:%s\"></i>wrong foreground class</span>"
                   "&mdash; the right and the ignored pixels dimmed. Ranked by each image's own foreground mIoU.</p>\n", mc, fc, cc);
        for (int side = 0; side < 2; side++) {
            int any = 0;
            for (int i = 0; i < n_shots; i++)
                any |= shots[i].worst == side;
            if (!any)
                continue;
            fprintf(f, "<h3>%s</h3>\n<div class=\"gal\">\n", side ? "Worst" : "Best");
            for (int i = 0; i < n_shots; i++) {
                const shot *s = &shots[i];
                if (s->worst != side)
                    continue;
                /* small images drawn large enough to see pixels, two figures a row */
                int scale = s->h >= 128 ? 1 : (128 + s->h - 1) / s->h;
                while (scale > 1 && s->w * scale > 580)
                    scale--;
                fprintf(f, "<figure><img width=\"%d\" height=\"%d\" alt=\"", s->w * scale, s->h * scale);
                esc(f, s->name);
                fprintf(f, "\" src=\"data:image/png;base64,");
                base64(f, s->png, s->len);
                fprintf(f, "\"><figcaption><b>");
                esc(f, s->name);
                fprintf(f, "</b> &middot; fg mIoU ");
                num4(f, s->score);
                fprintf(f, " &middot; pixel accuracy ");
                num4(f, s->acc);
                fprintf(f, "</figcaption></figure>\n");
            }
            fprintf(f, "</div>\n");
        }
    } else {
        fprintf(f, "<p class=\"note\">%s</p>\n",
                live ? "Overlays of the best and worst validation images appear when the run ends."
                     : "No overlays: no validation folder with masks (netrun report RUNDIR --data DIR), or no "
                       "image with foreground.");
    }

    /* the figures for programs */
    fprintf(f, "<script type=\"application/json\" id=\"netrun-report\">\n{\"format\":\"netrun-report\",\"version\":1,"
               "\"run\":");
    jstr(f, r->dir);
    fprintf(f, ",\"best_metric\":");
    jstr(f, metric);
    fprintf(f, ",\"best_epoch\":");
    if (be)
        fprintf(f, "%d,\"best_step\":%lld", be->epoch, be->step);
    else
        fprintf(f, "null,\"best_step\":null");
    fprintf(f, ",\"evaluated_on\":");
    jstr(f, r->ev ? r->eval_data : NULL);
    fprintf(f, ",\n\"best\":%s,\n\"epochs\":[", r->ev ? r->eval : be ? be->val : "null");
    for (int i = 0; i < r->n_rows; i++) {
        const log_row *w = &r->rows[i];
        fprintf(f, "%s{\"epoch\":%d,\"step\":%lld,\"train_loss\":", i ? "," : "", w->epoch, w->step);
        jnum(f, w->train_loss);
        fprintf(f, ",\"val_loss\":");
        jnum(f, w->val_loss);
        fprintf(f, ",\"pixel_accuracy\":");
        jnum(f, w->acc);
        fprintf(f, ",\"miou_foreground\":");
        jnum(f, w->miou_fg);
        fprintf(f, ",\"worst_iou_foreground\":");
        jnum(f, w->worst);
        fprintf(f, "}");
    }
    fprintf(f, "],\n\"collapse_warnings\":[");
    for (int i = 0, first = 1; i < r->n_ep; i++)
        if (r->ep[i].collapse) {
            fprintf(f, "%s{\"epoch\":%d,\"step\":%lld}", first ? "" : ",", r->ep[i].epoch, r->ep[i].step);
            first = 0;
        }
    fprintf(f, "],\n\"gallery\":[");
    for (int i = 0; i < n_shots; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        jstr(f, shots[i].name);
        fprintf(f, ",\"side\":\"%s\",\"miou_foreground\":", shots[i].worst ? "worst" : "best");
        jnum(f, shots[i].score);
        fprintf(f, ",\"pixel_accuracy\":");
        jnum(f, shots[i].acc);
        fprintf(f, ",\"width\":%d,\"height\":%d}", shots[i].w, shots[i].h);
    }
    fprintf(f, "]}\n</script>\n</body></html>\n");
}

/* ---- the whole job ------------------------------------------------------- */

int nr_report_make(const char *run_dir, const nr_report_opts *o, char *err, size_t errlen)
{
    run r = {0};
    r.dir = run_dir;
    r.best = -1;
    shot *shots = NULL;
    int n_shots = 0, rc = -1;
    nr_dataset *ds = NULL;
    gallery gal = {0};
    for (int i = 0; i < GALLERY_SIDE; i++)
        gal.best[i].idx = gal.worst[i].idx = -1;
    char path[4096], out_path[4096];
    snprintf(out_path, sizeof out_path, "%s/report.html", run_dir);
    const char *out = o->out ? o->out : out_path, *data = o->data;
    nr_model *m = o->model;

    if (!ng_is_dir(run_dir))
        return ng_fail(err, errlen, "%s: not a folder (give the --out folder of netrun train)", run_dir);
    snprintf(path, sizeof path, "%s/run.json", run_dir);
    size_t len;
    char *text = ng_read_file(path, &len);
    if (text) {
        char why[200];
        r.info = nr_json_parse(text, len, why, sizeof why);
        free(text);
        if (!r.info) {
            ng_fail(err, errlen, "%s:%s", path, why);
            goto done;
        }
    }
    if (read_log(&r, err, errlen) != 0 || read_metrics(&r, err, errlen) != 0)
        goto done;
    find_best(&r);
    const char *split = o->split;
    if (!data) {
        data = jstring(r.info, "val");
        if (!split)
            split = jstring(r.info, "val_split");
    }
    if (data && !split && nr_layout_is_voc(data))
        split = "val";

    nr_palette pal;
    nr_palette_voc(&pal);
    if (m && data) {
        const ng_graph *g = nr_model_graph(m);
        snprintf(path, sizeof path, "%s/best.safetensors", run_dir);
        if (nr_ckpt_load(m, path, 0, NULL, err, errlen) != 0 || !(ds = nr_dataset_open_split(data, split, 1, err, errlen)))
            goto done;
        if (nr_dataset_count(ds) > 0)
            nr_palette_from_mask(nr_dataset_mask_path(ds, 0), &pal, NULL, err, errlen); /* VOC when unreadable */
        if (o->evaluate && ng_graph_entry(g, "eval")) {
            nr_confusion conf = {0};
            double loss;
            nr_metrics mt;
            if (nr_confusion_init(&conf, g->bind.classes) != 0) {
                ng_fail(err, errlen, "out of memory");
                goto done;
            }
            if (nr_evaluate(m, ds, &conf, &loss, err, errlen) != 0) {
                nr_confusion_free(&conf);
                goto done;
            }
            if (nr_metrics_compute(&conf, &mt) != 0) {
                nr_confusion_free(&conf);
                ng_fail(err, errlen, "out of memory");
                goto done;
            }
            FILE *f = open_memstream(&r.eval, &len);
            if (f) {
                nr_metrics_print_json(f, &mt, &conf, loss);
                fclose(f);
            }
            nr_metrics_free(&mt);
            nr_confusion_free(&conf);
            char why[200];
            if (!r.eval || !(r.ev = nr_json_parse(r.eval, strlen(r.eval), why, sizeof why))) {
                ng_fail(err, errlen, "out of memory");
                goto done;
            }
            r.eval_data = data;
        }
        gal.classes = g->bind.classes;
        gal.ignore = g->bind.ignore;
        if (nr_infer_each(m, ds, 1, gallery_visit, &gal, err, errlen) != 0 ||
            (gal.n_scored && gallery_render(&gal, ds, &pal, &shots, &n_shots, err, errlen) != 0))
            goto done;
    } else if (data && ng_is_dir(data)) {
        char mp[4096];
        nr_dataset *d = nr_dataset_open_split(data, split, 1, err, errlen);
        if (d && nr_dataset_count(d) > 0) {
            snprintf(mp, sizeof mp, "%s", nr_dataset_mask_path(d, 0));
            nr_palette_from_mask(mp, &pal, NULL, err, errlen);
        }
        nr_dataset_free(d);
    }
    r.bj = r.ev ? r.ev : r.best >= 0 ? r.ep[r.best].v : NULL;

    char *buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    page(f, &r, shots, n_shots, o->live, &pal);
    if (fclose(f) != 0) {
        free(buf);
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    rc = ng_atomic_write(out, buf, len, 0, err, errlen);
    free(buf);
done:
    for (int i = 0; i < GALLERY_SIDE; i++) {
        slot_free(&gal.best[i]);
        slot_free(&gal.worst[i]);
    }
    shots_free(shots, n_shots);
    nr_dataset_free(ds);
    run_free(&r);
    return rc;
}
