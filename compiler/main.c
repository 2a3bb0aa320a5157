/* main.c — netc, the model compiler driver: options, then nc_compile (the
 * pipeline, compile.c), the --emit views and the save.
 * Exit status: 0 ok, 1 compile error, 2 usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "emit.h"

#define NETC_VERSION "0.1.0"
#define MAX_DEFINES 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: netc MODEL.net [-o OUT.netg] [-D NAME=VALUE]... [--emit graph|dot|plan]\n"
            "  -o FILE        write the compiled graph (default: MODEL.netg; with --emit, only if given)\n"
            "  -D NAME=VALUE  override a const of the model (number, true/false or a name)\n"
            "  --emit KIND    print the graph (graph), a Graphviz view (dot) or the memory plan (plan)\n"
            "  --recompute    recompute upsample, concat, maxpool and dropout outputs in the backward\n"
            "                 pass instead of keeping them (less memory, a little more time)\n"
            "  --version, --help\n");
}

int main(int argc, char **argv)
{
    const char *model = NULL, *out_path = NULL, *emit = NULL;
    int recompute_on = 0;
    nc_define defs[MAX_DEFINES];
    int n_defs = 0;
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
        } else if (!strcmp(a, "-o") || !strcmp(a, "--emit") || !strncmp(a, "-D", 2)) {
            const char *v = a + 2;
            if (!strcmp(a, "-o") || !strcmp(a, "--emit") || !strcmp(a, "-D")) {
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
    if (emit && strcmp(emit, "graph") && strcmp(emit, "dot") && strcmp(emit, "plan")) {
        fprintf(stderr, "netc: --emit takes graph, dot or plan, not '%s'\n", emit);
        return 2;
    }

    size_t len;
    char *text = nc_read_file(model, &len);
    if (!text) {
        fprintf(stderr, "netc: cannot read '%s': %s\n", model, strerror(errno));
        return 1;
    }
    nc_options opt = {.path = model, .text = text, .len = len, .defs = defs, .n_defs = n_defs,
                      .recompute = recompute_on};
    nc_unit u;
    int status = 1;
    if (nc_compile(&u, &opt) != 0)
        goto done;

    if (emit && !strcmp(emit, "graph"))
        nc_print_graph(stdout, &u.g, u.entries, u.n_entries);
    else if (emit && !strcmp(emit, "dot"))
        nc_print_dot(stdout, &u.g, u.entries, u.n_entries);
    else if (emit)
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
    for (int i = 0; i < n_defs; i++)
        free((char *)defs[i].name);
    return status;
}
