/* test_shapes.c — libnetg's vocabulary: the op table's names, tensor sizes,
 * role and init names, util's ng_carve, and a set of ng_op_shape
 * diagnostics (the shapes each rule gives, the message each refusal says).
 * Prints one "ok - name" / "FAIL - name" line per check; exits 1 on failure. */
#define _POSIX_C_SOURCE 200809L
#include "netg.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nodes.h"

/* check that got equals want; shows both on failure */
static void check_msg(const char *got, const char *want, const char *name)
{
    check(got && strcmp(got, want) == 0, name, "got %s, want %s", got ? got : "(null)", want);
}

/* ---- shape rules -------------------------------------------------------- */

static ng_tensor T(int dtype, int ndim, int32_t d0, int32_t d1, int32_t d2,
                   int32_t d3)
{
    ng_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = (uint8_t)dtype;
    t.ndim = (uint8_t)ndim;
    int32_t d[4] = { d0, d1, d2, d3 };
    for (int k = 0; k < ndim; k++)
        t.dim[k] = d[k];
    return t;
}

/* Run ng_op_shape; "ok AxBxCxD ws=N" or the error message. */
static const char *shape(const ng_node *n, const ng_tensor *a, const ng_tensor *b,
                         const ng_tensor *c, const ng_tensor *d)
{
    static char buf[300];
    const ng_tensor *in[NG_MAX_IN] = { a, b, c, d };
    ng_tensor out;
    int64_t ws = -1;
    if (ng_op_shape(n, in, &out, &ws, buf, sizeof buf))
        return buf;
    int k = snprintf(buf, sizeof buf, "ok ");
    for (int i = 0; i < out.ndim; i++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, i ? "x%d" : "%d",
                      (int)out.dim[i]);
    snprintf(buf + k, sizeof buf - (size_t)k, "%sws=%" PRId64,
             out.ndim ? " " : "", ws);
    return buf;
}

