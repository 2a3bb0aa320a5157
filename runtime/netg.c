/* netg.c — the compiled graph: op table, shape rules, file reader and writer.
 * ng_op_shape is the single source of truth for op shapes: netc infers shapes
 * with it and netrun re-checks every node of a loaded file with it.
 *
 * File format, version 2 (NG_VERSION; 2 added the loss primitives to ops.def).
 * Every integer is little-endian, floats are IEEE-754 binary32 stored as
 * their u32 bit pattern.
 *
 *   header (24 bytes)
 *     u8[4]  magic "NETG"
 *     u32    version (NG_VERSION)
 *     u32    flags (0)
 *     u64    payload length in bytes (the file is exactly 24 + this)
 *     u32    CRC-32 (IEEE 802.3, as zlib) of the payload
 *   payload
 *     str    source                      (str = u32 length + bytes, no NUL;
 *                                          at most NG_MAX_STRING; "" = NULL)
 *     u32    n_tensors                    (at most NG_MAX_TENSORS)
 *     n_tensors x tensor:
 *       str name; u8 dtype, role, init, ndim; i32 dim[4]; f32 init_arg[4];
 *       if init == NG_INIT_DATA: nelem x f32 data
 *     bindings:
 *       i32 image, labels, classes, ignore, loss, output, class_weights;
 *       str output_name, optimizer
 *     u32    n_entries                    (at most NG_MAX_ENTRIES)
 *     n_entries x entry:
 *       str name; i64 arena_bytes; u32 n_nodes (at most NG_MAX_NODES);
 *       n_nodes x node (99 bytes):
 *         u16 op; u8 n_in; i32 in[NG_MAX_IN]; i32 out; i32 ws;
 *         i32 ia[NG_MAX_IA]; f32 fa[NG_MAX_FA]
 *       n_tensors x i64 offset
 *
 * The reader never reads past the end of its buffer, refuses a count before
 * allocating for it unless the bytes left could hold that many records, and
 * then runs ng_graph_check, so a file with a valid checksum but a bad index,
 * shape or offset is still an error message and never an out-of-bounds access.
 */
#define _POSIX_C_SOURCE 200809L
#include "netg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER_BYTES 24
#define TENSOR_MIN_BYTES (4 + 4 + 4 * 4 + 4 * 4)  /* empty name, no data */
#define NODE_BYTES (2 + 1 + 4 * NG_MAX_IN + 4 + 4 + 4 * NG_MAX_IA + 4 * NG_MAX_FA)
#define MAX_ELEMS (NG_MAX_TENSOR_BYTES / 4)

/* ---- op table ---------------------------------------------------------- */

const ng_op_info ng_ops[] = {
#define OP(id, name, n_in, flags) [NG_OP_##id] = { name, n_in, flags },
#include "ops.def"
#undef OP
};
_Static_assert(sizeof ng_ops / sizeof ng_ops[0] == NG_OP_COUNT,
               "ng_ops[] must have one row per op of ops.def");

static const char *const role_names[] = {
    "input", "param", "opt_state", "const", "act", "grad", "workspace",
};
_Static_assert(sizeof role_names / sizeof role_names[0] == NG_ROLE_COUNT,
               "role_names[] must match NG_ROLE_*");

static const char *const init_names[] = {
    "none", "zeros", "ones", "he_normal", "glorot_uniform", "data",
    "class_weights",
};
_Static_assert(sizeof init_names / sizeof init_names[0] == NG_INIT_COUNT,
               "init_names[] must match NG_INIT_*");

/* ---- small helpers ----------------------------------------------------- */

/* Formats a message into err (may be NULL) and returns -1. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Product of dims, or -1 when a dim is < 0 or the product overflows. */
static int64_t shape_nelem(int ndim, const int32_t *dim)
{
    int64_t n = 1;
    if (ndim < 0 || ndim > NG_MAX_DIMS)
        return -1;
    for (int i = 0; i < ndim; i++) {
        if (dim[i] < 0)
            return -1;
        if (dim[i] > 0 && n > INT64_MAX / dim[i])
            return -1;
        n *= dim[i];
    }
    return n;
}

/* 1 when ndim <= 4, every dim >= 1 and the tensor fits in NG_MAX_TENSOR_BYTES. */
static int shape_ok(int ndim, const int32_t *dim)
{
    if (ndim < 0 || ndim > NG_MAX_DIMS)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (dim[i] < 1)
            return 0;
    int64_t n = shape_nelem(ndim, dim);
    return n >= 0 && n <= MAX_ELEMS;
}

/* "2x3x8x8", "scalar" for ndim 0.  buf holds at least 64 bytes. */
static const char *shape_str(char *buf, int ndim, const int32_t *dim)
{
    size_t k = 0;
    if (ndim <= 0 || ndim > NG_MAX_DIMS)
        return ndim == 0 ? "scalar" : "invalid";
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(buf + k, 64 - k, i ? "x%" PRId32 : "%" PRId32,
                              dim[i]);
    return buf;
}

static int same_shape(const ng_tensor *a, const ng_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim && i < NG_MAX_DIMS; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

int64_t ng_tensor_nelem(const ng_tensor *t)
{
    return shape_nelem(t->ndim, t->dim);
}

int64_t ng_tensor_bytes(const ng_tensor *t)
{
    int64_t n = ng_tensor_nelem(t);
    return n < 0 || n > INT64_MAX / 4 ? -1 : n * 4;
}

int ng_role_is_persistent(int role)
{
    return role == NG_ROLE_INPUT || role == NG_ROLE_PARAM ||
           role == NG_ROLE_OPT_STATE || role == NG_ROLE_CONST;
}

const char *ng_role_name(int role)
{
    return role >= 0 && role < NG_ROLE_COUNT ? role_names[role] : "?";
}

const char *ng_init_name(int init)
{
    return init >= 0 && init < NG_INIT_COUNT ? init_names[init] : "?";
}

const char *ng_cw_name(int scheme)
{
    static const char *const names[] = { "balanced", "median_freq", "inverse_sqrt" };
    _Static_assert(sizeof names / sizeof names[0] == NG_CW_COUNT,
                   "ng_cw_name: one name per NG_CW_*");
    return scheme >= 0 && scheme < NG_CW_COUNT ? names[scheme] : "?";
}

const ng_entry *ng_graph_entry(const ng_graph *g, const char *name)
{
    if (!g || !name)
        return NULL;
    for (int32_t i = 0; i < g->n_entries; i++)
        if (g->entries[i].name && strcmp(g->entries[i].name, name) == 0)
            return &g->entries[i];
    return NULL;
}

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t ng_crc32(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- shape rules ------------------------------------------------------- */

typedef struct {
    const char *op; /* op name, the prefix of every message */
    char *err;
    size_t errlen;
} sctx;

/* t must be present, of dtype, and of rank ndim (any rank when ndim < 0). */
static int need(const sctx *c, const ng_tensor *t, const char *what, int dtype,
                int ndim)
{
    char b[64];
    if (!t)
        return fail(c->err, c->errlen, "%s: %s is missing", c->op, what);
    if (t->dtype != dtype) {
        if (dtype == NG_I32)
            return fail(c->err, c->errlen, "%s: %s must be i32 (a labels input)",
                        c->op, what);
        return fail(c->err, c->errlen, "%s: %s must be f32, not %s", c->op, what,
                    t->dtype == NG_I32 ? "i32 (labels)" : "an unknown dtype");
    }
    if (ndim >= 0 && t->ndim != ndim)
        return fail(c->err, c->errlen, "%s: %s must be %d-D%s, not %s", c->op,
                    what, ndim,
                    ndim == 4 ? " (N,C,H,W)" : ndim == 3 ? " (N,H,W)" : "",
                    shape_str(b, t->ndim, t->dim));
    return 0;
}

/* a * b for non-negative sizes; -1 when either is -1 or the product exceeds
 * MAX_ELEMS. */
static int64_t mul_lim(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (b > 0 && a > MAX_ELEMS / b))
        return -1;
    return a * b;
}

/* Output size of a convolution of an H x W input by a KH x KW kernel with the
 * stride and padding of ia[0..4] (stride, top, left, bottom, right):
 * OH = (H + top + bottom - KH) / stride + 1, and likewise OW. */
static int conv_geom(const sctx *c, const int32_t *ia, int32_t H, int32_t W,
                     int32_t KH, int32_t KW, int32_t *OH, int32_t *OW)
{
    int32_t s = ia[0], pt = ia[1], pl = ia[2], pb = ia[3], pr = ia[4];
    if (s < 1)
        return fail(c->err, c->errlen, "%s: stride %" PRId32 " must be >= 1",
                    c->op, s);
    if (pt < 0 || pl < 0 || pb < 0 || pr < 0)
        return fail(c->err, c->errlen,
                    "%s: padding %" PRId32 ",%" PRId32 ",%" PRId32 ",%" PRId32
                    " (top,left,bottom,right) must be >= 0",
                    c->op, pt, pl, pb, pr);
    int64_t ph = (int64_t)H + pt + pb, pw = (int64_t)W + pl + pr;
    if (ph < KH || pw < KW)
        return fail(c->err, c->errlen,
                    "%s: %" PRId32 "x%" PRId32 " kernel is larger than the "
                    "padded %" PRId64 "x%" PRId64 " input",
                    c->op, KH, KW, ph, pw);
    int64_t oh = (ph - KH) / s + 1, ow = (pw - KW) / s + 1;
    if (oh > INT32_MAX || ow > INT32_MAX)
        return fail(c->err, c->errlen, "%s: output %" PRId64 "x%" PRId64
                    " is too large", c->op, oh, ow);
    *OH = (int32_t)oh;
    *OW = (int32_t)ow;
    return 0;
}

/* im2col buffer in floats: one band of output rows (C*KH*KW, rows*OW), see
 * ng_conv_band_rows; 0 for a 1x1 kernel with stride 1 and no padding (the
 * input is its own column matrix); -1 when too large. */
static int64_t conv_ws(const int32_t *ia, int64_t C, int64_t KH, int64_t KW,
                       int64_t OH, int64_t OW)
{
    if (KH == 1 && KW == 1 && ia[0] == 1 && !ia[1] && !ia[2] && !ia[3] && !ia[4])
        return 0;
    int64_t row = mul_lim(mul_lim(mul_lim(C, KH), KW), OW);
    if (row < 0)
        return -1;
    return mul_lim(row, ng_conv_band_rows(C, KH, KW, OH, OW));
}

static void set_out(ng_tensor *out, int ndim, int32_t d0, int32_t d1,
                    int32_t d2, int32_t d3)
{
    out->dtype = NG_F32;
    out->ndim = (uint8_t)ndim;
    out->dim[0] = ndim > 0 ? d0 : 0;
    out->dim[1] = ndim > 1 ? d1 : 0;
    out->dim[2] = ndim > 2 ? d2 : 0;
    out->dim[3] = ndim > 3 ? d3 : 0;
}

static void copy_shape(ng_tensor *out, const ng_tensor *x)
{
    set_out(out, x->ndim, x->dim[0], x->dim[1], x->dim[2], x->dim[3]);
}

/* Broadcast shape of a and b (numpy: right-aligned, equal or 1) into out. */
static int broadcast(const sctx *c, const ng_tensor *a, const ng_tensor *b,
                     ng_tensor *out)
{
    char b1[64], b2[64];
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    int32_t d[NG_MAX_DIMS] = { 0 };
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int32_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return fail(c->err, c->errlen, "%s: shapes %s and %s do not broadcast "
                        "(dims must be equal or 1, aligned at the right)", c->op,
                        shape_str(b1, a->ndim, a->dim), shape_str(b2, b->ndim, b->dim));
        d[i] = da > db ? da : db;
    }
    set_out(out, r, d[0], d[1], d[2], d[3]);
    return 0;
}

