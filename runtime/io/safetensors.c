/* safetensors.c — nr_st_*: atomic safetensors writer and a validating reader.
 * The reader's JSON parser is strict and handles just the subset the format
 * uses: one object of tensor objects (a dtype string and two integer arrays)
 * plus an optional "__metadata__" object of strings.  Strings are decoded in
 * place in the header buffer, which the loaded file keeps. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"
#include "json.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c stores tensor data as is: a little-endian host is needed"
#endif

#define ST_MAX_HEADER (100u << 20) /* bytes; the Python library's limit too */

struct nr_st_file {
    int n;
    nr_st_tensor *t;   /* (n) in header order; names point into header */
    const nr_st_tensor **by_name; /* (n) sorted by name, for nr_st_find */
    int n_meta;
    const char **meta; /* (2*n_meta) key, value, ... sorted by key; into header */
    char *header;      /* decoded header text */
    void *data;        /* all tensor data, each tensor 8-byte aligned */
};

const char *nr_st_dtype_name(int dtype)
{
    switch (dtype) {
    case NR_ST_F32: return "F32";
    case NR_ST_I32: return "I32";
    case NR_ST_I64: return "I64";
    default: return "?";
    }
}

int nr_st_dtype_size(int dtype)
{
    switch (dtype) {
    case NR_ST_F32: return 4;
    case NR_ST_I32: return 4;
    case NR_ST_I64: return 8;
    default: return 0;
    }
}

/* Bytes of a tensor of this dtype and shape into *bytes; -1 on a negative dim
 * or overflow past INT64_MAX. */
static int tensor_bytes(int dtype, int ndim, const int64_t *dim, int64_t *bytes)
{
    int64_t b = nr_st_dtype_size(dtype);
    for (int k = 0; k < ndim; k++)
        if (dim[k] < 0 || !ng_mul_checked(&b, dim[k]))
            return -1;
    *bytes = b;
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

static void sb_str(ng_buf *b, const char *s)
{
    ng_buf_put(b, s, strlen(s));
}

static void sb_int(ng_buf *b, int64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    sb_str(b, tmp);
}

/* s as a JSON string literal: quotes, backslashes and control characters
 * escaped; other bytes (UTF-8) as they are. */
static void sb_json(ng_buf *b, const char *s)
{
    ng_buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c;
            ng_buf_put(b, tmp, 2);
        } else if (c == '\n') {
            ng_buf_put(b, "\\n", 2);
        } else if (c == '\t') {
            ng_buf_put(b, "\\t", 2);
        } else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            ng_buf_put(b, tmp, 6);
        } else {
            ng_buf_put(b, s, 1);
        }
    }
    ng_buf_put(b, "\"", 1);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Check the tensors, and build the header into hdr (padded with spaces to a
 * multiple of 8).  0 or -1 with err. */
