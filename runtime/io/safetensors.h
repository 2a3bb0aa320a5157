/* safetensors.h — checkpoints in the safetensors format, so weights move to
 * and from Python tools unchanged: an 8-byte little-endian header length N,
 * N bytes of JSON ({"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},
 * ..., "__metadata__":{"k":"v"}}), then the raw little-endian tensor data. */
#ifndef NR_SAFETENSORS_H
#define NR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum { NR_ST_F32 = 0, NR_ST_I32 = 1, NR_ST_I64 = 2 };

#define NR_ST_MAX_DIMS 4

typedef struct {
    const char *name;
    int dtype;                  /* NR_ST_F32 | NR_ST_I32 | NR_ST_I64 */
    int ndim;                   /* 0..NR_ST_MAX_DIMS; 0: a scalar */
    int64_t dim[NR_ST_MAX_DIMS];
    const void *data;           /* prod(dim) elements of dtype */
} nr_st_tensor;

typedef struct nr_st_file nr_st_file;

/* Write n tensors and n_meta metadata pairs (meta_kv[2k] = key,
 * meta_kv[2k+1] = value) to path.  Tensors are stored in the given order,
 * back to back; names must be distinct and not "__metadata__".  Atomic: the
 * data go to path.tmp.<pid>, are flushed and fsynced, then renamed over path;
 * on any failure the tmp file is removed and an old file at path is left as
 * it was.  0, or -1 with a message in err. */
int nr_st_save(const char *path, int n, const nr_st_tensor *ts, int n_meta,
               const char *const *meta_kv, char *err, size_t errlen);

/* Read and validate path: header length within the file, strict JSON, known
 * dtypes (F32, I32, I64; others are an error naming the tensor), at most 4
 * dims, offsets within the data and not overlapping, sizes matching shape and
 * dtype.  Each tensor's data is 8-byte aligned in memory.  Returns a new file
 * to free with nr_st_free, or NULL with a message in err naming the file. */
nr_st_file *nr_st_load(const char *path, char *err, size_t errlen);
/* The same checks on a file held in memory (buf, len bytes; copied, so buf
 * may go once this returns); messages name it `name`. */
nr_st_file *nr_st_parse(const void *buf, size_t len, const char *name, char *err, size_t errlen);

/* Tensors in header order; find by name (NULL if absent); metadata value of
 * key (NULL if absent).  Everything returned belongs to the file. */
int nr_st_count(const nr_st_file *f);
const nr_st_tensor *nr_st_get(const nr_st_file *f, int i);
const nr_st_tensor *nr_st_find(const nr_st_file *f, const char *name);
const char *nr_st_meta(const nr_st_file *f, const char *key);
void nr_st_free(nr_st_file *f);

/* "F32", "I32", "I64" (or "?"), and the element size in bytes (or 0). */
const char *nr_st_dtype_name(int dtype);
int nr_st_dtype_size(int dtype);

#endif
