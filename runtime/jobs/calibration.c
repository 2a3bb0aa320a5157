/* calibration.c — reliability bins and ECE of the foreground probabilities,
 * the temperature fit and its file (calibration.h). */
#include "calibration.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "json.h"
#include "metrics.h"
#include "util.h"

int nr_calib_init(nr_calibration *cal, int k, double t, int fit, int images)
{
    memset(cal, 0, sizeof *cal);
    cal->k = k, cal->temperature = t, cal->fit = fit;
    if (!fit)
        return 0;
    cal->per_image = NR_CALIB_SAMPLES / (images > 0 ? images : 1);
    cal->per_image = cal->per_image > 0 ? cal->per_image : 1;
    cal->cap = (size_t)cal->per_image * (size_t)(images > 0 ? images : 1);
    cal->logp = malloc(sizeof *cal->logp * cal->cap * (size_t)k);
    cal->label = malloc(sizeof *cal->label * cal->cap);
    if (!cal->logp || !cal->label) {
        nr_calib_free(cal);
        return -1;
    }
    return 0;
}

void nr_calib_free(nr_calibration *cal)
{
    if (!cal)
        return;
    free(cal->logp);
    free(cal->label);
    memset(cal, 0, sizeof *cal);
}

/* log p, kept finite: a probability of 0 counts as 1e-30 */
static double logp_of(float p)
{
    return log(p > 1e-30f ? (double)p : 1e-30);
}

/* q (k) = softmax(beta * l) of the log-probabilities l (k). */
static void soften(const double *l, int k, double beta, double *q)
{
    double mx = -INFINITY, sum = 0;
    for (int c = 0; c < k; c++)
        mx = beta * l[c] > mx ? beta * l[c] : mx;
    for (int c = 0; c < k; c++)
        sum += q[c] = exp(beta * l[c] - mx);
    for (int c = 0; c < k; c++)
        q[c] /= sum;
}

/* The pairs of one pixel (q (k), its label) into bins. */
static void bin_pixel(int64_t *count, double *conf, double *hits, const double *q, int k, int label)
{
    for (int c = 1; c < k; c++) {
        int b = (int)(q[c] * NR_CALIB_BINS);
        b = b < 0 ? 0 : b >= NR_CALIB_BINS ? NR_CALIB_BINS - 1 : b;
        count[b]++;
        conf[b] += q[c];
        hits[b] += label == c;
    }
}

int nr_calib_add(nr_calibration *cal, const float *probs, const int32_t *truth, int h, int w, int ignore)
{
    int k = cal->k;
    size_t hw = (size_t)h * w, counted = 0;
    for (size_t p = 0; p < hw; p++)
        counted += truth[p] != ignore && truth[p] >= 0 && truth[p] < k;
    /* at temperature T: q_c = p_c^(1/T) / sum_j p_j^(1/T), the sums first;
     * then the bins class plane by class plane (contiguous) */
    double beta = 1.0 / cal->temperature, *sum = NULL;
    if (cal->temperature != 1) {
        if (!(sum = calloc(hw ? hw : 1, sizeof *sum)))
            return -1;
        for (int c = 0; c < k; c++)
            for (size_t p = 0; p < hw; p++)
                sum[p] += pow(probs[(size_t)c * hw + p], beta);
    }
    for (int c = 1; c < k; c++) {
        const float *pc = probs + (size_t)c * hw;
        for (size_t p = 0; p < hw; p++) {
            int t = truth[p];
            if (t == ignore || t < 0 || t >= k)
                continue;
            double q = sum ? (sum[p] > 0 ? pow(pc[p], beta) / sum[p] : 1.0 / k) : pc[p];
            int b = (int)(q * NR_CALIB_BINS);
            b = b < 0 ? 0 : b >= NR_CALIB_BINS ? NR_CALIB_BINS - 1 : b;
            cal->count[b]++;
            cal->conf[b] += q;
            cal->hits[b] += t == c;
        }
    }
    free(sum);
    if (!cal->fit || counted == 0)
        return 0;
    /* the fit's sample: every stride-th counted pixel */
    size_t stride = (counted + (size_t)cal->per_image - 1) / (size_t)cal->per_image, seen = 0;
    for (size_t p = 0; p < hw && cal->n < cal->cap; p++) {
        int t = truth[p];
        if (t == ignore || t < 0 || t >= k || seen++ % stride != 0)
            continue;
        for (int c = 0; c < k; c++)
            cal->logp[cal->n * (size_t)k + c] = (float)logp_of(probs[(size_t)c * hw + p]);
        cal->label[cal->n++] = t;
    }
    return 0;
}

void nr_calib_gather(nr_calibration *cal)
{
    nr_dist_sum_i64(cal->count, NR_CALIB_BINS);
    nr_dist_sum_f64(cal->conf, NR_CALIB_BINS);
    nr_dist_sum_f64(cal->hits, NR_CALIB_BINS);
}

static double ece_of(const int64_t *count, const double *conf, const double *hits)
{
    int64_t n = 0;
    double e = 0;
    for (int b = 0; b < NR_CALIB_BINS; b++)
        n += count[b];
    for (int b = 0; b < NR_CALIB_BINS; b++)
        if (count[b])
            e += fabs(conf[b] - hits[b]) / (double)n; /* n_b/N * |mean q - hit rate| */
    return n ? e : NAN;
}

double nr_calib_ece(const nr_calibration *cal)
{
    return ece_of(cal->count, cal->conf, cal->hits);
}