static void test_shapes(void)
{
    enum { F = NG_F32, I = NG_I32 };
    ng_tensor x3 = T(F, 4, 1, 3, 16, 16), w8 = T(F, 4, 8, 8, 3, 3);
    ng_tensor x8 = T(F, 4, 2, 1, 8, 8), w1 = T(F, 4, 4, 1, 3, 3);
    ng_tensor b4 = T(F, 1, 4, 0, 0, 0), b5 = T(F, 1, 5, 0, 0, 0);
    ng_node n = conv(NG_OP_CONV2D, 0, 1, 2, 3, -1, 1, 0, 0);

    check_msg(shape(&n, &x3, &w8, NULL, NULL),
              "conv2d: weight expects 8 input channels but the input has 3",
              "conv2d channel mismatch");
    check_msg(shape(&n, &x8, &w1, &b4, NULL), "ok 2x4x8x8 ws=576",
              "conv2d 3x3 same padding: shape and im2col workspace");
    check_msg(shape(&n, &x8, &w1, &b5, NULL),
              "conv2d: bias has 5 elements but the weight has 4 output channels",
              "conv2d bias mismatch");
    n.ia[0] = 2;
    check_msg(shape(&n, &x8, &w1, NULL, NULL), "ok 2x4x4x4 ws=144",
              "conv2d stride 2: floor((8+2-3)/2)+1 = 4");
    n.ia[0] = 0;
    check_msg(shape(&n, &x8, &w1, NULL, NULL), "conv2d: stride 0 must be >= 1",
              "conv2d stride 0");
    n.ia[0] = 1;
    n.ia[3] = -1;
    check_msg(shape(&n, &x8, &w1, NULL, NULL),
              "conv2d: padding 1,1,-1,1 (top,left,bottom,right) must be >= 0",
              "conv2d negative padding");
    n = conv(NG_OP_CONV2D, 0, 1, 2, 3, -1, 0, 0, 0);
    ng_tensor x33 = T(F, 4, 1, 1, 3, 3), w55 = T(F, 4, 2, 1, 5, 5);
    check_msg(shape(&n, &x33, &w55, NULL, NULL),
              "conv2d: 5x5 kernel is larger than the padded 3x3 input",
              "conv2d output size < 1");
    ng_tensor w11 = T(F, 4, 3, 1, 1, 1);
    check_msg(shape(&n, &x8, &w11, NULL, NULL), "ok 2x3x8x8 ws=0",
              "conv2d 1x1 needs no workspace");
    n.ia[0] = 2;
    check_msg(shape(&n, &x8, &w11, NULL, NULL), "ok 2x3x4x4 ws=16",
              "conv2d 1x1 stride 2 needs a workspace");
    ng_tensor big = T(F, 4, 1, 1024, 4096, 4096), wbig = T(F, 4, 1, 1024, 7, 7);
    n = conv(NG_OP_CONV2D, 0, 1, 2, 3, -1, 3, 0, 0);
    /* the workspace is one band of output rows: here a single row,
     * (1024*7*7, 4096) floats, not the whole (1024*7*7, 4096*4096) */
    check_msg(shape(&n, &big, &wbig, NULL, NULL), "ok 1x1x4096x4096 ws=205520896",
              "conv2d workspace is one band of rows");
    ng_tensor li = T(I, 4, 2, 1, 8, 8);
    check_msg(shape(&n, &li, &w1, NULL, NULL),
              "conv2d: input must be f32, not i32 (labels)", "conv2d i32 input");
    ng_tensor x2d = T(F, 2, 8, 8, 0, 0);
    check_msg(shape(&n, &x2d, &w1, NULL, NULL),
              "conv2d: input must be 4-D (N,C,H,W), not 8x8", "conv2d rank");

    /* backward convolutions: forward geometry in ia[5], ia[6] */
    ng_tensor dy = T(F, 4, 2, 4, 8, 8);
    n = conv(NG_OP_CONV2D_BWD_DATA, 0, 1, -1, 3, -1, 1, 8, 8);
    check_msg(shape(&n, &dy, &w1, NULL, NULL), "ok 2x1x8x8 ws=576",
              "conv2d_bwd_data");
    n.ia[5] = 9;
    check_msg(shape(&n, &dy, &w1, NULL, NULL),
              "conv2d_bwd_data: dy is 8x8 but the convolution of a 9x8 input "
              "gives 9x8", "conv2d_bwd_data geometry mismatch");
    n = conv(NG_OP_CONV2D_BWD_FILTER, 0, 1, -1, 3, -1, 1, 3, 3);
    check_msg(shape(&n, &dy, &x8, NULL, NULL), "ok 4x1x3x3 ws=576",
              "conv2d_bwd_filter");
    n.ia[5] = 0;
    check_msg(shape(&n, &dy, &x8, NULL, NULL),
              "conv2d_bwd_filter: kernel 0x3 (ia[5], ia[6]) must be >= 1",
              "conv2d_bwd_filter kernel size");
    n = mknode(NG_OP_CONV2D_BWD_BIAS, 1, 0, -1, -1, -1, 1, -1);
    check_msg(shape(&n, &dy, NULL, NULL, NULL), "ok 4 ws=0", "conv2d_bwd_bias");

    /* pooling and upsampling */
    ng_tensor x15 = T(F, 4, 1, 2, 15, 15), x16 = T(F, 4, 1, 2, 16, 16);
    n = mknode(NG_OP_MAXPOOL, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 2;
    check_msg(shape(&n, &x15, NULL, NULL, NULL), "ok 1x2x7x7 ws=0",
              "maxpool floors an odd size");
    n.ia[0] = 0;
    check_msg(shape(&n, &x15, NULL, NULL, NULL), "maxpool: window 0 must be >= 1",
              "maxpool k=0");
    n.ia[0] = 32;
    check_msg(shape(&n, &x16, NULL, NULL, NULL),
              "maxpool: 32x32 pooling of a 16x16 input", "maxpool k > H");
    n = mknode(NG_OP_MAXPOOL_BWD, 3, 0, 1, 2, -1, 3, -1);
    n.ia[0] = 2;
    ng_tensor y7 = T(F, 4, 1, 2, 7, 7), y8 = T(F, 4, 1, 2, 8, 8);
    check_msg(shape(&n, &y7, &x15, &y7, NULL), "ok 1x2x15x15 ws=0", "maxpool_bwd");
    check_msg(shape(&n, &y8, &x15, &y7, NULL),
              "maxpool_bwd: dy is 1x2x8x8 but 2x2 pooling of x gives 1x2x7x7",
              "maxpool_bwd dy mismatch");
    n = mknode(NG_OP_UPSAMPLE, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 2;
    check_msg(shape(&n, &x15, NULL, NULL, NULL), "ok 1x2x30x30 ws=0", "upsample");
    ng_tensor xwide = T(F, 4, 1, 1, 65536, 65536);
    n.ia[0] = 65536;
    check_msg(shape(&n, &xwide, NULL, NULL, NULL), "upsample: output is too large",
              "upsample past int32");
    ng_tensor x2g = T(F, 4, 1, 64, 65536, 65536);
    n.ia[0] = 2;
    check_msg(shape(&n, &x2g, NULL, NULL, NULL),
              "upsample: the output 1x64x131072x131072 is over the "
              "1099511627776-byte limit", "upsample past the size limit");
    n = mknode(NG_OP_UPSAMPLE_BWD, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 2;
    check_msg(shape(&n, &x16, NULL, NULL, NULL), "ok 1x2x8x8 ws=0", "upsample_bwd");
    check_msg(shape(&n, &x15, NULL, NULL, NULL),
              "upsample_bwd: dy is 15x15, not a multiple of 2",
              "upsample_bwd of an odd size");

    /* concat, slice, dropout */
    ng_tensor c32 = T(F, 4, 1, 4, 32, 32), c16 = T(F, 4, 1, 16, 16, 16);
    ng_tensor c32b = T(F, 4, 1, 6, 32, 32);
    n = mknode(NG_OP_CONCAT, 2, 0, 1, -1, -1, 2, -1);
    check_msg(shape(&n, &c32, &c16, NULL, NULL),
              "concat: input 2 is 16x16 but input 1 is 32x32", "concat size mismatch");
    check_msg(shape(&n, &c32, &c32b, NULL, NULL), "ok 1x10x32x32 ws=0", "concat");
    n.n_in = 0;
    check_msg(shape(&n, NULL, NULL, NULL, NULL), "concat: 0 inputs, expects 1 to 8",
              "concat of nothing");
    n = mknode(NG_OP_SLICE_C, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 4;
    n.ia[1] = 2;
    check_msg(shape(&n, &c32b, NULL, NULL, NULL), "ok 1x2x32x32 ws=0",
              "slice_channels");
    n.ia[1] = 3;
    check_msg(shape(&n, &c32b, NULL, NULL, NULL),
              "slice_channels: 3 channels from 4 out of range (the input has 6)",
              "slice_channels out of range");
    n = mknode(NG_OP_DROPOUT_MASK, 0, -1, -1, -1, -1, 0, -1);
    n.ia[1] = 2;
    n.ia[2] = 64;
    n.fa[0] = 0.5f;
    check_msg(shape(&n, NULL, NULL, NULL, NULL), "ok 2x64 ws=0", "dropout_mask");
    n.fa[0] = 1;
    check_msg(shape(&n, NULL, NULL, NULL, NULL),
              "dropout_mask: p = 1 must be in [0, 1)", "dropout_mask p = 1");
    ng_tensor m = T(F, 2, 1, 6, 0, 0), mbad = T(F, 2, 1, 5, 0, 0);
    n = mknode(NG_OP_MUL_CHANNEL, 2, 0, 1, -1, -1, 2, -1);
    check_msg(shape(&n, &c32b, &m, NULL, NULL), "ok 1x6x32x32 ws=0", "mul_channel");
    check_msg(shape(&n, &c32b, &mbad, NULL, NULL),
              "mul_channel: mask is 1x5 but the input needs 1x6",
              "mul_channel mismatch");

    /* losses */
    ng_tensor lg = T(F, 4, 2, 3, 32, 32), lb64 = T(I, 3, 2, 64, 64, 0);
    ng_tensor lb = T(I, 3, 2, 32, 32, 0), lbf = T(F, 3, 2, 32, 32, 0);
    ng_tensor cw3 = T(F, 1, 3, 0, 0, 0), cw4 = T(F, 1, 4, 0, 0, 0);
    ng_tensor one = T(F, 1, 1, 0, 0, 0), two = T(F, 1, 2, 0, 0, 0);
    n = mknode(NG_OP_CROSS_ENTROPY, 3, 0, 1, -1, -1, 2, -1);
    check_msg(shape(&n, &lg, &lb64, NULL, NULL),
              "cross_entropy: labels are 64x64 but logits are 32x32",
              "cross_entropy size mismatch");
    check_msg(shape(&n, &lg, &lbf, NULL, NULL),
              "cross_entropy: labels must be i32 (a labels input)",
              "cross_entropy f32 labels");
    check_msg(shape(&n, &lg, &lb, &cw3, NULL), "ok 1 ws=0", "cross_entropy");
    check_msg(shape(&n, &lg, &lb, NULL, NULL), "ok 1 ws=0",
              "cross_entropy without weights");
    check_msg(shape(&n, &lg, &lb, &cw4, NULL),
              "cross_entropy: weights have 4 elements but logits have 3 classes",
              "cross_entropy weight count");
    check_msg(shape(&n, NULL, &lb, NULL, NULL), "cross_entropy: input 1 is missing",
              "cross_entropy without logits");
    n = mknode(NG_OP_CROSS_ENTROPY_BWD, 4, 0, 1, 2, 3, 4, -1);
    check_msg(shape(&n, &one, &lg, &lb, &cw3), "ok 2x3x32x32 ws=0",
              "cross_entropy_bwd");
    check_msg(shape(&n, &two, &lg, &lb, &cw3),
              "cross_entropy_bwd: dloss must have one element, not 2",
              "cross_entropy_bwd dloss");

    /* elementwise and updates */
    ng_tensor a = T(F, 4, 1, 8, 4, 4), b = T(F, 4, 1, 8, 4, 8);
    n = mknode(NG_OP_ADD, 2, 0, 1, -1, -1, 2, -1);
    check_msg(shape(&n, &a, &b, NULL, NULL), "add: shapes 1x8x4x4 and 1x8x4x8 do not "
              "broadcast (dims must be equal or 1, aligned at the right)",
              "add shape mismatch");
    check_msg(shape(&n, &a, &a, NULL, NULL), "ok 1x8x4x4 ws=0", "add");
    n = mknode(NG_OP_RELU_BWD, 2, 0, 1, -1, -1, 2, -1);
    check_msg(shape(&n, &a, &b, NULL, NULL),
              "relu_bwd: shapes 1x8x4x4 and 1x8x4x8 differ", "relu_bwd mismatch");
    n = mknode(NG_OP_SOFTMAX, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 1;
    check_msg(shape(&n, &lg, NULL, NULL, NULL), "ok 2x3x32x32 ws=0", "softmax");
    n.ia[0] = 4;
    check_msg(shape(&n, &lg, NULL, NULL, NULL), "softmax: axis 4 is not a dim of 2x3x32x32",
              "softmax axis out of range");
    n.op = NG_OP_LOG_SOFTMAX;
    n.ia[0] = 3;
    check_msg(shape(&n, &lg, NULL, NULL, NULL), "ok 2x3x32x32 ws=0", "log_softmax, last axis");
    n = mknode(NG_OP_RELU, 1, 0, -1, -1, -1, 1, -1);
    ng_tensor s = T(F, 0, 0, 0, 0, 0);
    check_msg(shape(&n, &s, NULL, NULL, NULL), "ok ws=0", "relu of a scalar");
    n = mknode(NG_OP_ADAM, 4, 0, 1, 2, 3, -1, -1);
    n.fa[0] = 1e-3f;
    n.fa[1] = 0.9f;
    n.fa[2] = 0.999f;
    n.fa[3] = 1e-7f;
    check_msg(shape(&n, &w1, &w1, &w1, &w1), "ok ws=0", "adam");
    check_msg(shape(&n, &w1, &w1, &w8, &w1),
              "adam: m is 8x8x3x3 but p is 4x1x3x3", "adam shape mismatch");
    n.fa[0] = -1;
    check_msg(shape(&n, &w1, &w1, &w1, &w1), "adam: lr = -1 must be finite and >= 0",
              "adam negative lr");
    n = mknode(NG_OP_SGD, 3, 0, 1, 2, -1, -1, -1);
    n.fa[0] = 0.1f;
    n.fa[1] = 0.9f;
    check_msg(shape(&n, &w1, &w1, &w1, NULL), "ok ws=0", "sgd");
    n.op = NG_OP_COUNT;
    char op_msg[64];
    snprintf(op_msg, sizeof op_msg, "op %d out of range (%d ops)", NG_OP_COUNT, NG_OP_COUNT);
    check_msg(shape(&n, &w1, &w1, &w1, NULL), op_msg, "op out of range");
}

/* Shape rules of the loss primitives: broadcasting, reductions, labels. */
static void test_loss_shapes(void)
{
    enum { F = NG_F32, I = NG_I32 };
    ng_tensor x = T(F, 4, 2, 3, 4, 5), m = T(F, 4, 2, 1, 4, 5), v = T(F, 4, 1, 3, 1, 1);
    ng_tensor s = T(F, 0, 0, 0, 0, 0), hw = T(F, 2, 4, 5, 0, 0), w3 = T(F, 1, 3, 0, 0, 0);
    ng_tensor col = T(F, 2, 4, 1, 0, 0), row = T(F, 2, 1, 5, 0, 0);
    ng_node n = mknode(NG_OP_MUL, 2, 0, 1, -1, -1, 2, -1);
    check_msg(shape(&n, &x, &m, NULL, NULL), "ok 2x3x4x5 ws=0", "mul: (N,1,H,W) mask");
    check_msg(shape(&n, &v, &x, NULL, NULL), "ok 2x3x4x5 ws=0", "mul: (1,K,1,1) vector first");
    check_msg(shape(&n, &x, &s, NULL, NULL), "ok 2x3x4x5 ws=0", "mul: scalar");
    check_msg(shape(&n, &s, &s, NULL, NULL), "ok ws=0", "mul: two scalars");
    check_msg(shape(&n, &x, &hw, NULL, NULL), "ok 2x3x4x5 ws=0", "mul: lower rank aligns right");
    check_msg(shape(&n, &col, &row, NULL, NULL), "ok 4x5 ws=0", "mul: both sides broadcast");
    check_msg(shape(&n, &x, &w3, NULL, NULL), "mul: shapes 2x3x4x5 and 3 do not broadcast "
              "(dims must be equal or 1, aligned at the right)", "mul: (K) aligns with W");
    n.op = NG_OP_DIV;
    ng_tensor lb = T(I, 3, 2, 4, 5, 0);
    check_msg(shape(&n, &x, &lb, NULL, NULL), "div: b must be f32, not i32 (labels)", "div of labels");
    n.op = NG_OP_SUB;
    check_msg(shape(&n, &m, &x, NULL, NULL), "ok 2x3x4x5 ws=0", "sub");

    n = mknode(NG_OP_EXP, 1, 0, -1, -1, -1, 1, -1);
    static const int unary[] = {NG_OP_NEG, NG_OP_EXP, NG_OP_LOG, NG_OP_SQRT, NG_OP_ABS, NG_OP_SIGN,
                                NG_OP_POW, NG_OP_CLAMP, NG_OP_STOP_GRADIENT};
    int ok = 1;
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        n.op = (uint16_t)unary[i];
        n.fa[0] = 0.5f;
        n.fa[1] = 2.0f;
        ok &= strcmp(shape(&n, &x, NULL, NULL, NULL), "ok 2x3x4x5 ws=0") == 0;
    }
    check(ok, "unary ops keep the shape", "failed");
    n.op = NG_OP_CLAMP;
    n.fa[0] = -INFINITY;
    n.fa[1] = 1;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok 2x3x4x5 ws=0", "clamp with an infinite bound (min)");
    n.fa[0] = 2;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "clamp: bounds [2, 1] are not a range", "clamp lo > hi");
    n.op = NG_OP_POW;
    n.fa[0] = NAN;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "pow: p = nan must be finite", "pow p nan");
    n = mknode(NG_OP_POW_BWD, 2, 0, 1, -1, -1, 2, -1);
    n.fa[0] = 2;
    check_msg(shape(&n, &x, &x, NULL, NULL), "ok 2x3x4x5 ws=0", "pow_bwd");
    check_msg(shape(&n, &x, &m, NULL, NULL), "pow_bwd: shapes 2x3x4x5 and 2x1x4x5 differ",
              "pow_bwd shape mismatch");
    n.op = NG_OP_CLAMP_BWD;
    n.fa[0] = 0;
    n.fa[1] = INFINITY;
    check_msg(shape(&n, &x, &x, NULL, NULL), "ok 2x3x4x5 ws=0", "clamp_bwd");

    n = mknode(NG_OP_REDUCE_SUM, 1, 0, -1, -1, -1, 1, -1);
    n.fa[0] = 1;
    n.ia[0] = 0xd; /* dims 0, 2, 3 */
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok 3 ws=0", "reduce_sum over N,H,W");
    n.ia[1] = 0xd;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok 1x3x1x1 ws=0", "reduce_sum keepdims");
    n.ia[0] = 0xf;
    n.ia[1] = 0;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok ws=0", "reduce_sum of everything: a scalar");
    n.ia[0] = 0x7;
    n.ia[1] = 0x4;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok 1x5 ws=0", "reduce_sum keeping some dims");
    n.ia[0] = 0x10;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "reduce_sum: dims 0x10 (kept 0x4) do not fit a "
              "rank-4 input", "reduce_sum mask beyond the rank");
    n.ia[0] = 0x1;
    n.ia[1] = 0x2;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "reduce_sum: dims 0x1 (kept 0x2) do not fit a "
              "rank-4 input", "reduce_sum keeps a dim it does not reduce");

    n = mknode(NG_OP_EXPAND, 1, 0, -1, -1, -1, 1, -1);
    n.fa[0] = 1;
    int32_t target[5] = {4, 2, 3, 4, 5};
    memcpy(n.ia + 2, target, sizeof target);
    n.ia[0] = n.ia[1] = 0xd;
    check_msg(shape(&n, &v, NULL, NULL, NULL), "ok 2x3x4x5 ws=0", "expand (1,K,1,1) back");
    n.ia[1] = 0;
    check_msg(shape(&n, &w3, NULL, NULL, NULL), "ok 2x3x4x5 ws=0", "expand (K) back");
    check_msg(shape(&n, &v, NULL, NULL, NULL), "expand: input is 1x3x1x1 but reducing 2x3x4x5 "
              "gives 3", "expand of the wrong shape");

    ng_tensor lb8 = T(I, 3, 2, 8, 8, 0), xf = T(F, 3, 2, 8, 8, 0);
    n = mknode(NG_OP_ONE_HOT, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 5;
    n.ia[1] = 255;
    check_msg(shape(&n, &lb8, NULL, NULL, NULL), "ok 2x5x8x8 ws=0", "one_hot");
    check_msg(shape(&n, &xf, NULL, NULL, NULL), "one_hot: labels must be i32 (a labels input)",
              "one_hot of f32");
    n.ia[0] = 0;
    check_msg(shape(&n, &lb8, NULL, NULL, NULL), "one_hot: 0 classes (1 to 256)", "one_hot 0 classes");
    n.op = NG_OP_VALID_MASK;
    n.ia[0] = 5;
    check_msg(shape(&n, &lb8, NULL, NULL, NULL), "ok 2x1x8x8 ws=0", "valid_mask");

    n = mknode(NG_OP_RESHAPE, 1, 0, -1, -1, -1, 1, -1);
    int32_t r[5] = {2, 6, 20, 0, 0};
    memcpy(n.ia, r, sizeof r);
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok 6x20 ws=0", "reshape");
    n.ia[2] = 21;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "reshape: 2x3x4x5 and 6x21 have different sizes",
              "reshape size mismatch");
    n = mknode(NG_OP_SLICE, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 1;
    n.ia[1] = 1;
    n.ia[2] = 2;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok 2x2x4x5 ws=0", "slice");
    n.ia[2] = 3;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "slice: 3 from 1 out of range (dim 1 has 3)",
              "slice out of range");
    n = mknode(NG_OP_PAD, 1, 0, -1, -1, -1, 1, -1);
    n.ia[0] = 1;
    n.ia[1] = 1;
    n.ia[2] = 4;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "ok 2x4x4x5 ws=0", "pad");
    n.ia[2] = 3;
    check_msg(shape(&n, &x, NULL, NULL, NULL), "pad: 3 from 1 does not fit in 3", "pad too small");
    check(strcmp(ng_cw_name(NG_CW_MEDIAN_FREQ), "median_freq") == 0 && strcmp(ng_cw_name(9), "?") == 0,
          "class-weight scheme names", "failed");
}

