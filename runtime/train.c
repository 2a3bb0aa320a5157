/* train.c — training loop (shuffled batches, class weights from the data,
 * progress, per-epoch validation, log and checkpoints, a graceful stop on
 * SIGINT/SIGTERM, exact resumption mid-epoch), evaluation, prediction, and
 * safetensors checkpoints of a model's state. */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "png.h"
#include "safetensors.h"
#include "util.h"

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* mkdir -p */
static int make_dir(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        fail(err, errlen, "%s: path too long", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                fail(err, errlen, "%s: cannot create folder: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fail(err, errlen, "%s: not a folder", path);
        return -1;
    }
    return 0;
}

/* --- checkpoints ------------------------------------------------------- */

static int ckpt_role(int role, int opt_state)
{
    return role == NG_ROLE_PARAM || (opt_state && role == NG_ROLE_OPT_STATE) || role == NG_ROLE_CONST;
}

int nr_ckpt_save(nr_model *m, const char *path, int opt_state, const nr_run_state *rs,
                 char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    nr_st_tensor *ts = calloc((size_t)g->n_tensors + 1, sizeof *ts);
    if (!ts) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    int n = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        /* constants are saved only when computed from data (class weights) */
        if (!ckpt_role(x->role, opt_state) || (x->role == NG_ROLE_CONST && x->init != NG_INIT_CLASS_WEIGHTS))
            continue;
        ts[n].name = x->name;
        ts[n].dtype = NR_ST_F32;
        ts[n].ndim = x->ndim;
        for (int d = 0; d < x->ndim; d++)
            ts[n].dim[d] = x->dim[d];
        ts[n].data = nr_model_state(m, t);
        n++;
    }
    char step[32], ep[32], bs[32], el[40], es[32], seed[32];
    snprintf(step, sizeof step, "%lld", (long long)nr_model_step(m));
    snprintf(ep, sizeof ep, "%d", rs->epoch);
    snprintf(bs, sizeof bs, "%.9g", rs->best);
    snprintf(el, sizeof el, "%.17g", rs->epoch_loss); /* exact: the resumed mean is the same */
    snprintf(es, sizeof es, "%lld", (long long)rs->epoch_steps);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)rs->seed);
    const char *meta[] = {"format", "netrun", "step", step, "epoch", ep,
                          "source", g->source ? g->source : "", "optimizer_state", opt_state ? "yes" : "no",
                          "best_score", bs, "epoch_loss_sum", el, "epoch_steps", es, "seed", seed,
                          "shuffle", rs->shuffle ? "yes" : "no", "augment", rs->augment ? "yes" : "no"};
    int rc = nr_st_save(path, n, ts, (int)(sizeof meta / sizeof *meta / 2), meta, err, errlen);
    free(ts);
    return rc;
}

