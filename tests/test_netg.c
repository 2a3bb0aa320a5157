/* test_netg.c — the .netg format: round trip, fault injection.
 * Builds a small segmentation graph by hand (conv, relu, 1x1 conv, weighted
 * cross-entropy, softmax; "train" with backward ops and Adam, "infer"), saves,
 * loads and compares it; then checks that every truncation and every single
 * byte flip fails cleanly, that files with a valid checksum but bad contents
 * fail with the right message (the shape rules: test_shapes.c).
 * Prints one "ok - name" / "FAIL - name" line per check; exits 1 on failure.
 * Usage: test_netg [SEED_DIR]  (also writes SEED_DIR/valid.netg and
 * SEED_DIR/payload.bin for the fuzzer's seed corpus). */
#define _POSIX_C_SOURCE 200809L
#include "netg.h"
#include "util.h"
#include "nodes.h"

#include <glob.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

static void check(int cond, const char *name)
{
    printf("%s - %s\n", cond ? "ok" : "FAIL", name);
    if (!cond)
        failures++;
}

/* check that got equals want; shows both on failure */
static void check_msg(const char *got, const char *want, const char *name)
{
    int ok = got && strcmp(got, want) == 0;
    check(ok, name);
    if (!ok)
        printf("#   got:  %s\n#   want: %s\n", got ? got : "(null)", want);
}

static char *xstrdup(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (!d)
        abort();
    return strcpy(d, s);
}

/* ---- the test graph ----------------------------------------------------- */

enum {
    T_IMAGE, T_LABELS, T_W1, T_B1, T_W2, T_B2, T_CW, T_DLOSS,
    T_H1, T_A1, T_LOGITS, T_LOSS, T_PROB, T_WS,
    T_DLOGITS, T_DW2, T_DB2, T_DA1, T_DH1, T_DW1, T_DB1,
    T_M0, /* m, v for w1, b1, w2, b2 */
    T_COUNT = T_M0 + 8
};

static void set_tensor(ng_graph *g, int id, const char *name, int dtype,
                       int role, int init, int ndim, int32_t d0, int32_t d1,
                       int32_t d2, int32_t d3)
{
    ng_tensor *t = &g->tensors[id];
    t->name = xstrdup(name);
    t->dtype = (uint8_t)dtype;
    t->role = (uint8_t)role;
    t->init = (uint8_t)init;
    t->ndim = (uint8_t)ndim;
    int32_t d[4] = { d0, d1, d2, d3 };
    for (int k = 0; k < 4; k++)
        t->dim[k] = k < ndim ? d[k] : 0;
}

/* Give every arena tensor used by e's nodes its own slot, in id order. */
static void layout(const ng_graph *g, ng_entry *e)
{
    int64_t at = 0;
    for (int32_t i = 0; i < g->n_tensors; i++) {
        int used = 0;
        for (int32_t j = 0; j < e->n_nodes && !used; j++) {
            const ng_node *n = &e->nodes[j];
            used = n->out == i || n->ws == i;
            for (int k = 0; k < n->n_in; k++)
                used |= n->in[k] == i;
        }
        e->offset[i] = -1;
        if (used && !ng_role_is_persistent(g->tensors[i].role)) {
            e->offset[i] = at;
            at += ng_tensor_bytes(&g->tensors[i]);
        }
    }
    e->arena_bytes = at;
}

static void set_entry(ng_graph *g, int ei, const char *name, const ng_node *nodes,
                      int n)
{
    ng_entry *e = &g->entries[ei];
    e->name = xstrdup(name);
    e->n_nodes = n;
    e->nodes = malloc((size_t)n * sizeof *nodes);
    e->offset = malloc((size_t)g->n_tensors * sizeof *e->offset);
    if (!e->nodes || !e->offset)
        abort();
    memcpy(e->nodes, nodes, (size_t)n * sizeof *nodes);
    layout(g, e);
}