/* The shape of x reduced over the dims in mask, keeping those in keep as
 * size 1; checks the masks against x's rank. */
static int reduced_shape(const sctx *c, const ng_tensor *x, int32_t mask,
                         int32_t keep, ng_tensor *out)
{
    if (mask < 0 || mask >= (1 << x->ndim) || (keep & ~mask) != 0)
        return fail(c->err, c->errlen, "%s: dims %#x (kept %#x) do not fit a "
                    "rank-%d input", c->op, (unsigned)mask, (unsigned)keep,
                    x->ndim);
    int32_t d[NG_MAX_DIMS] = { 0 };
    int r = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!(mask >> i & 1))
            d[r++] = x->dim[i];
        else if (keep >> i & 1)
            d[r++] = 1;
    }
    set_out(out, r, d[0], d[1], d[2], d[3]);
    return 0;
}

/* A shape written in attributes: rank ia[0] (0..4), dims ia[1..4]. */
static int attr_shape(const sctx *c, const int32_t *ia, ng_tensor *out)
{
    if (ia[0] < 0 || ia[0] > NG_MAX_DIMS)
        return fail(c->err, c->errlen, "%s: rank %" PRId32 " (0 to %d)", c->op,
                    ia[0], NG_MAX_DIMS);
    for (int i = 0; i < ia[0]; i++)
        if (ia[1 + i] < 1)
            return fail(c->err, c->errlen, "%s: dim %d is %" PRId32, c->op, i,
                        ia[1 + i]);
    set_out(out, ia[0], ia[1], ia[2], ia[3], ia[4]);
    if (!shape_ok(out->ndim, out->dim))
        return fail(c->err, c->errlen, "%s: the shape is over the size limit",
                    c->op);
    return 0;
}

/* axis must name a dim of x. */
static int axis_ok(const sctx *c, const ng_tensor *x, int32_t axis)
{
    char b[64];
    if (axis < 0 || axis >= x->ndim)
        return fail(c->err, c->errlen, "%s: axis %" PRId32 " is not a dim of %s",
                    c->op, axis, shape_str(b, x->ndim, x->dim));
    return 0;
}

/* Labels (N,H,W) i32 -> (N,ch,H,W) f32. */
static int labels_to(const sctx *c, const ng_tensor *lb, int32_t ch, ng_tensor *out)
{
    if (need(c, lb, "labels", NG_I32, 3))
        return -1;
    if (ch < 1 || ch > NG_MAX_CLASSES)
        return fail(c->err, c->errlen, "%s: %" PRId32 " classes (1 to %d)", c->op,
                    ch, NG_MAX_CLASSES);
    set_out(out, 4, lb->dim[0], ch, lb->dim[1], lb->dim[2]);
    return 0;
}

static int is_optional(int op, int slot)
{
    return (op == NG_OP_CONV2D && slot == 2) ||
           (op == NG_OP_CROSS_ENTROPY && slot == 2) ||
           (op == NG_OP_CROSS_ENTROPY_BWD && slot == 3);
}

/* Cross-entropy operand checks shared by the forward and backward op:
 * logits (N,C,H,W) f32, labels (N,H,W) i32, weights (C) f32 or absent. */
static int ce_check(const sctx *c, const ng_tensor *x, const ng_tensor *y,
                    const ng_tensor *w)
{
    if (need(c, x, "logits", NG_F32, 4) || need(c, y, "labels", NG_I32, 3))
        return -1;
    if (y->dim[0] != x->dim[0])
        return fail(c->err, c->errlen, "%s: labels have batch %" PRId32
                    " but logits have batch %" PRId32, c->op, y->dim[0],
                    x->dim[0]);
    if (y->dim[1] != x->dim[2] || y->dim[2] != x->dim[3])
        return fail(c->err, c->errlen, "%s: labels are %" PRId32 "x%" PRId32
                    " but logits are %" PRId32 "x%" PRId32, c->op, y->dim[1],
                    y->dim[2], x->dim[2], x->dim[3]);
    if (w) {
        if (need(c, w, "weights", NG_F32, 1))
            return -1;
        if (w->dim[0] != x->dim[1])
            return fail(c->err, c->errlen, "%s: weights have %" PRId32
                        " elements but logits have %" PRId32 " classes", c->op,
                        w->dim[0], x->dim[1]);
    }
    return 0;
}

/* Optimizer operands: p first, then the others, all f32 of p's shape. */
static int update_check(const sctx *c, const ng_tensor *const *in, int n,
                        const char *const *names)
{
    char b1[64], b2[64];
    for (int i = 0; i < n; i++) {
        if (need(c, in[i], names[i], NG_F32, -1))
            return -1;
        if (i > 0 && !same_shape(in[i], in[0]))
            return fail(c->err, c->errlen, "%s: %s is %s but p is %s", c->op,
                        names[i], shape_str(b1, in[i]->ndim, in[i]->dim),
                        shape_str(b2, in[0]->ndim, in[0]->dim));
    }
    return 0;
}

/* v must be finite and in [lo, hi) (hi_open) or [lo, hi]. */
static int frange(const sctx *c, const char *what, float v, double lo,
                  double hi, int hi_open)
{
    if (v >= lo && (hi_open ? v < hi : v <= hi) && isfinite(v))
        return 0;
    if (isinf(hi) && isinf(lo))
        return fail(c->err, c->errlen, "%s: %s = %g must be finite", c->op, what,
                    (double)v);
    if (isinf(hi))
        return fail(c->err, c->errlen, "%s: %s = %g must be finite and >= %g",
                    c->op, what, (double)v, lo);
    return fail(c->err, c->errlen, "%s: %s = %g must be in [%g, %g%s", c->op,
                what, (double)v, lo, hi, hi_open ? ")" : "]");
}

