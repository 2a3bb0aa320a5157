/* run_folder.c — claiming a run folder (run_folder.h): the lock, and the
 * refusal of a fresh run over an earlier one. */
#define _DEFAULT_SOURCE
#include "run_folder.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The files of a run that netrun train and netrun report write. */
static const char *const run_files[] = {"log.csv", "metrics.jsonl", "last.safetensors", "best.safetensors", "run.json",
                                    "report.html", NULL};

/* Held open, locked, until the process ends. */
static int lock_fd = -1;

/* The refusal of dir, whose lock file fd another process holds (its PID in
 * the file). */
static int busy(const char *dir, int fd, char *err, size_t errlen)
{
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = 0;
    pid[strspn(pid, "0123456789")] = 0;
    return ng_fail(err, errlen, "%s: in use by another netrun train%s%s%s; give another --out, or wait for it "
                   "to end", dir, *pid ? " (PID " : "", pid, *pid ? ")" : "");
}

static int take_lock(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/" NR_RUN_LOCK, dir) >= (int)sizeof path)
        return ng_fail(err, errlen, "%s: path too long", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0)
        return ng_fail(err, errlen, "%s: cannot lock the run folder: %s", path,
                       errno == ELOOP ? "a symbolic link, not a regular file" : strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno, rc = e == EWOULDBLOCK ? busy(dir, fd, err, errlen)
                                              : ng_fail(err, errlen, "%s: cannot lock the run folder: %s", path,
                                                        strerror(e));
        close(fd);
        return rc;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return ng_fail(err, errlen, "%s: cannot write: %s", path, strerror(e));
    }
    if (lock_fd >= 0)
        close(lock_fd); /* a second claim in one process: the newer one holds */
    lock_fd = fd;
    return 0;
}

/* Remove the files of an earlier run (run_files) from dir. */
static int clear_run(const char *dir, char *err, size_t errlen)
{
    for (int i = 0; run_files[i]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, run_files[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            return ng_fail(err, errlen, "%s: cannot remove it (--overwrite): %s", path, strerror(errno));
    }
    return 0;
}

/* 0 when dir holds nothing but the lock; else -1 with the refusal, naming
 * up to three of what it holds. */
static int check_empty(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return ng_fail(err, errlen, "%s: %s", dir, strerror(errno));
    char names[512] = "";
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, NR_RUN_LOCK))
            continue;
        if (n < 3) {
            size_t at = strlen(names);
            snprintf(names + at, sizeof names - at, "%s%s", n ? ", " : "", e->d_name);
        }
        n++;
    }
    closedir(d);
    if (n == 0)
        return 0;
    return ng_fail(err, errlen, "%s: holds an earlier run (%s%s); continue it with --resume %s/last.safetensors, "
                   "replace it with --overwrite, or give another --out", dir, names, n > 3 ? ", ..." : "", dir);
}

int nr_run_folder_check(const char *dir, int resume, int overwrite, char *err, size_t errlen)
{
    if (!ng_is_dir(dir))
        return 0; /* nothing there yet */
    char path[4096];
    if (snprintf(path, sizeof path, "%s/" NR_RUN_LOCK, dir) >= (int)sizeof path)
        return ng_fail(err, errlen, "%s: path too long", dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) { /* held: busy; else the shared lock taken here goes with the close */
        int rc = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK ? busy(dir, fd, err, errlen) : 0;
        close(fd);
        if (rc != 0)
            return -1;
    }
    return resume || overwrite ? 0 : check_empty(dir, err, errlen);
}

int nr_run_folder_claim(const char *dir, int resume, int overwrite, FILE *report, char *err, size_t errlen)
{
    if (ng_mkdir_p(dir, err, errlen) != 0 || take_lock(dir, err, errlen) != 0)
        return -1;
    ng_atomic_remove_stale(dir, report);
    if (resume)
        return 0;
    if (overwrite && clear_run(dir, err, errlen) != 0)
        return -1;
    return overwrite ? 0 : check_empty(dir, err, errlen);
}
