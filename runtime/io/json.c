/* json.c — nr_json_*: recursive descent over RFC 8259 JSON into a tree.
 * Every node and string lives in one list of blocks owned by the root. */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
} block;

typedef struct {
    const char *s, *end, *p;
    block *blocks;   /* every allocation of this parse */
    int depth;
    char *err;
    size_t errlen;
    int failed;
} parser;

/* the root node is preceded by its block list, so nr_json_free finds it */
typedef struct {
    block *blocks;
    nr_json root;
} root_box;

static void *palloc(parser *ps, size_t n)
{
    block *b = malloc(sizeof(block) + n);
    if (!b)
        return NULL;
    b->next = ps->blocks;
    ps->blocks = b;
    return b + 1;
}

static void perr(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(parser *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    int line = 1, col = 1;
    for (const char *q = ps->s; q < ps->p; q++)
        if (*q == '\n')
            line++, col = 1;
        else
            col++;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%d:%d: %s", line, col, msg);
}

static void ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int lit(parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, w, n)) {
        ps->p += n;
        return 1;
    }
    return 0;
}

int nr_json_hex4(const char *p, size_t n, unsigned *u)
{
    *u = 0;
    for (int i = 0; i < 4; i++) {
        char c = (size_t)i < n ? p[i] : 0;
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return i;
        *u = *u << 4 | (unsigned)v;
    }
    return 4;
}

char *nr_json_utf8(char *w, unsigned u)
{
    if (u < 0x80) {
        *w++ = (char)u;
    } else if (u < 0x800) {
        *w++ = (char)(0xC0 | u >> 6), *w++ = (char)(0x80 | (u & 63));
    } else if (u < 0x10000) {
        *w++ = (char)(0xE0 | u >> 12), *w++ = (char)(0x80 | (u >> 6 & 63)), *w++ = (char)(0x80 | (u & 63));
    } else {
        *w++ = (char)(0xF0 | u >> 18), *w++ = (char)(0x80 | (u >> 12 & 63));
        *w++ = (char)(0x80 | (u >> 6 & 63)), *w++ = (char)(0x80 | (u & 63));
    }
    return w;
}

/* 4 hex digits at the cursor, consumed; -1 (the cursor at the first that
 * is not one) when there are not. */
static int hex4(parser *ps, unsigned *u)
{
    int k = nr_json_hex4(ps->p, (size_t)(ps->end - ps->p), u);
    ps->p += k;
    return k == 4 ? 0 : -1;
}

static char *string(parser *ps)
{
    ps->p++; /* the opening quote */
    const char *q = ps->p;
    size_t n = 0;
    while (q < ps->end && *q != '"') { /* an upper bound of the decoded length */
        if (*q == '\\')
            q++;
        q++;
        n++;
    }
    char *out = palloc(ps, n * 4 + 1), *o = out;
    if (!out) {
        perr(ps, "out of memory");
        return NULL;
    }
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            ps->p--;
            perr(ps, "control character in a string");
            return NULL;
        }
        if (c >= 0x80) { /* a UTF-8 sequence, whole and well formed, copied as it is */
            unsigned char seq[4] = {0};
            size_t have = (size_t)(ps->end - --ps->p);
            memcpy(seq, ps->p, have < 4 ? have : 4);
            int k = nr_json_utf8_len(seq);
            if (!k) {
                perr(ps, "a byte that is not UTF-8 (0x%02X) in a string", c);
                return NULL;
            }
            memcpy(o, seq, (size_t)k);
            o += k, ps->p += k;
            continue;
        }
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (ps->p >= ps->end)
            break;
        char e = *ps->p++;
        const char *map = e ? strchr("\"\"\\\\//b\bf\fn\nr\rt\t", e) : NULL;
        if (e == 'u') {
            unsigned u;
            if (hex4(ps, &u) != 0) {
                perr(ps, "bad \\u escape");
                return NULL;
            }
            if (u >= 0xD800 && u < 0xDC00) {
                unsigned lo;
                if (!lit(ps, "\\u") || hex4(ps, &lo) != 0 || lo < 0xDC00 || lo >= 0xE000) {
                    perr(ps, "unpaired surrogate");
                    return NULL;
                }
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            } else if (u >= 0xDC00 && u < 0xE000) {
                perr(ps, "unpaired surrogate");
                return NULL;
            }
            if (u == 0) {
                perr(ps, "\\u0000 in a string");
                return NULL;
            }
            o = nr_json_utf8(o, u);
        } else if (map && (map - "\"\"\\\\//b\bf\fn\nr\rt\t") % 2 == 0) {
            *o++ = map[1];
        } else {
            ps->p--;
            perr(ps, "bad escape '\\%c'", e);
            return NULL;
        }
    }
    if (ps->p >= ps->end) {
        perr(ps, "unterminated string");
        return NULL;
    }
    ps->p++;
    *o = 0;
    return out;
}

static nr_json *value(parser *ps, nr_json *into);

