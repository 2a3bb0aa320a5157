/* netg_file.c — the .netg file: writer and reader.
 *
 * File format, version 3 (NG_VERSION; 2 added the loss primitives to ops.def,
 * 3 the step and total_steps bindings and the options table).
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
 *       i32 image, labels, classes, ignore, loss, output, class_weights,
 *           step, total_steps;
 *       str output_name, optimizer
 *     u32    n_options                    (at most NG_MAX_OPTIONS)
 *     n_options x option: str key, value
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HEADER_BYTES 24
#define TENSOR_MIN_BYTES (4 + 4 + 4 * 4 + 4 * 4)  /* empty name, no data */
#define NODE_BYTES (2 + 1 + 4 * NG_MAX_IN + 4 + 4 + 4 * NG_MAX_IA + 4 * NG_MAX_FA)

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

/* ---- writer ------------------------------------------------------------ */

/* A growable little-endian byte buffer.  The first failure (out of memory, a
 * value the format cannot hold) sets bad and msg; later writes do nothing. */
typedef struct {
    ng_buf out;
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
    if (w->bad)
        return -1;
    return ng_buf_put(&w->out, p, n) != 0 ? w_fail(w, "out of memory") : 0;
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
    if (!t->data || n < 0 || n > NG_MAX_ELEMS)
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
        return ng_fail(err, errlen, "%" PRId32 " tensors (0 to %d)", g->n_tensors,
                    NG_MAX_TENSORS);
    if (g->n_entries < 0 || g->n_entries > NG_MAX_ENTRIES ||
        (g->n_entries > 0 && !g->entries))
        return ng_fail(err, errlen, "%" PRId32 " entry points (0 to %d)",
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
    w_i32(&w, b->step);
    w_i32(&w, b->total_steps);
    w_str(&w, b->output_name, "the output name");
    w_str(&w, b->optimizer, "the optimizer name");
    w_u32(&w, (uint32_t)g->n_options);
    for (int32_t i = 0; i < g->n_options && !w.bad; i++) {
        w_str(&w, g->options[i].key, "an option name");
        w_str(&w, g->options[i].value, "an option value");
    }
    w_u32(&w, (uint32_t)g->n_entries);
    for (int32_t i = 0; i < g->n_entries && !w.bad; i++)
        w_entry(&w, g, &g->entries[i]);
    if (w.bad) {
        free(w.out.b);
        return ng_fail(err, errlen, "%s", w.msg);
    }

    size_t plen = w.out.len - HEADER_BYTES;
    memcpy(w.out.b, NG_MAGIC, 4);
    put_le(w.out.b + 4, NG_VERSION, 4);
    put_le(w.out.b + 8, 0, 4);
    put_le(w.out.b + 12, plen, 8);
    put_le(w.out.b + 20, ng_crc32(w.out.b + HEADER_BYTES, plen), 4);
    *out = w.out.b;
    *outlen = w.out.len;
    return 0;
}

int ng_graph_save(const ng_graph *g, const char *path, char *err, size_t errlen)
{
    unsigned char *buf;
    size_t len;
    char msg[256];
    if (ng_graph_serialize(g, &buf, &len, msg, sizeof msg))
        return ng_fail(err, errlen, "%s: %s", path, msg);
    int rc = ng_atomic_write(path, buf, len, 1, err, errlen);
    free(buf);
    return rc;
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
    return ng_fail(r->err, r->errlen, "%s: %s", r->name, msg);
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
    if (ng_tensor_shape_check(i, t, msg, sizeof msg))
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
    b->step = r_i32(r);
    b->total_steps = r_i32(r);
    b->output_name = r_str(r, "the output name");
    b->optimizer = r_str(r, "the optimizer name");

    snprintf(r->section, sizeof r->section, "options");
    n = r_u32(r);
    if (r->bad)
        return -1;
    if (n > NG_MAX_OPTIONS)
        return r_fail(r, "%" PRIu32 " options (at most %d)", n, NG_MAX_OPTIONS);
    if (!r_room(r, n, 8))
        return -1;
    if (n > 0 && !(g->options = calloc(n, sizeof *g->options)))
        return r_fail(r, "out of memory");
    g->n_options = (int32_t)n;
    for (int32_t i = 0; i < g->n_options && !r->bad; i++) {
        g->options[i].key = r_str(r, "an option name");
        g->options[i].value = r_str(r, "an option value");
    }

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
            ng_fail(err, errlen, "%s: not a netg file (bad magic)", name);
        else
            ng_fail(err, errlen, "%s: truncated (header)", name);
        return NULL;
    }
    if (memcmp(buf, NG_MAGIC, 4) != 0) {
        ng_fail(err, errlen, "%s: not a netg file (bad magic)", name);
        return NULL;
    }
    uint32_t version = (uint32_t)get_le(buf + 4, 4);
    uint32_t flags = (uint32_t)get_le(buf + 8, 4);
    uint64_t plen = get_le(buf + 12, 8);
    uint32_t crc = (uint32_t)get_le(buf + 20, 4);
    size_t have = len - HEADER_BYTES;
    if (version != NG_VERSION) {
        ng_fail(err, errlen, "%s: version %" PRIu32 ", this netrun reads version %d",
             name, version, NG_VERSION);
        return NULL;
    }
    if (flags != 0) {
        ng_fail(err, errlen, "%s: unknown flags 0x%" PRIx32, name, flags);
        return NULL;
    }
    if (plen > have) {
        ng_fail(err, errlen, "%s: truncated (payload: %zu of %" PRIu64 " bytes)",
             name, have, plen);
        return NULL;
    }
    if (plen < have) {
        ng_fail(err, errlen, "%s: %" PRIu64 " bytes after the end of the payload",
             name, (uint64_t)(have - plen));
        return NULL;
    }
    if (ng_crc32(buf + HEADER_BYTES, have) != crc) {
        ng_fail(err, errlen, "%s: checksum mismatch (file corrupt)", name);
        return NULL;
    }

    ng_graph *g = calloc(1, sizeof *g);
    if (!g) {
        ng_fail(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    rbuf r = { .p = buf + HEADER_BYTES, .end = buf + len, .name = name,
               .err = err, .errlen = errlen };
    r_payload(&r, g);
    char msg[512];
    if (!r.bad && ng_graph_check(g, msg, sizeof msg)) {
        ng_fail(err, errlen, "%s: %s", name, msg);
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
    FILE *f = ng_open_input(path, NG_MAX_TEXT);
    if (!f) {
        ng_fail(err, errlen, "%s: cannot open: %s", path, ng_strerror(errno));
        return NULL;
    }
    size_t len;
    unsigned char *buf = ng_read_all(f, &len);
    int rerr = errno;
    fclose(f);
    if (!buf) {
        if (rerr == ENOMEM)
            ng_fail(err, errlen, "%s: out of memory", path);
        else
            ng_fail(err, errlen, "%s: cannot read: %s", path, strerror(rerr));
        return NULL;
    }
    ng_graph *g = ng_graph_parse(buf, len, path, err, errlen);
    free(buf);
    return g;
}
