/* plan.c — netrun plan (plan.h): the command line, the fingerprint, the
 * memory besides the model, the cost of a configuration from the graph netc
 * compiles (netc runs as a child process: netrun does not link the
 * compiler), the bench of the chosen graph, and the outputs (plan_write.c). */
#define _DEFAULT_SOURCE /* realpath, mkdtemp */
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "dist.h"
#include "exec.h"
#include "kernels.h"
#include "layout.h"
#include "parallel.h"
#include "plan_int.h"
#include "util.h"

extern char **environ;

/* Bytes of a training process besides its graph, the data and the
 * validation buffers: libraries, OpenBLAS's buffers, thread stacks, the
 * allocator's slack (a netrun train of a small graph measured about 15 MiB
 * over the graph's bytes; docs/usage.md, "plan"). */
#define PLAN_PROCESS_BYTES (32LL << 20)
/* The default --memory: this share of MemTotal. */
#define PLAN_MEMORY_SHARE 0.5
/* The default --time, seconds. */
#define PLAN_TIME_DEFAULT 600.0

static void usage(FILE *f)
{
    fprintf(f, "usage: netrun plan DATA [--memory SIZE] [--time DURATION] [--model FILE.net] -o PLANNED.net\n"
               "                  [--json] [--split S] [--threads N] [--quiet]\n"
               "  SIZE: bytes, or with K, M, G, T (binary: 1K = 1024); default %.0f%% of MemTotal\n"
               "  DURATION: seconds, or with s, m, h (10m, 1.5h); default %.0fm\n"
               "  FILE.net: default models/unet_nn.net (the consts SIZE, DEPTH, BASE, BATCH, CLASSES)\n",
            PLAN_MEMORY_SHARE * 100, PLAN_TIME_DEFAULT / 60);
}

/* "512M", "2G", "2GiB", "1000000": bytes; -1 when malformed. */
static int64_t parse_bytes(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0))
        return -1;
    const char *units = "KMGT", *u = *end ? strchr(units, *end) : NULL;
    if (u && *u) {
        v *= pow(1024, (double)(u - units + 1));
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B"))
            end += strlen(end);
    } else if (!strcmp(end, "B")) {
        end++;
    }
    return *end || v > 9e18 ? -1 : (int64_t)v;
}

/* "90", "90s", "10m", "1.5h": seconds; -1 when malformed. */
static double parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0) || !isfinite(v))
        return -1;
    double unit = !*end || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 : -1;
    return unit < 0 ? -1 : v * unit;
}

/* MemTotal of /proc/meminfo in bytes, 0 when unknown. */
static int64_t mem_total(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (int64_t)kb * 1024;
}

/* The netc to run, into path: $NETC; else the build tree's, ../compiler/netc
 * beside this netrun; else the installed one in NR_BINDIR.  Which one in
 * *how.  0, or -1 with err. */
static int find_netc(char *path, size_t n, const char **how, char *err, size_t errlen)
{
    const char *env = getenv("NETC");
    if (env && *env) {
        snprintf(path, n, "%s", env);
        *how = "$NETC";
        return 0;
    }
    char self[PATH_MAX - 32];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, n, "%s/../compiler/netc", self);
            char *real = access(path, X_OK) == 0 ? realpath(path, NULL) : NULL;
            if (real) {
                snprintf(path, n, "%s", real);
                free(real);
                *how = "the build tree's, beside netrun";
                return 0;
            }
        }
    }
    snprintf(path, n, "%s/netc", NR_BINDIR);
    if (access(path, X_OK) == 0) {
        *how = "the installed one";
        return 0;
    }
    return ng_fail(err, errlen, "cannot find netc (not in $NETC, beside netrun as ../compiler/netc, nor %s): "
                                "set NETC=/path/to/netc", path);
}

