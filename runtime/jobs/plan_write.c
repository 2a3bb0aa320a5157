/* plan_write.c — netrun plan's outputs (plan_int.h): the explanation of
 * each choice in plain words, the planned model file (the model's text with
 * the chosen consts and its imports made relative to the file's folder,
 * the explanation as comments at its top), and the report (text or JSON). */
#define _GNU_SOURCE /* vasprintf, realpath */
#include "plan_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "report_int.h"
#include "util.h"

static void add_line(plan_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_line(plan_ctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s;
    if (p->n_lines < (int)(sizeof p->lines / sizeof *p->lines) && vasprintf(&s, fmt, ap) >= 0)
        p->lines[p->n_lines++] = s;
    va_end(ap);
}

void plan_lines_free(plan_ctx *p)
{
    for (int i = 0; i < p->n_lines; i++)
        free(p->lines[i]);
    p->n_lines = 0;
}

static double mib(int64_t b) { return (double)b / 1048576.0; }

/* The images are larger than the patch somewhere: training crops. */
static int crops(const plan_ctx *p)
{
    return p->fp.h_max > p->choice.cfg.size || p->fp.w_max > p->choice.cfg.size;
}

static void explain(plan_ctx *p)
{
    const nr_fingerprint *fp = &p->fp;
    const nr_plan_cfg *c = &p->choice.cfg;
    int side = fp->h_median > fp->w_median ? fp->h_median : fp->w_median, rare = 1;
    for (int k = 2; k < fp->classes; k++)
        if (fp->cls[k].pixels && (fp->cls[rare].pixels == 0 || fp->cls[k].pixels < fp->cls[rare].pixels))
            rare = k;
    add_line(p, "Data: %d images of %dx%d (median; %dx%d to %dx%d), %d gray and %d colour; CLASSES = %d "
                "(the largest label + 1); background %.2f%% of the labelled pixels, the rarest class %d "
                "%.4f%% in %d images.", fp->images, fp->w_median, fp->h_median, fp->w_min, fp->h_min, fp->w_max,
             fp->h_max, fp->gray, fp->colour, fp->classes, 100 * fp->background_share, rare,
             fp->labelled ? 100.0 * (double)fp->cls[rare].pixels / (double)fp->labelled : 0.0,
             fp->cls[rare].images);
    if (c->size >= side)
        add_line(p, "SIZE = %d: the whole median image (its larger side, %d, rounded up to a multiple of 16)%s.",
                 c->size, side, crops(p) ? "; larger images are cropped to it" : "");
    else
        add_line(p, "SIZE = %d: the largest patch (from the median image's larger side, %d, down in steps of "
                    "16) at which a batch of 2 fits the memory; training crops %dx%d windows of the images.",
                 c->size, side, c->size, c->size);
    if (p->has_foreground)
        add_line(p, crops(p) ? "FOREGROUND: the model's value, the share of each batch's crops centred on a "
                               "foreground pixel (nnU-Net's 0.33)."
                             : "FOREGROUND = 0: no image is larger than the patch, so there are no crops to "
                               "centre on foreground.");
    add_line(p, "DEPTH = %d: 2x2 poolings while the features stay at least 4 px and SIZE divisible (nnU-Net's "
                "rule): %d / 2^%d = %d px%s.", c->depth, c->size, c->depth, c->size >> c->depth,
             c->depth == NR_PLAN_MAX_DEPTH ? ", at most 5 levels (the model doubles the channels at every level)"
                                           : "");
    const nr_plan_cfg *mc = &p->memory_cfg; /* the memory's choice; c: after the time's rule */
    add_line(p, "BASE = %d%s: the largest of 32, 16, 8 at which the patch fits with a batch of %d (patch first, "
                "then a batch of 2, then BASE).", mc->base, p->time_stepped ? " for the memory" : "",
             mc->batch >= 2 ? 2 : 1);
    add_line(p, "BATCH = %d%s: %s", mc->batch, p->time_stepped ? " for the memory" : "",
             mc->batch < 2 ? "even the smallest patch does not fit a batch of 2; 1 fits."
             : mc->batch == p->batch_cap ? "the cap, nnU-Net's 5% of the dataset's pixels (SIZE x SIZE x BATCH)."
                                        : "the largest that fits the memory (under nnU-Net's cap of 5% of the "
                                          "dataset's pixels).");
    char budget[128];
    if (p->memory_given)
        snprintf(budget, sizeof budget, "--memory");
    else
        snprintf(budget, sizeof budget, "%.0f%% of MemTotal %.1f MiB", 100 * p->memory_share, mib(p->mem_total));
    add_line(p, "Memory: %.1f MiB of %.1f MiB (%s). The graph netc compiled: %.1f MiB (parameters and optimizer "
                "state twice, as a checkpoint is read or written whole; the train and eval arenas, the "
                "convolution workspace, two batches: exact). Besides it, "
                "estimated: the process %.1f, the class index %.1f, the loaders' decoded images %.1f, validation "
                "over the largest image %.1f MiB.", mib(p->choice.model_bytes + p->res.total), mib(p->memory),
             budget, mib(p->choice.model_bytes), mib(p->res.process), mib(p->res.class_index),
             mib(p->res.decoding), mib(p->res.validation));
    if (p->time_stepped)
        add_line(p, "Time: at BASE %d, BATCH %d a step takes %.4f s, so %s affords %lld steps, %.1f passes over "
                    "the data; a configuration must afford %d steps and %d passes (the project's measured runs: "
                    "plan.h), so the batch was halved, then BASE lowered: BASE = %d, BATCH = %d (%.1f passes).",
                 mc->base, mc->batch, p->memory_step_s, p->time_given ? "--time" : "the default time",
                 (long long)(p->time / p->memory_step_s), p->memory_epochs, NR_PLAN_MIN_STEPS, NR_PLAN_MIN_EPOCHS,
                 c->base, c->batch, p->epochs);
    add_line(p, "Steps = %lld: %s %.0f s / %.4f s, the median train step of a bench of the graph (3 steps after "
                "1 warm-up, synthetic inputs, %d threads); validation and data waits are not counted.",
             (long long)p->steps, p->time_given ? "--time" : "the default time", p->time, p->step_s,
             nr_kernels_threads());
    if (p->model_given)
        add_line(p, "Recipe: %s's own (--model).", p->model);
    else
        add_line(p, "Recipe: models/unet_nn.net (instance norm, deep supervision, logit-adjusted cross-entropy, "
                    "Adam), ranked first by the project's study at 99%% background (docs/imbalance.md); this "
                    "data's background is %.2f%%.", 100 * fp->background_share);
    add_line(p, "Search: %d configuration(s) compiled by netc (%s: %s).", p->choice.compiles, p->netc_how, p->netc);
}

void plan_folder_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, n, ".");
    else /* "/x.net": the folder "/" */
        snprintf(dir, n, "%.*s", (int)(slash == path ? 1 : slash - path), path);
}

