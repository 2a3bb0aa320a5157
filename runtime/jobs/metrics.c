/* metrics.c — confusion matrix, per-class IoU / Dice / precision / recall,
 * the foreground mean IoU, and the majority-class collapse check. */
#include "metrics.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int nr_confusion_init(nr_confusion *c, int k)
{
    c->k = k;
    c->m = calloc((size_t)k * (size_t)k, sizeof *c->m);
    return c->m ? 0 : -1;
}

void nr_confusion_reset(nr_confusion *c) { memset(c->m, 0, (size_t)c->k * (size_t)c->k * sizeof *c->m); }

void nr_confusion_free(nr_confusion *c)
{
    if (!c)
        return;
    free(c->m);
    c->m = NULL;
}

void nr_confusion_add(nr_confusion *c, const int32_t *truth, const uint8_t *pred, int64_t n, int ignore)
{
    for (int64_t i = 0; i < n; i++) {
        int t = truth[i];
        if (t == ignore || t < 0 || t >= c->k || pred[i] >= c->k)
            continue;
        c->m[(int64_t)t * c->k + pred[i]]++;
    }
}

void nr_argmax_c(int n, int c, int64_t hw, const float *probs, uint8_t *pred)
{
    enum { CHUNK = 512 }; /* pixels per pass: the running maxima stay in L1 */
    float best[CHUNK];
    for (int b = 0; b < n; b++) {
        const float *p = probs + (int64_t)b * c * hw; /* (C, HW) */
        uint8_t *o = pred + (int64_t)b * hw;          /* (HW) */
        for (int64_t i0 = 0; i0 < hw; i0 += CHUNK) {
            int len = hw - i0 < CHUNK ? (int)(hw - i0) : CHUNK;
            memcpy(best, p + i0, (size_t)len * sizeof *best);
            memset(o + i0, 0, (size_t)len);
            for (int k = 1; k < c; k++) {
                const float *pk = p + (int64_t)k * hw + i0;
                for (int i = 0; i < len; i++)
                    if (pk[i] > best[i]) {
                        best[i] = pk[i];
                        o[i0 + i] = (uint8_t)k;
                    }
            }
        }
    }
}

/* The per-class arrays of m (k each); measures with base NULL (util.h's
 * ng_carve). */
static size_t layout(nr_metrics *m, char *base)
{
    size_t at = 0, k = (size_t)m->k;
    m->iou = ng_carve(base, &at, k, sizeof *m->iou);
    m->dice = ng_carve(base, &at, k, sizeof *m->dice);
    m->precision = ng_carve(base, &at, k, sizeof *m->precision);
    m->recall = ng_carve(base, &at, k, sizeof *m->recall);
    m->truth = ng_carve(base, &at, k, sizeof *m->truth);
    m->pred = ng_carve(base, &at, k, sizeof *m->pred);
    return at;
}

