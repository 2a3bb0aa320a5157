/* check.h — what the C unit tests share: one line per check with counts
 * ("ok - name" / "FAIL - name: detail"), a scratch folder under /tmp
 * with helpers to name paths in it, make folders and remove it again, and
 * the end of a test program (check_done).
 * Included by kcheck.h (the kernel tests), test_backend.c, test_data.c,
 * test_fuse.c, test_io.c, test_report.c and test_sampler.c. */
#ifndef CHECK_H
#define CHECK_H

#include <dirent.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reporting -------------------------------------------------------- */

static int n_checks, n_fail;

/* Prints `ok - name` or `FAIL - name: detail` (detail printf-style from
 * fmt); returns ok. */
static __attribute__((unused)) int check(int ok, const char *name, const char *fmt, ...)
{
    n_checks++;
    if (ok) {
        printf("ok - %s\n", name);
        return 1;
    }
    n_fail++;
    printf("FAIL - %s: ", name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    return 0;
}

/* 1 when a temporary of the atomic write of path (PATH.tmp.*, util.h) is
 * still there. */
static __attribute__((unused)) int tmp_left(const char *path)
{
    char pat[1024];
    snprintf(pat, sizeof pat, "%s.tmp.*", path);
    glob_t g;
    int found = glob(pat, 0, NULL, &g) == 0;
    if (found)
        globfree(&g);
    return found;
}

/* ---- the scratch folder ----------------------------------------------- */

static char tmpdir[64];

/* Makes a fresh folder /tmp/<prefix>.XXXXXX, its name in tmpdir; 0, or -1
 * after saying why on stderr.  rm_rf(tmpdir) removes it again. */
static __attribute__((unused)) int tmpdir_make(const char *prefix)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s.XXXXXX", prefix);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

/* tmpdir/rel into a static buffer (rotates between 4 so several can live). */
static __attribute__((unused)) const char *P(const char *fmt, ...)
{
    static char buf[4][512];
    static int k;
    char rel[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, rel);
    return buf[k];
}

/* mkdir -p path (errors are left to the check that uses the folder). */
static __attribute__((unused)) void mkdirs(const char *path)
{
    char b[512];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(b, 0777);
            *p = '/';
        }
    mkdir(b, 0777);
}

/* rm -rf path, also through folders a test made unreadable. */
static __attribute__((unused)) void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0777);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---- the end ---------------------------------------------------------- */

/* A test program's last words: the counts, then the scratch folder removed
 * (kept for a look when a check failed); returns the exit status, 1 when a
 * check failed. */
static __attribute__((unused)) int check_done(void)
{
    printf("%d checks, %d failed\n", n_checks, n_fail);
    if (tmpdir[0] && n_fail == 0)
        rm_rf(tmpdir);
    else if (tmpdir[0])
        printf("# the scratch folder is kept: %s\n", tmpdir);
    return n_fail ? 1 : 0;
}

#endif
