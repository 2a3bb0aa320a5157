/* util.h — helpers every runtime module shares (in libnetg, so netc has them
 * too): the error message kept in a caller's buffer, the clock, splitmix64,
 * growable arrays, arrays carved from one allocation, byte buffers,
 * whole-file reads, file tests and names, and the atomic replacement of a
 * file. */
#ifndef NG_UTIL_H
#define NG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Format a message into err (err may be NULL, errlen 0) and return -1, so
 * that a failing function can end with `return ng_fail(err, errlen, ...)`. */
int ng_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Seconds on the monotonic clock (for intervals). */
double ng_now(void);

/* splitmix64 (Steele, Lea and Flood 2014), the runtime's random numbers:
 * each draw is a function of a seed and a position, so runs are
 * reproducible and resumable; the values must never change (initial
 * weights, shuffles, crops, dropout masks and the class index depend on
 * them).  ng_mix64 is its output function, a bijective 64-bit mixer;
 * ng_splitmix64(x) is the value at state x, ng_mix64(x + NG_GOLDEN64), a
 * hash of x; ng_splitmix64_next advances the state *s by NG_GOLDEN64 and
 * returns the value there (the stream seeded by *s). */
#define NG_GOLDEN64 0x9e3779b97f4a7c15ull
static inline uint64_t ng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t ng_splitmix64(uint64_t x) { return ng_mix64(x + NG_GOLDEN64); }
static inline uint64_t ng_splitmix64_next(uint64_t *s) { return ng_mix64(*s += NG_GOLDEN64); }
/* FNV-1a 64 of n bytes at p, continuing from h (NG_FNV_BASIS to start): the
 * checksums and digests of files, datasets and names (not cryptographic). */
#define NG_FNV_BASIS 1469598103934665603ull
static inline uint64_t ng_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
/* From a random 64-bit value r: a uniform integer in 0..m-1 (Lemire's
 * multiply-shift), a uniform double in [0, 1) (r's top 53 bits). */
static inline uint64_t ng_below(uint64_t r, uint64_t m) { return (uint64_t)(((unsigned __int128)r * m) >> 64); }
static inline double ng_unit(uint64_t r) { return (double)(r >> 11) * 0x1.0p-53; }

/* *n *= f for *n, f >= 0: 1, or 0 (and *n as it was) when the product would
 * pass INT64_MAX; for sizes multiplied out of untrusted dims. */
static inline int ng_mul_checked(int64_t *n, int64_t f)
{
    if (f > 0 && *n > INT64_MAX / f)
        return 0;
    *n *= f;
    return 1;
}

/* mkdir -p: path and the folders above it.  0, or -1 with "PATH: cannot
 * create folder: why" (or "not a folder") in err. */
int ng_mkdir_p(const char *path, char *err, size_t errlen);

/* The growable arrays of the tree: room for need (> 0) elements of elem
 * (> 0) bytes in the heap array p of *cap elements.  When need > *cap, the
 * capacity doubles (from 8) until it holds need, with the size arithmetic
 * checked, and p is reallocated.  Returns the array (p itself when it had
 * room), or NULL when out of memory or the size overflows; then p and *cap
 * are as they were, so the caller still owns p:
 *     T *g = ng_vec_grow(a->v, &a->cap, a->n + 1, sizeof *g);
 *     if (!g) return ... out of memory;
 *     a->v = g; */
void *ng_vec_grow(void *p, size_t *cap, size_t need, size_t elem);

/* One allocation carved into named arrays (llm.c's style), for a struct
 * whose arrays are all sized when it is made: one allocation, one free, one
 * failure path.  One function lays the arrays out and runs twice: first with
 * base NULL, to measure (ng_carve returns NULL and only advances *at), then
 * with the block of that many bytes from ng_carve_alloc (ng_carve returns
 * each array, zeroed):
 *     static size_t layout(T *t, char *base, size_t n)
 *     {
 *         size_t at = 0;
 *         t->a = ng_carve(base, &at, n, sizeof *t->a);
 *         t->b = ng_carve(base, &at, n, sizeof *t->b);
 *         return at;
 *     }
 *     if (!(t->mem = ng_carve_alloc(layout(t, NULL, n)))) return ... out of memory;
 *     layout(t, t->mem, n);
 * Each array starts aligned for any type.  A size that overflows makes *at
 * SIZE_MAX, which ng_carve_alloc refuses (NULL, as when out of memory). */
void *ng_carve(char *base, size_t *at, size_t n, size_t elem);
void *ng_carve_alloc(size_t bytes);

/* A growable byte buffer (files built in memory: PNGs, caches, .netg): zero
 * it to start, free(b) when done.  ng_buf_put appends n bytes (ng_vec_grow);
 * the first failure sets oom, and later puts do nothing.  0, or -1 once
 * oom. */
typedef struct {
    unsigned char *b;
    size_t len, cap;
    int oom;
} ng_buf;
int ng_buf_put(ng_buf *w, const void *p, size_t n);

/* The rest of the stream f, read to its end, in a malloc'ed buffer with a
 * NUL after its *len bytes (so text can be parsed in place); f stays open.
 * NULL with errno set on a read error (ENOMEM: out of memory). */
void *ng_read_all(FILE *f, size_t *len);