static ng_graph *build_graph(void)
{
    ng_graph *g = calloc(1, sizeof *g);
    g->n_tensors = T_COUNT;
    g->tensors = calloc(T_COUNT, sizeof *g->tensors);
    if (!g->tensors)
        abort();
    enum { F = NG_F32, I = NG_I32 };
    set_tensor(g, T_IMAGE, "image", F, NG_ROLE_INPUT, NG_INIT_NONE, 4, 2, 1, 8, 8);
    set_tensor(g, T_LABELS, "mask", I, NG_ROLE_INPUT, NG_INIT_NONE, 3, 2, 8, 8, 0);
    set_tensor(g, T_W1, "conv1.weight", F, NG_ROLE_PARAM, NG_INIT_HE_NORMAL, 4, 4, 1, 3, 3);
    g->tensors[T_W1].init_arg[0] = 9;
    set_tensor(g, T_B1, "conv1.bias", F, NG_ROLE_PARAM, NG_INIT_ZEROS, 1, 4, 0, 0, 0);
    set_tensor(g, T_W2, "conv2.weight", F, NG_ROLE_PARAM, NG_INIT_GLOROT_UNIFORM, 4, 3, 4, 1, 1);
    g->tensors[T_W2].init_arg[0] = 4;
    g->tensors[T_W2].init_arg[1] = 3;
    set_tensor(g, T_B2, "conv2.bias", F, NG_ROLE_PARAM, NG_INIT_DATA, 1, 3, 0, 0, 0);
    g->tensors[T_B2].data = malloc(3 * sizeof(float));
    g->tensors[T_B2].data[0] = 0.5f;
    g->tensors[T_B2].data[1] = -0.25f;
    g->tensors[T_B2].data[2] = 1e-30f;
    set_tensor(g, T_CW, "loss.class_weights", F, NG_ROLE_CONST, NG_INIT_CLASS_WEIGHTS, 1, 3, 0, 0, 0);
    g->tensors[T_CW].init_arg[0] = NG_CW_BALANCED;
    g->tensors[T_CW].init_arg[1] = 10;
    set_tensor(g, T_DLOSS, "loss.seed", F, NG_ROLE_CONST, NG_INIT_ONES, 1, 1, 0, 0, 0);
    set_tensor(g, T_H1, "conv1.out", F, NG_ROLE_ACT, NG_INIT_NONE, 4, 2, 4, 8, 8);
    set_tensor(g, T_A1, "relu1.out", F, NG_ROLE_ACT, NG_INIT_NONE, 4, 2, 4, 8, 8);
    set_tensor(g, T_LOGITS, "logits", F, NG_ROLE_ACT, NG_INIT_NONE, 4, 2, 3, 8, 8);
    set_tensor(g, T_LOSS, "loss", F, NG_ROLE_ACT, NG_INIT_NONE, 1, 1, 0, 0, 0);
    set_tensor(g, T_PROB, "prediction", F, NG_ROLE_ACT, NG_INIT_NONE, 4, 2, 3, 8, 8);
    set_tensor(g, T_WS, "ws.conv1", F, NG_ROLE_WORKSPACE, NG_INIT_NONE, 1, 576, 0, 0, 0);
    set_tensor(g, T_DLOGITS, "d.logits", F, NG_ROLE_GRAD, NG_INIT_NONE, 4, 2, 3, 8, 8);
    set_tensor(g, T_DW2, "d.conv2.weight", F, NG_ROLE_GRAD, NG_INIT_NONE, 4, 3, 4, 1, 1);
    set_tensor(g, T_DB2, "d.conv2.bias", F, NG_ROLE_GRAD, NG_INIT_NONE, 1, 3, 0, 0, 0);
    set_tensor(g, T_DA1, "d.relu1.out", F, NG_ROLE_GRAD, NG_INIT_NONE, 4, 2, 4, 8, 8);
    set_tensor(g, T_DH1, "d.conv1.out", F, NG_ROLE_GRAD, NG_INIT_NONE, 4, 2, 4, 8, 8);
    set_tensor(g, T_DW1, "d.conv1.weight", F, NG_ROLE_GRAD, NG_INIT_NONE, 4, 4, 1, 3, 3);
    set_tensor(g, T_DB1, "d.conv1.bias", F, NG_ROLE_GRAD, NG_INIT_NONE, 1, 4, 0, 0, 0);
    const int params[4] = { T_W1, T_B1, T_W2, T_B2 };
    for (int p = 0; p < 4; p++)
        for (int mv = 0; mv < 2; mv++) {
            const ng_tensor *pt = &g->tensors[params[p]];
            char name[64];
            snprintf(name, sizeof name, "adam.%s.%s", mv ? "v" : "m", pt->name);
            set_tensor(g, T_M0 + 2 * p + mv, name, F, NG_ROLE_OPT_STATE,
                       NG_INIT_ZEROS, pt->ndim, pt->dim[0], pt->dim[1],
                       pt->dim[2], pt->dim[3]);
        }

    ng_node fwd[] = {
        conv(NG_OP_CONV2D, T_IMAGE, T_W1, T_B1, T_H1, T_WS, 1, 0, 0),
        mknode(NG_OP_RELU, 1, T_H1, -1, -1, -1, T_A1, -1),
        conv(NG_OP_CONV2D, T_A1, T_W2, T_B2, T_LOGITS, -1, 0, 0, 0),
    };
    ng_node train[32], infer[8];
    int nt = 0, ni = 0;
    for (int i = 0; i < 3; i++)
        train[nt++] = infer[ni++] = fwd[i];
    ng_node ce = mknode(NG_OP_CROSS_ENTROPY, 3, T_LOGITS, T_LABELS, T_CW, -1, T_LOSS, -1);
    ce.ia[0] = 255;
    train[nt++] = ce;
    ng_node ceb = mknode(NG_OP_CROSS_ENTROPY_BWD, 4, T_DLOSS, T_LOGITS, T_LABELS, T_CW,
                         T_DLOGITS, -1);
    ceb.ia[0] = 255;
    train[nt++] = ceb;
    train[nt++] = conv(NG_OP_CONV2D_BWD_FILTER, T_DLOGITS, T_A1, -1, T_DW2, -1, 0, 1, 1);
    train[nt++] = mknode(NG_OP_CONV2D_BWD_BIAS, 1, T_DLOGITS, -1, -1, -1, T_DB2, -1);
    train[nt++] = conv(NG_OP_CONV2D_BWD_DATA, T_DLOGITS, T_W2, -1, T_DA1, -1, 0, 8, 8);
    train[nt++] = mknode(NG_OP_RELU_BWD, 2, T_DA1, T_A1, -1, -1, T_DH1, -1);
    train[nt++] = conv(NG_OP_CONV2D_BWD_FILTER, T_DH1, T_IMAGE, -1, T_DW1, T_WS, 1, 3, 3);
    train[nt++] = mknode(NG_OP_CONV2D_BWD_BIAS, 1, T_DH1, -1, -1, -1, T_DB1, -1);
    const int grads[4] = { T_DW1, T_DB1, T_DW2, T_DB2 };
    for (int p = 0; p < 4; p++) {
        ng_node a = mknode(NG_OP_ADAM, 4, params[p], grads[p], T_M0 + 2 * p,
                           T_M0 + 2 * p + 1, -1, -1);
        a.fa[0] = 1e-3f;
        a.fa[1] = 0.9f;
        a.fa[2] = 0.999f;
        a.fa[3] = 1e-7f;
        a.fa[4] = 0.01f;
        train[nt++] = a;
    }
    infer[ni] = mknode(NG_OP_SOFTMAX, 1, T_LOGITS, -1, -1, -1, T_PROB, -1);
    infer[ni++].ia[0] = 1; /* over channels */

    g->n_entries = 2;
    g->entries = calloc(2, sizeof *g->entries);
    set_entry(g, 0, "train", train, nt);
    set_entry(g, 1, "infer", infer, ni);

    g->bind = (ng_bindings){
        .image = T_IMAGE, .labels = T_LABELS, .classes = 3, .ignore = 255,
        .loss = T_LOSS, .output = T_PROB, .class_weights = T_CW,
        .step = -1, .total_steps = -1,
        .output_name = xstrdup("prediction"), .optimizer = xstrdup("adam"),
    };
    g->n_options = 2;
    g->options = calloc(2, sizeof *g->options);
    g->options[0] = (ng_option){xstrdup("crop"), xstrdup("random")};
    g->options[1] = (ng_option){xstrdup("foreground"), xstrdup("0.33")};
    g->source = xstrdup("models/tiny.net");
    return g;
}