static int build_header(const char *path, int n, const nr_st_tensor *ts,
                        int n_meta, const char *const *meta_kv, ng_buf *hdr,
                        char *err, size_t errlen)
{
    if (n < 0 || n_meta < 0 || (n > 0 && !ts) || (n_meta > 0 && !meta_kv)) {
        ng_fail(err, errlen, "%s: bad arguments (%d tensors, %d metadata)",
                path, n, n_meta);
        return -1;
    }
    for (int k = 0; k < 2 * n_meta; k++)
        if (!meta_kv[k]) {
            ng_fail(err, errlen, "%s: metadata %s %d is NULL", path,
                    k % 2 ? "value" : "key", k / 2);
            return -1;
        }
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const nr_st_tensor *t = &ts[i];
        int64_t bytes;
        const char *name = t->name ? t->name : "(null)";
        if (!t->name || strcmp(t->name, "__metadata__") == 0) {
            ng_fail(err, errlen, "%s: tensor %d: invalid name '%s'", path, i,
                    name);
            return -1;
        }
        if (nr_st_dtype_size(t->dtype) == 0 || t->ndim < 0 ||
            t->ndim > NR_ST_MAX_DIMS ||
            tensor_bytes(t->dtype, t->ndim, t->dim, &bytes) < 0 ||
            (bytes > 0 && !t->data) || offset > INT64_MAX - bytes) {
            ng_fail(err, errlen,
                    "%s: tensor '%s': bad dtype, shape or data pointer", path,
                    name);
            return -1;
        }
        offset += bytes;
    }
    if (n > 1) { /* distinct names */
        const char **names = malloc(sizeof *names * (size_t)n);
        if (!names) {
            ng_fail(err, errlen, "%s: out of memory", path);
            return -1;
        }
        for (int i = 0; i < n; i++)
            names[i] = ts[i].name;
        qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
        for (int i = 1; i < n; i++)
            if (strcmp(names[i - 1], names[i]) == 0) {
                ng_fail(err, errlen, "%s: tensor name '%s' used twice", path,
                        names[i]);
                free(names);
                return -1;
            }
        free(names);
    }

    sb_str(hdr, "{");
    if (n_meta > 0) {
        sb_str(hdr, "\"__metadata__\":{");
        for (int k = 0; k < n_meta; k++) {
            if (k)
                sb_str(hdr, ",");
            sb_json(hdr, meta_kv[2 * k]);
            sb_str(hdr, ":");
            sb_json(hdr, meta_kv[2 * k + 1]);
        }
        sb_str(hdr, "}");
    }
    offset = 0;
    for (int i = 0; i < n; i++) {
        const nr_st_tensor *t = &ts[i];
        int64_t bytes = 0;
        tensor_bytes(t->dtype, t->ndim, t->dim, &bytes);
        if (i || n_meta > 0)
            sb_str(hdr, ",");
        sb_json(hdr, t->name);
        sb_str(hdr, ":{\"dtype\":\"");
        sb_str(hdr, nr_st_dtype_name(t->dtype));
        sb_str(hdr, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            if (k)
                sb_str(hdr, ",");
            sb_int(hdr, t->dim[k]);
        }
        sb_str(hdr, "],\"data_offsets\":[");
        sb_int(hdr, offset);
        sb_str(hdr, ",");
        sb_int(hdr, offset + bytes);
        sb_str(hdr, "]}");
        offset += bytes;
    }
    sb_str(hdr, "}");
    while (!hdr->oom && hdr->len % 8)
        sb_str(hdr, " ");
    if (hdr->oom) {
        ng_fail(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

/* Write everything to fp.  0, or -1 with errno set. */
static int write_all(FILE *fp, const ng_buf *hdr, int n, const nr_st_tensor *ts)
{
    unsigned char len8[8];
    uint64_t len = hdr->len;
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)(len >> (8 * k));
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(hdr->b, 1, hdr->len, fp) != hdr->len)
        return -1;
    for (int i = 0; i < n; i++) {
        int64_t bytes = 0;
        tensor_bytes(ts[i].dtype, ts[i].ndim, ts[i].dim, &bytes);
        if (bytes > 0 && fwrite(ts[i].data, 1, (size_t)bytes, fp) != (size_t)bytes)
            return -1;
    }
    return 0;
}

int nr_st_save(const char *path, int n, const nr_st_tensor *ts, int n_meta,
               const char *const *meta_kv, char *err, size_t errlen)
{
    ng_buf hdr = {0};
    if (build_header(path, n, ts, n_meta, meta_kv, &hdr, err, errlen) < 0) {
        free(hdr.b);
        return -1;
    }
    ng_atomic a;
    int rc = ng_atomic_open(&a, path, err, errlen);
    if (rc == 0) {
        if (write_all(a.fp, &hdr, n, ts) == 0) {
            rc = ng_atomic_commit(&a, 1, err, errlen);
        } else {
            int e = errno;
            ng_atomic_abort(&a);
            rc = ng_fail(err, errlen, "%s: cannot write: %s", path, strerror(e));
        }
    }
    free(hdr.b);
    return rc;
}

/* ---- JSON header parsing ----------------------------------------------- */

typedef struct {
    char *s, *p, *end; /* header text [s,end), cursor p */
    const char *path;
    char *err;
    size_t errlen;
} jparse;

/* A syntax error at the cursor. */
static int jfail(jparse *j, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ng_fail(j->err, j->errlen, "%s: bad header JSON at byte %ld: %s", j->path,
            (long)(j->p - j->s) + 8, msg);
    return -1;
}