int plan_has_const(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = text; s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
        s += strspn(s, " \t");
        if (strncmp(s, "const", 5) || (s[5] != ' ' && s[5] != '\t'))
            continue;
        s += 5 + strspn(s + 5, " \t");
        if (!strncmp(s, name, n) && strchr(" \t=", s[n]))
            return 1;
    }
    return 0;
}

/* The path of absolute `to` relative to absolute folder `from` (both real
 * paths), into out. */
static void rel_path(const char *from, const char *to, char *out, size_t n)
{
    size_t common = 0; /* the length of the common leading folders, at a '/' */
    for (size_t i = 0; from[i] && from[i] == to[i]; i++)
        if (to[i + 1] == '/' && (from[i + 1] == '/' || !from[i + 1]))
            common = i + 1;
    if (!strcmp(from, "/"))
        common = 0;
    out[0] = 0;
    for (const char *s = from + common; *s; s++)
        if (*s == '/')
            snprintf(out + strlen(out), n - strlen(out), "../");
    snprintf(out + strlen(out), n - strlen(out), "%s", to + common + 1);
}

/* One line of the model (len bytes, no newline) as the planned file has
 * it, onto f. */
static int put_line(plan_ctx *p, const char *line, size_t len, const char *model_dir, const char *out_dir, int no,
                    FILE *f, char *err, size_t errlen)
{
    const char *s = line + strspn(line, " \t");
    if (!strncmp(s, "import", 6) && memchr(line, '"', len)) {
        const char *q = strchr(s, '"'), *e = q ? memchr(q + 1, '"', len - (size_t)(q + 1 - line)) : NULL;
        if (e && q[1] != '/') {
            char rel[PATH_MAX], abs[2 * PATH_MAX + 2], *real;
            snprintf(rel, sizeof rel, "%.*s", (int)(e - q - 1), q + 1);
            snprintf(abs, sizeof abs, "%s/%s", model_dir, rel);
            if (!(real = realpath(abs, NULL)))
                return ng_fail(err, errlen, "%s:%d: cannot import '%s': %s", p->model, no, rel, strerror(errno));
            rel_path(out_dir, real, abs, sizeof abs);
            free(real);
            fprintf(f, "%.*s\"%s\"%.*s\n", (int)(q - line), line, abs, (int)(len - (size_t)(e + 1 - line)), e + 1);
            return 0;
        }
    }
    const nr_plan_cfg *c = &p->choice.cfg;
    const char *names[] = {"SIZE", "DEPTH", "BASE", "BATCH", "CLASSES", "FOREGROUND"};
    int values[] = {c->size, c->depth, c->base, c->batch, c->classes, 0};
    int n_names = crops(p) ? 5 : 6;
    if (!strncmp(s, "const", 5) && (s[5] == ' ' || s[5] == '\t')) {
        const char *name = s + 5 + strspn(s + 5, " \t");
        for (int i = 0; i < n_names; i++) {
            size_t k = strlen(names[i]);
            const char *eq = name + k + strspn(name + k, " \t");
            if (strncmp(name, names[i], k) || *eq != '=')
                continue;
            const char *v = eq + 1 + strspn(eq + 1, " \t"), *end = v;
            while (end < line + len && *end != '#')
                end++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            fprintf(f, "const %s = %d  # netrun plan (%s had %.*s)\n", names[i], values[i],
                    p->model_given ? "the model" : "models/unet_nn.net", (int)(end - v), v);
            return 0;
        }
    }
    fprintf(f, "%.*s\n", (int)len, line);
    return 0;
}

