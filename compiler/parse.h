/* parse.h — the front end: reentrant flex scanner (lexer.l) and pure bison
 * parser (parser.y) turning one source file into a statement list. */
#ifndef NC_PARSE_H
#define NC_PARSE_H

#include "ast.h"
#include "diag.h"

/* Parse file index `file` of d (already registered with nc_diag_add_file).
 * Nodes are allocated in a.  Syntax errors are reported through d (several
 * per file, thanks to error recovery at statement level); returns the
 * top-level statement list, or NULL when the file had errors or is empty
 * (check d->n_errors). */
nc_stmt *nc_parse(nc_arena *a, nc_diag *d, int file);

#endif
