/* train.c — the training loop (shuffled batches, class weights from the
 * data, progress, per-epoch validation, log and checkpoints, a graceful stop
 * on SIGINT/SIGTERM, exact resumption mid-epoch). */
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

#include "batcher.h"
#include "dist.h"
#include "ema.h"
#include "folds.h"
#include "grad_sync.h"
#include "options.h"
#include "overlay.h"
#include "png.h"
#include "replicas.h"
#include "run_folder.h"
#include "report.h"
#include "sampler.h"
#include "safetensors.h"
#include "same_job.h"
#include "transfer.h"
#include "util.h"
#include "layout.h"
#include "window.h"

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
    nr_model_write(m, g->bind.image, image, (size_t)d->batch * d->c * d->hw * sizeof(float));
    if (mask && g->bind.labels >= 0)
        nr_model_write(m, g->bind.labels, mask, (size_t)d->batch * d->hw * sizeof(int32_t));
}

/* --- training ---------------------------------------------------------- */

/* The sample order of one epoch: a Fisher-Yates shuffle seeded by
 * (seed, epoch), or the file order. */
static void epoch_order(int *perm, int n, uint64_t seed, int epoch, int shuffle)
{
    for (int i = 0; i < n; i++)
        perm[i] = i;
    if (!shuffle)
        return;
    uint64_t s = ng_splitmix64(seed ^ ng_splitmix64((uint64_t)epoch + 1));
    for (int i = n - 1; i > 0; i--) {
        s = ng_splitmix64(s);
        int j = (int)(s % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* The sample indices of step s into idx; returns their count.  perm holds
 * the order of epoch *cur_epoch and is redrawn when s enters another.  Over
 * N ranks (dist.h) step s takes N * batch samples of the one order, and this
 * rank its share; b's stream position is set to the samples' place in the
 * epochs' orders, so that the draws (flips, crops, and the forced slots'
 * images drawn by class) are those of one process with batch N * batch. */
static int step_batch(int64_t s, int spe, int n, int batch, const nr_train_opts *o, int *perm,
                      int *cur_epoch, int *idx, nr_batcher *b, nr_sampling *smp)
{
    int epoch = (int)(s / spe), k = (int)(s % spe), first;
    if (epoch != *cur_epoch) {
        if (!nr_sampling_order(smp, epoch, perm)) /* repeat factors: n samples of their stream */
            epoch_order(perm, n, o->seed, epoch, o->shuffle);
        *cur_epoch = epoch;
    }
    int cnt = nr_dist_shard(k, batch, n, &first);
    for (int i = 0; i < cnt; i++)
        idx[i] = perm[first + i];
    uint64_t pos = (uint64_t)epoch * (uint64_t)n + (uint64_t)first;
    nr_sampling_images(smp, o->seed, pos, cnt, idx); /* foreground oversampling: forced slots drawn by class */
    if (o->augment)
        nr_batcher_set_augment(b, o->seed, pos);
    else /* the crops' draws (random and foreground crops): resumable the same way */
        nr_batcher_set_stream(b, o->seed, pos);
    return cnt;
}

/* The labelled pixels of per-class counts (k). */
static int64_t total_of(const int64_t *counts, int k)
{
    int64_t total = 0;
    for (int c = 0; c < k; c++)
        total += counts[c];
    return total;
}

static void print_weights(const ng_graph *g, const int64_t *counts, const float *w)
{
    int k = g->bind.classes;
    int64_t total = total_of(counts, k);
    const ng_tensor *wt = &g->tensors[g->bind.class_weights];
    static const char *const formula[NG_CW_COUNT] = {
        [NG_CW_BALANCED] = "n_pixels / (n_classes * count)",
        [NG_CW_MEDIAN_FREQ] = "median frequency / frequency",
        [NG_CW_INVERSE_SQRT] = "1 / sqrt(frequency), pixel-weighted mean 1",
        [NG_CW_EFFECTIVE] = "(1 - beta) / (1 - beta^count), summing to the present classes",
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
static volatile sig_atomic_t stepping;    /* the loop runs: before, a signal ends the process at once */
static atomic_flag caught = ATOMIC_FLAG_INIT; /* a handler ran: signals can come
                                                 to several threads at once */

/* The first SIGINT/SIGTERM is noted for the training loop; a second one,
 * or the first before the loop runs (setup may wait on a slow file, and
 * there is nothing to save yet), ends the process by the default action
 * (raised when the handler returns). */
static void on_stop_signal(int sig)
{
    if (atomic_flag_test_and_set(&caught) || !stepping) {
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

/* The rest of a metrics.jsonl line: the validation object as eval --json
 * prints it, and the brace that closes the line's object (netrun 0.1 left
 * it out, so its lines were not JSON; netrun report reads both). */
static int print_validation(FILE *f, const nr_metrics *m, const nr_confusion *c, double loss)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&buf, &n);
    if (!mem)
        return -1;
    nr_metrics_print_json(mem, m, c, loss);
    if (fclose(mem) != 0) {
        free(buf);
        return -1;
    }
    while (n && buf[n - 1] == '\n')
        n--;
    fprintf(f, "%.*s}\n", (int)n, buf);
    free(buf);
    return 0;
}

/* --- the report (report.h) ---------------------------------------------- */

/* A view of the run, never a reason to stop it: a failure is a warning on
 * stderr (once per run). */
static void report_warn(int *warned, const char *what, const char *why)
{
    if (!*warned)
        fprintf(stderr, "netrun train: warning: %s not written: %s\n", what, why);
    *warned = 1;
}

/* RUNDIR/run.json: what the report needs that no log has. */
static void report_start(nr_model *m, const nr_train_opts *o, const char *metric, const int64_t *counts,
                         int spe, int64_t total, const char *stopped, int *warned)
{
    const ng_graph *g = nr_model_graph(m);
    const ng_tensor *cw = g->bind.class_weights >= 0 ? &g->tensors[g->bind.class_weights] : NULL;
    int computed = cw && cw->init == NG_INIT_CLASS_WEIGHTS;
    nr_run_info ri = {o->graph, g->source, o->data, o->val, o->val_split, g->bind.classes, g->bind.ignore,
                      g->tensors[g->bind.image].dim[0], spe, total, metric, counts,
                      cw ? nr_model_state(m, g->bind.class_weights) : NULL,
                      computed ? ng_cw_name((int)cw->init_arg[0]) : cw ? "given in the model" : NULL,
                      computed ? cw->init_arg[1] : 0, computed ? cw->init_arg[2] : 0, stopped};
    char why[1024];
    if (nr_report_write_run_info(o->out, &ri, why, sizeof why) != 0)
        report_warn(warned, "run.json", why);
}

/* RUNDIR/report.html: from the files after each epoch (live), or at the end
 * with the best checkpoint's overlays (m, whose weights it replaces). */
static void report_write(nr_model *m, const nr_train_opts *o, int *warned)
{
    nr_report_opts ro = {m, o->val, o->val_split, NULL, 0, m == NULL};
    char why[1024];
    int rc = nr_report_make(o->out, &ro, why, sizeof why);
    if (rc != 0 && m) { /* without the gallery, then */
        report_warn(warned, "the report's gallery", why);
        ro.model = NULL;
        rc = nr_report_make(o->out, &ro, why, sizeof why);
    }
    if (rc != 0)
        report_warn(warned, "report.html", why);
    else if (m && !o->quiet)
        printf("report: %s/report.html\n", o->out);
}

/* --- training ---------------------------------------------------------- */

int nr_train(nr_model *m, const nr_train_opts *o, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    if (!ng_graph_entry(g, "train")) {
        ng_fail(err, errlen, "%s: the model has no 'minimize' statement, so it cannot be trained",
             g->source ? g->source : "graph");
        return -1;
    }
    dims d = model_dims(g);
    int rc = -1;
    nr_dataset *ds = NULL, *vs = NULL;
    nr_batcher *b = NULL;
    nr_sampling *smp = NULL;
    nr_ema *ema = NULL;
    int *perm = NULL, *idx = NULL;
    int64_t *counts = NULL;
    float *w = NULL;
    FILE *log = NULL, *mlog = NULL;
    nr_confusion conf = {0};
    nr_metrics last = {0};
    const char *metric = o->best_metric ? o->best_metric : "miou_fg";
    /* best score so far: validation metric, or -train loss */
    nr_run_state rs = {0, -INFINITY, 0, 0, o->seed, o->shuffle, o->augment, 1, nr_dist_size(), "", 0, 0};

    int writer = nr_dist_rank() == 0; /* of several ranks (dist.h), rank 0 alone writes the run folder */
    int bad = 1; /* this rank's start, which the ranks agree on below (dist.h) */
    char split_path[4096];
    if (writer && nr_run_folder_check(o->out, !!o->resume, o->overwrite, err, errlen) != 0)
        goto agree; /* busy, or an earlier run there: refused before anything is read or written */
    if (!(ds = nr_dataset_open_split(o->data, o->split, 1, err, errlen)))
        goto agree;
    if (o->folds && nr_folds_make(&ds, &vs, g->bind.classes, g->bind.ignore, o->folds, o->fold, err, errlen) != 0)
        goto agree;
    if (o->val && !(vs = nr_dataset_open_split(o->val, o->val_split ? o->val_split : nr_layout_is_voc(o->val) ?
                                               "val" : NULL, 1, err, errlen)))
        goto agree;
    if (writer && o->init && (o->init_strict ? nr_ckpt_load(m, o->init, 0, NULL, err, errlen)
                              : nr_transfer_init(m, o->init, o->quiet ? NULL : stdout, err, errlen)) != 0)
        goto agree;
    if (o->n_freeze && nr_transfer_freeze(m, o->freeze, o->n_freeze, o->quiet || !writer ? NULL : stdout, err,
                                          errlen) != 0)
        goto agree;
    int ema_ok;
    if (!(ema = nr_ema_new(m, &ema_ok, err, errlen)) && !ema_ok)
        goto agree;
    if (writer && o->resume) {
        nr_run_state was;
        if (nr_ckpt_load(m, o->resume, 1, &was, err, errlen) != 0 ||
            (ema && nr_ema_resume(ema, m, o->resume, err, errlen) != 0))
            goto agree;
        if (was.has_options && (was.seed != o->seed || was.shuffle != o->shuffle || was.augment != o->augment)) {
            ng_fail(err, errlen, "%s: the run had --seed %llu%s%s; resume it with the same options to continue "
                 "it exactly (this one: --seed %llu%s%s)", o->resume, (unsigned long long)was.seed,
                 was.shuffle ? "" : " --no-shuffle", was.augment ? " --augment" : "",
                 (unsigned long long)o->seed, o->shuffle ? "" : " --no-shuffle", o->augment ? " --augment" : "");
            goto agree;
        }
        char had[1024], has[1024];
        if (nr_options_train_diff(g, was.options, had, sizeof had, has, sizeof has) > 0) {
            ng_fail(err, errlen, "%s: the run had%s; resume it with the same settings to continue it exactly "
                 "(this one:%s)", o->resume, had, has);
            goto agree;
        }
        if (was.ranks != nr_dist_size()) {
            ng_fail(err, errlen, "%s: the run was trained on %d process%s (global batch %d); resume it with "
                 "mpirun -np %d to continue it exactly (this one has %d)", o->resume, was.ranks,
                 was.ranks == 1 ? "" : "es", was.ranks * d.batch, was.ranks, nr_dist_size());
            goto agree;
        }
        rs.epoch = was.epoch;
        rs.best = was.best;
        rs.epoch_loss = was.epoch_loss;
        rs.epoch_steps = was.epoch_steps;
        rs.stale = was.stale;
        rs.total_steps = was.total_steps;
    }
    /* all checked: the run folder, locked until the process ends (run_folder.h) */
    if (writer && nr_run_folder_claim(o->out, !!o->resume, o->overwrite, o->quiet ? NULL : stdout, err, errlen) != 0)
        goto agree;
    if (writer && o->folds && (snprintf(split_path, sizeof split_path, "%s/split.json", o->out),
                               nr_folds_write(split_path, o->folds, o->fold, o->data, ds, vs, err, errlen) != 0))
        goto agree;
    bad = 0;
agree:
    if (nr_dist_agree(bad) != 0) {
        if (!bad)
            err[0] = 0; /* another rank failed: the message is its own */
        goto done;
    }
    if (nr_dist_same_job(m, o, ds, vs, err, errlen) != 0) /* before any other collective: they might not match */
        goto done;
    int n = nr_dataset_count(ds);
    nr_dist_bcast_model(m); /* rank 0's weights, optimizer state and step */
    nr_ema_share(ema);
    nr_dist_bcast(&rs, sizeof rs);
    int have_best = isfinite(rs.best);
    int report_warned = 0; /* a report write failed (report_warn) */
    int val_unlabelled = 0; /* the validation masks have no labelled pixel (warned) */

    /* the class index (RUNDIR/class_stats.bin), foreground oversampling and
     * repeat factors (sampler.h) */
    if (!(smp = nr_sampling_new(g, ds, writer ? o->out : NULL /* rank 0 keeps the cache */, d.batch, d.h, d.w, o->seed, o->shuffle,
                                o->quiet || !writer ? NULL : stdout, err, errlen)))
        goto done;
    int n_epoch = nr_sampling_epoch_len(smp); /* samples per epoch: n, or more with repeat factors */

    /* the class counts: for the constants computed from them, and kept in
     * the checkpoints (class priors at inference) */
    if (g->bind.labels >= 0) {
        counts = calloc((size_t)g->bind.classes, sizeof *counts);
        w = calloc((size_t)g->bind.classes, sizeof *w);
        if (!counts || !w) {
            ng_fail(err, errlen, "out of memory");
            goto done;
        }
        nr_sampling_class_counts(smp, counts); /* from the class index: no mask read when cached */
        nr_dist_bcast(counts, (size_t)g->bind.classes * sizeof *counts); /* counted once, by rank 0 */
        if (total_of(counts, g->bind.classes) == 0) { /* the loss would be 0 and every metric NaN */
            ng_fail(err, errlen, "%s: no labelled pixels in its %d masks (every pixel is %d, the ignore label): "
                    "nothing to train on", o->data, n, g->bind.ignore);
            goto done;
        }
        nr_model_set_class_weights(m, counts, w);
        if (!o->quiet && g->bind.class_weights >= 0 &&
            g->tensors[g->bind.class_weights].init == NG_INIT_CLASS_WEIGHTS)
            print_weights(g, counts, w);
    }

    int gbatch = d.batch * nr_dist_size(); /* the global batch: every rank's */
    int spe = (n_epoch + gbatch - 1) / gbatch; /* steps per epoch */
    int64_t total = o->steps > 0 ? o->steps : (int64_t)(o->epochs > 0 ? o->epochs : 1) * spe;
    int64_t start = nr_model_step(m);
    int finished = o->resume && rs.total_steps > 0 && start >= rs.total_steps;
    if (finished && o->steps > 0) { /* extend a finished run: its schedule is stretched (train.h) */
        total = start + o->steps;
        if (!o->quiet)
            printf("extending the finished run of %s (step %lld) by %lld steps: total_steps %lld\n", o->resume,
                   (long long)start, (long long)o->steps, (long long)total);
    }
    nr_model_set_total_steps(m, total);
    rs.total_steps = total;
    if (start >= total) {
        ng_fail(err, errlen, "%s: already at step %lld of %lld%s", o->resume ? o->resume : "model",
             (long long)start, (long long)total, finished ? "; --steps MORE extends the finished run" : "");
        goto done;
    }
    if (start % spe == 0)
        rs.epoch_loss = 0, rs.epoch_steps = 0; /* an epoch-end checkpoint: a new epoch begins */
    perm = malloc((size_t)n_epoch * sizeof *perm);
    idx = malloc((size_t)d.batch * sizeof *idx);
    if (!perm || !idx || nr_confusion_init(&conf, g->bind.classes) != 0) {
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    if (!(b = nr_batcher_new(ds, d.batch, d.c, d.h, d.w, g->bind.classes, g->bind.ignore, 1, err, errlen)) ||
        nr_data_setup_batcher(b, g, err, errlen) != 0) /* size policy, normalization (batcher.h) */
        goto done;
    nr_sampling_attach(smp, b); /* the foreground crop hook */
    /* augmentation: step_batch sets the stream's position at every step */

    char log_path[4096], last_path[4096], best_path[4096], mlog_path[4096];
    snprintf(log_path, sizeof log_path, "%s/log.csv", o->out);
    snprintf(mlog_path, sizeof mlog_path, "%s/metrics.jsonl", o->out);
    snprintf(last_path, sizeof last_path, "%s/last.safetensors", o->out);
    snprintf(best_path, sizeof best_path, "%s/best.safetensors", o->out);
    if (writer && o->resume && (trim_log(log_path, start, 1, err, errlen) != 0 ||
                      trim_log(mlog_path, start, 0, err, errlen) != 0))
        goto done;
    log = writer ? ng_log_open(log_path, !!o->resume, err, errlen) : fopen("/dev/null", "w"); /* ranks > 0: nowhere */
    if (!log) {
        if (!writer)
            ng_fail(err, errlen, "/dev/null: cannot write: %s", strerror(errno));
        goto done;
    }
    if (!o->resume)
        fprintf(log, "epoch,step,train_loss,val_loss,val_pixel_accuracy,val_miou_foreground,"
                     "val_worst_iou_foreground,seconds\n");
    if (log_flush(log, log_path, err, errlen) != 0)
        goto done;
    if (vs && !(mlog = writer ? ng_log_open(mlog_path, !!o->resume, err, errlen) : fopen("/dev/null", "w"))) {
        if (!writer)
            ng_fail(err, errlen, "/dev/null: cannot write: %s", strerror(errno));
        goto done;
    }
    if (writer)
        report_start(m, o, metric, counts, spe, total, NULL, &report_warned);
    if (!o->quiet)
        printf("training %s: %d images, batch %d%s, %d steps per epoch, steps %lld..%lld\n",
               g->source ? g->source : "", n, gbatch, nr_dist_size() > 1 ? " (over the ranks)" : "", spe,
               (long long)start + 1, (long long)total);
    fflush(stdout);

    stepping = 1;
    int tty = isatty(fileno(stderr));
    double t0 = ng_now(), last_print = 0;
    int cur_epoch = -1;
    double run_s = 0; /* in the train entry (--profile) */
    nr_batcher_submit(b, idx, step_batch(start, spe, n_epoch, d.batch, o, perm, &cur_epoch, idx, b, smp));
    int64_t end = total; /* the step the run ends after: total, or earlier by --patience */
    char stopped[512] = "";
    for (int64_t s = start; s < total; s++) {
        float *image;
        int32_t *mask;
        int got;
        if (nr_batcher_wait(b, &image, &mask, &got, err, errlen) != 0)
            goto done;
        feed(m, &d, image, mask);
        if (s + 1 < total) {
            nr_batcher_submit(b, idx, step_batch(s + 1, spe, n_epoch, d.batch, o, perm, &cur_epoch, idx, b, smp));
        }
        double t_run = ng_now();
        if (nr_model_run(m, "train") != 0) {
            ng_fail(err, errlen, "%s", nr_model_error(m));
            goto done;
        }
        run_s += ng_now() - t_run;
        nr_ema_update(ema, nr_model_step(m));
        float loss;
        nr_model_read(m, "train", g->bind.loss, &loss, sizeof loss);
        /* over ranks: the mean of their losses (the global batch's, when the
         * loss sums over ranks), and a signal any of them caught */
        char why[1024]; /* and the parameters, every step: the loss can stay finite over NaN weights */
        int nonfinite = nr_ckpt_check_finite(m, 0, "", why, sizeof why) != 0;
        double agreed[3] = {loss, stop_signal, nonfinite};
        nr_dist_sum_f64(agreed, 1);
        nr_dist_max_f64(agreed + 1, 2);
        loss = (float)(agreed[0] / nr_dist_size());
        int stop = (int)agreed[1];
        if (!isfinite(loss)) {
            ng_fail(err, errlen, "the loss became %f at step %lld; try a lower learning rate or clip "
                 "(checkpoints keep the last good epoch)", loss, (long long)s + 1);
            goto done;
        }
        if (agreed[2] > 0) {
            ng_fail(err, errlen, "the weights became non-finite at step %lld: %s; try a lower learning rate or "
                 "clip (checkpoints keep the last good epoch)", (long long)s + 1, nonfinite ? why : "on another rank");
            goto done;
        }
        rs.epoch_loss += loss;
        rs.epoch_steps++;
        int epoch = (int)(s / spe) + 1;
        int end_of_epoch = (s + 1) % spe == 0 || s + 1 == total;
        double t = ng_now();
        if (!o->quiet && (t - last_print > (tty ? 0.25 : 5.0) || end_of_epoch)) {
            double rate = (s + 1 - start) / (t - t0);
            char eta[32], el[32];
            fmt_time(eta, sizeof eta, (total - s - 1) / rate);
            fmt_time(el, sizeof el, t - t0);
            fprintf(stderr, "%sepoch %d step %lld/%lld  loss %.4f  avg %.4f  %.1f img/s  %s elapsed  ETA %s%s",
                    tty ? "\r" : "", epoch, (long long)s + 1, (long long)total, loss,
                    rs.epoch_loss / (double)rs.epoch_steps, rate * gbatch, el, eta, tty ? "\033[K" : "\n");
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
                nr_ema_swap(ema); /* validated with the average */
                int bad_eval = nr_evaluate(m, NULL, vs, &conf, &val_loss, err, errlen);
                nr_ema_swap(ema);
                if (bad_eval != 0)
                    goto done;
                if (nr_metrics_compute(&conf, &last) != 0) {
                    ng_fail(err, errlen, "out of memory");
                    goto done;
                }
                nr_metrics_score(&last, val_loss, metric, &score);
                if (total_of(last.truth, last.k) == 0 && !val_unlabelled++ && writer)
                    fprintf(stderr, "netrun train: warning: %s: no labelled pixels in its %d masks (every pixel is "
                            "%d, the ignore label): the validation metrics are undefined (nan)\n", o->val,
                            nr_dataset_count(vs), g->bind.ignore);
                fprintf(mlog, "{\"epoch\":%d,\"step\":%lld,\"train_loss\":%.6g,\"best\":%s,\"validation\":",
                        epoch, (long long)s + 1, train_loss, !have_best || score > rs.best ? "true" : "false");
                if (print_validation(mlog, &last, &conf, val_loss) != 0) {
                    ng_fail(err, errlen, "out of memory");
                    goto done;
                }
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
                    vs ? last.pixel_acc : NAN, vs ? last.miou_fg : NAN, vs ? last.worst_iou_fg : NAN, ng_now() - t0);
            if (log_flush(log, log_path, err, errlen) != 0)
                goto done;
            if ((s + 1) % spe == 0) { /* the checkpoints start the next epoch (else --steps cut this one) */
                rs.epoch = epoch;
                rs.epoch_loss = 0;
                rs.epoch_steps = 0;
            }
            rs.stale = !have_best || score > rs.best ? 0 : rs.stale + 1; /* --patience */
            if (!have_best || score > rs.best) {
                rs.best = score;
                have_best = 1;
                if (writer && nr_ema_save(ema, m, best_path, 1, &rs, err, errlen) != 0)
                    goto done;
            }
            if (writer && nr_ema_save(ema, m, last_path, 1, &rs, err, errlen) != 0)
                goto done;
            saved = 1;
            if (o->patience > 0 && rs.stale >= o->patience && s + 1 < total) {
                snprintf(stopped, sizeof stopped, "early stopping after step %lld of %lld: %d validations "
                         "without a better %s than %.6g (--patience %d)", (long long)s + 1, (long long)total,
                         rs.stale, vs ? metric : "training loss", vs ? rs.best : -rs.best, o->patience);
                end = s + 1;
            }
            if (writer && end < total)
                report_start(m, o, metric, counts, spe, total, stopped, &report_warned);
            if (writer && s + 1 < end)
                report_write(NULL, o, &report_warned);
            fflush(stdout);
            if (end < total) {
                if (!o->quiet)
                    printf("%s\n", stopped);
                break;
            }
        }
        if (!saved && (stop || (o->checkpoint_every > 0 && (s + 1) % o->checkpoint_every == 0))) {
            if (writer && nr_ema_save(ema, m, last_path, 1, &rs, err, errlen) != 0)
                goto done;
        }
        if (stop && s + 1 < total) {
            if (!stop_signal)
                stop_signal = stop; /* caught by another rank */
            if (tty && !o->quiet && !end_of_epoch)
                fprintf(stderr, "\n");
            if (writer)
                fprintf(stderr, "netrun train: stopped by %s after step %lld of %lld (epoch %d, %lld of its %d steps "
                    "done); the run is in %s\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM", (long long)s + 1,
                    (long long)total, epoch, (long long)(s - (int64_t)(epoch - 1) * spe + 1), spe, last_path);
            rc = NR_TRAIN_STOPPED;
            goto done;
        }
    }
    uint64_t sum; /* over ranks: the same weights on every one (dist.h) */
    if (nr_dist_check_model(m, &sum) != 0) {
        ng_fail(err, errlen, "the ranks' weights differ after step %lld (their checksums differ)", (long long)end);
        goto done;
    }
    if (!o->quiet && nr_dist_size() > 1)
        printf("weights identical on %d ranks (checksum %016llx)\n", nr_dist_size(), (unsigned long long)sum);
    if (!o->quiet)
    {
        if (vs && last.k) {
            printf("validation after the last epoch:\n");
            nr_metrics_print(stdout, &last);
        }
        nr_sampling_print_counts(smp, stdout);
        printf("done: %lld steps in %.1f s; checkpoints in %s (last.safetensors, best.safetensors by %s)\n",
               (long long)(end - start), ng_now() - t0, o->out,
               vs ? metric : "training loss, no --val given");
    }
    if (o->profile) {
        nr_data_print_profile(stdout, b, run_s, end - start);
        nr_dist_print_profile(stdout, run_s, end - start);
    }
    if (writer)
        report_write(m, o, &report_warned); /* last: it loads best.safetensors into m */
    rc = 0;
done:
    if (log)
        fclose(log);
    if (mlog)
        fclose(mlog);
    nr_metrics_free(&last);
    nr_batcher_free(b);
    nr_sampling_free(smp); /* after the batcher: its crop hook's context */
    nr_ema_free(ema);
    nr_dataset_free(ds);
    nr_dataset_free(vs);
    nr_confusion_free(&conf);
    free(perm);
    free(idx);
    free(counts);
    free(w);
    return rc;
}
