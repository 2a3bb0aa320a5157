/* main.c — netrun, the command line: info, train, eval, predict, bench.
 * Exit status: 0 ok, 1 a failure (bad file, bad data, I/O), 2 usage;
 * train stopped by SIGINT or SIGTERM: 128 + the signal (130, 143). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kernels.h"
#include "train.h"

#define NETRUN_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: netrun COMMAND GRAPH.netg [options]\n"
            "  info    GRAPH.netg                     entry points, inputs, parameters, arena sizes\n"
            "  train   GRAPH.netg --data DIR [--val DIR] [--epochs N | --steps N] [--seed N]\n"
            "          [--no-shuffle] [--augment] [--init CKPT] [--resume CKPT] [--out RUNDIR]\n"
            "          [--checkpoint-every N] (also write last.safetensors every N steps)\n"
            "          [--best-metric miou_fg|miou|fw_iou|mdice_fg|worst_iou_fg|pixel_accuracy|val_loss]\n"
            "  eval    GRAPH.netg --weights CKPT --data DIR [--json]\n"
            "  predict GRAPH.netg --weights CKPT --input DIR|FILE --output DIR\n"
            "  bench   GRAPH.netg [--entry train|infer] [--steps N] [--warmup N] [--json]\n"
            "          step time on synthetic inputs, GFLOP/s and a per-op profile\n"
            "common: --threads N (default: all cores), --quiet,\n"
            "        --debug-unshared (every tensor in its own buffer: checks the memory plan)\n"
            "A dataset DIR holds images/*.png and masks/*.png with the same names;\n"
            "mask pixel values are class indices, 255 = ignore.\n");
}

typedef struct {
    const char *data, *val, *out, *init, *resume, *weights, *input, *output, *best_metric, *entry;
    int epochs, shuffle, augment, json, quiet, threads, unshared, warmup;
    long long steps, checkpoint_every;
    unsigned long long seed;
} options;

static int parse_num(const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "netrun: %s takes an integer in %lld..%lld, not '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->shuffle = 1;
    o->seed = 1;
    o->out = "run";
    o->warmup = -1;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char **str = NULL;
        if (!strcmp(a, "--no-shuffle")) { o->shuffle = 0; continue; }
        if (!strcmp(a, "--augment")) { o->augment = 1; continue; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (!strcmp(a, "--debug-unshared")) { o->unshared = 1; continue; }
        if (!strcmp(a, "--data")) str = &o->data;
        else if (!strcmp(a, "--val")) str = &o->val;
        else if (!strcmp(a, "--out")) str = &o->out;
        else if (!strcmp(a, "--init")) str = &o->init;
        else if (!strcmp(a, "--resume")) str = &o->resume;
        else if (!strcmp(a, "--weights")) str = &o->weights;
        else if (!strcmp(a, "--input")) str = &o->input;
        else if (!strcmp(a, "--output")) str = &o->output;
        else if (!strcmp(a, "--best-metric")) str = &o->best_metric;
        else if (!strcmp(a, "--entry")) str = &o->entry;
        else if (strcmp(a, "--epochs") && strcmp(a, "--steps") && strcmp(a, "--seed") && strcmp(a, "--threads") &&
                 strcmp(a, "--warmup") && strcmp(a, "--checkpoint-every")) {
            fprintf(stderr, "netrun: unknown option '%s'\n", a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "netrun: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (str) {
            *str = v;
            continue;
        }
        long long x;
        if (!strcmp(a, "--epochs")) {
            if (parse_num(a, v, 1, 1000000, &x)) return -1;
            o->epochs = (int)x;
        } else if (!strcmp(a, "--steps")) {
            if (parse_num(a, v, 1, 1LL << 40, &x)) return -1;
            o->steps = x;
        } else if (!strcmp(a, "--checkpoint-every")) {
            if (parse_num(a, v, 1, 1LL << 40, &x)) return -1;
            o->checkpoint_every = x;
        } else if (!strcmp(a, "--warmup")) {
            if (parse_num(a, v, 0, 1000, &x)) return -1;
            o->warmup = (int)x;
        } else if (!strcmp(a, "--seed")) {
            if (parse_num(a, v, 0, 1LL << 62, &x)) return -1;
            o->seed = (unsigned long long)x;
        } else {
            if (parse_num(a, v, 0, 1024, &x)) return -1;
            o->threads = (int)x;
        }
    }
    return 0;
}

static int need(const char *cmd, const char *opt, const char *v)
{
    if (v)
        return 0;
    fprintf(stderr, "netrun %s: %s is required\n", cmd, opt);
    return -1;
}

static void human(char *buf, size_t n, double bytes)
{
    if (bytes >= 1 << 30)
        snprintf(buf, n, "%.2f GiB", bytes / (1 << 30));
    else
        snprintf(buf, n, "%.1f MiB", bytes / (1 << 20));
}

static void shape(char *buf, size_t n, const ng_tensor *t)
{
    buf[0] = 0;
    for (int d = 0; d < t->ndim; d++)
        snprintf(buf + strlen(buf), n - strlen(buf), d ? "x%d" : "%d", (int)t->dim[d]);
}

static void info(const ng_graph *g)
{
    char a[64], b[64];
    int64_t params = 0, n_params = 0, persistent = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        if (x->role == NG_ROLE_PARAM) {
            params += ng_tensor_nelem(x);
            n_params++;
        }
        if (ng_role_is_persistent(x->role))
            persistent += ng_tensor_bytes(x);
    }
    printf("model: %s\n", g->source ? g->source : "?");
    shape(a, sizeof a, &g->tensors[g->bind.image]);
    printf("input %s: f32 %s (N, C, H, W)\n", g->tensors[g->bind.image].name, a);
    if (g->bind.labels >= 0) {
        shape(a, sizeof a, &g->tensors[g->bind.labels]);
        printf("input %s: labels %s, %d classes, ignore %d\n", g->tensors[g->bind.labels].name, a,
               g->bind.classes, g->bind.ignore);
    }
    shape(a, sizeof a, &g->tensors[g->bind.output]);
    printf("output %s: %s\n", g->bind.output_name, a);
    if (g->bind.class_weights >= 0) {
        const ng_tensor *w = &g->tensors[g->bind.class_weights];
        if (w->init == NG_INIT_CLASS_WEIGHTS)
            printf("class weights: balanced, from the training masks%s\n", w->init_arg[2] > 0 ? " (clipped)" : "");
        else
            printf("class weights: given in the model\n");
    }
    if (g->bind.optimizer && g->bind.optimizer[0])
        printf("optimizer: %s\n", g->bind.optimizer);
    human(a, sizeof a, (double)persistent);
    printf("parameters: %lld in %lld tensors; persistent state %s\n", (long long)params, (long long)n_params, a);
    for (int e = 0; e < g->n_entries; e++) {
        const ng_entry *en = &g->entries[e];
        human(b, sizeof b, (double)en->arena_bytes);
        printf("entry %-6s %5d ops, arena %s\n", en->name, en->n_nodes, b);
    }
}

static nr_model *load(const char *path, unsigned long long seed)
{
    char err[1024];
    ng_graph *g = ng_graph_load(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "netrun: %s\n", err);
        return NULL;
    }
    nr_model *m = nr_model_new(g, seed, err, sizeof err);
    if (!m)
        fprintf(stderr, "netrun: %s\n", err);
    return m;
}

/* An argument as the shell reads it back: 'quoted' unless plainly safe. */
static void put_shell_word(FILE *out, const char *a)
{
    if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./,:@%") == strlen(a)) {
        fputs(a, out);
        return;
    }
    fputc('\'', out);
    for (; *a; a++)
        fputs(*a == '\'' ? "'\\''" : (char[]){*a, 0}, out);
    fputc('\'', out);
}