int nr_metrics_compute(const nr_confusion *c, nr_metrics *m)
{
    int k = c->k;
    memset(m, 0, sizeof *m);
    m->k = k;
    if (!(m->mem = ng_carve_alloc(layout(m, NULL))))
        return -1;
    layout(m, m->mem);
    int64_t total = 0, correct = 0;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            int64_t v = c->m[(int64_t)t * k + p];
            m->truth[t] += v;
            m->pred[p] += v;
            total += v;
            if (t == p)
                correct += v;
        }
    m->pixel_acc = total ? (double)correct / total : NAN;
    double sum_fg = 0, sum_all = 0, fw = 0, sum_dice = 0;
    int n_fg = 0, n_all = 0;
    m->worst_iou_fg = NAN;
    for (int i = 0; i < k; i++) {
        int64_t tp = c->m[(int64_t)i * k + i], fn = m->truth[i] - tp, fp = m->pred[i] - tp;
        m->iou[i] = tp + fn + fp ? (double)tp / (double)(tp + fn + fp) : NAN;
        m->dice[i] = tp + fn + fp ? 2.0 * tp / (double)(2 * tp + fn + fp) : NAN;
        m->precision[i] = m->pred[i] ? (double)tp / m->pred[i] : NAN;
        m->recall[i] = m->truth[i] ? (double)tp / m->truth[i] : NAN;
        if (isnan(m->iou[i]))
            continue;
        sum_all += m->iou[i];
        n_all++;
        if (total)
            fw += (double)m->truth[i] / total * m->iou[i];
        if (i > 0) {
            sum_fg += m->iou[i];
            sum_dice += m->dice[i];
            n_fg++;
        }
        if (i > 0 && m->truth[i] > 0 && !(m->iou[i] >= m->worst_iou_fg))
            m->worst_iou_fg = m->iou[i];
        if (i > 0 && m->truth[i] > 0) {
            m->fg_present++;
            if (m->pred[i] == 0)
                m->fg_never_predicted++;
        }
    }
    m->miou_fg = n_fg ? sum_fg / n_fg : NAN;
    m->mdice_fg = n_fg ? sum_dice / n_fg : NAN;
    m->miou = n_all ? sum_all / n_all : NAN;
    m->fw_iou = total ? fw : NAN;
    m->pred_share0 = total ? (double)m->pred[0] / total : NAN;
    m->true_share0 = total ? (double)m->truth[0] / total : NAN;
    return 0;
}

void nr_metrics_free(nr_metrics *m)
{
    if (!m)
        return;
    free(m->mem);
    memset(m, 0, sizeof *m);
}

static void cell(FILE *out, double v)
{
    if (isnan(v))
        fprintf(out, " %8s", "-");
    else
        fprintf(out, " %8.4f", v);
}

void nr_metrics_print(FILE *out, const nr_metrics *m)
{
    int64_t total = 0;
    for (int i = 0; i < m->k; i++)
        total += m->truth[i];
    fprintf(out, "%5s %9s %9s %8s %8s %8s %8s\n", "class", "true %", "pred %", "IoU", "Dice",
            "prec", "recall");
    for (int i = 0; i < m->k; i++) {
        if (m->truth[i] == 0 && m->pred[i] == 0) {
            fprintf(out, "%5d %9s %9s   absent from truth and prediction\n", i, "0", "0");
            continue;
        }
        fprintf(out, "%5d %8.3f%% %8.3f%%", i, total ? 100.0 * m->truth[i] / total : 0,
                total ? 100.0 * m->pred[i] / total : 0);
        cell(out, m->iou[i]);
        cell(out, m->dice[i]);
        cell(out, m->precision[i]);
        cell(out, m->recall[i]);
        fprintf(out, "\n");
    }
    fprintf(out, "pixel accuracy %.4f   foreground mIoU %.4f   worst foreground IoU %.4f\n"
                 "mIoU %.4f   frequency-weighted IoU %.4f   foreground mean Dice %.4f\n",
            m->pixel_acc, m->miou_fg, m->worst_iou_fg, m->miou, m->fw_iou, m->mdice_fg);
}

void nr_metrics_json_num(FILE *out, double v)
{
    if (!isfinite(v))
        fprintf(out, "null");
    else
        fprintf(out, "%.6g", v);
}

/* ,"key":number (or null) */
static void jfield(FILE *out, const char *key, double v)
{
    fprintf(out, ",\"%s\":", key);
    nr_metrics_json_num(out, v);
}

void nr_metrics_json_array(FILE *out, const char *key, const double *v, int k)
{
    fprintf(out, "\"%s\":[", key);
    for (int i = 0; i < k; i++) {
        if (i)
            fputc(',', out);
        nr_metrics_json_num(out, v[i]);
    }
    fprintf(out, "]");
}

void nr_metrics_print_json(FILE *out, const nr_metrics *m, const nr_confusion *c, double loss)
{
    nr_metrics_json_members(out, m, c, loss);
    fprintf(out, "}\n");
}

