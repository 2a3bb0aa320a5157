/* test_parse.c — unit tests of the front end (lexer.l, parser.y, diag.c,
 * arena.c): the tree built for a full model, operator precedence, literals,
 * locations, and the exact first diagnostics for broken inputs.  Prints one
 * "ok - NAME" / "FAIL - NAME" line per check; exits 1 if any failed. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "diag.h"
#include "parse.h"

static int failures;

static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    printf(ok ? "ok - " : "FAIL - ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    failures += !ok;
}

/* One parse of `text` as file "t.net"; diagnostics are kept in `out`. */
typedef struct {
    nc_arena arena;
    nc_diag diag;
    nc_stmt *tree;
    char out[8192];
} parse_run;

static void run_parse(parse_run *r, const char *text)
{
    memset(r, 0, sizeof *r);
    FILE *f = tmpfile();
    if (!f) {
        perror("tmpfile");
        exit(2);
    }
    nc_diag_init(&r->diag, f);
    int file = nc_diag_add_file(&r->diag, "t.net", text, strlen(text));
    r->tree = nc_parse(&r->arena, &r->diag, file);
    rewind(f);
    size_t n = fread(r->out, 1, sizeof r->out - 1, f);
    r->out[n] = '\0';
    fclose(f);
}

static void run_free(parse_run *r)
{
    nc_arena_free(&r->arena);
}

/* The first line of the diagnostics, or "". */
static const char *first_line(const parse_run *r, char *buf, size_t n)
{
    size_t k = strcspn(r->out, "\n");
    if (k >= n)
        k = n - 1;
    memcpy(buf, r->out, k);
    buf[k] = '\0';
    return buf;
}

static const nc_stmt *nth(const nc_stmt *s, int i)
{
    while (s && i-- > 0)
        s = s->next;
    return s;
}

static int count(const nc_stmt *s)
{
    int n = 0;
    for (; s; s = s->next)
        n++;
    return n;
}

static int is_name(const nc_expr *e, const char *name)
{
    return e && e->kind == NC_E_NAME && strcmp(e->name, name) == 0;
}

static int is_call(const nc_expr *e, const char *name, int n_args)
{
    return e && e->kind == NC_E_CALL && strcmp(e->name, name) == 0 && e->n_args == n_args;
}

static int is_num(const nc_expr *e, double v, int is_int)
{
    return e && e->kind == NC_E_NUM && e->num == v && e->is_int == is_int;
}

static int is_bin(const nc_expr *e, nc_binop op)
{
    return e && e->kind == NC_E_BINARY && e->op == op;
}

static int loc_is(nc_loc l, int fl, int fc, int ll, int lc)
{
    return l.first_line == fl && l.first_col == fc && l.last_line == ll && l.last_col == lc;
}

/* The example from the language description. */
static const char example[] =
    "# comment to end of line\n"
    "import \"lib/losses.net\"\n"
    "const CLASSES = 32\n"
    "const BASE = 64\n"
    "input image : f32[BATCH, 1, SIZE, SIZE]\n"
    "input mask  : labels[BATCH, SIZE, SIZE] classes CLASSES\n"
    "def block(x, ch, k = 3) {\n"
    "    x = relu(conv2d(x, ch, k, pad = same, init = he_normal))\n"
    "    return relu(conv2d(x, ch, k, pad = same, init = he_normal))\n"
    "}\n"
    "def level(x, ch, d) {\n"
    "    e = block(x, ch)\n"
    "    if d >= DEPTH - 1 { e = spatial_dropout(e, 0.5) }\n"
    "    if d == DEPTH { return e } else if d > 9 { return e }\n"
    "    for i in 0 .. 3 { x = relu(x) }\n"
    "    return up(level(maxpool(e, 2), ch * 2, d + 1), e, ch)\n"
    "}\n"
    "logits = conv2d(relu(conv2d(d1, CLASSES, 3, pad = same)), CLASSES, 1)\n"
    "output prediction = softmax(logits, axis = 1)\n"
    "loss = cross_entropy(logits, mask, weights = [1, 2.5, 1e3], ignore = 255)\n"
    "minimize loss with adam(lr = 1e-4, clip = 0.01)\n";

