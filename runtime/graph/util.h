/* util.h — helpers every runtime module shares (in libnetg, so netc has them
 * too): the error message kept in a caller's buffer, a growable byte buffer,
 * and the atomic replacement of a file. */
#ifndef NG_UTIL_H
#define NG_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Format a message into err (err may be NULL, errlen 0) and return -1, so
 * that a failing function can end with `return ng_fail(err, errlen, ...)`. */
int ng_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Seconds on the monotonic clock (for intervals). */
double ng_now(void);

/* mkdir -p: path and the folders above it.  0, or -1 with "PATH: cannot
 * create folder: why" (or "not a folder") in err. */
int ng_mkdir_p(const char *path, char *err, size_t errlen);

/* A growable byte buffer (files built in memory: PNGs, caches, .netg): zero
 * it to start, free(b) when done.  ng_buf_put appends n bytes, growing the
 * capacity by doubling from 4 KiB, with the size arithmetic checked; the
 * first failure sets oom, and later puts do nothing.  0, or -1 once oom. */
typedef struct {
    unsigned char *b;
    size_t len, cap;
    int oom;
} ng_buf;
int ng_buf_put(ng_buf *w, const void *p, size_t n);

/* Atomic replacement of a file: the data goes to PATH.tmp.PID, which is
 * renamed over PATH only when everything was written, so a reader (or a run
 * killed midway) sees the old file or the new one, never half of one.
 * Durability is the caller's choice: with durable set, the file is fsynced
 * before the rename and its folder after it (checkpoints, compiled graphs);
 * without, a power cut may lose the new file but never corrupts the old one
 * (predicted masks, which are cheap to make again). */
typedef struct {
    FILE *fp;            /* write the contents here */
    char *path, *tmp;    /* owned until commit or abort */
} ng_atomic;

/* Create PATH.tmp.PID.  0, or -1 with "PATH: cannot write: cannot create
 * TMP: why" in err (a nonexistent folder, a folder in the way). */
int ng_atomic_open(ng_atomic *a, const char *path, char *err, size_t errlen);
/* Flush, fsync when durable, close and rename over PATH.  0, or -1 with
 * "PATH: cannot write: why" ("... cannot replace it: why" when the rename
 * fails); on failure the temporary is removed and PATH is as it was.
 * Releases a either way. */
int ng_atomic_commit(ng_atomic *a, int durable, char *err, size_t errlen);
/* Give up: close and remove the temporary, release a.  PATH is untouched. */
void ng_atomic_abort(ng_atomic *a);
/* Write len bytes as the whole file at path (open, fwrite, commit). */
int ng_atomic_write(const char *path, const void *buf, size_t len, int durable, char *err,
                    size_t errlen);
/* Remove what writers killed midway left in folder dir: regular files named
 * NAME.tmp.PID whose process PID no longer runs (or is this process: call it
 * before this process writes in dir).  Each removed name is printed on
 * report ("removed stale DIR/NAME.tmp.PID"), when report is not NULL.
 * Returns how many were removed; a folder that cannot be read counts 0. */
int ng_atomic_remove_stale(const char *dir, FILE *report);

#endif
