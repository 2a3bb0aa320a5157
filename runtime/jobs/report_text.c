/* report_text.c — the report's text output: HTML and JSON escapes, numbers
 * as the page and its JSON show them, colours as HTML (report_int.h). */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The length of the UTF-8 sequence at p (1 to 4 bytes, well formed: no
 * overlong form, surrogate or code point past U+10FFFF), 0 when p starts
 * none. */
static int utf8_len(const unsigned char *p)
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

void rp_esc(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
        int n = utf8_len(p);
        switch (n ? *p : 0) {
        case 0: fputs("\xEF\xBF\xBD", f); break; /* U+FFFD for a byte that is not UTF-8 */
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fwrite(p, 1, (size_t)n, f);
        }
        p += n ? n : 1;
    }
}

void rp_jstr(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_len(p);
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

void rp_jvalue(FILE *f, const nr_json *j)
{
    if (!j || j->type == NR_JSON_NULL) {
        fputs("null", f);
    } else if (j->type == NR_JSON_BOOL) {
        fputs(j->num ? "true" : "false", f);
    } else if (j->type == NR_JSON_NUM) {
        char buf[32];
        for (int prec = 1; prec <= 17; prec++) { /* the shortest that reads back */
            snprintf(buf, sizeof buf, "%.*g", prec, j->num);
            if (strtod(buf, NULL) == j->num)
                break;
        }
        fputs(isfinite(j->num) ? buf : "null", f);
    } else if (j->type == NR_JSON_STR) {
        rp_jstr(f, j->str);
    } else {
        int obj = j->type == NR_JSON_OBJ;
        fputc(obj ? '{' : '[', f);
        for (int i = 0; i < j->n; i++) {
            if (i)
                fputc(',', f);
            if (obj) {
                rp_jstr(f, j->items[i]->key);
                fputc(':', f);
            }
            rp_jvalue(f, j->items[i]);
        }
        fputc(obj ? '}' : ']', f);
    }
}

void rp_jnum(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

void rp_num4(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.4f", v);
    else
        fputs("-", f);
}

void rp_rgb_hex(char *buf, const uint8_t c[3]) { sprintf(buf, "#%02x%02x%02x", c[0], c[1], c[2]); }