int plan_netc(const plan_ctx *p, const char *model, const nr_plan_cfg *c, const char *out, char *err,
              size_t errlen)
{
    char d[5][32] = {""}, log[sizeof p->tmpdir + 16];
    if (c) {
        snprintf(d[0], sizeof d[0], "SIZE=%d", c->size);
        snprintf(d[1], sizeof d[1], "DEPTH=%d", c->depth);
        snprintf(d[2], sizeof d[2], "BASE=%d", c->base);
        snprintf(d[3], sizeof d[3], "BATCH=%d", c->batch);
        snprintf(d[4], sizeof d[4], "CLASSES=%d", c->classes);
    }
    snprintf(log, sizeof log, "%s/netc.log", p->tmpdir);
    char *argv[] = {(char *)p->netc, (char *)model, "-o", (char *)out, "-D", d[0], "-D", d[1], "-D", d[2], "-D", d[3],
                    "-D", d[4], NULL};
    if (!c)
        argv[4] = NULL; /* the model file's own values */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, p->netc, &fa, NULL, argv, environ), status = 0;
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return ng_fail(err, errlen, "cannot run netc (%s): %s", p->netc, strerror(rc));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return ng_fail(err, errlen, "netc (%s): %s", p->netc, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    size_t len = 0;
    char *text = ng_read_file(log, &len);
    char *nl = text ? strchr(text, '\n') : NULL;
    if (nl)
        *nl = 0;
    if (c)
        ng_fail(err, errlen, "netc %s -D %s -D %s -D %s -D %s -D %s failed: %s", model, d[0], d[1], d[2], d[3], d[4],
                text && *text ? text : "(no message)");
    else
        ng_fail(err, errlen, "netc %s failed: %s", model, text && *text ? text : "(no message)");
    free(text);
    return -1;
}

int64_t plan_graph_bytes(const ng_graph *g, const nr_backend *be)
{
    int64_t bytes = 0, scratch = 0;
    const int prec = nr_graph_precision(g, be);
    for (int t = 0; t < g->n_tensors; t++) /* twice: the state, and a checkpoint's bytes read or written */
        if (ng_role_is_persistent(g->tensors[t].role))
            bytes += 2 * ng_tensor_bytes(&g->tensors[t]);
    for (int e = 0; e < g->n_entries; e++) {
        const ng_entry *en = &g->entries[e];
        if (strcmp(en->name, "train") && strcmp(en->name, "eval"))
            continue; /* training runs these two (eval: validation) */
        bytes += en->arena_bytes;
        for (int i = 0; i < en->n_nodes; i++) {
            int64_t s = be->scratch_bytes(g, &en->nodes[i], nr_node_precision(be, &en->nodes[i], prec));
            scratch = s > scratch ? s : scratch;
        }
    }
    /* the batcher's two batches of images and labels */
    bytes += 2 * ng_tensor_bytes(&g->tensors[g->bind.image]);
    if (g->bind.labels >= 0)
        bytes += 2 * ng_tensor_bytes(&g->tensors[g->bind.labels]);
    return bytes + scratch;
}

/* nr_plan_cost_fn over netc: compile p->model with cfg, load the graph. */
static int netc_cost(void *ctx, const nr_plan_cfg *c, int64_t *bytes, char *err, size_t errlen)
{
    plan_ctx *p = ctx;
    char out[sizeof p->tmpdir + 16];
    snprintf(out, sizeof out, "%s/candidate.netg", p->tmpdir);
    if (plan_netc(p, p->model, c, out, err, errlen) != 0)
        return -1;
    ng_graph *g = ng_graph_load(out, err, errlen);
    if (!g)
        return -1;
    *bytes = plan_graph_bytes(g, p->be);
    ng_graph_free(g);
    return 0;
}

/* The bytes a training process needs besides cost_fn's: the process, the
 * class index, the loader threads' decoded images at their own size, one
 * validation image's class scores (window inference).  Each part into r. */