/* Mean NLL of the sample at beta = 1/T; with ece, also the sample's ECE. */
static double nll(const nr_calibration *cal, double beta, double *ece)
{
    int k = cal->k;
    int64_t count[NR_CALIB_BINS] = {0};
    double conf[NR_CALIB_BINS] = {0}, hits[NR_CALIB_BINS] = {0}, l[256], q[256], sum = 0;
    for (size_t i = 0; i < cal->n; i++) {
        const float *lp = cal->logp + i * (size_t)k;
        double mx = -INFINITY, z = 0;
        for (int c = 0; c < k; c++)
            l[c] = lp[c], mx = beta * l[c] > mx ? beta * l[c] : mx;
        for (int c = 0; c < k; c++)
            z += exp(beta * l[c] - mx);
        sum += mx + log(z) - beta * l[cal->label[i]];
        if (ece) {
            soften(l, k, beta, q);
            bin_pixel(count, conf, hits, q, k, cal->label[i]);
        }
    }
    if (ece)
        *ece = ece_of(count, conf, hits);
    return cal->n ? sum / (double)cal->n : NAN;
}

void nr_calib_fit(const nr_calibration *cal, nr_calib_fit_result *r)
{
    memset(r, 0, sizeof *r);
    r->pixels = cal->n;
    r->temperature = 1;
    r->nll_before = nll(cal, 1.0, &r->ece_before);
    if (cal->n == 0) {
        r->nll_after = r->nll_before, r->ece_after = r->ece_before;
        return;
    }
    const double g = (sqrt(5.0) - 1) / 2; /* golden section on beta in [0.05, 20] */
    double a = 0.05, b = 20, x1 = b - g * (b - a), x2 = a + g * (b - a);
    double f1 = nll(cal, x1, NULL), f2 = nll(cal, x2, NULL);
    while (b - a > 1e-6 * (a + b)) {
        if (f1 <= f2) {
            b = x2, x2 = x1, f2 = f1;
            x1 = b - g * (b - a), f1 = nll(cal, x1, NULL);
        } else {
            a = x1, x1 = x2, f1 = f2;
            x2 = a + g * (b - a), f2 = nll(cal, x2, NULL);
        }
    }
    double beta = (a + b) / 2;
    r->temperature = 1 / beta;
    r->nll_after = nll(cal, beta, &r->ece_after);
}

int nr_calib_save(const char *path, const nr_calib_fit_result *r, const char *from, char *err, size_t errlen)
{
    ng_atomic a;
    if (ng_atomic_open(&a, path, err, errlen) != 0)
        return -1;
    fprintf(a.fp, "{\"kind\":\"netrun temperature\",\"temperature\":%.9g,\"fitted_on\":", r->temperature);
    nr_json_put_str(a.fp, from);
    fprintf(a.fp, ",\"pixels\":%zu,\"nll_before\":", r->pixels);
    nr_metrics_json_num(a.fp, r->nll_before);
    fprintf(a.fp, ",\"nll_after\":");
    nr_metrics_json_num(a.fp, r->nll_after);
    fprintf(a.fp, "}\n");
    return ng_atomic_commit(&a, 0, err, errlen);
}

int nr_calib_parse(const char *text, size_t n, const char *path, double *t, char *err, size_t errlen)
{
    char why[256];
    nr_json *j = nr_json_parse(text, n, why, sizeof why);
    if (!j)
        return ng_fail(err, errlen, "%s:%s", path, why);
    const nr_json *kind = nr_json_get(j, "kind"), *tj = nr_json_get(j, "temperature");
    int rc = -1;
    if (j->type != NR_JSON_OBJ || !kind || kind->type != NR_JSON_STR || strcmp(kind->str, "netrun temperature"))
        ng_fail(err, errlen, "%s: key \"kind\" must be \"netrun temperature\"", path);
    else if (!tj || tj->type != NR_JSON_NUM || !(tj->num > 0 && tj->num <= 100))
        ng_fail(err, errlen, "%s: key \"temperature\" must be a number in (0, 100]", path);
    else
        *t = tj->num, rc = 0;
    nr_json_free(j);
    return rc;
}

int nr_calib_load(const char *path, double *t, char *err, size_t errlen)
{
    size_t n;
    char *text = ng_read_file(path, &n);
    if (!text)
        return ng_fail(err, errlen, "%s: cannot read the temperature file", path);
    int rc = nr_calib_parse(text, n, path, t, err, errlen);
    free(text);
    return rc;
}

void nr_calib_print_json(FILE *out, const nr_calibration *cal, const nr_calib_fit_result *r)
{
    fprintf(out, ",\"calibration\":{\"ece\":");
    nr_metrics_json_num(out, nr_calib_ece(cal));
    fprintf(out, ",\"bins\":%d,\"temperature\":%.9g,\"reliability\":[", NR_CALIB_BINS, cal->temperature);
    for (int b = 0; b < NR_CALIB_BINS; b++) {
        fprintf(out, "%s{\"count\":%lld,\"confidence\":", b ? "," : "", (long long)cal->count[b]);
        nr_metrics_json_num(out, cal->count[b] ? cal->conf[b] / (double)cal->count[b] : NAN);
        fprintf(out, ",\"accuracy\":");
        nr_metrics_json_num(out, cal->count[b] ? cal->hits[b] / (double)cal->count[b] : NAN);
        fputc('}', out);
    }
    fputc(']', out);
    if (r) {
        fprintf(out, ",\"fit\":{\"temperature\":%.9g,\"pixels\":%zu,\"nll_before\":", r->temperature, r->pixels);
        nr_metrics_json_num(out, r->nll_before);
        fprintf(out, ",\"nll_after\":");
        nr_metrics_json_num(out, r->nll_after);
        fprintf(out, ",\"ece_before\":");
        nr_metrics_json_num(out, r->ece_before);
        fprintf(out, ",\"ece_after\":");
        nr_metrics_json_num(out, r->ece_after);
        fputc('}', out);
    }
    fputc('}', out);
}
