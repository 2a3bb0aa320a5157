/* import.c — `import "path"`: resolving a path against the importing file,
 * the import stack (cycles) and the files already run; files come from disk
 * or from the caller's read_file hook (elaborate.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "elab.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- imports ----------------------------------------------------------- */

/* The directory part of path, ending in '/', or "" for none. */
const char *el_dir_of(nc_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? nc_arena_strndup(a, path, (size_t)(slash - path + 1)) : "";
}

/* path with "." and "dir/.." parts removed, lexically (no file access). */
const char *el_normalize(nc_arena *a, const char *path)
{
    size_t n = strlen(path);
    char *out = nc_arena_alloc(a, n + 1);
    size_t len = 0, keep = 0; /* keep: bytes that ".." may not remove */
    if (path[0] == '/')
        out[len++] = '/', keep = 1;
    for (const char *p = path; *p;) {
        const char *e = strchr(p, '/');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if ((k == 1 && p[0] == '.') || k == 0) {
            /* skip */
        } else if (k == 2 && p[0] == '.' && p[1] == '.' && len > keep) {
            size_t cut = len - 1; /* drop the last component */
            while (cut > keep && out[cut - 1] != '/')
                cut--;
            len = cut;
        } else {
            if (len > 0 && out[len - 1] != '/')
                out[len++] = '/';
            memcpy(out + len, p, k);
            len += k;
            if (k == 2 && p[0] == '.' && p[1] == '.')
                keep = len;
        }
        p += k + (e != NULL);
    }
    if (len == 0)
        out[len++] = '.';
    out[len] = 0;
    return out;
}

/* path as shown in an import cycle: relative to the model file's directory. */
const char *el_shown_path(elab *E, const char *path)
{
    size_t n = strlen(E->root_dir);
    return n && strncmp(path, E->root_dir, n) == 0 ? path + n : path;
}

/* What tells files apart: the realpath of path on disk, or with a
 * read_file hook its normalized path.  NULL with errno set when a file on
 * disk cannot be resolved. */
const char *el_file_id(elab *E, const char *path)
{
    if (E->read_file)
        return el_normalize(E->a, path);
    char *r = realpath(path, NULL);
    if (!r)
        return NULL;
    const char *copy = nc_arena_strdup(E->a, r);
    free(r);
    return copy;
}

/* A whole file into the arena, NUL-terminated, through the read_file hook
 * or from disk; NULL with errno set. */
static char *read_source(elab *E, const char *path, size_t *len)
{
    char *buf = E->read_file ? E->read_file(E->read_ctx, path, len) : ng_read_file(path, len);
    if (!buf)
        return NULL;
    if (!E->read_file)
        ng_input_keep(path); /* netc's output must not replace it */
    char *text = nc_arena_alloc(E->a, *len + 1); /* all of it: nc_parse reports a NUL in it */
    memcpy(text, buf, *len);
    free(buf);
    return text;
}

/* A relative import not found beside its importer, on disk: the first
 * folder of the import path that has it (*path set to it there) and its
 * file id, or NULL; *searched lists the folders tried. */
static const char *search_import(elab *E, const nc_stmt *s, const char **path, const char **searched)
{
    for (int i = 0; i < E->n_import_path; i++) {
        const char *dir = E->import_path[i];
        size_t n = strlen(dir);
        const char *cand = nc_arena_printf(E->a, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", s->str);
        *searched = nc_arena_printf(E->a, "%s, %s", *searched, dir);
        const char *real = el_file_id(E, cand);
        if (real) {
            *path = cand;
            return real;
        }
    }
    return NULL;
}

/* import "path": resolved against the importing file's directory, then the
 * import path (netc -I, NETC_PATH, the installed model library); the
 * file's top level runs once, in the global scope; its functions become
 * callable.  A cycle, or input/output/minimize in it, is an error. */
void el_exec_import(elab *E, const nc_stmt *s)
{
    /* path: as the user would write it from here (diagnostics name the
     * file so, like a C compiler's includes); shown: relative to the model
     * file's directory, for the cycle message */
    const char *from = E->d->files[s->loc.file].path;
    const char *path = s->str[0] == '/' ? s->str : nc_arena_printf(E->a, "%s%s", el_dir_of(E->a, from), s->str);
    const char *real = el_file_id(E, path);
    int why = errno;
    const char *dir = el_dir_of(E->a, from), *searched = *dir ? dir : "./";
    if (!real && s->str[0] != '/' && !E->read_file)
        real = search_import(E, s, &path, &searched);
    if (!real) {
        el_error(E, s->loc, "cannot import '%s': %s", s->str, ng_strerror(why));
        if (s->str[0] != '/' && !E->read_file)
            nc_diag_note(E->d, "searched: %s", searched);
        E->import_failed = 1;
        return;
    }
    const char *shown = el_shown_path(E, el_normalize(E->a, path));
    for (import_frame *f = E->imports; f; f = f->up) {
        if (!f->real || strcmp(f->real, real) != 0)
            continue;
        /* the chain from f down to this file, then f again */
        const char *chain = shown;
        for (import_frame *g = E->imports;; g = g->up) {
            chain = nc_arena_printf(E->a, "%s -> %s", g->shown, chain);
            if (g == f)
                break;
        }
        el_error(E, s->loc, "import cycle: %s", chain);
        return;
    }
    for (imported *i = E->done; i; i = i->next)
        if (strcmp(i->real, real) == 0)
            return; /* already imported: once is enough */
    size_t len;
    char *text = read_source(E, path, &len);
    if (!text) {
        el_error(E, s->loc, "cannot import '%s': %s", s->str, ng_strerror(errno));
        E->import_failed = 1;
        return;
    }
    int file = nc_diag_add_file(E->d, path, text, len);
    if (file < 0) {
        el_error(E, s->loc, "cannot import '%s': more than %d source files", s->str, NC_DIAG_MAX_FILES);
        E->import_failed = 1;
        return;
    }
    imported *done = nc_arena_alloc(E->a, sizeof *done);
    done->real = real;
    done->next = E->done;
    E->done = done;
    int errors = E->d->n_errors;
    nc_stmt *prog = nc_parse(E->a, E->d, file);
    if (E->d->n_errors > errors) {
        E->import_failed = 1;
        return;
    }
    import_frame fr = {real, shown, s->loc, E->imports};
    E->imports = &fr;
    el_register_defs(E, prog);
    el_exec_block(E, prog);
    E->imports = fr.up;
}

