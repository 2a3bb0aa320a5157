/* test_backend.c — the backend seam (runtime/backend/backend.h): a small
 * compiled model trained and run through a wrapping backend that forwards
 * to the CPU one and checks every call: each allocation, copy, node and
 * collective goes through it, every pointer a kernel gets lies in a block
 * it allocated, every block is freed, and the results equal the plain CPU
 * backend's bit for bit.  As a mirror of two ranks (the other rank the same
 * as this one: its sums double) it takes the data-parallel path of
 * exec/grad_sync.c; the averages then equal this rank's gradients, so the
 * results still match only if every sum went through the wrapper.  Then
 * each allocation in turn fails: a clean error, no block left behind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compile.h"
#include "cpu.h"
#include "exec.h"

/* conv, batch norm (statistics averaged after the run), pooling, spatial
 * dropout (draws by rank), upsampling, concat, cross-entropy, Adam with a
 * clipping norm (a reader of the averaged gradients) */
static const char model[] =
    "input image : f32[2, 1, 16, 16]\n"
    "input mask  : labels[2, 16, 16] classes 3\n"
    "h = relu(batch_norm(conv2d(image, 4, 3, pad = same)))\n"
    "d = spatial_dropout(relu(conv2d(maxpool(h, 2), 8, 3, pad = same)), 0.5)\n"
    "u = relu(conv2d(upsample(d, 2), 4, 2, pad = same))\n"
    "logits = conv2d(concat(h, u), 3, 1)\n"
    "output prediction = softmax(logits, axis = 1)\n"
    "minimize cross_entropy(logits, mask) with adam(lr = 1e-2, clip_norm = 1)\n";

enum { STEPS = 3, MAX_BLOCKS = 4096 };

/* ---- the wrapping backend ---------------------------------------------- */

static const nr_backend *cpu;
static int w_ranks = 1;      /* 2: the mirror */
static int w_refuse = -1;    /* an op supports() refuses, or -1 */
static int w_fail_at;        /* the allocation (1, 2, ...) that fails, or 0 */
static struct {
    int alloc, free, upload, download, supports, run, sum, isum, arrived, wait, scale, sync;
    int outside;             /* pointers not in a live block of ours */
} n;
static struct {
    unsigned char *p;
    size_t bytes;
} blk[MAX_BLOCKS];
static int n_blk;

/* 1 when [p, p+bytes) lies in a live block */
static int ours(const void *p, size_t bytes)
{
    const unsigned char *q = p;
    for (int i = 0; i < n_blk; i++)
        if (q >= blk[i].p && q + bytes <= blk[i].p + blk[i].bytes)
            return 1;
    return 0;
}

static void mine(const void *p, size_t bytes) { n.outside += !ours(p, bytes); }

static void *w_alloc(size_t bytes)
{
    if (++n.alloc == w_fail_at)
        return NULL;
    void *p = cpu->alloc(bytes);
    if (p && n_blk < MAX_BLOCKS)
        blk[n_blk].p = p, blk[n_blk++].bytes = bytes;
    return p;
}

static void w_free(void *p)
{
    if (!p)
        return;
    n.free++;
    int i = 0;
    while (i < n_blk && blk[i].p != p)
        i++;
    if (i == n_blk)
        n.outside++;
    else
        blk[i] = blk[--n_blk];
    cpu->free(p);
}

static void w_upload(void *dst, const void *src, size_t bytes)
{
    n.upload++;
    mine(dst, bytes);
    cpu->upload(dst, src, bytes);
}

static void w_download(void *dst, const void *src, size_t bytes)
{
    n.download++;
    mine(src, bytes);
    cpu->download(dst, src, bytes);
}

static int w_supports(const ng_node *node, int precision)
{
    n.supports++;
    return node->op != w_refuse && cpu->supports(node, precision);
}

static int64_t w_scratch_bytes(const ng_graph *g, const ng_node *node, int precision)
{
    return cpu->scratch_bytes(g, node, precision);
}

static void w_run(const nr_kctx *k)
{
    n.run++;
    const ng_node *node = k->n;
    const ng_tensor *T = k->g->tensors;
    for (int s = 0; s < node->n_in; s++)
        if (node->in[s] >= 0)
            mine(k->in[s], (size_t)ng_tensor_bytes(&T[node->in[s]]));
    if (node->out >= 0)
        mine(k->y, (size_t)ng_tensor_bytes(&T[node->out]));
    if (node->ws >= 0)
        mine(k->ws, (size_t)ng_tensor_bytes(&T[node->ws]));
    int64_t sb = cpu->scratch_bytes(k->g, node, k->precision);
    if (sb > 0)
        mine(k->scratch, (size_t)sb);
    cpu->run(k);
}

static int w_rank(void) { return 0; }
static int w_ranks_fn(void) { return w_ranks; }

/* The mirror's sum: this rank's x plus the other's, the same. */
static void twice(float *x, int64_t len)
{
    for (int64_t i = 0; i < len; i++)
        x[i] += x[i];
}

static void w_sum(float *x, int64_t len)
{
    n.sum++;
    mine(x, (size_t)len * sizeof *x);
    cpu->sum(x, len);
    if (w_ranks == 2)
        twice(x, len);
}