/* text as a comment onto f, wrapped at about 100 columns. */
static void comment(FILE *f, const char *text)
{
    const char *lead = "# ";
    while (*text) {
        size_t n = strlen(text);
        if (n > 96) {
            n = 96;
            while (n > 20 && text[n] != ' ')
                n--;
        }
        fprintf(f, "%s%.*s\n", lead, (int)n, text);
        text += n;
        text += strspn(text, " ");
        lead = "#   ";
    }
}

static int put_file(plan_ctx *p, FILE *f, const char *out, const char *out_dir, char *err, size_t errlen)
{
    char model_dir[PATH_MAX], *real = realpath(p->model, NULL);
    if (!real)
        return ng_fail(err, errlen, "%s: %s", p->model, strerror(errno));
    snprintf(model_dir, sizeof model_dir, "%s", real);
    free(real);
    *strrchr(model_dir, '/') = 0;
    const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
    fprintf(f, "# %s — planned by: netrun", base);
    for (int i = 0; i < p->argc; i++)
        fprintf(f, " %s", p->argv[i]);
    fprintf(f, "\n#\n");
    for (int i = 0; i < p->n_lines; i++)
        comment(f, p->lines[i]);
    fprintf(f, "# Train: netc %s -o PLANNED.netg && netrun train PLANNED.netg --data %s --steps %lld\n#\n", base,
            p->data, (long long)p->steps);
    int no = 1;
    for (const char *s = p->text; *s; no++) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (put_line(p, s, len, model_dir, out_dir, no, f, err, errlen) != 0)
            return -1;
        s += len + (nl != NULL);
    }
    return 0;
}

int plan_write(plan_ctx *p, const char *out, char *err, size_t errlen)
{
    explain(p);
    char dir[PATH_MAX], *real;
    plan_folder_of(out, dir, sizeof dir);
    if (!(real = realpath(dir, NULL)))
        return ng_fail(err, errlen, "%s: cannot write: %s: %s", out, dir, strerror(errno));
    snprintf(dir, sizeof dir, "%s", real);
    free(real);
    ng_atomic a;
    if (ng_atomic_open(&a, out, err, errlen) != 0)
        return -1;
    int rc = put_file(p, a.fp, out, dir, err, errlen);
    if (rc == 0 && fflush(a.fp) != 0)
        rc = ng_fail(err, errlen, "%s: cannot write: %s", out, strerror(errno));
    if (rc != 0) {
        ng_atomic_abort(&a);
        return -1;
    }
    char graph[sizeof p->tmpdir + 16]; /* it compiles from where it is written, or it is not written */
    snprintf(graph, sizeof graph, "%s/check.netg", p->tmpdir);
    if (plan_netc(p, a.tmp, NULL, graph, err, errlen) != 0) {
        ng_atomic_abort(&a);
        return -1;
    }
    return ng_atomic_commit(&a, 1, err, errlen);
}

/* ---- the report --------------------------------------------------------- */

static void intensity_json(FILE *f, const char *key, const nr_fp_intensity *s)
{
    fprintf(f, "\"%s\": {\"pixels\": %lld, \"mean\": ", key, (long long)s->n);
    rp_jnum(f, s->mean);
    fputs(", \"std\": ", f);
    rp_jnum(f, s->std);
    fputs(", \"p0.5\": ", f);
    rp_jnum(f, s->p005);
    fputs(", \"p99.5\": ", f);
    rp_jnum(f, s->p995);
    fputs("}", f);
}