/* How to continue a stopped train: the same command without --init and
 * --resume, with --resume OUT/last.safetensors. */
static void print_resume(int argc, char **argv, const char *out)
{
    fputs("to continue: ", stderr);
    for (int i = 0; i < argc; i++) {
        if (i >= 3 && (!strcmp(argv[i], "--init") || !strcmp(argv[i], "--resume")) && i + 1 < argc) {
            i++;
            continue;
        }
        put_shell_word(stderr, argv[i]);
        fputc(' ', stderr);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/last.safetensors", out);
    fputs("--resume ", stderr);
    put_shell_word(stderr, path);
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("netrun %s (netg format %d)\n", NETRUN_VERSION, NG_VERSION);
        return 0;
    }
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    signal(SIGXFSZ, SIG_IGN); /* past a file size limit a write fails (EFBIG), as on a full disk */
    const char *cmd = argv[1], *path = argv[2];
    options o;
    if (strcmp(cmd, "info") && strcmp(cmd, "train") && strcmp(cmd, "eval") && strcmp(cmd, "predict") &&
        strcmp(cmd, "bench")) {
        fprintf(stderr, "netrun: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    if (!strcmp(cmd, "train") && need(cmd, "--data DIR", o.data))
        return 2;
    if (o.best_metric) {
        int known = 0;
        for (int i = 0; nr_metric_names[i]; i++)
            known |= !strcmp(o.best_metric, nr_metric_names[i]);
        if (!known) {
            fprintf(stderr, "netrun: unknown --best-metric '%s' (miou_fg, miou, fw_iou, mdice_fg, worst_iou_fg, "
                            "pixel_accuracy or val_loss)\n", o.best_metric);
            return 2;
        }
    }
    if (!strcmp(cmd, "train") && o.init && o.resume) {
        fprintf(stderr, "netrun train: give --init or --resume, not both\n");
        return 2;
    }
    if (!strcmp(cmd, "eval") && (need(cmd, "--weights CKPT", o.weights) || need(cmd, "--data DIR", o.data)))
        return 2;
    if (!strcmp(cmd, "predict") && (need(cmd, "--weights CKPT", o.weights) || need(cmd, "--input DIR|FILE", o.input) ||
                                    need(cmd, "--output DIR", o.output)))
        return 2;
    nr_kernels_set_threads(o.threads);

    nr_model *m = load(path, o.seed);
    if (!m)
        return 1;
    nr_model_set_unshared(m, o.unshared);
    const ng_graph *g = nr_model_graph(m);
    char err[2048] = "out of memory";
    int rc = 0;
    if (!strcmp(cmd, "info")) {
        info(g);
    } else if (!strcmp(cmd, "bench")) {
        nr_bench_opts b = {o.entry ? o.entry : "train", o.steps ? (int)(o.steps < 100000 ? o.steps : 100000) : 10,
                           o.warmup >= 0 ? o.warmup : 2, nr_kernels_threads(), o.json, o.seed};
        rc = nr_bench(m, &b, stdout, err, sizeof err);
    } else if (!strcmp(cmd, "train")) {
        nr_train_opts t = {o.data, o.val, o.out, o.epochs, o.steps, o.seed, o.shuffle, o.augment,
                           o.init, o.resume, o.best_metric, o.quiet, o.checkpoint_every};
        nr_train_catch_signals();
        rc = nr_train(m, &t, err, sizeof err);
        if (rc == NR_TRAIN_STOPPED) {
            print_resume(argc, argv, o.out);
            nr_model_free(m);
            return 128 + nr_train_stop_signal();
        }
    } else if (!strcmp(cmd, "eval")) {
        nr_dataset *ds = NULL;
        nr_confusion conf = {0};
        double loss;
        rc = -1;
        if (!ng_graph_entry(g, "eval"))
            snprintf(err, sizeof err, "%s: the model has no loss, so it cannot be evaluated", path);
        else if (nr_ckpt_load(m, o.weights, 0, NULL, err, sizeof err) == 0 &&
                 (ds = nr_dataset_open(o.data, 1, err, sizeof err)) &&
                 nr_confusion_init(&conf, g->bind.classes) == 0 &&
                 nr_evaluate(m, ds, &conf, &loss, err, sizeof err) == 0) {
            nr_metrics mt;
            if (nr_metrics_compute(&conf, &mt) == 0) {
                if (o.json) {
                    nr_metrics_print_json(stdout, &mt, &conf, loss);
                } else {
                    printf("%d images from %s, loss %.4f\n", nr_dataset_count(ds), o.data, loss);
                    nr_metrics_print(stdout, &mt);
                    nr_metrics_warn_collapse(stdout, &mt);
                }
                nr_metrics_free(&mt);
                rc = 0;
            }
        }
        nr_confusion_free(&conf);
        nr_dataset_free(ds);
    } else {
        nr_dataset *ds = NULL;
        rc = -1;
        if (nr_ckpt_load(m, o.weights, 0, NULL, err, sizeof err) == 0 &&
            (ds = nr_dataset_open(o.input, 0, err, sizeof err)))
            rc = nr_predict(m, ds, o.output, o.quiet, err, sizeof err);
        nr_dataset_free(ds);
    }
    if (rc != 0)
        fprintf(stderr, "netrun %s: %s\n", cmd, err);
    nr_model_free(m);
    return rc ? 1 : 0;
}
