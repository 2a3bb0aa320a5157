/* main.c — netrun, the command line: info, train, eval, predict, bench, report, export.
 * Exit status: 0 ok, 1 a failure (bad file, bad data, I/O), 2 usage;
 * train stopped by SIGINT or SIGTERM: 128 + the signal (130, 143). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "cpu.h"
#include "dist.h"
#include "export.h"
#include "eval_run.h"
#include "report.h"
#include "kernels.h"
#include "layout.h"
#include "options.h"
#include "plan.h"
#include "train.h"
#include "util.h"

#define NETRUN_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: netrun COMMAND GRAPH.netg [options]\n"
            "  info    GRAPH.netg                     entry points, inputs, parameters, arena sizes\n"
            "  train   GRAPH.netg --data DIR [--val DIR] [--epochs N | --steps N] [--seed N]\n"
            "          [--no-shuffle] [--augment] [--init CKPT [--init-strict]] [--freeze GLOB[,GLOB]]...\n"
            "          [--resume CKPT] (with --steps MORE: extends a finished run) [--out RUNDIR]\n"
            "          [--overwrite] (replace an earlier run in RUNDIR; else it must be empty)\n"
            "          [--patience N] (stop after N validations without a better best score)\n"
            "          [--folds K --fold I] (validate on fold I of K of --data; RUNDIR/split.json)\n"
            "          [--checkpoint-every N] (also write last.safetensors every N steps)\n"
            "          [--best-metric miou_fg|miou|fw_iou|mdice_fg|worst_iou_fg|pixel_accuracy|val_loss]\n"
            "          [--split S] [--val-split S] (VOC layout) [--profile] (data wait, allreduce per step)\n"
            "  eval    GRAPH.netg --weights CKPT[,CKPT...] --data DIR [--json] [--tta] [--prior-correction TAU]\n"
            "          [--pooled-only] (no per-image figures: IoU, Dice, HD95, NSD, boundary IoU; no ECE)\n"
            "          [--postprocess FILE] [--temperature FILE] (apply them)\n"
            "          [--choose-postprocessing] [--fit-temperature] (choose them on this data and write\n"
            "          postprocessing.json, temperature.json beside the (first) CKPT)\n"
            "  predict GRAPH.netg --weights CKPT[,CKPT...] --input DIR|FILE --output DIR [--overlay]\n"
            "          (--overlay: also OUTPUT/overlays/, the masks over the images; with masks\n"
            "          image | truth | prediction | errors)   [--tta] [--prior-correction TAU] [--split S]\n"
            "          [--postprocess FILE]\n"
            "          (several checkpoints of the graph: an ensemble, their probabilities averaged)\n"
            "          [--probabilities] (also OUTPUT/NAME.npy: float32 K x H x W, what the mask is argmax of)\n"
            "  export  GRAPH.netg --weights CKPT -o MODEL.onnx [--postprocess FILE] [--temperature FILE]\n"
            "          the infer entry as ONNX (opset 17) with a manifest of netrun predict's pre- and\n"
            "          post-processing (metadata 'netrun')\n"
            "  report  RUNDIR [--data VAL_DIR] [--graph GRAPH.netg] [-o FILE]\n"
            "          one HTML page of a training run (default RUNDIR/report.html)\n"
            "  bench   GRAPH.netg [--entry train|infer] [--steps N] [--warmup N] [--json]\n"
            "          step time on synthetic inputs, GFLOP/s and a per-op profile\n"
            "  plan    DATA [--memory SIZE] [--time DURATION] [--model FILE.net] -o PLANNED.net [--json]\n"
            "          a configuration (SIZE, DEPTH, BASE, BATCH, steps) that fits the data, memory and time\n"
            "common: --threads N (default: all cores; under mpirun, the rank's share of them), --quiet,\n"
            "        --debug-unshared (every tensor in its own buffer: checks the memory plan),\n"
            "        --set KEY=VALUE (over the model file's `option KEY = VALUE`; netrun info lists them)\n"
            "Data-parallel: mpirun -np N netrun train|eval ... (N ranks of the graph's batch each;\n"
            "        README.md, \"Data-parallel training\")\n"
            "A dataset DIR holds images/*.png|jpg and masks/*.png (same names but for the extension),\n"
            "or is a VOC root (JPEGImages, SegmentationClass, ImageSets/Segmentation/SPLIT.txt), or a\n"
            "list file LIST.txt of 'IMAGE MASK' lines; mask pixel values are class indices, 255 = ignore.\n");
}

typedef struct {
    const char *data, *val, *out, *init, *resume, *weights, *input, *output, *best_metric, *entry;
    const char *graph, *report_out;
    int epochs, shuffle, augment, json, quiet, threads, unshared, warmup, overlay, probabilities;
    /* eval: what it measures, applies and chooses (eval_run.h) */
    const char *postprocess, *temperature;
    int pooled_only, choose_postprocessing, fit_temperature;
    long long steps, checkpoint_every;
    unsigned long long seed;
    /* data: the VOC split of --data and --val; settings over the model
     * file's options (--set KEY=VALUE, --tta, --prior-correction), applied
     * in command-line order; train --profile */
    const char *split, *val_split;
    const char *set_key[64], *set_val[64];
    int n_sets, profile, overwrite;
    /* train: transfer learning, early stopping, cross-validation */
    int init_strict, n_freeze, patience, folds, fold;
    const char *freeze[64];
} options;