int ng_op_shape(const ng_node *n, const ng_tensor *const *in, ng_tensor *out,
                int64_t *ws_elems, char *err, size_t errlen)
{
    static const char *const adam_names[] = { "p", "g", "m", "v" };
    static const char *const sgd_names[] = { "p", "g", "v" };
    char b1[64], b2[64];
    const int32_t *ia = n->ia;
    const float *fa = n->fa;
    int32_t OH, OW;
    int64_t ws = 0;

    *ws_elems = 0;
    set_out(out, 0, 0, 0, 0, 0);
    if (n->op >= NG_OP_COUNT)
        return fail(err, errlen, "op %u out of range (%d ops)", (unsigned)n->op,
                    NG_OP_COUNT);
    sctx cx = { ng_ops[n->op].name, err, errlen }, *c = &cx;
    int want = ng_ops[n->op].n_in;
    if (want >= 0 ? n->n_in != want : n->n_in < 1 || n->n_in > NG_MAX_IN) {
        if (want >= 0)
            return fail(err, errlen, "%s: %u inputs, expects %d", c->op,
                        (unsigned)n->n_in, want);
        return fail(err, errlen, "%s: %u inputs, expects 1 to %d", c->op,
                    (unsigned)n->n_in, NG_MAX_IN);
    }
    for (int i = 0; i < n->n_in; i++) {
        if (!in[i] && !is_optional(n->op, i))
            return fail(err, errlen, "%s: input %d is missing", c->op, i + 1);
        if (in[i] && !shape_ok(in[i]->ndim, in[i]->dim))
            return fail(err, errlen, "%s: input %d has an invalid shape %s",
                        c->op, i + 1, shape_str(b1, in[i]->ndim, in[i]->dim));
    }

    /* One case per op; the assert trips when ops.def gains a row. */
    _Static_assert(NG_OP_COUNT == 42, "ng_op_shape: add the new op's shape rule");
    switch ((int)n->op) {
    case NG_OP_CONV2D: { /* x(N,C,H,W), w(K,C,KH,KW), b(K) -> (N,K,OH,OW) */
        const ng_tensor *x = in[0], *w = in[1], *b = in[2];
        if (need(c, x, "input", NG_F32, 4) || need(c, w, "weight", NG_F32, 4))
            return -1;
        if (w->dim[1] != x->dim[1])
            return fail(err, errlen, "conv2d: weight expects %" PRId32
                        " input channels but the input has %" PRId32,
                        w->dim[1], x->dim[1]);
        if (b) {
            if (need(c, b, "bias", NG_F32, 1))
                return -1;
            if (b->dim[0] != w->dim[0])
                return fail(err, errlen, "conv2d: bias has %" PRId32
                            " elements but the weight has %" PRId32
                            " output channels", b->dim[0], w->dim[0]);
        }
        if (conv_geom(c, ia, x->dim[2], x->dim[3], w->dim[2], w->dim[3], &OH, &OW))
            return -1;
        set_out(out, 4, x->dim[0], w->dim[0], OH, OW);
        ws = conv_ws(ia, x->dim[1], w->dim[2], w->dim[3], OH, OW);
        break;
    }
    case NG_OP_CONV2D_BWD_DATA: { /* dy(N,K,OH,OW), w(K,C,KH,KW) -> (N,C,H,W),
                                     H = ia[5], W = ia[6] */
        const ng_tensor *dy = in[0], *w = in[1];
        if (need(c, dy, "dy", NG_F32, 4) || need(c, w, "weight", NG_F32, 4))
            return -1;
        if (dy->dim[1] != w->dim[0])
            return fail(err, errlen, "%s: dy has %" PRId32 " channels but the "
                        "weight has %" PRId32 " output channels", c->op,
                        dy->dim[1], w->dim[0]);
        if (ia[5] < 1 || ia[6] < 1)
            return fail(err, errlen, "%s: input size %" PRId32 "x%" PRId32
                        " (ia[5], ia[6]) must be >= 1", c->op, ia[5], ia[6]);
        if (conv_geom(c, ia, ia[5], ia[6], w->dim[2], w->dim[3], &OH, &OW))
            return -1;
        if (dy->dim[2] != OH || dy->dim[3] != OW)
            return fail(err, errlen, "%s: dy is %" PRId32 "x%" PRId32 " but the "
                        "convolution of a %" PRId32 "x%" PRId32 " input gives %"
                        PRId32 "x%" PRId32, c->op, dy->dim[2], dy->dim[3],
                        ia[5], ia[6], OH, OW);
        set_out(out, 4, dy->dim[0], w->dim[1], ia[5], ia[6]);
        ws = conv_ws(ia, w->dim[1], w->dim[2], w->dim[3], OH, OW);
        break;
    }
    case NG_OP_CONV2D_BWD_FILTER: { /* dy(N,K,OH,OW), x(N,C,H,W) -> (K,C,KH,KW),
                                       KH = ia[5], KW = ia[6] */
        const ng_tensor *dy = in[0], *x = in[1];
        if (need(c, dy, "dy", NG_F32, 4) || need(c, x, "input", NG_F32, 4))
            return -1;
        if (dy->dim[0] != x->dim[0])
            return fail(err, errlen, "%s: dy has batch %" PRId32 " but the input"
                        " has batch %" PRId32, c->op, dy->dim[0], x->dim[0]);
        if (ia[5] < 1 || ia[6] < 1)
            return fail(err, errlen, "%s: kernel %" PRId32 "x%" PRId32
                        " (ia[5], ia[6]) must be >= 1", c->op, ia[5], ia[6]);
        if (conv_geom(c, ia, x->dim[2], x->dim[3], ia[5], ia[6], &OH, &OW))
            return -1;
        if (dy->dim[2] != OH || dy->dim[3] != OW)
            return fail(err, errlen, "%s: dy is %" PRId32 "x%" PRId32 " but the "
                        "convolution of a %" PRId32 "x%" PRId32 " input gives %"
                        PRId32 "x%" PRId32, c->op, dy->dim[2], dy->dim[3],
                        x->dim[2], x->dim[3], OH, OW);
        set_out(out, 4, dy->dim[1], x->dim[1], ia[5], ia[6]);
        ws = conv_ws(ia, x->dim[1], ia[5], ia[6], OH, OW);
        break;
    }
    case NG_OP_CONV2D_BWD_BIAS: /* dy(N,K,OH,OW) -> (K) */
        if (need(c, in[0], "dy", NG_F32, 4))
            return -1;
        set_out(out, 1, in[0]->dim[1], 0, 0, 0);
        break;
    case NG_OP_RELU: /* any shape -> the same */
    case NG_OP_NEG:
    case NG_OP_EXP:
    case NG_OP_LOG:
    case NG_OP_SQRT:
    case NG_OP_ABS:
    case NG_OP_SIGN:
    case NG_OP_STOP_GRADIENT:
        if (need(c, in[0], "input", NG_F32, -1))
            return -1;
        copy_shape(out, in[0]);
        break;
    case NG_OP_POW: /* any shape; fa[0] p */
        if (need(c, in[0], "input", NG_F32, -1) ||
            frange(c, "p", fa[0], -HUGE_VAL, HUGE_VAL, 0))
            return -1;
        copy_shape(out, in[0]);
        break;
    case NG_OP_CLAMP: /* any shape; fa[0] lo <= fa[1] hi, may be infinite */
        if (need(c, in[0], "input", NG_F32, -1))
            return -1;
        if (!(fa[0] <= fa[1]))
            return fail(err, errlen, "clamp: bounds [%g, %g] are not a range",
                        (double)fa[0], (double)fa[1]);
        copy_shape(out, in[0]);
        break;
    case NG_OP_SOFTMAX: /* any rank >= 1; ia[0] axis */
    case NG_OP_LOG_SOFTMAX:
        if (need(c, in[0], "input", NG_F32, -1) || axis_ok(c, in[0], ia[0]))
            return -1;
        copy_shape(out, in[0]);
        break;
    case NG_OP_RELU_BWD: /* dy, y -> shape of y */
    case NG_OP_POW_BWD: /* dy, x -> shape of x */
    case NG_OP_CLAMP_BWD: {
        const char *second = n->op == NG_OP_RELU_BWD ? "y" : "x";
        if (need(c, in[0], "dy", NG_F32, -1) || need(c, in[1], second, NG_F32, -1))
            return -1;
        if (!same_shape(in[0], in[1]))
            return fail(err, errlen, "%s: shapes %s and %s differ", c->op,
                        shape_str(b1, in[0]->ndim, in[0]->dim),
                        shape_str(b2, in[1]->ndim, in[1]->dim));
        if (n->op == NG_OP_POW_BWD && frange(c, "p", fa[0], -HUGE_VAL, HUGE_VAL, 0))
            return -1;
        if (n->op == NG_OP_CLAMP_BWD && !(fa[0] <= fa[1]))
            return fail(err, errlen, "%s: bounds [%g, %g] are not a range", c->op,
                        (double)fa[0], (double)fa[1]);
        copy_shape(out, in[0]);
        break;
    }
    case NG_OP_ADD: /* a, b -> their broadcast shape */
    case NG_OP_SUB:
    case NG_OP_MUL:
    case NG_OP_DIV:
        if (need(c, in[0], "a", NG_F32, -1) || need(c, in[1], "b", NG_F32, -1) ||
            broadcast(c, in[0], in[1], out))
            return -1;
        break;
    case NG_OP_REDUCE_SUM: /* x -> x reduced; ia[0] mask, ia[1] keep, fa[0] scale */
        if (need(c, in[0], "input", NG_F32, -1) ||
            frange(c, "scale", fa[0], -HUGE_VAL, HUGE_VAL, 0) ||
            reduced_shape(c, in[0], ia[0], ia[1], out))
            return -1;
        break;
    case NG_OP_EXPAND: { /* x (the target reduced) -> target (ia[2..6]) */
        ng_tensor target, want;
        char b3[64];
        memset(&target, 0, sizeof target);
        if (need(c, in[0], "input", NG_F32, -1) ||
            frange(c, "scale", fa[0], -HUGE_VAL, HUGE_VAL, 0) ||
            attr_shape(c, ia + 2, &target) ||
            reduced_shape(c, &target, ia[0], ia[1], &want))
            return -1;
        if (!same_shape(in[0], &want))
            return fail(err, errlen, "expand: input is %s but reducing %s gives %s",
                        shape_str(b1, in[0]->ndim, in[0]->dim),
                        shape_str(b2, target.ndim, target.dim),
                        shape_str(b3, want.ndim, want.dim));
        copy_shape(out, &target);
        break;
    }
    case NG_OP_ONE_HOT: /* labels (N,H,W) -> (N,K,H,W), ia[0] K */
        if (labels_to(c, in[0], ia[0], out))
            return -1;
        break;
    case NG_OP_VALID_MASK: /* labels (N,H,W) -> (N,1,H,W), ia[0] classes */
        if (labels_to(c, in[0], ia[0], out))
            return -1;
        out->dim[1] = 1;
        break;
    case NG_OP_RESHAPE: /* x -> shape ia[0..4], same element count */
        if (need(c, in[0], "input", NG_F32, -1) || attr_shape(c, ia, out))
            return -1;
        if (ng_tensor_nelem(out) != ng_tensor_nelem(in[0]))
            return fail(err, errlen, "reshape: %s and %s have different sizes",
                        shape_str(b1, in[0]->ndim, in[0]->dim),
                        shape_str(b2, out->ndim, out->dim));
        break;
    case NG_OP_SLICE: { /* x -> count along axis ia[0] from ia[1] */
        const ng_tensor *x = in[0];
        if (need(c, x, "input", NG_F32, -1) || axis_ok(c, x, ia[0]))
            return -1;
        if (ia[1] < 0 || ia[2] < 1 || (int64_t)ia[1] + ia[2] > x->dim[ia[0]])
            return fail(err, errlen, "slice: %" PRId32 " from %" PRId32 " out of "
                        "range (dim %" PRId32 " has %" PRId32 ")", ia[2], ia[1],
                        ia[0], x->dim[ia[0]]);
        copy_shape(out, x);
        out->dim[ia[0]] = ia[2];
        break;
    }
    case NG_OP_PAD: { /* x -> size ia[2] along axis ia[0], x at ia[1] */
        const ng_tensor *x = in[0];
        if (need(c, x, "input", NG_F32, -1) || axis_ok(c, x, ia[0]))
            return -1;
        if (ia[1] < 0 || (int64_t)ia[1] + x->dim[ia[0]] > ia[2])
            return fail(err, errlen, "pad: %" PRId32 " from %" PRId32 " does not "
                        "fit in %" PRId32, x->dim[ia[0]], ia[1], ia[2]);
        copy_shape(out, x);
        out->dim[ia[0]] = ia[2];
        break;
    }
    case NG_OP_MAXPOOL: /* x(N,C,H,W) -> (N,C,H/k,W/k), floor */
    case NG_OP_MAXPOOL_BWD: { /* dy, x, y -> shape of x */
        int bwd = n->op == NG_OP_MAXPOOL_BWD;
        const ng_tensor *x = in[bwd ? 1 : 0];
        int32_t k = ia[0];
        if (need(c, x, bwd ? "x" : "input", NG_F32, 4))
            return -1;
        if (k < 1)
            return fail(err, errlen, "%s: window %" PRId32 " must be >= 1",
                        c->op, k);
        if (k > x->dim[2] || k > x->dim[3])
            return fail(err, errlen, "%s: %" PRId32 "x%" PRId32 " pooling of a %"
                        PRId32 "x%" PRId32 " input", c->op, k, k, x->dim[2],
                        x->dim[3]);
        set_out(out, 4, x->dim[0], x->dim[1], x->dim[2] / k, x->dim[3] / k);
        if (bwd) {
            for (int i = 0; i < 3; i += 2) {
                const char *what = i ? "y" : "dy";
                if (need(c, in[i], what, NG_F32, 4))
                    return -1;
                if (!same_shape(in[i], out))
                    return fail(err, errlen, "%s: %s is %s but %" PRId32 "x%"
                                PRId32 " pooling of x gives %s", c->op, what,
                                shape_str(b1, in[i]->ndim, in[i]->dim), k, k,
                                shape_str(b2, out->ndim, out->dim));
            }
            set_out(out, 4, x->dim[0], x->dim[1], x->dim[2], x->dim[3]);
        }
        break;
    }
    case NG_OP_UPSAMPLE: { /* x(N,C,H,W) -> (N,C,H*s,W*s) */
        const ng_tensor *x = in[0];
        int32_t s = ia[0];
        if (need(c, x, "input", NG_F32, 4))
            return -1;
        if (s < 1)
            return fail(err, errlen, "upsample: factor %" PRId32 " must be >= 1",
                        s);
        if ((int64_t)x->dim[2] * s > INT32_MAX || (int64_t)x->dim[3] * s > INT32_MAX)
            return fail(err, errlen, "upsample: output is too large");
        set_out(out, 4, x->dim[0], x->dim[1], x->dim[2] * s, x->dim[3] * s);
        break;
    }
    case NG_OP_UPSAMPLE_BWD: { /* dy(N,C,H*s,W*s) -> (N,C,H,W) */
        const ng_tensor *dy = in[0];
        int32_t s = ia[0];
        if (need(c, dy, "dy", NG_F32, 4))
            return -1;
        if (s < 1)
            return fail(err, errlen, "%s: factor %" PRId32 " must be >= 1",
                        c->op, s);
        if (dy->dim[2] % s || dy->dim[3] % s)
            return fail(err, errlen, "%s: dy is %" PRId32 "x%" PRId32 ", not a "
                        "multiple of %" PRId32, c->op, dy->dim[2], dy->dim[3], s);
        set_out(out, 4, dy->dim[0], dy->dim[1], dy->dim[2] / s, dy->dim[3] / s);
        break;
    }
    case NG_OP_CONCAT: { /* x_i(N,C_i,H,W) -> (N,sum C_i,H,W); inputs named
                            from 1 in messages */
        int64_t C = 0;
        for (int i = 0; i < n->n_in; i++) {
            const ng_tensor *x = in[i], *x0 = in[0];
            char what[24];
            snprintf(what, sizeof what, "input %d", i + 1);
            if (need(c, x, what, NG_F32, 4))
                return -1;
            if (x->dim[0] != x0->dim[0])
                return fail(err, errlen, "concat: input %d has batch %" PRId32
                            " but input 1 has batch %" PRId32, i + 1, x->dim[0],
                            x0->dim[0]);
            if (x->dim[2] != x0->dim[2] || x->dim[3] != x0->dim[3])
                return fail(err, errlen, "concat: input %d is %" PRId32 "x%" PRId32
                            " but input 1 is %" PRId32 "x%" PRId32, i + 1,
                            x->dim[2], x->dim[3], x0->dim[2], x0->dim[3]);
            C += x->dim[1];
        }
        if (C > INT32_MAX)
            return fail(err, errlen, "concat: %" PRId64 " channels is too many", C);
        set_out(out, 4, in[0]->dim[0], (int32_t)C, in[0]->dim[2], in[0]->dim[3]);
        break;
    }
    case NG_OP_SLICE_C: { /* x(N,C,H,W) -> (N,count,H,W), ia[0] c0, ia[1] count */
        const ng_tensor *x = in[0];
        if (need(c, x, "input", NG_F32, 4))
            return -1;
        if (ia[0] < 0 || ia[1] < 1 || (int64_t)ia[0] + ia[1] > x->dim[1])
            return fail(err, errlen, "%s: %" PRId32 " channels from %" PRId32
                        " out of range (the input has %" PRId32 ")", c->op,
                        ia[1], ia[0], x->dim[1]);
        set_out(out, 4, x->dim[0], ia[1], x->dim[2], x->dim[3]);
        break;
    }
    case NG_OP_DROPOUT_MASK: /* no inputs -> (N,C) = (ia[1], ia[2]); fa[0] p */
        if (ia[1] < 1 || ia[2] < 1)
            return fail(err, errlen, "%s: shape %" PRId32 "x%" PRId32
                        " (ia[1], ia[2]) must be >= 1", c->op, ia[1], ia[2]);
        if (frange(c, "p", fa[0], 0, 1, 1))
            return -1;
        set_out(out, 2, ia[1], ia[2], 0, 0);
        break;
    case NG_OP_MUL_CHANNEL: { /* x(N,C,H,W), m(N,C) -> (N,C,H,W) */
        const ng_tensor *x = in[0], *m = in[1];
        if (need(c, x, "input", NG_F32, 4) || need(c, m, "mask", NG_F32, 2))
            return -1;
        if (m->dim[0] != x->dim[0] || m->dim[1] != x->dim[1])
            return fail(err, errlen, "%s: mask is %s but the input needs %" PRId32
                        "x%" PRId32, c->op, shape_str(b1, m->ndim, m->dim),
                        x->dim[0], x->dim[1]);
        set_out(out, 4, x->dim[0], x->dim[1], x->dim[2], x->dim[3]);
        break;
    }
    case NG_OP_CROSS_ENTROPY: /* logits, labels, w? -> (1) */
        if (ce_check(c, in[0], in[1], in[2]))
            return -1;
        set_out(out, 1, 1, 0, 0, 0);
        break;
    case NG_OP_CROSS_ENTROPY_BWD: /* dloss(1), logits, labels, w? -> logits */
        if (need(c, in[0], "dloss", NG_F32, -1))
            return -1;
        if (ng_tensor_nelem(in[0]) != 1)
            return fail(err, errlen, "%s: dloss must have one element, not %s",
                        c->op, shape_str(b1, in[0]->ndim, in[0]->dim));
        if (ce_check(c, in[1], in[2], in[3]))
            return -1;
        set_out(out, 4, in[1]->dim[0], in[1]->dim[1], in[1]->dim[2],
                in[1]->dim[3]);
        break;
    case NG_OP_ADAM: /* p, g, m, v; fa: lr, beta1, beta2, eps, clip */
        if (update_check(c, in, 4, adam_names) ||
            frange(c, "lr", fa[0], 0, HUGE_VAL, 0) ||
            frange(c, "beta1", fa[1], 0, 1, 1) ||
            frange(c, "beta2", fa[2], 0, 1, 1) ||
            frange(c, "eps", fa[3], 0, HUGE_VAL, 0) ||
            frange(c, "clip", fa[4], 0, HUGE_VAL, 0))
            return -1;
        break; /* no output: out->ndim stays 0 */
    case NG_OP_SGD: /* p, g, v; fa: lr, momentum, clip */
        if (update_check(c, in, 3, sgd_names) ||
            frange(c, "lr", fa[0], 0, HUGE_VAL, 0) ||
            frange(c, "momentum", fa[1], 0, 1, 1) ||
            frange(c, "clip", fa[2], 0, HUGE_VAL, 0))
            return -1;
        break;
    default:
        return fail(err, errlen, "%s: no shape rule", c->op);
    }
    if (ws < 0)
        return fail(err, errlen, "%s: the workspace is over the %" PRId64
                    "-byte limit", c->op, (int64_t)NG_MAX_TENSOR_BYTES);
    if (!shape_ok(out->ndim, out->dim))
        return fail(err, errlen, "%s: the output %s is over the %" PRId64
                    "-byte limit", c->op, shape_str(b1, out->ndim, out->dim),
                    (int64_t)NG_MAX_TENSOR_BYTES);
    *ws_elems = ws;
    return 0;
}

