/* test_export.c — the export writers of runtime/io/: protobuf's wire format
 * (pb.c) byte for byte and read back, the .npy header (npy.c), and an ONNX
 * model (onnx.c) of a small compiled graph read back field by field: IR
 * version, opset, the nodes' op types, the initializers, input, output and
 * manifest; an op with no ONNX form named in the error.  ONNX Runtime and
 * python3-onnx check the models of models/ in tests/e2e_export.sh. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compile.h"
#include "npy.h"
#include "onnx.h"
#include "pb.h"

/* ---- a protobuf reader, for reading back ------------------------------- */

typedef struct {
    const unsigned char *p, *end;
} rd;

static int rd_varint(rd *r, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 70 && r->p < r->end; s += 7) {
        unsigned char c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* The next field: its number, wire type and, for LEN, its contents as a
 * sub-reader; for VARINT its value.  0, or -1 at the end or on bad input. */
static int rd_field(rd *r, uint32_t *field, int *wire, uint64_t *v, rd *sub)
{
    uint64_t key;
    if (r->p >= r->end || rd_varint(r, &key) != 0)
        return -1;
    *field = (uint32_t)(key >> 3), *wire = (int)(key & 7);
    if (*wire == NR_PB_VARINT)
        return rd_varint(r, v);
    if (*wire == NR_PB_I32) {
        if (r->end - r->p < 4)
            return -1;
        memcpy(v, r->p, 4);
        r->p += 4;
        return 0;
    }
    if (*wire != NR_PB_LEN || rd_varint(r, v) != 0 || *v > (uint64_t)(r->end - r->p))
        return -1;
    sub->p = r->p, sub->end = r->p + *v;
    r->p += *v;
    return 0;
}

/* The string field f of message m (first one), in buf. */
static const char *rd_str(rd m, uint32_t f, char *buf, size_t n)
{
    uint32_t field;
    int wire;
    uint64_t v;
    rd sub;
    buf[0] = 0;
    while (rd_field(&m, &field, &wire, &v, &sub) == 0)
        if (field == f && wire == NR_PB_LEN) {
            size_t len = (size_t)(sub.end - sub.p) < n - 1 ? (size_t)(sub.end - sub.p) : n - 1;
            memcpy(buf, sub.p, len);
            buf[len] = 0;
            break;
        }
    return buf;
}

static int bytes_are(const ng_buf *b, const char *want, size_t n)
{
    return b->len == n && memcmp(b->b, want, n) == 0;
}

static void test_pb(void)
{
    static const struct {
        uint64_t v;
        const char *bytes;
        size_t n;
    } cases[] = {{0, "\x00", 1}, {1, "\x01", 1}, {127, "\x7f", 1}, {128, "\x80\x01", 2}, {300, "\xac\x02", 2},
                 {UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ng_buf b = {0};
        nr_pb_varint(&b, cases[i].v);
        char name[64];
        snprintf(name, sizeof name, "pb: varint %llu", (unsigned long long)cases[i].v);
        check(bytes_are(&b, cases[i].bytes, cases[i].n), name, "%zu bytes", b.len);
        free(b.b);
    }
    ng_buf b = {0};
    nr_pb_int(&b, 1, 150);      /* protobuf's documentation: 08 96 01 */
    nr_pb_int(&b, 2, -1);       /* int64 -1: ten bytes */
    nr_pb_str(&b, 3, "testing"); /* 1a 07 ... */
    nr_pb_float(&b, 4, 1.0f);   /* 25 00 00 80 3f */
    check(bytes_are(&b, "\x08\x96\x01" "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" "\x1a\x07testing"
                        "\x25\x00\x00\x80\x3f", 3 + 11 + 9 + 5),
          "pb: int, negative int64, string and float fields as protobuf's encoding guide", "%zu bytes", b.len);
    free(b.b);

    /* nested messages whose lengths take one and two bytes */
    memset(&b, 0, sizeof b);
    size_t outer = nr_pb_open(&b, 7);
    size_t inner = nr_pb_open(&b, 1);
    char big[200];
    memset(big, 'x', sizeof big);
    nr_pb_bytes(&b, 9, big, sizeof big);
    nr_pb_close(&b, inner);
    nr_pb_int(&b, 2, 5);
    int rc = nr_pb_close(&b, outer);
    rd r = {b.b, b.b + b.len}, o, in, leaf;
    uint32_t f;
    int w;
    uint64_t v = 0, v2 = 0, v3 = 0;
    int okr = rc == 0 && rd_field(&r, &f, &w, &v, &o) == 0 && f == 7 && w == NR_PB_LEN && r.p == r.end &&
              rd_field(&o, &f, &w, &v2, &in) == 0 && f == 1 && v2 == 203 &&
              rd_field(&in, &f, &w, &v3, &leaf) == 0 && f == 9 && v3 == 200 && leaf.p[0] == 'x' &&
              rd_field(&o, &f, &w, &v, &leaf) == 0 && f == 2 && v == 5 && o.p == o.end;
    check(okr && b.len == 3 + 3 + 3 + 200 + 2 && b.b[1] == 0xd0 && b.b[2] == 0x01,
          "pb: nested messages read back, lengths of one and two bytes", "%zu bytes", b.len);
    free(b.b);

    ng_buf full = {0};
    full.oom = 1;
    check(nr_pb_int(&full, 1, 1) == -1 && nr_pb_close(&full, 0) == -1 && full.len == 0,
          "pb: out of memory makes every call fail and write nothing", "");
}

static void test_npy(void)
{
    float data[24];
    for (int i = 0; i < 24; i++)
        data[i] = (float)i / 8;
    int64_t dim[3] = {2, 3, 4}, one = 5;
    unsigned char *buf;
    size_t len;
    int rc = nr_npy_encode_f32(3, dim, data, &buf, &len);
    size_t hlen = rc == 0 ? (size_t)(buf[8] | buf[9] << 8) : 0;
    check(rc == 0 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0 && (10 + hlen) % 64 == 0 && buf[9 + hlen] == '\n' &&
              strstr((char *)buf + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }") ==
                  (char *)buf + 10 && len == 10 + hlen + sizeof data && !memcmp(buf + 10 + hlen, data, sizeof data),
          "npy: magic, version 1.0, header padded to 64 bytes, C-order float32 data", "rc %d, header %zu", rc, hlen);
    if (rc == 0)
        free(buf);
    rc = nr_npy_encode_f32(1, &one, data, &buf, &len);
    check(rc == 0 && strstr((char *)buf + 10, "'shape': (5,), }") != NULL, "npy: a 1-D shape is (5,)", "");
    if (rc == 0)
        free(buf);
}

static const char model[] = "input image : f32[2, 1, 8, 8]\n"
                            "input mask : labels[2, 8, 8] classes 3\n"
                            "x = conv2d(image, 4, 3, pad = same)\n"
                            "y = group_norm(relu(x), 2)\n"
                            "logits = conv2d(upsample(maxpool(y), 2), 3, 1)\n"
                            "output prediction = softmax(logits, axis = 1)\n"
                            "loss = cross_entropy(logits, mask)\n"
                            "minimize loss with adam(lr = 1e-3)\n";

static float zeros[1 << 12];
static const float *zero_value(void *ctx, int32_t t)
{
    (void)ctx, (void)t;
    return zeros;
}

static void test_onnx(void)
{
    nc_options o = {.path = "export.net", .text = model, .len = sizeof model - 1};
    nc_unit u;
    if (!check(nc_compile(&u, &o) == 0, "onnx: the model compiles", ""))
        return;
    ng_graph *g = u.out;
    char err[1024], s[256], types[1024] = "";
    unsigned char *buf = NULL;
    size_t len = 0;
    nr_onnx_opts x = {"infer", "9.9", "{\"format\": 1}", zero_value, NULL};
    int rc = nr_onnx_build(g, &x, &buf, &len, err, sizeof err);
    check(rc == 0, "onnx: the model builds", "%s", err);
    rd r = {buf, buf + len}, sub, gsub;
    uint32_t f;
    int w;
    uint64_t v;
    int64_t ir = 0, opset = 0;
    int n_init = 0, n_in = 0, n_out = 0;
    char meta[256] = "", in_name[64] = "", out_name[64] = "";
    while (rc == 0 && rd_field(&r, &f, &w, &v, &sub) == 0) {
        if (f == 1)
            ir = (int64_t)v;
        if (f == 8) {
            uint32_t f2;
            int w2;
            uint64_t v2;
            rd s2;
            while (rd_field(&sub, &f2, &w2, &v2, &s2) == 0)
                if (f2 == 2)
                    opset = (int64_t)v2;
        }
        if (f == 14)
            snprintf(meta, sizeof meta, "%s=%s", rd_str(sub, 1, s, sizeof s), rd_str(sub, 2, s + 128, 128));
        if (f != 7)
            continue;
        while (rd_field(&sub, &f, &w, &v, &gsub) == 0) {
            if (f == 1)
                snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", types[0] ? " " : "",
                         rd_str(gsub, 4, s, sizeof s));
            n_init += f == 5, n_in += f == 11, n_out += f == 12;
            if (f == 11)
                rd_str(gsub, 1, in_name, sizeof in_name);
            if (f == 12)
                rd_str(gsub, 1, out_name, sizeof out_name);
        }
    }
    check(ir == 8 && opset == 17, "onnx: IR version 8, opset 17", "%lld, %lld", (long long)ir, (long long)opset);
    check(!strcmp(types, "Conv Relu Reshape InstanceNormalization Shape Reshape Unsqueeze Mul Unsqueeze Add "
                         "MaxPool Resize Conv Softmax"),
          "onnx: the nodes (group norm as PyTorch 1.13 exports it)", "%s", types);
    /* 2 convs x (weight, bias), gamma, beta; group norm: shape, ones, zeros,
     * axes; resize: scales */
    check(n_init == 11 && n_in == 1 && n_out == 1 && !strcmp(in_name, "image") && !strcmp(out_name, "prediction"),
          "onnx: initializers, one input 'image', one output 'prediction'", "%d %d %d %s %s", n_init, n_in, n_out,
          in_name, out_name);
    check(!strcmp(meta, "netrun={\"format\": 1}"), "onnx: the manifest in metadata_props", "%s", meta);
    free(buf);

    /* an op with no ONNX form in the infer entry */
    ng_entry *e = (ng_entry *)ng_graph_entry(g, "infer");
    ng_node *n = &e->nodes[0];
    n->op = NG_OP_CONV2D_BWD_BIAS;
    n->n_in = 1;
    rc = nr_onnx_build(g, &x, &buf, &len, err, sizeof err);
    check(rc == -1 && strstr(err, "op conv2d_bwd_bias (output x.conv1) has no ONNX form: a training op"),
          "onnx: an op with no ONNX form is named with its output", "%s", err);
    nc_unit_free(&u);
}

int main(void)
{
    test_pb();
    test_npy();
    test_onnx();
    return check_done();
}
