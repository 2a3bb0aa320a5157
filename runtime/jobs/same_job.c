/* same_job.c — the ranks of a data-parallel run agree on their graph,
 * options and data before the first step (same_job.h). */
#define _POSIX_C_SOURCE 200809L
#include "same_job.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dist.h"
#include "util.h"

static uint64_t digest_str(uint64_t h, const char *s)
{
    return s ? ng_fnv1a(h, s, strlen(s) + 1) : h; /* NULL differs from "" */
}

static uint64_t digest_i64(uint64_t h, int64_t v) { return ng_fnv1a(h, &v, sizeof v); }

/* A file's size, -1 when it cannot be stat'ed. */
static int64_t file_size(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static uint64_t digest_data(uint64_t h, const nr_dataset *ds)
{
    int n = nr_dataset_count(ds);
    h = digest_i64(h, ds ? n : -1);
    for (int i = 0; i < n; i++) {
        h = digest_str(h, nr_dataset_name(ds, i));
        h = digest_i64(h, file_size(nr_dataset_image_path(ds, i)));
        h = digest_i64(h, file_size(nr_dataset_mask_path(ds, i)));
    }
    return h;
}

/* "1, 3" for the ranks r with bad[r] != 0 into buf. */
static void rank_list(char *buf, size_t n, const double *bad, int size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int r = 0; r < size && len < n; r++)
        if (bad[r] != 0)
            len += (size_t)snprintf(buf + len, n - len, len ? ", %d" : "%d", r);
}

int nr_dist_same_job(nr_model *m, const nr_train_opts *o, const nr_dataset *ds, const nr_dataset *vs, char *err,
                     size_t errlen)
{
    int size = nr_dist_size(), rank = nr_dist_rank();
    if (size < 2)
        return 0;
    enum { GRAPH, OPTIONS, DATA, PARTS };
    static const char *const what[PARTS] = {
        "the graph (the .netg) differs", "the options (--epochs, --steps, --seed, --no-shuffle, --augment, --split, "
        "--val, --val-split, --best-metric, --checkpoint-every) differ", "the data (file names and sizes) differs"};
    uint64_t h0 = NG_FNV_BASIS, mine[PARTS] = {h0, h0, h0};
    unsigned char *img = NULL;
    size_t len = 0;
    char why[512];
    if (ng_graph_serialize(nr_model_graph(m), &img, &len, why, sizeof why) == 0) /* else the digest of nothing */
        mine[GRAPH] = ng_fnv1a(h0, img, len);
    free(img);
    const int64_t opts[] = {o->epochs, o->steps, (int64_t)o->seed, o->shuffle, o->augment, o->checkpoint_every,
                            o->val != NULL};
    mine[OPTIONS] = ng_fnv1a(h0, opts, sizeof opts);
    mine[OPTIONS] = digest_str(digest_str(digest_str(mine[OPTIONS], o->split), o->val_split), o->best_metric);
    mine[DATA] = digest_data(digest_data(h0, ds), vs);
    uint64_t root[PARTS];
    memcpy(root, mine, sizeof root);
    nr_dist_bcast(root, sizeof root);
    double *bad = calloc((size_t)PARTS * (size_t)size, sizeof *bad); /* (PARTS, size): rank r's part differs */
    if (!bad) { /* the others go on to the sum below: end the job */
        fprintf(stderr, "netrun: out of memory\n");
        nr_dist_abort(1);
    }
    for (int k = 0; k < PARTS; k++)
        bad[k * size + rank] = root[k] != mine[k];
    nr_dist_sum_f64(bad, PARTS * size);
    char msg[1024] = "", ranks[256];
    size_t at = 0;
    for (int k = 0; k < PARTS; k++) {
        rank_list(ranks, sizeof ranks, bad + k * size, size);
        if (ranks[0] && at < sizeof msg)
            at += (size_t)snprintf(msg + at, sizeof msg - at, "%s%s from rank 0's on rank%s %s", at ? "; " : "",
                                   what[k], strchr(ranks, ',') ? "s" : "", ranks);
    }
    free(bad);
    int rc = nr_dist_agree(msg[0] != 0); /* the same verdict on every rank, and failed together */
    if (rc != 0 && rank == 0)
        ng_fail(err, errlen, "the ranks do not run the same job: %s; start every rank with the same graph, options "
                "and data", msg);
    else if (rc != 0 && errlen)
        err[0] = 0; /* rank 0 says it */
    return rc;
}