/* Files this program reads: path opened for reading ("rb") only when it is
 * a regular file of at most max bytes, so that a FIFO, /dev/zero or a
 * folder given as a model, graph, checkpoint, list file or image is refused
 * at once instead of hanging or growing without bound (the open does not
 * block on a FIFO).  NULL with errno set otherwise: the open's or stat's,
 * EISDIR for a folder, NG_EFIFO, NG_EDEVICE or NG_ESOCKET for the other
 * kinds, EFBIG past max.  ng_strerror words every errno, ours too. */
#define NG_EFIFO 4097
#define NG_EDEVICE 4098
#define NG_ESOCKET 4099
FILE *ng_open_input(const char *path, int64_t max);
const char *ng_strerror(int e);
/* The caps on what a reader takes, in bytes, by kind. */
#define NG_MAX_TEXT ((int64_t)1 << 30)       /* sources, list files, run files, caches, .netg */
#define NG_MAX_IMAGE ((int64_t)1 << 30)      /* one PNG or JPEG file (its pixels are capped apart) */
#define NG_MAX_CHECKPOINT ((int64_t)1 << 40) /* one safetensors file */
/* The whole file at path (ng_open_input with NG_MAX_TEXT, ng_read_all);
 * NULL with errno set (ng_strerror's words). */
void *ng_read_file(const char *path, size_t *len);

/* The inputs of this command, which its writes must not replace (netc
 * M.net -o M.net): ng_input_keep records the file at path (its device and
 * inode, so another name or a hard link of it is caught too); a path that
 * cannot be stat'ed is not recorded.  ng_input_kept: 1 when the file at
 * path is one of them.  Call ng_input_keep from the main thread before any
 * writer runs. */
void ng_input_keep(const char *path);
int ng_input_kept(const char *path);

/* path is a folder, a regular file (links followed); 0 when it is not, or
 * cannot be stat'ed, or path is NULL. */
int ng_is_dir(const char *path);
int ng_is_file(const char *path);
/* 0 when path is a regular file (links followed); else why it is not, an
 * errno for ng_strerror (stat's, EISDIR, NG_EFIFO, ...). */
int ng_file_errno(const char *path);
/* The length of name without its extension, its stem: up to the last '.',
 * unless that is the first character ("a.b.png": 3; ".hidden": 7). */
size_t ng_stem_len(const char *name);
/* Names in the order of their stems (bytes; a stem before those it starts):
 * <0, 0 (one stem: "a.jpg" and "a.png") or >0. */
int ng_stem_cmp(const char *x, const char *y);

/* Atomic replacement of a file: the data goes to a new temporary
 * PATH.tmp.PID.RANDOM in PATH's folder (created with O_EXCL|O_NOFOLLOW, so
 * a name planted there is never followed; mode 0666 less the umask), which
 * is renamed over PATH only when everything was written, so a reader (or a
 * run killed midway) sees the old file or the new one, never half of one.
 * PATH itself must be a regular file or absent: a symbolic link, FIFO,
 * device or folder there is refused, and so is an input of this command
 * (ng_input_keep).  Durability is the caller's choice: with durable set,
 * the file is fsynced before the rename and its folder after it
 * (checkpoints, compiled graphs); without, a power cut may lose the new
 * file but never corrupts the old one (predicted masks, which are cheap to
 * make again). */
typedef struct {
    FILE *fp;            /* write the contents here */
    char *path, *tmp;    /* owned until commit or abort */
} ng_atomic;

/* Check PATH (as above) and create the temporary.  0, or -1 with "PATH:
 * cannot write: why" in err ("a symbolic link, not a regular file; not
 * replacing it", "an input of this command; not overwriting it", "cannot
 * create TMP: why" for a nonexistent folder or a folder in the way). */
int ng_atomic_open(ng_atomic *a, const char *path, char *err, size_t errlen);
/* Flush, fsync when durable, close, check PATH again and rename over it.
 * 0, or -1 with "PATH: cannot write: why" ("... cannot replace it: why"
 * when the rename fails); on failure the temporary is removed and PATH is
 * as it was.  Releases a either way. */
int ng_atomic_commit(ng_atomic *a, int durable, char *err, size_t errlen);
/* Give up: close and remove the temporary, release a.  PATH is untouched. */
void ng_atomic_abort(ng_atomic *a);
/* Write len bytes as the whole file at path (open, fwrite, commit). */
int ng_atomic_write(const char *path, const void *buf, size_t len, int durable, char *err,
                    size_t errlen);
/* A log the program appends lines to (metrics.jsonl, log.csv): path
 * opened for writing at its end (append) or emptied, never through a
 * symbolic link, and only when it is a regular file or absent (the checks
 * of ng_atomic_open).  NULL with "PATH: cannot write: why" in err. */
FILE *ng_log_open(const char *path, int append, char *err, size_t errlen);
/* Remove what writers killed midway left in folder dir: regular files named
 * NAME.tmp.PID.RANDOM (or NAME.tmp.PID, as older versions named them) whose
 * process PID no longer runs (or is this process: call it before this
 * process writes in dir).  Each removed name is printed on report
 * ("removed stale DIR/NAME.tmp.PID.RANDOM"), when report is not NULL.
 * Returns how many were removed; a folder that cannot be read counts 0. */
int ng_atomic_remove_stale(const char *dir, FILE *report);

#endif
