/* bench.c — netrun bench (bench.h): synthetic inputs, timed steps, and the
 * per-op-kind profile from the executor's per-node times. */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "util.h"

double nr_node_flops(const ng_graph *g, const ng_node *n)
{
    const ng_tensor *T = g->tensors;
    switch (n->op) {
    case NG_OP_CONV2D: { /* y (N,K,OH,OW), w (K,C,KH,KW) */
        const ng_tensor *y = &T[n->out], *w = &T[n->in[1]];
        return 2.0 * (double)ng_tensor_nelem(y) * w->dim[1] * w->dim[2] * w->dim[3];
    }
    case NG_OP_CONV2D_BWD_DATA: { /* dy (N,K,OH,OW), w (K,C,KH,KW) */
        const ng_tensor *dy = &T[n->in[0]], *w = &T[n->in[1]];
        return 2.0 * (double)ng_tensor_nelem(dy) * w->dim[1] * w->dim[2] * w->dim[3];
    }
    case NG_OP_CONV_TRANSPOSE2D: { /* x (N,CI,H,W), w (CI,CO,KH,KW): each x times CO*KH*KW */
        const ng_tensor *x = &T[n->in[0]], *w = &T[n->in[1]];
        return 2.0 * (double)ng_tensor_nelem(x) * w->dim[1] * w->dim[2] * w->dim[3];
    }
    case NG_OP_CONV2D_BWD_FILTER: { /* dy (N,K,OH,OW), dw (K,C,KH,KW) */
        const ng_tensor *dy = &T[n->in[0]], *dw = &T[n->out];
        return 2.0 * (double)ng_tensor_nelem(dy) * dw->dim[1] * dw->dim[2] * dw->dim[3];
    }
    case NG_OP_CONCAT:
    case NG_OP_SLICE_C:
    case NG_OP_SLICE:
    case NG_OP_PAD:
    case NG_OP_RESHAPE:
    case NG_OP_STOP_GRADIENT:
    case NG_OP_UPSAMPLE:
    case NG_OP_DROPOUT_MASK:
    case NG_OP_ONE_HOT:
    case NG_OP_VALID_MASK:
        return 0;
    case NG_OP_ADAM:
    case NG_OP_SGD:
        return (double)ng_tensor_nelem(&T[n->in[0]]);
    default: /* arithmetic: one per element of the larger of input 0 and the output */
        break;
    }
    double a = n->n_in ? (double)ng_tensor_nelem(&T[n->in[0]]) : 0;
    double b = n->out >= 0 ? (double)ng_tensor_nelem(&T[n->out]) : 0;
    return a > b ? a : b;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* A random image in [0, 1) and uniform labels; class weights from them. */
static void fill_inputs(nr_model *m, uint64_t seed)
{
    const ng_graph *g = nr_model_graph(m);
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
    float *im = nr_model_state(m, g->bind.image);
    int64_t n = ng_tensor_nelem(&g->tensors[g->bind.image]);
    for (int64_t i = 0; i < n; i++)
        im[i] = (float)((ng_splitmix64_next(&s) >> 40) * (1.0 / 16777216.0));
    if (g->bind.labels < 0)
        return;
    int32_t *lb = nr_model_state(m, g->bind.labels);
    int64_t counts[NG_MAX_CLASSES] = {0};
    n = ng_tensor_nelem(&g->tensors[g->bind.labels]);
    for (int64_t i = 0; i < n; i++) {
        lb[i] = (int32_t)(ng_splitmix64_next(&s) % (uint64_t)g->bind.classes);
        counts[lb[i]]++;
    }
    nr_model_set_class_weights(m, counts, NULL);
}

typedef struct {
    double ns, flops;
    int calls;
} kind_stat;

int nr_bench(nr_model *m, const nr_bench_opts *o, FILE *out, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    const ng_entry *en = ng_graph_entry(g, o->entry);
    if (!en)
        return ng_fail(err, errlen, "%s: the graph has no '%s' entry", g->source ? g->source : "graph",
                       o->entry);
    fill_inputs(m, o->seed);
    for (int i = 0; i < o->warmup; i++)
        if (nr_model_run(m, o->entry) != 0)
            return ng_fail(err, errlen, "%s", nr_model_error(m));
    double *t = malloc((size_t)o->steps * sizeof *t);
    if (!t)
        return ng_fail(err, errlen, "out of memory");
    nr_model_set_profile(m, 1);
    int train = strcmp(o->entry, "train") == 0;
    double check_s = 0; /* train: nr_train's test of the parameters after each step (checkpoint.h) */
    char why[1024];
    for (int i = 0; i < o->steps; i++) {
        double t0 = ng_now();
        if (nr_model_run(m, o->entry) != 0) {
            free(t);
            return ng_fail(err, errlen, "%s", nr_model_error(m));
        }
        t[i] = ng_now() - t0;
        t0 = ng_now();
        if (train)
            nr_ckpt_check_finite(m, 0, "", why, sizeof why);
        check_s += (ng_now() - t0) / o->steps;
    }
    nr_model_set_profile(m, 0);
    const double *node_ns = nr_model_profile(m, o->entry);
    kind_stat kinds[NG_OP_COUNT];
    memset(kinds, 0, sizeof kinds);
    double flops = 0, total_ns = 0;
    for (int i = 0; i < en->n_nodes; i++) {
        const ng_node *n = &en->nodes[i];
        double f = nr_node_flops(g, n);
        kinds[n->op].ns += node_ns[i] / o->steps;
        kinds[n->op].flops += f;
        kinds[n->op].calls++;
        flops += f;
        total_ns += node_ns[i] / o->steps;
    }
    qsort(t, (size_t)o->steps, sizeof *t, cmp_double);
    double median = o->steps % 2 ? t[o->steps / 2] : 0.5 * (t[o->steps / 2 - 1] + t[o->steps / 2]);
    int order[NG_OP_COUNT], n_kinds = 0;
    for (int k = 0; k < NG_OP_COUNT; k++)
        if (kinds[k].calls) {
            int j = n_kinds++;
            while (j > 0 && kinds[order[j - 1]].ns < kinds[k].ns) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = k;
        }
    /* the precision the convolutions ran at (f32 where the machine lacks bf16) */
    const char *prec = nr_model_precision(m) == NR_PREC_BF16 ? "bf16" : "f32";
    if (o->median_s)
        *o->median_s = median;
    if (!out) {
        /* the median alone */
    } else if (o->json) {
        fprintf(out, "{\"entry\": \"%s\", \"steps\": %d, \"warmup\": %d, \"threads\": %d, "
                     "\"precision\": \"%s\", \"median_s\": %.6f, \"min_s\": %.6f, \"max_s\": %.6f, \"flops\": %.0f, "
                     "\"gflops\": %.3f, \"finite_check_s\": %.6f, \"ops\": [",
                o->entry, o->steps, o->warmup, o->threads, prec, median, t[0], t[o->steps - 1], flops,
                flops / median * 1e-9, check_s);
        for (int j = 0; j < n_kinds; j++) {
            const kind_stat *k = &kinds[order[j]];
            fprintf(out, "%s{\"op\": \"%s\", \"s_per_step\": %.6f, \"share\": %.4f, \"calls\": %d, "
                         "\"gflops\": %.3f}", j ? ", " : "", ng_ops[order[j]].name, k->ns * 1e-9,
                    total_ns > 0 ? k->ns / total_ns : 0, k->calls, k->ns > 0 ? k->flops / k->ns : 0);
        }
        fprintf(out, "]}\n");
    } else {
        fprintf(out, "%s entry of %s: %d steps after %d warm-up, %d threads, precision %s\n", o->entry,
                g->source ? g->source : "graph", o->steps, o->warmup, o->threads, prec);
        fprintf(out, "step: median %.4f s (min %.4f, max %.4f); %.2f GFLOP per step, %.1f GFLOP/s\n",
                median, t[0], t[o->steps - 1], flops * 1e-9, flops / median * 1e-9);
        if (train)
            fprintf(out, "parameters checked finite after each step: %.4f ms (%.2f%% of the median step)\n",
                    check_s * 1e3, 100 * check_s / median);
        fprintf(out, "%-20s %10s %7s %6s %9s\n", "op", "ms/step", "share", "calls", "GFLOP/s");
        for (int j = 0; j < n_kinds; j++) {
            const kind_stat *k = &kinds[order[j]];
            fprintf(out, "%-20s %10.3f %6.1f%% %6d %9.1f\n", ng_ops[order[j]].name, k->ns * 1e-6,
                    total_ns > 0 ? 100 * k->ns / total_ns : 0, k->calls, k->ns > 0 ? k->flops / k->ns : 0);
        }
        fprintf(out, "(op times sum to %.4f s per step; flops: 2 per multiply-add of a convolution,\n"
                     " 1 per element of other arithmetic, 0 for data movement)\n", total_ns * 1e-9);
    }
    free(t);
    return 0;
}
