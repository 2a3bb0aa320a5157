/* options.c — the option table (options.def), value checks and reads. */
#include "options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const nr_option_info nr_option_table[] = {
#define OPTION(name, kind, scope, def, range, doc) {#name, NR_OPT_##kind, NR_OPT_##scope, def, range, doc},
#include "options.def"
#undef OPTION
};
const int nr_option_count = (int)(sizeof nr_option_table / sizeof *nr_option_table);

const nr_option_info *nr_option_find(const char *key)
{
    for (int i = 0; key && i < nr_option_count; i++)
        if (strcmp(nr_option_table[i].name, key) == 0)
            return &nr_option_table[i];
    return NULL;
}

/* "lo..hi" of a row into *lo, *hi. */
static void range_of(const nr_option_info *o, double *lo, double *hi)
{
    *lo = -INFINITY, *hi = INFINITY;
    const char *dots = strstr(o->range, "..");
    if (!dots)
        return;
    *lo = strtod(o->range, NULL);
    *hi = strtod(dots + 2, NULL);
}

/* One number at *p (after blanks); advances *p.  0 or -1. */
static int read_num(const char **p, double *out)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
    char *end;
    double x = strtod(*p, &end);
    if (end == *p || !isfinite(x))
        return -1;
    *p = end;
    while (**p == ' ' || **p == '\t')
        (*p)++;
    *out = x;
    return 0;
}

static const char *kind_words(const nr_option_info *o, char *buf, size_t n)
{
    switch (o->kind) {
    case NR_OPT_NUM: snprintf(buf, n, "a number in %s", o->range); break;
    case NR_OPT_INT: snprintf(buf, n, "an integer in %s", o->range); break;
    case NR_OPT_NUMS: snprintf(buf, n, "a number or a list of 1..%d numbers, each in %s", NR_OPTION_MAX_NUMS, o->range); break;
    case NR_OPT_BOOL: snprintf(buf, n, "true or false"); break;
    case NR_OPT_STR: snprintf(buf, n, "a string"); break;
    case NR_OPT_CHOICE: {
        /* "a, b or c" */
        size_t used = 0;
        buf[0] = 0;
        const char *s = o->range;
        int k = 0, total = 1;
        for (const char *q = s; *q; q++)
            total += *q == '|';
        while (*s && used + 1 < n) {
            const char *bar = strchr(s, '|');
            size_t len = bar ? (size_t)(bar - s) : strlen(s);
            used += (size_t)snprintf(buf + used, n - used, "%s%.*s", k == 0 ? "" : k == total - 1 ? " or " : ", ",
                                     (int)len, s);
            k++;
            if (!bar)
                break;
            s = bar + 1;
        }
        break;
    }
    }
    return buf;
}

static int is_choice(const nr_option_info *o, const char *v)
{
    size_t n = strlen(v);
    for (const char *s = o->range; *s;) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        if (len == n && n > 0 && memcmp(s, v, n) == 0)
            return 1;
        if (!bar)
            break;
        s = bar + 1;
    }
    return 0;
}

/* Levenshtein distance of a and b, capped at 3. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 3;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int x = d[i - 1][j] + 1, y = d[i][j - 1] + 1, z = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            d[i][j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
        }
    return d[la][lb] < 3 ? d[la][lb] : 3;
}

/* The known option closest to key (at most 2 edits), or NULL. */
static const char *nearest(const char *key)
{
    const char *best = NULL;
    int bd = 3;
    for (int i = 0; i < nr_option_count; i++) {
        int d = distance(key, nr_option_table[i].name);
        if (d < bd)
            bd = d, best = nr_option_table[i].name;
    }
    return best;
}

