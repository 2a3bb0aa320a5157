/* errors_in_one.c — every file of tests/errors/ compiled by netc's pipeline
 * (nc_compile, as netc's main.c calls it) one after another in one process:
 * each must fail with as many errors as its "# expect:" lines.  The messages
 * themselves are check_errors.sh's business (suite errors, one test per
 * file); this is what the valgrind run (suite memcheck) starts memcheck on
 * once instead of once per file.  Diagnostics go to a memory buffer and are
 * printed for a file that fails.
 * Usage: errors_in_one FILE.net...   Prints "ok - FILE" / "FAIL - FILE: ...". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "util.h"

/* The lines of text that start with "# expect:". */
static int expected_errors(const char *text)
{
    int n = 0;
    for (const char *l = text; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        n += strncmp(l, "# expect:", 9) == 0;
    return n;
}

/* 1 when the file at path fails to compile with its expected error count. */
static int fails_as_expected(const char *path)
{
    size_t len;
    char *text = ng_read_file(path, &len);
    if (!text) {
        printf("FAIL - %s: cannot read: %s\n", path, strerror(errno));
        return 0;
    }
    char *diag = NULL;
    size_t diag_len = 0;
    FILE *out = open_memstream(&diag, &diag_len);
    if (!out) {
        printf("FAIL - %s: open_memstream: %s\n", path, strerror(errno));
        free(text);
        return 0;
    }
    nc_options o = {.path = path, .text = text, .len = len, .diag_out = out};
    nc_unit u;
    int rc = nc_compile(&u, &o), errors = u.d.n_errors, want = expected_errors(text);
    nc_unit_free(&u);
    fclose(out);
    int ok = rc == -1 && errors == want;
    if (ok)
        printf("ok - %s: %d error%s\n", path, errors, errors == 1 ? "" : "s");
    else
        printf("FAIL - %s: nc_compile returned %d with %d errors, expected -1 with %d\n%s", path, rc, errors, want,
               diag);
    free(diag);
    free(text);
    return ok;
}

int main(int argc, char **argv)
{
    int failed = 0;
    for (int i = 1; i < argc; i++)
        failed += !fails_as_expected(argv[i]);
    printf("%d files, %d failed\n", argc - 1, failed);
    return failed != 0;
}