static void test_example(void)
{
    parse_run r;
    run_parse(&r, example);
    const nc_stmt *s = r.tree;
    check(s && r.diag.n_errors == 0 && r.out[0] == '\0', "example parses without errors");
    static const nc_stmt_kind kinds[] = {
        NC_S_IMPORT, NC_S_CONST, NC_S_CONST, NC_S_INPUT, NC_S_INPUT, NC_S_DEF, NC_S_DEF,
        NC_S_ASSIGN, NC_S_OUTPUT, NC_S_ASSIGN, NC_S_MINIMIZE,
    };
    int ok = count(s) == 11;
    for (int i = 0; ok && i < 11; i++)
        ok = nth(s, i)->kind == kinds[i];
    check(ok, "example: statement kinds");
    if (!ok) {
        run_free(&r);
        return;
    }

    const nc_stmt *imp = nth(s, 0);
    check(strcmp(imp->str, "lib/losses.net") == 0 && loc_is(imp->loc, 2, 1, 2, 23),
          "import: path and statement location");

    const nc_stmt *c = nth(s, 1);
    check(strcmp(c->name, "CLASSES") == 0 && is_num(c->value, 32, 1) &&
          loc_is(c->name_loc, 3, 7, 3, 13) && loc_is(c->loc, 3, 1, 3, 18) &&
          loc_is(c->value->loc, 3, 17, 3, 18),
          "const: name, integer value, locations");

    const nc_stmt *img = nth(s, 3), *mask = nth(s, 4);
    check(img->type == NC_TY_F32 && img->n_dims == 4 && is_name(img->dims[0], "BATCH") &&
          is_num(img->dims[1], 1, 1) && is_name(img->dims[3], "SIZE") && !img->classes,
          "input f32: dims");
    check(strcmp(mask->name, "mask") == 0 && mask->type == NC_TY_LABELS && mask->n_dims == 3 &&
          is_name(mask->classes, "CLASSES") && loc_is(mask->loc, 6, 1, 6, 55),
          "input labels: dims, classes, location");

    const nc_stmt *blk = nth(s, 5);
    check(strcmp(blk->name, "block") == 0 && blk->n_params == 3 &&
          strcmp(blk->params[0].name, "x") == 0 && !blk->params[0].def &&
          strcmp(blk->params[2].name, "k") == 0 && is_num(blk->params[2].def, 3, 1) &&
          loc_is(blk->params[2].loc, 7, 18, 7, 18),
          "def: params with a default");
    check(loc_is(blk->loc, 7, 1, 10, 1) && loc_is(blk->name_loc, 7, 5, 7, 9),
          "def: statement spans to the closing brace");
    const nc_stmt *b0 = blk->body, *b1 = b0 ? b0->next : NULL;
    check(count(blk->body) == 2 && b0->kind == NC_S_ASSIGN && b1->kind == NC_S_RETURN,
          "def: body statements");
    const nc_expr *conv = b0 && is_call(b0->value, "relu", 1) ? b0->value->args[0].value : NULL;
    check(is_call(conv, "conv2d", 5) && !conv->args[0].key && is_name(conv->args[0].value, "x") &&
          conv->args[3].key && strcmp(conv->args[3].key, "pad") == 0 &&
          is_name(conv->args[3].value, "same") && strcmp(conv->args[4].key, "init") == 0 &&
          loc_is(conv->args[3].key_loc, 8, 31, 8, 33) && loc_is(conv->loc, 8, 14, 8, 59),
          "call: positional then keyword arguments, locations");

    const nc_stmt *lvl = nth(s, 6);
    const nc_stmt *if1 = nth(lvl->body, 1), *if2 = nth(lvl->body, 2);
    const nc_stmt *loop = nth(lvl->body, 3), *ret = nth(lvl->body, 4);
    check(count(lvl->body) == 5 && if1->kind == NC_S_IF && is_bin(if1->value, NC_OP_GE) &&
          is_bin(if1->value->rhs, NC_OP_SUB) && count(if1->body) == 1 && !if1->else_body,
          "if: condition and body");
    const nc_stmt *elif = if2 ? if2->else_body : NULL;
    check(if2 && if2->kind == NC_S_IF && is_bin(if2->value, NC_OP_EQ) &&
          if2->body->kind == NC_S_RETURN && elif && elif->kind == NC_S_IF && !elif->next &&
          is_bin(elif->value, NC_OP_GT) && elif->body->kind == NC_S_RETURN && !elif->else_body &&
          loc_is(if2->loc, 14, 5, 14, 57) && loc_is(elif->loc, 14, 37, 14, 57),
          "if / else if chain");
    check(loop && loop->kind == NC_S_FOR && strcmp(loop->name, "i") == 0 &&
          is_num(loop->value, 0, 1) && is_num(loop->value2, 3, 1) &&
          count(loop->body) == 1 && loc_is(loop->loc, 15, 5, 15, 35),
          "for: variable, range, body");
    check(ret && ret->kind == NC_S_RETURN && is_call(ret->value, "up", 3) &&
          is_bin(ret->value->args[0].value->args[1].value, NC_OP_MUL),
          "return: nested calls");

    const nc_stmt *out = nth(s, 8), *loss = nth(s, 9), *min = nth(s, 10);
    check(strcmp(out->name, "prediction") == 0 && is_call(out->value, "softmax", 2) &&
          strcmp(out->value->args[1].key, "axis") == 0, "output statement");
    const nc_expr *w = loss->value->args[2].value;
    check(w->kind == NC_E_LIST && w->n_items == 3 && is_num(w->items[0], 1, 1) &&
          is_num(w->items[1], 2.5, 0) && is_num(w->items[2], 1000, 0) &&
          loc_is(w->loc, 20, 46, 20, 58), "list literal items");
    check(is_name(min->value, "loss") && is_call(min->value2, "adam", 2) &&
          is_num(min->value2->args[0].value, 1e-4, 0) &&
          strcmp(min->value2->args[1].key, "clip") == 0, "minimize with optimizer call");
    run_free(&r);
}