int nr_ckpt_load(nr_model *m, const char *path, int opt_state, nr_run_state *rs,
                 char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    nr_st_file *f = nr_st_load(path, err, errlen);
    if (!f)
        return -1;
    int rc = -1;
    if (opt_state) {
        const char *has = nr_st_meta(f, "optimizer_state");
        if (!has || strcmp(has, "yes") != 0) {
            fail(err, errlen, "%s: holds no optimizer state; use --init to start from its weights", path);
            goto done;
        }
    }
    for (int t = 0; t < g->n_tensors; t++) {
        const ng_tensor *x = &g->tensors[t];
        if (!ckpt_role(x->role, opt_state) || (x->role == NG_ROLE_CONST && x->init != NG_INIT_CLASS_WEIGHTS))
            continue;
        const nr_st_tensor *s = nr_st_find(f, x->name);
        if (!s) {
            if (x->role == NG_ROLE_CONST)
                continue; /* weights computed again from the data */
            fail(err, errlen, "%s: no tensor '%s' (was it written for another model?)", path, x->name);
            goto done;
        }
        int same = s->dtype == NR_ST_F32 && s->ndim == x->ndim;
        for (int d = 0; same && d < x->ndim; d++)
            same = s->dim[d] == x->dim[d];
        if (!same) {
            char a[64] = "", b[64] = "";
            for (int d = 0; d < x->ndim; d++)
                snprintf(a + strlen(a), sizeof a - strlen(a), d ? "x%d" : "%d", (int)x->dim[d]);
            for (int d = 0; d < s->ndim; d++)
                snprintf(b + strlen(b), sizeof b - strlen(b), d ? "x%lld" : "%lld", (long long)s->dim[d]);
            fail(err, errlen, "%s: tensor '%s' is %s %s, the model needs F32 %s", path, x->name,
                 nr_st_dtype_name(s->dtype), b, a);
            goto done;
        }
        memcpy(nr_model_state(m, t), s->data, (size_t)ng_tensor_bytes(x));
    }
    if (opt_state) {
        const char *st = nr_st_meta(f, "step");
        nr_model_set_step(m, st ? atoll(st) : 0);
    }
    if (opt_state && rs) {
        const char *ep = nr_st_meta(f, "epoch"), *bs = nr_st_meta(f, "best_score");
        const char *el = nr_st_meta(f, "epoch_loss_sum"), *es = nr_st_meta(f, "epoch_steps");
        const char *seed = nr_st_meta(f, "seed"), *sh = nr_st_meta(f, "shuffle"), *au = nr_st_meta(f, "augment");
        memset(rs, 0, sizeof *rs);
        rs->epoch = ep ? atoi(ep) : 0;
        rs->best = bs ? strtod(bs, NULL) : -INFINITY;
        rs->epoch_loss = el ? strtod(el, NULL) : 0;
        rs->epoch_steps = es ? atoll(es) : 0;
        rs->has_options = seed && sh && au;
        if (rs->has_options) {
            rs->seed = strtoull(seed, NULL, 10);
            rs->shuffle = strcmp(sh, "yes") == 0;
            rs->augment = strcmp(au, "yes") == 0;
        }
    }
    rc = 0;
done:
    nr_st_free(f);
    return rc;
}

/* --- batches ----------------------------------------------------------- */

typedef struct {
    int batch, c, h, w;
    int64_t hw;
} dims;

static dims model_dims(const ng_graph *g)
{
    const ng_tensor *im = &g->tensors[g->bind.image];
    dims d = {im->dim[0], im->dim[1], im->dim[2], im->dim[3], (int64_t)im->dim[2] * im->dim[3]};
    return d;
}

static void feed(nr_model *m, const dims *d, const float *image, const int32_t *mask)
{
    const ng_graph *g = nr_model_graph(m);
    memcpy(nr_model_state(m, g->bind.image), image, (size_t)d->batch * d->c * d->hw * sizeof(float));
    if (mask && g->bind.labels >= 0)
        memcpy(nr_model_state(m, g->bind.labels), mask, (size_t)d->batch * d->hw * sizeof(int32_t));
}

/* Run `entry` over every sample of ds in file order, a batch at a time,
 * loading the next batch while the current one computes; after each run,
 * visit(ctx, first sample, samples in the batch, argmax prediction (batch,
 * HW), labels (batch, HW) or NULL) sees the results.  visit returns 0 or -1
 * with a message in err. */
typedef int (*batch_visit)(void *ctx, nr_model *m, int first, int got, const uint8_t *pred, const int32_t *mask,
                           char *err, size_t errlen);