static void report_json(const plan_ctx *p, const char *out, FILE *f)
{
    const nr_fingerprint *fp = &p->fp;
    const nr_plan_cfg *c = &p->choice.cfg;
    fputs("{\"data\": ", f);
    nr_json_put_str(f, p->data);
    fputs(", \"model\": ", f);
    nr_json_put_str(f, p->model);
    fputs(", \"output\": ", f);
    nr_json_put_str(f, out);
    fputs(", \"netc\": ", f);
    nr_json_put_str(f, p->netc);
    fprintf(f, ", \"fingerprint\": {\"images\": %d, \"seconds\": %.3f, \"gray\": %d, \"colour\": %d, "
               "\"height\": {\"min\": %d, \"median\": %d, \"max\": %d}, "
               "\"width\": {\"min\": %d, \"median\": %d, \"max\": %d}, \"classes\": %d, "
               "\"labelled_pixels\": %lld, \"ignored_pixels\": %lld, \"background_share\": %.6f, "
               "\"connectivity\": 8, ",
            fp->images, fp->seconds, fp->gray, fp->colour, fp->h_min, fp->h_median, fp->h_max, fp->w_min,
            fp->w_median, fp->w_max, fp->classes, (long long)fp->labelled, (long long)fp->ignored,
            fp->background_share);
    intensity_json(f, "intensity", &fp->all);
    fputs(", ", f);
    intensity_json(f, "intensity_foreground", &fp->fg);
    fputs(", \"per_class\": [", f);
    for (int k = 0; k < fp->classes; k++) {
        const nr_fp_class *x = &fp->cls[k];
        fprintf(f, "%s{\"class\": %d, \"pixels\": %lld, \"share\": %.8f, \"images\": %d, \"objects\": %lld, "
                   "\"object_px\": {\"min\": %lld, \"median\": %lld, \"max\": %lld}}",
                k ? ", " : "", k, (long long)x->pixels,
                fp->labelled ? (double)x->pixels / (double)fp->labelled : 0.0, x->images, (long long)x->objects,
                (long long)x->obj_min, (long long)x->obj_median, (long long)x->obj_max);
    }
    fprintf(f, "]}, \"config\": {\"SIZE\": %d, \"DEPTH\": %d, \"BASE\": %d, \"BATCH\": %d, \"CLASSES\": %d, "
               "\"crops\": %s}, \"steps\": %lld, \"step_seconds\": %.6f, \"time_seconds\": %.3f, "
               "\"memory\": {\"budget\": %lld, \"graph\": %lld, \"process\": %lld, \"class_index\": %lld, "
               "\"decoding\": %lld, \"validation\": %lld, \"total\": %lld}, \"compiles\": %d, \"explanation\": [",
            c->size, c->depth, c->base, c->batch, c->classes, crops(p) ? "true" : "false", (long long)p->steps,
            p->step_s, p->time, (long long)p->memory, (long long)p->choice.model_bytes, (long long)p->res.process,
            (long long)p->res.class_index, (long long)p->res.decoding, (long long)p->res.validation,
            (long long)(p->choice.model_bytes + p->res.total), p->choice.compiles);
    for (int i = 0; i < p->n_lines; i++) {
        fputs(i ? ", " : "", f);
        nr_json_put_str(f, p->lines[i]);
    }
    fputs("]}\n", f);
}

void plan_report(const plan_ctx *p, const char *out, int json, FILE *f)
{
    if (json) {
        report_json(p, out, f);
        return;
    }
    const nr_fingerprint *fp = &p->fp;
    fprintf(f, "fingerprint of %s: %d images, read in %.2f s\n", p->data, fp->images, fp->seconds);
    fprintf(f, "  intensity: mean %.4f std %.4f, percentiles 0.5 %.4f 99.5 %.4f; on foreground: mean %.4f std "
               "%.4f, %.4f %.4f\n", fp->all.mean, fp->all.std, fp->all.p005, fp->all.p995, fp->fg.mean, fp->fg.std,
            fp->fg.p005, fp->fg.p995);
    fprintf(f, "  %5s %12s %9s %7s %8s  %s\n", "class", "pixels", "share", "images", "objects",
            "object px min/median/max (8-connected)");
    for (int k = 0; k < fp->classes; k++) {
        const nr_fp_class *x = &fp->cls[k];
        fprintf(f, "  %5d %12lld %8.4f%% %7d %8lld  %lld/%lld/%lld\n", k, (long long)x->pixels,
                fp->labelled ? 100.0 * (double)x->pixels / (double)fp->labelled : 0.0, x->images,
                (long long)x->objects, (long long)x->obj_min, (long long)x->obj_median, (long long)x->obj_max);
    }
    fprintf(f, "plan:\n");
    for (int i = 0; i < p->n_lines; i++)
        fprintf(f, "  %s\n", p->lines[i]);
    fprintf(f, "wrote %s\n", out);
}
