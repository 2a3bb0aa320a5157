/* report_eval.c — the report's sections on what eval --json adds to the
 * pooled figures (report_int.h): the per-class boundary and per-image table,
 * the per-image foreground Dice as a strip plot with its box, the
 * reliability diagram, and the post-processing and temperature chosen for
 * the run (RUNDIR/postprocessing.json, temperature.json). */
#include "report_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static double at(const nr_json *a, int i)
{
    return nr_json_num(nr_json_at(a, i));
}

/* The name of image i of a per-image list, "" when it has none. */
static const char *image_name(const nr_json *pi, int i)
{
    const nr_json *n = nr_json_get(nr_json_at(pi, i), "name");
    return n && n->type == NR_JSON_STR ? n->str : "";
}

/* The per-class table: pooled IoU, per-image Dice, HD95, NSD, boundary IoU,
 * images missed and hallucinated. */
static void class_table(FILE *f, const nr_json *v, const nr_palette *pal)
{
    const nr_json *iou = nr_json_get(v, "iou"), *pis = nr_json_get(v, "per_image_summary");
    const nr_json *dice = nr_json_get(pis, "dice"), *n_img = nr_json_get(pis, "defined");
    const nr_json *hd = nr_json_get(v, "hd95"), *nsd = nr_json_get(v, "nsd"), *bi = nr_json_get(v, "boundary_iou");
    const nr_json *miss = nr_json_get(v, "missed"), *hal = nr_json_get(v, "hallucinated");
    fprintf(f,
            "<table class=\"boundary\"><tr><th class=\"l\">class</th><th>IoU (pooled)</th><th>Dice (per image)</th>"
            "<th>HD95 (px)</th><th>NSD at %g px</th><th>boundary IoU</th><th>images</th><th>missed</th>"
            "<th>hallucinated</th></tr>\n",
            nr_json_num(nr_json_get(v, "nsd_tolerance")));
    for (int c = 0; c < nr_json_len(iou) && c < 256; c++) {
        if (!(at(n_img, c) > 0))
            continue; /* absent from truth and prediction in every image */
        char col[8];
        rp_rgb_hex(col, pal->rgb[c]);
        fprintf(f, "<tr><td class=\"l\"><span class=\"sw\" style=\"background:%s\"></span>%d</td>", col, c);
        const double cells[] = {at(iou, c), at(dice, c), at(hd, c), at(nsd, c), at(bi, c)};
        for (int i = 0; i < 5; i++) {
            fprintf(f, "<td>");
            rp_num4(f, cells[i]);
            fprintf(f, "</td>");
        }
        fprintf(f, "<td>%.0f</td><td>%.0f</td><td>%.0f</td></tr>\n", at(n_img, c), at(miss, c), at(hal, c));
    }
    fprintf(f, "</table>\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The quantile q of n sorted values (linear, as numpy). */
static double quantile(const double *s, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)pos;
    return lo + 1 < n ? s[lo] + (s[lo + 1] - s[lo]) * (pos - lo) : s[n - 1];
}

/* Each image's foreground mean Dice (classes 1.. where defined) as a dot,
 * over a box of the quartiles; the worst images named. */
static void dice_strip(FILE *f, const nr_json *v)
{
    const nr_json *pi = nr_json_get(v, "per_image");
    int n = nr_json_len(pi), m = 0;
    double *d = malloc(sizeof *d * (size_t)(n ? n : 1)), *s = malloc(sizeof *s * (size_t)(n ? n : 1));
    if (!d || !s) {
        free(d), free(s);
        return;
    }
    for (int i = 0; i < n; i++) {
        const nr_json *dc = nr_json_get(nr_json_at(pi, i), "dice");
        double sum = 0;
        int k = 0;
        for (int c = 1; c < nr_json_len(dc); c++)
            if (isfinite(at(dc, c)))
                sum += at(dc, c), k++;
        d[i] = k ? sum / k : NAN;
        if (k)
            s[m++] = d[i];
    }
    qsort(s, (size_t)m, sizeof *s, cmp_double);
    const int W = 620, H = 150, L = 40, R = 20, T = 24, B = 34, pw = W - L - R;
    fprintf(f,
            "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
            "<title>Foreground Dice per image</title>\n",
            W, H, W, H);
    fprintf(f,
            "<text x=\"%d\" y=\"16\" class=\"lg\">foreground mean Dice of each image (%d with foreground in "
            "truth or prediction)</text>\n",
            L, m);
    for (double g = 0; g <= 1.0001; g += 0.25)
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid\"/><text x=\"%.1f\" y=\"%d\" "
                "class=\"ax\" text-anchor=\"middle\">%.2f</text>\n",
                L + g * pw, L + g * pw, T, H - B, L + g * pw, H - B + 14, g);
    if (m) {
        double q1 = quantile(s, m, 0.25), q2 = quantile(s, m, 0.5), q3 = quantile(s, m, 0.75);
        int yb = T + 8, hb = H - B - T - 16;
        fprintf(f,
                "<rect class=\"box\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#dbe7f3\" "
                "stroke=\"#3b75af\"/><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#3b75af\" "
                "stroke-width=\"2\"/>\n",
                L + q1 * pw, yb, (q3 - q1) * pw, hb, L + q2 * pw, L + q2 * pw, yb, yb + hb);
    }
    for (int i = 0; i < n; i++) {
        if (isnan(d[i]))
            continue;
        double jitter = ((unsigned)(i * 2654435761u) % 1000) / 1000.0; /* spread by index, the same every time */
        fprintf(f, "<circle class=\"img\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" fill-opacity=\"0.75\"><title>",
                L + d[i] * pw, T + 10 + jitter * (H - B - T - 20), d[i] < 0.5 ? "#cf222e" : "#1a7f37");
        rp_esc(f, image_name(pi, i));
        fprintf(f, ": ");
        rp_num4(f, d[i]);
        fprintf(f, "</title></circle>\n");
    }
    fprintf(f, "</svg>\n");
    if (m) {
        fprintf(f, "<p class=\"note\">Median %.4f, quartiles %.4f and %.4f; the box spans them. Worst: ",
                quantile(s, m, 0.5), quantile(s, m, 0.25), quantile(s, m, 0.75));
        int used[5] = {-1, -1, -1, -1, -1}; /* the lowest five, ties in dataset order */
        for (int shown = 0; shown < 5 && shown < m; shown++) {
            int best = -1;
            for (int i = 0; i < n; i++) {
                int taken = 0;
                for (int u = 0; u < shown; u++)
                    taken |= used[u] == i;
                if (!taken && !isnan(d[i]) && (best < 0 || d[i] < d[best]))
                    best = i;
            }
            used[shown] = best;
            fprintf(f, "%s", shown ? ", " : "");
            rp_esc(f, image_name(pi, best));
            fprintf(f, " (%.3f)", d[best]);
        }
        fprintf(f, ".</p>\n");
    }
    free(d), free(s);
}

