/* util.c — the helpers of util.h. */
#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double ng_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ng_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void *ng_vec_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t max = SIZE_MAX / elem, c = *cap ? *cap : 8;
    if (need > max)
        return NULL;
    while (c < need)
        c = c <= max / 2 ? 2 * c : need;
    if (c > max)
        c = need;
    void *q = realloc(p, c * elem);
    if (q)
        *cap = c;
    return q;
}

void *ng_carve(char *base, size_t *at, size_t n, size_t elem)
{
    const size_t align = _Alignof(max_align_t);
    if (*at > SIZE_MAX - (align - 1) || (elem && n > SIZE_MAX / elem)) {
        *at = SIZE_MAX;
        return NULL;
    }
    size_t start = (*at + align - 1) / align * align;
    if (n * elem > SIZE_MAX - start) {
        *at = SIZE_MAX;
        return NULL;
    }
    *at = start + n * elem;
    return base ? base + start : NULL;
}

void *ng_carve_alloc(size_t bytes) { return bytes == SIZE_MAX ? NULL : calloc(1, bytes ? bytes : 1); }

int ng_buf_put(ng_buf *w, const void *p, size_t n)
{
    if (w->oom)
        return -1;
    if (n == 0)
        return 0;
    unsigned char *nb = n <= SIZE_MAX - w->len ? ng_vec_grow(w->b, &w->cap, w->len + n, 1) : NULL;
    if (!nb) {
        w->oom = 1;
        return -1;
    }
    w->b = nb;
    memcpy(w->b + w->len, p, n);
    w->len += n;
    return 0;
}

void *ng_read_all(FILE *f, size_t *len)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        char *nb = ng_vec_grow(buf, &cap, n + 65536, 1); /* room for a chunk and the NUL */
        if (!nb) {
            free(buf);
            errno = ENOMEM;
            return NULL;
        }
        buf = nb;
        size_t room = cap - n - 1, got = fread(buf + n, 1, room, f);
        n += got;
        if (got < room)
            break;
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        free(buf);
        errno = e;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

void *ng_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    void *buf = ng_read_all(f, len);
    int e = errno;
    fclose(f);
    errno = e;
    return buf;
}

int ng_is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ng_is_file(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

size_t ng_stem_len(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? (size_t)(dot - name) : strlen(name);
}

int ng_stem_cmp(const char *x, const char *y)
{
    size_t lx = ng_stem_len(x), ly = ng_stem_len(y);
    int c = memcmp(x, y, lx < ly ? lx : ly);
    return c ? c : lx < ly ? -1 : lx > ly;
}

static void atomic_release(ng_atomic *a)
{
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    a->fp = NULL;
}

int ng_atomic_open(ng_atomic *a, const char *path, char *err, size_t errlen)
{
    size_t tl = strlen(path) + 32;
    a->fp = NULL;
    a->path = strdup(path);
    a->tmp = malloc(tl);
    if (!a->path || !a->tmp) {
        atomic_release(a);
        return ng_fail(err, errlen, "%s: out of memory", path);
    }
    snprintf(a->tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    a->fp = fopen(a->tmp, "wb");
    if (!a->fp) {
        int e = errno;
        ng_fail(err, errlen, "%s: cannot write: cannot create %s: %s", path, a->tmp, strerror(e));
        atomic_release(a);
        return -1;
    }
    return 0;
}

/* Best effort: make the rename itself durable. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int ng_atomic_commit(ng_atomic *a, int durable, char *err, size_t errlen)
{
    int e = 0;
    if (ferror(a->fp) || fflush(a->fp) != 0 || (durable && fsync(fileno(a->fp)) != 0))
        e = errno ? errno : EIO;
    if (fclose(a->fp) != 0 && !e)
        e = errno ? errno : EIO;
    a->fp = NULL;
    if (e) {
        ng_fail(err, errlen, "%s: cannot write: %s", a->path, strerror(e));
        remove(a->tmp);
        atomic_release(a);
        return -1;
    }
    if (rename(a->tmp, a->path) != 0) {
        e = errno;
        ng_fail(err, errlen, "%s: cannot write: cannot replace it: %s", a->path, strerror(e));
        remove(a->tmp);
        atomic_release(a);
        return -1;
    }
    if (durable)
        sync_parent_dir(a->path);
    atomic_release(a);
    return 0;
}

void ng_atomic_abort(ng_atomic *a)
{
    if (a->fp)
        fclose(a->fp);
    if (a->tmp)
        remove(a->tmp);
    atomic_release(a);
}

int ng_atomic_write(const char *path, const void *buf, size_t len, int durable, char *err,
                    size_t errlen)
{
    ng_atomic a;
    if (ng_atomic_open(&a, path, err, errlen) != 0)
        return -1;
    if (len > 0 && fwrite(buf, 1, len, a.fp) != len) {
        int e = errno ? errno : EIO;
        ng_atomic_abort(&a);
        return ng_fail(err, errlen, "%s: cannot write: %s", path, strerror(e));
    }
    return ng_atomic_commit(&a, durable, err, errlen);
}

/* The PID of a NAME.tmp.PID file name, or -1 when name is not one. */
static long tmp_pid(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name)
        return -1;
    for (const char *n; (n = strstr(t + 1, ".tmp.")); t = n) /* the last ".tmp." */
        ;
    const char *d = t + 5;
    long pid = 0;
    for (const char *p = d; *p; p++) {
        if (*p < '0' || *p > '9' || pid > 99999999)
            return -1;
        pid = pid * 10 + (*p - '0');
    }
    return *d && pid > 0 ? pid : -1;
}

int ng_atomic_remove_stale(const char *dir, FILE *report)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = tmp_pid(e->d_name);
        if (pid < 0 || (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)))
            continue; /* not a temporary, or its writer may still be at work */
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(n);
        if (!path)
            break;
        snprintf(path, n, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0) {
            removed++;
            if (report)
                fprintf(report, "removed stale %s\n", path);
        }
        free(path);
    }
    closedir(d);
    return removed;
}

int ng_mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        ng_fail(err, errlen, "%s: path too long", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                ng_fail(err, errlen, "%s: cannot create folder: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ng_fail(err, errlen, "%s: not a folder", path);
        return -1;
    }
    return 0;
}