static void jws(jparse *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Skip white space; consume c if it is next. */
static int jaccept(jparse *j, char c)
{
    jws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

static int jexpect(jparse *j, char c)
{
    if (jaccept(j, c))
        return 0;
    if (j->p == j->end)
        return jfail(j, "expected '%c', found the end", c);
    return jfail(j, "expected '%c'", c);
}

static int jhex4(jparse *j, unsigned *u)
{
    if (j->end - j->p < 4)
        return jfail(j, "short \\u escape");
    if (nr_json_hex4(j->p, 4, u) != 4)
        return jfail(j, "bad \\u escape");
    j->p += 4;
    return 0;
}

/* string -> '"' chars '"'.  Decoded in place (never longer than the source)
 * and NUL-terminated; *out points into the header. */
static int jstring(jparse *j, char **out)
{
    jws(j);
    if (j->p == j->end || *j->p != '"')
        return jfail(j, "expected a string");
    char *w = ++j->p;
    *out = w;
    for (;;) {
        if (j->p == j->end)
            return jfail(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"')
            break;
        if (c < 0x20) {
            j->p--;
            return jfail(j, "control character in string");
        }
        if (c != '\\') {
            *w++ = (char)c;
            continue;
        }
        if (j->p == j->end)
            return jfail(j, "unterminated string");
        c = (unsigned char)*j->p++;
        static const char esc[] = "\"\\/bfnrt", dec[] = "\"\\/\b\f\n\r\t";
        const char *e = c ? strchr(esc, c) : NULL;
        if (e) {
            *w++ = dec[e - esc];
            continue;
        }
        if (c != 'u') {
            j->p--;
            return jfail(j, "bad escape '\\%c'", c);
        }
        unsigned u;
        if (jhex4(j, &u) < 0)
            return -1;
        if (u >= 0xDC00 && u <= 0xDFFF)
            return jfail(j, "lone low surrogate");
        if (u >= 0xD800 && u <= 0xDBFF) {
            unsigned lo;
            if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                return jfail(j, "high surrogate without its pair");
            j->p += 2;
            if (jhex4(j, &lo) < 0)
                return -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return jfail(j, "high surrogate without its pair");
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (u == 0)
            return jfail(j, "\\u0000 in string");
        w = nr_json_utf8(w, u);
    }
    *w = '\0'; /* w <= the closing quote, already consumed */
    return 0;
}

/* int -> [0-9]+ without leading zeros, at most INT64_MAX. */
static int jint(jparse *j, int64_t *out)
{
    jws(j);
    if (j->p < j->end && *j->p == '-')
        return jfail(j, "negative number");
    if (j->p == j->end || *j->p < '0' || *j->p > '9')
        return jfail(j, "expected an integer");
    if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
        return jfail(j, "leading zero");
    int64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        int d = *j->p - '0';
        if (v > (INT64_MAX - d) / 10)
            return jfail(j, "integer too large");
        v = v * 10 + d;
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return jfail(j, "expected an integer");
    *out = v;
    return 0;
}

/* intarray -> '[' [int (',' int)*] ']', at most max elements. */
static int jintarray(jparse *j, int64_t *v, int max, int *n, const char *name,
                     const char *what)
{
    if (jexpect(j, '[') < 0)
        return -1;
    *n = 0;
    if (jaccept(j, ']'))
        return 0;
    do {
        if (*n == max)
            return jfail(j, "tensor '%s': %s has more than %d entries", name,
                         what, max);
        if (jint(j, &v[(*n)++]) < 0)
            return -1;
    } while (jaccept(j, ','));
    return jexpect(j, ']');
}

/* One tensor as parsed, before the checks against the data size. */
typedef struct {
    int64_t begin, end;
} span;

/* tensor -> '{' field (',' field)* '}',
 * field -> "dtype" ':' string | "shape" ':' intarray
 *        | "data_offsets" ':' intarray   (each exactly once) */
static int jtensor(jparse *j, char *name, nr_st_tensor *t, span *sp)
{
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    memset(t, 0, sizeof *t);
    t->name = name;
    if (jexpect(j, '{') < 0)
        return -1;
    do {
        char *key;
        if (jstring(j, &key) < 0 || jexpect(j, ':') < 0)
            return -1;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            char *dt;
            if (jstring(j, &dt) < 0)
                return -1;
            if (strcmp(dt, "F32") == 0)
                t->dtype = NR_ST_F32;
            else if (strcmp(dt, "I32") == 0)
                t->dtype = NR_ST_I32;
            else if (strcmp(dt, "I64") == 0)
                t->dtype = NR_ST_I64;
            else {
                ng_fail(j->err, j->errlen,
                        "%s: tensor '%s': dtype '%s' not supported (F32, I32, "
                        "I64 only)", j->path, name, dt);
                return -1;
            }
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (jintarray(j, t->dim, NR_ST_MAX_DIMS, &t->ndim, name, "shape") < 0)
                return -1;
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            int64_t off[2];
            int k;
            if (jintarray(j, off, 2, &k, name, "data_offsets") < 0)
                return -1;
            if (k != 2)
                return jfail(j, "tensor '%s': data_offsets needs 2 entries",
                             name);
            sp->begin = off[0], sp->end = off[1];
            have_offsets = 1;
        } else {
            return jfail(j, "tensor '%s': unexpected or repeated field '%s'",
                         name, key);
        }
    } while (jaccept(j, ','));
    if (jexpect(j, '}') < 0)
        return -1;
    if (!have_dtype || !have_shape || !have_offsets)
        return jfail(j, "tensor '%s': missing %s", name,
                     !have_dtype ? "dtype" : !have_shape ? "shape"
                                                         : "data_offsets");
    return 0;
}

/* metadata -> '{' [string ':' string (',' string ':' string)*] '}' */
static int jmeta(jparse *j, nr_st_file *f)
{
    if (jexpect(j, '{') < 0)
        return -1;
    if (jaccept(j, '}'))
        return 0;
    size_t cap = 0;
    do {
        const char **m = ng_vec_grow(f->meta, &cap, 2 * (size_t)f->n_meta + 2, sizeof *m);
        if (!m) {
            ng_fail(j->err, j->errlen, "%s: out of memory", j->path);
            return -1;
        }
        f->meta = m;
        char *k, *v;
        if (jstring(j, &k) < 0 || jexpect(j, ':') < 0 || jstring(j, &v) < 0)
            return -1;
        f->meta[2 * f->n_meta] = k;
        f->meta[2 * f->n_meta + 1] = v;
        f->n_meta++;
    } while (jaccept(j, ','));
    if (jexpect(j, '}') < 0)
        return -1;
    /* sorted by key (pairs move together), for duplicates and nr_st_meta */
    qsort(f->meta, (size_t)f->n_meta, 2 * sizeof *f->meta, cmp_str_ptr);
    for (int i = 1; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i - 2], f->meta[2 * i]) == 0) {
            ng_fail(j->err, j->errlen, "%s: metadata key '%s' repeated",
                    j->path, f->meta[2 * i]);
            return -1;
        }
    return 0;
}

/* Whole-header UTF-8 check (JSON text is UTF-8).  Returns the offset of the
 * first bad byte, or -1. */
static long bad_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        int more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                          : (c & 0xF8) == 0xF0       ? 3
                                                     : -1;
        if (more < 0 || c == 0xC0 || c == 0xC1 || c > 0xF4 || i + (size_t)more >= n)
            return (long)i;
        for (int k = 1; k <= more; k++)
            if ((s[i + (size_t)k] & 0xC0) != 0x80)
                return (long)i;
        i += (size_t)more + 1;
    }
    return -1;
}