static void reserve(const nr_fingerprint *fp, plan_reserve *r)
{
    int loaders = nr_par_threads() < 4 ? nr_par_threads() : 4; /* batcher.h: the cores, at most 4 */
    r->process = PLAN_PROCESS_BYTES;
    r->class_index = fp->class_locs * 4 + (int64_t)fp->images * 64;
    /* each loader: the image decoded in 3 channels, its mask, and a copy being sized */
    r->decoding = (int64_t)loaders * fp->max_pixels * 4 * (3 + 1) * 2;
    /* window.c: per-class scores and their weights over the largest image, the image */
    r->validation = fp->max_pixels * 4 * ((int64_t)fp->classes + 2 + 3);
    r->total = r->process + r->class_index + r->decoding + r->validation;
}

/* The step time of the chosen graph (compiled to out): a short bench of
 * its train entry.  0 or -1 with err. */
static int step_time(const plan_ctx *p, const char *graph, double *seconds, char *err, size_t errlen)
{
    ng_graph *g = ng_graph_load(graph, err, errlen);
    if (!g)
        return -1;
    nr_model *m = nr_model_new(g, p->be, 1, err, errlen);
    if (!m)
        return -1;
    nr_bench_opts b = {"train", 3, 1, nr_kernels_threads(), 0, 1, seconds};
    int rc = nr_bench(m, &b, NULL, err, errlen);
    nr_model_free(m);
    return rc;
}

/* Passes over the dataset's pixels (all) that steps of cfg make. */
static double epochs_of(const nr_plan_cfg *c, int64_t steps, double all)
{
    return (double)steps * c->batch * c->size * c->size / all;
}

/* The time budget (plan.h's rule after the memory's search): the memory's
 * choice benched; when it affords fewer than NR_PLAN_MIN_STEPS steps or
 * NR_PLAN_MIN_EPOCHS passes over the data (all: its pixels) in p->time,
 * the batch halves down to 2, then BASE steps down with the batch halving
 * again from the memory's, each candidate benched; the first that affords
 * both is taken, else the one that affords the most passes.  Sets
 * p->choice.cfg (and its bytes), p->step_s, p->steps.  0 or -1 with err. */
static int fit_time(plan_ctx *p, double all, char *err, size_t errlen)
{
    char graph[sizeof p->tmpdir + 16];
    snprintf(graph, sizeof graph, "%s/planned.netg", p->tmpdir);
    double t;
    if (plan_netc(p, p->model, &p->choice.cfg, graph, err, errlen) != 0 || step_time(p, graph, &t, err, errlen) != 0)
        return -1;
    nr_plan_cfg best = p->choice.cfg;
    double best_t = t, best_epochs = epochs_of(&best, (int64_t)(p->time / t), all);
    p->memory_step_s = t, p->memory_epochs = best_epochs;
    int found = (int64_t)(p->time / t) >= NR_PLAN_MIN_STEPS && best_epochs >= NR_PLAN_MIN_EPOCHS;
    static const int bases[] = NR_PLAN_BASES;
    for (size_t b = 0; !found && b < sizeof bases / sizeof *bases; b++) {
        if (bases[b] > p->memory_cfg.base)
            continue;
        for (int batch = p->memory_cfg.batch; !found; batch = batch / 2 > 2 ? batch / 2 : 2) {
            nr_plan_cfg c = p->memory_cfg;
            c.base = bases[b], c.batch = batch;
            if (memcmp(&c, &p->memory_cfg, sizeof c) != 0) { /* the memory's own is benched above */
                if (plan_netc(p, p->model, &c, graph, err, errlen) != 0 || step_time(p, graph, &t, err, errlen) != 0)
                    return -1;
                p->choice.compiles++;
                int64_t steps = (int64_t)(p->time / t);
                double ep = epochs_of(&c, steps, all);
                found = steps >= NR_PLAN_MIN_STEPS && ep >= NR_PLAN_MIN_EPOCHS;
                if (found || ep > best_epochs)
                    best = c, best_t = t, best_epochs = ep;
            }
            if (batch <= 2)
                break;
        }
    }
    p->time_stepped = memcmp(&best, &p->memory_cfg, sizeof best) != 0;
    p->choice.cfg = best;
    p->step_s = best_t;
    if (p->time_stepped && netc_cost(p, &best, &p->choice.model_bytes, err, errlen) != 0)
        return -1;
    p->steps = (int64_t)llround(p->time / p->step_s);
    p->steps = p->steps < 1 ? 1 : p->steps;
    p->epochs = epochs_of(&best, p->steps, all);
    return 0;
}