/* items of an array or object, collected in a growing list */
static int items(parser *ps, nr_json *j, char close, int object)
{
    int cap = 0;
    ps->p++;
    ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        if (object) {
            ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                perr(ps, "expected a member name");
                return -1;
            }
            if (!(key = string(ps)))
                return -1;
            ws(ps);
            if (!lit(ps, ":")) {
                perr(ps, "expected ':'");
                return -1;
            }
        }
        if (j->n == cap) {
            cap = cap ? 2 * cap : 8;
            nr_json **grown = palloc(ps, (size_t)cap * sizeof *grown);
            if (!grown) {
                perr(ps, "out of memory");
                return -1;
            }
            if (j->n)
                memcpy(grown, j->items, (size_t)j->n * sizeof *grown);
            j->items = grown;
        }
        nr_json *v = value(ps, NULL);
        if (!v)
            return -1;
        v->key = key;
        j->items[j->n++] = v;
        ws(ps);
        if (lit(ps, ","))
            continue;
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        perr(ps, "expected ',' or '%c'", close);
        return -1;
    }
}

static nr_json *value(parser *ps, nr_json *into)
{
    ws(ps);
    nr_json *j = into ? into : palloc(ps, sizeof *j);
    if (!j) {
        perr(ps, "out of memory");
        return NULL;
    }
    memset(j, 0, sizeof *j);
    if (ps->p >= ps->end) {
        perr(ps, "unexpected end of input");
        return NULL;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        if (++ps->depth > 64) {
            perr(ps, "nested deeper than 64");
            return NULL;
        }
        j->type = c == '{' ? NR_JSON_OBJ : NR_JSON_ARR;
        if (items(ps, j, c == '{' ? '}' : ']', c == '{') != 0)
            return NULL;
        ps->depth--;
    } else if (c == '"') {
        j->type = NR_JSON_STR;
        if (!(j->str = string(ps)))
            return NULL;
    } else if (lit(ps, "null")) {
        j->type = NR_JSON_NULL;
    } else if (lit(ps, "true") || lit(ps, "false")) {
        j->type = NR_JSON_BOOL;
        j->num = ps->p[-1] == 'e' && ps->p[-2] == 'u';
    } else {
        /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
        const char *q = ps->p;
        if (q < ps->end && *q == '-')
            q++;
        int digits = 0;
        if (q < ps->end && *q == '0')
            q++, digits = 1;
        else
            while (q < ps->end && *q >= '0' && *q <= '9')
                q++, digits++;
        if (digits && q < ps->end && *q == '.') {
            q++;
            int frac = 0;
            while (q < ps->end && *q >= '0' && *q <= '9')
                q++, frac++;
            digits = frac;
        }
        if (digits && q < ps->end && (*q == 'e' || *q == 'E')) {
            q++;
            if (q < ps->end && (*q == '+' || *q == '-'))
                q++;
            int ex = 0;
            while (q < ps->end && *q >= '0' && *q <= '9')
                q++, ex++;
            digits = ex;
        }
        if (!digits) {
            perr(ps, "expected a value");
            return NULL;
        }
        char buf[64];
        if (q - ps->p >= (long)sizeof buf) {
            perr(ps, "number too long");
            return NULL;
        }
        memcpy(buf, ps->p, (size_t)(q - ps->p));
        buf[q - ps->p] = 0;
        j->type = NR_JSON_NUM;
        j->num = strtod(buf, NULL);
        if (!isfinite(j->num)) {
            perr(ps, "number out of range (%s)", buf);
            return NULL;
        }
        ps->p = q;
    }
    return j;
}

nr_json *nr_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    parser ps = {text, text + len, text, NULL, 0, err, errlen, 0};
    root_box *box = malloc(sizeof *box);
    if (!box) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    nr_json *j = value(&ps, &box->root);
    if (j) {
        ws(&ps);
        if (ps.p != ps.end) {
            perr(&ps, "text after the value");
            j = NULL;
        }
    }
    box->blocks = ps.blocks;
    if (!j) {
        nr_json_free(&box->root);
        return NULL;
    }
    return j;
}

void nr_json_free(nr_json *j)
{
    if (!j)
        return;
    root_box *box = (root_box *)((char *)j - offsetof(root_box, root));
    for (block *b = box->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(box);
}

const nr_json *nr_json_get(const nr_json *j, const char *key)
{
    if (!j || j->type != NR_JSON_OBJ)
        return NULL;
    for (int i = 0; i < j->n; i++)
        if (!strcmp(j->items[i]->key, key))
            return j->items[i];
    return NULL;
}

double nr_json_num(const nr_json *j)
{
    return j && (j->type == NR_JSON_NUM || j->type == NR_JSON_BOOL) ? j->num : NAN;
}

int nr_json_int(const nr_json *j, long long lo, long long hi, long long *v)
{
    if (!j || j->type != NR_JSON_NUM || j->num != floor(j->num) || !(j->num >= (double)lo && j->num <= (double)hi))
        return 0;
    *v = (long long)j->num;
    return 1;
}

const nr_json *nr_json_at(const nr_json *j, int i)
{
    return j && j->type == NR_JSON_ARR && i >= 0 && i < j->n ? j->items[i] : NULL;
}

int nr_json_len(const nr_json *j)
{
    return j && (j->type == NR_JSON_ARR || j->type == NR_JSON_OBJ) ? j->n : 0;
}

int nr_json_utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    int n = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) || (p[0] == 0xF0 && p[1] < 0x90) ||
        (p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

void nr_json_put_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = nr_json_utf8_len(p);
        if (!n)
            fputs("\\ufffd", f);
        else if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&')
            fprintf(f, "\\u%04x", *p);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n ? n : 1;
    }
    fputc('"', f);
}