/* Observed frequency against mean confidence per bin, the diagonal for
 * perfect calibration; bars' opacity by their share of the pairs. */
static void reliability(FILE *f, const nr_json *cal)
{
    const nr_json *bins = nr_json_get(cal, "reliability");
    int nb = nr_json_len(bins);
    double total = 0;
    for (int b = 0; b < nb; b++)
        total += nr_json_num(nr_json_get(nr_json_at(bins, b), "count"));
    const int W = 340, H = 320, L = 46, R = 14, T = 24, B = 40, pw = W - L - R, ph = H - T - B;
    fprintf(f,
            "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
            "<title>Reliability diagram</title>\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"16\" class=\"lg\">reliability, T = %g: ECE ", L,
            nr_json_num(nr_json_get(cal, "temperature")));
    rp_num4(f, nr_json_num(nr_json_get(cal, "ece")));
    fprintf(f, "</text>\n");
    for (double g = 0; g <= 1.0001; g += 0.25)
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid\"/><text x=\"%.1f\" y=\"%d\" "
                "class=\"ax\" text-anchor=\"middle\">%.2f</text><text x=\"%d\" y=\"%.1f\" class=\"ax\" "
                "text-anchor=\"end\">%.2f</text>\n",
                L + g * pw, L + g * pw, T, T + ph, L + g * pw, T + ph + 14, g, L - 4, T + ph - g * ph + 4, g);
    for (int b = 0; b < nb; b++) {
        const nr_json *e = nr_json_at(bins, b);
        double cnt = nr_json_num(nr_json_get(e, "count")), acc = nr_json_num(nr_json_get(e, "accuracy"));
        double conf = nr_json_num(nr_json_get(e, "confidence"));
        if (!(cnt > 0))
            continue;
        double x = L + (double)b / nb * pw, bw = (double)pw / nb, share = cnt / total;
        fprintf(f,
                "<rect class=\"bin\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#3b75af\" "
                "fill-opacity=\"%.2f\"><title>confidence ",
                x + 1, T + ph - acc * ph, bw - 2, acc * ph, 0.35 + 0.65 * fmin(1, sqrt(share)));
        rp_num4(f, conf);
        fprintf(f, ", observed ");
        rp_num4(f, acc);
        fprintf(f, ", %.0f pairs</title></rect>\n", cnt);
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#cf222e\" stroke-dasharray=\"4 3\"/>\n", L,
            T + ph, L + pw, T);
    fprintf(f,
            "<text x=\"%.1f\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">predicted probability (foreground "
            "classes)</text></svg>\n",
            L + pw / 2.0, H - 8);
}

