/* plan_int.h — what plan.c (the command, netc, the bench) and plan_write.c
 * (the planned model file, the explanation, the report) share. */
#ifndef NR_PLAN_INT_H
#define NR_PLAN_INT_H

#include <limits.h>
#include <stdio.h>

#include "fingerprint.h"
#include "netg.h"
#include "plan.h"

/* The bytes of a training process besides the graph's (plan.c's reserve). */
typedef struct {
    int64_t process, class_index, decoding, validation, total;
} plan_reserve;

typedef struct {
    const nr_backend *be;
    int argc;
    char **argv;                 /* the command line, for the file's header */
    const char *data;
    char model[PATH_MAX];        /* the model file planned */
    int model_given;             /* --model */
    char *text;                  /* its text */
    int has_foreground;          /* it has const FOREGROUND */
    char netc[PATH_MAX];
    const char *netc_how;        /* where netc was found */
    char tmpdir[2048];           /* candidates' graphs, netc's log */
    int64_t memory, mem_total;   /* the budget; MemTotal (0: unknown) */
    double memory_share;         /* the default budget's share of MemTotal */
    int memory_given, time_given;
    double time;                 /* seconds */
    nr_fingerprint fp;
    plan_reserve res;
    int64_t batch_cap;
    nr_plan_choice choice;
    nr_plan_cfg memory_cfg;      /* the memory's search's choice (choice.cfg before the time's rule) */
    int time_stepped;            /* the time's rule chose a smaller configuration */
    double memory_step_s;        /* the bench's median train step of memory_cfg */
    double memory_epochs, epochs; /* passes over the data in the time: memory_cfg's, the choice's */
    double step_s;               /* the bench's median train step */
    int64_t steps;
    char *lines[16];             /* the explanation, one choice a line (plan_write) */
    int n_lines;
} plan_ctx;

/* Run netc on model (-D the consts of c; c NULL: the file's own) writing
 * out; netc's messages go to tmpdir/netc.log.  0, or -1 with err holding
 * netc's first line. */
int plan_netc(const plan_ctx *p, const char *model, const nr_plan_cfg *c, const char *out, char *err,
              size_t errlen);
/* The bytes a training process holds for graph g on be: the persistent
 * tensors twice (a checkpoint is read or written whole: the report loads
 * best.safetensors), the train and eval arenas, the largest convolution
 * workspace, the batcher's two batches. */
int64_t plan_graph_bytes(const ng_graph *g, const nr_backend *be);

/* The folder of path ("." for a bare name) into dir. */
void plan_folder_of(const char *path, char *dir, size_t n);
/* text has a top-level `const NAME =`. */
int plan_has_const(const char *text, const char *name);
/* The explanation into p->lines, the planned model file at out (the model
 * text with its imports made relative to out's folder and the planned
 * consts), checked by compiling it with netc, then written atomically.  0
 * or -1 with err; nothing is written on failure. */
int plan_write(plan_ctx *p, const char *out, char *err, size_t errlen);
/* The fingerprint and the explanation: as text, or with json one object. */
void plan_report(const plan_ctx *p, const char *out, int json, FILE *f);
/* Free p->lines. */
void plan_lines_free(plan_ctx *p);

#endif
