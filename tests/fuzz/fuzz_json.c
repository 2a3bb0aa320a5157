/* fuzz_json.c — libFuzzer target for the JSON reader (runtime/io/json.c)
 * and every reader of a file netrun takes back from a run folder.  Input:
 * 1 byte choosing the reader (its value mod 4), then:
 *   0: a JSON text for nr_json_parse.  Accepted: a tree of known types,
 *      finite numbers, UTF-8 strings and keys, depth <= 64, which the
 *      report's writer (rp_jvalue) writes as JSON that reads back as the
 *      same tree; refused: "LINE:COL: why", LINE a line of the text.
 *   1: a temperature file (nr_calib_parse): T in (0, 100], or a message
 *      naming the file.
 *   2: 1 byte (classes - 1), then a post-processing file (nr_post_parse):
 *      steps only for classes 1..k-1, sizes in 1..2^40, or a message.
 *   3: a run folder: run.json, then files each after a line "%% NAME"
 *      (log.csv, metrics.jsonl, postprocessing.json, temperature.json,
 *      run.json), written to a scratch folder made once (under TMPDIR, else
 *      /dev/shm, else /tmp) for nr_report_make without a model (bit 2 of
 *      the first byte: live) and nr_report_run_graph.  The page has one
 *      script block, netrun's, whose JSON reads back, and no <img> or
 *      <iframe>; a refusal names a file of the folder. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calibration.h"
#include "json.h"
#include "postprocess.h"
#include "report.h"
#include "report_int.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- 0: the reader itself ------------------------------------------------ */

static int utf8_ok(const char *s)
{
    if (!s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = nr_json_utf8_len(p);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

/* j is a well-formed tree (a member of an object when in_obj) at depth. */
static void check_tree(const nr_json *j, int in_obj, int depth)
{
    if (!j || depth > 64 || (in_obj ? !utf8_ok(j->key) : j->key != NULL))
        abort();
    switch (j->type) {
    case NR_JSON_NULL: break;
    case NR_JSON_BOOL:
        if (j->num != 0 && j->num != 1)
            abort();
        break;
    case NR_JSON_NUM:
        if (!isfinite(j->num))
            abort();
        break;
    case NR_JSON_STR:
        if (!utf8_ok(j->str))
            abort();
        break;
    case NR_JSON_ARR:
    case NR_JSON_OBJ:
        if (j->n < 0 || (j->n && !j->items) || nr_json_len(j) != j->n)
            abort();
        for (int i = 0; i < j->n; i++) {
            check_tree(j->items[i], j->type == NR_JSON_OBJ, depth + 1);
            if (j->type == NR_JSON_ARR ? nr_json_at(j, i) != j->items[i] : !nr_json_get(j, j->items[i]->key))
                abort();
        }
        break;
    default: abort();
    }
}

static int same_tree(const nr_json *a, const nr_json *b)
{
    if (a->type != b->type || (a->key ? !b->key || strcmp(a->key, b->key) : b->key != NULL))
        return 0;
    if (a->type == NR_JSON_NUM || a->type == NR_JSON_BOOL)
        return a->num == b->num;
    if (a->type == NR_JSON_STR)
        return !strcmp(a->str, b->str);
    if (a->type == NR_JSON_ARR || a->type == NR_JSON_OBJ) {
        if (a->n != b->n)
            return 0;
        for (int i = 0; i < a->n; i++)
            if (!same_tree(a->items[i], b->items[i]))
                return 0;
    }
    return 1;
}

static void fuzz_parse(const char *text, size_t len)
{
    char err[256] = "";
    nr_json *j = nr_json_parse(text, len, err, sizeof err);
    if (!j) {
        long line = 0, col = 0;
        int lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        if (sscanf(err, "%ld:%ld: ", &line, &col) != 2 || line < 1 || line > lines || col < 1)
            abort();
        return;
    }
    check_tree(j, 0, 0);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        abort();
    rp_jvalue(f, j);
    if (fclose(f) != 0)
        abort();
    nr_json *back = nr_json_parse(buf, n, err, sizeof err);
    if (!back || !same_tree(j, back))
        abort();
    nr_json_free(back);
    free(buf);
    nr_json_free(j);
}

/* ---- 1, 2: temperature and post-processing ---------------------------- */

/* A refusal names the file. */
static void names_file(const char *err, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(err, path, n) != 0 || err[n] != ':')
        abort();
}

static void fuzz_temperature(const char *text, size_t len)
{
    char err[512];
    double t = NAN;
    if (nr_calib_parse(text, len, "temperature.json", &t, err, sizeof err) != 0)
        names_file(err, "temperature.json");
    else if (!(t > 0 && t <= 100))
        abort();
}

static void fuzz_postprocess(const char *text, size_t len)
{
    if (len < 1)
        return;
    int k = 1 + (uint8_t)text[0];
    nr_postprocess pp;
    char err[512];
    if (nr_post_parse(text + 1, len - 1, "postprocessing.json", k, &pp, err, sizeof err) != 0) {
        names_file(err, "postprocessing.json");
        return;
    }
    if (pp.k != k)
        abort();
    for (int c = 0; c < 256; c++)
        if ((pp.largest[c] || pp.min_size[c]) &&
            (c < 1 || c >= k || pp.largest[c] > 1 || pp.min_size[c] < 0 || pp.min_size[c] > (int64_t)1 << 40))
            abort();
    if (!isnan(pp.dice_before) && !isfinite(pp.dice_before))
        abort();
}

/* ---- 3: a run folder for the report ----------------------------------- */

static const char *const run_files[] = {"run.json", "log.csv", "metrics.jsonl", "postprocessing.json",
                                        "temperature.json", "report.html"};
enum { N_RUN_FILES = sizeof run_files / sizeof *run_files };
static char run_dir[512];

static void run_dir_remove(void)
{
    char p[1024];
    for (int i = 0; i < N_RUN_FILES; i++)
        snprintf(p, sizeof p, "%s/%s", run_dir, run_files[i]), unlink(p);
    rmdir(run_dir);
}

static void put(const char *name, const char *text, size_t len)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", run_dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        abort();
}

