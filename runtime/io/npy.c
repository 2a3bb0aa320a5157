/* npy.c — float32 arrays as .npy files (npy.h).  The format: the magic
 * "\x93NUMPY", version 1.0, the header's length (uint16, little-endian) and
 * the header, a Python dict literal padded with spaces and ended by '\n' so
 * that the data starts at a multiple of 64 bytes, then the data. */
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int nr_npy_encode_f32(int ndim, const int64_t *dim, const float *data, unsigned char **out, size_t *len)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int d = 0; d < ndim && d < 8; d++) {
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, ndim == 1 ? "%lld," : d ? " %lld" : "%lld",
                      (long long)dim[d]);
        if (d + 1 < ndim)
            n += snprintf(hdr + n, sizeof hdr - (size_t)n, ",");
        count *= (size_t)dim[d];
    }
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64; /* +1: the '\n' */
    memset(hdr + n, ' ', pad);
    n += (int)pad;
    hdr[n++] = '\n';
    ng_buf b = {0};
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
    ng_buf_put(&b, pre, sizeof pre);
    ng_buf_put(&b, hdr, (size_t)n);
    if (ng_buf_put(&b, data, sizeof *data * count) != 0 || b.oom) { /* little-endian, as this machine */
        free(b.b);
        return -1;
    }
    *out = b.b, *len = b.len;
    return 0;
}

int nr_npy_write_f32(const char *path, int ndim, const int64_t *dim, const float *data, char *err,
                     size_t errlen)
{
    unsigned char *buf;
    size_t len;
    if (nr_npy_encode_f32(ndim, dim, data, &buf, &len) != 0)
        return ng_fail(err, errlen, "%s: out of memory", path);
    int rc = ng_atomic_write(path, buf, len, 0, err, errlen);
    free(buf);
    return rc;
}