/* The right-hand side of the single statement "x = EXPR". */
static const nc_expr *parse_expr(parse_run *r, const char *text)
{
    run_parse(r, text);
    return r->tree && r->tree->kind == NC_S_ASSIGN ? r->tree->value : NULL;
}

static void test_expressions(void)
{
    parse_run r;
    const nc_expr *e = parse_expr(&r, "x = a + b * c\n");
    check(is_bin(e, NC_OP_ADD) && is_name(e->lhs, "a") && is_bin(e->rhs, NC_OP_MUL) &&
          loc_is(e->loc, 1, 5, 1, 13) && loc_is(e->rhs->loc, 1, 9, 1, 13), "a + b * c");
    run_free(&r);

    e = parse_expr(&r, "x = a - b - c");
    check(is_bin(e, NC_OP_SUB) && is_bin(e->lhs, NC_OP_SUB) && is_name(e->rhs, "c"),
          "a - b - c is left associative");
    run_free(&r);

    e = parse_expr(&r, "x = -x * y");
    check(is_bin(e, NC_OP_MUL) && e->lhs->kind == NC_E_UNARY && e->lhs->op == NC_OP_NEG &&
          is_name(e->lhs->lhs, "x") && loc_is(e->lhs->loc, 1, 5, 1, 6), "-x * y");
    run_free(&r);

    e = parse_expr(&r, "x = a < b + 1 == c");
    check(is_bin(e, NC_OP_EQ) && is_bin(e->lhs, NC_OP_LT) && is_bin(e->lhs->rhs, NC_OP_ADD),
          "comparisons: below arithmetic, left associative");
    run_free(&r);

    e = parse_expr(&r, "x = a or b and not c != d");
    check(is_bin(e, NC_OP_OR) && is_bin(e->rhs, NC_OP_AND) && is_bin(e->rhs->rhs, NC_OP_NE) &&
          e->rhs->rhs->lhs->kind == NC_E_UNARY && e->rhs->rhs->lhs->op == NC_OP_NOT,
          "or < and < comparison < not");
    run_free(&r);

    e = parse_expr(&r, "x = (a + b) % c / 2");
    check(is_bin(e, NC_OP_DIV) && is_bin(e->lhs, NC_OP_MOD) && is_bin(e->lhs->lhs, NC_OP_ADD) &&
          loc_is(e->lhs->lhs->loc, 1, 5, 1, 11), "parentheses; their range");
    run_free(&r);

    e = parse_expr(&r, "x = [.5, 1e-4, 32, 7.25e+2, \"a\\\"b\\\\c\\n\", true, false, []]");
    check(e && e->kind == NC_E_LIST && e->n_items == 8 && is_num(e->items[0], .5, 0) &&
          is_num(e->items[1], 1e-4, 0) && is_num(e->items[2], 32, 1) &&
          is_num(e->items[3], 725, 0) && e->items[4]->kind == NC_E_STR &&
          strcmp(e->items[4]->str, "a\"b\\c\n") == 0 && e->items[5]->kind == NC_E_BOOL &&
          e->items[5]->is_true && !e->items[6]->is_true && e->items[7]->kind == NC_E_LIST &&
          e->items[7]->n_items == 0, "literals: numbers, string escapes, booleans, lists");
    run_free(&r);

    e = parse_expr(&r, "x = f(\n    a,\n\n    k = [1,\n         2,],  # c\n)\n");
    check(is_call(e, "f", 2) && e->args[1].value->n_items == 2 && loc_is(e->loc, 1, 5, 6, 1),
          "newlines inside brackets; trailing commas");
    run_free(&r);

    e = parse_expr(&r, "x = one_hot(y, classes = 4)");
    check(is_call(e, "one_hot", 2) && strcmp(e->args[1].key, "classes") == 0,
          "keyword 'classes' as an argument name");
    run_free(&r);
}