/* Consts of the model file text that netrun plan needs; 0 or -1 with err. */
static int check_consts(const char *path, const char *text, int *has_foreground, char *err, size_t errlen)
{
    static const char *need[] = {"SIZE", "DEPTH", "BASE", "BATCH", "CLASSES"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!plan_has_const(text, need[i]))
            return ng_fail(err, errlen,
                           "%s: no const %s (netrun plan sets SIZE, DEPTH, BASE, BATCH and CLASSES: the model "
                           "file needs each, as models/unet_nn.net has them)", path, need[i]);
    *has_foreground = plan_has_const(text, "FOREGROUND");
    return 0;
}

typedef struct {
    const char *data, *out, *model, *split;
    int64_t memory;
    double time;
    int json, quiet, threads, memory_given, time_given;
} plan_args;

static int parse_args(int argc, char **argv, plan_args *a)
{
    memset(a, 0, sizeof *a);
    a->time = PLAN_TIME_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--json")) { a->json = 1; continue; }
        if (!strcmp(s, "--quiet")) { a->quiet = 1; continue; }
        if (s[0] != '-') {
            if (a->data) {
                fprintf(stderr, "netrun plan: one DATA, not '%s' too\n", s);
                return -1;
            }
            a->data = s;
            continue;
        }
        if (strcmp(s, "--memory") && strcmp(s, "--time") && strcmp(s, "--model") && strcmp(s, "-o") &&
            strcmp(s, "--split") && strcmp(s, "--threads")) {
            fprintf(stderr, "netrun plan: unknown option '%s'\n", s);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "netrun plan: %s needs a value\n", s);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(s, "--memory")) {
            if ((a->memory = parse_bytes(v)) <= 0) {
                fprintf(stderr, "netrun plan: --memory takes a size (bytes, or 512M, 2G), not '%s'\n", v);
                return -1;
            }
            a->memory_given = 1;
        } else if (!strcmp(s, "--time")) {
            if ((a->time = parse_seconds(v)) <= 0) {
                fprintf(stderr, "netrun plan: --time takes a duration (90s, 10m, 1.5h), not '%s'\n", v);
                return -1;
            }
            a->time_given = 1;
        } else if (!strcmp(s, "--threads")) {
            char *end;
            long t = strtol(v, &end, 10);
            if (!*v || *end || t < 0 || t > 1024) {
                fprintf(stderr, "netrun plan: --threads takes an integer in 0..1024, not '%s'\n", v);
                return -1;
            }
            a->threads = (int)t;
        } else {
            *(!strcmp(s, "--model") ? &a->model : !strcmp(s, "-o") ? &a->out : &a->split) = v;
        }
    }
    if (!a->data || !a->out) {
        fprintf(stderr, "netrun plan: %s is required\n", !a->data ? "DATA" : "-o PLANNED.net");
        return -1;
    }
    return 0;
}

/* Everything after the arguments; 0 or -1 with err.  Nothing is written
 * but a->out, at the end. */