void nr_metrics_json_members(FILE *out, const nr_metrics *m, const nr_confusion *c, double loss)
{
    fprintf(out, "{\"classes\":%d", m->k);
    jfield(out, "loss", loss);
    jfield(out, "pixel_accuracy", m->pixel_acc);
    jfield(out, "miou_foreground", m->miou_fg);
    jfield(out, "miou", m->miou);
    jfield(out, "fw_iou", m->fw_iou);
    jfield(out, "mdice_foreground", m->mdice_fg);
    jfield(out, "worst_iou_foreground", m->worst_iou_fg);
    jfield(out, "pred_share_class0", m->pred_share0);
    jfield(out, "true_share_class0", m->true_share0);
    fprintf(out, ",");
    nr_metrics_json_array(out, "iou", m->iou, m->k);
    fprintf(out, ",");
    nr_metrics_json_array(out, "dice", m->dice, m->k);
    fprintf(out, ",");
    nr_metrics_json_array(out, "precision", m->precision, m->k);
    fprintf(out, ",");
    nr_metrics_json_array(out, "recall", m->recall, m->k);
    fprintf(out, ",\"absent\":[");
    int first = 1;
    for (int i = 0; i < m->k; i++)
        if (m->truth[i] == 0 && m->pred[i] == 0) {
            fprintf(out, first ? "%d" : ",%d", i);
            first = 0;
        }
    fprintf(out, "],\"confusion\":[");
    for (int t = 0; t < m->k; t++) {
        fprintf(out, t ? ",[" : "[");
        for (int p = 0; p < m->k; p++)
            fprintf(out, p ? ",%lld" : "%lld", (long long)c->m[(int64_t)t * m->k + p]);
        fprintf(out, "]");
    }
    fprintf(out, "]");
}

int nr_metrics_warn_collapse(FILE *out, const nr_metrics *m)
{
    if (m->fg_present == 0 || isnan(m->pred_share0))
        return 0;
    double excess = m->pred_share0 - m->true_share0;
    int collapsed = excess > 0.5 * (1.0 - m->true_share0) || m->fg_never_predicted * 2 > m->fg_present;
    if (!collapsed)
        return 0;
    fprintf(out,
            "warning: the model is collapsing toward class 0: it predicts class 0 for %.2f%% of pixels "
            "where the truth has %.2f%%, and %d of %d foreground classes are never predicted.\n"
            "  High pixel accuracy here means little. Remedies, best first as examples/imbalance/recipes.sh\n"
            "  ranks them at 99%% background (README.md, \"Class imbalance\"):\n"
            "    1. the full recipe, models/unet_nn.net (instance norm, deep supervision, logit adjustment,\n"
            "       Adam with poly decay, weight EMA; crops centred on foreground when images are larger)\n"
            "    2. logit-adjusted cross-entropy: cross_entropy(logits + log(class_priors()), mask)\n"
            "    3. + 0.5 * soft_dice(logits, mask, present_only = true)   from lib/losses.net\n"
            "  (class weights, weights = balanced, did worse than plain cross-entropy there). Evaluate with\n"
            "  and without --tta: flips helped where the classes look alike mirrored and hurt where they do\n"
            "  not (characters).\n",
            100 * m->pred_share0, 100 * m->true_share0, m->fg_never_predicted, m->fg_present);
    return 1;
}

const char *const nr_metric_names[] = {"miou_fg", "miou", "fw_iou", "mdice_fg", "worst_iou_fg",
                                       "pixel_accuracy", "val_loss", NULL};

int nr_metrics_score(const nr_metrics *m, double loss, const char *name, double *score)
{
    const double v[] = {m->miou_fg, m->miou, m->fw_iou, m->mdice_fg, m->worst_iou_fg, m->pixel_acc, -loss};
    for (int i = 0; nr_metric_names[i]; i++)
        if (strcmp(name, nr_metric_names[i]) == 0) {
            *score = isnan(v[i]) ? -INFINITY : v[i];
            return 0;
        }
    return -1;
}