static void test_statements(void)
{
    parse_run r;
    run_parse(&r, "\n\n; a = 1; b = 2\n\n\tc = 3 # x\n");
    check(count(r.tree) == 3 && strcmp(nth(r.tree, 2)->name, "c") == 0 &&
          loc_is(nth(r.tree, 2)->name_loc, 5, 2, 5, 2), "separators, blank lines, tab column");
    run_free(&r);

    run_parse(&r, "if a {\n  b = 1\n}\n# note\nelse {\n  b = 2\n}\n");
    check(count(r.tree) == 1 && r.tree->else_body && r.tree->else_body->kind == NC_S_ASSIGN,
          "else on the line after '}'");
    run_free(&r);

    run_parse(&r, "minimize loss with sgd");
    check(r.tree && is_call(r.tree->value2, "sgd", 0), "bare optimizer name is a call");
    run_free(&r);

    run_parse(&r, "");
    check(!r.tree && r.diag.n_errors == 0, "empty file");
    run_free(&r);

    run_parse(&r, "# only a comment");
    check(!r.tree && r.diag.n_errors == 0, "comment-only file");
    run_free(&r);

    run_parse(&r, "def f() { }\n");
    check(r.tree && r.tree->kind == NC_S_DEF && r.tree->n_params == 0 && !r.tree->body,
          "def with no params and an empty body");
    run_free(&r);
}

/* The first diagnostic line for `text`, and that the parse failed. */
static void expect_error(const char *name, const char *text, const char *want)
{
    parse_run r;
    char line[512];
    run_parse(&r, text);
    first_line(&r, line, sizeof line);
    int ok = !r.tree && r.diag.n_errors > 0 && strcmp(line, want) == 0;
    check(ok, "error: %s", name);
    if (!ok)
        printf("#   got:  %s\n#   want: %s\n", line, want);
    run_free(&r);
}