int nr_option_check(const char *key, const char *value, char *canon, size_t canonlen, char *err,
                    size_t errlen)
{
    const nr_option_info *o = nr_option_find(key);
    char words[512];
    if (!o) {
        const char *near = nearest(key ? key : "");
        if (near)
            return ng_fail(err, errlen, "unknown option '%s' (did you mean '%s'? netrun info lists them all)", key,
                           near);
        return ng_fail(err, errlen, "unknown option '%s' (netrun info lists them all; runtime/graph/options.def)",
                       key ? key : "");
    }
    if (!value)
        value = "";
    double lo, hi;
    range_of(o, &lo, &hi);
    switch (o->kind) {
    case NR_OPT_NUM:
    case NR_OPT_INT: {
        const char *p = value;
        double x;
        if (read_num(&p, &x) != 0 || *p || x < lo || x > hi || (o->kind == NR_OPT_INT && x != floor(x)))
            return ng_fail(err, errlen, "option '%s' takes %s, not '%s'", key, kind_words(o, words, sizeof words),
                           value);
        snprintf(canon, canonlen, "%.9g", x);
        return 0;
    }
    case NR_OPT_NUMS: {
        const char *p = value;
        while (*p == ' ' || *p == '\t')
            p++;
        int bracket = *p == '[';
        if (bracket)
            p++;
        size_t used = 0;
        int n = 0;
        canon[0] = 0;
        for (;;) {
            double x;
            if (read_num(&p, &x) != 0 || x < lo || x > hi || n == NR_OPTION_MAX_NUMS)
                return ng_fail(err, errlen, "option '%s' takes %s, not '%s'", key,
                               kind_words(o, words, sizeof words), value);
            used += (size_t)snprintf(canon + used, used < canonlen ? canonlen - used : 0, "%s%.9g", n ? "," : "", x);
            n++;
            if (*p == ',') {
                p++;
                continue;
            }
            break;
        }
        if (bracket && *p == ']')
            p++, bracket = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (bracket || *p || used >= canonlen)
            return ng_fail(err, errlen, "option '%s' takes %s, not '%s'", key, kind_words(o, words, sizeof words),
                           value);
        return 0;
    }
    case NR_OPT_CHOICE:
        if (!is_choice(o, value))
            return ng_fail(err, errlen, "option '%s' takes %s, not '%s'", key, kind_words(o, words, sizeof words),
                           value);
        snprintf(canon, canonlen, "%s", value);
        return 0;
    case NR_OPT_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            snprintf(canon, canonlen, "true");
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            snprintf(canon, canonlen, "false");
        else
            return ng_fail(err, errlen, "option '%s' takes true or false, not '%s'", key, value);
        return 0;
    case NR_OPT_STR:
        if (strlen(value) >= canonlen || strlen(value) >= NG_MAX_STRING)
            return ng_fail(err, errlen, "option '%s': value too long", key);
        snprintf(canon, canonlen, "%s", value);
        return 0;
    }
    return ng_fail(err, errlen, "option '%s': bad kind", key);
}

int nr_option_set(ng_graph *g, const char *key, const char *value, char *err, size_t errlen)
{
    char canon[NG_MAX_STRING];
    if (nr_option_check(key, value, canon, sizeof canon, err, errlen) != 0)
        return -1;
    char *v = strdup(canon);
    if (!v)
        return ng_fail(err, errlen, "out of memory");
    for (int32_t i = 0; i < g->n_options; i++)
        if (strcmp(g->options[i].key, key) == 0) {
            free(g->options[i].value);
            g->options[i].value = v;
            return 0;
        }
    if (g->n_options >= NG_MAX_OPTIONS) {
        free(v);
        return ng_fail(err, errlen, "more than %d options", NG_MAX_OPTIONS);
    }
    ng_option *o = realloc(g->options, sizeof *o * (size_t)(g->n_options + 1));
    char *k = strdup(key);
    if (!o || !k) {
        if (o)
            g->options = o;
        free(v);
        free(k);
        return ng_fail(err, errlen, "out of memory");
    }
    g->options = o;
    g->options[g->n_options++] = (ng_option){k, v};
    return 0;
}

int nr_option_set_arg(ng_graph *g, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return ng_fail(err, errlen, "--set takes KEY=VALUE, not '%s'", arg);
    char key[256];
    if ((size_t)(eq - arg) >= sizeof key)
        return ng_fail(err, errlen, "--set: option name too long in '%s'", arg);
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = 0;
    return nr_option_set(g, key, eq + 1, err, errlen);
}

