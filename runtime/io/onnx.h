/* onnx.h — an entry of a graph as an ONNX model (opset 17, IR version 8):
 * its nodes through each op's ONNX form (graph/ops_onnx.def), the
 * persistent tensors it reads (weights, constants) as initializers, the
 * image as the one input (batch dimension "N") and the bound output as the
 * one output, named as in the model file, and a JSON manifest as the
 * metadata_props entry "netrun".  The protobuf is written by pb.c. */
#ifndef NR_ONNX_H
#define NR_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "netg.h"

#define NR_ONNX_OPSET 17
#define NR_ONNX_IR_VERSION 8

/* The values (f32, the tensor's element count) of persistent tensor t. */
typedef const float *(*nr_onnx_value)(void *ctx, int32_t t);

typedef struct {
    const char *entry;            /* "infer" */
    const char *producer_version; /* netrun's version */
    const char *manifest;         /* JSON text for metadata_props "netrun", or NULL */
    nr_onnx_value value;
    void *ctx;
} nr_onnx_opts;

/* The model in a new buffer *out (*len bytes, freed by the caller).  0, or
 * -1 with a message in err naming the op, node and tensor that has no ONNX
 * form. */
int nr_onnx_build(const ng_graph *g, const nr_onnx_opts *o, unsigned char **out, size_t *len, char *err,
                  size_t errlen);
/* nr_onnx_build written to path atomically and durably (util.h's
 * ng_atomic_write): on failure path is as it was. */
int nr_onnx_write(const ng_graph *g, const nr_onnx_opts *o, const char *path, char *err, size_t errlen);

#endif
