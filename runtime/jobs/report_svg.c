/* report_svg.c — the charts of netrun report (report_int.h), SVG drawn
 * with fprintf: line charts, sorted bars, a heat map.  No plotting library:
 * none fits a C stack without dependencies, and the charts are a few
 * hundred lines. */
#include "report_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TICKS 40 /* per axis */

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

void rp_line_chart(FILE *f, const char *title, const char *xlabel, const series *s, int ns, double ymin,
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
    rp_esc(f, title);
    fprintf(f, "</title>\n<text x=\"%d\" y=\"18\" class=\"ct\">", L);
    rp_esc(f, title);
    fprintf(f, "</text>\n");
    /* legend */
    int lx = L;
    for (int k = 0; k < ns; k++) {
        fprintf(f, "<line x1=\"%d\" y1=\"32\" x2=\"%d\" y2=\"32\" stroke=\"%s\" stroke-width=\"2.5\"%s/>"
                   "<text x=\"%d\" y=\"36\" class=\"lg\">", lx, lx + 18, s[k].color,
                s[k].dashed ? " stroke-dasharray=\"5 3\"" : "", lx + 22);
        rp_esc(f, s[k].name);
        fprintf(f, "</text>\n");
        lx += 30 + 7 * (int)strlen(s[k].name);
    }
    /* grid and axes: a tick a step (counted: at a large value a small step
     * would not move v), a few dozen at most */
    double v;
    for (int i = 0; i <= MAX_TICKS && (v = ceil(y0 / ys - 1e-9) * ys + i * ys) <= y1 + ys * 1e-9; i++) {
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%d\" y=\"%.1f\" "
                   "class=\"ax\" text-anchor=\"end\">", L, W - R, PY(v), PY(v), L - 6, PY(v) + 4);
        tick_label(f, v, ys);
        fprintf(f, "</text>\n");
    }
    for (int i = 0; i <= MAX_TICKS && (v = ceil(x0 / xs - 1e-9) * xs + i * xs) <= x1 + xs * 1e-9; i++) {
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"tick\"/><text x=\"%.1f\" y=\"%d\" "
                   "class=\"ax\" text-anchor=\"middle\">", PX(v), PX(v), T + ph, T + ph + 4, PX(v), T + ph + 17);
        tick_label(f, v, xs);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"ax\" text-anchor=\"middle\">", L + pw / 2, H - 8);
    rp_esc(f, xlabel);
    fprintf(f, "</text>\n");
    for (int k = 0; k < nm; k++) {
        if (!isfinite(mk[k].x) || mk[k].x < x0 || mk[k].x > x1)
            continue;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1.5\" "
                   "stroke-dasharray=\"3 3\"><title>", PX(mk[k].x), PX(mk[k].x), T, T + ph, mk[k].color);
        rp_esc(f, mk[k].label);
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
                rp_esc(f, s[k].name);
                fprintf(f, " at step %.0f: %.4f</title></circle>\n", s[k].x[i], s[k].y[i]);
            }
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}

void rp_iou_bars(FILE *f, const nr_json *v, const nr_palette *pal)
{
    const nr_json *iou = nr_json_get(v, "iou"), *cm = nr_json_get(v, "confusion");
    int k = nr_json_len(iou);
    if (k <= 0 || k > NG_MAX_CLASSES || nr_json_len(cm) != k) {
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
            long long c = 0;
            nr_json_int(nr_json_at(nr_json_at(cm, t), p), 0, RP_MAX_PIXELS, &c);
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
        rp_rgb_hex(col, pal->rgb[c]);
        fprintf(f, "<g class=\"bar\" data-class=\"%d\"><title>class %d: IoU ", c, c);
        rp_num4(f, x);
        fprintf(f, ", %lld true pixels (%.3f%%), %lld predicted</title>", (long long)truth[c], 100 * share,
                (long long)pred[c]);
        fprintf(f, "<rect x=\"4\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\" stroke=\"#555\" stroke-width=\"0.5\"/>"
                   "<text x=\"20\" y=\"%d\" class=\"lg\">class %d</text>", y + 2, col, y + 12, c);
        double bw = isfinite(x) ? x * BW : 0;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"13\" fill=\"%s\"/>", L, y + 2, bw,
                c == 0 ? "#9aa5b1" : "#3b75af");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"lg\">", L + bw + 4, y + 13);
        rp_num4(f, x);
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
    rp_rgb_hex(hex, c);
}

void rp_confusion_map(FILE *f, const nr_json *v)
{
    const nr_json *cm = nr_json_get(v, "confusion");
    int k = nr_json_len(cm);
    if (k <= 0 || k > NG_MAX_CLASSES) {
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
        for (int p = 0; p < k; p++) { /* of the counts; a negative one is no count, its cell white */
            double x = nr_json_num(nr_json_at(r, p));
            sum += x > 0 ? x : 0;
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