static void test_basics(void)
{
    check(ng_crc32("123456789", 9) == 0xcbf43926u, "crc32 check value", "failed");
    check(ng_crc32("", 0) == 0, "crc32 of nothing", "failed");
    check(strcmp(ng_ops[NG_OP_CONV2D].name, "conv2d") == 0 &&
          ng_ops[NG_OP_CONCAT].n_in == -1 &&
          ng_ops[NG_OP_ADAM].flags == NG_F_UPDATE, "op table from ops.def", "failed");
    check(strcmp(ng_role_name(NG_ROLE_OPT_STATE), "opt_state") == 0 &&
          strcmp(ng_role_name(99), "?") == 0 &&
          strcmp(ng_init_name(NG_INIT_CLASS_WEIGHTS), "class_weights") == 0,
          "role and init names", "failed");
    check(ng_role_is_persistent(NG_ROLE_CONST) && !ng_role_is_persistent(NG_ROLE_GRAD),
          "persistent roles", "failed");
    ng_tensor s = T(NG_F32, 0, 0, 0, 0, 0), t = T(NG_I32, 3, 2, 8, 8, 0);
    check(ng_tensor_nelem(&s) == 1 && ng_tensor_bytes(&s) == 4 &&
          ng_tensor_nelem(&t) == 128 && ng_tensor_bytes(&t) == 512,
          "nelem and bytes", "failed");
    ng_graph_free(NULL);
    check(ng_graph_entry(NULL, "train") == NULL, "NULL-safe helpers", "failed");
}