/* occurrences of tag (lower case) in s, in any case */
static int count_tag(const char *s, const char *tag)
{
    int n = 0;
    for (const char *p = strcasestr(s, tag); p; p = strcasestr(p + 1, tag))
        n++;
    return n;
}

static void check_page(const char *page)
{
    static const char open_tag[] = "<script type=\"application/json\" id=\"netrun-report\">\n";
    const char *js = strstr(page, open_tag), *end = js ? strstr(js, "</script>") : NULL;
    if (!js || !end || count_tag(page, "<script") != 1 || count_tag(page, "<img") || count_tag(page, "<iframe"))
        abort();
    js += sizeof open_tag - 1;
    char why[256];
    nr_json *j = nr_json_parse(js, (size_t)(end - js), why, sizeof why);
    if (!j || j->type != NR_JSON_OBJ)
        abort();
    nr_json_free(j);
}

static void fuzz_report(const char *text, size_t len, int live)
{
    if (!run_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(run_dir, sizeof run_dir, "%s/fuzz_json.XXXXXX",
                 tmp && *tmp ? tmp : ng_is_dir("/dev/shm") ? "/dev/shm" : "/tmp");
        if (!mkdtemp(run_dir))
            abort();
        atexit(run_dir_remove);
    }
    char p[1024];
    for (int i = 0; i < N_RUN_FILES; i++)
        snprintf(p, sizeof p, "%s/%s", run_dir, run_files[i]), unlink(p);
    /* the files: run.json first, then each after its "%% NAME" line */
    const char *name = "run.json", *at = text, *end = text + len;
    while (at <= end) {
        const char *next = at, *hdr = NULL;
        while ((next = memmem(next, (size_t)(end - next), "%% ", 3)) && next != text && next[-1] != '\n')
            next += 3;
        const char *stop = next ? next : end;
        if (name && !(at == text && stop == text)) /* a text that starts with "%% " has no run.json */
            put(name, at, (size_t)(stop - at));
        if (!next)
            break;
        hdr = next + 3;
        const char *nl = memchr(hdr, '\n', (size_t)(end - hdr));
        size_t hl = (size_t)((nl ? nl : end) - hdr);
        name = NULL;
        for (int i = 0; i < N_RUN_FILES - 1; i++)
            if (strlen(run_files[i]) == hl && !memcmp(hdr, run_files[i], hl))
                name = run_files[i];
        at = nl ? nl + 1 : end + 1;
    }
    char gbuf[4096];
    const char *graph = nr_report_run_graph(run_dir, gbuf, sizeof gbuf);
    if (graph && (graph != gbuf || strlen(graph) >= sizeof gbuf))
        abort();
    char err[1024] = "", nodata[600];
    snprintf(nodata, sizeof nodata, "%s/no-data", run_dir); /* the page from the run's files alone */
    nr_report_opts o = {.data = nodata, .live = live};
    if (nr_report_make(run_dir, &o, err, sizeof err) != 0) {
        if (!strstr(err, run_dir) && !strstr(err, "out of memory"))
            abort();
        return;
    }
    snprintf(p, sizeof p, "%s/report.html", run_dir);
    size_t n;
    char *page = ng_read_file(p, &n);
    if (!page)
        abort();
    check_page(page);
    free(page);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] & 3) {
    case 0: fuzz_parse(text, len); break;
    case 1: fuzz_temperature(text, len); break;
    case 2: fuzz_postprocess(text, len); break;
    default: fuzz_report(text, len, data[0] >> 2 & 1); break;
    }
    return 0;
}
