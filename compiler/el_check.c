/* el_check.c — the elaborator's diagnostics (el_error, with the call chain)
 * and the argument checks every builtin and layer uses (el_want_*): a
 * value of the wrong kind or out of range is one error naming the
 * function, the argument and what was given. */
#include "elab.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void verror(elab *E, nc_loc loc, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    nc_diag_error(E->d, loc, "%s", msg);
    /* the call chain, innermost first; a recursion's repeated frames fold */
    int shown = 0;
    for (frame *f = E->top; f && f->fn; f = f->parent) {
        int repeats = 0;
        while (f->parent && f->parent->fn && f->parent->fn == f->fn &&
               f->parent->call_loc.first_line == f->call_loc.first_line &&
               f->parent->call_loc.first_col == f->call_loc.first_col) {
            f = f->parent;
            repeats++;
        }
        char where[256];
        nc_loc_str(E->d, f->call_loc, where, sizeof where);
        if (++shown > 12) {
            nc_diag_note(E->d, "...");
            break;
        }
        if (repeats)
            nc_diag_note(E->d, "in %s() called from %s (%d times)", f->fn, where, repeats + 1);
        else
            nc_diag_note(E->d, "in %s() called from %s", f->fn, where);
    }
    /* then the imports that led here */
    for (import_frame *f = E->imports; f && f->up; f = f->up) {
        char where[256];
        nc_loc_str(E->d, f->loc, where, sizeof where);
        nc_diag_note(E->d, "in %s imported from %s", f->shown, where);
    }
}

void el_error(elab *E, nc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(E, loc, fmt, ap);
    va_end(ap);
}

const char *el_kind_name(const value *v)
{
    switch (v->k) {
    case V_NONE: return "nothing";
    case V_ERR: return "error";
    case V_NUM: return v->is_int ? "an integer" : "a number";
    case V_BOOL: return "a boolean";
    case V_STR: return "a string";
    case V_SYM: return "a name";
    case V_TENSOR: return "a tensor";
    case V_LIST: return "a list";
    }
    return "?";
}

/* A symbol reaching a place that needs a value is an undefined name. */
int el_check_defined(elab *E, const value *v, const char *what)
{
    if (v->k == V_ERR)
        return 0;
    if (v->k == V_SYM) {
        el_error(E, v->loc, "undefined name '%s'%s%s", v->s, what ? " in " : "", what ? what : "");
        return 0;
    }
    return 1;
}

/* v is defined and, ok, of the kind wanted; else an error naming it
 * argument arg of fn ("... must be KIND, got ..."). */
static int want_arg(elab *E, const value *v, const char *fn, const char *arg, int ok, const char *kind)
{
    char what[128];
    snprintf(what, sizeof what, "argument '%s' of %s", arg, fn);
    if (!el_check_defined(E, v, what))
        return 0;
    if (!ok)
        el_error(E, v->loc, "%s: argument '%s' must be %s, got %s", fn, arg, kind, el_kind_name(v));
    return ok;
}

int el_want_tensor(elab *E, const value *v, const char *fn, const char *arg)
{
    return want_arg(E, v, fn, arg, v->k == V_TENSOR, "a tensor");
}

int el_want_int(elab *E, const value *v, const char *fn, const char *arg, int lo, int hi, int *out)
{
    if (!want_arg(E, v, fn, arg, v->k == V_NUM && v->is_int, "an integer"))
        return 0;
    if (v->num < lo || v->num > hi) {
        el_error(E, v->loc, "%s: argument '%s' is %.0f, expected %d..%d", fn, arg, v->num, lo, hi);
        return 0;
    }
    *out = (int)v->num;
    return 1;
}

int el_want_num(elab *E, const value *v, const char *fn, const char *arg, double *out)
{
    if (!want_arg(E, v, fn, arg, v->k == V_NUM, "a number"))
        return 0;
    *out = v->num;
    return 1;
}

/* A symbol from a fixed set (strings are accepted too). */
int el_want_choice(elab *E, const value *v, const char *fn, const char *arg,
                       const char *const *choices, int *out)
{
    if (v->k == V_ERR)
        return 0;
    if (v->k == V_SYM || v->k == V_STR) {
        for (int i = 0; choices[i]; i++)
            if (strcmp(v->s, choices[i]) == 0) {
                *out = i;
                return 1;
            }
    }
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        strncat(list, i ? (choices[i + 1] ? ", " : " or ") : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    if (v->k == V_SYM || v->k == V_STR)
        el_error(E, v->loc, "%s: unknown %s '%s' (expected %s)", fn, arg, v->s, list);
    else
        el_error(E, v->loc, "%s: argument '%s' must be one of %s, got %s", fn, arg, list, el_kind_name(v));
    return 0;
}