static void w_isum(float *x, int64_t len, nr_dist_req *r)
{
    n.isum++;
    mine(x, (size_t)len * sizeof *x);
    cpu->isum(x, len, r);
    if (w_ranks == 2)
        twice(x, len);
}

static int w_test(nr_dist_req *r)
{
    int done = cpu->test(r);
    n.arrived += done;
    return done;
}

static void w_wait(nr_dist_req *r)
{
    n.wait++;
    cpu->wait(r);
}

static void w_scale(float *x, int64_t len, float a)
{
    n.scale++;
    mine(x, (size_t)len * sizeof *x);
    cpu->scale(x, len, a);
}

static void w_sync(void)
{
    n.sync++;
    cpu->sync();
}

static const nr_backend wrap = {
    .name = "wrap", .alloc = w_alloc, .free = w_free, .upload = w_upload, .download = w_download,
    .supports = w_supports, .scratch_bytes = w_scratch_bytes, .run = w_run, .rank = w_rank, .ranks = w_ranks_fn,
    .sum = w_sum, .isum = w_isum, .test = w_test, .wait = w_wait, .scale = w_scale, .sync = w_sync,
};

/* ---- runs ----------------------------------------------------------------- */

static ng_graph *compile(void)
{
    nc_options o = {.path = "backend.net", .text = model, .len = sizeof model - 1};
    nc_unit u;
    if (nc_compile(&u, &o) != 0)
        return NULL;
    ng_graph *g = u.out;
    u.out = NULL;
    nc_unit_free(&u);
    return g;
}

static int nodes_of(const ng_graph *g, const char *entry)
{
    const ng_entry *en = ng_graph_entry(g, entry);
    return en ? en->n_nodes : 0;
}

/* What a run leaves: every persistent tensor, then the prediction and the
 * loss of the last train step, read through the model (download). */
typedef struct {
    unsigned char *bytes;
    size_t len;
} result;

/* STEPS train steps and one infer on fixed inputs, the model's backend be:
 * 0 with the result in *r (the caller frees r->bytes), or -1 with err. */
static int train_infer(const nr_backend *be, int unshared, result *r, char *err, size_t errlen)
{
    r->bytes = NULL;
    ng_graph *g = compile();
    if (!g) {
        snprintf(err, errlen, "compile failed");
        return -1;
    }
    nr_model *m = nr_model_new(g, be, 7, err, errlen);
    if (!m)
        return -1;
    nr_model_set_unshared(m, unshared);
    const ng_graph *G = nr_model_graph(m);
    float image[2 * 16 * 16];
    int32_t labels[2 * 16 * 16];
    uint64_t s = 12345;
    for (int i = 0; i < 2 * 16 * 16; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        image[i] = (float)((s >> 40) * (1.0 / 16777216.0));
        labels[i] = (int32_t)((s >> 20) % 3);
    }
    int ok = nr_model_write(m, G->bind.image, image, sizeof image) == 0 &&
             nr_model_write(m, G->bind.labels, labels, sizeof labels) == 0;
    for (int i = 0; ok && i < STEPS; i++)
        ok = nr_model_run(m, "train") == 0;
    ok = ok && nr_model_run(m, "infer") == 0;
    const ng_tensor *out = &G->tensors[G->bind.output];
    size_t len = (size_t)ng_tensor_bytes(out) + sizeof(float);
    for (int t = 0; t < G->n_tensors; t++)
        if (nr_model_state(m, t))
            len += (size_t)ng_tensor_bytes(&G->tensors[t]);
    unsigned char *b = ok ? malloc(len) : NULL, *p = b;
    for (int t = 0; b && ok && t < G->n_tensors; t++)
        if (nr_model_state(m, t)) {
            ok = nr_model_read(m, "train", t, p, (size_t)ng_tensor_bytes(&G->tensors[t])) == 0;
            p += ng_tensor_bytes(&G->tensors[t]);
        }
    ok = ok && b && nr_model_read(m, "infer", G->bind.output, p, (size_t)ng_tensor_bytes(out)) == 0 &&
         nr_model_read(m, "train", G->bind.loss, p + ng_tensor_bytes(out), sizeof(float)) == 0;
    if (ok) {
        r->bytes = b;
        r->len = len;
    } else {
        snprintf(err, errlen, "%s", b || nr_model_error(m)[0] ? nr_model_error(m) : "out of memory");
        free(b);
    }
    nr_model_free(m);
    return ok ? 0 : -1;
}

static int same(result a, result b) { return a.bytes && b.bytes && a.len == b.len && !memcmp(a.bytes, b.bytes, a.len); }

/* Fails the 1st, 2nd, ... allocation of the run of train_infer through the
 * wrapper until one completes: each failure is an error with a message,
 * leaves no block behind, and the completed run has plain's results. */
