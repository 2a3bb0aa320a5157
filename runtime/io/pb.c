/* pb.c — protobuf's wire format into an ng_buf (pb.h). */
#include "pb.h"

#include <string.h>

/* v as a varint into out (10 bytes); returns its length. */
static size_t varint_bytes(uint64_t v, unsigned char *out)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

int nr_pb_varint(ng_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    return ng_buf_put(b, tmp, varint_bytes(v, tmp));
}

int nr_pb_tag(ng_buf *b, uint32_t field, int wire)
{
    return nr_pb_varint(b, (uint64_t)field << 3 | (unsigned)wire);
}

int nr_pb_int(ng_buf *b, uint32_t field, int64_t v)
{
    nr_pb_tag(b, field, NR_PB_VARINT);
    return nr_pb_varint(b, (uint64_t)v);
}

int nr_pb_float(ng_buf *b, uint32_t field, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    unsigned char le[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                           (unsigned char)(u >> 24)};
    nr_pb_tag(b, field, NR_PB_I32);
    return ng_buf_put(b, le, sizeof le);
}

int nr_pb_bytes(ng_buf *b, uint32_t field, const void *p, size_t n)
{
    nr_pb_tag(b, field, NR_PB_LEN);
    nr_pb_varint(b, n);
    return ng_buf_put(b, p, n);
}

int nr_pb_str(ng_buf *b, uint32_t field, const char *s)
{
    return nr_pb_bytes(b, field, s, strlen(s));
}

size_t nr_pb_open(ng_buf *b, uint32_t field)
{
    nr_pb_tag(b, field, NR_PB_LEN);
    return b->len;
}

int nr_pb_close(ng_buf *b, size_t start)
{
    if (b->oom)
        return -1;
    unsigned char tmp[10];
    size_t body = b->len - start, n = varint_bytes(body, tmp);
    if (ng_buf_put(b, tmp, n) != 0) /* room for the length */
        return -1;
    memmove(b->b + start + n, b->b + start, body);
    memcpy(b->b + start, tmp, n);
    return 0;
}
