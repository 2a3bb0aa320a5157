/* arena.c — the compile arena (arena.h): a list of zeroed blocks of at least
 * 64 KiB carved front to back; an allocation larger than a block's payload
 * gets a block of its own.  Also the heap helpers nc_grow and nc_xcalloc, and
 * nc_die. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "util.h"

#define NC_ARENA_BLOCK (64 * 1024)   /* payload bytes of an ordinary block */
#define NC_ARENA_ALIGN 16            /* alignment of every allocation */

struct nc_arena_block {
    nc_arena_block *next;
    size_t size;                     /* payload bytes */
    size_t used;                     /* payload bytes handed out */
    _Alignas(NC_ARENA_ALIGN) unsigned char data[];
};

_Noreturn void nc_die_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "netc: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static nc_arena_block *block_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(nc_arena_block))
        nc_die("arena: allocation of %zu bytes overflows", size);
    nc_arena_block *b = calloc(1, sizeof *b + size);
    if (!b)
        nc_die("out of memory (arena block of %zu bytes)", size);
    b->size = size;
    return b;
}

/* Returns n zeroed bytes aligned to NC_ARENA_ALIGN; n == 0 gives a valid,
 * distinct pointer. */
void *nc_arena_alloc(nc_arena *a, size_t n)
{
    if (n > SIZE_MAX - NC_ARENA_ALIGN)
        nc_die("arena: allocation of %zu bytes overflows", n);
    n = n ? (n + NC_ARENA_ALIGN - 1) & ~(size_t)(NC_ARENA_ALIGN - 1) : NC_ARENA_ALIGN;
    nc_arena_block *b = a->head;
    if (b && b->size - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p;
    }
    if (n > NC_ARENA_BLOCK / 4) {
        /* Oversize: its own block, linked behind the head so the head's
         * free space keeps serving small allocations. */
        nc_arena_block *big = block_new(n);
        big->used = n;
        if (b) {
            big->next = b->next;
            b->next = big;
        } else {
            a->head = big;
        }
        return big->data;
    }
    b = block_new(NC_ARENA_BLOCK);
    b->next = a->head;
    a->head = b;
    b->used = n;
    return b->data;
}

void *nc_arena_array(nc_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        nc_die("arena: array of %zu x %zu bytes overflows", n, size);
    return nc_arena_alloc(a, n * size);
}

char *nc_arena_strndup(nc_arena *a, const char *s, size_t n)
{
    const char *z = memchr(s, '\0', n);
    size_t len = z ? (size_t)(z - s) : n;
    char *p = nc_arena_alloc(a, len + 1);
    memcpy(p, s, len);
    return p;
}

char *nc_arena_strdup(nc_arena *a, const char *s)
{
    return nc_arena_strndup(a, s, strlen(s));
}

char *nc_arena_printf(nc_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        nc_die("nc_arena_printf: bad format \"%s\"", fmt);
    char *p = nc_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void nc_arena_free(nc_arena *a)
{
    nc_arena_block *b = a->head;
    while (b) {
        nc_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

void *nc_grow(void *p, size_t *cap, size_t need, size_t size)
{
    void *q = ng_vec_grow(p, cap, need, size);
    if (!q)
        nc_die("out of memory (growing an array to %zu items of %zu bytes)", need, size);
    return q;
}

void *nc_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        nc_die("out of memory (%zu items of %zu bytes)", n, size);
    return p;
}