static void failing_allocations(result plain, int unshared, const char *name)
{
    char err[1024];
    int bad = 0, k;
    for (k = 1; k < 100; k++) {
        memset(&n, 0, sizeof n);
        w_fail_at = k;
        result r;
        err[0] = 0;
        int rc = train_infer(&wrap, unshared, &r, err, sizeof err);
        w_fail_at = 0;
        if (rc == 0) {
            bad += !same(plain, r) || n_blk != 0;
            free(r.bytes);
            break;
        }
        bad += !strstr(err, "out of memory") || n_blk != 0;
        if (n_blk != 0)
            printf("# allocation %d failed: %d blocks left (%s)\n", k, n_blk, err);
        n_blk = 0;
    }
    check(bad == 0 && k > 2 && k < 100, name, "%d bad of %d", bad, k);
}

int main(void)
{
    cpu = nr_backend_cpu();
    ng_graph *g = compile();
    if (!check(g != NULL, "compile", "the model does not compile"))
        return 1;
    int train_nodes = nodes_of(g, "train"), infer_nodes = nodes_of(g, "infer"), all_nodes = 0;
    for (int e = 0; e < g->n_entries; e++)
        all_nodes += g->entries[e].n_nodes;
    ng_graph_free(g);
    char err[1024];

    result plain;
    if (!check(train_infer(cpu, 0, &plain, err, sizeof err) == 0, "cpu backend: train and infer", "%s", err))
        return 1;

    memset(&n, 0, sizeof n);
    result wrapped;
    check(train_infer(&wrap, 0, &wrapped, err, sizeof err) == 0, "wrapped backend: train and infer", "%s", err);
    check(same(plain, wrapped), "wrapped: the same parameters, optimizer state, prediction and loss", "differ");
    check(n.supports == all_nodes, "wrapped: supports asked once per node of every entry", "%d of %d",
          n.supports, all_nodes);
    check(n.run == STEPS * train_nodes + infer_nodes, "wrapped: every node through run", "%d runs, %d expected",
          n.run, STEPS * train_nodes + infer_nodes);
    check(n.sync == STEPS + 1, "wrapped: one sync per entry run", "%d syncs", n.sync);
    check(n.alloc > 0 && n.alloc == n.free && n_blk == 0, "wrapped: every allocation through alloc, freed by free",
          "%d allocs, %d frees, %d blocks left", n.alloc, n.free, n_blk);
    check(n.outside == 0, "wrapped: every kernel pointer, copy and free in a block of the backend",
          "%d outside", n.outside);
    check(n.upload > 0 && n.download > 0, "wrapped: initialization and inputs uploaded, results downloaded",
          "%d uploads, %d downloads", n.upload, n.download);
    check(n.sum + n.isum + n.scale == 0, "wrapped, one rank: no collective", "%d sums, %d isums, %d scales", n.sum,
          n.isum, n.scale);

    memset(&n, 0, sizeof n);
    result unshared;
    check(train_infer(&wrap, 1, &unshared, err, sizeof err) == 0, "wrapped, unshared tensors: train and infer", "%s",
          err);
    check(same(plain, unshared), "unshared: the same results", "differ");
    check(n.alloc > 0 && n.alloc == n.free && n_blk == 0 && n.outside == 0,
          "unshared: each tensor's buffer from alloc, freed, every pointer in one",
          "%d allocs, %d frees, %d left, %d outside", n.alloc, n.free, n_blk, n.outside);

    memset(&n, 0, sizeof n);
    w_ranks = 2;
    result mirror;
    check(train_infer(&wrap, 0, &mirror, err, sizeof err) == 0, "mirror of two ranks: train and infer", "%s", err);
    check(same(plain, mirror), "mirror: the same results (every average through the backend's sums)", "differ");
    check(n.isum >= STEPS && n.isum == n.arrived + n.wait,
          "mirror: gradient buckets summed with isum, each seen to arrive (test) or waited for",
          "%d isums, %d arrived, %d waits", n.isum, n.arrived, n.wait);
    check(n.sum == STEPS, "mirror: the batch-norm statistics summed once per step", "%d sums", n.sum);
    check(n.scale > n.isum, "mirror: the averages divided through scale", "%d scales", n.scale);
    check(n.alloc == n.free && n_blk == 0 && n.outside == 0,
          "mirror: the buckets' memory from alloc, every kernel pointer in a block", "%d allocs, %d frees, %d outside",
          n.alloc, n.free, n.outside);
    failing_allocations(plain, 0, "mirror: each failing allocation an error, no block left");
    w_ranks = 1;
    failing_allocations(plain, 0, "each failing allocation an error, no block left");
    failing_allocations(plain, 1, "unshared: each failing allocation an error, no block left");

    memset(&n, 0, sizeof n);
    w_refuse = NG_OP_MAXPOOL;
    err[0] = 0;
    g = compile();
    nr_model *m = g ? nr_model_new(g, &wrap, 7, err, sizeof err) : NULL;
    w_refuse = -1;
    check(!m && strstr(err, "the wrap backend cannot run maxpool at f32") && n.alloc == 0,
          "a node the backend does not support: refused at nr_model_new, before any allocation", "%s",
          m ? "accepted" : err);
    nr_model_free(m);

    free(plain.bytes);
    free(wrapped.bytes);
    free(unshared.bytes);
    free(mirror.bytes);
    return check_done();
}
