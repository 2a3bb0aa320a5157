/* fuzz_netc.c — libFuzzer target for the whole of netc in memory: nc_compile
 * (scan, parse, elaborate, shape checks, autodiff, entries, plan, emit,
 * ng_graph_check), again with --recompute when it accepts the model, and
 * every graph it accepts serialized and read back by netrun's loader
 * (ng_graph_parse).
 * Input: the model file, then any number of files it may import, each after
 * a line "%% PATH" (PATH as an import statement names it from the model):
 *     import "lib/a.net"
 *     ...
 *     %% lib/a.net
 *     def f(x) { ... }
 * Imports are served from the input through nc_options.read_file; the disk is
 * never read.  Every input must end in a clean compile or clean diagnostics:
 * a crash, a sanitizer report, an abort (nc_die: an internal error) or a
 * graph the loader refuses is a bug. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "elab.h" /* el_normalize */
#include "netg.h"

#define MAX_FILES 32

typedef struct {
    const char *path; /* NUL-terminated copy of the name after "%% " */
    const char *text;
    size_t len;
} part;

typedef struct {
    part parts[MAX_FILES];
    int n;
} corpus;

/* nc_read_fn over the input's parts: a malloc'd copy of the part whose
 * name, normalized as the elaborator does, is path's ("lib/../model.net"
 * is the model itself). */
static char *read_part(void *ctx, const char *path, size_t *len)
{
    const corpus *c = ctx;
    nc_arena a = {0};
    const char *want = el_normalize(&a, path);
    for (int i = 0; i < c->n; i++) {
        if (strcmp(el_normalize(&a, c->parts[i].path), want) != 0)
            continue;
        nc_arena_free(&a);
        char *text = malloc(c->parts[i].len + 1);
        if (!text) {
            errno = ENOMEM;
            return NULL;
        }
        memcpy(text, c->parts[i].text, c->parts[i].len);
        text[c->parts[i].len] = 0;
        *len = c->parts[i].len;
        return text;
    }
    nc_arena_free(&a);
    errno = ENOENT;
    return NULL;
}

/* Split buf (NUL-terminated, len bytes) at the "%% PATH" lines, in place. */
static void split(char *buf, size_t len, corpus *c)
{
    c->n = 1;
    c->parts[0] = (part){"model.net", buf, len};
    for (char *p = buf; p < buf + len && c->n < MAX_FILES;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;
        if (end - p >= 3 && p[0] == '%' && p[1] == '%' && p[2] == ' ') {
            part *prev = &c->parts[c->n - 1];
            prev->len = (size_t)(p - prev->text);
            *end = 0; /* ends the path */
            char *text = nl ? nl + 1 : buf + len;
            c->parts[c->n++] = (part){p + 3, text, (size_t)(buf + len - text)};
            p[0] = 0; /* ends the previous part: texts are NUL-terminated */
        }
        p = end + 1;
    }
}

static FILE *diag_sink(void)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    return sink;
}

/* Compile once; an accepted graph must survive the trip through the file
 * format and netrun's loader.  Returns whether it was accepted. */
static int compile(const corpus *c, int recompute)
{
    nc_options o = {.path = c->parts[0].path, .text = c->parts[0].text, .len = c->parts[0].len,
                    .recompute = recompute, .read_file = read_part, .read_ctx = (void *)c,
                    .diag_out = diag_sink()};
    nc_unit u;
    int ok = nc_compile(&u, &o) == 0;
    if (ok) {
        char err[1024];
        unsigned char *buf;
        size_t len;
        if (ng_graph_serialize(u.out, &buf, &len, err, sizeof err) != 0) {
            fprintf(stderr, "serialize: %s\n", err);
            abort();
        }
        ng_graph *g = ng_graph_parse(buf, len, "fuzz.netg", err, sizeof err);
        if (!g) {
            fprintf(stderr, "netrun refuses what netc emitted: %s\n", err);
            abort();
        }
        ng_graph_free(g);
        free(buf);
    }
    nc_unit_free(&u);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) /* a model file is a few KiB; longer inputs only cost time */
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    corpus c;
    split(buf, size, &c);
    /* --recompute changes only what follows the last pass that can refuse a
     * model (nc_compile: parse, elaborate, autodiff), so a refused model is
     * refused alike: it is compiled again only when accepted */
    if (compile(&c, 0))
        compile(&c, 1);
    free(buf);
    return 0;
}
