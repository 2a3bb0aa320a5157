/* report_text.c — the report's text output: HTML escapes, numbers
 * as the page and its JSON show them, colours as HTML (report_int.h). */
#include "report_int.h"

#include <math.h>
#include <stdio.h>

void rp_esc(FILE *f, const char *s)
{
    for (; s && *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
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