/* ---- comparison --------------------------------------------------------- */

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int float_eq(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* 1 when a and b agree in every field; else 0 with the first difference. */
static int graphs_equal(const ng_graph *a, const ng_graph *b, char *why,
                        size_t n)
{
#define DIFF(...) return snprintf(why, n, __VA_ARGS__), 0
    if (!str_eq(a->source, b->source))
        DIFF("source");
    if (a->n_tensors != b->n_tensors)
        DIFF("n_tensors");
    for (int32_t i = 0; i < a->n_tensors; i++) {
        const ng_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (!str_eq(x->name, y->name) || x->dtype != y->dtype ||
            x->role != y->role || x->init != y->init || x->ndim != y->ndim)
            DIFF("tensor %d header", i);
        for (int k = 0; k < 4; k++)
            if (x->dim[k] != y->dim[k] || !float_eq(x->init_arg[k], y->init_arg[k]))
                DIFF("tensor %d dim/init_arg %d", i, k);
        if (!x->data != !y->data)
            DIFF("tensor %d data presence", i);
        for (int64_t k = 0; x->data && k < ng_tensor_nelem(x); k++)
            if (!float_eq(x->data[k], y->data[k]))
                DIFF("tensor %d data[%" PRId64 "]", i, k);
    }
    const ng_bindings *p = &a->bind, *q = &b->bind;
    if (p->image != q->image || p->labels != q->labels ||
        p->classes != q->classes || p->ignore != q->ignore ||
        p->loss != q->loss || p->output != q->output ||
        p->class_weights != q->class_weights ||
        p->step != q->step || p->total_steps != q->total_steps ||
        !str_eq(p->output_name, q->output_name) ||
        !str_eq(p->optimizer, q->optimizer))
        DIFF("bindings");
    if (a->n_options != b->n_options)
        DIFF("n_options");
    for (int32_t i = 0; i < a->n_options && i < b->n_options; i++)
        if (!str_eq(a->options[i].key, b->options[i].key) ||
            !str_eq(a->options[i].value, b->options[i].value))
            DIFF("option %d", i);
    if (a->n_entries != b->n_entries)
        DIFF("n_entries");
    for (int32_t i = 0; i < a->n_entries; i++) {
        const ng_entry *e = &a->entries[i], *f = &b->entries[i];
        if (!str_eq(e->name, f->name) || e->n_nodes != f->n_nodes ||
            e->arena_bytes != f->arena_bytes)
            DIFF("entry %d header", i);
        for (int32_t j = 0; j < e->n_nodes; j++) {
            const ng_node *x = &e->nodes[j], *y = &f->nodes[j];
            if (x->op != y->op || x->n_in != y->n_in || x->out != y->out ||
                x->ws != y->ws)
                DIFF("entry %d node %d header", i, j);
            for (int k = 0; k < NG_MAX_IN; k++)
                if (x->in[k] != y->in[k])
                    DIFF("entry %d node %d in[%d]", i, j, k);
            for (int k = 0; k < NG_MAX_IA; k++)
                if (x->ia[k] != y->ia[k])
                    DIFF("entry %d node %d ia[%d]", i, j, k);
            for (int k = 0; k < NG_MAX_FA; k++)
                if (!float_eq(x->fa[k], y->fa[k]))
                    DIFF("entry %d node %d fa[%d]", i, j, k);
        }
        for (int32_t t = 0; t < a->n_tensors; t++)
            if (e->offset[t] != f->offset[t])
                DIFF("entry %d offset[%d]", i, t);
    }
    return 1;
#undef DIFF
}

/* ---- helpers for fault injection --------------------------------------- */

/* Serialize g (no validation), parse it as "x.netg", expect failure with
 * exactly want. */
static void expect_parse_error(const ng_graph *g, const char *want,
                               const char *name)
{
    unsigned char *buf;
    size_t len;
    char err[512] = "";
    if (ng_graph_serialize(g, &buf, &len, err, sizeof err)) {
        check(0, name);
        printf("#   serialize: %s\n", err);
        return;
    }
    ng_graph *h = ng_graph_parse(buf, len, "x.netg", err, sizeof err);
    free(buf);
    check_msg(h ? "(parsed)" : err, want, name);
    ng_graph_free(h);
}

/* Rewrite the header of a file image for a payload of plen bytes. */
static void rewrite_header(unsigned char *f, size_t plen)
{
    uint32_t crc = ng_crc32(f + 24, plen);
    for (int i = 0; i < 8; i++)
        f[12 + i] = (unsigned char)((uint64_t)plen >> (8 * i));
    for (int i = 0; i < 4; i++)
        f[20 + i] = (unsigned char)(crc >> (8 * i));
}

static void test_roundtrip(const ng_graph *g, const char *seed_dir)
{
    char err[512] = "", path[256], why[128] = "";
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/test_netg.%ld.netg", dir, (long)getpid());

    int rc = ng_graph_check(g, err, sizeof err);
    check(rc == 0, "hand-built graph passes ng_graph_check");
    if (rc)
        printf("#   %s\n", err);
    check(ng_graph_save(g, path, err, sizeof err) == 0, "ng_graph_save");
    char tmp[300];
    glob_t left;
    snprintf(tmp, sizeof tmp, "%s.tmp.*", path);
    check(glob(tmp, 0, NULL, &left) == GLOB_NOMATCH, "save leaves no temporary file");
    ng_graph *h = ng_graph_load(path, err, sizeof err);
    check(h != NULL, "ng_graph_load of the saved file");
    if (!h) {
        printf("#   %s\n", err);
        return;
    }
    int eq = graphs_equal(g, h, why, sizeof why);
    check(eq, "loaded graph equals the saved one, field by field");
    if (!eq)
        printf("#   first difference: %s\n", why);
    check(ng_graph_entry(h, "train") == &h->entries[0] &&
          ng_graph_entry(h, "infer") == &h->entries[1] &&
          ng_graph_entry(h, "eval") == NULL, "ng_graph_entry");
    ng_graph_free(h);
    remove(path);

    check(ng_graph_save(g, "/nonexistent-dir/x.netg", err, sizeof err) == -1 &&
          strncmp(err, "/nonexistent-dir/x.netg: cannot write: ", 39) == 0,
          "save into a missing directory fails with a message");
    h = ng_graph_load("/nonexistent-dir/x.netg", err, sizeof err);
    check(!h && strstr(err, "/nonexistent-dir/x.netg: cannot open: ") == err,
          "load of a missing file fails with a message");

    if (seed_dir) {
        unsigned char *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/valid.netg", seed_dir);
        check(ng_graph_save(g, path, err, sizeof err) == 0, "write seed file");
        /* the payload alone, prefixed by the harness's mode byte */
        if (ng_graph_serialize(g, &buf, &len, err, sizeof err) == 0) {
            snprintf(path, sizeof path, "%s/payload.bin", seed_dir);
            FILE *f = fopen(path, "wb");
            if (f) {
                fputc(1, f);
                fwrite(buf + 24, 1, len - 24, f);
                fclose(f);
            }
            free(buf);
        }
    }
}

static void test_corruption(const ng_graph *g)
{
    unsigned char *buf;
    size_t len;
    char err[512];
    if (ng_graph_serialize(g, &buf, &len, err, sizeof err)) {
        check(0, "serialize");
        return;
    }
    ng_graph *h = ng_graph_parse(buf, len, "x.netg", err, sizeof err);
    check(h != NULL, "parse of the serialized image");
    ng_graph_free(h);

    size_t bad = 0;
    for (size_t n = 0; n < len; n++) {
        err[0] = 0;
        h = ng_graph_parse(buf, n, "x.netg", err, sizeof err);
        if (h || strncmp(err, "x.netg: ", 8) != 0) {
            if (!bad)
                printf("#   length %zu: %s\n", n, h ? "parsed" : err);
            bad++;
        }
        ng_graph_free(h);
    }
    printf("#   %zu-byte file\n", len);
    check(bad == 0, "every truncation fails with a message");

    bad = 0;
    unsigned char *copy = malloc(len);
    memcpy(copy, buf, len);
    for (size_t i = 0; i < len; i++) {
        for (int mask = 1; mask <= 0x80; mask <<= 7) {
            copy[i] ^= (unsigned char)mask;
            h = ng_graph_parse(copy, len, "x.netg", err, sizeof err);
            if (h) {
                if (!bad)
                    printf("#   flip at %zu parsed\n", i);
                bad++;
            }
            ng_graph_free(h);
            copy[i] = buf[i];
        }
    }
    check(bad == 0, "every single-byte flip fails");

    /* The same with a consistent header, so the payload reader itself runs
     * out of bytes in every field. */
    size_t plen = len - 24, sections = 0;
    char last[512] = "";
    bad = 0;
    for (size_t n = 0; n < plen; n++) {
        memcpy(copy, buf, 24 + n);
        rewrite_header(copy, n);
        h = ng_graph_parse(copy, 24 + n, "x.netg", err, sizeof err);
        if (h || strncmp(err, "x.netg: truncated (", 19) != 0) {
            if (!bad)
                printf("#   payload length %zu: %s\n", n, h ? "parsed" : err);
            bad++;
        } else if (strcmp(err, last) != 0) {
            sections++;
            if (getenv("TEST_NETG_VERBOSE"))
                printf("#   from payload byte %zu: %s\n", n, err);
            snprintf(last, sizeof last, "%s", err);
        }
        ng_graph_free(h);
    }
    printf("#   %zu different truncation messages, the last: %s\n", sections, last);
    check(bad == 0, "every payload truncation (checksum fixed) says truncated");

    /* Flips with the checksum fixed: some still parse (a float, an unused
     * attribute); none may crash or leak (run under valgrind or ASan). */
    size_t parsed = 0;
    memcpy(copy, buf, len);
    for (size_t i = 24; i < len; i++) {
        for (int mask = 1; mask <= 0x80; mask <<= 1) {
            copy[i] ^= (unsigned char)mask;
            rewrite_header(copy, plen);
            h = ng_graph_parse(copy, len, "x.netg", err, sizeof err);
            parsed += h != NULL;
            ng_graph_free(h);
            copy[i] = buf[i];
        }
    }
    printf("#   %zu of %zu bit flips with a fixed checksum still parse\n", parsed,
           plen * 8);
    check(1, "bit flips with a fixed checksum fail cleanly or parse");

    unsigned char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    h = ng_graph_parse(longer, len + 1, "x.netg", err, sizeof err);
    check_msg(h ? "(parsed)" : err, "x.netg: 1 bytes after the end of the payload",
              "trailing byte");
    free(longer);

    h = ng_graph_parse(buf, 3, "x.netg", err, sizeof err);
    check_msg(h ? "(parsed)" : err, "x.netg: truncated (header)", "3-byte file");
    h = ng_graph_parse((const unsigned char *)"PK\3\4", 4, "x.netg", err, sizeof err);
    check_msg(h ? "(parsed)" : err, "x.netg: not a netg file (bad magic)", "bad magic");
    copy[4] = 7;
    h = ng_graph_parse(copy, len, "x.netg", err, sizeof err);
    check_msg(h ? "(parsed)" : err, "x.netg: version 7, this netrun reads version 3",
              "newer version");
    copy[4] = buf[4];
    copy[len / 2] ^= 0x10;
    h = ng_graph_parse(copy, len, "x.netg", err, sizeof err);
    check_msg(h ? "(parsed)" : err, "x.netg: checksum mismatch (file corrupt)",
              "payload byte flipped");
    h = ng_graph_parse(buf, len - 1, "x.netg", err, sizeof err);
    char want[128];
    snprintf(want, sizeof want, "x.netg: truncated (payload: %zu of %zu bytes)",
             len - 25, len - 24);
    check_msg(h ? "(parsed)" : err, want, "last byte cut");
    free(copy);
    free(buf);
}

/* Each case edits the graph, expects the message, and rebuilds the graph. */
static void test_bad_contents(void)
{
    ng_graph *g;
    char want[256];

#define CASE(edit, msg, name)                                                  \
    do {                                                                       \
        g = build_graph();                                                     \
        edit;                                                                  \
        expect_parse_error(g, msg, name);                                      \
        ng_graph_free(g);                                                      \
    } while (0)

    CASE(g->entries[0].nodes[1].in[0] = 999,
         "x.netg: entry 'train', node 1: relu: in[0] is tensor 999, out of range "
         "(29 tensors)", "bad tensor index");
    CASE((g->tensors[T_A1].dim[3] = 9, layout(g, &g->entries[0]),
          layout(g, &g->entries[1])),
         "x.netg: entry 'train', node 1: relu: out (tensor 9 'relu1.out') is f32 "
         "2x4x8x9 but the op gives f32 2x4x8x8", "wrong shape");
    CASE(g->tensors[T_W1].dim[1] = 2,
         "x.netg: entry 'train', node 0: conv2d: weight expects 2 input channels "
         "but the input has 1", "weight of the wrong shape");
    g = build_graph();
    snprintf(want, sizeof want, "x.netg: entry 'train': tensor 20 ('d.conv1.bias') "
             "at offset %" PRId64 " (16 bytes) is outside the %" PRId64
             "-byte arena", g->entries[0].arena_bytes - 4,
             g->entries[0].arena_bytes);
    ng_graph_free(g);
    CASE(g->entries[0].offset[T_DB1] = g->entries[0].arena_bytes - 4, want,
         "offset past the arena");
    g = build_graph();
    snprintf(want, sizeof want, "x.netg: entry 'train': tensor 20 ('d.conv1.bias') "
             "at offset %" PRId64 " is not 4-byte aligned",
             g->entries[0].offset[T_DB1] - 2);
    ng_graph_free(g);
    CASE(g->entries[0].offset[T_DB1] -= 2, want, "unaligned offset");
    CASE(g->entries[0].offset[T_W1] = 0,
         "x.netg: entry 'train': param tensor 2 ('conv1.weight') has offset 0; "
         "persistent tensors have -1", "persistent tensor with an offset");
    CASE(g->entries[1].offset[T_PROB] = -1,
         "x.netg: entry 'infer', node 3: softmax: out (tensor 12 'prediction') "
         "has no offset in this entry", "output without an offset");
    CASE((free(g->tensors[T_PROB].name),
          g->tensors[T_PROB].name = xstrdup("logits")),
         "x.netg: tensors 10 and 12 are both named 'logits'", "duplicate name");
    char op_msg[128];
    snprintf(op_msg, sizeof op_msg, "x.netg: entry 'train', node 2: op 99 out of range (%d ops)",
             NG_OP_COUNT);
    CASE(g->entries[0].nodes[2].op = 99, op_msg, "op out of range");
    CASE(g->tensors[T_PROB].dim[1] = -3, "x.netg: tensor 12 has dim -3",
         "negative dim");
    CASE(g->tensors[T_PROB].ndim = 5, "x.netg: tensor 12 has 5 dims (at most 4)",
         "too many dims");
    CASE((g->tensors[T_PROB].dim[0] = 1 << 20, g->tensors[T_PROB].dim[2] = 1 << 20),
         "x.netg: tensor 12 is 1048576x3x1048576x8, over the 1099511627776-byte "
         "limit", "tensor over the size limit");
    CASE((g->entries[0].nodes[1] = g->entries[0].nodes[0],
          g->entries[0].nodes[0] = mknode(NG_OP_RELU, 1, T_H1, -1, -1, -1, T_A1, -1)),
         "x.netg: entry 'train', node 0: relu: in[0] reads tensor 8 ('conv1.out') "
         "before any node of this entry writes it", "read before write");
    CASE(g->entries[0].nodes[11].out = T_LOSS,
         "x.netg: entry 'train', node 11: adam: out is 11 but the op writes in "
         "place (expected -1)", "update with an output");
    CASE(g->entries[0].nodes[11].in[2] = T_DLOSS,
         "x.netg: entry 'train', node 11: adam: in[2] (tensor 7 'loss.seed') is a "
         "const tensor, expected opt_state", "update of a const");
    CASE(g->entries[0].nodes[1].out = T_W1,
         "x.netg: entry 'train', node 1: relu: out (tensor 2 'conv1.weight') is a "
         "param tensor; outputs are act or grad tensors", "write to a param");
    CASE(g->entries[0].nodes[1].in[1] = 3,
         "x.netg: entry 'train', node 1: relu: unused in[1] is 3, expected -1",
         "unused input slot");
    CASE(g->entries[0].nodes[0].in[1] = -1,
         "x.netg: entry 'train', node 0: conv2d: in[1] is missing",
         "missing required input");
    CASE(g->entries[0].nodes[2].in[2] = -1, "(parsed)", "absent conv bias is fine");
    CASE(g->entries[0].nodes[1].n_in = 2,
         "x.netg: entry 'train', node 1: relu: 2 inputs, expects 1",
         "wrong input count");
    CASE(g->entries[0].nodes[0].ws = -1,
         "x.netg: entry 'train', node 0: conv2d: needs a workspace of 576 floats "
         "but has none", "missing workspace");
    CASE((g->tensors[T_WS].dim[0] = 100, layout(g, &g->entries[0]),
          layout(g, &g->entries[1])),
         "x.netg: entry 'train', node 0: conv2d: workspace (tensor 13 'ws.conv1') "
         "has 100 floats, needs 576", "workspace too small");
    CASE(g->entries[0].nodes[1].ws = T_WS,
         "x.netg: entry 'train', node 1: relu: ws is 13 but the op takes no "
         "workspace (expected -1)", "workspace on a plain op");
    CASE(g->tensors[T_LABELS].dtype = NG_F32,
         "x.netg: bindings: labels ('mask') must be an i32 (N,H,W) input",
         "f32 labels");
    CASE(g->bind.classes = 4,
         "x.netg: bindings: output ('prediction') is 2x3x8x8, expected f32 "
         "(N,4,H,W)", "classes disagree with the output");
    CASE(g->bind.classes = 300, "x.netg: bindings: 300 classes (1 to 256)",
         "too many classes");
    CASE(g->bind.loss = 29,
         "x.netg: bindings: loss is tensor 29, out of range (29 tensors)",
         "binding out of range");
    CASE(g->bind.step = T_IMAGE,
         "x.netg: bindings: step ('image') must be an f32 scalar input", "step bound to the image");
    CASE((free(g->options[1].key), g->options[1].key = xstrdup("crop")),
         "x.netg: options: 'crop' is set twice", "an option set twice");
    CASE(g->tensors[T_CW].init_arg[0] = 5,
         "x.netg: tensor 6 ('loss.class_weights'): unknown class-weight scheme 5",
         "unknown class-weight scheme");
    CASE(g->tensors[T_CW].init_arg[0] = 0.5f,
         "x.netg: tensor 6 ('loss.class_weights'): unknown class-weight scheme 0.5",
         "fractional class-weight scheme");
    CASE(g->tensors[T_W1].init = NG_INIT_NONE,
         "x.netg: tensor 2 ('conv1.weight'): a param tensor needs an initializer",
         "param without an initializer");
    CASE(g->tensors[T_W1].role = 9, "x.netg: tensor 2 ('conv1.weight') has role 9",
         "role out of range");
    CASE(g->tensors[T_W1].dtype = 2, "x.netg: tensor 2 ('conv1.weight') has dtype 2",
         "dtype out of range");
    CASE(g->tensors[T_W1].init = 42, "x.netg: tensor 2 ('conv1.weight') has init 42",
         "init out of range");
    CASE((free(g->tensors[T_W1].name), g->tensors[T_W1].name = NULL),
         "x.netg: tensor 2 has no name", "empty name");
    CASE((free(g->entries[1].name), g->entries[1].name = xstrdup("train")),
         "x.netg: entries 0 and 1 are both named 'train'", "duplicate entry name");
    CASE(g->entries[0].nodes[3].in[1] = T_IMAGE,
         "x.netg: entry 'train', node 3: cross_entropy: labels must be i32 (a "
         "labels input)", "f32 tensor as labels");
    CASE(g->entries[0].nodes[11].fa[1] = 1.5f,
         "x.netg: entry 'train', node 11: adam: beta1 = 1.5 must be in [0, 1)",
         "adam beta out of range");

    /* formats the writer refuses */
    g = build_graph();
    char err[256], *long_name = malloc(5000);
    memset(long_name, 'a', 4999);
    long_name[4999] = 0;
    free(g->source);
    g->source = long_name;
    unsigned char *buf;
    size_t len;
    check(ng_graph_serialize(g, &buf, &len, err, sizeof err) == -1,
          "serialize refuses a 5000-byte string");
    check_msg(err, "the source name is longer than 4096 bytes",
              "  ... with a message");
    ng_graph_free(g);
    g = build_graph();
    free(g->tensors[T_B2].data);
    g->tensors[T_B2].data = NULL;
    check(ng_graph_serialize(g, &buf, &len, err, sizeof err) == -1,
          "serialize refuses init data without data");
    ng_graph_free(g);
#undef CASE
}

int main(int argc, char **argv)
{
    ng_graph *g = build_graph();
    test_roundtrip(g, argc > 1 ? argv[1] : NULL);
    test_corruption(g);
    ng_graph_free(g);
    test_bad_contents();
    printf("%s: %d failure%s\n", failures ? "FAIL" : "PASS", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