/* header -> '{' [member (',' member)*] '}'
 * member -> string ':' (tensor | metadata when the key is "__metadata__") */
static int jheader(jparse *j, nr_st_file *f, span **spans)
{
    long bad = bad_utf8((const unsigned char *)j->s, (size_t)(j->end - j->s));
    if (bad >= 0) {
        j->p = j->s + bad;
        return jfail(j, "invalid UTF-8");
    }
    size_t cap_t = 0, cap_s = 0;
    int have_meta = 0;
    if (jexpect(j, '{') < 0)
        return -1;
    if (!jaccept(j, '}')) {
        do {
            char *key;
            if (jstring(j, &key) < 0 || jexpect(j, ':') < 0)
                return -1;
            if (strcmp(key, "__metadata__") == 0) {
                if (have_meta)
                    return jfail(j, "__metadata__ repeated");
                have_meta = 1;
                if (jmeta(j, f) < 0)
                    return -1;
                continue;
            }
            nr_st_tensor *t = ng_vec_grow(f->t, &cap_t, (size_t)f->n + 1, sizeof *t);
            if (t)
                f->t = t;
            span *s = t ? ng_vec_grow(*spans, &cap_s, (size_t)f->n + 1, sizeof *s) : NULL;
            if (!s) {
                ng_fail(j->err, j->errlen, "%s: out of memory", j->path);
                return -1;
            }
            *spans = s;
            if (jtensor(j, key, &f->t[f->n], &(*spans)[f->n]) < 0)
                return -1;
            f->n++;
        } while (jaccept(j, ','));
        if (jexpect(j, '}') < 0)
            return -1;
    }
    jws(j);
    if (j->p != j->end)
        return jfail(j, "text after the header object");
    return 0;
}