/* ---- graph validation -------------------------------------------------- */

/* NULL when s is a usable name, else what is wrong with it. */
static const char *name_problem(const char *s)
{
    if (!s || !*s)
        return "has no name";
    size_t n = strnlen(s, NG_MAX_STRING + 1);
    if (n > NG_MAX_STRING)
        return "has a name over the string limit";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "has a control character in its name";
    return NULL;
}

/* Rank, dims and size of tensor i; shared by the reader and ng_graph_check. */
static int tensor_shape_check(int32_t i, const ng_tensor *t, char *err,
                              size_t errlen)
{
    char b[64];
    if (t->ndim > NG_MAX_DIMS)
        return fail(err, errlen, "tensor %" PRId32 " has %u dims (at most %d)",
                    i, (unsigned)t->ndim, NG_MAX_DIMS);
    for (int k = 0; k < t->ndim; k++)
        if (t->dim[k] < 1)
            return fail(err, errlen, "tensor %" PRId32 " has dim %" PRId32, i,
                        t->dim[k]);
    if (!shape_ok(t->ndim, t->dim))
        return fail(err, errlen, "tensor %" PRId32 " is %s, over the %" PRId64
                    "-byte limit", i, shape_str(b, t->ndim, t->dim),
                    (int64_t)NG_MAX_TENSOR_BYTES);
    return 0;
}

