/* main.c — netc, the model compiler driver: options, then nc_compile (the
 * pipeline, compile.c), the --emit views and the save.
 * Exit status: 0 ok, 1 compile error, 2 usage error. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compile.h"
#include "util.h"
#include "emit.h"

#define NETC_VERSION "0.1.0"
#define MAX_DEFINES 64
#define MAX_IMPORT_DIRS 64
#ifndef NETC_DATADIR /* the installed model library's folder (meson: DATADIR/netc) */
#define NETC_DATADIR "/usr/local/share/netc"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: netc MODEL.net [-o OUT.netg] [-D NAME=VALUE]... [-I DIR]... [--emit graph|dot|svg|plan]\n"
            "  -o FILE        write the compiled graph (default: MODEL.netg; with --emit, only if given)\n"
            "  -D NAME=VALUE  override a const of the model (number, true/false or a name)\n"
            "  -I DIR         look for an import not found beside its importer in DIR (repeatable; then\n"
            "                 the folders of NETC_PATH, colon-separated, then " NETC_DATADIR ")\n"
            "  --emit KIND    print the graph (graph), a Graphviz view (dot), that view drawn as SVG by\n"
            "                 Graphviz's dot (svg; needs dot on PATH) or the memory plan (plan)\n"
            "  --entry NAME   the entry point dot and svg draw (train, eval, infer; default: the first)\n"
            "  --recompute    recompute upsample, concat, maxpool and dropout outputs in the backward\n"
            "                 pass instead of keeping them (less memory, a little more time)\n"
            "  --version, --help\n");
}

