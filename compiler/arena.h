/* arena.h — the compile arena: the AST, names and strings of a compilation
 * and the entries' arrays are carved from one nc_arena and released at once
 * by nc_arena_free.  The growable arrays of the graph IR live on the heap
 * instead (nc_grow) and are freed by nc_graph_free.  Allocation failure is
 * fatal (netc is a batch tool). */
#ifndef NC_ARENA_H
#define NC_ARENA_H

#include <stddef.h>

typedef struct nc_arena_block nc_arena_block;
typedef struct {
    nc_arena_block *head;
} nc_arena;

void *nc_arena_alloc(nc_arena *a, size_t n);          /* zeroed */
void *nc_arena_array(nc_arena *a, size_t n, size_t size); /* zeroed, overflow-checked */
char *nc_arena_strdup(nc_arena *a, const char *s);
char *nc_arena_strndup(nc_arena *a, const char *s, size_t n);
char *nc_arena_printf(nc_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void nc_arena_free(nc_arena *a);

/* Grow a heap array (not arena) to hold at least need items: util.h's
 * ng_vec_grow (*cap doubles), but overflow and out-of-memory abort.
 * Returns the new pointer. */
void *nc_grow(void *p, size_t *cap, size_t need, size_t size);

/* calloc that aborts on failure (and never returns NULL for 0 items). */
void *nc_xcalloc(size_t n, size_t size);

/* Internal compiler bug: print file:line and the message, then abort. */
#define nc_die(...) nc_die_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void nc_die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
