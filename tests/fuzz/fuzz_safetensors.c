/* fuzz_safetensors.c — libFuzzer target for the checkpoint reader
 * (nr_st_parse, the checks of nr_st_load on a file in memory): every input is
 * refused with a message naming the file, or accepted with tensors whose
 * bytes are all readable (ASan checks them) and which are found by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    nr_st_file *f = nr_st_parse(data, size, "fuzz.safetensors", err, sizeof err);
    if (!f) {
        if (strncmp(err, "fuzz.safetensors: ", 18) != 0)
            abort(); /* every failure names the file */
        return 0;
    }
    int n = nr_st_count(f);
    volatile unsigned char sink = 0;
    for (int i = 0; i < n; i++) {
        const nr_st_tensor *t = nr_st_get(f, i);
        if (nr_st_find(f, t->name) != t || nr_st_dtype_size(t->dtype) == 0 || t->ndim < 0 ||
            t->ndim > NR_ST_MAX_DIMS)
            abort();
        size_t bytes = (size_t)nr_st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++)
            bytes *= (size_t)t->dim[d];
        if (bytes > 0) /* the data is there to read: ASan checks each byte's owner */
            sink ^= ((const unsigned char *)t->data)[0] ^ ((const unsigned char *)t->data)[bytes - 1];
    }
    (void)sink;
    (void)nr_st_meta(f, "format");
    nr_st_free(f);
    return 0;
}
