/* pb.h — protobuf's wire format, written into a byte buffer (util.h's
 * ng_buf): varints, field tags, fixed 32-bit values and length-delimited
 * fields, nested messages included.  Enough to write ONNX models (onnx.c)
 * without a protobuf library.  Every function returns 0, or -1 once the
 * buffer is out of memory (ng_buf.oom; later calls do nothing). */
#ifndef NR_PB_H
#define NR_PB_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum { NR_PB_VARINT = 0, NR_PB_I64 = 1, NR_PB_LEN = 2, NR_PB_I32 = 5 };

/* v as a base-128 varint (1..10 bytes, low group first). */
int nr_pb_varint(ng_buf *b, uint64_t v);
/* The key of a field: (field << 3) | wire type. */
int nr_pb_tag(ng_buf *b, uint32_t field, int wire);
/* An integer field (int32, int64, enum, bool: wire type 0; a negative value
 * takes 10 bytes, two's complement, as protobuf's int64). */
int nr_pb_int(ng_buf *b, uint32_t field, int64_t v);
/* A float field (wire type 5, little-endian IEEE binary32). */
int nr_pb_float(ng_buf *b, uint32_t field, float v);
/* A bytes or string field: n bytes at p (wire type 2). */
int nr_pb_bytes(ng_buf *b, uint32_t field, const void *p, size_t n);
int nr_pb_str(ng_buf *b, uint32_t field, const char *s);
/* A nested message: nr_pb_open writes the tag and returns where the
 * message's contents start; write them; nr_pb_close(b, start) puts their
 * length in front of them (moving them by the length's size). */
size_t nr_pb_open(ng_buf *b, uint32_t field);
int nr_pb_close(ng_buf *b, size_t start);

#endif