static int plan(const plan_args *a, plan_ctx *p, char *err, size_t errlen)
{
    nr_fingerprint *fp = &p->fp;
    char dir[PATH_MAX]; /* -o's folder is there before the work starts */
    plan_folder_of(a->out, dir, sizeof dir);
    if (!ng_is_dir(dir))
        return ng_fail(err, errlen, "%s: cannot write: no folder %s", a->out, dir);
    size_t len; /* the model and netc too, before the data is read */
    p->text = ng_read_file(p->model, &len);
    if (!p->text)
        return ng_fail(err, errlen, "%s: cannot read: %s", p->model, strerror(errno));
    if (check_consts(p->model, p->text, &p->has_foreground, err, errlen) != 0)
        return -1;
    if (find_netc(p->netc, sizeof p->netc, &p->netc_how, err, errlen) != 0)
        return -1;
    nr_dataset *ds = nr_dataset_open_split(a->data, a->split, 1, err, errlen);
    if (!ds)
        return -1;
    int rc = nr_fingerprint_compute(ds, fp, err, errlen);
    nr_dataset_free(ds);
    if (rc != 0)
        return -1;
    if (fp->classes < 2)
        return ng_fail(err, errlen, "%s: %s: nothing to segment", a->data,
                       fp->classes == 1 ? "every labelled pixel is class 0 (background only)"
                                        : "no labelled pixel (every mask pixel is 255, ignore)");
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > sizeof p->tmpdir - 64)
        tmp = "/tmp";
    snprintf(p->tmpdir, sizeof p->tmpdir, "%s/netrun-plan.XXXXXX", tmp);
    if (!mkdtemp(p->tmpdir)) {
        ng_fail(err, errlen, "cannot make a temporary folder %s: %s", p->tmpdir, strerror(errno));
        p->tmpdir[0] = 0;
        return -1;
    }
    reserve(fp, &p->res);
    int side = fp->h_median > fp->w_median ? fp->h_median : fp->w_median;
    int64_t all = fp->labelled + fp->ignored;
    nr_plan_need need = {side, fp->classes, 0, p->memory, p->res.total};
    need.batch_cap = (int64_t)(0.05 * (double)all / ((double)side * side)); /* nnU-Net's 5% of the pixels */
    need.batch_cap = need.batch_cap < 2 ? 2 : need.batch_cap > 1024 ? 1024 : need.batch_cap;
    p->batch_cap = need.batch_cap;
    if (nr_plan_search(&need, netc_cost, p, &p->choice, err, errlen) != 0)
        return -1;
    p->memory_cfg = p->choice.cfg;
    if (fit_time(p, (double)all, err, errlen) != 0)
        return -1;
    return plan_write(p, a->out, err, errlen);
}

int nr_plan_main(int argc, char **argv, const nr_backend *be)
{
    plan_args a;
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (parse_args(argc, argv, &a) != 0) {
        usage(stderr);
        return 2;
    }
    nr_kernels_set_threads(a.threads > 0 ? a.threads : nr_dist_default_threads());
    plan_ctx p;
    memset(&p, 0, sizeof p);
    p.be = be;
    p.argc = argc, p.argv = argv;
    p.data = a.data;
    p.time = a.time, p.time_given = a.time_given;
    p.memory = a.memory, p.memory_given = a.memory_given;
    p.mem_total = mem_total();
    if (!a.memory_given) {
        if (p.mem_total <= 0) {
            fprintf(stderr, "netrun plan: cannot read MemTotal from /proc/meminfo: give --memory\n");
            return 2;
        }
        p.memory = (int64_t)(PLAN_MEMORY_SHARE * (double)p.mem_total);
    }
    p.memory_share = PLAN_MEMORY_SHARE;
    snprintf(p.model, sizeof p.model, "%s", a.model ? a.model : NR_MODELS_DIR "/unet_nn.net");
    p.model_given = a.model != NULL;
    char err[4096] = "";
    int rc = plan(&a, &p, err, sizeof err);
    if (rc == 0 && !a.quiet)
        plan_report(&p, a.out, a.json, stdout);
    if (p.tmpdir[0]) { /* the candidates' graphs and netc's log */
        char path[sizeof p.tmpdir + 32];
        static const char *names[] = {"candidate.netg", "planned.netg", "netc.log", "check.netg"};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            snprintf(path, sizeof path, "%s/%s", p.tmpdir, names[i]);
            unlink(path);
        }
        rmdir(p.tmpdir);
    }
    nr_fingerprint_free(&p.fp);
    plan_lines_free(&p);
    free(p.text);
    if (rc != 0) {
        fprintf(stderr, "netrun plan: %s\n", err);
        return 1;
    }
    return 0;
}