/* ---- loading ----------------------------------------------------------- */

void nr_st_free(nr_st_file *f)
{
    if (!f)
        return;
    free(f->t);
    free(f->by_name);
    free(f->meta);
    free(f->header);
    free(f->data);
    free(f);
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp((*(const nr_st_tensor *const *)a)->name,
                  (*(const nr_st_tensor *const *)b)->name);
}

typedef struct {
    int64_t begin, end;
    int i; /* tensor number */
} span_ref;

static int cmp_by_begin(const void *a, const void *b)
{
    int64_t x = ((const span_ref *)a)->begin, y = ((const span_ref *)b)->begin;
    return (x > y) - (x < y);
}

/* Check every tensor against the data section of data_len bytes: sizes
 * match shape and dtype, offsets in bounds, names distinct, no overlap. */
static int check_tensors(const char *path, nr_st_file *f, const span *sp,
                         int64_t data_len, char *err, size_t errlen)
{
    for (int i = 0; i < f->n; i++) {
        const nr_st_tensor *t = &f->t[i];
        int64_t bytes;
        if (tensor_bytes(t->dtype, t->ndim, t->dim, &bytes) < 0) {
            ng_fail(err, errlen, "%s: tensor '%s': shape too large", path,
                    t->name);
            return -1;
        }
        if (sp[i].end < sp[i].begin || sp[i].end > data_len) {
            ng_fail(err, errlen,
                    "%s: tensor '%s': data_offsets [%lld,%lld] outside the "
                    "data (%lld bytes)", path, t->name,
                    (long long)sp[i].begin, (long long)sp[i].end,
                    (long long)data_len);
            return -1;
        }
        if (sp[i].end - sp[i].begin != bytes) {
            ng_fail(err, errlen,
                    "%s: tensor '%s': data_offsets span %lld bytes, shape and "
                    "dtype %s need %lld", path, t->name,
                    (long long)(sp[i].end - sp[i].begin),
                    nr_st_dtype_name(t->dtype), (long long)bytes);
            return -1;
        }
    }
    size_t n = (size_t)(f->n ? f->n : 1);
    span_ref *order = malloc(sizeof *order * n);
    f->by_name = malloc(sizeof *f->by_name * n);
    if (!order || !f->by_name) {
        free(order);
        ng_fail(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < f->n; i++) {
        order[i] = (span_ref){sp[i].begin, sp[i].end, i};
        f->by_name[i] = &f->t[i];
    }
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_by_name);
    for (int k = 1; k < f->n; k++)
        if (strcmp(f->by_name[k - 1]->name, f->by_name[k]->name) == 0) {
            ng_fail(err, errlen, "%s: tensor '%s' appears twice", path,
                    f->by_name[k]->name);
            free(order);
            return -1;
        }
    qsort(order, (size_t)f->n, sizeof *order, cmp_by_begin);
    const span_ref *prev = NULL; /* last non-empty tensor in offset order */
    for (int k = 0; k < f->n; k++) {
        const span_ref *r = &order[k];
        if (r->end == r->begin)
            continue;
        if (prev && r->begin < prev->end) {
            ng_fail(err, errlen,
                    "%s: tensors '%s' [%lld,%lld] and '%s' [%lld,%lld] overlap",
                    path, f->t[prev->i].name, (long long)prev->begin,
                    (long long)prev->end, f->t[r->i].name,
                    (long long)r->begin, (long long)r->end);
            free(order);
            return -1;
        }
        prev = r;
    }
    free(order);
    return 0;
}