static int check_tensor(const ng_graph *g, int32_t i, char *err, size_t errlen)
{
    const ng_tensor *t = &g->tensors[i];
    const char *bad = name_problem(t->name);
    if (bad)
        return fail(err, errlen, "tensor %" PRId32 " %s", i, bad);
    if (tensor_shape_check(i, t, err, errlen))
        return -1;
    if (t->dtype != NG_F32 && t->dtype != NG_I32)
        return fail(err, errlen, "tensor %" PRId32 " ('%s') has dtype %u", i,
                    t->name, (unsigned)t->dtype);
    if (t->role >= NG_ROLE_COUNT)
        return fail(err, errlen, "tensor %" PRId32 " ('%s') has role %u", i,
                    t->name, (unsigned)t->role);
    if (t->init >= NG_INIT_COUNT)
        return fail(err, errlen, "tensor %" PRId32 " ('%s') has init %u", i,
                    t->name, (unsigned)t->init);
    int filled = t->role == NG_ROLE_PARAM || t->role == NG_ROLE_OPT_STATE ||
                 t->role == NG_ROLE_CONST; /* netrun must give it a value */
    if (filled != (t->init != NG_INIT_NONE))
        return fail(err, errlen, "tensor %" PRId32 " ('%s'): a %s tensor %s",
                    i, t->name, ng_role_name(t->role),
                    filled ? "needs an initializer" : "cannot have an initializer");
    if ((t->role == NG_ROLE_PARAM || t->role == NG_ROLE_OPT_STATE ||
         t->init >= NG_INIT_HE_NORMAL) && t->dtype != NG_F32)
        return fail(err, errlen, "tensor %" PRId32 " ('%s') must be f32", i,
                    t->name);
    const float *a = t->init_arg;
    switch (t->init) {
    case NG_INIT_HE_NORMAL:
        if (!(a[0] > 0) || !isfinite(a[0]))
            return fail(err, errlen, "tensor %" PRId32 " ('%s'): he_normal "
                        "fan_in %g must be > 0", i, t->name, (double)a[0]);
        break;
    case NG_INIT_GLOROT_UNIFORM:
        if (!(a[0] > 0) || !(a[1] > 0) || !isfinite(a[0]) || !isfinite(a[1]))
            return fail(err, errlen, "tensor %" PRId32 " ('%s'): glorot_uniform "
                        "fans %g, %g must be > 0", i, t->name, (double)a[0],
                        (double)a[1]);
        break;
    case NG_INIT_DATA:
        if (!t->data)
            return fail(err, errlen, "tensor %" PRId32 " ('%s') has init data "
                        "but no data", i, t->name);
        break;
    case NG_INIT_CLASS_WEIGHTS:
        if (t->role != NG_ROLE_CONST)
            return fail(err, errlen, "tensor %" PRId32 " ('%s'): class weights "
                        "must be a const tensor", i, t->name);
        if (!(a[0] >= 0 && a[0] < NG_CW_COUNT) || a[0] != (float)(int)a[0])
            return fail(err, errlen, "tensor %" PRId32 " ('%s'): unknown "
                        "class-weight scheme %g", i, t->name, (double)a[0]);
        if (!(a[1] >= 0) || !isfinite(a[1]))
            return fail(err, errlen, "tensor %" PRId32 " ('%s'): class-weight "
                        "clip %g must be >= 0", i, t->name, (double)a[1]);
        break;
    default:
        break;
    }
    return 0;
}

typedef struct {
    const char *name;
    int32_t id;
} name_id;

