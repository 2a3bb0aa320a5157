/* nodes.h — graph nodes built by hand for the tests of libnetg
 * (test_netg.c, test_shapes.c): any op with up to four inputs, and a
 * convolution or one of its backward ops with stride 1 and a pad. */
#ifndef NODES_H
#define NODES_H

#include <stdint.h>
#include <string.h>

#include "netg.h"

static __attribute__((unused)) ng_node mknode(int op, int n_in, int32_t a, int32_t b, int32_t c,
                      int32_t d, int32_t out, int32_t ws)
{
    ng_node n;
    memset(&n, 0, sizeof n);
    n.op = (uint16_t)op;
    n.n_in = (uint8_t)n_in;
    for (int i = 0; i < NG_MAX_IN; i++)
        n.in[i] = -1;
    int32_t in[4] = { a, b, c, d };
    for (int i = 0; i < n_in && i < 4; i++)
        n.in[i] = in[i];
    n.out = out;
    n.ws = ws;
    return n;
}

static __attribute__((unused)) ng_node conv(int op, int32_t x, int32_t w, int32_t b, int32_t out,
                    int32_t ws, int pad, int32_t ia5, int32_t ia6)
{
    int n_in = op == NG_OP_CONV2D ? 3 : 2;
    ng_node n = mknode(op, n_in, x, w, b, -1, out, ws);
    n.ia[0] = 1;
    n.ia[1] = n.ia[2] = n.ia[3] = n.ia[4] = pad;
    n.ia[5] = ia5;
    n.ia[6] = ia6;
    return n;
}

#endif
