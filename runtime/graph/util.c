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
#include <sys/random.h>
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

/* errno for a file of mode m that is not a regular file; 0 for one. */
static int not_regular(mode_t m)
{
    return S_ISREG(m) ? 0 : S_ISDIR(m) ? EISDIR : S_ISFIFO(m) ? NG_EFIFO : S_ISSOCK(m) ? NG_ESOCKET : NG_EDEVICE;
}

/* The file fd, opened with O_NONBLOCK (or -1 after a failed open), as a
 * stream in mode, blocking again, when it is a regular file of at most max
 * bytes; else NULL with errno set (the open's, not_regular's, EFBIG) and fd
 * closed. */
static FILE *regular_stream(int fd, int64_t max, const char *mode)
{
    if (fd < 0)
        return NULL;
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : not_regular(st.st_mode);
    if (!e && (int64_t)st.st_size > max)
        e = EFBIG;
    int fl = e ? 0 : fcntl(fd, F_GETFL);
    if (!e && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0))
        e = errno;
    FILE *f = e ? NULL : fdopen(fd, mode);
    if (!f) {
        e = e ? e : errno;
        close(fd);
        errno = e;
    }
    return f;
}

FILE *ng_open_input(const char *path, int64_t max)
{
    return regular_stream(open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), max, "rb");
}

const char *ng_strerror(int e)
{
    return e == NG_EFIFO     ? "a FIFO, not a regular file"
         : e == NG_EDEVICE   ? "a device, not a regular file"
         : e == NG_ESOCKET   ? "a socket, not a regular file"
         : e == EISDIR       ? "a folder, not a regular file"
         : e == EFBIG        ? "too large for this kind of file"
                             : strerror(e);
}

void *ng_read_file(const char *path, size_t *len)
{
    FILE *f = ng_open_input(path, NG_MAX_TEXT);
    if (!f)
        return NULL;
    void *buf = ng_read_all(f, len);
    int e = errno;
    fclose(f);
    errno = e;
    return buf;
}

/* The inputs of this command (ng_input_keep): device and inode. */
static struct {
    dev_t dev;
    ino_t ino;
} *kept;
static size_t n_kept, cap_kept;

void ng_input_keep(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || ng_input_kept(path))
        return;
    void *g = ng_vec_grow(kept, &cap_kept, n_kept + 1, sizeof *kept);
    if (!g)
        return; /* out of memory: the program fails at its next allocation */
    kept = g;
    kept[n_kept].dev = st.st_dev;
    kept[n_kept++].ino = st.st_ino;
}

int ng_input_kept(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    for (size_t i = 0; i < n_kept; i++)
        if (kept[i].dev == st.st_dev && kept[i].ino == st.st_ino)
            return 1;
    return 0;
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

int ng_file_errno(const char *path)
{
    struct stat st;
    return stat(path, &st) != 0 ? errno : not_regular(st.st_mode);
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

/* Why path may not be written (ng_atomic_open's checks), as "PATH: cannot
 * write: why" in err and -1; 0 when it is absent or a regular file that is
 * no input of this command. */
static int check_target(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : ng_fail(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return ng_fail(err, errlen, "%s: cannot write: a symbolic link, not a regular file; not replacing it",
                       path);
    if (!S_ISREG(st.st_mode))
        return ng_fail(err, errlen, "%s: cannot write: %s; not replacing it", path,
                       ng_strerror(not_regular(st.st_mode)));
    if (ng_input_kept(path))
        return ng_fail(err, errlen, "%s: cannot write: an input of this command; not overwriting it", path);
    return 0;
}

/* 64 unpredictable bits: the kernel's, or (without getrandom) the clock's
 * and the process's mixed. */
static uint64_t random_bits(void)
{
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
        return r;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static uint64_t n;
    return ng_mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^ ++n);
}

int ng_atomic_open(ng_atomic *a, const char *path, char *err, size_t errlen)
{
    size_t tl = strlen(path) + 48;
    a->fp = NULL;
    a->path = a->tmp = NULL;
    if (check_target(path, err, errlen) != 0)
        return -1;
    a->path = strdup(path);
    a->tmp = malloc(tl);
    if (!a->path || !a->tmp) {
        atomic_release(a);
        return ng_fail(err, errlen, "%s: out of memory", path);
    }
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(a->tmp, tl, "%s.tmp.%ld.%012llx", path, (long)getpid(),
                 (unsigned long long)(random_bits() >> 16));
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0 || !(a->fp = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            remove(a->tmp);
        }
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
    if (e || check_target(a->path, err, errlen) != 0) {
        if (e)
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

FILE *ng_log_open(const char *path, int append, char *err, size_t errlen)
{
    if (check_target(path, err, errlen) != 0)
        return NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
                  0666);
    FILE *f = regular_stream(fd, INT64_MAX, append ? "a" : "w");
    if (!f)
        ng_fail(err, errlen, "%s: cannot write: %s", path,
                errno == ELOOP ? "a symbolic link, not a regular file" : ng_strerror(errno));
    return f;
}

/* The PID of a NAME.tmp.PID.RANDOM (or NAME.tmp.PID) file name, or -1 when
 * name is not one. */
static long tmp_pid(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name)
        return -1;
    for (const char *n; (n = strstr(t + 1, ".tmp.")); t = n) /* the last ".tmp." */
        ;
    const char *d = t + 5, *p = d;
    long pid = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (pid > 99999999)
            return -1;
        pid = pid * 10 + (*p - '0');
    }
    if (*p == '.' && strlen(p + 1) == 12 && strspn(p + 1, "0123456789abcdef") == 12)
        p += 13;
    return p > d && !*p && pid > 0 ? pid : -1;
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
