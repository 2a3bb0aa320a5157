/* fuzz_netg.c — libFuzzer target for the .netg reader (ng_graph_parse and
 * ng_graph_check): every input is refused with a message naming the file, or
 * accepted, and then checks again and survives a round trip.  Seeds
 * (tests/fuzz/netg/, named without .netg, which git ignores): `test_netg DIR`
 * writes DIR/valid.netg and DIR/payload.bin; the others are compiled small
 * models.
 * An input whose first byte is 0x01 is a payload: the harness puts a header
 * with the right length and checksum in front of the rest, so mutations reach
 * the payload reader and ng_graph_check instead of dying at the checksum.  Any
 * other input is a whole file, header included. */
#include "netg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    ng_graph *g;
    if (size > 0 && data[0] == 1) {
        size_t plen = size - 1;
        unsigned char *f = malloc(24 + plen);
        if (!f)
            return 0;
        uint32_t crc = ng_crc32(data + 1, plen);
        memcpy(f, NG_MAGIC, 4);
        for (int i = 0; i < 4; i++) {
            f[4 + i] = (unsigned char)(NG_VERSION >> (8 * i));
            f[8 + i] = 0;
            f[20 + i] = (unsigned char)(crc >> (8 * i));
        }
        for (int i = 0; i < 8; i++)
            f[12 + i] = (unsigned char)((uint64_t)plen >> (8 * i));
        if (plen > 0)
            memcpy(f + 24, data + 1, plen);
        g = ng_graph_parse(f, 24 + plen, "fuzz.netg", err, sizeof err);
        free(f);
    } else {
        g = ng_graph_parse(data, size, "fuzz.netg", err, sizeof err);
    }
    if (g) {
        /* a graph that passed must pass again and survive a round trip */
        unsigned char *buf;
        size_t len;
        if (ng_graph_check(g, err, sizeof err) != 0 ||
            ng_graph_serialize(g, &buf, &len, err, sizeof err) != 0)
            abort();
        ng_graph *h = ng_graph_parse(buf, len, "again.netg", err, sizeof err);
        if (!h)
            abort();
        ng_graph_free(h);
        free(buf);
    } else if (strncmp(err, "fuzz.netg: ", 11) != 0) {
        abort(); /* every failure names the file */
    }
    ng_graph_free(g);
    return 0;
}