/* RUNDIR/NAME parsed, or NULL when absent or unreadable. */
static nr_json *run_file(const char *dir, const char *name)
{
    char path[4096], why[200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    char *text = ng_read_file(path, &n);
    nr_json *j = text ? nr_json_parse(text, n, why, sizeof why) : NULL;
    free(text);
    return j;
}

/* What eval --choose-postprocessing and --fit-temperature chose for the run. */
static void choices(FILE *f, const char *dir)
{
    nr_json *pp = run_file(dir, "postprocessing.json"), *t = run_file(dir, "temperature.json");
    fprintf(f, "<h3>Post-processing and temperature (chosen on validation)</h3>\n");
    if (pp) {
        const nr_json *lg = nr_json_get(pp, "keep_largest"), *rm = nr_json_get(pp, "remove_smaller_than");
        const nr_json *d = nr_json_get(pp, "foreground_mean_dice");
        fprintf(f, "<p class=\"pp\">Keep only the largest component of class%s ", nr_json_len(lg) == 1 ? "" : "es");
        for (int i = 0; i < nr_json_len(lg); i++)
            fprintf(f, "%s%.0f", i ? ", " : "", at(lg, i));
        if (!nr_json_len(lg))
            fprintf(f, "(none)");
        fprintf(f, "; remove components below a size: ");
        for (int i = 0; i < nr_json_len(rm); i++)
            fprintf(f, "%sclass %.0f &lt; %.0f px", i ? ", " : "", nr_json_num(nr_json_get(nr_json_at(rm, i), "class")),
                    nr_json_num(nr_json_get(nr_json_at(rm, i), "pixels")));
        if (!nr_json_len(rm))
            fprintf(f, "(none)");
        fprintf(f, ". Foreground mean Dice per image on the data it was chosen on: ");
        rp_num4(f, nr_json_num(nr_json_get(d, "before")));
        fprintf(f, " &rarr; ");
        rp_num4(f, nr_json_num(nr_json_get(d, "after")));
        fprintf(f, " (<code>postprocessing.json</code>).</p>\n");
    }
    if (t) {
        fprintf(f,
                "<p class=\"pp\">Temperature %.4f: NLL %.4f &rarr; %.4f on %.0f sampled validation pixels "
                "(<code>temperature.json</code>).</p>\n",
                nr_json_num(nr_json_get(t, "temperature")), nr_json_num(nr_json_get(t, "nll_before")),
                nr_json_num(nr_json_get(t, "nll_after")), nr_json_num(nr_json_get(t, "pixels")));
    }
    if (!pp && !t)
        fprintf(f, "<p class=\"note\">None: <code>netrun eval GRAPH --weights RUNDIR/best.safetensors --data VAL "
                   "--choose-postprocessing --fit-temperature</code> writes them into the run folder.</p>\n");
    nr_json_free(pp);
    nr_json_free(t);
}

void rp_eval_sections(FILE *f, const nr_json *v, const nr_palette *pal, const char *run_dir)
{
    fprintf(f, "<h2>Per image and boundaries (best checkpoint)</h2>\n");
    if (!nr_json_get(v, "per_image")) {
        fprintf(f, "<p class=\"note\">The figures of an epoch's validation are pooled only: "
                   "<code>netrun report RUNDIR --data DIR</code> evaluates the best checkpoint per image.</p>\n");
    } else {
        fprintf(f, "<p class=\"note\">IoU pooled over every pixel of the set; the rest are means over the images "
                   "where the class is in the truth or the prediction (nnU-Net); HD95 only where both have it "
                   "(missed: in the truth only; hallucinated: in the prediction only). docs/usage.md defines "
                   "each.</p>\n");
        class_table(f, v, pal);
        fprintf(f, "<div class=\"row\">\n");
        dice_strip(f, v);
        if (nr_json_get(v, "calibration"))
            reliability(f, nr_json_get(v, "calibration"));
        fprintf(f, "</div>\n");
    }
    choices(f, run_dir);
}