static void test_errors(void)
{
    expect_error("missing ')'", "x = f(a, b\ny = 2\n",
                 "t.net:2:1: error: expected ')' to close '(' at line 1 but found identifier 'y'");
    expect_error("missing ',' between arguments", "x = f(a b)",
                 "t.net:1:9: error: expected ')' or ',' but found identifier 'b'");
    expect_error("missing expression", "x = \n",
                 "t.net:1:5: error: expected expression but found end of line");
    expect_error("unclosed brace at end of file", "def f(x) {\n  y = x\n\n",
                 "t.net:3:1: error: expected '}' to close '{' at line 1");
    expect_error("unexpected '}'", "x = 1\n}\n", "t.net:2:1: error: unexpected '}'");
    expect_error("bad character", "x = a $ b", "t.net:1:7: error: unexpected character '$'");
    expect_error("unterminated string", "import \"abc\n", "t.net:1:8: error: unterminated string");
    expect_error("malformed number", "x = 1e\n", "t.net:1:5: error: malformed number '1e'");
    expect_error("positional after keyword", "x = f(k = 1, 2)",
                 "t.net:1:14: error: positional argument after keyword argument");
    expect_error("return outside a function", "return 1",
                 "t.net:1:1: error: 'return' outside a function");
    expect_error("missing '=' in const", "const A 1",
                 "t.net:1:9: error: expected '=' but found number '1'");
    expect_error("def inside a def", "def f() {\n  def g() { return 1 }\n}",
                 "t.net:2:3: error: 'def' is only allowed at top level");

    parse_run r;
    run_parse(&r, "x = (1 +)\ny = 2\nz = [1 2]\n");
    check(r.diag.n_errors == 2 && strstr(r.out, "t.net:1:9: error: expected expression") &&
          strstr(r.out, "t.net:3:8: error: expected ']' or ','"), "two errors, both reported");
    run_free(&r);

    run_parse(&r, "x = 1 @ 2\n");
    check(strcmp(r.out, "t.net:1:7: error: unexpected character '@'\n"
                        "x = 1 @ 2\n"
                        "      ^\n") == 0 && r.diag.n_errors == 1,
          "source line and caret; no cascade after a lexical error");
    run_free(&r);

    run_parse(&r, "\tx =\t( 1 +\n");
    check(strstr(r.out, "t.net:1:11: error: expected expression but found end of file\n"
                        "\tx =\t( 1 +\n"
                        "\t   \t     ^\n"
                        "  '(' at line 1 is not closed\n") != NULL,
          "caret line keeps tabs; note names the open bracket");
    run_free(&r);

    run_parse(&r, "x = abc)\n");
    check(strstr(r.out, "t.net:1:8: error: expected end of line but found ')'") != NULL,
          "unmatched ')'");
    run_free(&r);

    char many[1024] = "";
    for (int i = 0; i < 30; i++)
        strcat(many, "x = )\n");
    run_parse(&r, many);
    check(r.diag.n_errors == 21 && strstr(r.out, "t.net:20:5: error:") &&
          !strstr(r.out, "t.net:21:5: error:") &&
          strstr(r.out, "t.net: too many errors, stopping\n"), "stops after max_errors");
    run_free(&r);
}

/* A diagnostic on a very long line shows a window of 100 columns around the
 * error, "..." where the line goes on, and a caret (and ~) cut to match. */
