/* diag.c — user-facing diagnostics (diag.h): "FILE:LINE:COL: error: MSG",
 * the source line and a caret line, then notes.  Columns count characters
 * as the scanner does (a tab is one; UTF-8 continuation bytes and carriage
 * returns take none); a tab in the source stays a tab in the caret line so
 * the caret lines up under it.  A long line is shown as a window around the
 * error column. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "diag.h"
#include "util.h"

void nc_diag_init(nc_diag *d, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->out = out;
    d->max_errors = 20;
}

int nc_diag_add_file(nc_diag *d, const char *path, const char *text, size_t len)
{
    if (d->n_files >= NC_DIAG_MAX_FILES)
        return -1;
    d->files[d->n_files] = (nc_source){ path, text, len };
    return d->n_files++;
}

static const nc_source *source_of(const nc_diag *d, nc_loc loc)
{
    return loc.file >= 0 && loc.file < d->n_files ? &d->files[loc.file] : NULL;
}

const char *nc_loc_str(const nc_diag *d, nc_loc loc, char *buf, size_t n)
{
    const nc_source *src = source_of(d, loc);
    snprintf(buf, n, "%s:%d:%d", src ? src->path : "netc", loc.first_line, loc.first_col);
    return buf;
}

static int is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Source lines longer than SHOW_COLS columns are shown as a window of
 * SHOW_COLS columns that starts SHOW_BEFORE columns before the error, with
 * "..." where the line goes on. */
#define SHOW_COLS 100
#define SHOW_BEFORE 40

/* Does byte c start a column?  (UTF-8 continuation bytes and carriage
 * returns take none.) */
static int starts_col(char c)
{
    return !is_cont((unsigned char)c) && c != '\r';
}

/* The first byte of column col (1-based) of [s,e), or e past the end. */
static const char *col_ptr(const char *s, const char *e, int col)
{
    for (int c = 1; s < e; s++)
        if (starts_col(*s) && c++ == col)
            return s;
    return e;
}

/* Print line `line` of src and a caret under columns first..last (last is
 * inclusive; ~ marks the columns after the first), both cut to the window
 * described above when the line is long. */
static void show_line(FILE *out, const nc_source *src, int line, int first, int last)
{
    const char *s = src->text, *end = src->text + src->len;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            return;                       /* past the end of the text */
        s = nl + 1;
    }
    const char *e = memchr(s, '\n', (size_t)(end - s));
    if (!e)
        e = end;
    if (e > s && e[-1] == '\r')
        e--;
    int n_cols = 0;
    for (const char *p = s; p < e; p++)
        n_cols += starts_col(*p);
    /* the window: columns lo..hi of the line */
    int lo = 1, hi = n_cols;
    if (n_cols > SHOW_COLS) {
        lo = first - SHOW_BEFORE > 1 ? first - SHOW_BEFORE : 1;
        if (lo > n_cols - SHOW_COLS + 1)
            lo = n_cols - SHOW_COLS + 1;
        hi = lo + SHOW_COLS - 1;
    }
    if (first > hi + 1)
        first = hi + 1;                   /* a column past the end of the line */
    if (last > hi)
        last = hi;
    const char *ws = col_ptr(s, e, lo), *we = col_ptr(s, e, hi + 1);
    fprintf(out, "%s%.*s%s\n", lo > 1 ? "..." : "", (int)(we - ws), ws, hi < n_cols ? "..." : "");
    if (lo > 1)
        fputs("   ", out);
    int col = lo;
    for (const char *p = ws; p < we && col < first; p++) {
        if (!starts_col(*p))
            continue;
        fputc(*p == '\t' ? '\t' : ' ', out);
        col++;
    }
    for (; col < first; col++)
        fputc(' ', out);
    fputc('^', out);
    for (col = first + 1; col <= last; col++)
        fputc('~', out);
    fputc('\n', out);
}

static int stopped(const nc_diag *d)
{
    return d->max_errors > 0 && d->n_errors > d->max_errors;
}

void nc_diag_error(nc_diag *d, nc_loc loc, const char *fmt, ...)
{
    const nc_source *src = source_of(d, loc);
    d->n_errors++;
    if (stopped(d)) {
        if (d->n_errors == d->max_errors + 1)
            fprintf(d->out, "%s: too many errors, stopping\n", src ? src->path : "netc");
        return;
    }
    va_list ap;
    if (!src)
        fprintf(d->out, "netc: error: ");
    else if (loc.first_line <= 0)
        fprintf(d->out, "%s: error: ", src->path);
    else
        fprintf(d->out, "%s:%d:%d: error: ", src->path, loc.first_line, loc.first_col);
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    if (src && loc.first_line > 0 && loc.first_col > 0) {
        int last = loc.last_line == loc.first_line ? loc.last_col : loc.first_col;
        show_line(d->out, src, loc.first_line, loc.first_col, last);
    }
}

void nc_diag_note(nc_diag *d, const char *fmt, ...)
{
    if (stopped(d) || d->n_errors == 0)
        return;
    va_list ap;
    fputs("  ", d->out);
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
}

