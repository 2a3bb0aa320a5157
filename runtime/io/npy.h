/* npy.h — NumPy's .npy format (version 1.0), float32 arrays in C order, as
 * numpy.load reads them: netrun predict --probabilities. */
#ifndef NR_NPY_H
#define NR_NPY_H

#include <stddef.h>
#include <stdint.h>

/* The .npy image of data (ndim 1..8 dims, little-endian '<f4') in a new
 * buffer *out of *len bytes, freed by the caller.  0, or -1 out of memory. */
int nr_npy_encode_f32(int ndim, const int64_t *dim, const float *data, unsigned char **out, size_t *len);
/* Write it to path atomically, not durably (as predicted masks).  0, or -1
 * with a message naming the file in err. */
int nr_npy_write_f32(const char *path, int ndim, const int64_t *dim, const float *data, char *err,
                     size_t errlen);

#endif