static int name_id_cmp(const void *pa, const void *pb)
{
    const name_id *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

/* Tensor names (already checked non-empty) must be unique: sort and compare
 * neighbours. */
static int check_unique_names(const ng_graph *g, char *err, size_t errlen)
{
    if (g->n_tensors < 2)
        return 0;
    name_id *v = malloc((size_t)g->n_tensors * sizeof *v);
    if (!v)
        return fail(err, errlen, "out of memory");
    for (int32_t i = 0; i < g->n_tensors; i++)
        v[i] = (name_id){ g->tensors[i].name, i };
    qsort(v, (size_t)g->n_tensors, sizeof *v, name_id_cmp);
    int rc = 0;
    for (int32_t i = 1; i < g->n_tensors && !rc; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0)
            rc = fail(err, errlen, "tensors %" PRId32 " and %" PRId32
                      " are both named '%s'", v[i - 1].id, v[i].id, v[i].name);
    free(v);
    return rc;
}

static int check_bindings(const ng_graph *g, char *err, size_t errlen)
{
    const ng_bindings *b = &g->bind;
    const struct { const char *what; int32_t id; } ids[] = {
        { "image", b->image }, { "labels", b->labels }, { "loss", b->loss },
        { "output", b->output }, { "class_weights", b->class_weights },
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id < -1 || ids[i].id >= g->n_tensors)
            return fail(err, errlen, "bindings: %s is tensor %" PRId32
                        ", out of range (%" PRId32 " tensors)", ids[i].what,
                        ids[i].id, g->n_tensors);
#define BOUND(id) ((id) >= 0 ? &g->tensors[(id)] : NULL)
    const ng_tensor *im = BOUND(b->image), *lb = BOUND(b->labels),
                    *ls = BOUND(b->loss), *out = BOUND(b->output),
                    *cw = BOUND(b->class_weights);
#undef BOUND
    if (!im || !out)
        return fail(err, errlen, "bindings: the graph has no %s", !im ? "image input" : "output");
    int32_t k = b->classes;
    char s1[64], s2[64];
    if (k != -1 && (k < 1 || k > NG_MAX_CLASSES))
        return fail(err, errlen, "bindings: %" PRId32 " classes (1 to %d)", k,
                    NG_MAX_CLASSES);
    if (k == -1 && (lb || out || cw))
        return fail(err, errlen, "bindings: the number of classes is missing");
    if (im && (im->dtype != NG_F32 || im->ndim != 4 || im->role != NG_ROLE_INPUT))
        return fail(err, errlen, "bindings: image ('%s') must be an f32 "
                    "(N,C,H,W) input", im->name);
    if (lb && (lb->dtype != NG_I32 || lb->ndim != 3 || lb->role != NG_ROLE_INPUT))
        return fail(err, errlen, "bindings: labels ('%s') must be an i32 "
                    "(N,H,W) input", lb->name);
    if (im && lb && (lb->dim[0] != im->dim[0] || lb->dim[1] != im->dim[2] ||
                     lb->dim[2] != im->dim[3]))
        return fail(err, errlen, "bindings: labels are %s but the image is %s",
                    shape_str(s1, lb->ndim, lb->dim),
                    shape_str(s2, im->ndim, im->dim));
    if (ls && (ls->dtype != NG_F32 || ng_tensor_nelem(ls) != 1))
        return fail(err, errlen, "bindings: loss ('%s') must be one f32 element",
                    ls->name);
    if (out && (out->dtype != NG_F32 || out->ndim != 4 || out->dim[1] != k))
        return fail(err, errlen, "bindings: output ('%s') is %s, expected f32 "
                    "(N,%" PRId32 ",H,W)", out->name,
                    shape_str(s1, out->ndim, out->dim), k);
    if (out && im && (out->dim[0] != im->dim[0] || out->dim[2] != im->dim[2] ||
                      out->dim[3] != im->dim[3]))
        return fail(err, errlen, "bindings: output is %s but the image is %s",
                    shape_str(s1, out->ndim, out->dim),
                    shape_str(s2, im->ndim, im->dim));
    if (cw && (cw->dtype != NG_F32 || cw->ndim != 1 || cw->dim[0] != k ||
               cw->role != NG_ROLE_CONST))
        return fail(err, errlen, "bindings: class_weights ('%s') must be an f32 "
                    "const of %" PRId32 " elements", cw->name, k);
    return 0;
}

/* An arena tensor used by a node: it must have an offset in this entry. */
static int check_placed(const ng_graph *g, const ng_entry *e, const char *pre,
                        const char *slot, int32_t id, char *err, size_t errlen)
{
    if (e->offset[id] < 0)
        return fail(err, errlen, "%s: %s (tensor %" PRId32 " '%s') has no offset "
                    "in this entry", pre, slot, id, g->tensors[id].name);
    return 0;
}

static int check_node(const ng_graph *g, const ng_entry *e, int32_t j,
                      uint8_t *made, char *err, size_t errlen)
{
    const ng_node *nd = &e->nodes[j];
    const ng_tensor *ins[NG_MAX_IN] = { 0 };
    char pre[192], slot[16], msg[256], b1[64], b2[64];

    if (nd->op >= NG_OP_COUNT)
        return fail(err, errlen, "entry '%s', node %" PRId32 ": op %u out of "
                    "range (%d ops)", e->name, j, (unsigned)nd->op, NG_OP_COUNT);
    const ng_op_info *oi = &ng_ops[nd->op];
    snprintf(pre, sizeof pre, "entry '%s', node %" PRId32 ": %s", e->name, j,
             oi->name);
    if (oi->n_in >= 0 ? nd->n_in != oi->n_in : nd->n_in < 1 || nd->n_in > NG_MAX_IN)
        return fail(err, errlen, "%s: %u inputs, expects %s%d", pre,
                    (unsigned)nd->n_in, oi->n_in >= 0 ? "" : "1 to ",
                    oi->n_in >= 0 ? oi->n_in : NG_MAX_IN);
    for (int i = 0; i < NG_MAX_IN; i++) {
        int32_t id = nd->in[i];
        snprintf(slot, sizeof slot, "in[%d]", i);
        if (i >= nd->n_in) {
            if (id != -1)
                return fail(err, errlen, "%s: unused %s is %" PRId32
                            ", expected -1", pre, slot, id);
            continue;
        }
        if (id == -1) {
            if (!is_optional(nd->op, i))
                return fail(err, errlen, "%s: %s is missing", pre, slot);
            continue;
        }
        if (id < 0 || id >= g->n_tensors)
            return fail(err, errlen, "%s: %s is tensor %" PRId32 ", out of range "
                        "(%" PRId32 " tensors)", pre, slot, id, g->n_tensors);
        ins[i] = &g->tensors[id];
        if (ng_role_is_persistent(ins[i]->role))
            continue;
        if (check_placed(g, e, pre, slot, id, err, errlen))
            return -1;
        if (!made[id])
            return fail(err, errlen, "%s: %s reads tensor %" PRId32 " ('%s') "
                        "before any node of this entry writes it", pre, slot, id,
                        ins[i]->name);
    }
    if (oi->flags & NG_F_UPDATE) {
        if (nd->out != -1)
            return fail(err, errlen, "%s: out is %" PRId32 " but the op writes "
                        "in place (expected -1)", pre, nd->out);
        for (int i = 0; i < nd->n_in; i++) {
            int want = i == 0 ? NG_ROLE_PARAM : NG_ROLE_OPT_STATE;
            if (i != 1 && ins[i]->role != want)
                return fail(err, errlen, "%s: in[%d] (tensor %" PRId32 " '%s') "
                            "is a %s tensor, expected %s", pre, i, nd->in[i],
                            ins[i]->name, ng_role_name(ins[i]->role),
                            ng_role_name(want));
        }
    } else {
        int32_t id = nd->out;
        if (id < 0 || id >= g->n_tensors)
            return fail(err, errlen, "%s: out is tensor %" PRId32 ", out of range "
                        "(%" PRId32 " tensors)", pre, id, g->n_tensors);
        const ng_tensor *t = &g->tensors[id];
        if (t->role != NG_ROLE_ACT && t->role != NG_ROLE_GRAD)
            return fail(err, errlen, "%s: out (tensor %" PRId32 " '%s') is a %s "
                        "tensor; outputs are act or grad tensors", pre, id,
                        t->name, ng_role_name(t->role));
        if (check_placed(g, e, pre, "out", id, err, errlen))
            return -1;
    }
    if (nd->ws != -1) {
        int32_t id = nd->ws;
        if (!(oi->flags & NG_F_WORKSPACE))
            return fail(err, errlen, "%s: ws is %" PRId32 " but the op takes no "
                        "workspace (expected -1)", pre, id);
        if (id < 0 || id >= g->n_tensors)
            return fail(err, errlen, "%s: ws is tensor %" PRId32 ", out of range "
                        "(%" PRId32 " tensors)", pre, id, g->n_tensors);
        const ng_tensor *t = &g->tensors[id];
        if (t->role != NG_ROLE_WORKSPACE || t->dtype != NG_F32)
            return fail(err, errlen, "%s: ws (tensor %" PRId32 " '%s') must be "
                        "an f32 workspace tensor", pre, id, t->name);
        if (check_placed(g, e, pre, "ws", id, err, errlen))
            return -1;
    }

    ng_tensor want;
    int64_t ws_elems;
    if (ng_op_shape(nd, ins, &want, &ws_elems, msg, sizeof msg))
        return fail(err, errlen, "entry '%s', node %" PRId32 ": %s", e->name, j,
                    msg);
    if (!(oi->flags & NG_F_UPDATE)) {
        const ng_tensor *t = &g->tensors[nd->out];
        if (t->dtype != want.dtype || !same_shape(t, &want))
            return fail(err, errlen, "%s: out (tensor %" PRId32 " '%s') is %s%s "
                        "but the op gives f32 %s", pre, nd->out, t->name,
                        t->dtype == NG_F32 ? "f32 " : "i32 ",
                        shape_str(b1, t->ndim, t->dim),
                        shape_str(b2, want.ndim, want.dim));
        made[nd->out] = 1;
    }
    if (ws_elems > 0) {
        if (nd->ws == -1)
            return fail(err, errlen, "%s: needs a workspace of %" PRId64
                        " floats but has none", pre, ws_elems);
        int64_t have = ng_tensor_nelem(&g->tensors[nd->ws]);
        if (have < ws_elems)
            return fail(err, errlen, "%s: workspace (tensor %" PRId32 " '%s') "
                        "has %" PRId64 " floats, needs %" PRId64, pre, nd->ws,
                        g->tensors[nd->ws].name, have, ws_elems);
    }
    return 0;
}

static int check_entry(const ng_graph *g, int32_t ei, uint8_t *made, char *err,
                       size_t errlen)
{
    const ng_entry *e = &g->entries[ei];
    if (e->arena_bytes < 0 || e->arena_bytes > NG_MAX_ARENA_BYTES)
        return fail(err, errlen, "entry '%s': arena of %" PRId64 " bytes (0 to %"
                    PRId64 ")", e->name, e->arena_bytes,
                    (int64_t)NG_MAX_ARENA_BYTES);
    if (e->n_nodes < 0 || e->n_nodes > NG_MAX_NODES || (e->n_nodes && !e->nodes))
        return fail(err, errlen, "entry '%s': %" PRId32 " nodes (0 to %d)",
                    e->name, e->n_nodes, NG_MAX_NODES);
    if (g->n_tensors > 0 && !e->offset)
        return fail(err, errlen, "entry '%s' has no offset table", e->name);
    for (int32_t i = 0; i < g->n_tensors; i++) {
        const ng_tensor *t = &g->tensors[i];
        int64_t off = e->offset[i], bytes = ng_tensor_bytes(t);
        if (off == -1)
            continue;
        if (ng_role_is_persistent(t->role))
            return fail(err, errlen, "entry '%s': %s tensor %" PRId32 " ('%s') "
                        "has offset %" PRId64 "; persistent tensors have -1",
                        e->name, ng_role_name(t->role), i, t->name, off);
        if (off < 0 || off > e->arena_bytes - bytes)
            return fail(err, errlen, "entry '%s': tensor %" PRId32 " ('%s') at "
                        "offset %" PRId64 " (%" PRId64 " bytes) is outside the %"
                        PRId64 "-byte arena", e->name, i, t->name, off, bytes,
                        e->arena_bytes);
        if (off % 4)
            return fail(err, errlen, "entry '%s': tensor %" PRId32 " ('%s') at "
                        "offset %" PRId64 " is not 4-byte aligned", e->name, i,
                        t->name, off);
    }
    if (g->n_tensors > 0)
        memset(made, 0, (size_t)g->n_tensors);
    for (int32_t j = 0; j < e->n_nodes; j++)
        if (check_node(g, e, j, made, err, errlen))
            return -1;
    return 0;
}

int ng_graph_check(const ng_graph *g, char *err, size_t errlen)
{
    if (!g)
        return fail(err, errlen, "no graph");
    if (g->n_tensors < 0 || g->n_tensors > NG_MAX_TENSORS ||
        (g->n_tensors > 0 && !g->tensors))
        return fail(err, errlen, "%" PRId32 " tensors (0 to %d)", g->n_tensors,
                    NG_MAX_TENSORS);
    if (g->n_entries < 1 || g->n_entries > NG_MAX_ENTRIES || !g->entries)
        return fail(err, errlen, "%" PRId32 " entry points (1 to %d)",
                    g->n_entries, NG_MAX_ENTRIES);
    for (int32_t i = 0; i < g->n_tensors; i++)
        if (check_tensor(g, i, err, errlen))
            return -1;
    if (check_unique_names(g, err, errlen) || check_bindings(g, err, errlen))
        return -1;
    for (int32_t i = 0; i < g->n_entries; i++) {
        const char *bad = name_problem(g->entries[i].name);
        if (bad)
            return fail(err, errlen, "entry %" PRId32 " %s", i, bad);
        for (int32_t k = 0; k < i; k++)
            if (strcmp(g->entries[k].name, g->entries[i].name) == 0)
                return fail(err, errlen, "entries %" PRId32 " and %" PRId32
                            " are both named '%s'", k, i, g->entries[i].name);
    }
    uint8_t *made = malloc(g->n_tensors > 0 ? (size_t)g->n_tensors : 1);
    if (!made)
        return fail(err, errlen, "out of memory");
    int rc = 0;
    for (int32_t i = 0; i < g->n_entries && !rc; i++)
        rc = check_entry(g, i, made, err, errlen);
    free(made);
    return rc;
}

/* ---- writer ------------------------------------------------------------ */

/* A growable little-endian byte buffer.  The first failure (out of memory, a
 * value the format cannot hold) sets bad and msg; later writes do nothing. */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int bad;
    char msg[192];
} wbuf;