int nr_options_check_graph(const ng_graph *g, char *err, size_t errlen)
{
    char canon[NG_MAX_STRING], msg[1024];
    for (int32_t i = 0; i < g->n_options; i++)
        if (nr_option_check(g->options[i].key, g->options[i].value, canon, sizeof canon, msg, sizeof msg) != 0)
            return ng_fail(err, errlen, "%s: %s", g->source ? g->source : "graph", msg);
    return 0;
}

const char *nr_option(const ng_graph *g, const char *key)
{
    const nr_option_info *o = nr_option_find(key);
    if (!o)
        return NULL;
    const char *v = g ? ng_graph_option(g, key) : NULL;
    return v ? v : o->def;
}

double nr_option_num(const ng_graph *g, const char *key)
{
    const nr_option_info *o = nr_option_find(key);
    const char *v = nr_option(g, key);
    if (!o || !v)
        return NAN;
    if (o->kind == NR_OPT_BOOL)
        return strcmp(v, "true") == 0;
    return strtod(v, NULL);
}

int nr_option_is(const ng_graph *g, const char *key, const char *choice)
{
    const char *v = nr_option(g, key);
    return v && strcmp(v, choice) == 0;
}

int nr_option_nums(const ng_graph *g, const char *key, double *out, int max)
{
    const char *v = nr_option(g, key);
    if (!v)
        return -1;
    int n = 0;
    const char *p = v;
    while (*p == ' ' || *p == '[')
        p++;
    for (;;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p)
            break;
        if (n < max)
            out[n] = x;
        n++;
        p = end;
        while (*p == ' ')
            p++;
        if (*p != ',')
            break;
        p++;
    }
    return n;
}

int nr_option_given(const ng_graph *g, const char *key)
{
    return g && ng_graph_option(g, key) != NULL;
}

void nr_options_print(FILE *f, const ng_graph *g)
{
    for (int i = 0; i < nr_option_count; i++) {
        const char *k = nr_option_table[i].name;
        fprintf(f, "  %-16s = %-12s%s\n", k, nr_option(g, k), nr_option_given(g, k) ? "" : "  (default)");
    }
}

int nr_options_train_record(const ng_graph *g, char *out, size_t len)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < nr_option_count; i++) {
        const nr_option_info *o = &nr_option_table[i];
        if (o->scope != NR_OPT_TRAIN)
            continue;
        int w = snprintf(out + n, len - n, "%s%s=%s", n ? ";" : "", o->name, nr_option(g, o->name));
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
    }
    return 0;
}

int nr_options_train_diff(const ng_graph *g, const char *record, char *was, size_t wlen, char *now,
                          size_t nlen)
{
    int diff = 0;
    size_t nw = 0, nn = 0;
    was[0] = now[0] = 0;
    for (const char *p = record; *p;) {
        const char *end = strchr(p, ';'), *eq = strchr(p, '=');
        if (!end)
            end = p + strlen(p);
        if (eq && eq < end && (size_t)(eq - p) < 64) {
            char key[64];
            memcpy(key, p, (size_t)(eq - p));
            key[eq - p] = 0;
            const char *cur = nr_option(g, key); /* NULL: an option this netrun does not know */
            size_t vl = (size_t)(end - eq - 1);
            if (cur && (strlen(cur) != vl || strncmp(cur, eq + 1, vl) != 0)) {
                int a = snprintf(was + nw, wlen - nw, " --set %s=%.*s", key, (int)vl, eq + 1);
                int b = snprintf(now + nn, nlen - nn, " --set %s=%s", key, cur);
                if (a > 0 && (size_t)a < wlen - nw)
                    nw += (size_t)a;
                if (b > 0 && (size_t)b < nlen - nn)
                    nn += (size_t)b;
                diff++;
            }
        }
        p = *end ? end + 1 : end;
    }
    return diff;
}
