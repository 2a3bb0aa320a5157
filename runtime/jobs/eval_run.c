/* eval_run.c — `netrun eval` (eval_run.h): one pass of the eval entry over
 * the dataset that fills the confusion matrix and whatever else is asked
 * for, then the choices written and the figures printed. */
#include "eval_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "evaluate.h"
#include "layout.h"
#include "options.h"
#include "util.h"

/* Everything one evaluation holds. */
typedef struct {
    nr_dataset *ds;
    nr_confusion conf;
    nr_per_image pi;
    nr_postprocess pp, chosen;
    nr_post_set keep;
    nr_calibration cal;
    nr_calib_fit_result fit;
    nr_metrics mt;
    double loss;
} eval_state;

static void state_free(eval_state *s)
{
    nr_dataset_free(s->ds);
    nr_confusion_free(&s->conf);
    nr_per_image_free(&s->pi);
    nr_post_set_free(&s->keep);
    nr_calib_free(&s->cal);
    nr_metrics_free(&s->mt);
}

/* The choices asked for, written into the run folder; their lines for people
 * on log (or NULL). */
static int choose(eval_state *s, const nr_eval_opts *o, int k, int ignore, FILE *log, char *err, size_t errlen)
{
    char path[4096];
    if (o->choose_postprocessing) {
        if (nr_post_choose(&s->keep, k, ignore, &s->chosen, log) != 0)
            return ng_fail(err, errlen, "out of memory");
        snprintf(path, sizeof path, "%s/postprocessing.json", o->run_dir);
        if (nr_post_save(path, &s->chosen, o->data, err, errlen) != 0)
            return -1;
        if (log)
            fprintf(log, "wrote %s: foreground mean Dice per image %.4f -> %.4f\n", path, s->chosen.dice_before,
                    s->chosen.dice_after);
    }
    if (o->fit_temperature) {
        nr_calib_fit(&s->cal, &s->fit);
        snprintf(path, sizeof path, "%s/temperature.json", o->run_dir);
        if (nr_calib_save(path, &s->fit, o->data, err, errlen) != 0)
            return -1;
        if (log)
            fprintf(log, "wrote %s: temperature %.4f (NLL %.4f -> %.4f, ECE %.4f -> %.4f on %zu sampled pixels)\n",
                    path, s->fit.temperature, s->fit.nll_before, s->fit.nll_after, s->fit.ece_before, s->fit.ece_after,
                    s->fit.pixels);
    }
    return 0;
}

int nr_eval_run(nr_model *m, const nr_eval_opts *o, FILE *out, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    int k = g->bind.classes, rc = -1;
    if ((o->choose_postprocessing || o->fit_temperature) && nr_dist_size() > 1)
        return ng_fail(err, errlen,
                       "--choose-postprocessing and --fit-temperature run in one process, not under "
                       "mpirun");
    eval_state s = {0};
    double t = 1;
    if (o->postprocess && nr_post_load(o->postprocess, k, &s.pp, err, errlen) != 0)
        return -1;
    if (o->temperature && nr_calib_load(o->temperature, &t, err, errlen) != 0)
        return -1;
    if (!(s.ds = nr_dataset_open_split(o->data, o->split, 1, err, errlen)))
        return -1;
    int n = nr_dataset_count(s.ds);
    nr_eval_more more = {o->postprocess ? &s.pp : NULL, o->pooled_only ? NULL : &s.pi,
                         o->choose_postprocessing ? &s.keep : NULL, o->pooled_only ? NULL : &s.cal};
    if (nr_confusion_init(&s.conf, k) != 0 || nr_per_image_init(&s.pi, k, n, nr_option_num(g, "nsd_tolerance")) != 0 ||
        nr_calib_init(&s.cal, k, t, o->fit_temperature, n) != 0 ||
        (o->choose_postprocessing && nr_post_set_init(&s.keep, n) != 0)) {
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    if (o->fit_temperature)
        more.calib = &s.cal;
    if (nr_evaluate_with(m, o->ens, s.ds, &s.conf, &s.loss, &more, err, errlen) != 0)
        goto done;
    FILE *log = nr_dist_rank() == 0 ? (o->json ? stderr : out) : NULL;
    if (choose(&s, o, k, g->bind.ignore, log, err, errlen) != 0)
        goto done;
    if (nr_metrics_compute(&s.conf, &s.mt) != 0) {
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
    if (nr_dist_rank() != 0)
        goto done; /* the figures are the job's (dist.h): rank 0 prints them */
    if (o->json) {
        nr_metrics_json_members(out, &s.mt, &s.conf, s.loss);
        if (more.per_image)
            nr_per_image_print_json(out, &s.pi, s.ds);
        if (more.calib)
            nr_calib_print_json(out, &s.cal, o->fit_temperature ? &s.fit : NULL);
        if (o->postprocess)
            nr_post_print_json(out, &s.pp);
        fprintf(out, "}\n");
    } else {
        fprintf(out, "%d images from %s, loss %.4f\n", n, o->data, s.loss);
        nr_metrics_print(out, &s.mt);
        if (more.per_image)
            nr_per_image_print(out, &s.pi);
        if (more.calib)
            fprintf(out, "expected calibration error (15 bins, foreground probabilities at temperature %g): %.5f\n", t,
                    nr_calib_ece(&s.cal));
        nr_metrics_warn_collapse(out, &s.mt);
    }
done:
    state_free(&s);
    return rc;
}