/* Read each tensor's bytes into one block, each 8-byte aligned. */
static int read_data(FILE *fp, const char *path, nr_st_file *f, const span *sp,
                     int64_t data_start, char *err, size_t errlen)
{
    size_t total = 8;
    for (int i = 0; i < f->n; i++)
        total += ((size_t)(sp[i].end - sp[i].begin) + 7) & ~(size_t)7;
    unsigned char *data = malloc(total);
    if (!data) {
        ng_fail(err, errlen, "%s: out of memory (%zu bytes of tensors)", path,
                total);
        return -1;
    }
    f->data = data;
    size_t at = 0;
    for (int i = 0; i < f->n; i++) {
        size_t bytes = (size_t)(sp[i].end - sp[i].begin);
        f->t[i].data = data + at;
        if (bytes > 0 &&
            (fseeko(fp, (off_t)(data_start + sp[i].begin), SEEK_SET) != 0 ||
             fread(data + at, 1, bytes, fp) != bytes)) {
            ng_fail(err, errlen, "%s: tensor '%s': %s", path, f->t[i].name,
                    ferror(fp) ? strerror(errno) : "file ends early");
            return -1;
        }
        at += (bytes + 7) & ~(size_t)7;
    }
    return 0;
}

/* Read and validate a safetensors file of size bytes from fp (at its
 * start); path names it in messages.  Closes fp. */
static nr_st_file *st_read(FILE *fp, int64_t size, const char *path, char *err, size_t errlen)
{
    nr_st_file *f = calloc(1, sizeof *f);
    span *sp = NULL;
    unsigned char len8[8];
    if (!f) {
        ng_fail(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (size < 8 || fread(len8, 1, 8, fp) != 8) {
        ng_fail(err, errlen,
                "%s: truncated: %lld bytes, too short for the 8-byte header "
                "length", path, (long long)size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++)
        hlen |= (uint64_t)len8[k] << (8 * k);
    if (hlen > (uint64_t)(size - 8)) {
        ng_fail(err, errlen,
                "%s: header length %llu larger than the file (%lld bytes): "
                "truncated or not a safetensors file", path,
                (unsigned long long)hlen, (long long)size);
        goto fail;
    }
    if (hlen > ST_MAX_HEADER) {
        ng_fail(err, errlen, "%s: header length %llu over the %u-byte limit",
                path, (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    f->header = malloc((size_t)hlen + 1);
    if (!f->header) {
        ng_fail(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (fread(f->header, 1, (size_t)hlen, fp) != (size_t)hlen) {
        ng_fail(err, errlen, "%s: cannot read the header: %s", path,
                ferror(fp) ? strerror(errno) : "file ends early");
        goto fail;
    }
    f->header[hlen] = '\0';
    jparse j = {f->header, f->header, f->header + hlen, path, err, errlen};
    if (jheader(&j, f, &sp) < 0 ||
        check_tensors(path, f, sp, size - 8 - (int64_t)hlen, err, errlen) < 0 ||
        read_data(fp, path, f, sp, 8 + (int64_t)hlen, err, errlen) < 0)
        goto fail;
    free(sp);
    fclose(fp);
    return f;
fail:
    free(sp);
    nr_st_free(f);
    fclose(fp);
    return NULL;
}

nr_st_file *nr_st_load(const char *path, char *err, size_t errlen)
{
    FILE *fp = ng_open_input(path, NG_MAX_CHECKPOINT);
    struct stat st;
    if (!fp || fstat(fileno(fp), &st) != 0) {
        ng_fail(err, errlen, "%s: %s", path, ng_strerror(errno));
        if (fp)
            fclose(fp);
        return NULL;
    }
    return st_read(fp, (int64_t)st.st_size, path, err, errlen);
}

nr_st_file *nr_st_parse(const void *buf, size_t len, const char *name, char *err, size_t errlen)
{
    if (len < 8) {
        ng_fail(err, errlen, "%s: truncated: %zu bytes, too short for the 8-byte header length", name, len);
        return NULL;
    }
    FILE *fp = fmemopen((void *)buf, len, "rb");
    if (!fp) {
        ng_fail(err, errlen, "%s: %s", name, strerror(errno));
        return NULL;
    }
    return st_read(fp, (int64_t)len, name, err, errlen);
}

int nr_st_count(const nr_st_file *f)
{
    return f ? f->n : 0;
}

const nr_st_tensor *nr_st_get(const nr_st_file *f, int i)
{
    return f && i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const nr_st_tensor *nr_st_find(const nr_st_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const nr_st_tensor *t = f->by_name[mid];
        int c = strcmp(name, t->name);
        if (c == 0)
            return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *nr_st_meta(const nr_st_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    int lo = 0, hi = f->n_meta - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(key, f->meta[2 * mid]);
        if (c == 0)
            return f->meta[2 * mid + 1];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}