/* The settings of the command line, for load(). */
static const options *settings;

/* Note --set KEY=VALUE (or key, value): checked against the option table
 * now, applied to the graph by load(). */
static int add_setting(options *o, const char *key, const char *value, const char *arg)
{
    char k[256], canon[4096], msg[1024];
    if (!key) {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof k) {
            fprintf(stderr, "netrun: --set takes KEY=VALUE, not '%s'\n", arg);
            return -1;
        }
        memcpy(k, arg, (size_t)(eq - arg));
        k[eq - arg] = 0;
        key = k, value = eq + 1;
    }
    if (nr_option_check(key, value, canon, sizeof canon, msg, sizeof msg) != 0) {
        fprintf(stderr, "netrun: %s\n", msg);
        return -1;
    }
    if (o->n_sets == 64) {
        fprintf(stderr, "netrun: more than 64 settings\n");
        return -1;
    }
    o->set_key[o->n_sets] = arg ? arg : key; /* arg: split again by load() */
    o->set_val[o->n_sets++] = arg ? NULL : value;
    return 0;
}

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
    o->fold = -1;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char **str = NULL;
        if (!strcmp(a, "--no-shuffle")) { o->shuffle = 0; continue; }
        if (!strcmp(a, "--augment")) { o->augment = 1; continue; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--overlay")) { o->overlay = 1; continue; }
        if (!strcmp(a, "--probabilities")) { o->probabilities = 1; continue; }
        if (!strcmp(a, "--pooled-only")) { o->pooled_only = 1; continue; }
        if (!strcmp(a, "--choose-postprocessing")) { o->choose_postprocessing = 1; continue; }
        if (!strcmp(a, "--fit-temperature")) { o->fit_temperature = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (!strcmp(a, "--debug-unshared")) { o->unshared = 1; continue; }
        if (!strcmp(a, "--profile")) { o->profile = 1; continue; }
        if (!strcmp(a, "--overwrite")) { o->overwrite = 1; continue; }
        if (!strcmp(a, "--init-strict")) { o->init_strict = 1; continue; }
        if (!strcmp(a, "--freeze") && i + 1 < argc) {
            if (o->n_freeze == 64) {
                fprintf(stderr, "netrun: more than 64 --freeze options (give a comma-separated list)\n");
                return -1;
            }
            o->freeze[o->n_freeze++] = argv[++i];
            continue;
        }
        if (!strcmp(a, "--tta")) {
            if (add_setting(o, "tta", "flips", NULL)) return -1;
            continue;
        }
        if ((!strcmp(a, "--set") || !strcmp(a, "--prior-correction")) && i + 1 >= argc) {
            fprintf(stderr, "netrun: %s needs a value\n", a);
            return -1;
        }
        if (!strcmp(a, "--set")) {
            if (add_setting(o, NULL, NULL, argv[++i])) return -1;
            continue;
        }
        if (!strcmp(a, "--prior-correction")) {
            if (add_setting(o, "prior_correction", argv[++i], NULL)) return -1;
            continue;
        }
        if (!strcmp(a, "--split")) str = &o->split;
        else if (!strcmp(a, "--val-split")) str = &o->val_split;
        else
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
        else if (!strcmp(a, "--graph")) str = &o->graph;
        else if (!strcmp(a, "--postprocess")) str = &o->postprocess;
        else if (!strcmp(a, "--temperature")) str = &o->temperature;
        else if (!strcmp(a, "-o")) str = &o->report_out;
        else if (strcmp(a, "--epochs") && strcmp(a, "--steps") && strcmp(a, "--seed") && strcmp(a, "--threads") &&
                 strcmp(a, "--warmup") && strcmp(a, "--checkpoint-every") && strcmp(a, "--patience") &&
                 strcmp(a, "--folds") && strcmp(a, "--fold") && strcmp(a, "--freeze")) {
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
        } else if (!strcmp(a, "--patience")) {
            if (parse_num(a, v, 1, 1000000, &x)) return -1;
            o->patience = (int)x;
        } else if (!strcmp(a, "--folds")) {
            if (parse_num(a, v, 2, 1000000, &x)) return -1;
            o->folds = (int)x;
        } else if (!strcmp(a, "--fold")) {
            if (parse_num(a, v, 0, 1000000, &x)) return -1;
            o->fold = (int)x;
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
            printf("class weights: %s, from the training masks%s\n", ng_cw_name((int)w->init_arg[0]),
                   w->init_arg[2] > 0 ? " (clipped)" : "");
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
    printf("options (model file and --set; runtime/graph/options.def):\n");
    nr_options_print(stdout, g);
}

static nr_model *load(const char *path, unsigned long long seed)
{
    char err[1024];
    ng_graph *g = ng_graph_load(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "netrun: %s\n", err);
        return NULL;
    }
    int bad = nr_options_check_graph(g, err, sizeof err); /* a .netg of another netc */
    for (int i = 0; !bad && settings && i < settings->n_sets; i++)
        bad = settings->set_val[i] ? nr_option_set(g, settings->set_key[i], settings->set_val[i], err, sizeof err)
                                   : nr_option_set_arg(g, settings->set_key[i], err, sizeof err);
    if (bad) {
        fprintf(stderr, "netrun: %s\n", err);
        ng_graph_free(g);
        return NULL;
    }
    nr_model *m = nr_model_new(g, nr_backend_cpu(), seed, err, sizeof err);
    if (!m)
        fprintf(stderr, "netrun: %s\n", err);
    return m;
}

/* eval and predict on a VOC root read the split given, else "val". */
static const char *voc_split(const char *dir, const char *split)
{
    return split ? split : nr_layout_is_voc(dir) ? "val" : NULL;
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

/* netrun report RUNDIR: with a graph (--graph, or the one run.json names)
 * the best checkpoint is evaluated on the validation folder (--data, or
 * run.json's) and the page gets overlays; without, it shows the logs. */
static int report(const options *o, const char *run_dir)
{
    char err[2048] = "out of memory", gbuf[4096];
    const char *graph = o->graph ? o->graph : nr_report_run_graph(run_dir, gbuf, sizeof gbuf);
    struct stat st;
    if (!o->graph && graph && stat(graph, &st) != 0) {
        if (!o->quiet)
            fprintf(stderr, "netrun report: %s (named in %s/run.json): %s; no overlays (give --graph)\n", graph,
                    run_dir, strerror(errno));
        graph = NULL;
    }
    nr_model *m = NULL;
    if (graph && !(m = load(graph, o->seed)))
        return 1;
    if (m)
        nr_model_set_unshared(m, o->unshared);
    if (!m && o->data) {
        fprintf(stderr, "netrun report: --data needs the model: give --graph GRAPH.netg\n");
        return 2;
    }
    nr_report_opts ro = {m, o->data, o->split, o->report_out, 1, 0};
    int rc = nr_report_make(run_dir, &ro, err, sizeof err);
    if (rc != 0 && m && !o->data && !o->graph) { /* the page the files make, at least */
        fprintf(stderr, "netrun report: no gallery: %s\n", err);
        ro.model = NULL;
        rc = nr_report_make(run_dir, &ro, err, sizeof err);
    }
    nr_model_free(m);
    if (rc != 0) {
        fprintf(stderr, "netrun report: %s\n", err);
        return 1;
    }
    if (!o->quiet) {
        if (o->report_out)
            printf("%s\n", o->report_out);
        else
            printf("%s/report.html\n", run_dir);
    }
    return 0;
}

/* A rank's exit before the job's collectives: under mpirun it ends every
 * rank (dist.h), which would otherwise wait for this one forever. */
static int alone(int code)
{
    if (nr_dist_size() > 1)
        nr_dist_abort(code);
    return code;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("netrun %s (netg format %d%s)\n", NETRUN_VERSION, NG_VERSION,
               nr_dist_built() ? ", MPI" : "");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "plan")) /* its own options (jobs/plan.c) */
        return nr_plan_main(argc - 1, argv + 1, nr_backend_cpu());
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    signal(SIGXFSZ, SIG_IGN); /* past a file size limit a write fails (EFBIG), as on a full disk */
    char derr[256];
    if (nr_dist_init(&argc, &argv, derr, sizeof derr) != 0) { /* under mpirun: join the job (dist.h) */
        fprintf(stderr, "netrun: %s\n", derr);
        return 1;
    }
    const char *cmd = argv[1], *path = argv[2];
    options o;
    if (strcmp(cmd, "info") && strcmp(cmd, "train") && strcmp(cmd, "eval") && strcmp(cmd, "predict") &&
        strcmp(cmd, "bench") && strcmp(cmd, "report") && strcmp(cmd, "export")) {
        fprintf(stderr, "netrun: unknown command '%s'\n", cmd);
        usage(stderr);
        return alone(2);
    }
    if (parse_options(argc, argv, &o) != 0)
        return alone(2);
    settings = &o;
    const char *inputs[] = {path, o.data, o.val, o.init, o.weights, o.input, o.graph}; /* not --resume's */
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
        if (inputs[i])
            ng_input_keep(inputs[i]); /* what this command writes must not replace them (util.h) */
    if (!strcmp(cmd, "train") && need(cmd, "--data DIR", o.data))
        return alone(2);
    if (o.best_metric) {
        int known = 0;
        for (int i = 0; nr_metric_names[i]; i++)
            known |= !strcmp(o.best_metric, nr_metric_names[i]);
        if (!known) {
            fprintf(stderr, "netrun: unknown --best-metric '%s' (miou_fg, miou, fw_iou, mdice_fg, worst_iou_fg, "
                            "pixel_accuracy or val_loss)\n", o.best_metric);
            return alone(2);
        }
    }
    if (!strcmp(cmd, "train") && o.init && o.resume) {
        fprintf(stderr, "netrun train: give --init or --resume, not both\n");
        return alone(2);
    }
    if (!strcmp(cmd, "train") && o.init_strict && !o.init) {
        fprintf(stderr, "netrun train: --init-strict needs --init CKPT\n");
        return 2;
    }
    if (!strcmp(cmd, "train") && (o.folds > 0) != (o.fold >= 0)) {
        fprintf(stderr, "netrun train: %s\n",
                o.folds ? "--folds K needs --fold I (0..K-1)" : "--fold I needs --folds K");
        return 2;
    }
    if (!strcmp(cmd, "train") && o.folds && o.fold >= o.folds) {
        fprintf(stderr, "netrun train: --fold %d is not one of the %d folds (0..%d)\n", o.fold, o.folds, o.folds - 1);
        return 2;
    }
    if (!strcmp(cmd, "train") && o.folds && o.val) {
        fprintf(stderr, "netrun train: give --val or --folds, not both (--folds validates on the held-out fold)\n");
        return 2;
    }
    if (!strcmp(cmd, "eval") && (need(cmd, "--weights CKPT", o.weights) || need(cmd, "--data DIR", o.data)))
        return alone(2);
    if (!strcmp(cmd, "predict") && (need(cmd, "--weights CKPT", o.weights) || need(cmd, "--input DIR|FILE", o.input) ||
                                    need(cmd, "--output DIR", o.output)))
        return alone(2);
    if (!strcmp(cmd, "export") && (need(cmd, "--weights CKPT", o.weights) || need(cmd, "-o MODEL.onnx", o.report_out)))
        return alone(2);
    nr_kernels_set_threads(o.threads > 0 ? o.threads : nr_dist_default_threads());
    if (nr_dist_rank() != 0)
        o.quiet = 1; /* rank 0 speaks for the job */
    if (!strcmp(cmd, "report"))
        return report(&o, path);

    nr_model *m = load(path, o.seed);
    if (!m)
        return alone(1);
    nr_model_set_unshared(m, o.unshared);
    const ng_graph *g = nr_model_graph(m);
    char err[2048] = "out of memory";
    int rc = 0;
    nr_ensemble *ens = NULL; /* eval, predict: --weights A[,B...] */
    if (!strcmp(cmd, "info")) {
        info(g);
    } else if (!strcmp(cmd, "export")) {
        nr_postprocess pp;
        nr_export_opts x = {path, o.weights, o.report_out /* -o */, NETRUN_VERSION, o.postprocess ? &pp : NULL, 0};
        rc = -1;
        if ((!o.postprocess || nr_post_load(o.postprocess, g->bind.classes, &pp, err, sizeof err) == 0) &&
            (!o.temperature || nr_calib_load(o.temperature, &x.temperature, err, sizeof err) == 0) &&
            (rc = nr_export_onnx(m, &x, err, sizeof err)) == 0 && !o.quiet)
            printf("%s\n", o.report_out);
    } else if (!strcmp(cmd, "bench")) {
        nr_bench_opts b = {o.entry ? o.entry : "train", o.steps ? (int)(o.steps < 100000 ? o.steps : 100000) : 10,
                           o.warmup >= 0 ? o.warmup : 2, nr_kernels_threads(), o.json, o.seed, NULL};
        rc = nr_bench(m, &b, stdout, err, sizeof err);
    } else if (!strcmp(cmd, "train")) {
        nr_train_opts t = {o.data, o.val, o.out, o.epochs, o.steps, o.seed, o.shuffle, o.augment,
                           o.init, o.resume, o.best_metric, o.quiet, o.checkpoint_every,
                           nr_dist_rank() == 0 ? path : NULL /* recorded in run.json for netrun report */,
                           o.split, o.val_split, o.profile, o.overwrite, o.init_strict, o.freeze, o.n_freeze,
                           o.patience, o.folds, o.fold};
        nr_train_catch_signals();
        rc = nr_train(m, &t, err, sizeof err);
        if (rc == NR_TRAIN_STOPPED) {
            if (nr_dist_rank() == 0)
                print_resume(argc, argv, o.out);
            nr_dist_agree(0); /* the ranks end together, after rank 0's last words */
            nr_model_free(m);
            return 128 + nr_train_stop_signal();
        }
    } else if (!strcmp(cmd, "eval")) {
        char run_dir[4096]; /* the (first) weights' folder: where the choices are written */
        snprintf(run_dir, sizeof run_dir, "%.*s", (int)strcspn(o.weights, ","), o.weights);
        char *slash = strrchr(run_dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(run_dir, sizeof run_dir, ".");
        nr_eval_opts eo = {o.data, voc_split(o.data, o.split), run_dir, o.postprocess, o.temperature, o.json,
                           o.pooled_only, o.choose_postprocessing, o.fit_temperature, NULL};
        rc = -1;
        if (!ng_graph_entry(g, "eval"))
            snprintf(err, sizeof err, "%s: the model has no loss, so it cannot be evaluated", path);
        else if ((ens = nr_ensemble_load_list(m, o.weights, err, sizeof err))) {
            eo.ens = ens;
            rc = nr_eval_run(m, &eo, stdout, err, sizeof err);
        }
    } else {
        nr_dataset *ds = NULL;
        rc = -1;
        char masks[4096], voc[4096];
        snprintf(masks, sizeof masks, "%s/masks", o.input);
        snprintf(voc, sizeof voc, "%s/SegmentationClass", o.input);
        struct stat st; /* --overlay on a dataset with masks (or a VOC root): the four panels */
        int with_masks = o.overlay && ((stat(masks, &st) == 0 && S_ISDIR(st.st_mode)) ||
                                       (stat(voc, &st) == 0 && S_ISDIR(st.st_mode)));
        nr_postprocess pp;
        if ((!o.postprocess || nr_post_load(o.postprocess, g->bind.classes, &pp, err, sizeof err) == 0) &&
            (ens = nr_ensemble_load_list(m, o.weights, err, sizeof err)) &&
            (ds = nr_dataset_open_split(o.input, voc_split(o.input, o.split), with_masks, err, sizeof err)))
            rc = nr_predict(m, ens, ds, o.output, o.quiet, o.overlay, o.probabilities, o.postprocess ? &pp : NULL, err,
                            sizeof err);
        nr_dataset_free(ds);
    }
    if (rc != 0 && err[0])
        fprintf(stderr, "netrun %s: %s\n", cmd, err);
    else if (rc != 0 && nr_dist_rank() == 0)
        fprintf(stderr, "netrun %s: another rank failed (its message is above)\n", cmd);
    if (rc != 0 && nr_dist_size() > 1 && !nr_dist_failed_together())
        nr_dist_abort(1); /* the other ranks would wait for this one forever */
    nr_ensemble_free(ens);
    nr_model_free(m);
    return rc ? 1 : 0;
}
