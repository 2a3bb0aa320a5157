/* report_text.c — the report's text output: HTML escapes, numbers
 * as the page and its JSON show them, colours as HTML (report_int.h). */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void rp_esc(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
        int n = nr_json_utf8_len(p);
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
        nr_json_put_str(f, j->str);
    } else {
        int obj = j->type == NR_JSON_OBJ;
        fputc(obj ? '{' : '[', f);
        for (int i = 0; i < j->n; i++) {
            if (i)
                fputc(',', f);
            if (obj) {
                nr_json_put_str(f, j->items[i]->key);
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
