/* diag.h — user-facing diagnostics of netc.
 * Messages print as "FILE:LINE:COL: error: MSG", then the source line and a
 * caret (with ~ under the rest of the range on that line; a line over 100
 * columns is cut to a window around the error), then any notes (the call
 * chain).  Errors are collected; the driver stops after a stage
 * that reported any.  Output goes to the nc_diag's stream (stderr). */
#ifndef NC_DIAG_H
#define NC_DIAG_H

#include <stdio.h>
#include "ast.h"

#define NC_DIAG_MAX_FILES 64

typedef struct {
    const char *path;    /* as given by the user */
    const char *text;    /* whole file, NUL terminated */
    size_t len;
} nc_source;

typedef struct {
    FILE *out;
    nc_source files[NC_DIAG_MAX_FILES];
    int n_files;
    int n_errors;
    int max_errors;      /* stop printing after this many (default 20) */
} nc_diag;

void nc_diag_init(nc_diag *d, FILE *out);
/* Register a source text; returns its file index, or -1 when full. */
int nc_diag_add_file(nc_diag *d, const char *path, const char *text, size_t len);
void nc_diag_error(nc_diag *d, nc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note attached to the last error: "  in block() called from f.net:3:5". */
void nc_diag_note(nc_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "FILE:LINE:COL" of loc into buf. */
const char *nc_loc_str(const nc_diag *d, nc_loc loc, char *buf, size_t n);

#endif