static int run_batches(nr_model *m, const nr_dataset *ds, const char *entry, int with_masks, batch_visit visit,
                       void *ctx, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    dims d = model_dims(g);
    int n = nr_dataset_count(ds);
    nr_batcher *b = nr_batcher_new(ds, d.batch, d.c, d.h, d.w, g->bind.classes, g->bind.ignore, with_masks,
                                   err, errlen);
    if (!b)
        return -1;
    uint8_t *pred = malloc((size_t)d.batch * d.hw);
    int *idx = malloc((size_t)d.batch * sizeof *idx);
    int rc = -1;
    if (!pred || !idx) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    int n_batches = (n + d.batch - 1) / d.batch;
    for (int k = 0; k <= n_batches; k++) {
        if (k < n_batches) { /* queue the next batch before computing this one */
            int cnt = 0;
            for (int i = k * d.batch; i < n && cnt < d.batch; i++)
                idx[cnt++] = i;
            nr_batcher_submit(b, idx, cnt);
        }
        if (k == 0)
            continue;
        float *image;
        int32_t *mask;
        int got;
        if (nr_batcher_wait(b, &image, &mask, &got, err, errlen) != 0)
            goto done;
        feed(m, &d, image, with_masks ? mask : NULL);
        if (nr_model_run(m, entry) != 0) {
            fail(err, errlen, "%s", nr_model_error(m));
            goto done;
        }
        nr_argmax_c(d.batch, g->bind.classes, d.hw, nr_model_tensor(m, entry, g->bind.output), pred);
        if (visit(ctx, m, (k - 1) * d.batch, got, pred, with_masks ? mask : NULL, err, errlen) != 0)
            goto done;
    }
    rc = 0;
done:
    nr_batcher_free(b);
    free(pred);
    free(idx);
    return rc;
}

typedef struct {
    nr_confusion *conf;
    double loss_sum;
    int loss_n;
} eval_ctx;

static int eval_visit(void *ctx, nr_model *m, int first, int got, const uint8_t *pred, const int32_t *mask,
                      char *err, size_t errlen)
{
    (void)first, (void)err, (void)errlen;
    eval_ctx *c = ctx;
    const ng_graph *g = nr_model_graph(m);
    const ng_tensor *lb = &g->tensors[g->bind.labels];
    c->loss_sum += (double)*(float *)nr_model_tensor(m, "eval", g->bind.loss) * got;
    c->loss_n += got;
    nr_confusion_add(c->conf, mask, pred, (int64_t)got * lb->dim[1] * lb->dim[2], g->bind.ignore);
    return 0;
}

int nr_evaluate(nr_model *m, const nr_dataset *ds, nr_confusion *conf, double *loss, char *err, size_t errlen)
{
    eval_ctx c = {conf, 0, 0};
    if (run_batches(m, ds, "eval", 1, eval_visit, &c, err, errlen) != 0)
        return -1;
    *loss = c.loss_n ? c.loss_sum / c.loss_n : NAN;
    return 0;
}

typedef struct {
    const nr_dataset *ds;
    const char *out_dir;
    int quiet;
} predict_ctx;

static int predict_visit(void *ctx, nr_model *m, int first, int got, const uint8_t *pred, const int32_t *mask,
                         char *err, size_t errlen)
{
    (void)mask;
    predict_ctx *c = ctx;
    dims d = model_dims(nr_model_graph(m));
    for (int j = 0; j < got; j++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->out_dir, nr_dataset_name(c->ds, first + j));
        if (nr_png_write_mask(path, d.h, d.w, pred + (int64_t)j * d.hw, err, errlen) != 0)
            return -1;
        if (!c->quiet)
            printf("%s\n", path);
    }
    return 0;
}

int nr_predict(nr_model *m, const nr_dataset *ds, const char *out_dir, int quiet, char *err, size_t errlen)
{
    if (make_dir(out_dir, err, errlen) != 0)
        return -1;
    predict_ctx c = {ds, out_dir, quiet};
    return run_batches(m, ds, "infer", 0, predict_visit, &c, err, errlen);
}

/* --- training ---------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The sample order of one epoch: a Fisher-Yates shuffle seeded by
 * (seed, epoch), or the file order. */