/* util.h's ng_carve: a measuring pass, then arrays carved in order from one
 * zeroed block, each aligned for any type; a size that overflows is refused. */
static void test_carve(void)
{
    size_t at = 0;
    ng_carve(NULL, &at, 3, sizeof(char));
    ng_carve(NULL, &at, 5, sizeof(double));
    size_t bytes = at;
    char *base = ng_carve_alloc(bytes);
    at = 0;
    char *c = ng_carve(base, &at, 3, sizeof *c);
    double *d = ng_carve(base, &at, 5, sizeof *d);
    check(base && c == base && (char *)d >= c + 3 && (uintptr_t)d % _Alignof(max_align_t) == 0 &&
          at == bytes && (char *)(d + 5) == base + bytes && c[2] == 0 && d[4] == 0,
          "carve: arrays in order in one zeroed block, aligned", "failed");
    free(base);
    at = 0;
    ng_carve(NULL, &at, SIZE_MAX / 2, 4);
    size_t over = at;
    ng_carve(NULL, &at, 1, 1);
    check(over == SIZE_MAX && at == SIZE_MAX && !ng_carve_alloc(at), "carve: an overflowing size is refused", "failed");
}

int main(void)
{
    test_basics();
    test_carve();
    test_shapes();
    test_loss_shapes();
    return check_done();
}
