/* option_stmt.c — the `option KEY = VALUE` statement: a setting for netrun
 * (how to size, normalize, sample the data...) stored in the graph's options
 * table (nc_graph_set_option, emitted into the .netg).  KEY must be a row of
 * runtime/graph/options.def; VALUE (a number, a name, a string, true/false or a
 * list of numbers; consts allowed) is checked by the same code netrun uses
 * for --set (nr_option_check), so both accept the same values. */
#include "elab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

/* Where each key was set, for "set twice" (in the arena). */
typedef struct el_option_seen {
    const char *key;
    nc_loc loc;
    struct el_option_seen *next;
} el_option_seen;

/* The shortest %g form of x that reads back as x (0.1, not 0.10000000000000001). */
static void num_text(char *buf, size_t n, double x)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* v as option text: numbers in their shortest exact form, lists "a,b,c".  0, or -1 after an
 * error at v's location. */
static int option_text(elab *E, const char *key, const value *v, char *buf, size_t n)
{
    switch (v->k) {
    case V_NUM:
        num_text(buf, n, v->num);
        return 0;
    case V_BOOL:
        snprintf(buf, n, "%s", v->num != 0 ? "true" : "false");
        return 0;
    case V_STR:
    case V_SYM:
        if (strlen(v->s) >= n) {
            el_error(E, v->loc, "option '%s': value too long", key);
            return -1;
        }
        snprintf(buf, n, "%s", v->s);
        return 0;
    case V_LIST: {
        size_t used = 0;
        buf[0] = 0;
        for (int i = 0; i < v->n; i++) {
            if (v->items[i].k != V_NUM) {
                el_error(E, v->items[i].loc, "option '%s': a list holds numbers only, not %s", key,
                         el_kind_name(&v->items[i]));
                return -1;
            }
            char t[32];
            num_text(t, sizeof t, v->items[i].num);
            used += (size_t)snprintf(buf + used, used < n ? n - used : 0, "%s%s", i ? "," : "", t);
        }
        if (v->n == 0 || used >= n) {
            el_error(E, v->loc, "option '%s': %s list", key, v->n ? "too long a" : "an empty");
            return -1;
        }
        return 0;
    }
    default:
        el_error(E, v->loc, "option '%s' takes a number, a name, a string or a list of numbers, not %s", key,
                 el_kind_name(v));
        return -1;
    }
}

void el_exec_option(elab *E, const nc_stmt *s)
{
    if (E->top->fn) {
        el_error(E, s->loc, "'option' is only allowed at top level");
        return;
    }
    char msg[1024], text[NG_MAX_STRING], canon[NG_MAX_STRING];
    if (!nr_option_find(s->name)) {
        nr_option_check(s->name, "", canon, sizeof canon, msg, sizeof msg);
        el_error(E, s->name_loc, "%s", msg);
        return;
    }
    for (el_option_seen *o = E->options_seen; o; o = o->next)
        if (strcmp(o->key, s->name) == 0) {
            el_error(E, s->name_loc, "option '%s' is already set (line %d)", s->name, o->loc.first_line);
            return;
        }
    /* A bare name is a const's value, else the name itself (`size = pad`,
     * though pad is also a builtin). */
    value v;
    if (s->value->kind == NC_E_NAME && el_find_builtin(s->value->name)) {
        v = (value){0};
        v.k = V_SYM;
        v.s = s->value->name;
        v.loc = s->value->loc;
    } else
        v = el_eval(E, s->value);
    if (v.k == V_ERR)
        return;
    if (option_text(E, s->name, &v, text, sizeof text) != 0)
        return;
    if (nr_option_check(s->name, text, canon, sizeof canon, msg, sizeof msg) != 0) {
        el_error(E, s->value->loc, "%s", msg);
        return;
    }
    el_option_seen *seen = nc_arena_alloc(E->a, sizeof *seen);
    seen->key = s->name;
    seen->loc = s->name_loc;
    seen->next = E->options_seen;
    E->options_seen = seen;
    nc_graph_set_option(E->g, s->name, canon);
}