static void test_long_lines(void)
{
    enum { TERMS = 25000 };             /* "1 + " each: a 100 003-column line */
    size_t cap = 4 * TERMS + 64;
    char *text = malloc(cap), *want = malloc(4096);
    if (!text || !want) {
        perror("malloc");
        exit(2);
    }
    parse_run *r = malloc(sizeof *r);   /* its 8 KiB buffer holds the output */
    if (!r) {
        perror("malloc");
        exit(2);
    }

    /* the error near the end: the window is the last 100 columns */
    memcpy(text, "y = ", 4);
    for (int i = 1; i < TERMS; i++)
        memcpy(text + 4 * i, "1 + ", 4);
    strcpy(text + 4 * TERMS, "@ 2\n");  /* '@' at column 4*TERMS+1 */
    int at = 4 * TERMS + 1, lo = at + 2 - 99;
    run_parse(r, text);
    snprintf(want, 4096, "t.net:1:%d: error: unexpected character '@'\n...%.100s\n   %*s^\n", at,
             text + lo - 1, at - lo, "");
    check(strcmp(r->out, want) == 0 && strlen(r->out) < 400,
          "a 100 003-column line: the last 100 columns and the caret under '@'");
    run_free(r);

    /* the error at the start: the first 100 columns and "...", the ~ of a
     * long token cut at the window's edge */
    snprintf(text, cap, "x = 1 ");
    memset(text + 6, 'a', 1000);
    strcpy(text + 1006, "\n");
    run_parse(r, text);
    snprintf(want, 4096, "x = 1 %.94s...\n      ^%.93s\n", text + 6,
             "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~");
    const char *nl = strchr(r->out, '\n');
    check(nl && strncmp(r->out, "t.net:1:7: error: expected end of line but found identifier 'aaa", 64) == 0 &&
          strcmp(nl + 1, want) == 0, "a long token: window from column 1, ~ up to column 100");
    run_free(r);

    /* in the middle: 40 columns before the error, "..." on both sides */
    memset(text, ' ', 5000);
    memcpy(text, "x =", 3);
    memcpy(text + 2999, ")", 1);
    strcpy(text + 5000, "\n");
    run_parse(r, text);
    nl = strchr(r->out, '\n');
    snprintf(want, 4096, "...%.100s...\n   %40s^\n", text + 2959, "");
    check(nl && strncmp(r->out, "t.net:1:3000: error:", 20) == 0 && strcmp(nl + 1, want) == 0,
          "an error mid-line: columns 2960..3059 with '...' on both sides");
    run_free(r);
    free(r);
    free(text);
    free(want);
}

static void test_diag_and_arena(void)
{
    nc_diag d;
    char buf[64];
    nc_diag_init(&d, stderr);
    int f = nc_diag_add_file(&d, "a/b.net", "x\n", 2);
    nc_loc l = { f, 3, 7, 3, 9 };
    check(strcmp(nc_loc_str(&d, l, buf, sizeof buf), "a/b.net:3:7") == 0, "nc_loc_str");
    for (int i = 1; i < NC_DIAG_MAX_FILES; i++)
        nc_diag_add_file(&d, "f", "", 0);
    check(nc_diag_add_file(&d, "g", "", 0) == -1, "file table full");

    nc_arena a = { 0 };
    int ok = 1;
    for (int i = 0; i < 10000 && ok; i++) {
        size_t n = (size_t)(i * 37 % 300);
        unsigned char *p = nc_arena_alloc(&a, n);
        ok = ((uintptr_t)p % 16) == 0;
        for (size_t k = 0; k < n && ok; k++)
            ok = p[k] == 0;
        memset(p, 0xab, n);
    }
    char *big = nc_arena_array(&a, 1 << 20, 3);
    ok = ok && big[0] == 0 && big[(3 << 20) - 1] == 0;
    char *small = nc_arena_alloc(&a, 8);
    ok = ok && small[0] == 0;
    char *s = nc_arena_printf(&a, "%s-%d", "ab", 12);
    ok = ok && strcmp(s, "ab-12") == 0 && strcmp(nc_arena_strndup(&a, "hello", 3), "hel") == 0;
    check(ok, "arena: aligned, zeroed, oversize, strings");
    nc_arena_free(&a);
    check(a.head == NULL, "arena: freed");

    size_t cap = 0;
    int *v = NULL;
    for (int i = 0; i < 1000; i++) {
        v = nc_grow(v, &cap, (size_t)i + 1, sizeof *v);
        v[i] = i;
    }
    check(cap >= 1000 && v[999] == 999 && (cap & (cap - 1)) == 0, "nc_grow doubles");
    free(v);
}

int main(void)
{
    test_example();
    test_expressions();
    test_statements();
    test_errors();
    test_long_lines();
    test_diag_and_arena();
    printf("%s\n", failures ? "some checks FAILED" : "all checks passed");
    return failures != 0;
}
