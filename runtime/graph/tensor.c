/* tensor.c — the compiled graph's small vocabulary: shapes and their sizes,
 * the names of roles, inits and class-weight schemes, entries by name. */
#define _POSIX_C_SOURCE 200809L
#include "netg.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const role_names[] = {
    "input", "param", "opt_state", "const", "act", "grad", "workspace",
};
_Static_assert(sizeof role_names / sizeof role_names[0] == NG_ROLE_COUNT,
               "role_names[] must match NG_ROLE_*");

static const char *const init_names[] = {
    "none", "zeros", "ones", "he_normal", "glorot_uniform", "data",
    "class_weights", "class_priors",
};
_Static_assert(sizeof init_names / sizeof init_names[0] == NG_INIT_COUNT,
               "init_names[] must match NG_INIT_*");

/* ---- shapes ------------------------------------------------------------ */

/* Product of dims, or -1 when a dim is < 0 or the product overflows. */
int64_t ng_shape_nelem(int ndim, const int32_t *dim)
{
    int64_t n = 1;
    if (ndim < 0 || ndim > NG_MAX_DIMS)
        return -1;
    for (int i = 0; i < ndim; i++)
        if (dim[i] < 0 || !ng_mul_checked(&n, dim[i]))
            return -1;
    return n;
}

/* 1 when ndim <= 4, every dim >= 1 and the tensor fits in NG_MAX_TENSOR_BYTES. */
int ng_shape_ok(int ndim, const int32_t *dim)
{
    if (ndim < 0 || ndim > NG_MAX_DIMS)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (dim[i] < 1)
            return 0;
    int64_t n = ng_shape_nelem(ndim, dim);
    return n >= 0 && n <= NG_MAX_ELEMS;
}

/* "2x3x8x8", "scalar" for ndim 0.  buf holds at least 64 bytes. */
const char *ng_shape_str(char *buf, int ndim, const int32_t *dim)
{
    size_t k = 0;
    if (ndim <= 0 || ndim > NG_MAX_DIMS)
        return ndim == 0 ? "scalar" : "invalid";
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(buf + k, 64 - k, i ? "x%" PRId32 : "%" PRId32,
                              dim[i]);
    return buf;
}

int ng_same_shape(const ng_tensor *a, const ng_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim && i < NG_MAX_DIMS; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

int64_t ng_tensor_nelem(const ng_tensor *t)
{
    return ng_shape_nelem(t->ndim, t->dim);
}

int64_t ng_tensor_bytes(const ng_tensor *t)
{
    int64_t n = ng_tensor_nelem(t);
    return n < 0 || n > INT64_MAX / 4 ? -1 : n * 4;
}

int ng_role_is_persistent(int role)
{
    return role == NG_ROLE_INPUT || role == NG_ROLE_PARAM ||
           role == NG_ROLE_OPT_STATE || role == NG_ROLE_CONST;
}

const char *ng_role_name(int role)
{
    return role >= 0 && role < NG_ROLE_COUNT ? role_names[role] : "?";
}

const char *ng_init_name(int init)
{
    return init >= 0 && init < NG_INIT_COUNT ? init_names[init] : "?";
}

const char *ng_cw_name(int scheme)
{
    static const char *const names[] = { "balanced", "median_freq", "inverse_sqrt", "effective_number" };
    _Static_assert(sizeof names / sizeof names[0] == NG_CW_COUNT,
                   "ng_cw_name: one name per NG_CW_*");
    return scheme >= 0 && scheme < NG_CW_COUNT ? names[scheme] : "?";
}

const ng_entry *ng_graph_entry(const ng_graph *g, const char *name)
{
    if (!g || !name)
        return NULL;
    for (int32_t i = 0; i < g->n_entries; i++)
        if (g->entries[i].name && strcmp(g->entries[i].name, name) == 0)
            return &g->entries[i];
    return NULL;
}
