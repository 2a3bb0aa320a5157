/* json.h — a small strict JSON reader for the run folder's files
 * (metrics.jsonl lines, run.json) that netrun report reads back.  One parse
 * makes one tree in one allocation pool, freed by nr_json_free. */
#ifndef NR_JSON_H
#define NR_JSON_H

#include <stddef.h>
#include <stdio.h>

enum { NR_JSON_NULL, NR_JSON_BOOL, NR_JSON_NUM, NR_JSON_STR, NR_JSON_ARR, NR_JSON_OBJ };

typedef struct nr_json nr_json;
struct nr_json {
    int type;
    double num;          /* NUM: finite (a number past the range of a double is refused); BOOL: 0 or 1 */
    char *str;           /* STR: UTF-8, NUL-terminated (\u0000 and bytes that are not UTF-8 are refused) */
    char *key;           /* the member name when inside an object, else NULL */
    int n;               /* ARR/OBJ: number of items */
    nr_json **items;     /* ARR/OBJ: the items in order */
};

/* Parse text (len bytes; it need not end in a NUL): the tree, or NULL with
 * "line:col: why" in err.  Depth is limited to 64. */
nr_json *nr_json_parse(const char *text, size_t len, char *err, size_t errlen);
void nr_json_free(nr_json *j);

/* For JSON string decoders (this one and safetensors.c's header parser):
 * the hex digits of a \u escape at p (n bytes there): how many of the first
 * 4 are hex digits, stopping at the first that is not (4: all, their value
 * in *u); and code point u (< 0x110000) as UTF-8 at w, returning the end. */
int nr_json_hex4(const char *p, size_t n, unsigned *u);
char *nr_json_utf8(char *w, unsigned u);

/* The length of the UTF-8 sequence at p (1 to 4 bytes, well formed: no
 * overlong form, surrogate or code point past U+10FFFF), 0 when p starts
 * none. */
int nr_json_utf8_len(const unsigned char *p);
/* s as a JSON string; '<', '>', '&' as \u00XX so that neither "</script>"
 * nor "<!--" can end or change an HTML script block it is in; bytes that are
 * not UTF-8 as \ufffd; NULL as null. */
void nr_json_put_str(FILE *f, const char *s);

/* The member key of an object (NULL when j is no object or lacks it). */
const nr_json *nr_json_get(const nr_json *j, const char *key);
/* A number: NUM or BOOL as double; null, missing or another type: NAN. */
double nr_json_num(const nr_json *j);
/* 1 with *v when j is a NUM of an integer value in lo..hi (both within
 * +-2^53, where doubles hold every integer), else 0 (*v unchanged). */
int nr_json_int(const nr_json *j, long long lo, long long hi, long long *v);
/* Item i of an array, NULL out of range or for a non-array. */
const nr_json *nr_json_at(const nr_json *j, int i);
/* Items of an array or object, 0 otherwise. */
int nr_json_len(const nr_json *j);

#endif