/* Is Graphviz's dot an executable file in a folder of PATH? */
static int find_dot(void)
{
    const char *path = getenv("PATH");
    char dir[4096];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (snprintf(dir, sizeof dir, "%.*s/dot", n ? (int)n : 1, n ? path : ".") < (int)sizeof dir &&
            access(dir, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* --emit svg: the dot view piped through `dot -Tsvg`, which writes stdout. */
static int emit_svg(nc_unit *u, int entry)
{
    fflush(stdout);
    FILE *p = popen("dot -Tsvg", "w");
    if (!p) {
        fprintf(stderr, "netc: cannot run dot: %s\n", strerror(errno));
        return -1;
    }
    nc_print_dot(p, &u->g, u->entries + entry, u->n_entries - entry);
    int st = pclose(p);
    if (st != 0) {
        fprintf(stderr, "netc: dot -Tsvg failed (%s %d)\n", st > 0 && WIFEXITED(st) ? "exit status" : "status",
                st > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : st);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *out_path = NULL, *emit = NULL, *entry = NULL;
    int recompute_on = 0;
    nc_define defs[MAX_DEFINES];
    int n_defs = 0;
    const char *import_path[MAX_IMPORT_DIRS]; /* -I, NETC_PATH, NETC_DATADIR */
    int n_import = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--recompute")) {
            recompute_on = 1;
        } else if (!strcmp(a, "--version")) {
            printf("netc %s (netg format %d)\n", NETC_VERSION, NG_VERSION);
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--emit") || !strcmp(a, "--entry") || !strncmp(a, "-D", 2) ||
                   !strncmp(a, "-I", 2)) {
            const char *v = a + 2;
            if (!strcmp(a, "-o") || !strcmp(a, "--emit") || !strcmp(a, "--entry") || !strcmp(a, "-D") ||
                !strcmp(a, "-I")) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "netc: %s needs a value\n", a);
                    usage(stderr);
                    return 2;
                }
                v = argv[++i];
            }
            if (!strcmp(a, "-o")) {
                out_path = v;
                continue;
            }
            if (!strcmp(a, "--emit")) {
                emit = v;
                continue;
            }
            if (!strcmp(a, "--entry")) {
                entry = v;
                continue;
            }
            if (!strncmp(a, "-I", 2)) {
                if (n_import == MAX_IMPORT_DIRS - 1) { /* the last for the model library */
                    fprintf(stderr, "netc: more than %d import folders\n", MAX_IMPORT_DIRS - 1);
                    return 2;
                }
                import_path[n_import++] = v;
                continue;
            }
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                fprintf(stderr, "netc: -D needs NAME=VALUE, got '%s'\n", v);
                return 2;
            }
            for (int k = 0; k < n_defs; k++)
                if (strlen(defs[k].name) == (size_t)(eq - v) && !strncmp(defs[k].name, v, (size_t)(eq - v))) {
                    fprintf(stderr, "netc: -D %s given twice\n", defs[k].name);
                    return 2;
                }
            if (n_defs == MAX_DEFINES) {
                fprintf(stderr, "netc: more than %d -D options\n", MAX_DEFINES);
                return 2;
            }
            defs[n_defs].name = strndup(v, (size_t)(eq - v));
            defs[n_defs].value = eq + 1;
            defs[n_defs].used = 0;
            n_defs++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "netc: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (model) {
            fprintf(stderr, "netc: one model file at a time ('%s' and '%s')\n", model, a);
            return 2;
        } else {
            model = a;
        }
    }
    if (!model) {
        usage(stderr);
        return 2;
    }
    if (emit && strcmp(emit, "graph") && strcmp(emit, "dot") && strcmp(emit, "svg") && strcmp(emit, "plan")) {
        fprintf(stderr, "netc: --emit takes graph, dot, svg or plan, not '%s'\n", emit);
        return 2;
    }
    if (emit && !strcmp(emit, "svg") && !find_dot()) {
        fprintf(stderr, "netc: --emit svg needs Graphviz's 'dot' on PATH (Debian: apt-get install graphviz); "
                        "or write the view with --emit dot and draw it elsewhere: "
                        "netc %s --emit dot | dot -Tsvg > model.svg\n", model);
        return 1;
    }

    size_t len;
    char *text = ng_read_file(model, &len);
    if (!text) {
        fprintf(stderr, "netc: cannot read '%s': %s\n", model, ng_strerror(errno));
        return 1;
    }
    ng_input_keep(model); /* netc M.net -o M.net: refused, not the source lost */
    char *env = getenv("NETC_PATH") ? strdup(getenv("NETC_PATH")) : NULL;
    for (char *dir = env ? strtok(env, ":") : NULL; dir; dir = strtok(NULL, ":")) /* empty entries skipped */
        if (n_import < MAX_IMPORT_DIRS - 1)
            import_path[n_import++] = dir;
    import_path[n_import++] = NETC_DATADIR;
    nc_options opt = {.path = model, .text = text, .len = len, .defs = defs, .n_defs = n_defs,
                      .recompute = recompute_on, .import_path = import_path, .n_import_path = n_import};
    nc_unit u;
    int status = 1;
    if (nc_compile(&u, &opt) != 0)
        goto done;

    int shown = 0; /* the entry dot and svg draw */
    while (entry && shown < u.n_entries && strcmp(u.entries[shown].name, entry))
        shown++;
    if (entry && shown == u.n_entries) {
        fprintf(stderr, "netc: %s has no entry '%s' (", model, entry);
        for (int i = 0; i < u.n_entries; i++)
            fprintf(stderr, i ? ", %s" : "%s", u.entries[i].name);
        fprintf(stderr, ")\n");
        goto done;
    }
    if (emit && !strcmp(emit, "graph"))
        nc_print_graph(stdout, &u.g, u.entries, u.n_entries);
    else if (emit && !strcmp(emit, "dot"))
        nc_print_dot(stdout, &u.g, u.entries + shown, u.n_entries - shown);
    else if (emit && !strcmp(emit, "svg")) {
        if (emit_svg(&u, shown) != 0)
            goto done;
    } else if (emit)
        nc_print_plan(stdout, &u.g, u.entries, u.n_entries);

    char default_out[4096];
    if (!out_path && !emit) {
        const char *dot = strrchr(model, '.');
        size_t stem = dot && dot > strrchr(model, '/') ? (size_t)(dot - model) : strlen(model);
        snprintf(default_out, sizeof default_out, "%.*s.netg", (int)stem, model);
        out_path = default_out;
    }
    char err[1024];
    if (out_path && ng_graph_save(u.out, out_path, err, sizeof err) != 0) {
        fprintf(stderr, "netc: %s\n", err);
        goto done;
    }
    status = 0;
done:
    nc_unit_free(&u);
    free(text);
    free(env);
    for (int i = 0; i < n_defs; i++)
        free((char *)defs[i].name);
    return status;
}