static void epoch_order(int *perm, int n, uint64_t seed, int epoch, int shuffle)
{
    for (int i = 0; i < n; i++)
        perm[i] = i;
    if (!shuffle)
        return;
    uint64_t s = mix(seed ^ mix((uint64_t)epoch + 1));
    for (int i = n - 1; i > 0; i--) {
        s = mix(s);
        int j = (int)(s % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* The sample indices of step s into idx; returns their count.  perm holds
 * the order of epoch *cur_epoch and is redrawn when s enters another. */
static int step_batch(int64_t s, int spe, int n, int batch, const nr_train_opts *o, int *perm,
                      int *cur_epoch, int *idx)
{
    int epoch = (int)(s / spe), k = (int)(s % spe), cnt = 0;
    if (epoch != *cur_epoch) {
        epoch_order(perm, n, o->seed, epoch, o->shuffle);
        *cur_epoch = epoch;
    }
    for (int i = k * batch; i < n && cnt < batch; i++)
        idx[cnt++] = perm[i];
    return cnt;
}

static void print_weights(const ng_graph *g, const int64_t *counts, const float *w)
{
    int k = g->bind.classes;
    int64_t total = 0;
    for (int c = 0; c < k; c++)
        total += counts[c];
    const ng_tensor *wt = &g->tensors[g->bind.class_weights];
    static const char *const formula[NG_CW_COUNT] = {
        [NG_CW_BALANCED] = "n_pixels / (n_classes * count)",
        [NG_CW_MEDIAN_FREQ] = "median frequency / frequency",
        [NG_CW_INVERSE_SQRT] = "1 / sqrt(frequency), pixel-weighted mean 1",
    };
    int scheme = (int)wt->init_arg[0];
    printf("class weights (%s: %s", ng_cw_name(scheme), formula[scheme]);
    if (wt->init_arg[2] > 0)
        printf(", clipped to [%g, %g]", wt->init_arg[1], wt->init_arg[2]);
    printf("), from %lld labelled pixels:\n%5s %14s %10s %12s\n", (long long)total, "class", "pixels",
           "share", "weight");
    for (int c = 0; c < k; c++) {
        if (counts[c] == 0)
            printf("%5d %14d %10s %12s  (absent from the training masks)\n", c, 0, "0", "-");
        else
            printf("%5d %14lld %9.4f%% %12.4g\n", c, (long long)counts[c], 100.0 * counts[c] / total, w[c]);
    }
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* --- stopping on a signal ---------------------------------------------- */

static volatile sig_atomic_t stop_signal; /* what the training loop reads */
static atomic_flag caught = ATOMIC_FLAG_INIT; /* a handler ran: signals can come
                                                 to several threads at once */

/* The first SIGINT/SIGTERM is noted for the training loop; a second one
 * ends the process by the default action (raised when the handler returns). */
static void on_stop_signal(int sig)
{
    if (atomic_flag_test_and_set(&caught)) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
        raise(sig);
        return;
    }
    stop_signal = sig;
}

void nr_train_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask); /* one handler at a time: the first signal is the first */
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = SA_RESTART; /* reads and writes go on; the loop looks at the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int nr_train_stop_signal(void)
{
    return stop_signal;
}

/* --- the run folder ---------------------------------------------------- */

/* The step of a log line: column 2 of log.csv, "step":N in metrics.jsonl;
 * -1 for a header or a line that has none. */
static long long log_line_step(const char *line, int csv)
{
    const char *p = csv ? strchr(line, ',') : strstr(line, "\"step\":");
    if (!p || (csv && (line[0] < '0' || line[0] > '9')))
        return -1;
    p += csv ? 1 : 7;
    char *end;
    long long v = strtoll(p, &end, 10);
    return end == p ? -1 : v;
}

/* Drop the lines of steps after `step` from a log of the run folder (a run
 * killed after its last checkpoint logged epochs that the resumed run will
 * log again).  A missing log is fine. */
static int trim_log(const char *path, int64_t step, int csv, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : ng_fail(err, errlen, "%s: %s", path, strerror(errno));
    char *keep = NULL, *line = NULL;
    size_t keep_len = 0, cap = 0;
    int dropped = 0, rc = 0;
    FILE *mem = open_memstream(&keep, &keep_len);
    if (!mem) {
        fclose(f);
        return ng_fail(err, errlen, "out of memory");
    }
    for (ssize_t n; (n = getline(&line, &cap, f)) > 0;) {
        if (log_line_step(line, csv) > step)
            dropped = 1;
        else
            fwrite(line, 1, (size_t)n, mem);
    }
    if (ferror(f))
        rc = ng_fail(err, errlen, "%s: %s", path, strerror(errno));
    fclose(f);
    free(line);
    if (fclose(mem) != 0 && rc == 0)
        rc = ng_fail(err, errlen, "out of memory");
    if (rc == 0 && dropped)
        rc = ng_atomic_write(path, keep, keep_len, 1, err, errlen);
    free(keep);
    return rc;
}

/* A line written to a log, checked (a full disk is an error, not a hole). */
static int log_flush(FILE *f, const char *path, char *err, size_t errlen)
{
    if (fflush(f) != 0 || ferror(f))
        return ng_fail(err, errlen, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
    return 0;
}

/* --- training ---------------------------------------------------------- */

int nr_train(nr_model *m, const nr_train_opts *o, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    if (!ng_graph_entry(g, "train")) {
        fail(err, errlen, "%s: the model has no 'minimize' statement, so it cannot be trained",
             g->source ? g->source : "graph");
        return -1;
    }
    dims d = model_dims(g);
    int rc = -1;
    nr_dataset *ds = NULL, *vs = NULL;
    nr_batcher *b = NULL;
    int *perm = NULL, *idx = NULL;
    int64_t *counts = NULL;
    float *w = NULL;
    FILE *log = NULL, *mlog = NULL;
    nr_confusion conf = {0};
    nr_metrics last = {0};
    const char *metric = o->best_metric ? o->best_metric : "miou_fg";
    /* best score so far: validation metric, or -train loss */
    nr_run_state rs = {0, -INFINITY, 0, 0, o->seed, o->shuffle, o->augment, 1};

    if (make_dir(o->out, err, errlen) != 0)
        return -1;
    ng_atomic_remove_stale(o->out, o->quiet ? NULL : stdout);
    if (!(ds = nr_dataset_open(o->data, 1, err, errlen)))
        goto done;
    if (o->val && !(vs = nr_dataset_open(o->val, 1, err, errlen)))
        goto done;
    int n = nr_dataset_count(ds);

    if (o->init && nr_ckpt_load(m, o->init, 0, NULL, err, errlen) != 0)
        goto done;
    if (o->resume) {
        nr_run_state was;
        if (nr_ckpt_load(m, o->resume, 1, &was, err, errlen) != 0)
            goto done;
        if (was.has_options && (was.seed != o->seed || was.shuffle != o->shuffle || was.augment != o->augment)) {
            fail(err, errlen, "%s: the run had --seed %llu%s%s; resume it with the same options to continue "
                 "it exactly (this one: --seed %llu%s%s)", o->resume, (unsigned long long)was.seed,
                 was.shuffle ? "" : " --no-shuffle", was.augment ? " --augment" : "",
                 (unsigned long long)o->seed, o->shuffle ? "" : " --no-shuffle", o->augment ? " --augment" : "");
            goto done;
        }
        rs.epoch = was.epoch;
        rs.best = was.best;
        rs.epoch_loss = was.epoch_loss;
        rs.epoch_steps = was.epoch_steps;
    }
    int have_best = isfinite(rs.best);

    if (g->bind.class_weights >= 0 && g->tensors[g->bind.class_weights].init == NG_INIT_CLASS_WEIGHTS) {
        counts = calloc((size_t)g->bind.classes, sizeof *counts);
        w = calloc((size_t)g->bind.classes, sizeof *w);
        if (!counts || !w) {
            fail(err, errlen, "out of memory");
            goto done;
        }
        if (nr_dataset_class_counts(ds, d.h, d.w, g->bind.classes, g->bind.ignore, counts, err, errlen) != 0)
            goto done;
        nr_model_set_class_weights(m, counts, w);
        if (!o->quiet)
            print_weights(g, counts, w);
    }

    int spe = (n + d.batch - 1) / d.batch; /* steps per epoch */
    int64_t total = o->steps > 0 ? o->steps : (int64_t)(o->epochs > 0 ? o->epochs : 1) * spe;
    nr_model_set_total_steps(m, total);
    int64_t start = nr_model_step(m);
    if (start >= total) {
        fail(err, errlen, "%s: already at step %lld of %lld", o->resume ? o->resume : "model",
             (long long)start, (long long)total);
        goto done;
    }
    if (start % spe == 0)
        rs.epoch_loss = 0, rs.epoch_steps = 0; /* an epoch-end checkpoint: a new epoch begins */
    perm = malloc((size_t)n * sizeof *perm);
    idx = malloc((size_t)d.batch * sizeof *idx);
    if (!perm || !idx || nr_confusion_init(&conf, g->bind.classes) != 0) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    if (!(b = nr_batcher_new(ds, d.batch, d.c, d.h, d.w, g->bind.classes, g->bind.ignore, 1, err, errlen)))
        goto done;
    if (o->augment) /* the stream goes on where the steps so far left it */
        nr_batcher_set_augment(b, o->seed, (uint64_t)(start / spe) * (uint64_t)n +
                                               (uint64_t)(start % spe) * (uint64_t)d.batch);

    char log_path[4096], last_path[4096], best_path[4096], mlog_path[4096];
    snprintf(log_path, sizeof log_path, "%s/log.csv", o->out);
    snprintf(mlog_path, sizeof mlog_path, "%s/metrics.jsonl", o->out);
    snprintf(last_path, sizeof last_path, "%s/last.safetensors", o->out);
    snprintf(best_path, sizeof best_path, "%s/best.safetensors", o->out);
    if (o->resume && (trim_log(log_path, start, 1, err, errlen) != 0 ||
                      trim_log(mlog_path, start, 0, err, errlen) != 0))
        goto done;
    log = fopen(log_path, o->resume ? "a" : "w");
    if (!log) {
        fail(err, errlen, "%s: cannot write: %s", log_path, strerror(errno));
        goto done;
    }
    if (!o->resume)
        fprintf(log, "epoch,step,train_loss,val_loss,val_pixel_accuracy,val_miou_foreground,"
                     "val_worst_iou_foreground,seconds\n");
    if (log_flush(log, log_path, err, errlen) != 0)
        goto done;
    if (vs && !(mlog = fopen(mlog_path, o->resume ? "a" : "w"))) {
        fail(err, errlen, "%s: cannot write: %s", mlog_path, strerror(errno));
        goto done;
    }
    if (!o->quiet)
        printf("training %s: %d images, batch %d, %d steps per epoch, steps %lld..%lld\n",
               g->source ? g->source : "", n, d.batch, spe, (long long)start + 1, (long long)total);
    fflush(stdout);

    int tty = isatty(fileno(stderr));
    double t0 = now(), last_print = 0;
    int cur_epoch = -1;
    nr_batcher_submit(b, idx, step_batch(start, spe, n, d.batch, o, perm, &cur_epoch, idx));
    for (int64_t s = start; s < total; s++) {
        float *image;
        int32_t *mask;
        int got;
        if (nr_batcher_wait(b, &image, &mask, &got, err, errlen) != 0)
            goto done;
        feed(m, &d, image, mask);
        if (s + 1 < total) {
            nr_batcher_submit(b, idx, step_batch(s + 1, spe, n, d.batch, o, perm, &cur_epoch, idx));
        }
        if (nr_model_run(m, "train") != 0) {
            fail(err, errlen, "%s", nr_model_error(m));
            goto done;
        }
        float loss = *(float *)nr_model_tensor(m, "train", g->bind.loss);
        if (!isfinite(loss)) {
            fail(err, errlen, "the loss became %f at step %lld; try a lower learning rate or clip "
                 "(checkpoints keep the last good epoch)", loss, (long long)s + 1);
            goto done;
        }
        rs.epoch_loss += loss;
        rs.epoch_steps++;
        int epoch = (int)(s / spe) + 1;
        int end_of_epoch = (s + 1) % spe == 0 || s + 1 == total;
        double t = now();
        if (!o->quiet && (t - last_print > (tty ? 0.25 : 5.0) || end_of_epoch)) {
            double rate = (s + 1 - start) / (t - t0);
            char eta[32], el[32];
            fmt_time(eta, sizeof eta, (total - s - 1) / rate);
            fmt_time(el, sizeof el, t - t0);
            fprintf(stderr, "%sepoch %d step %lld/%lld  loss %.4f  avg %.4f  %.1f img/s  %s elapsed  ETA %s%s",
                    tty ? "\r" : "", epoch, (long long)s + 1, (long long)total, loss,
                    rs.epoch_loss / (double)rs.epoch_steps, rate * d.batch, el, eta, tty ? "\033[K" : "\n");
            last_print = t;
        }
        int saved = 0; /* last.safetensors holds this step */
        if (end_of_epoch) {
            if (tty && !o->quiet)
                fprintf(stderr, "\n");
            double train_loss = rs.epoch_loss / (double)rs.epoch_steps, val_loss = NAN, score;
            if (vs) {
                nr_confusion_reset(&conf);
                nr_metrics_free(&last);
                if (nr_evaluate(m, vs, &conf, &val_loss, err, errlen) != 0)
                    goto done;
                if (nr_metrics_compute(&conf, &last) != 0) {
                    fail(err, errlen, "out of memory");
                    goto done;
                }
                nr_metrics_score(&last, val_loss, metric, &score);
                fprintf(mlog, "{\"epoch\":%d,\"step\":%lld,\"train_loss\":%.6g,\"validation\":", epoch,
                        (long long)s + 1, train_loss);
                nr_metrics_print_json(mlog, &last, &conf, val_loss);
                if (log_flush(mlog, mlog_path, err, errlen) != 0)
                    goto done;
                if (!o->quiet) {
                    printf("epoch %d: train loss %.4f  val loss %.4f  pixel accuracy %.4f  foreground mIoU %.4f"
                           "  worst %.4f\n", epoch, train_loss, val_loss, last.pixel_acc, last.miou_fg,
                           last.worst_iou_fg);
                    nr_metrics_warn_collapse(stdout, &last);
                }
            } else {
                score = -train_loss;
                if (!o->quiet)
                    printf("epoch %d: train loss %.4f\n", epoch, train_loss);
            }
            fprintf(log, "%d,%lld,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f\n", epoch, (long long)s + 1, train_loss, val_loss,
                    vs ? last.pixel_acc : NAN, vs ? last.miou_fg : NAN, vs ? last.worst_iou_fg : NAN, now() - t0);
            if (log_flush(log, log_path, err, errlen) != 0)
                goto done;
            if ((s + 1) % spe == 0) { /* the checkpoints start the next epoch (else --steps cut this one) */
                rs.epoch = epoch;
                rs.epoch_loss = 0;
                rs.epoch_steps = 0;
            }
            if (!have_best || score > rs.best) {
                rs.best = score;
                have_best = 1;
                if (nr_ckpt_save(m, best_path, 1, &rs, err, errlen) != 0)
                    goto done;
            }
            if (nr_ckpt_save(m, last_path, 1, &rs, err, errlen) != 0)
                goto done;
            saved = 1;
            fflush(stdout);
        }
        if (!saved && (stop_signal || (o->checkpoint_every > 0 && (s + 1) % o->checkpoint_every == 0))) {
            if (nr_ckpt_save(m, last_path, 1, &rs, err, errlen) != 0)
                goto done;
        }
        if (stop_signal && s + 1 < total) {
            if (tty && !o->quiet && !end_of_epoch)
                fprintf(stderr, "\n");
            fprintf(stderr, "netrun train: stopped by %s after step %lld of %lld (epoch %d, %lld of its %d steps "
                    "done); the run is in %s\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM", (long long)s + 1,
                    (long long)total, epoch, (long long)(s - (int64_t)(epoch - 1) * spe + 1), spe, last_path);
            rc = NR_TRAIN_STOPPED;
            goto done;
        }
    }
    if (!o->quiet)
    {
        if (vs && last.k) {
            printf("validation after the last epoch:\n");
            nr_metrics_print(stdout, &last);
        }
        printf("done: %lld steps in %.1f s; checkpoints in %s (last.safetensors, best.safetensors by %s)\n",
               (long long)(total - start), now() - t0, o->out,
               vs ? metric : "training loss, no --val given");
    }
    rc = 0;
done:
    if (log)
        fclose(log);
    if (mlog)
        fclose(mlog);
    nr_metrics_free(&last);
    nr_batcher_free(b);
    nr_dataset_free(ds);
    nr_dataset_free(vs);
    nr_confusion_free(&conf);
    free(perm);
    free(idx);
    free(counts);
    free(w);
    return rc;
}
