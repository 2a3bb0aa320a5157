/* report.c — nr_report_make: the HTML report of a run folder.  Reads the
 * run's files (report_run.c), optionally evaluates best.safetensors and
 * renders the best and worst images (report_gallery.c), and writes one page
 * with its charts (report_svg.c) and, for programs, its figures as JSON. */
#define _GNU_SOURCE
#include "report.h"
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_run.h"
#include "layout.h"
#include "metrics.h"
#include "train.h"
#include "util.h"

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

/* ---- the page ------------------------------------------------------------ */

static const char *jstring(const nr_json *j, const char *key)
{
    const nr_json *v = nr_json_get(j, key);
    return v && v->type == NR_JSON_STR ? v->str : NULL;
}

static void card(FILE *f, const char *label, double v)
{
    fprintf(f, "<div class=\"card\"><div class=\"cv\">");
    rp_num4(f, v);
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
    rp_esc(f, r->dir);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>Run <code>", css);
    rp_esc(f, r->dir);
    fprintf(f, "</code></h1>\n<p class=\"meta\">");
    if (source) {
        fprintf(f, "model <code>");
        rp_esc(f, source);
        fprintf(f, "</code>");
    }
    const char *graph = jstring(info, "graph"), *data = jstring(info, "data"), *val = jstring(info, "val");
    if (graph) {
        fprintf(f, " &middot; graph <code>");
        rp_esc(f, graph);
        fprintf(f, "</code>");
    }
    if (data) {
        fprintf(f, "<br>training data <code>");
        rp_esc(f, data);
        fprintf(f, "</code>");
    }
    if (val) {
        fprintf(f, " &middot; validation <code>");
        rp_esc(f, val);
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
        fprintf(f, ", chosen by <code>");
        rp_esc(f, metric ? metric : "miou_fg");
        fprintf(f, "</code>) ");
        if (r->ev) {
            fprintf(f, "evaluated on <code>");
            rp_esc(f, r->eval_data);
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
        rp_line_chart(f, "Loss (epoch means)", "step", ls, has_val ? 2 : 1, NAN, NAN, mk, mk ? nm : 0);
        if (has_val) {
            series ms[] = {{"pixel accuracy", "#8c959f", x, acc, n, 1}, {"fg mIoU", "#3b75af", x, mi, n, 0},
                           {"worst fg IoU", "#cf222e", x, wo, n, 0}};
            rp_line_chart(f, "Validation", "step", ms, 3, 0, 1, mk, mk ? nm : 0);
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
        rp_esc(f, first ? first : "");
        free(first);
        fprintf(f, "</td></tr>\n");
        if (!remedy)
            remedy = nl ? nl + 1 : "";
    }
    if (remedy) {
        fprintf(f, "</table>\n<div class=\"warn\">");
        rp_esc(f, remedy);
        fprintf(f, "</div>\n");
    } else {
        fprintf(f, "<p class=\"%s\">%s</p>\n", r->n_ep ? "ok" : "note",
                r->n_ep ? "None fired: no validated epoch collapsed toward class 0." : "No validation, no check.");
    }

    if (bj) {
        fprintf(f, "<h2>IoU per class (best checkpoint)</h2>\n");
        rp_iou_bars(f, bj, pal);
        rp_eval_sections(f, bj, pal, r->dir);
        fprintf(f, "<h2>Confusion matrix (best checkpoint)</h2>\n");
        rp_confusion_map(f, bj);
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
            rp_esc(f, scheme);
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
            rp_rgb_hex(col, pal->rgb[c]);
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
        rp_rgb_hex(mc, NR_OVERLAY_MISSED), rp_rgb_hex(fc, NR_OVERLAY_FALSE), rp_rgb_hex(cc, NR_OVERLAY_CONFUSED);
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
                rp_esc(f, s->name);
                fprintf(f, "\" src=\"data:image/png;base64,");
                base64(f, s->png, s->len);
                fprintf(f, "\"><figcaption><b>");
                rp_esc(f, s->name);
                fprintf(f, "</b> &middot; fg mIoU ");
                rp_num4(f, s->score);
                fprintf(f, " &middot; pixel accuracy ");
                rp_num4(f, s->acc);
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
    nr_json_put_str(f, r->dir);
    fprintf(f, ",\"best_metric\":");
    nr_json_put_str(f, metric);
    fprintf(f, ",\"best_epoch\":");
    if (be)
        fprintf(f, "%d,\"best_step\":%lld", be->epoch, be->step);
    else
        fprintf(f, "null,\"best_step\":null");
    fprintf(f, ",\"evaluated_on\":");
    nr_json_put_str(f, r->ev ? r->eval_data : NULL);
    fprintf(f, ",\n\"best\":");
    rp_jvalue(f, r->ev ? r->ev : be ? be->v : NULL);
    fprintf(f, ",\n\"epochs\":[");
    static const char *const keys[] = {"train_loss", "val_loss", "pixel_accuracy", "miou_foreground",
                                       "worst_iou_foreground"};
    for (int i = 0; i < r->n_rows; i++) {
        const log_row *w = &r->rows[i];
        const double v[] = {w->train_loss, w->val_loss, w->acc, w->miou_fg, w->worst};
        fprintf(f, "%s{\"epoch\":%d,\"step\":%lld", i ? "," : "", w->epoch, w->step);
        for (int k = 0; k < 5; k++) {
            fprintf(f, ",\"%s\":", keys[k]);
            rp_jnum(f, v[k]);
        }
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
        nr_json_put_str(f, shots[i].name);
        fprintf(f, ",\"side\":\"%s\",\"miou_foreground\":", shots[i].worst ? "worst" : "best");
        rp_jnum(f, shots[i].score);
        fprintf(f, ",\"pixel_accuracy\":");
        rp_jnum(f, shots[i].acc);
        fprintf(f, ",\"width\":%d,\"height\":%d}", shots[i].w, shots[i].h);
    }
    fprintf(f, "]}\n</script>\n</body></html>\n");
}

/* ---- the whole job ----------------------------------------------------- */

int nr_report_make(const char *run_dir, const nr_report_opts *o, char *err, size_t errlen)
{
    run r = {0};
    r.dir = run_dir;
    r.best = -1;
    shot *shots = NULL;
    int n_shots = 0, rc = -1;
    nr_dataset *ds = NULL;
    char path[4096], out_path[4096];
    size_t len;
    snprintf(out_path, sizeof out_path, "%s/report.html", run_dir);
    const char *out = o->out ? o->out : out_path, *data = o->data;
    nr_model *m = o->model;

    if (!ng_is_dir(run_dir))
        return ng_fail(err, errlen, "%s: not a folder (give the --out folder of netrun train)", run_dir);
    if (rp_run_read(&r, err, errlen) != 0)
        goto done;
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
            /* the figures of netrun eval --json, as it prints them */
            nr_eval_opts eo = {.data = data, .split = split, .json = 1};
            FILE *f = open_memstream(&r.eval, &len);
            if (!f) {
                ng_fail(err, errlen, "out of memory");
                goto done;
            }
            int erc = nr_eval_run(m, &eo, f, err, errlen);
            fclose(f);
            if (erc != 0)
                goto done;
            char why[200];
            if (!r.eval || !(r.ev = nr_json_parse(r.eval, strlen(r.eval), why, sizeof why))) {
                ng_fail(err, errlen, "out of memory");
                goto done;
            }
            r.eval_data = data;
        }
        if (rp_gallery(m, ds, &pal, g->bind.classes, g->bind.ignore, &shots, &n_shots, err, errlen) != 0)
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
    rp_shots_free(shots, n_shots);
    nr_dataset_free(ds);
    rp_run_free(&r);
    return rc;
}