static int w_fail(wbuf *w, const char *fmt, ...)
{
    if (w->bad)
        return -1;
    w->bad = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int w_put(wbuf *w, const void *p, size_t n)
{
    if (w->bad || n == 0)
        return w->bad ? -1 : 0;
    if (n > SIZE_MAX - w->len)
        return w_fail(w, "out of memory");
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap = cap > SIZE_MAX / 2 ? w->len + n : cap * 2;
        unsigned char *nb = realloc(w->buf, cap);
        if (!nb)
            return w_fail(w, "out of memory");
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

static void put_le(unsigned char *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void w_le(wbuf *w, uint64_t v, int n)
{
    unsigned char b[8];
    put_le(b, v, n);
    w_put(w, b, (size_t)n);
}

static void w_u8(wbuf *w, uint8_t v) { w_le(w, v, 1); }
static void w_u16(wbuf *w, uint16_t v) { w_le(w, v, 2); }
static void w_u32(wbuf *w, uint32_t v) { w_le(w, v, 4); }
static void w_i32(wbuf *w, int32_t v) { w_le(w, (uint32_t)v, 4); }
static void w_i64(wbuf *w, int64_t v) { w_le(w, (uint64_t)v, 8); }

static void w_f32(wbuf *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    w_le(w, u, 4);
}

/* NULL is written as the empty string. */
static int w_str(wbuf *w, const char *s, const char *what)
{
    size_t n = s ? strnlen(s, NG_MAX_STRING + 1) : 0;
    if (n > NG_MAX_STRING)
        return w_fail(w, "%s is longer than %d bytes", what, NG_MAX_STRING);
    w_u32(w, (uint32_t)n);
    w_put(w, s, n);
    return w->bad ? -1 : 0;
}

static int w_tensor(wbuf *w, int32_t i, const ng_tensor *t)
{
    w_str(w, t->name, "a tensor name");
    w_u8(w, t->dtype);
    w_u8(w, t->role);
    w_u8(w, t->init);
    w_u8(w, t->ndim);
    for (int k = 0; k < NG_MAX_DIMS; k++)
        w_i32(w, t->dim[k]);
    for (int k = 0; k < 4; k++)
        w_f32(w, t->init_arg[k]);
    if (t->init != NG_INIT_DATA)
        return w->bad ? -1 : 0;
    int64_t n = ng_tensor_nelem(t);
    if (!t->data || n < 0 || n > MAX_ELEMS)
        return w_fail(w, "tensor %" PRId32 " has init data but no data or an "
                      "invalid shape", i);
    for (int64_t k = 0; k < n; k++)
        w_f32(w, t->data[k]);
    return w->bad ? -1 : 0;
}

static int w_entry(wbuf *w, const ng_graph *g, const ng_entry *e)
{
    w_str(w, e->name, "an entry name");
    w_i64(w, e->arena_bytes);
    if (e->n_nodes < 0 || e->n_nodes > NG_MAX_NODES || (e->n_nodes && !e->nodes))
        return w_fail(w, "entry '%s': %" PRId32 " nodes (0 to %d)",
                      e->name ? e->name : "", e->n_nodes, NG_MAX_NODES);
    if (g->n_tensors > 0 && !e->offset)
        return w_fail(w, "entry '%s' has no offset table",
                      e->name ? e->name : "");
    w_u32(w, (uint32_t)e->n_nodes);
    for (int32_t j = 0; j < e->n_nodes && !w->bad; j++) {
        const ng_node *nd = &e->nodes[j];
        w_u16(w, nd->op);
        w_u8(w, nd->n_in);
        for (int k = 0; k < NG_MAX_IN; k++)
            w_i32(w, nd->in[k]);
        w_i32(w, nd->out);
        w_i32(w, nd->ws);
        for (int k = 0; k < NG_MAX_IA; k++)
            w_i32(w, nd->ia[k]);
        for (int k = 0; k < NG_MAX_FA; k++)
            w_f32(w, nd->fa[k]);
    }
    for (int32_t i = 0; i < g->n_tensors; i++)
        w_i64(w, e->offset[i]);
    return w->bad ? -1 : 0;
}

int ng_graph_serialize(const ng_graph *g, unsigned char **out, size_t *outlen,
                       char *err, size_t errlen)
{
    wbuf w = { 0 };
    *out = NULL;
    *outlen = 0;
    if (g->n_tensors < 0 || g->n_tensors > NG_MAX_TENSORS ||
        (g->n_tensors > 0 && !g->tensors))
        return fail(err, errlen, "%" PRId32 " tensors (0 to %d)", g->n_tensors,
                    NG_MAX_TENSORS);
    if (g->n_entries < 0 || g->n_entries > NG_MAX_ENTRIES ||
        (g->n_entries > 0 && !g->entries))
        return fail(err, errlen, "%" PRId32 " entry points (0 to %d)",
                    g->n_entries, NG_MAX_ENTRIES);

    unsigned char hdr[HEADER_BYTES] = { 0 };
    w_put(&w, hdr, sizeof hdr); /* filled in below */
    w_str(&w, g->source, "the source name");
    w_u32(&w, (uint32_t)g->n_tensors);
    for (int32_t i = 0; i < g->n_tensors && !w.bad; i++)
        w_tensor(&w, i, &g->tensors[i]);
    const ng_bindings *b = &g->bind;
    w_i32(&w, b->image);
    w_i32(&w, b->labels);
    w_i32(&w, b->classes);
    w_i32(&w, b->ignore);
    w_i32(&w, b->loss);
    w_i32(&w, b->output);
    w_i32(&w, b->class_weights);
    w_str(&w, b->output_name, "the output name");
    w_str(&w, b->optimizer, "the optimizer name");
    w_u32(&w, (uint32_t)g->n_entries);
    for (int32_t i = 0; i < g->n_entries && !w.bad; i++)
        w_entry(&w, g, &g->entries[i]);
    if (w.bad) {
        free(w.buf);
        return fail(err, errlen, "%s", w.msg);
    }

    size_t plen = w.len - HEADER_BYTES;
    memcpy(w.buf, NG_MAGIC, 4);
    put_le(w.buf + 4, NG_VERSION, 4);
    put_le(w.buf + 8, 0, 4);
    put_le(w.buf + 12, plen, 8);
    put_le(w.buf + 20, ng_crc32(w.buf + HEADER_BYTES, plen), 4);
    *out = w.buf;
    *outlen = w.len;
    return 0;
}

int ng_graph_save(const ng_graph *g, const char *path, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len;
    char msg[256];
    if (ng_graph_serialize(g, &buf, &len, msg, sizeof msg))
        return fail(err, errlen, "%s: %s", path, msg);

    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp) {
        free(buf);
        return fail(err, errlen, "%s: out of memory", path);
    }
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    int ok = 0, e = 0;
    FILE *f = fopen(tmp, "wb");
    if (f) {
        ok = fwrite(buf, 1, len, f) == len && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
        e = errno;
        if (fclose(f) != 0 && ok) {
            ok = 0;
            e = errno;
        }
        if (ok && rename(tmp, path) != 0) {
            ok = 0;
            e = errno;
        }
        if (!ok)
            unlink(tmp);
    } else {
        e = errno;
    }
    free(tmp);
    free(buf);
    if (!ok)
        return fail(err, errlen, "%s: cannot write: %s", path,
                    e ? strerror(e) : "write failed");
    return 0;
}

/* ---- reader ------------------------------------------------------------ */

/* A bounded little-endian reader.  The first failure sets bad and the message
 * ("FILE: problem"); later reads return zeros and do nothing. */
typedef struct {
    const unsigned char *p, *end;
    int bad;
    const char *name;  /* file name, the prefix of every message */
    char section[48];  /* what is being read: "truncated (tensor table)" */
    char *err;
    size_t errlen;
} rbuf;

static int r_fail(rbuf *r, const char *fmt, ...)
{
    char msg[256];
    if (r->bad)
        return -1;
    r->bad = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail(r->err, r->errlen, "%s: %s", r->name, msg);
}

static size_t r_left(const rbuf *r) { return (size_t)(r->end - r->p); }

static const unsigned char *r_take(rbuf *r, size_t n)
{
    if (r->bad)
        return NULL;
    if (r_left(r) < n) {
        r_fail(r, "truncated (%s)", r->section);
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    return q;
}

static uint64_t get_le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static uint64_t r_le(rbuf *r, int n)
{
    const unsigned char *q = r_take(r, (size_t)n);
    return q ? get_le(q, n) : 0;
}

static uint8_t r_u8(rbuf *r) { return (uint8_t)r_le(r, 1); }
static uint16_t r_u16(rbuf *r) { return (uint16_t)r_le(r, 2); }
static uint32_t r_u32(rbuf *r) { return (uint32_t)r_le(r, 4); }
static int32_t r_i32(rbuf *r) { return (int32_t)r_le(r, 4); }
static int64_t r_i64(rbuf *r) { return (int64_t)r_le(r, 8); }

static float r_f32(rbuf *r)
{
    uint32_t u = r_u32(r);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* A new string, or NULL for "" or on failure (r->bad tells which). */
static char *r_str(rbuf *r, const char *what)
{
    uint32_t n = r_u32(r);
    if (r->bad)
        return NULL;
    if (n > NG_MAX_STRING) {
        r_fail(r, "%s is %" PRIu32 " bytes long (at most %d)", what, n,
               NG_MAX_STRING);
        return NULL;
    }
    const unsigned char *q = r_take(r, n);
    if (!q || n == 0)
        return NULL;
    if (memchr(q, 0, n)) {
        r_fail(r, "%s contains a NUL byte", what);
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r_fail(r, "out of memory");
        return NULL;
    }
    memcpy(s, q, n);
    s[n] = 0;
    return s;
}

/* Room for count records of at least size bytes each in what is left. */
static int r_room(rbuf *r, uint64_t count, uint64_t size)
{
    if (r->bad)
        return 0;
    if (size && count > r_left(r) / size) {
        r_fail(r, "truncated (%s)", r->section);
        return 0;
    }
    return 1;
}

static int r_tensor(rbuf *r, int32_t i, ng_tensor *t)
{
    char msg[160];
    t->name = r_str(r, "a tensor name");
    t->dtype = r_u8(r);
    t->role = r_u8(r);
    t->init = r_u8(r);
    t->ndim = r_u8(r);
    for (int k = 0; k < NG_MAX_DIMS; k++)
        t->dim[k] = r_i32(r);
    for (int k = 0; k < 4; k++)
        t->init_arg[k] = r_f32(r);
    if (r->bad)
        return -1;
    if (tensor_shape_check(i, t, msg, sizeof msg))
        return r_fail(r, "%s", msg);
    if (t->init != NG_INIT_DATA)
        return 0;
    int64_t n = ng_tensor_nelem(t);
    if (!r_room(r, (uint64_t)n, 4))
        return -1;
    t->data = malloc((size_t)n * sizeof *t->data);
    if (!t->data)
        return r_fail(r, "out of memory");
    for (int64_t k = 0; k < n; k++)
        t->data[k] = r_f32(r);
    return r->bad ? -1 : 0;
}

static int r_entry(rbuf *r, int32_t ei, const ng_graph *g, ng_entry *e)
{
    snprintf(r->section, sizeof r->section, "entry %" PRId32, ei);
    e->name = r_str(r, "an entry name");
    e->arena_bytes = r_i64(r);
    uint32_t n = r_u32(r);
    if (r->bad)
        return -1;
    if (n > NG_MAX_NODES)
        return r_fail(r, "entry %" PRId32 " has %" PRIu32 " nodes (at most %d)",
                      ei, n, NG_MAX_NODES);
    snprintf(r->section, sizeof r->section, "entry %" PRId32 " nodes", ei);
    if (!r_room(r, n, NODE_BYTES))
        return -1;
    if (n > 0 && !(e->nodes = calloc(n, sizeof *e->nodes)))
        return r_fail(r, "out of memory");
    e->n_nodes = (int32_t)n;
    for (uint32_t j = 0; j < n && !r->bad; j++) {
        ng_node *nd = &e->nodes[j];
        nd->op = r_u16(r);
        nd->n_in = r_u8(r);
        for (int k = 0; k < NG_MAX_IN; k++)
            nd->in[k] = r_i32(r);
        nd->out = r_i32(r);
        nd->ws = r_i32(r);
        for (int k = 0; k < NG_MAX_IA; k++)
            nd->ia[k] = r_i32(r);
        for (int k = 0; k < NG_MAX_FA; k++)
            nd->fa[k] = r_f32(r);
    }
    snprintf(r->section, sizeof r->section, "entry %" PRId32 " offsets", ei);
    if (!r_room(r, (uint64_t)g->n_tensors, 8))
        return -1;
    if (g->n_tensors > 0 &&
        !(e->offset = malloc((size_t)g->n_tensors * sizeof *e->offset)))
        return r_fail(r, "out of memory");
    for (int32_t i = 0; i < g->n_tensors && !r->bad; i++)
        e->offset[i] = r_i64(r);
    return r->bad ? -1 : 0;
}

/* The payload after a verified header; leaves r->bad set on failure. */
static int r_payload(rbuf *r, ng_graph *g)
{
    snprintf(r->section, sizeof r->section, "source");
    g->source = r_str(r, "the source name");

    snprintf(r->section, sizeof r->section, "tensor table");
    uint32_t n = r_u32(r);
    if (r->bad)
        return -1;
    if (n > NG_MAX_TENSORS)
        return r_fail(r, "%" PRIu32 " tensors (at most %d)", n, NG_MAX_TENSORS);
    if (!r_room(r, n, TENSOR_MIN_BYTES))
        return -1;
    if (n > 0 && !(g->tensors = calloc(n, sizeof *g->tensors)))
        return r_fail(r, "out of memory");
    g->n_tensors = (int32_t)n;
    for (int32_t i = 0; i < g->n_tensors && !r->bad; i++)
        r_tensor(r, i, &g->tensors[i]);

    snprintf(r->section, sizeof r->section, "bindings");
    ng_bindings *b = &g->bind;
    b->image = r_i32(r);
    b->labels = r_i32(r);
    b->classes = r_i32(r);
    b->ignore = r_i32(r);
    b->loss = r_i32(r);
    b->output = r_i32(r);
    b->class_weights = r_i32(r);
    b->output_name = r_str(r, "the output name");
    b->optimizer = r_str(r, "the optimizer name");

    snprintf(r->section, sizeof r->section, "entry table");
    n = r_u32(r);
    if (r->bad)
        return -1;
    if (n > NG_MAX_ENTRIES)
        return r_fail(r, "%" PRIu32 " entry points (at most %d)", n,
                      NG_MAX_ENTRIES);
    if (n > 0 && !(g->entries = calloc(n, sizeof *g->entries)))
        return r_fail(r, "out of memory");
    g->n_entries = (int32_t)n;
    for (int32_t i = 0; i < g->n_entries && !r->bad; i++)
        r_entry(r, i, g, &g->entries[i]);
    if (!r->bad && r_left(r) > 0)
        r_fail(r, "%zu unread bytes at the end of the payload", r_left(r));
    return r->bad ? -1 : 0;
}

ng_graph *ng_graph_parse(const unsigned char *buf, size_t len, const char *name,
                         char *err, size_t errlen)
{
    if (!name)
        name = "<memory>";
    if (!buf)
        len = 0;
    if (len < HEADER_BYTES) {
        if (len > 0 && memcmp(buf, NG_MAGIC, len < 4 ? len : 4) != 0)
            fail(err, errlen, "%s: not a netg file (bad magic)", name);
        else
            fail(err, errlen, "%s: truncated (header)", name);
        return NULL;
    }
    if (memcmp(buf, NG_MAGIC, 4) != 0) {
        fail(err, errlen, "%s: not a netg file (bad magic)", name);
        return NULL;
    }
    uint32_t version = (uint32_t)get_le(buf + 4, 4);
    uint32_t flags = (uint32_t)get_le(buf + 8, 4);
    uint64_t plen = get_le(buf + 12, 8);
    uint32_t crc = (uint32_t)get_le(buf + 20, 4);
    size_t have = len - HEADER_BYTES;
    if (version != NG_VERSION) {
        fail(err, errlen, "%s: version %" PRIu32 ", this netrun reads version %d",
             name, version, NG_VERSION);
        return NULL;
    }
    if (flags != 0) {
        fail(err, errlen, "%s: unknown flags 0x%" PRIx32, name, flags);
        return NULL;
    }
    if (plen > have) {
        fail(err, errlen, "%s: truncated (payload: %zu of %" PRIu64 " bytes)",
             name, have, plen);
        return NULL;
    }
    if (plen < have) {
        fail(err, errlen, "%s: %" PRIu64 " bytes after the end of the payload",
             name, (uint64_t)(have - plen));
        return NULL;
    }
    if (ng_crc32(buf + HEADER_BYTES, have) != crc) {
        fail(err, errlen, "%s: checksum mismatch (file corrupt)", name);
        return NULL;
    }

    ng_graph *g = calloc(1, sizeof *g);
    if (!g) {
        fail(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    rbuf r = { .p = buf + HEADER_BYTES, .end = buf + len, .name = name,
               .err = err, .errlen = errlen };
    r_payload(&r, g);
    char msg[512];
    if (!r.bad && ng_graph_check(g, msg, sizeof msg)) {
        fail(err, errlen, "%s: %s", name, msg);
        r.bad = 1;
    }
    if (r.bad) {
        ng_graph_free(g);
        return NULL;
    }
    return g;
}

ng_graph *ng_graph_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                fail(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (rerr) {
        free(buf);
        fail(err, errlen, "%s: cannot read: %s", path, strerror(rerr));
        return NULL;
    }
    ng_graph *g = ng_graph_parse(buf, len, path, err, errlen);
    free(buf);
    return g;
}

void ng_graph_free(ng_graph *g)
{
    if (!g)
        return;
    for (int32_t i = 0; i < g->n_tensors && g->tensors; i++) {
        free(g->tensors[i].name);
        free(g->tensors[i].data);
    }
    free(g->tensors);
    for (int32_t i = 0; i < g->n_entries && g->entries; i++) {
        free(g->entries[i].name);
        free(g->entries[i].nodes);
        free(g->entries[i].offset);
    }
    free(g->entries);
    free(g->bind.output_name);
    free(g->bind.optimizer);
    free(g->source);
    free(g);
}
