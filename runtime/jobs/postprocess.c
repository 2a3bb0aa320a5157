/* postprocess.c — connected-component post-processing: applying it, choosing
 * it on validation predictions by nnU-Net's rule, and its JSON file
 * (postprocess.h). */
#include "postprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "components.h"
#include "json.h"
#include "metrics.h"
#include "per_image.h"
#include "util.h"

int nr_post_apply(const nr_postprocess *pp, uint8_t *pred, int h, int w)
{
    size_t hw = (size_t)h * w;
    uint8_t *m = NULL;
    int32_t *lab = NULL;
    int64_t *size = NULL;
    int rc = 0;
    for (int c = 1; c < pp->k; c++) {
        if (!pp->largest[c] && pp->min_size[c] <= 0)
            continue;
        if (!m) {
            m = malloc(hw ? hw : 1);
            lab = malloc(sizeof *lab * (hw ? hw : 1));
            size = malloc(sizeof *size * (size_t)(nr_cc_max(h, w) + 1));
            if (!m || !lab || !size) {
                rc = -1;
                break;
            }
        }
        for (size_t i = 0; i < hw; i++)
            m[i] = pred[i] == c;
        int n = nr_cc_label(m, h, w, lab, size);
        if (n < 0) {
            rc = -1;
            break;
        }
        int keep = 0; /* with largest: the component kept, the first of the largest size (nnU-Net's argmax) */
        for (int l = 1; l <= n && pp->largest[c]; l++)
            keep = size[l] > size[keep] ? l : keep;
        for (size_t i = 0; i < hw; i++)
            if (lab[i] && (pp->largest[c] ? lab[i] != keep : size[lab[i]] < pp->min_size[c]))
                pred[i] = 0;
    }
    free(m);
    free(lab);
    free(size);
    return rc;
}

int nr_post_set_init(nr_post_set *set, int n)
{
    memset(set, 0, sizeof *set);
    set->n = n;
    size_t m = (size_t)(n ? n : 1);
    set->h = calloc(m, sizeof *set->h);
    set->w = calloc(m, sizeof *set->w);
    set->truth = calloc(m, sizeof *set->truth);
    set->pred = calloc(m, sizeof *set->pred);
    if (!set->h || !set->w || !set->truth || !set->pred) {
        nr_post_set_free(set);
        return -1;
    }
    return 0;
}

void nr_post_set_free(nr_post_set *set)
{
    if (!set)
        return;
    for (int i = 0; set->truth && i < set->n; i++)
        free(set->truth[i]), free(set->pred[i]);
    free(set->h);
    free(set->w);
    free(set->truth);
    free(set->pred);
    memset(set, 0, sizeof *set);
}

int nr_post_keep(nr_post_set *set, int idx, const int32_t *truth, const uint8_t *pred, int h, int w)
{
    size_t hw = (size_t)h * w;
    set->truth[idx] = malloc(sizeof *truth * (hw ? hw : 1));
    set->pred[idx] = malloc(hw ? hw : 1);
    if (!set->truth[idx] || !set->pred[idx])
        return -1;
    memcpy(set->truth[idx], truth, sizeof *truth * hw);
    memcpy(set->pred[idx], pred, hw);
    set->h[idx] = h, set->w[idx] = w;
    return 0;
}

