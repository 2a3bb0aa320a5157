/* onnx.c — a graph entry as an ONNX ModelProto (onnx.h).  Each op's form is
 * its row of graph/ops_onnx.def: an emitter below that writes one or more
 * NodeProtos (and the constants they need as initializers) into the
 * GraphProto being built.  Field numbers: onnx/onnx.proto (IR version 8). */
#define _POSIX_C_SOURCE 200809L
#include "onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"
#include "util.h"

/* onnx.proto's field numbers and enums */
enum { MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_DOC = 6,
       MODEL_GRAPH = 7, MODEL_OPSET = 8, MODEL_METADATA = 14 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum { ENTRY_KEY = 1, ENTRY_VALUE = 2 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_INTS = 8, ATTR_TYPE = 20 };
enum { ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_INTS_TYPE = 7 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW = 9 };
enum { DT_FLOAT = 1, DT_INT64 = 7 };
enum { VALUE_NAME = 1, VALUE_TYPE = 2, TYPE_TENSOR = 1, TT_ELEM = 1, TT_SHAPE = 2, SHAPE_DIM = 1,
       DIM_VALUE = 1, DIM_PARAM = 2 };

#define NAME_MAX_LEN (NG_MAX_STRING + 64)

typedef struct {
    ng_buf *b;
    const ng_graph *g;
    const nr_onnx_opts *o;
    unsigned char *written;  /* per tensor: its initializer is in the graph */
    char *err;
    size_t errlen;
} nx;

/* ---- names, initializers, nodes, attributes ---------------------------- */

/* Tensor t's name in the model: the model file's output name for the bound
 * output, else its graph name. */
static const char *tname(const nx *x, int32_t t)
{
    return t == x->g->bind.output && x->g->bind.output_name ? x->g->bind.output_name : x->g->tensors[t].name;
}

/* A name derived from node output out: "OUT/what". */
static const char *derived(char *buf, const nx *x, int32_t out, const char *what)
{
    snprintf(buf, NAME_MAX_LEN, "%s/%s", tname(x, out), what);
    return buf;
}

static void initializer(nx *x, const char *name, int dtype, int ndim, const int64_t *dim, const void *data,
                        size_t bytes)
{
    size_t at = nr_pb_open(x->b, GRAPH_INITIALIZER);
    for (int d = 0; d < ndim; d++)
        nr_pb_int(x->b, TENSOR_DIMS, dim[d]);
    nr_pb_int(x->b, TENSOR_DATA_TYPE, dtype);
    nr_pb_str(x->b, TENSOR_NAME, name);
    nr_pb_bytes(x->b, TENSOR_RAW, data, bytes); /* little-endian, as this machine (x86, arm64) */
    nr_pb_close(x->b, at);
}

/* A 1-D int64 constant (ndim 0 when scalar). */
static const char *const_i64(nx *x, const char *name, int n, const int64_t *v, int scalar)
{
    int64_t dim = n;
    initializer(x, name, DT_INT64, scalar ? 0 : 1, &dim, v, sizeof *v * (size_t)n);
    return name;
}

static const char *const_f32(nx *x, const char *name, int n, const float *v, int scalar)
{
    int64_t dim = n;
    initializer(x, name, DT_FLOAT, scalar ? 0 : 1, &dim, v, sizeof *v * (size_t)n);
    return name;
}

/* The name of input i of node n, its initializer written the first time a
 * persistent tensor other than the image is read; "" for an absent input;
 * NULL with err for a persistent input the exported model cannot hold. */
static const char *in_name(nx *x, const ng_node *n, int i)
{
    int32_t t = n->in[i];
    if (t < 0)
        return "";
    const ng_tensor *v = &x->g->tensors[t];
    if (t == x->g->bind.image || !ng_role_is_persistent(v->role) || x->written[t])
        return tname(x, t);
    if (v->role == NG_ROLE_INPUT) {
        ng_fail(x->err, x->errlen, "op %s reads tensor %s, an input netrun feeds at run time; the ONNX model's "
                "one input is the image", ng_ops[n->op].name, v->name);
        return NULL;
    }
    if (v->dtype != NG_F32) {
        ng_fail(x->err, x->errlen, "op %s reads tensor %s, an i32 constant; only f32 ones are exported",
                ng_ops[n->op].name, v->name);
        return NULL;
    }
    int64_t dim[NG_MAX_DIMS];
    for (int d = 0; d < v->ndim; d++)
        dim[d] = v->dim[d];
    const float *data = x->o->value(x->o->ctx, t);
    initializer(x, v->name, DT_FLOAT, v->ndim, dim, data, (size_t)ng_tensor_bytes(v));
    x->written[t] = 1;
    return v->name;
}

static size_t node_open(nx *x, const char *type, const char *name, int n_in, const char *const *in,
                        const char *out)
{
    size_t at = nr_pb_open(x->b, GRAPH_NODE);
    while (n_in > 0 && !in[n_in - 1][0]) /* trailing absent inputs are left out */
        n_in--;
    for (int i = 0; i < n_in; i++)
        nr_pb_str(x->b, NODE_INPUT, in[i]);
    nr_pb_str(x->b, NODE_OUTPUT, out);
    nr_pb_str(x->b, NODE_NAME, name);
    nr_pb_str(x->b, NODE_OP_TYPE, type);
    return at;
}

/* A node without attributes. */
static void node(nx *x, const char *type, int n_in, const char *const *in, const char *out)
{
    nr_pb_close(x->b, node_open(x, type, out, n_in, in, out));
}

static void attr_int(nx *x, const char *name, int64_t v)
{
    size_t at = nr_pb_open(x->b, NODE_ATTRIBUTE);
    nr_pb_str(x->b, ATTR_NAME, name);
    nr_pb_int(x->b, ATTR_TYPE, ATTR_INT);
    nr_pb_int(x->b, ATTR_I, v);
    nr_pb_close(x->b, at);
}

static void attr_float(nx *x, const char *name, float v)
{
    size_t at = nr_pb_open(x->b, NODE_ATTRIBUTE);
    nr_pb_str(x->b, ATTR_NAME, name);
    nr_pb_int(x->b, ATTR_TYPE, ATTR_FLOAT);
    nr_pb_float(x->b, ATTR_F, v);
    nr_pb_close(x->b, at);
}

static void attr_str(nx *x, const char *name, const char *s)
{
    size_t at = nr_pb_open(x->b, NODE_ATTRIBUTE);
    nr_pb_str(x->b, ATTR_NAME, name);
    nr_pb_int(x->b, ATTR_TYPE, ATTR_STRING);
    nr_pb_str(x->b, ATTR_S, s);
    nr_pb_close(x->b, at);
}

static void attr_ints(nx *x, const char *name, int n, const int64_t *v)
{
    size_t at = nr_pb_open(x->b, NODE_ATTRIBUTE);
    nr_pb_str(x->b, ATTR_NAME, name);
    nr_pb_int(x->b, ATTR_TYPE, ATTR_INTS_TYPE);
    for (int i = 0; i < n; i++)
        nr_pb_int(x->b, ATTR_INTS, v[i]);
    nr_pb_close(x->b, at);
}

/* The names of n's inputs (in[]), NULL when one cannot be exported. */
static int inputs(nx *x, const ng_node *n, const char **in)
{
    for (int i = 0; i < n->n_in; i++)
        if (!(in[i] = in_name(x, n, i)))
            return -1;
    return 0;
}

/* ---- the emitters of ops_onnx.def --------------------------------------- */

typedef int (*emitter)(nx *x, const ng_node *n, const char *what);

static int x_none(nx *x, const ng_node *n, const char *why)
{
    return ng_fail(x->err, x->errlen, "op %s (output %s) has no ONNX form: %s", ng_ops[n->op].name,
                   n->out >= 0 ? x->g->tensors[n->out].name : "none", why);
}

/* One node of op type `type`, n's inputs and output. */
static int x_same(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    if (inputs(x, n, in))
        return -1;
    node(x, type, n->n_in, in, tname(x, n->out));
    return 0;
}

/* CONV2D: Conv (+ Relu when the relu is fused) */
static int x_conv(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char conv[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    const ng_tensor *w = &x->g->tensors[n->in[1]];
    const char *out = n->ia[5] ? derived(conv, x, n->out, "conv") : tname(x, n->out);
    int64_t d = ng_conv_dilation(n), s = n->ia[0];
    int64_t ks[2] = {w->dim[2], w->dim[3]}, st[2] = {s, s}, dil[2] = {d, d},
            pads[4] = {n->ia[1], n->ia[2], n->ia[3], n->ia[4]};
    size_t at = node_open(x, type, out, n->n_in, in, out);
    attr_ints(x, "kernel_shape", 2, ks);
    attr_ints(x, "strides", 2, st);
    attr_ints(x, "pads", 4, pads);
    attr_ints(x, "dilations", 2, dil);
    attr_int(x, "group", ng_conv_groups(n));
    nr_pb_close(x->b, at);
    if (n->ia[5])
        node(x, "Relu", 1, (const char *[]){out}, tname(x, n->out));
    return 0;
}

/* CONV_TRANSPOSE2D: ConvTranspose, output_padding from the output size */
static int x_conv_transpose(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    if (inputs(x, n, in))
        return -1;
    const ng_tensor *xi = &x->g->tensors[n->in[0]], *w = &x->g->tensors[n->in[1]];
    int64_t s = n->ia[0], ks[2] = {w->dim[2], w->dim[3]}, st[2] = {s, s},
            pads[4] = {n->ia[1], n->ia[2], n->ia[3], n->ia[4]};
    int64_t op[2] = {n->ia[5] - (s * (xi->dim[2] - 1) + ks[0] - pads[0] - pads[2]),
                     n->ia[6] - (s * (xi->dim[3] - 1) + ks[1] - pads[1] - pads[3])};
    size_t at = node_open(x, type, tname(x, n->out), n->n_in, in, tname(x, n->out));
    attr_ints(x, "kernel_shape", 2, ks);
    attr_ints(x, "strides", 2, st);
    attr_ints(x, "pads", 4, pads);
    attr_ints(x, "output_padding", 2, op);
    nr_pb_close(x->b, at);
    return 0;
}

/* MAXPOOL, AVG_POOL: k x k windows, stride k */
static int x_pool(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    if (inputs(x, n, in))
        return -1;
    int64_t k[2] = {n->ia[0], n->ia[0]};
    size_t at = node_open(x, type, tname(x, n->out), 1, in, tname(x, n->out));
    attr_ints(x, "kernel_shape", 2, k);
    attr_ints(x, "strides", 2, k);
    nr_pb_close(x->b, at);
    return 0;
}

/* UPSAMPLE (nearest), UPSAMPLE_BILINEAR (linear): Resize by scales
 * (1, 1, s, s), the coordinate mapping of PyTorch's interpolate */
static int x_resize(nx *x, const ng_node *n, const char *mode)
{
    const char *in[NG_MAX_IN];
    char sc[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    float s = (float)n->ia[0], scales[4] = {1, 1, s, s};
    const char *rin[3] = {in[0], "", const_f32(x, derived(sc, x, n->out, "scales"), 4, scales, 0)};
    size_t at = node_open(x, "Resize", tname(x, n->out), 3, rin, tname(x, n->out));
    attr_str(x, "mode", mode);
    if (n->op == NG_OP_UPSAMPLE) {
        attr_str(x, "coordinate_transformation_mode", "asymmetric");
        attr_str(x, "nearest_mode", "floor");
    } else {
        attr_str(x, "coordinate_transformation_mode", n->ia[1] ? "align_corners" : "pytorch_half_pixel");
    }
    nr_pb_close(x->b, at);
    return 0;
}

static int x_concat(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    if (inputs(x, n, in))
        return -1;
    size_t at = node_open(x, type, tname(x, n->out), n->n_in, in, tname(x, n->out));
    attr_int(x, "axis", 1);
    nr_pb_close(x->b, at);
    return 0;
}

/* SLICE_C (channels c0.., count), SLICE (axis, start, count): Slice */
static int x_slice(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char b[3][NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    int c = n->op == NG_OP_SLICE_C;
    int64_t axis = c ? 1 : n->ia[0], start = c ? n->ia[0] : n->ia[1], count = c ? n->ia[1] : n->ia[2],
            end = start + count;
    const char *sin[4] = {in[0], const_i64(x, derived(b[0], x, n->out, "starts"), 1, &start, 0),
                          const_i64(x, derived(b[1], x, n->out, "ends"), 1, &end, 0),
                          const_i64(x, derived(b[2], x, n->out, "axes"), 1, &axis, 0)};
    node(x, type, 4, sin, tname(x, n->out));
    return 0;
}

/* MUL_CHANNEL: x (N,C,H,W) * Unsqueeze(m (N,C), axes 2, 3) */
static int x_mul_channel(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char ax[NAME_MAX_LEN], m[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    int64_t axes[2] = {2, 3};
    node(x, "Unsqueeze", 2, (const char *[]){in[1], const_i64(x, derived(ax, x, n->out, "axes"), 2, axes, 0)},
         derived(m, x, n->out, "mask"));
    node(x, type, 2, (const char *[]){in[0], m}, tname(x, n->out));
    return 0;
}

/* SOFTMAX, LOG_SOFTMAX: along ia[0] */
static int x_axis(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    if (inputs(x, n, in))
        return -1;
    size_t at = node_open(x, type, tname(x, n->out), 1, in, tname(x, n->out));
    attr_int(x, "axis", n->ia[0]);
    nr_pb_close(x->b, at);
    return 0;
}

/* POW: Pow(x, p) */
static int x_pow(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char p[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    node(x, type, 2, (const char *[]){in[0], const_f32(x, derived(p, x, n->out, "p"), 1, &n->fa[0], 1)},
         tname(x, n->out));
    return 0;
}

/* CLAMP: Clip(x, lo, hi) */
static int x_clamp(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char lo[NAME_MAX_LEN], hi[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    node(x, type, 3, (const char *[]){in[0], const_f32(x, derived(lo, x, n->out, "lo"), 1, &n->fa[0], 1),
                                      const_f32(x, derived(hi, x, n->out, "hi"), 1, &n->fa[1], 1)},
         tname(x, n->out));
    return 0;
}

static int x_leaky_relu(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    if (inputs(x, n, in))
        return -1;
    size_t at = node_open(x, type, tname(x, n->out), 1, in, tname(x, n->out));
    attr_float(x, "alpha", n->fa[0]);
    nr_pb_close(x->b, at);
    return 0;
}

/* REDUCE_SUM: ReduceSum over the mask's dims (kept), Reshape to the
 * output's shape, Mul by scale unless it is 1 */
static int x_reduce_sum(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char b[5][NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    const ng_tensor *xi = &x->g->tensors[n->in[0]], *y = &x->g->tensors[n->out];
    int64_t axes[NG_MAX_DIMS], shape[NG_MAX_DIMS];
    int na = 0;
    for (int d = 0; d < xi->ndim; d++)
        if (n->ia[0] >> d & 1)
            axes[na++] = d;
    for (int d = 0; d < y->ndim; d++)
        shape[d] = y->dim[d];
    const char *kept = derived(b[0], x, n->out, "kept"),
               *reshaped = n->fa[0] != 1 ? derived(b[1], x, n->out, "sum") : tname(x, n->out);
    size_t at = node_open(x, type, kept, 2,
                          (const char *[]){in[0], const_i64(x, derived(b[2], x, n->out, "axes"), na, axes, 0)}, kept);
    attr_int(x, "keepdims", 1);
    nr_pb_close(x->b, at);
    node(x, "Reshape", 2, (const char *[]){kept, const_i64(x, derived(b[3], x, n->out, "shape"), y->ndim, shape, 0)},
         reshaped);
    if (n->fa[0] != 1)
        node(x, "Mul", 2, (const char *[]){reshaped, const_f32(x, derived(b[4], x, n->out, "scale"), 1, &n->fa[0], 1)},
             tname(x, n->out));
    return 0;
}

static int x_reshape(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char s[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    int64_t shape[NG_MAX_DIMS];
    for (int d = 0; d < n->ia[0]; d++)
        shape[d] = n->ia[1 + d];
    node(x, type, 2, (const char *[]){in[0], const_i64(x, derived(s, x, n->out, "shape"), n->ia[0], shape, 0)},
         tname(x, n->out));
    return 0;
}

/* GROUP_NORM as PyTorch 1.13 exports it: Reshape (N, G, -1),
 * InstanceNormalization with unit scale and zero bias, Reshape back to
 * Shape(x), then Mul gamma and Add beta, each Unsqueezed to (C, 1, 1); the
 * result named out */
static int group_norm_to(nx *x, const ng_node *n, const char *type, const char *out)
{
    const char *in[NG_MAX_IN];
    char b[12][NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    int G = n->ia[0];
    float *ones = malloc(sizeof *ones * (size_t)G * 2);
    if (!ones)
        return ng_fail(x->err, x->errlen, "out of memory");
    for (int i = 0; i < G; i++)
        ones[i] = 1, ones[G + i] = 0;
    int64_t gshape[3] = {0, G, -1}, axes[2] = {1, 2};
    int has_g = n->in[1] >= 0, has_b = n->in[2] >= 0;
    const char *grouped = derived(b[0], x, n->out, "grouped"), *normed = derived(b[1], x, n->out, "normed"),
               *shape = derived(b[2], x, n->out, "shape"),
               *back = has_g || has_b ? derived(b[3], x, n->out, "ungrouped") : out,
               *scaled = has_g && has_b ? derived(b[4], x, n->out, "scaled") : out,
               *ax = has_g || has_b ? const_i64(x, derived(b[5], x, n->out, "axes"), 2, axes, 0) : NULL;
    node(x, "Reshape", 2, (const char *[]){in[0], const_i64(x, derived(b[6], x, n->out, "groups"), 3, gshape, 0)},
         grouped);
    size_t at = node_open(x, type, normed, 3,
                          (const char *[]){grouped, const_f32(x, derived(b[7], x, n->out, "one"), G, ones, 0),
                                           const_f32(x, derived(b[8], x, n->out, "zero"), G, ones + G, 0)},
                          normed);
    attr_float(x, "epsilon", n->fa[0]);
    nr_pb_close(x->b, at);
    free(ones);
    node(x, "Shape", 1, (const char *[]){in[0]}, shape);
    node(x, "Reshape", 2, (const char *[]){normed, shape}, back);
    const char *last = back;
    if (has_g) {
        node(x, "Unsqueeze", 2, (const char *[]){in[1], ax}, derived(b[9], x, n->out, "gamma"));
        node(x, "Mul", 2, (const char *[]){last, b[9]}, scaled);
        last = scaled;
    }
    if (has_b) {
        node(x, "Unsqueeze", 2, (const char *[]){in[2], ax}, derived(b[10], x, n->out, "beta"));
        node(x, "Add", 2, (const char *[]){last, b[10]}, out);
    }
    return 0;
}

static int x_group_norm(nx *x, const ng_node *n, const char *type)
{
    return group_norm_to(x, n, type, tname(x, n->out));
}

/* GROUP_NORM_ACT: GROUP_NORM's nodes, then Relu (slope 0) or LeakyRelu,
 * the two ops netc fused */
static int x_group_norm_act(nx *x, const ng_node *n, const char *type)
{
    char b[NAME_MAX_LEN];
    const char *normed = derived(b, x, n->out, "norm");
    if (group_norm_to(x, n, type, normed))
        return -1;
    if (n->fa[1] == 0) {
        node(x, "Relu", 1, &normed, tname(x, n->out));
        return 0;
    }
    size_t at = node_open(x, "LeakyRelu", tname(x, n->out), 1, &normed, tname(x, n->out));
    attr_float(x, "alpha", n->fa[1]);
    nr_pb_close(x->b, at);
    return 0;
}

/* BATCH_NORM in inference mode: BatchNormalization with the running mean
 * and variance (rows 0 and 1 of the running tensor, Gather), gamma and
 * beta or 1 and 0 */
static int x_batch_norm(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char b[6][NAME_MAX_LEN];
    if (n->ia[0])
        return x_none(x, n, "batch statistics (train mode)");
    if (inputs(x, n, in))
        return -1;
    int C = x->g->tensors[n->in[0]].dim[1];
    float *ones = malloc(sizeof *ones * (size_t)C * 2);
    if (!ones)
        return ng_fail(x->err, x->errlen, "out of memory");
    for (int i = 0; i < C; i++)
        ones[i] = 1, ones[C + i] = 0;
    int64_t row[2] = {0, 1};
    const char *gamma = n->in[1] >= 0 ? in[1] : const_f32(x, derived(b[0], x, n->out, "one"), C, ones, 0);
    const char *beta = n->in[2] >= 0 ? in[2] : const_f32(x, derived(b[1], x, n->out, "zero"), C, ones + C, 0);
    free(ones);
    const char *mean = derived(b[2], x, n->out, "mean"), *var = derived(b[3], x, n->out, "var");
    node(x, "Gather", 2, (const char *[]){in[3], const_i64(x, derived(b[4], x, n->out, "row0"), 1, row, 1)}, mean);
    node(x, "Gather", 2, (const char *[]){in[3], const_i64(x, derived(b[5], x, n->out, "row1"), 1, row + 1, 1)},
         var);
    size_t at = node_open(x, type, tname(x, n->out), 5, (const char *[]){in[0], gamma, beta, mean, var},
                          tname(x, n->out));
    attr_float(x, "epsilon", n->fa[0]);
    nr_pb_close(x->b, at);
    return 0;
}

/* PAD2D: Pad (constant zeros or reflect) */
static int x_pad2d(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char p[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    int64_t pads[8] = {0, 0, n->ia[0], n->ia[1], 0, 0, n->ia[2], n->ia[3]};
    size_t at = node_open(x, type, tname(x, n->out), 2,
                          (const char *[]){in[0], const_i64(x, derived(p, x, n->out, "pads"), 8, pads, 0)},
                          tname(x, n->out));
    attr_str(x, "mode", n->ia[4] ? "reflect" : "constant");
    nr_pb_close(x->b, at);
    return 0;
}

/* CUMSUM: CumSum along ia[0], reverse ia[1] */
static int x_cumsum(nx *x, const ng_node *n, const char *type)
{
    const char *in[NG_MAX_IN];
    char a[NAME_MAX_LEN];
    if (inputs(x, n, in))
        return -1;
    int64_t axis = n->ia[0];
    size_t at = node_open(x, type, tname(x, n->out), 2,
                          (const char *[]){in[0], const_i64(x, derived(a, x, n->out, "axis"), 1, &axis, 1)},
                          tname(x, n->out));
    attr_int(x, "reverse", n->ia[1]);
    nr_pb_close(x->b, at);
    return 0;
}

/* ---- the table: one row of ops_onnx.def per op of ops.def --------------- */

enum {
#define ONNX(ID, emit, what) ONNX_AT_##ID,
#include "ops_onnx.def"
#undef ONNX
    ONNX_ROWS
};
_Static_assert((int)ONNX_ROWS == (int)NG_OP_COUNT, "graph/ops_onnx.def must have one row per op of ops.def");
#define ONNX(ID, emit, what) \
    _Static_assert((int)ONNX_AT_##ID == (int)NG_OP_##ID, "graph/ops_onnx.def: row " #ID " is not at its place in ops.def");
#include "ops_onnx.def"
#undef ONNX

static const struct {
    emitter emit;
    const char *what;
} onnx_form[NG_OP_COUNT] = {
#define ONNX(ID, emit, what) [NG_OP_##ID] = {emit, what},
#include "ops_onnx.def"
#undef ONNX
};

/* ---- the model ------------------------------------------------------------ */

/* A graph input or output: f32 with t's shape, dimension 0 named "N". */
static void value_info(nx *x, int field, int32_t t)
{
    const ng_tensor *v = &x->g->tensors[t];
    size_t at = nr_pb_open(x->b, field);
    nr_pb_str(x->b, VALUE_NAME, tname(x, t));
    size_t ty = nr_pb_open(x->b, VALUE_TYPE), tt = nr_pb_open(x->b, TYPE_TENSOR);
    nr_pb_int(x->b, TT_ELEM, DT_FLOAT);
    size_t sh = nr_pb_open(x->b, TT_SHAPE);
    for (int d = 0; d < v->ndim; d++) {
        size_t dm = nr_pb_open(x->b, SHAPE_DIM);
        if (d == 0)
            nr_pb_str(x->b, DIM_PARAM, "N");
        else
            nr_pb_int(x->b, DIM_VALUE, v->dim[d]);
        nr_pb_close(x->b, dm);
    }
    nr_pb_close(x->b, sh);
    nr_pb_close(x->b, tt);
    nr_pb_close(x->b, ty);
    nr_pb_close(x->b, at);
}

static int graph(nx *x, const ng_entry *e)
{
    const ng_graph *g = x->g;
    size_t at = nr_pb_open(x->b, MODEL_GRAPH);
    const char *src = g->source ? g->source : "netrun", *slash = strrchr(src, '/');
    nr_pb_bytes(x->b, GRAPH_NAME, slash ? slash + 1 : src, ng_stem_len(slash ? slash + 1 : src));
    for (int i = 0; i < e->n_nodes; i++) {
        const ng_node *n = &e->nodes[i];
        if (onnx_form[n->op].emit(x, n, onnx_form[n->op].what) != 0)
            return -1;
    }
    value_info(x, GRAPH_INPUT, g->bind.image);
    value_info(x, GRAPH_OUTPUT, g->bind.output);
    return nr_pb_close(x->b, at);
}

int nr_onnx_build(const ng_graph *g, const nr_onnx_opts *o, unsigned char **out, size_t *len, char *err,
                  size_t errlen)
{
    const ng_entry *e = ng_graph_entry(g, o->entry);
    if (!e)
        return ng_fail(err, errlen, "the graph has no %s entry", o->entry);
    if (g->bind.image < 0 || g->bind.output < 0)
        return ng_fail(err, errlen, "the graph binds no image input or no output");
    for (int32_t t = 0; t < g->n_tensors; t++)
        if (!strcmp(g->tensors[t].name, g->bind.output_name ? g->bind.output_name : "") && t != g->bind.output)
            return ng_fail(err, errlen, "tensor %s has the name of the output", g->tensors[t].name);
    ng_buf b = {0};
    nx x = {&b, g, o, calloc((size_t)g->n_tensors + 1, 1), err, errlen};
    if (!x.written)
        return ng_fail(err, errlen, "out of memory");
    nr_pb_int(&b, MODEL_IR_VERSION, NR_ONNX_IR_VERSION);
    size_t os = nr_pb_open(&b, MODEL_OPSET);
    nr_pb_str(&b, OPSET_DOMAIN, "");
    nr_pb_int(&b, OPSET_VERSION, NR_ONNX_OPSET);
    nr_pb_close(&b, os);
    nr_pb_str(&b, MODEL_PRODUCER_NAME, "netrun");
    nr_pb_str(&b, MODEL_PRODUCER_VERSION, o->producer_version ? o->producer_version : "");
    nr_pb_str(&b, MODEL_DOC, "exported by netrun export: class probabilities (N, K, H, W) of the image; the "
                             "metadata entry 'netrun' says how netrun predict prepares images and combines tiles");
    int rc = graph(&x, e);
    if (rc == 0 && o->manifest) {
        size_t md = nr_pb_open(&b, MODEL_METADATA);
        nr_pb_str(&b, ENTRY_KEY, "netrun");
        nr_pb_str(&b, ENTRY_VALUE, o->manifest);
        nr_pb_close(&b, md);
    }
    free(x.written);
    if (rc == 0 && b.oom)
        rc = ng_fail(err, errlen, "out of memory");
    if (rc != 0) {
        free(b.b);
        return -1;
    }
    *out = b.b, *len = b.len;
    return 0;
}

int nr_onnx_write(const ng_graph *g, const nr_onnx_opts *o, const char *path, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len;
    char why[1024];
    if (nr_onnx_build(g, o, &buf, &len, why, sizeof why) != 0)
        return ng_fail(err, errlen, "%s: %s", path, why);
    int rc = ng_atomic_write(path, buf, len, 1, err, errlen);
    free(buf);
    return rc;
}