/* The per-image Dice of every image of set under pp into pi (overlap only). */
static int score(const nr_post_set *set, int ignore, const nr_postprocess *pp, nr_per_image *pi)
{
    for (int i = 0; i < set->n; i++) {
        size_t hw = (size_t)set->h[i] * set->w[i];
        uint8_t *buf = malloc(hw ? hw : 1);
        if (!buf)
            return -1;
        memcpy(buf, set->pred[i], hw);
        int rc = nr_post_apply(pp, buf, set->h[i], set->w[i]);
        if (rc == 0)
            rc = nr_per_image_add(pi, i, set->truth[i], buf, set->h[i], set->w[i], ignore);
        free(buf);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The largest component of class c in any predicted mask of set; -1 when
 * out of memory. */
static int64_t largest_component(const nr_post_set *set, int c)
{
    int64_t best = 0;
    for (int i = 0; i < set->n; i++) {
        int h = set->h[i], w = set->w[i];
        size_t hw = (size_t)h * w;
        uint8_t *m = malloc(hw ? hw : 1);
        int32_t *lab = malloc(sizeof *lab * (hw ? hw : 1));
        int64_t *size = malloc(sizeof *size * (size_t)(nr_cc_max(h, w) + 1));
        int n = -1;
        if (m && lab && size) {
            for (size_t p = 0; p < hw; p++)
                m[p] = set->pred[i][p] == c;
            n = nr_cc_label(m, h, w, lab, size);
        }
        for (int l = 1; l <= n; l++)
            best = size[l] > best ? size[l] : best;
        free(m), free(lab), free(size);
        if (n < 0)
            return -1;
    }
    return best;
}

/* The class means of the per-image Dice (k) and their foreground mean. */
static double means(const nr_per_image *pi, double *dice)
{
    for (int c = 0; c < pi->k; c++)
        dice[c] = nr_per_image_mean(pi, NR_PI_DICE, c, NULL);
    return nr_per_image_fg_mean(pi, NR_PI_DICE);
}

/* Whether a candidate with class means cand and foreground mean fg is
 * better than the current one: fg higher, no class lower (a class
 * undefined before and after counts as unchanged). */
static int better(int k, const double *cand, double fg, const double *cur, double fg_cur)
{
    if (!(fg > fg_cur))
        return 0;
    for (int c = 0; c < k; c++)
        if (!isnan(cur[c]) && (isnan(cand[c]) ? 0 : cand[c] < cur[c] - 1e-12))
            return 0;
    return 1;
}

int nr_post_choose(const nr_post_set *set, int k, int ignore, nr_postprocess *pp, FILE *log)
{
    memset(pp, 0, sizeof *pp);
    pp->k = k;
    nr_per_image pi;
    if (nr_per_image_init(&pi, k, set->n, 0) != 0)
        return -1;
    pi.overlap_only = 1;
    double cur[256], cand[256];
    int rc = score(set, ignore, pp, &pi);
    double fg = means(&pi, cur);
    pp->dice_before = fg;
    for (int c = 1; c < k && rc == 0; c++) {
        int64_t big = largest_component(set, c);
        if (big < 0) {
            rc = -1;
            break;
        }
        if (big == 0)
            continue; /* never predicted: nothing to remove */
        nr_postprocess best = *pp, try = *pp;
        double best_fg = fg, best_dice[256];
        memcpy(best_dice, cur, sizeof cur);
        /* keep the largest component, else remove components below 2, 4, ... pixels */
        for (int64_t s = 0; s <= big && rc == 0; s = s ? 2 * s : 2) {
            try = *pp;
            if (s == 0)
                try.largest[c] = 1;
            else
                try.min_size[c] = s;
            if ((rc = score(set, ignore, &try, &pi)) != 0)
                break;
            double f = means(&pi, cand);
            int ok = better(k, cand, f, cur, fg) && f > best_fg;
            if (log)
                fprintf(log, "class %d: %s %lld: foreground mean Dice %.4f -> %.4f%s\n", c,
                        s ? "remove components below" : "keep the largest component of", (long long)(s ? s : big), fg,
                        f, ok ? " (best so far)" : "");
            if (ok) {
                best = try, best_fg = f;
                memcpy(best_dice, cand, sizeof cand);
                if (s == 0)
                    break; /* nnU-Net's step: the largest component only, kept when it helps */
            }
        }
        *pp = best, fg = best_fg;
        memcpy(cur, best_dice, sizeof cur);
    }
    pp->dice_after = fg;
    nr_per_image_free(&pi);
    return rc;
}

/* ---- the file ------------------------------------------------------------ */

static void put_steps(FILE *f, const nr_postprocess *pp)
{
    fprintf(f, "\"keep_largest\":[");
    for (int c = 1, first = 1; c < pp->k; c++)
        if (pp->largest[c]) {
            fprintf(f, first ? "%d" : ",%d", c);
            first = 0;
        }
    fprintf(f, "],\"remove_smaller_than\":[");
    for (int c = 1, first = 1; c < pp->k; c++)
        if (pp->min_size[c] > 0) {
            fprintf(f, "%s{\"class\":%d,\"pixels\":%lld}", first ? "" : ",", c, (long long)pp->min_size[c]);
            first = 0;
        }
    fprintf(f, "],\"foreground_mean_dice\":{\"before\":");
    nr_metrics_json_num(f, pp->dice_before);
    fprintf(f, ",\"after\":");
    nr_metrics_json_num(f, pp->dice_after);
    fprintf(f, "}");
}

int nr_post_save(const char *path, const nr_postprocess *pp, const char *from, char *err, size_t errlen)
{
    ng_atomic a;
    if (ng_atomic_open(&a, path, err, errlen) != 0)
        return -1;
    fprintf(a.fp, "{\"kind\":\"netrun postprocessing\",\"classes\":%d,\"connectivity\":8,\"chosen_on\":", pp->k);
    nr_json_put_str(a.fp, from);
    fprintf(a.fp, ",\n");
    put_steps(a.fp, pp);
    fprintf(a.fp, "}\n");
    return ng_atomic_commit(&a, 0, err, errlen);
}

void nr_post_print_json(FILE *out, const nr_postprocess *pp)
{
    fprintf(out, ",\"postprocessing\":{");
    put_steps(out, pp);
    fprintf(out, "}");
}

/* An integer JSON number in lo..hi, else -1 with err naming path and what. */
static int want_int(const nr_json *j, long long lo, long long hi, long long *v, const char *path, const char *what,
                    char *err, size_t errlen)
{
    if (!nr_json_int(j, lo, hi, v))
        return ng_fail(err, errlen, "%s: %s must be an integer in %lld..%lld", path, what, lo, hi);
    return 0;
}

int nr_post_parse(const char *text, size_t n, const char *path, int k, nr_postprocess *pp, char *err,
                  size_t errlen)
{
    memset(pp, 0, sizeof *pp);
    pp->k = k;
    pp->dice_before = pp->dice_after = NAN;
    char why[256];
    nr_json *j = nr_json_parse(text, n, why, sizeof why);
    if (!j)
        return ng_fail(err, errlen, "%s:%s", path, why);
    int rc = -1;
    long long v = 0, cls = 0;
    const nr_json *kind = nr_json_get(j, "kind"), *lg = nr_json_get(j, "keep_largest"),
                  *rm = nr_json_get(j, "remove_smaller_than"), *d = nr_json_get(j, "foreground_mean_dice");
    if (j->type != NR_JSON_OBJ || !kind || kind->type != NR_JSON_STR || strcmp(kind->str, "netrun postprocessing")) {
        ng_fail(err, errlen, "%s: key \"kind\" must be \"netrun postprocessing\"", path);
        goto done;
    }
    if (want_int(nr_json_get(j, "classes"), k, k, &v, path, "key \"classes\" (the model's class count)", err, errlen) !=
        0)
        goto done;
    if (!lg || lg->type != NR_JSON_ARR || !rm || rm->type != NR_JSON_ARR) {
        ng_fail(err, errlen, "%s: keys \"keep_largest\" and \"remove_smaller_than\" must be arrays", path);
        goto done;
    }
    for (int i = 0; i < lg->n; i++) {
        if (want_int(lg->items[i], 1, k - 1, &cls, path, "each class of key \"keep_largest\"", err, errlen) != 0)
            goto done;
        pp->largest[cls] = 1;
    }
    for (int i = 0; i < rm->n; i++) {
        const nr_json *s = rm->items[i];
        if (want_int(nr_json_get(s, "class"), 1, k - 1, &cls, path, "key \"remove_smaller_than\": \"class\"", err,
                     errlen) != 0 ||
            want_int(nr_json_get(s, "pixels"), 1, (long long)1 << 40, &v, path,
                     "key \"remove_smaller_than\": \"pixels\"", err, errlen) != 0)
            goto done;
        pp->min_size[cls] = v;
    }
    pp->dice_before = nr_json_num(nr_json_get(d, "before"));
    pp->dice_after = nr_json_num(nr_json_get(d, "after"));
    rc = 0;
done:
    nr_json_free(j);
    return rc;
}

int nr_post_load(const char *path, int k, nr_postprocess *pp, char *err, size_t errlen)
{
    size_t n;
    char *text = ng_read_file(path, &n);
    if (!text)
        return ng_fail(err, errlen, "%s: cannot read the post-processing file", path);
    int rc = nr_post_parse(text, n, path, k, pp, err, errlen);
    free(text);
    return rc;
}
